/*
 * scen_shmq.c - the shmq scenarios, through the public API (shmq.h) against
 * the runner's own shmqd (cfg->socket_path):
 *
 *  - ping-pong: channel "ping" (parent publishes, child subscribes) and
 *    "pong" (the reverse); readers spin, spin-then-sleep (the default), sleep
 *    on the futex, or wait on their event fd with epoll; shared publishers
 *    (SHMQ_PUBLISHERS_MANY, the default) or, for spinning readers, also an
 *    exclusive one (SHMQ_PUBLISHERS_ONE);
 *  - streaming: the child publishes into a block-policy channel, the parent
 *    receives with shmq_recv() and copies out (shmq), or in batches of up to
 *    256 with shmq_poll() (shmq-batch); with either publisher mode; one
 *    message per shmq_publish(), or atomic batches of 32 through
 *    shmq_pub_claimv()/shmq_pub_commitv() (claimv) or shmq_publishv()
 *    (publishv); with or without SHMQ_CHAN_NO_TIMESTAMP; and the mixed-size
 *    workload (bench_mix_len()), whose consumer also counts bytes;
 *  - fan-out: the parent publishes to N sleeping subscribers on a block-policy
 *    channel (so the publisher's rate is that of delivering every message to
 *    every subscriber, not of outrunning lapped ones); a paced phase measures
 *    latency to the first and the last subscriber, then a back-to-back phase
 *    the publisher's rate and the share the slowest subscriber received;
 *  - pattern: the spinning ping-pong and the streaming scenario with every
 *    subscriber opened by shmq_sub_open_pattern() on a pattern that matches
 *    its one channel (the run's name with the pid token as `*`), to put a
 *    price on the pattern handle's dispatch;
 *  - filter: the stream with a key on every message (one of ten, by
 *    sequence number), read whole (shmq-keyed) or through a key-equal filter
 *    that passes one in ten (shmq-filter90); the rate is of messages the
 *    reader's cursor passed, delivered or not;
 *  - pattern over 8 channels: eight children, each the exclusive publisher
 *    of its own channel, and one pattern subscription of all eight; the
 *    aggregate rate, each channel's order checked (shmq-pattern8).
 *
 * Each run creates its channels, forks its peers (each connects on its own:
 * a client is not shared across fork) and deletes the channels at the end.
 * Every message carries its sequence number, checked by the receiver.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench.h"
#include "drive.h"
#include "shmq.h"

#define SQ_BATCH 256
#define SQ_PUB_BATCH 32	    /* messages per claimv/publishv batch */
#define SQ_FANOUT_RATE 5000 /* paced latency phase, messages/s, unless --rate */

/* How a run's channels are made and how its publisher sends. */
struct sq_mode {
	uint32_t publishers; /* enum shmq_publishers of every channel */
	uint32_t flags;	     /* SHMQ_CHAN_* of every channel */
	unsigned batch;	     /* streaming: 0, or messages per atomic batch */
	int publishv;	     /* batches by shmq_publishv(), else claimv + commitv */
	int mixed;	     /* streaming: the mixed-size workload */
	int pattern;	     /* subscribers by shmq_sub_open_pattern() */
	int keyed;	     /* streaming: each message's key is "k" and its seq % 10 */
	int filter;	     /* streaming: the reader passes over all but key "k0" */
};

struct sq {
	struct proc_sync *sync;
	const struct bench_cfg *cfg;
	struct bench_out *out;
	char ping[64];
	char pong[64];
	uint32_t wait; /* enum shmq_wait of every reader */
	struct sq_mode mode;
	struct shmq_client *c;
	struct shmq_pub *pub;
	struct shmq_sub *sub;
	int epfd;
	int err; /* the last shmq error, for the reason */
	void *buf;
	/* streaming with shmq_poll() */
	uint64_t seq;
	int bad;
};

static int sq_fail(struct sq *q, int err)
{
	q->err = err;
	return -EIO;
}

static int sq_publish(void *t, void *buf, uint32_t len)
{
	struct sq *q = t;
	int err = shmq_publish(q->pub, buf, len, -1, NULL);

	return err ? sq_fail(q, err) : 0;
}

