/*
 * base_disk.c - the disk floor for durable channels: sequential 4 KiB
 * appends to a fresh file with io_uring, on the file system of cfg->tmpdir
 * (the runner reports which one; tmpfs makes the figures meaningless).
 *
 * disk-always: one append linked (IOSQE_IO_LINK) to an fdatasync, waited for
 * before the next: the latency a sync=always confirm cannot beat.
 * disk-batch: appends with DISK_DEPTH in flight and one fdatasync per
 * DISK_SYNC_BYTES, as group commit would do: the bandwidth sync=batch can
 * reach. Single process, pinned to cfg->cpu[0]; the file is removed after.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define DISK_DEPTH 32
#define DISK_SYNC_BYTES (1u << 20)

struct disk {
	struct io_uring ring;
	int fd;
	char path[4096];
	void *buf;
	uint32_t len;
	uint64_t off;
};

static int disk_open(struct disk *k, const struct bench_cfg *cfg, char *reason)
{
	int err;

	k->fd = -1;
	k->len = cfg->size_bytes;
	snprintf(k->path, sizeof(k->path), "%s/disk-floor.%d", cfg->tmpdir, (int)getpid());
	if (posix_memalign(&k->buf, 4096, k->len))
		return bench_fail(reason, -ENOMEM, "out of memory");
	memset(k->buf, 0x5a, k->len);
	err = io_uring_queue_init(2 * DISK_DEPTH, &k->ring, 0);
	if (err) {
		free(k->buf);
		return bench_fail(reason, BENCH_SKIP, "io_uring_queue_init: %s", strerror(-err));
	}
	k->fd = open(k->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (k->fd < 0) {
		err = bench_fail(reason, -errno, "open %s: %s", k->path, strerror(errno));
		io_uring_queue_exit(&k->ring);
		free(k->buf);
		return err;
	}
	return 0;
}

static void disk_close(struct disk *k)
{
	close(k->fd);
	unlink(k->path);
	io_uring_queue_exit(&k->ring);
	free(k->buf);
}

/* Reap n completions; the first failure wins. */
static int disk_reap(struct disk *k, unsigned n)
{
	struct io_uring_cqe *cqe;
	int err = 0, e;

	while (n--) {
		e = io_uring_wait_cqe(&k->ring, &cqe);
		if (e)
			return e;
		if (cqe->res < 0 && !err)
			err = cqe->res;
		io_uring_cqe_seen(&k->ring, cqe);
	}
	return err;
}

static void disk_queue_write(struct disk *k, unsigned flags)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&k->ring);

	io_uring_prep_write(sqe, k->fd, k->buf, k->len, k->off);
	sqe->flags |= flags;
	k->off += k->len;
}

static void disk_queue_sync(struct disk *k)
{
	io_uring_prep_fsync(io_uring_get_sqe(&k->ring), k->fd, IORING_FSYNC_DATASYNC);
}

static int disk_always_loop(struct disk *k, const struct bench_cfg *cfg, struct hist *h)
{
	uint64_t i, t0;
	int err;

	for (i = 0; i < cfg->warmup + cfg->iters; i++) {
		t0 = now_ns();
		disk_queue_write(k, IOSQE_IO_LINK);
		disk_queue_sync(k);
		err = io_uring_submit(&k->ring);
		if (err < 0)
			return err;
		err = disk_reap(k, 2);
		if (err)
			return err;
		if (i >= cfg->warmup)
			hist_record(h, now_ns() - t0);
	}
	return 0;
}

/* Write n records, DISK_DEPTH in flight, an fdatasync after each DISK_SYNC_BYTES. */
static int disk_batch_loop(struct disk *k, uint64_t n)
{
	uint64_t done = 0, since_sync = 0;
	unsigned inflight = 0, burst;
	int err;

	while (done < n) {
		for (burst = 0; burst < DISK_DEPTH && done + burst < n; burst++)
			disk_queue_write(k, 0);
		err = io_uring_submit(&k->ring);
		if (err < 0)
			return err;
		inflight += burst;
		err = disk_reap(k, inflight);
		if (err)
			return err;
		inflight = 0;
		done += burst;
		since_sync += (uint64_t)burst * k->len;
		if (since_sync >= DISK_SYNC_BYTES || done == n) {
			disk_queue_sync(k);
			err = io_uring_submit(&k->ring);
			if (err < 0 || (err = disk_reap(k, 1)))
				return err;
			since_sync = 0;
		}
	}
	return 0;
}

static int disk_run(const struct bench_cfg *cfg, struct bench_out *out, int batch)
{
	cpu_set_t saved;
	struct disk k;
	uint64_t t0;
	int err;

	err = disk_open(&k, cfg, out->reason);
	if (err)
		return err;
	sched_getaffinity(0, sizeof(saved), &saved);
	proc_pin(cfg->cpu[0]);
	if (!batch) {
		err = disk_always_loop(&k, cfg, out->lat);
	} else {
		err = disk_batch_loop(&k, cfg->warmup);
		t0 = now_ns();
		if (!err)
			err = disk_batch_loop(&k, cfg->iters);
		out->msgs_per_s = (double)cfg->iters * 1e9 / (double)(now_ns() - t0);
	}
	sched_setaffinity(0, sizeof(saved), &saved);
	if (err)
		bench_fail(out->reason, err, "io_uring write/fdatasync on %s: %s", k.path,
			   strerror(-err));
	disk_close(&k);
	return err;
}

int base_disk_always(const struct bench_cfg *cfg, struct bench_out *out)
{
	return disk_run(cfg, out, 0);
}

int base_disk_batch(const struct bench_cfg *cfg, struct bench_out *out)
{
	return disk_run(cfg, out, 1);
}
