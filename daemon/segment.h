/*
 * segment.h - the daemon's shared-memory segments: sealed memfds, mode
 * 0600, their memory allocated up front (optionally on one NUMA node),
 * mapped read-write here and handed to clients as descriptors, read-only
 * ones for what a client may not write. Also the check that a descriptor
 * handed back (by the keeper) is one of ours. Main thread only.
 */
#ifndef DAEMON_SEGMENT_H
#define DAEMON_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

/* -SHMQ_E... for an errno from creating, sizing or opening a segment. */
int segment_err_from_errno(int e);

/*
 * Create a sealed memfd of bytes, its memory allocated now (a full
 * memory gives -SHMQ_ENOMEM here, not SIGBUS at first touch), and map it.
 * With node >= 0 the memfd is bound to that NUMA node between ftruncate()
 * and fallocate(), through a mapping made for it, so that every page is
 * allocated there; the bind is strict, so a node without room is
 * -SHMQ_ENOMEM, never pages on another node. *fd_out and *base are set
 * as soon as they exist: the caller releases them on error too.
 */
int segment_create(const char *name, uint64_t bytes, int node, int *fd_out, void **base,
		   uint64_t *mapped);

/* A read-only descriptor of the memfd fd (the caller closes it); or -1. */
int segment_fd_ro(int fd);

/* *ro_out: a read-only descriptor of the same memfd; 0 or -SHMQ_E.... */
int segment_open_ro(int fd, int *ro_out);

/*
 * Is fd a segment this daemon's uid made: a memfd of ours, mode 0600,
 * sealed as segment_create() seals, of the size the record says? A client
 * cannot forge that: it would need our uid.
 */
bool segment_is_ours(int fd, uint64_t bytes);

#endif