static int sq_wait_event(struct sq *q)
{
	struct epoll_event ev;
	int n;

	do
		n = epoll_wait(q->epfd, &ev, 1, -1);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

static int sq_recv(void *t, void *buf, uint32_t len)
{
	struct sq *q = t;
	struct shmq_msg m;
	int err;

	for (;;) {
		err = shmq_recv(q->sub, &m, q->wait == SHMQ_WAIT_EVENTFD ? 0 : -1);
		if (err != -SHMQ_EAGAIN || q->epfd < 0)
			break;
		err = sq_wait_event(q);
		if (err)
			return err;
	}
	if (err)
		return sq_fail(q, err);
	if (m.len != len || m.lost)
		return -EBADMSG;
	memcpy(buf, m.data, len);
	return 0;
}

static void sq_close(struct sq *q)
{
	if (q->epfd >= 0)
		close(q->epfd);
	shmq_sub_close(q->sub);
	shmq_pub_close(q->pub);
	shmq_disconnect(q->c);
	q->epfd = -1;
	q->sub = NULL;
	q->pub = NULL;
	q->c = NULL;
}

/* A subscriber on name through a pattern that matches it alone: bench.KIND.*.RUN.X */
static int sq_sub_pattern(struct sq *q, const char *name, const struct shmq_sub_opts *so)
{
	char pattern[64];
	const char *pid = strchr(strchr(name, '.') + 1, '.') + 1, *rest = strchr(pid, '.');

	snprintf(pattern, sizeof(pattern), "%.*s*%s", (int)(pid - name), name, rest);
	return shmq_sub_open_pattern(q->c, pattern, so, &q->sub);
}

/* Connect, then open a subscriber on sub_name and a publisher on pub_name (either may be NULL). */
static int sq_open(struct sq *q, const char *pub_name, const char *sub_name)
{
	struct shmq_sub_opts so = {.start = SHMQ_START_LATEST, .wait = q->wait};
	struct epoll_event ev = {.events = EPOLLIN};
	int err;

	q->epfd = -1;
	err = shmq_connect(q->cfg->socket_path, &q->c);
	if (!err && sub_name)
		err = q->mode.pattern ? sq_sub_pattern(q, sub_name, &so)
				      : shmq_sub_open(q->c, sub_name, &so, &q->sub);
	if (!err && pub_name)
		err = shmq_pub_open(q->c, pub_name, NULL, &q->pub);
	if (err)
		return sq_fail(q, err);
	if (sub_name && q->wait == SHMQ_WAIT_EVENTFD) {
		q->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (q->epfd < 0 || epoll_ctl(q->epfd, EPOLL_CTL_ADD, shmq_sub_fd(q->sub), &ev))
			return -errno;
	}
	return 0;
}

/* Create the run's channels with the parent's client; names are unique per run. */
static int sq_create(struct sq *q, const char *kind, unsigned nchan)
{
	static unsigned run;
	struct shmq_channel_opts o = {.policy = SHMQ_POLICY_BLOCK};
	int err = shmq_connect(q->cfg->socket_path, &q->c);

	o.max_message_bytes = q->cfg->size_bytes < 64 ? 64 : q->cfg->size_bytes;
	if (q->mode.mixed)
		o.max_message_bytes = BENCH_MIX_LARGE;
	o.publishers = q->mode.publishers;
	o.flags = q->mode.flags;
	run++;
	snprintf(q->ping, sizeof(q->ping), "bench.%s.%u.%u.a", kind, (unsigned)getpid(), run);
	snprintf(q->pong, sizeof(q->pong), "bench.%s.%u.%u.b", kind, (unsigned)getpid(), run);
	if (!err)
		err = shmq_channel_create(q->c, q->ping, &o);
	if (!err && nchan > 1)
		err = shmq_channel_create(q->c, q->pong, &o);
	if (err)
		return sq_fail(q, err);
	return 0;
}

static void sq_destroy(struct sq *q, unsigned nchan)
{
	if (!q->c)
		return;
	shmq_channel_delete(q->c, q->ping);
	if (nchan > 1)
		shmq_channel_delete(q->c, q->pong);
	shmq_disconnect(q->c);
	q->c = NULL;
}

/* Turn a run's error into its reason. */
static int sq_result(struct sq *q, int err, const char *what)
{
	if (err && q->err && !q->out->reason[0])
		bench_fail(q->out->reason, err, "%s: %s", what, shmq_strerror(q->err));
	else if (err && !q->out->reason[0])
		bench_fail(q->out->reason, err, "%s: %s", what, strerror(-err));
	return err;
}

/* The bytes of q->buf: one message, a batch of them, or the largest mixed one. */
static size_t sq_buf_bytes(const struct bench_cfg *cfg, const struct sq_mode *mode)
{
	if (mode->mixed)
		return BENCH_MIX_LARGE;
	return (size_t)cfg->size_bytes * (mode->batch ? mode->batch : 1);
}

/* Prepare q and its shared start line; nchan block-policy channels made as mode says. */
static int sq_setup(struct sq *q, const struct bench_cfg *cfg, struct bench_out *out,
		    const struct sq_mode *mode, const char *kind, unsigned nchan,
		    size_t extra_shared)
{
	*q = (struct sq){.cfg = cfg, .out = out, .epfd = -1, .mode = *mode};
	if (!cfg->socket_path)
		return bench_fail(out->reason, BENCH_SKIP, "no shmqd");
	q->sync = shm_anon(round_up64(sizeof(*q->sync)) + extra_shared);
	q->buf = calloc(1, sq_buf_bytes(cfg, mode));
	if (!q->sync || !q->buf)
		return bench_fail(out->reason, -ENOMEM, "out of memory");
	return sq_result(q, sq_create(q, kind, nchan), "create channel");
}

static void sq_teardown(struct sq *q, unsigned nchan, size_t extra_shared)
{
	sq_destroy(q, nchan);
	free(q->buf);
	shm_anon_free(q->sync, round_up64(sizeof(*q->sync)) + extra_shared);
}

/* ---- ping-pong ------------------------------------------------------------ */

static int sq_pp_child(void *arg, unsigned idx)
{
	struct sq *q = arg;
	int err;

	(void)idx;
	q->c = NULL; /* the parent's; never used here */
	err = sq_open(q, q->pong, q->ping);
	if (!err) {
		proc_child_ready(q->sync);
		err = pp_server(q, q->cfg, q->buf, sq_recv, sq_publish);
	}
	if (err && q->err)
		fprintf(stderr, "shmq-bench: echo peer: %s\n", shmq_strerror(q->err));
	sq_close(q);
	return err;
}

static int sq_pp_parent(void *arg)
{
	struct sq *q = arg, p = *q;
	int err;

	/* Our own handles, on a second client; q keeps the channel owner. */
	p.c = NULL;
	err = sq_open(&p, p.ping, p.pong);
	if (!err) {
		proc_parent_go(q->sync, 1);
		err = pp_client(&p, p.cfg, p.out->lat, p.buf, sq_publish, sq_recv);
	}
	q->err = p.err;
	sq_close(&p);
	return sq_result(q, err, "ping-pong");
}

static const struct sq_mode sq_shared = {.publishers = SHMQ_PUBLISHERS_MANY};
static const struct sq_mode sq_excl = {.publishers = SHMQ_PUBLISHERS_ONE};

static int sq_pingpong(const struct bench_cfg *cfg, struct bench_out *out, uint32_t wait,
		       const struct sq_mode *mode)
{
	struct sq q;
	int err = sq_setup(&q, cfg, out, mode, "pp", 2, 0);

	q.wait = wait;
	if (!err)
		err = sq_result(&q, proc_run(cfg, 1, sq_pp_child, sq_pp_parent, &q, out->reason),
				"ping-pong");
	sq_teardown(&q, 2, 0);
	return err;
}

int scen_shmq_pingpong_spin(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sq_pingpong(cfg, out, SHMQ_WAIT_SPIN, &sq_shared);
}

int scen_shmq_pingpong_spin_pattern(const struct bench_cfg *cfg, struct bench_out *out)
{
	static const struct sq_mode mode = {.publishers = SHMQ_PUBLISHERS_MANY, .pattern = 1};

	return sq_pingpong(cfg, out, SHMQ_WAIT_SPIN, &mode);
}

int scen_shmq_pingpong_spin_excl(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sq_pingpong(cfg, out, SHMQ_WAIT_SPIN, &sq_excl);
}

int scen_shmq_pingpong_spin_sleep(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sq_pingpong(cfg, out, SHMQ_WAIT_SPIN_SLEEP, &sq_shared);
}

int scen_shmq_pingpong_sleep(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sq_pingpong(cfg, out, SHMQ_WAIT_SLEEP, &sq_shared);
}

int scen_shmq_pingpong_eventfd(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sq_pingpong(cfg, out, SHMQ_WAIT_EVENTFD, &sq_shared);
}

/* ---- streaming ------------------------------------------------------------ */

/* Messages first .. first + n - 1 of cfg->size_bytes as one atomic batch. */
static int sq_send_batch(struct sq *q, uint64_t first, unsigned n)
{
	uint32_t len = q->cfg->size_bytes, lens[SQ_PUB_BATCH] = {0};
	struct shmq_claim claims[SQ_PUB_BATCH];
	struct shmq_buf msgs[SQ_PUB_BATCH];
	uint8_t *buf = q->buf;
	unsigned i;
	int err;

	for (i = 0; i < n; i++) {
		drive_stamp(buf + (size_t)i * len, first + i);
		lens[i] = len;
		msgs[i] = (struct shmq_buf){.data = buf + (size_t)i * len, .len = len};
	}
	if (q->mode.publishv) {
		err = shmq_publishv(q->pub, msgs, n, -1, NULL);
	} else {
		/* copy in, as shmq_publish() and shmq_publishv() do */
		err = shmq_pub_claimv(q->pub, lens, n, claims, -1);
		for (i = 0; !err && i < n; i++)
			memcpy(claims[i].data, buf + (size_t)i * len, len);
		if (!err)
			err = shmq_pub_commitv(q->pub, claims, n);
	}
	return err ? sq_fail(q, err) : 0;
}

/* The producer's loop: one message per call, atomic batches, or the mixed sizes. */
static int sq_produce(struct sq *q)
{
	uint64_t n = q->cfg->warmup + q->cfg->iters, i;
	unsigned k;
	int err = 0;

	if (q->mode.mixed) {
		for (i = 0; !err && i < n; i++) {
			drive_stamp(q->buf, i);
			err = sq_publish(q, q->buf, bench_mix_len(i));
		}
		return err;
	}
	if (!q->mode.batch)
		return st_producer(q, q->cfg, q->buf, sq_publish);
	for (i = 0; !err && i < n; i += k) {
		k = n - i < q->mode.batch ? (unsigned)(n - i) : q->mode.batch;
		err = sq_send_batch(q, i, k);
	}
	return err;
}

static int sq_st_child(void *arg, unsigned idx)
{
	struct sq *q = arg;
	int err;

	(void)idx;
	q->c = NULL;
	err = sq_open(q, q->ping, NULL);
	if (!err) {
		proc_child_ready(q->sync);
		err = sq_produce(q);
	}
	if (err && q->err)
		fprintf(stderr, "shmq-bench: producer: %s\n", shmq_strerror(q->err));
	sq_close(q);
	return err;
}

static int sq_st_parent(void *arg)
{
	struct sq *q = arg, p = *q;
	int err;

	p.c = NULL;
	err = sq_open(&p, NULL, p.ping);
	if (!err) {
		proc_parent_go(q->sync, 1);
		err = st_consumer(&p, p.cfg, p.buf, sq_recv, &p.out->msgs_per_s);
	}
	q->err = p.err;
	sq_close(&p);
	return sq_result(q, err, "stream");
}

/* shmq_poll() callback: copy out and check the sequence, as sq_recv() does. */
static int sq_batch_cb(void *arg, const struct shmq_msg *m)
{
	struct sq *q = arg;

	if (m->len != q->cfg->size_bytes || m->lost)
		q->bad = 1;
	memcpy(q->buf, m->data, m->len);
	if (drive_check(q->buf, q->seq++))
		q->bad = 1;
	return 0;
}

static int sq_st_batch_parent(void *arg)
{
	struct sq *q = arg, p = *q;
	uint64_t warmup = p.cfg->warmup, n = warmup + p.cfg->iters, t0 = 0, end;
	int err, got;

	p.c = NULL;
	err = sq_open(&p, NULL, p.ping);
	if (!err)
		proc_parent_go(q->sync, 1);
	while (!err && p.seq < n) {
		/* batches stop at the end of the warm-up: timing starts there */
		if (!t0 && p.seq >= warmup)
			t0 = now_ns();
		end = p.seq < warmup ? warmup : n;
		got = shmq_poll(p.sub, sq_batch_cb, &p,
				end - p.seq < SQ_BATCH ? (unsigned)(end - p.seq) : SQ_BATCH, -1);
		if (got < 0)
			err = sq_fail(&p, got);
		else if (p.bad)
			err = -EBADMSG;
	}
	if (!err)
		p.out->msgs_per_s = (double)(n - warmup) * 1e9 / (double)(now_ns() - t0);
	q->err = p.err;
	sq_close(&p);
	return sq_result(q, err, "stream");
}

/* The mixed-size workload, received with shmq_recv() and copied out; counts bytes too. */
static int sq_mix_parent(void *arg)
{
	struct sq *q = arg, p = *q;
	uint64_t warmup = p.cfg->warmup, n = warmup + p.cfg->iters, i, t0 = 0, bytes = 0;
	double secs;
	int err;

	p.c = NULL;
	err = sq_open(&p, NULL, p.ping);
	if (!err)
		proc_parent_go(q->sync, 1);
	for (i = 0; !err && i < n; i++) {
		err = drive_recv_check(&p, p.buf, bench_mix_len(i), sq_recv, i);
		if (i >= warmup)
			bytes += bench_mix_len(i);
		if (i + 1 == warmup)
			t0 = now_ns();
	}
	if (!err) {
		secs = (double)(now_ns() - t0) / 1e9;
		p.out->msgs_per_s = (double)p.cfg->iters / secs;
		p.out->bytes_per_s = (double)bytes / secs;
	}
	q->err = p.err;
	sq_close(&p);
	return sq_result(q, err, "stream");
}

static int sq_stream(const struct bench_cfg *cfg, struct bench_out *out, const struct sq_mode *mode,
		     proc_parent_fn parent)
{
	struct sq q;
	int err = sq_setup(&q, cfg, out, mode, "st", 1, 0);

	q.wait = SHMQ_WAIT_SPIN_SLEEP;
	if (!err)
		err =
		    sq_result(&q, proc_run(cfg, 1, sq_st_child, parent, &q, out->reason), "stream");
	sq_teardown(&q, 1, 0);
	return err;
}

int scen_shmq_stream(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sq_stream(cfg, out, &sq_shared, sq_st_parent);
}

int scen_shmq_stream_pattern(const struct bench_cfg *cfg, struct bench_out *out)
{
	static const struct sq_mode mode = {.publishers = SHMQ_PUBLISHERS_MANY, .pattern = 1};

	return sq_stream(cfg, out, &mode, sq_st_parent);
}

#ifndef SQ_NO_FILTER /* scen_counters.c's copy has no table entries for these calls */
static int sq_publish_keyed(void *t, void *buf, uint32_t len)
{
	struct sq *q = t;
	char key[4] = {'k', (char)('0' + q->seq++ % 10)};
	struct shmq_msg_opts o = {.fields = SHMQ_F_KEY, .key = key, .key_len = 2};
	int err = shmq_publish_opts(q->pub, buf, len, &o, -1, NULL);

	return err ? sq_fail(q, err) : 0;
}

static int sq_keyed_child(void *arg, unsigned idx)
{
	struct sq *q = arg;
	int err;

	(void)idx;
	q->c = NULL;
	q->seq = 0;
	err = sq_open(q, q->ping, NULL);
	if (!err)
		err = st_producer_start(q, q->sync, q->cfg, q->buf, sq_publish_keyed);
	sq_close(q);
	return err;
}

/* Receive every message (or, filtered, every tenth) and time the cursor's passage. */
static int sq_keyed_consume(struct sq *p)
{
	struct shmq_filter_term t = {.kind = SHMQ_FILTER_KEY_EQ, .value = "k0", .value_len = 2};
	struct shmq_filter f = {&t, 1, SHMQ_FILTER_ALL};
	uint64_t n = p->cfg->warmup + p->cfg->iters, step = p->mode.filter ? 10 : 1, want = 0;
	uint64_t t0 = 0, first = 0, last = 0;
	int err = p->mode.filter ? shmq_sub_set_filter(p->sub, &f) : 0;

	if (err)
		return sq_fail(p, err);
	proc_parent_go(p->sync, 1);
	for (; !err && want < n; want += step) {
		err = drive_recv_check(p, p->buf, p->cfg->size_bytes, sq_recv, want);
		if (!t0 && want >= p->cfg->warmup) {
			t0 = now_ns();
			first = want;
		}
		last = want;
	}
	if (!err && last > first)
		p->out->msgs_per_s = (double)(last - first) * 1e9 / (double)(now_ns() - t0);
	return err;
}

static int sq_keyed_parent(void *arg)
{
	struct sq *q = arg, p = *q;
	int err;

	p.c = NULL;
	err = sq_open(&p, NULL, p.ping);
	if (!err)
		err = sq_keyed_consume(&p);
	q->err = p.err;
	sq_close(&p);
	return sq_result(q, err, "stream");
}

static int sq_keyed(const struct bench_cfg *cfg, struct bench_out *out, const struct sq_mode *mode)
{
	struct sq q;
	int err = sq_setup(&q, cfg, out, mode, "st", 1, 0);

	q.wait = SHMQ_WAIT_SPIN_SLEEP;
	if (!err)
		err = sq_result(&q,
				proc_run(cfg, 1, sq_keyed_child, sq_keyed_parent, &q, out->reason),
				"stream");
	sq_teardown(&q, 1, 0);
	return err;
}

int scen_shmq_stream_keyed(const struct bench_cfg *cfg, struct bench_out *out)
{
	static const struct sq_mode mode = {.publishers = SHMQ_PUBLISHERS_ONE, .keyed = 1};

	return sq_keyed(cfg, out, &mode);
}

int scen_shmq_stream_filter90(const struct bench_cfg *cfg, struct bench_out *out)
{
	static const struct sq_mode mode = {
	    .publishers = SHMQ_PUBLISHERS_ONE, .keyed = 1, .filter = 1};

	return sq_keyed(cfg, out, &mode);
}

#define SQ_P8 8 /* channels of shmq-pattern8 */

/* Channel k of shmq-pattern8: the run's "a" channel, then its name with "a" as k. */
static void sq_p8_name(const struct sq *q, unsigned k, char *buf, size_t len)
{
	if (!k)
		snprintf(buf, len, "%s", q->ping);
	else
		snprintf(buf, len, "%.*s%u", (int)strlen(q->ping) - 1, q->ping, k);
}

static int sq_p8_child(void *arg, unsigned idx)
{
	struct sq *q = arg, p = *q;
	struct bench_cfg cfg = *q->cfg;
	char name[64];
	int err;

	cfg.warmup /= SQ_P8;
	cfg.iters /= SQ_P8;
	p.cfg = &cfg;
	p.c = NULL;
	sq_p8_name(q, idx, name, sizeof(name));
	err = sq_open(&p, name, NULL);
	if (!err)
		err = st_producer_start(&p, p.sync, p.cfg, p.buf, sq_publish);
	sq_close(&p);
	return err;
}

/* Every message of the eight channels once, each channel in order; the aggregate rate. */
static int sq_p8_consume(struct sq *p)
{
	uint64_t per = p->cfg->warmup / SQ_P8 + p->cfg->iters / SQ_P8,
		 warm = p->cfg->warmup / SQ_P8;
	uint64_t next[SQ_P8] = {0}, got = 0, t0 = 0, seq;
	struct shmq_msg m;
	int err = 0;

	proc_parent_go(p->sync, SQ_P8);
	if (!warm)
		t0 = now_ns();
	while (!err && got < per * SQ_P8) {
		err = shmq_recv(p->sub, &m, -1);
		if (err)
			return sq_fail(p, err);
		memcpy(&seq, m.data, sizeof(seq));
		if (m.channel >= SQ_P8 || m.len != p->cfg->size_bytes || m.lost ||
		    seq != next[m.channel]++)
			return -EBADMSG;
		if (++got == warm * SQ_P8)
			t0 = now_ns();
	}
	p->out->msgs_per_s = (double)(got - warm * SQ_P8) * 1e9 / (double)(now_ns() - t0);
	return 0;
}

static int sq_p8_parent(void *arg)
{
	struct sq *q = arg, p = *q;
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST, .wait = SHMQ_WAIT_SPIN_SLEEP};
	/* q->ping is bench.p8.PID.RUN.a: run points at "RUN.a" */
	const char *run = strchr(strchr(strchr(q->ping, '.') + 1, '.') + 1, '.') + 1;
	char pattern[64];
	int err;

	p.c = NULL;
	/* bench.p8.*.RUN.*: the run's eight channels and no other */
	snprintf(pattern, sizeof(pattern), "bench.p8.*.%.*s*", (int)strlen(run) - 1, run);
	err = shmq_connect(p.cfg->socket_path, &p.c);
	if (!err)
		err = shmq_sub_open_pattern(p.c, pattern, &so, &p.sub);
	err = err ? sq_fail(&p, err) : sq_p8_consume(&p);
	q->err = p.err;
	sq_close(&p);
	return sq_result(q, err, "stream");
}

