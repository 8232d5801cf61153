/*
 * scen_memory.c - how many messages a channel holds per MiB of its ring:
 * a block-policy channel with one subscriber attached that reads nothing is
 * filled with shmq_publish(..., timeout 0) until -SHMQ_EFULL, and the count
 * is reported with the ring's bytes (shmq_channel_info().capacity_bytes).
 * Two workloads: 64-byte messages on a default channel (4 MiB, 4096-byte
 * maximum), and the mixed sizes of bench_mix_len() on a channel whose
 * maximum is their largest. A subscriber must be attached: a block-policy
 * channel with no reader never refuses a publisher.
 *
 * Runs in the runner's process against its shmqd; no peers, nothing timed,
 * and every repetition gives the same count.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "drive.h"
#include "shmq.h"

struct mem_run {
	struct shmq_client *c;
	struct shmq_sub *sub;
	struct shmq_pub *pub;
	uint8_t *buf;
	char name[64];
	int created;
};

/*
 * Publish until the channel refuses; the count into out->held_msgs. 0, a
 * negative shmq error, or 1 if the channel took more than it can hold.
 */
static int mem_fill(struct mem_run *m, int mixed, struct bench_out *out)
{
	/* every record takes at least 32 bytes: more than this is a channel
	 * that never fills, not a result */
	uint64_t i, cap = out->ring_bytes / 32 + 1;
	int err = 0;

	for (i = 0; !err && i <= cap; i++) {
		drive_stamp(m->buf, i);
		err = shmq_publish(m->pub, m->buf, mixed ? bench_mix_len(i) : 64, 0, NULL);
	}
	if (err != -SHMQ_EFULL)
		return err ? err : 1;
	out->held_msgs = i - 1;
	return 0;
}

static int mem_measure(const struct bench_cfg *cfg, struct mem_run *m, int mixed,
		       struct bench_out *out)
{
	struct shmq_channel_opts o = {.policy = SHMQ_POLICY_BLOCK};
	struct shmq_sub_opts so = {.start = SHMQ_START_LATEST};
	struct shmq_channel_info info;
	static unsigned run;
	int err;

	if (mixed)
		o.max_message_bytes = BENCH_MIX_LARGE;
	snprintf(m->name, sizeof(m->name), "bench.mem.%u.%u", (unsigned)getpid(), ++run);
	err = shmq_connect(cfg->socket_path, &m->c);
	if (!err)
		err = shmq_channel_create(m->c, m->name, &o);
	m->created = !err;
	if (!err)
		err = shmq_sub_open(m->c, m->name, &so, &m->sub);
	if (!err)
		err = shmq_pub_open(m->c, m->name, NULL, &m->pub);
	if (!err)
		err = shmq_channel_info(m->c, m->name, &info);
	if (err)
		return err;
	out->ring_bytes = info.capacity_bytes;
	return mem_fill(m, mixed, out);
}

static int mem_scenario(const struct bench_cfg *cfg, struct bench_out *out, int mixed)
{
	struct mem_run m = {0};
	int err;

	if (!cfg->socket_path)
		return bench_fail(out->reason, BENCH_SKIP, "no shmqd");
	m.buf = calloc(1, BENCH_MIX_LARGE);
	if (!m.buf)
		return bench_fail(out->reason, -ENOMEM, "out of memory");
	err = mem_measure(cfg, &m, mixed, out);
	if (err > 0)
		err = bench_fail(out->reason, -EIO, "the channel never refused a message");
	else if (err)
		err = bench_fail(out->reason, -EIO, "memory: %s", shmq_strerror(err));
	shmq_pub_close(m.pub);
	shmq_sub_close(m.sub);
	if (m.created)
		shmq_channel_delete(m.c, m.name);
	shmq_disconnect(m.c);
	free(m.buf);
	return err;
}

int scen_memory_64(const struct bench_cfg *cfg, struct bench_out *out)
{
	return mem_scenario(cfg, out, 0);
}

int scen_memory_mixed(const struct bench_cfg *cfg, struct bench_out *out)
{
	return mem_scenario(cfg, out, 1);
}
