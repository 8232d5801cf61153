/*
 * fault.c - libshmq_fault.so, the allocator and segment faults of fault.h
 * for a test build of shmqd: it replaces malloc, calloc and realloc
 * (passing on to glibc's own) and wraps memfd_create and mmap (direct
 * system calls), failing a call with ENOMEM when struct fault_ctl says so.
 * Without $SHMQ_FAULT_CTL, or in shmqd's keeper (--keeper), every call
 * passes. Loaded with LD_PRELOAD; not for sanitizer builds (their
 * runtimes own malloc). shmqd is single-threaded; the counters are atomic
 * anyway, the test writes them from another process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault.h"

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);

static struct fault_ctl *ctl;

/* Is this the keeper ("shmqd --keeper PATH")? Its faults are not tested. */
static bool is_keeper(void)
{
	char buf[512];
	ssize_t n;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	for (ssize_t i = 0; i + 8 <= n; i++)
		if (!memcmp(buf + i, "--keeper", 8))
			return true;
	return false;
}

__attribute__((constructor)) static void fault_init(void)
{
	/* getenv() allocates nothing */
	const char *path = getenv("SHMQ_FAULT_CTL");
	void *p;
	int fd;

	if (!path || is_keeper())
		return;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	p = (void *)syscall(SYS_mmap, NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			    0);
	close(fd);
	if (p != MAP_FAILED)
		ctl = p;
}

/* Should this call of kind k fail? Counts it either way. */
static bool fault_now(enum fault_kind k)
{
	int64_t after;

	if (!ctl)
		return false;
	atomic_fetch_add(&ctl->calls[k], 1);
	after = atomic_load(&ctl->after[k]);
	if (after < 0)
		return false;
	if (after > 0) {
		atomic_fetch_sub(&ctl->after[k], 1);
		return false;
	}
	if (atomic_fetch_sub(&ctl->times[k], 1) <= 1)
		atomic_store(&ctl->after[k], -1);
	atomic_fetch_add(&ctl->injected[k], 1);
	return true;
}

void *malloc(size_t n)
{
	if (fault_now(FAULT_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	if (fault_now(FAULT_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	if (fault_now(FAULT_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n);
}

int memfd_create(const char *name, unsigned int flags)
{
	if (fault_now(FAULT_MEMFD)) {
		errno = ENOMEM;
		return -1;
	}
	return (int)syscall(SYS_memfd_create, name, flags);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (fault_now(FAULT_MMAP)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}