int scen_shmq_stream_pattern8(const struct bench_cfg *cfg, struct bench_out *out)
{
	static const struct sq_mode mode = {.publishers = SHMQ_PUBLISHERS_ONE};
	struct shmq_channel_opts o = {.policy = SHMQ_POLICY_BLOCK,
				      .publishers = SHMQ_PUBLISHERS_ONE,
				      .max_message_bytes =
					  cfg->size_bytes < 64 ? 64 : cfg->size_bytes};
	char name[64];
	struct sq q;
	unsigned k;
	int err = sq_setup(&q, cfg, out, &mode, "p8", 1, 0);

	for (k = 1; !err && k < SQ_P8; k++) {
		sq_p8_name(&q, k, name, sizeof(name));
		err = shmq_channel_create(q.c, name, &o);
		err = err ? sq_result(&q, sq_fail(&q, err), "create channel") : 0;
	}
	if (!err)
		err = sq_result(
		    &q, proc_run(cfg, SQ_P8, sq_p8_child, sq_p8_parent, &q, out->reason), "stream");
	for (unsigned i = 1; q.c && i < k; i++) {
		sq_p8_name(&q, i, name, sizeof(name));
		shmq_channel_delete(q.c, name);
	}
	sq_teardown(&q, 1, 0);
	return err;
}
#endif

