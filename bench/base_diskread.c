/*
 * base_diskread.c - the floor for reading a journal back (recovery,
 * catch-up): a file of iters x size bytes is written first (pwrite, then
 * fdatasync) on the file system of cfg->tmpdir, the disk floor's; its pages
 * are dropped from the page cache (POSIX_FADV_DONTNEED, as after a reboot),
 * and it is then read from start to end with pread in DREAD_CHUNK pieces,
 * every byte checked with CRC-32C (shm/crc32c.h) against the checksum taken
 * while writing. msgs_per_s counts size-byte blocks, so GB/s is rate x size;
 * the report also gives the time 1 GiB would take at that rate. The note
 * says the file size and how much of it the cache still held at the start
 * (tmpfs holds all of it: then the figure is memory's, not the disk's).
 * Single process, pinned to cfg->cpu[0]; the warm-up count is not used; the
 * file is removed after.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "crc32c.h"

#define DREAD_CHUNK (1u << 20)

struct dread {
	int fd;
	char path[4096];
	uint8_t *buf; /* DREAD_CHUNK bytes */
	uint64_t bytes;
	uint32_t crc; /* of the whole file, taken while writing */
};

/* Fill the file with a byte pattern that differs per chunk; fdatasync it. */
static int dread_fill(struct dread *d)
{
	uint64_t off, n;
	ssize_t w;

	d->crc = 0;
	for (off = 0; off < d->bytes; off += n) {
		n = d->bytes - off < DREAD_CHUNK ? d->bytes - off : DREAD_CHUNK;
		memset(d->buf, (int)(0x5a ^ (off >> 20)), n);
		d->crc = crc32c_update(d->crc, d->buf, n);
		w = pwrite(d->fd, d->buf, n, (off_t)off);
		if (w != (ssize_t)n)
			return w < 0 ? -errno : -EIO;
	}
	return fdatasync(d->fd) ? -errno : 0;
}

/* Percent of the file's pages in the page cache (mincore), -1 if unknown. */
static int dread_cached_pct(const struct dread *d)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), pages = (d->bytes + page - 1) / page, in = 0;
	unsigned char *vec = malloc(pages);
	void *map = mmap(NULL, d->bytes, PROT_READ, MAP_SHARED, d->fd, 0);
	int pct = -1;

	if (vec && map != MAP_FAILED && !mincore(map, d->bytes, vec)) {
		for (size_t i = 0; i < pages; i++)
			in += vec[i] & 1;
		pct = (int)(in * 100 / pages);
	}
	if (map != MAP_FAILED)
		munmap(map, d->bytes);
	free(vec);
	return pct;
}

/* Read it all back, checksumming every byte; -EILSEQ if the checksum differs. */
static int dread_check(struct dread *d)
{
	uint32_t crc = 0;
	uint64_t off;
	ssize_t n;

	for (off = 0; off < d->bytes; off += (uint64_t)n) {
		n = pread(d->fd, d->buf, DREAD_CHUNK, (off_t)off);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		crc = crc32c_update(crc, d->buf, (size_t)n);
	}
	return crc == d->crc ? 0 : -EILSEQ;
}

static int dread_open(struct dread *d, const struct bench_cfg *cfg, char *reason)
{
	d->bytes = cfg->iters * cfg->size_bytes;
	snprintf(d->path, sizeof(d->path), "%s/disk-read.%d", cfg->tmpdir, (int)getpid());
	if (posix_memalign((void **)&d->buf, 4096, DREAD_CHUNK))
		return bench_fail(reason, -ENOMEM, "out of memory");
	d->fd = open(d->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (d->fd < 0) {
		free(d->buf);
		return bench_fail(reason, -errno, "open %s: %s", d->path, strerror(errno));
	}
	return 0;
}

static void dread_close(struct dread *d)
{
	close(d->fd);
	unlink(d->path);
	free(d->buf);
}

int base_disk_read(const struct bench_cfg *cfg, struct bench_out *out)
{
	struct dread d;
	cpu_set_t saved;
	uint64_t t0, t1;
	int err, pct;

	err = dread_open(&d, cfg, out->reason);
	if (err)
		return err;
	sched_getaffinity(0, sizeof(saved), &saved);
	proc_pin(cfg->cpu[0]);
	err = dread_fill(&d);
	if (!err)
		err = -posix_fadvise(d.fd, 0, 0, POSIX_FADV_DONTNEED);
	pct = err ? -1 : dread_cached_pct(&d);
	t0 = now_ns();
	if (!err)
		err = dread_check(&d);
	t1 = now_ns();
	sched_setaffinity(0, sizeof(saved), &saved);
	if (err == -EILSEQ)
		bench_fail(out->reason, err,
			   "%s: CRC-32C of what was read differs from what was "
			   "written",
			   d.path);
	else if (err)
		bench_fail(out->reason, err, "write, fadvise or read of %s: %s", d.path,
			   strerror(-err));
	else
		snprintf(out->note, sizeof(out->note),
			 "%.1f MiB file, %d %% of it in the page cache at the start",
			 (double)d.bytes / (1 << 20), pct);
	out->msgs_per_s = (double)cfg->iters * 1e9 / (double)(t1 - t0 ? t1 - t0 : 1);
	dread_close(&d);
	return err;
}
