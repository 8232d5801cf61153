/*
 * journal_io.c - the journal's I/O backends (journal_io.h). io_uring here
 * is used one request (or one linked write and fsync) at a time from the
 * journal thread: the thread waits for its completion, as it would for
 * pwritev, so the daemon's loop never does; the ring saves the system
 * calls of a write followed by an fsync.
 */
#include "journal_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

/* ---- pwritev and fdatasync ---- */

static int sys_write(struct journal_io *io, int fd, const void *buf, uint64_t n, uint64_t off)
{
	const uint8_t *p = buf;

	(void)io;
	while (n) {
		struct iovec iov = {(void *)p, n};
		ssize_t r = pwritev(fd, &iov, 1, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		p += r;
		off += (uint64_t)r;
		n -= (uint64_t)r;
	}
	return 0;
}

static int sys_sync(struct journal_io *io, int fd)
{
	(void)io;
	return fdatasync(fd) ? -errno : 0;
}

static int sys_write_sync(struct journal_io *io, int fd, const void *buf, uint64_t n, uint64_t off)
{
	int err = io->write(io, fd, buf, n, off);

	return err ? err : io->sync(io, fd);
}

static int sys_allocate(struct journal_io *io, int fd, uint64_t bytes)
{
	int err;

	(void)io;
	err = posix_fallocate(fd, 0, (off_t)bytes);
	if (err == EOPNOTSUPP || err == EINVAL) /* a file system without it: sparse */
		err = ftruncate(fd, (off_t)bytes) ? errno : 0;
	return -err;
}

static int sys_open(struct journal_io *io, int dirfd, const char *name, int flags, int *fd)
{
	(void)io;
	*fd = openat(dirfd, name, flags | O_CLOEXEC, 0600);
	return *fd < 0 ? -errno : 0;
}

static void sys_close(struct journal_io *io)
{
	free(io);
}

static const struct journal_io sys_io = {
    .write = sys_write,
    .sync = sys_sync,
    .write_sync = sys_write_sync,
    .allocate = sys_allocate,
    .open = sys_open,
    .close = sys_close,
    .name = "pwritev",
};

/* ---- io_uring ---- */

#ifdef HAVE_LIBURING
struct uring_io {
	struct journal_io io; /* first */
	struct io_uring ring;
};

/* Submit what is queued and reap n completions: the first error, or 0. */
static int uring_run(struct uring_io *u, unsigned n, int *res)
{
	int err = 0, r = io_uring_submit_and_wait(&u->ring, n);

	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_cqe *cqe;

		r = io_uring_wait_cqe(&u->ring, &cqe);
		if (r < 0)
			return r;
		res[i] = cqe->res;
		if (cqe->res < 0 && !err)
			err = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
	}
	return err;
}

static int uring_write_at(struct uring_io *u, int fd, const uint8_t *p, uint64_t n, uint64_t off,
			  bool sync)
{
	struct io_uring_sqe *w = io_uring_get_sqe(&u->ring), *s;
	unsigned len = n > (1u << 30) ? 1u << 30 : (unsigned)n;
	int res[2] = {0, 0}, err;

	if (!w)
		return -EBUSY;
	io_uring_prep_write(w, fd, p, len, off);
	if (sync && len == n) {
		s = io_uring_get_sqe(&u->ring);
		if (!s)
			return -EBUSY;
		w->flags |= IOSQE_IO_LINK;
		io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
	}
	err = uring_run(u, sync && len == n ? 2 : 1, res);
	if (err == -ECANCELED && res[0] >= 0 && (uint64_t)res[0] < len)
		err = 0; /* a short write cancelled the fsync: go on below */
	if (err)
		return err;
	if (res[0] == 0)
		return -EIO;
	if ((uint64_t)res[0] < n) /* short: write the rest, then sync */
		return uring_write_at(u, fd, p + res[0], n - (uint64_t)res[0],
				      off + (uint64_t)res[0], sync);
	return 0;
}

static int uring_write(struct journal_io *io, int fd, const void *buf, uint64_t n, uint64_t off)
{
	return uring_write_at((struct uring_io *)io, fd, buf, n, off, false);
}

static int uring_write_sync(struct journal_io *io, int fd, const void *buf, uint64_t n,
			    uint64_t off)
{
	return uring_write_at((struct uring_io *)io, fd, buf, n, off, true);
}

static int uring_sync(struct journal_io *io, int fd)
{
	struct uring_io *u = (struct uring_io *)io;
	struct io_uring_sqe *s = io_uring_get_sqe(&u->ring);
	int res;

	if (!s)
		return -EBUSY;
	io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
	return uring_run(u, 1, &res);
}

static void uring_close(struct journal_io *io)
{
	struct uring_io *u = (struct uring_io *)io;

	io_uring_queue_exit(&u->ring);
	free(u);
}