int scen_shmq_stream_batch(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sq_stream(cfg, out, &sq_shared, sq_st_batch_parent);
}

int scen_shmq_stream_excl(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sq_stream(cfg, out, &sq_excl, sq_st_parent);
}

int scen_shmq_stream_excl_batch(const struct bench_cfg *cfg, struct bench_out *out)
{
	return sq_stream(cfg, out, &sq_excl, sq_st_batch_parent);
}

/*
 * Atomic batches of SQ_PUB_BATCH, read with shmq_poll() (as shmq-batch and
 * shmq-excl-batch, the single-message rates they are compared with), so the
 * reader is not what limits a publisher that got cheaper per message.
 */
int scen_shmq_stream_claimv(const struct bench_cfg *cfg, struct bench_out *out)
{
	const struct sq_mode m = {.publishers = SHMQ_PUBLISHERS_MANY, .batch = SQ_PUB_BATCH};

	return sq_stream(cfg, out, &m, sq_st_batch_parent);
}

int scen_shmq_stream_excl_claimv(const struct bench_cfg *cfg, struct bench_out *out)
{
	const struct sq_mode m = {.publishers = SHMQ_PUBLISHERS_ONE, .batch = SQ_PUB_BATCH};

	return sq_stream(cfg, out, &m, sq_st_batch_parent);
}

