/*
 * journal_io.h - the journal thread's file I/O, behind a table of calls so
 * that the backend can change: io_uring (liburing) where the kernel allows
 * it, pwritev and fdatasync otherwise, and a test backend that fails
 * chosen calls (SHMQD_JOURNAL_FAULT, below). Every call returns 0 or a
 * negated errno. Only the journal thread calls these, except
 * journal_io_open() at start.
 */
#ifndef DAEMON_JOURNAL_IO_H
#define DAEMON_JOURNAL_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct journal_io {
	/* write all n bytes of buf at off of fd */
	int (*write)(struct journal_io *io, int fd, const void *buf, uint64_t n, uint64_t off);
	/* fdatasync fd */
	int (*sync)(struct journal_io *io, int fd);
	/* write, then fdatasync once it is done (io_uring links the two) */
	int (*write_sync)(struct journal_io *io, int fd, const void *buf, uint64_t n, uint64_t off);
	/* preallocate [0, bytes) of fd */
	int (*allocate)(struct journal_io *io, int fd, uint64_t bytes);
	/* open name in dirfd (openat flags, mode 0600) into *fd */
	int (*open)(struct journal_io *io, int dirfd, const char *name, int flags, int *fd);
	void (*close)(struct journal_io *io);
	const char *name; /* "io_uring", "pwritev" */
};

/*
 * The backend: io_uring if it initialises, else pwritev (*why says what
 * failed, for the log). A test backend wraps it when the environment has
 * SHMQD_JOURNAL_FAULT=KIND:AFTER[:COUNT[:CHANNEL]], KIND one of write-eio,
 * sync-eio, write-enospc: after AFTER good calls of that kind, COUNT calls
 * (0 or absent: all later ones) fail with that error; CHANNEL limits it to
 * files under that channel's directory. NULL if out of memory.
 */
struct journal_io *journal_io_open(const char **why);

/* Whether a test backend was asked for (for the log). */
bool journal_io_faulty(void);

#endif
