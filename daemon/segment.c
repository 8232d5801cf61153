/*
 * segment.c - sealed memfds for the daemon's segments (see segment.h).
 * Segments have no name in any namespace, are mode 0600 and the daemon's:
 * created and sized here, memory allocated up front, then sealed against
 * shrinking and growing, so that no client holding a descriptor can
 * truncate a segment under the others (SIGBUS). A client of another uid
 * cannot reopen a read-only descriptor for writing (the mode), a client
 * of the daemon's uid could, and is trusted like the daemon. Main thread.
 */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "logmsg.h"
#include "map.h"
#include "numa_place.h"
#include "shmq_err.h"
#include "shmq_types.h"

#define SEG_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int segment_err_from_errno(int e)
{
	switch (e) {
	case EEXIST:
		return -SHMQ_EEXIST;
	case ENOMEM:
	case ENOSPC:
		return -SHMQ_ENOMEM;
	case EMFILE:
	case ENFILE:
		return -SHMQ_ELIMIT;
	case EACCES:
	case EPERM:
		return -SHMQ_EPERM;
	default:
		return -SHMQ_ESYS;
	}
}

/*
 * Memory a new segment may take now: MemAvailable + SwapFree, else (no
 * /proc) free RAM + free swap. fallocate() of more would not fail: it
 * would allocate until the OOM killer chose someone.
 */
static uint64_t mem_room_bytes(void)
{
	unsigned long long kb, room = 0;
	struct sysinfo si;
	char line[128];
	int found = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1 ||
		    sscanf(line, "SwapFree: %llu kB", &kb) == 1) {
			room += kb << 10;
			found++;
		}
	}
	if (f)
		fclose(f);
	if (found == 2 || sysinfo(&si))
		return room;
	return ((uint64_t)si.freeram + si.freeswap) * si.mem_unit;
}

static struct log_rate nomem_rate;

static int seg_no_memory(const char *name, uint64_t bytes, uint64_t room)
{
	unsigned n;

	if (log_rate_allow(&nomem_rate, &n))
		log_msg(LOG_WARN, "registry",
			"no memory for segment=%s bytes=%llu available=%llu suppressed=%u", name,
			(unsigned long long)bytes, (unsigned long long)room, n);
	return -SHMQ_ENOMEM;
}

int segment_create(const char *name, uint64_t bytes, int node, int *fd_out, void **base,
		   uint64_t *mapped)
{
	uint64_t node_room, room = mem_room_bytes();
	int fd, err;

	node_room = node >= 0 ? numa_node_room_bytes(node) : UINT64_MAX;
	if (node_room < room)
		room = node_room;
	if (bytes > room)
		return seg_no_memory(name, bytes, room);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return segment_err_from_errno(errno);
	*fd_out = fd;
	/* 0600: nobody but the daemon's uid may reopen it via /proc */
	if (fchmod(fd, 0600) || ftruncate(fd, (off_t)bytes))
		return segment_err_from_errno(errno);
	/* the policy must be set before fallocate() allocates the pages */
	if (node >= 0) {
		err = numa_bind_fd(fd, bytes, node);
		if (err)
			return err;
	}
	if (fallocate(fd, 0, 0, (off_t)bytes)) {
		if (errno == ENOSPC || errno == ENOMEM)
			return seg_no_memory(name, bytes, room);
		return segment_err_from_errno(errno);
	}
	if (fcntl(fd, F_ADD_SEALS, SEG_SEALS))
		return segment_err_from_errno(errno);
	return map_fd(fd, true, base, mapped);
}

int segment_fd_ro(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

int segment_open_ro(int fd, int *ro_out)
{
	*ro_out = segment_fd_ro(fd);
	return *ro_out < 0 ? segment_err_from_errno(errno) : 0;
}

bool segment_is_ours(int fd, uint64_t bytes)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 07777) != 0600 || (uint64_t)st.st_size != bytes)
		return false;
	return fcntl(fd, F_GET_SEALS) == SEG_SEALS;
}