int scen_shmq_stream_publishv(const struct bench_cfg *cfg, struct bench_out *out)
{
	const struct sq_mode m = {
	    .publishers = SHMQ_PUBLISHERS_MANY, .batch = SQ_PUB_BATCH, .publishv = 1};

	return sq_stream(cfg, out, &m, sq_st_batch_parent);
}

int scen_shmq_stream_excl_publishv(const struct bench_cfg *cfg, struct bench_out *out)
{
	const struct sq_mode m = {
	    .publishers = SHMQ_PUBLISHERS_ONE, .batch = SQ_PUB_BATCH, .publishv = 1};

	return sq_stream(cfg, out, &m, sq_st_batch_parent);
}

/* Without the per-message clock read: compared with shmq-excl and shmq-excl-batch. */
int scen_shmq_stream_excl_nots(const struct bench_cfg *cfg, struct bench_out *out)
{
	const struct sq_mode m = {.publishers = SHMQ_PUBLISHERS_ONE,
				  .flags = SHMQ_CHAN_NO_TIMESTAMP};

	return sq_stream(cfg, out, &m, sq_st_parent);
}

int scen_shmq_stream_excl_batch_nots(const struct bench_cfg *cfg, struct bench_out *out)
{
	const struct sq_mode m = {.publishers = SHMQ_PUBLISHERS_ONE,
				  .flags = SHMQ_CHAN_NO_TIMESTAMP};

	return sq_stream(cfg, out, &m, sq_st_batch_parent);
}

