/*
 * procid.c - pid and start mark (see procid.h). With pidfs the mark is the
 * inode of a pidfd of the process; else the start time from /proc/PID/stat,
 * whose second field (the command, in parentheses) may hold spaces and
 * parentheses of its own, so the fields are counted from its last ')'.
 */
#include "procid.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shmq_err.h"

#define STAT_START_FIELD 22    /* starttime, counted as proc(5) counts */
#define PIDFS_SUPER 0x50494446 /* PIDFS_MAGIC: pidfds are inodes of their own */

/* The start time in clock ticks after boot; 0 if /proc says nothing. */
static uint64_t start_ticks(uint32_t pid)
{
	char path[32], buf[1024], *p;
	ssize_t n;
	int fd, field;

	if (pid == 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* after ')' comes field 3; each space starts the next field */
	for (field = 2; p && field < STAT_START_FIELD; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

uint64_t procid_mark_fd(int pidfd, uint32_t pid)
{
	struct statfs sfs;
	struct stat st;

	if (fstatfs(pidfd, &sfs) == 0 && sfs.f_type == PIDFS_SUPER && fstat(pidfd, &st) == 0)
		return (uint64_t)st.st_ino;
	return start_ticks(pid);
}

uint64_t procid_start(uint32_t pid)
{
	int pidfd;
	uint64_t mark;

	if (pid == 0)
		return 0;
	pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pidfd < 0)
		return 0;
	mark = procid_mark_fd(pidfd, pid);
	close(pidfd);
	return mark;
}

bool procid_alive(uint32_t pid, uint64_t start)
{
	if (pid == 0)
		return false;
	if (start == 0)
		return kill((pid_t)pid, 0) == 0 || errno == EPERM;
	return procid_start(pid) == start;
}

int procid_signal(uint32_t pid, uint64_t start, int sig)
{
	int pidfd, rc = -1;

	if (pid == 0)
		return -SHMQ_EINVAL;
	pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pidfd < 0)
		return -SHMQ_ESYS;
	/* the pidfd names the process that had pid when it was opened; if
	 * its mark is the one recorded, it is the one meant */
	if (start == 0 ? kill((pid_t)pid, 0) == 0 : procid_mark_fd(pidfd, pid) == start)
		rc = (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
	close(pidfd);
	return rc ? -SHMQ_ESYS : 0;
}
