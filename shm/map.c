/*
 * map.c - mmap helpers (see map.h). With wait.c, the only system calls of
 * shm/.
 */
#include "map.h"

#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "shmq_err.h"

int map_fd(int fd, bool writable, void **base, uint64_t *bytes)
{
	struct stat st;
	int flags;
	void *p;

	if (fstat(fd, &st) < 0)
		return -SHMQ_ESYS;
	if (st.st_size <= 0)
		return -SHMQ_ECORRUPT;
	flags = MAP_SHARED;
	if ((uint64_t)st.st_size <= MAP_POPULATE_MAX_BYTES)
		flags |= MAP_POPULATE;
	p = mmap(NULL, (size_t)st.st_size, writable ? PROT_READ | PROT_WRITE : PROT_READ, flags, fd,
		 0);
	if (p == MAP_FAILED)
		return errno == EACCES ? -SHMQ_EPERM : errno == ENOMEM ? -SHMQ_ENOMEM : -SHMQ_ESYS;
	*base = p;
	*bytes = (uint64_t)st.st_size;
	return 0;
}

void map_release(void *base, uint64_t bytes)
{
	if (base)
		munmap(base, (size_t)bytes);
}