int scen_shmq_mixed(const struct bench_cfg *cfg, struct bench_out *out)
{
	const struct sq_mode m = {.publishers = SHMQ_PUBLISHERS_MANY, .mixed = 1};

	return sq_stream(cfg, out, &m, sq_mix_parent);
}

int scen_shmq_mixed_excl(const struct bench_cfg *cfg, struct bench_out *out)
{
	const struct sq_mode m = {.publishers = SHMQ_PUBLISHERS_ONE, .mixed = 1};

	return sq_stream(cfg, out, &m, sq_mix_parent);
}

/* ---- fan-out -------------------------------------------------------------- */

/*
 * Shared between the publisher and its subscribers, after the start line:
 * per subscriber its count of throughput-phase messages, then the send time
 * of each paced message and each subscriber's receive time of it (0: never
 * received).
 */
struct fo_shared {
	uint64_t got[BENCH_MAX_SUBS];
	uint64_t npaced; /* messages of the paced phase: warm-up + measured */
	uint64_t nburst; /* of the back-to-back phase */
};

#define FO_END UINT64_MAX /* sequence number of the last message */

static struct fo_shared *fo_of(struct sq *q)
{
	return (struct fo_shared *)((uint8_t *)q->sync + round_up64(sizeof(*q->sync)));
}

