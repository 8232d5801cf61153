/*
 * scen_durable.c - shmq's durable channels beside the disk floors
 * (base_disk.c), through the public API against the runner's shmqd, which
 * it starts with a data_dir on the file system of --disk-dir:
 *
 * shmq-batch: one process publishes into a block-policy channel made with
 * SHMQ_CHAN_DURABLE(SHMQ_SYNC_BATCH) and no subscriber, then waits with
 * shmq_wait_durable() until the last message is durable; the rate runs from
 * the first publish after the warm-up to that confirm.
 * shmq-always: SHMQ_SYNC_ALWAYS; publish one message, shmq_wait_durable() on
 * its offset, repeat: each confirm's latency, publish to durable.
 * The channel is deleted after; the runner removes the data directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "shmq.h"

#define SD_CAPACITY (16ull << 20)	 /* ring bytes: room for the journal to lag */
#define SD_WAIT_NS (60ll * 1000000000ll) /* a confirm later than this is a failure */

struct sd {
	struct shmq_client *c;
	struct shmq_pub *pub;
	char name[64];
	void *buf;
	const char *what; /* the call that failed */
};

static int sd_open(struct sd *s, const struct bench_cfg *cfg, uint32_t sync)
{
	static unsigned run;
	struct shmq_channel_opts o = {.capacity_bytes = SD_CAPACITY,
				      .policy = SHMQ_POLICY_BLOCK,
				      .flags = SHMQ_CHAN_DURABLE(sync)};
	int err;

	o.max_message_bytes = cfg->size_bytes < 64 ? 64 : cfg->size_bytes;
	snprintf(s->name, sizeof(s->name), "bench.durable.%u.%u", (unsigned)getpid(), ++run);
	s->buf = calloc(1, cfg->size_bytes);
	if (!s->buf)
		return -SHMQ_ENOMEM;
	s->what = "connect";
	err = shmq_connect(cfg->socket_path, &s->c);
	if (!err) {
		s->what = "create durable channel";
		err = shmq_channel_create(s->c, s->name, &o);
	}
	if (!err) {
		s->what = "open publisher";
		err = shmq_pub_open(s->c, s->name, NULL, &s->pub);
	}
	return err;
}

static void sd_close(struct sd *s)
{
	shmq_pub_close(s->pub);
	if (s->c)
		shmq_channel_delete(s->c, s->name);
	shmq_disconnect(s->c);
	free(s->buf);
}

/* Publish one message carrying its sequence number; *off = its offset. */
static int sd_publish(struct sd *s, uint32_t len, uint64_t seq, uint64_t *off)
{
	memcpy(s->buf, &seq, len < sizeof(seq) ? len : sizeof(seq));
	s->what = "publish";
	return shmq_publish(s->pub, s->buf, len, -1, off);
}

static int sd_confirm(struct sd *s, uint64_t off)
{
	s->what = "shmq_wait_durable";
	return shmq_wait_durable(s->pub, off, SD_WAIT_NS);
}

/* n messages back to back, then one wait for the last. */
static int sd_stream(struct sd *s, uint32_t len, uint64_t n)
{
	uint64_t i, off = 0;
	int err = 0;

	for (i = 0; i < n && !err; i++)
		err = sd_publish(s, len, i, &off);
	return err ? err : sd_confirm(s, off);
}

static int sd_run(const struct bench_cfg *cfg, struct bench_out *out, uint32_t sync)
{
	struct sd s = {0};
	uint64_t i, t0, off;
	int err;

	if (!cfg->socket_path)
		return bench_fail(out->reason, BENCH_SKIP, "no shmqd");
	err = sd_open(&s, cfg, sync);
	if (!err && sync == SHMQ_SYNC_BATCH) {
		err = sd_stream(&s, cfg->size_bytes, cfg->warmup);
		t0 = now_ns();
		if (!err)
			err = sd_stream(&s, cfg->size_bytes, cfg->iters);
		out->msgs_per_s = (double)cfg->iters * 1e9 / (double)(now_ns() - t0);
	}
	for (i = 0; !err && sync != SHMQ_SYNC_BATCH && i < cfg->warmup + cfg->iters; i++) {
		t0 = now_ns();
		err = sd_publish(&s, cfg->size_bytes, i, &off);
		if (!err)
			err = sd_confirm(&s, off);
		if (!err && i >= cfg->warmup)
			hist_record(out->lat, now_ns() - t0);
	}
	if (err)
		bench_fail(out->reason, -EIO, "%s: %s", s.what, shmq_strerror(err));
	sd_close(&s);
	return err ? -EIO : 0;
}

int scen_durable_batch(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sd_run(cfg, out, SHMQ_SYNC_BATCH);
}

int scen_durable_always(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sd_run(cfg, out, SHMQ_SYNC_ALWAYS);
}