static struct journal_io *uring_open(const char **why)
{
	struct uring_io *u = calloc(1, sizeof(*u));
	int err;

	if (!u) {
		*why = "out of memory";
		return NULL;
	}
	err = io_uring_queue_init(8, &u->ring, 0);
	if (err < 0) {
		*why = strerror(-err);
		free(u);
		return NULL;
	}
	u->io = sys_io;
	u->io.write = uring_write;
	u->io.sync = uring_sync;
	u->io.write_sync = uring_write_sync;
	u->io.close = uring_close;
	u->io.name = "io_uring";
	return &u->io;
}
#else
static struct journal_io *uring_open(const char **why)
{
	*why = "built without liburing";
	return NULL;
}
#endif

/* ---- the test backend ---- */

enum fault_kind { FAULT_WRITE_EIO, FAULT_SYNC_EIO, FAULT_WRITE_ENOSPC };

struct fault_io {
	struct journal_io io; /* first */
	struct journal_io *inner;
	enum fault_kind kind;
	uint64_t after, count, seen;
	char channel[256]; /* "/NAME/" or empty */
};

/* Does fd's path lie under the channel's directory (or is no channel named)? */
static bool fault_here(const struct fault_io *f, int fd)
{
	char link[64], path[4096];
	ssize_t n;

	if (!f->channel[0])
		return true;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return false;
	path[n] = 0;
	return strstr(path, f->channel) != NULL;
}

/* Should this call of kind fail (err), counting it? */
static int fault_take(struct fault_io *f, enum fault_kind kind, int fd)
{
	uint64_t k;

	if ((f->kind == FAULT_SYNC_EIO) != (kind == FAULT_SYNC_EIO) || !fault_here(f, fd))
		return 0;
	k = f->seen++;
	if (k < f->after || (f->count && k >= f->after + f->count))
		return 0;
	return f->kind == FAULT_WRITE_ENOSPC ? -ENOSPC : -EIO;
}

static int fault_write(struct journal_io *io, int fd, const void *buf, uint64_t n, uint64_t off)
{
	struct fault_io *f = (struct fault_io *)io;
	int err = fault_take(f, FAULT_WRITE_EIO, fd);

	return err ? err : f->inner->write(f->inner, fd, buf, n, off);
}

static int fault_sync(struct journal_io *io, int fd)
{
	struct fault_io *f = (struct fault_io *)io;
	int err = fault_take(f, FAULT_SYNC_EIO, fd);

	return err ? err : f->inner->sync(f->inner, fd);
}

static int fault_write_sync(struct journal_io *io, int fd, const void *buf, uint64_t n,
			    uint64_t off)
{
	int err = fault_write(io, fd, buf, n, off);

	return err ? err : fault_sync(io, fd);
}

static int fault_allocate(struct journal_io *io, int fd, uint64_t bytes)
{
	struct fault_io *f = (struct fault_io *)io;

	return f->inner->allocate(f->inner, fd, bytes);
}

static void fault_close(struct journal_io *io)
{
	struct fault_io *f = (struct fault_io *)io;

	f->inner->close(f->inner);
	free(f);
}

static int fault_parse(struct fault_io *f, const char *spec)
{
	static const char *const kinds[] = {"write-eio", "sync-eio", "write-enospc"};
	char kind[32], chan[200] = "";
	unsigned long long after = 0, count = 0;
	int n = sscanf(spec, "%31[a-z-]:%llu:%llu:%199s", kind, &after, &count, chan), k = -1;

	for (int i = 0; i < 3; i++)
		if (!strcmp(kind, kinds[i]))
			k = i;
	if (n < 2 || k < 0)
		return -1;
	f->kind = (enum fault_kind)k;
	f->after = after;
	f->count = count;
	if (chan[0])
		snprintf(f->channel, sizeof(f->channel), "/%s/", chan);
	return 0;
}

bool journal_io_faulty(void)
{
	return getenv("SHMQD_JOURNAL_FAULT") != NULL;
}

static struct journal_io *fault_wrap(struct journal_io *inner, const char *spec)
{
	struct fault_io *f = calloc(1, sizeof(*f));

	if (!f || fault_parse(f, spec)) {
		free(f);
		return inner;
	}
	f->inner = inner;
	f->io = (struct journal_io){fault_write, fault_sync,  fault_write_sync, fault_allocate,
				    sys_open,	 fault_close, "test-faults"};
	return &f->io;
}

struct journal_io *journal_io_open(const char **why)
{
	struct journal_io *io = uring_open(why);
	const char *spec = getenv("SHMQD_JOURNAL_FAULT");

	if (!io) {
		io = malloc(sizeof(*io));
		if (!io)
			return NULL;
		*io = sys_io;
	}
	return spec ? fault_wrap(io, spec) : io;
}