static uint64_t *fo_sent(struct fo_shared *f)
{
	return (uint64_t *)(f + 1);
}

static uint64_t *fo_recv(struct fo_shared *f, unsigned sub)
{
	return fo_sent(f) + f->npaced * (1 + sub);
}

static int fo_child(void *arg, unsigned idx)
{
	struct sq *q = arg;
	struct fo_shared *f = fo_of(q);
	uint64_t *recv = fo_recv(f, idx), seq, got = 0;
	struct shmq_msg m;
	int err;

	q->c = NULL;
	err = sq_open(q, NULL, q->ping);
	if (!err)
		proc_child_ready(q->sync);
	while (!err) {
		err = shmq_recv(q->sub, &m, -1);
		if (err) {
			err = sq_fail(q, err);
			break;
		}
		memcpy(&seq, m.data, sizeof(seq));
		if (seq == FO_END)
			break;
		if (seq < f->npaced)
			recv[seq] = now_ns();
		else
			got++;
	}
	f->got[idx] = got;
	if (err && q->err)
		fprintf(stderr, "shmq-bench: subscriber %u: %s\n", idx, shmq_strerror(q->err));
	sq_close(q);
	return err;
}

/* Give the subscribers up to 1 s to receive the last paced message. */
static void fo_drain(struct fo_shared *f, unsigned nsubs)
{
	uint64_t deadline = now_ns() + 1000000000u;
	unsigned s;

	for (s = 0; s < nsubs; s++)
		while (!((volatile uint64_t *)fo_recv(f, s))[f->npaced - 1] && now_ns() < deadline)
			usleep(100);
}

