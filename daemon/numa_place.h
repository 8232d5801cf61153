/*
 * numa_place.h - NUMA placement of a channel's segments: resolve the node a
 * creator asked for (SHMQ_NUMA_*), bind a new segment to that node before
 * its memory is allocated, and tell which node a mapping's pages are on.
 * The bind is a strict MPOL_BIND of the memfd's shared policy: pages
 * allocated later for any mapping of the object come from that node or
 * not at all. Built against libnuma when present (HAVE_LIBNUMA); without
 * it, and on a kernel without NUMA, every request but SHMQ_NUMA_NONE is
 * -SHMQ_EINVAL. Node numbers are the kernel's; -1 means "no binding".
 * (Not named numa.h: on the daemon's include path that would hide
 * libnuma's <numa.h>.) Main thread only.
 */
#ifndef DAEMON_NUMA_PLACE_H
#define DAEMON_NUMA_PLACE_H

#include <stdint.h>

#include "config.h"

/*
 * The node for a wire value: NONE gives -1; LOCAL the node of the CPU
 * that process pid last ran on (pid 0: the daemon itself); NODE(n) gives
 * n. -SHMQ_EINVAL for a node that does not exist or has no memory, or
 * when NUMA is unavailable; -SHMQ_ESYS if pid's CPU cannot be read.
 */
int numa_resolve(int32_t wire_node, uint32_t pid, int *node_out);

/*
 * Set spec->numa_resolved from spec->numa_node, LOCAL meaning the node of
 * creator_pid (0: the daemon). Call before registry_create(); errors as
 * numa_resolve().
 */
int numa_spec_resolve(struct channel_spec *spec, uint32_t creator_pid);

/*
 * Bind [addr, addr + len) of a MAP_SHARED mapping of a memfd to node,
 * strictly: on shmem this sets the object's shared policy for that range,
 * so do it before the memory is allocated. 0, -SHMQ_EINVAL,
 * -SHMQ_ENOMEM or -SHMQ_ESYS.
 */
int numa_bind_range(void *addr, uint64_t len, int node);

/*
 * numa_bind_range() over the whole of a fresh memfd of len bytes, through
 * a temporary mapping that is gone on return (the policy stays with the
 * object). The memfd must have no memory allocated yet.
 */
int numa_bind_fd(int fd, uint64_t len, int node);

/*
 * Bytes node could give a new segment now, an estimate like the kernel's
 * MemAvailable (free, plus half of the reclaimable file and slab pages);
 * UINT64_MAX when unknown (no /sys), so that the caller skips the check.
 */
uint64_t numa_node_room_bytes(int node);

/*
 * The node every sampled page (up to 64, spread evenly) of a mapping is
 * on; -1 if they differ, one is not allocated, or it cannot be told. Reads
 * one byte of each sampled page.
 */
int numa_pages_node(const void *addr, uint64_t len);

#endif