static int fo_parent(void *arg)
{
	struct sq *q = arg, p = *q;
	struct fo_shared *f = fo_of(q);
	uint64_t *sent = fo_sent(f), i, due = 0, t0, period;
	int err;

	period = 1000000000u / (p.cfg->rate_per_s ? p.cfg->rate_per_s : SQ_FANOUT_RATE);
	p.c = NULL;
	err = sq_open(&p, p.ping, NULL);
	if (!err)
		proc_parent_go(q->sync, p.cfg->nsubs);
	for (i = 0; !err && i < f->npaced; i++) {
		drive_stamp(p.buf, i);
		sent[i] = drive_pace(&due, period, i == 0);
		err = sq_publish(&p, p.buf, p.cfg->size_bytes);
	}
	if (!err)
		fo_drain(f, p.cfg->nsubs);
	t0 = now_ns();
	for (i = 0; !err && i < f->nburst; i++) {
		drive_stamp(p.buf, f->npaced + i);
		err = sq_publish(&p, p.buf, p.cfg->size_bytes);
	}
	if (!err) {
		p.out->msgs_per_s = (double)f->nburst * 1e9 / (double)(now_ns() - t0);
		drive_stamp(p.buf, FO_END);
		err = sq_publish(&p, p.buf, p.cfg->size_bytes);
	}
	q->err = p.err;
	sq_close(&p);
	return sq_result(q, err, "fan-out");
}

/* First and last receive time of each measured paced message, into the histograms. */
static void fo_collect(struct fo_shared *f, const struct bench_cfg *cfg, struct bench_out *out)
{
	uint64_t i, first, last, t, low = UINT64_MAX;
	unsigned s;

	for (i = cfg->warmup; i < f->npaced; i++) {
		first = UINT64_MAX;
		last = 0;
		for (s = 0; s < cfg->nsubs; s++) {
			t = fo_recv(f, s)[i];
			if (!t)
				continue; /* not received: no latency */
			first = t < first ? t : first;
			last = t > last ? t : last;
		}
		if (last) {
			hist_record(out->lat, first - fo_sent(f)[i]);
			hist_record(out->lat2, last - fo_sent(f)[i]);
		}
	}
	for (s = 0; s < cfg->nsubs; s++)
		low = f->got[s] < low ? f->got[s] : low;
	out->delivered = f->nburst ? (double)low / (double)f->nburst : 0;
}

int scen_shmq_fanout(const struct bench_cfg *cfg, struct bench_out *out)
{
	uint64_t npaced = cfg->warmup + cfg->iters;
	size_t extra = sizeof(struct fo_shared) + (cfg->nsubs + 1) * npaced * sizeof(uint64_t);
	struct sq q;
	int err;

	if (cfg->nsubs < 1 || cfg->nsubs > BENCH_MAX_SUBS || cfg->size_bytes < 8)
		return bench_fail(out->reason, -EINVAL, "bad fan-out configuration");
	err = sq_setup(&q, cfg, out, &sq_shared, "fanout", 1, extra);
	q.wait = SHMQ_WAIT_SLEEP;
	if (!err) {
		fo_of(&q)->npaced = npaced;
		fo_of(&q)->nburst = cfg->fanout_iters;
		err = sq_result(&q, proc_run(cfg, cfg->nsubs, fo_child, fo_parent, &q, out->reason),
				"fan-out");
	}
	if (!err)
		fo_collect(fo_of(&q), cfg, out);
	sq_teardown(&q, 1, extra);
	return err;
}
