/*
 * test_routing.c - pattern subscriptions and filters against a real shmqd:
 * channels that exist and channels created later, a deleted channel ending
 * alone, 100 channels with 4 publisher processes (once each, per-channel
 * order, exact per-channel loss on drop), a second uid (nobody) that must
 * neither receive nor learn of root's channels, one epoll descriptor for
 * every channel, each filter kind with its counts, and bad patterns and
 * filters. Every wait is bounded by FX_HANG_S; nothing is timed.
 */
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "helpers.h"
#include "raw.h"
#include "shmq.h"

static struct shmq_pub *pub_open(struct shmq_client *c, const char *name)
{
	struct shmq_pub *p = NULL;

	assert_int_equal(shmq_pub_open(c, name, NULL, &p), 0);
	return p;
}

/* The name of the channel msg came from. */
static const char *chan_of(struct shmq_sub *s, const struct shmq_msg *m)
{
	struct shmq_sub_channel ch;

	assert_int_equal(shmq_sub_channel(s, m->channel, &ch), 0);
	return ch.name;
}

static void test_pattern_receives_from_existing_and_later_channels(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_sub *s;
	struct shmq_pub *p1, *p2, *px;
	struct shmq_msg m;
	int64_t t0;

	fx_channel_create(c, "orders.eu.created", 512, SHMQ_POLICY_DROP);
	fx_channel_create(c, "orders.eu.deleted", 512, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open_pattern(c, "orders.*.created", &so, &s), 0);
	assert_int_equal(shmq_sub_channels(s), 1);
	p1 = pub_open(c, "orders.eu.created");
	px = pub_open(c, "orders.eu.deleted");
	fx_publish_u64(px, 99, 0); /* does not match */
	fx_publish_u64(p1, 1, 0);
	assert_int_equal(fx_recv_u64(s, &m), 1);
	assert_string_equal(chan_of(s, &m), "orders.eu.created");
	assert_int_equal(m.offset, 0);

	/*
	 * created after the subscriber: published at once, before it is
	 * opened. The watch wakes the sleeping subscriber at once; the bound
	 * stated is 5 s, generous for a loaded machine (typically well under
	 * a millisecond; the sleep's own bound is 100 ms).
	 */
	t0 = fx_now_ns();
	fx_channel_create(c, "orders.us.created", 512, SHMQ_POLICY_DROP);
	p2 = pub_open(c, "orders.us.created");
	fx_publish_u64(p2, 2, 0);
	fx_publish_u64(p2, 3, 0);
	assert_int_equal(fx_recv_u64(s, &m), 2);
	print_message("a channel created later: first message after %.3f ms\n",
		      (double)(fx_now_ns() - t0) / 1e6);
	assert_true(fx_now_ns() - t0 < 5 * (int64_t)1000000000);
	assert_string_equal(chan_of(s, &m), "orders.us.created");
	assert_int_equal(m.offset, 0);
	assert_int_equal(fx_recv_u64(s, &m), 3);
	assert_int_equal(m.offset, 1);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN); /* never the non-matching one */
	assert_int_equal(shmq_sub_channels(s), 2);
	shmq_pub_close(p1);
	shmq_pub_close(p2);
	shmq_pub_close(px);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_pattern_greater_than_matches_one_or_more_tokens(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_info info[8];
	struct shmq_sub *s;

	fx_channel_create(c, "orders", 512, SHMQ_POLICY_DROP);
	fx_channel_create(c, "orders.eu", 512, SHMQ_POLICY_DROP);
	fx_channel_create(c, "orders.eu.created", 512, SHMQ_POLICY_DROP);
	fx_channel_create(c, "ordersx.eu", 512, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_channel_match(c, "orders.>", info, 8), 2);
	assert_int_equal(shmq_channel_match(c, "orders.*", info, 8), 1);
	assert_string_equal(info[0].name, "orders.eu");
	assert_int_equal(shmq_channel_match(c, ">", info, 8), 4);
	assert_int_equal(shmq_sub_open_pattern(c, "orders.>", NULL, &s), 0);
	assert_int_equal(shmq_sub_channels(s), 2);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_deleted_channel_ends_alone_after_its_last_message(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_sub_channel ch;
	struct shmq_pub *pa, *pb;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t seen_a = 0, seen_b = 0;

	fx_channel_create(c, "d.a", 512, SHMQ_POLICY_DROP);
	fx_channel_create(c, "d.b", 512, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open_pattern(c, "d.*", &so, &s), 0);
	pa = pub_open(c, "d.a");
	pb = pub_open(c, "d.b");
	for (uint64_t i = 0; i < 3; i++) {
		fx_publish_u64(pa, 10 + i, 0);
		fx_publish_u64(pb, 20 + i, 0);
	}
	shmq_pub_close(pa);
	assert_int_equal(shmq_channel_delete(c, "d.a"), 0);
	for (int i = 0; i < 6; i++) {
		uint64_t v = fx_recv_u64(s, &m);

		if (!strcmp(chan_of(s, &m), "d.a"))
			assert_int_equal(v, 10 + seen_a++);
		else
			assert_int_equal(v, 20 + seen_b++);
	}
	assert_int_equal(seen_a, 3);
	assert_int_equal(shmq_recv(s, &m, 200000000), -SHMQ_ETIMEDOUT);
	assert_int_equal(shmq_sub_channel(s, 0, &ch), 0);
	assert_string_equal(ch.name, "d.a");
	assert_int_equal(ch.ended, 1);
	assert_int_equal(ch.st.received, 3);
	fx_publish_u64(pb, 23, 0); /* the other channel goes on */
	assert_int_equal(fx_recv_u64(s, &m), 23);
	assert_string_equal(chan_of(s, &m), "d.b");
	shmq_pub_close(pb);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

#define MANY 100
#define PUBS 4
#define PER_CHAN 200
#define PER_DROP 2000 /* more than a drop channel's ring holds */

struct many_job {
	const char *sock;
	int first;    /* channels first, first + PUBS, ... */
	uint64_t per; /* messages to each */
};

static int publish_many(void *arg)
{
	const struct many_job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p[MANY / PUBS];
	char name[32];
	int n = 0;

	if (shmq_connect(j->sock, &c))
		return 10;
	for (int k = j->first; k < MANY; k += PUBS) {
		snprintf(name, sizeof(name), "m.%d", k);
		if (shmq_pub_open(c, name, NULL, &p[n++]))
			return 10;
	}
	for (uint64_t v = 0; v < j->per; v++)
		for (int i = 0; i < n; i++)
			if (shmq_publish(p[i], &v, sizeof(v), FX_HANG_NS, NULL))
				return 12;
	for (int i = 0; i < n; i++)
		shmq_pub_close(p[i]);
	shmq_disconnect(c);
	return 0;
}

/* One channel's name m.K: K. */
static int chan_no(struct shmq_sub *s, const struct shmq_msg *m)
{
	return atoi(chan_of(s, m) + 2);
}

static void test_many_channels_every_message_once_in_order_per_channel(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SPIN_SLEEP};
	struct many_job jobs[PUBS];
	uint64_t next[MANY] = {0}, total = 0;
	pid_t pid[PUBS];
	struct shmq_sub *s;
	struct shmq_msg m;
	char name[32];

	for (int k = 0; k < MANY; k++) {
		snprintf(name, sizeof(name), "m.%d", k);
		fx_channel_create(c, name, 512, SHMQ_POLICY_BLOCK);
	}
	assert_int_equal(shmq_sub_open_pattern(c, "m.*", &so, &s), 0);
	assert_int_equal(shmq_sub_channels(s), MANY);
	for (int i = 0; i < PUBS; i++) {
		jobs[i] = (struct many_job){d->sock, i, PER_CHAN};
		pid[i] = child_start(publish_many, &jobs[i]);
	}
	while (total < (uint64_t)MANY * PER_CHAN) {
		int k;

		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		k = chan_no(s, &m);
		assert_true(k >= 0 && k < MANY);
		assert_int_equal(m.lost, 0);
		assert_int_equal(fx_msg_u64(&m), next[k]); /* once each, in order */
		assert_int_equal(m.offset, next[k]);
		next[k]++;
		total++;
	}
	for (int i = 0; i < PUBS; i++)
		assert_int_equal(child_wait(pid[i], FX_HANG_S), 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/*
 * The same 100 channels on drop, read only once the 4 publishers are done:
 * every channel lost most of its messages, and each says exactly how many,
 * in msg->lost and in its own counters; what arrives is in order.
 */
static void test_many_drop_channels_count_loss_exactly_per_channel(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct many_job jobs[PUBS];
	uint64_t got[MANY] = {0}, lost[MANY] = {0};
	struct shmq_sub_channel ch;
	int done = 0;
	pid_t pid[PUBS];
	struct shmq_sub *s;
	struct shmq_msg m;
	char name[32];

	for (int k = 0; k < MANY; k++) {
		snprintf(name, sizeof(name), "m.%d", k);
		fx_channel_create(c, name, 64, SHMQ_POLICY_DROP);
	}
	assert_true(fx_ring_msgs(c, "m.0", 8) < PER_DROP);
	assert_int_equal(shmq_sub_open_pattern(c, "m.*", &so, &s), 0);
	for (int i = 0; i < PUBS; i++) {
		jobs[i] = (struct many_job){d->sock, i, PER_DROP};
		pid[i] = child_start(publish_many, &jobs[i]);
	}
	for (int i = 0; i < PUBS; i++)
		assert_int_equal(child_wait(pid[i], FX_HANG_S), 0);
	while (done < MANY) { /* the last message of each channel is never overwritten */
		int k;

		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		k = chan_no(s, &m);
		lost[k] += m.lost;
		assert_int_equal(fx_msg_u64(&m), got[k] + lost[k]); /* in order, gaps counted */
		got[k]++;
		done += fx_msg_u64(&m) == PER_DROP - 1;
	}
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	for (uint32_t i = 0; i < MANY; i++) {
		assert_int_equal(shmq_sub_channel(s, i, &ch), 0);
		int k = atoi(ch.name + 2);

		assert_int_equal(got[k] + lost[k], PER_DROP);
		assert_true(lost[k] > 0);
		assert_int_equal(ch.st.received, got[k]);
		assert_int_equal(ch.st.lost_overrun + ch.st.lost_abandoned, lost[k]);
	}
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_loss_is_exact_and_counted_per_channel(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_sub_channel ch;
	struct shmq_sub_stats st;
	uint64_t want[3] = {100, 2000, 5000}, lost[3] = {0}, got[3] = {0}, ring;
	struct shmq_pub *p[3];
	struct shmq_sub *s;
	struct shmq_msg m;
	char name[16];

	for (int k = 0; k < 3; k++) {
		snprintf(name, sizeof(name), "l.%d", k);
		fx_channel_create(c, name, 512, SHMQ_POLICY_DROP);
	}
	ring = fx_ring_msgs(c, "l.0", 8);
	assert_true(ring < 2000);
	assert_int_equal(shmq_sub_open_pattern(c, "l.*", &so, &s), 0);
	for (int k = 0; k < 3; k++) {
		snprintf(name, sizeof(name), "l.%d", k);
		p[k] = pub_open(c, name);
		for (uint64_t v = 0; v < want[k]; v++)
			fx_publish_u64(p[k], v, 0);
	}
	while (shmq_recv(s, &m, 300000000) == 0) {
		int k = chan_of(s, &m)[2] - '0';

		lost[k] += m.lost;
		got[k]++;
		assert_int_equal(fx_msg_u64(&m), got[k] + lost[k] - 1); /* order, gaps counted */
	}
	for (int k = 0; k < 3; k++) {
		assert_int_equal(got[k] + lost[k], want[k]);
		assert_int_equal(shmq_sub_channel(s, (uint32_t)k, &ch), 0);
		assert_int_equal(ch.st.received, got[k]);
		assert_int_equal(ch.st.lost_overrun, lost[k]);
		shmq_pub_close(p[k]);
	}
	assert_int_equal(lost[0], 0);
	assert_true(lost[1] > 0 && lost[2] > lost[1]);
	shmq_sub_stats(s, &st);
	assert_int_equal(st.lost_overrun, lost[0] + lost[1] + lost[2]);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_pattern_fd_wakes_an_epoll_loop_for_messages_and_new_channels(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_EVENTFD};
	struct epoll_event ev = {.events = EPOLLIN};
	struct shmq_pub *p1, *p2;
	struct shmq_sub *s;
	struct shmq_msg m;
	int ep = epoll_create1(0);

	fx_channel_create(c, "e.one", 512, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open_pattern(c, "e.>", &so, &s), 0);
	assert_true(shmq_sub_fd(s) >= 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, shmq_sub_fd(s), &ev), 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	assert_int_equal(epoll_wait(ep, &ev, 1, 0), 0); /* armed, nothing yet */
	p1 = pub_open(c, "e.one");
	fx_publish_u64(p1, 7, 0);
	assert_int_equal(epoll_wait(ep, &ev, 1, FX_HANG_S * 1000), 1);
	assert_int_equal(shmq_recv(s, &m, 0), 0);
	assert_int_equal(fx_msg_u64(&m), 7);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	assert_int_equal(epoll_wait(ep, &ev, 1, 0), 0);

	/* a new channel: the watch makes the same descriptor readable */
	fx_channel_create(c, "e.two.x", 512, SHMQ_POLICY_DROP);
	p2 = pub_open(c, "e.two.x");
	fx_publish_u64(p2, 8, 0);
	assert_int_equal(epoll_wait(ep, &ev, 1, FX_HANG_S * 1000), 1);
	assert_int_equal(shmq_recv(s, &m, 0), 0);
	assert_int_equal(fx_msg_u64(&m), 8);
	assert_string_equal(chan_of(s, &m), "e.two.x");
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	assert_int_equal(epoll_wait(ep, &ev, 1, 0), 0);
	shmq_pub_close(p1);
	shmq_pub_close(p2);
	shmq_sub_close(s);
	close(ep);
	shmq_disconnect(c);
}

/* ---- a second uid ---- */

struct hidden_job {
	const char *sock;
	int say_fd; /* to the parent: "ready", then the verdict */
	int go_fd;  /* from the parent: root created and published */
};

/* As nobody: own v.mine, watch v.>, and never hear of root's v.root*. */
static int nobody_watches(void *arg)
{
	struct hidden_job *j = arg;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_EVENTFD};
	struct shmq_channel_info info[4];
	struct pollfd pfd;
	struct shmq_client *c;
	struct shmq_sub *s;
	struct shmq_msg m;

	if (fx_become_nobody() || shmq_connect(j->sock, &c))
		return 10;
	if (shmq_channel_create(c, "v.mine", NULL) || shmq_sub_open_pattern(c, "v.>", &so, &s))
		return 11;
	if (shmq_sub_channels(s) != 1 || shmq_channel_match(c, "v.>", info, 4) != 1 ||
	    strcmp(info[0].name, "v.mine"))
		return 12;
	if (shmq_recv(s, &m, 0) != -SHMQ_EAGAIN)
		return 13;
	pipe_say(j->say_fd, "ready");
	if (pipe_wait_line(j->go_fd))
		return 14;
	pfd = (struct pollfd){.fd = shmq_sub_fd(s), .events = POLLIN};
	if (poll(&pfd, 1, 300) != 0) /* no message, and no word of a channel */
		return 15;
	if (shmq_recv(s, &m, 100000000) != -SHMQ_ETIMEDOUT || shmq_sub_channels(s) != 1)
		return 16;
	if (shmq_channel_match(c, "v.>", info, 4) != 1 || shmq_channel_match(c, ">", info, 4) != 1)
		return 17;
	shmq_sub_close(s);
	shmq_disconnect(c);
	return 0;
}

static void test_other_uids_channels_are_neither_delivered_nor_revealed(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c;
	struct hidden_job j;
	struct shmq_pub *p;
	int go[2];
	pid_t pid;

	if (geteuid() != 0)
		skip();
	c = fx_connect(d);
	fx_channel_create(c, "v.root", 512, SHMQ_POLICY_DROP);
	assert_int_equal(pipe(go), 0);
	j = (struct hidden_job){.sock = d->sock, .go_fd = go[0]};
	pid = fx_child_ready(nobody_watches, &j, &j.say_fd);
	fx_channel_create(c, "v.root2", 512, SHMQ_POLICY_DROP);
	p = pub_open(c, "v.root2");
	fx_publish_u64(p, 1, 0);
	assert_int_equal(shmq_channel_delete(c, "v.root"), 0);
	assert_int_equal(write(go[1], "go\n", 3), 3);
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	shmq_pub_close(p);
	close(go[0]);
	close(go[1]);
	shmq_disconnect(c);
}

/* ---- filters ---- */

static void publish_keyed(struct shmq_pub *p, const char *key, const char *ctype, const char *hname,
			  const char *hval, uint64_t v)
{
	struct shmq_header h = {hname, hname ? (uint32_t)strlen(hname) : 0, hval,
				hval ? (uint32_t)strlen(hval) : 0};
	struct shmq_msg_opts o = {0};

	if (key) {
		o.fields |= SHMQ_F_KEY;
		o.key = key;
		o.key_len = (uint32_t)strlen(key);
	}
	if (ctype) {
		o.fields |= SHMQ_F_CONTENT_TYPE;
		o.content_type = ctype;
	}
	if (hname) {
		o.fields |= SHMQ_F_HEADERS;
		o.headers = &h;
		o.nheaders = 1;
	}
	assert_int_equal(shmq_publish_opts(p, &v, sizeof(v), &o, 0, NULL), 0);
}

/* Publish the fixed mix on p, read it all through s: the values delivered, as bits. */
static uint32_t filtered_mix(struct shmq_pub *p, struct shmq_sub *s, uint64_t *filtered)
{
	struct shmq_sub_counts st;
	struct shmq_msg m;
	uint32_t bits = 0;

	publish_keyed(p, "eu-1", NULL, NULL, NULL, 0);
	publish_keyed(p, "eu-2", "application/json", NULL, NULL, 1);
	publish_keyed(p, "us-1", "text/plain", "region", "us", 2);
	publish_keyed(p, NULL, NULL, "region", "eu", 3);
	publish_keyed(p, NULL, NULL, NULL, NULL, 4);
	publish_keyed(p, "us", "application/json", "trace", "", 5);
	while (shmq_recv(s, &m, 0) == 0)
		bits |= 1u << fx_msg_u64(&m);
	shmq_sub_counts(s, &st);
	*filtered = st.filtered;
	assert_int_equal(st.received + st.filtered, 6);
	assert_int_equal(st.lost_overrun, 0);
	return bits;
}

static uint32_t run_filter(struct shmq_client *c, const struct shmq_filter_term *t, uint32_t n,
			   uint32_t match, uint64_t *filtered)
{
	struct shmq_filter f = {t, n, match};
	struct shmq_sub *s;
	struct shmq_pub *p;
	uint32_t bits;

	assert_int_equal(shmq_sub_open(c, "f", NULL, &s), 0);
	assert_int_equal(shmq_sub_set_filter(s, &f), 0);
	p = pub_open(c, "f");
	bits = filtered_mix(p, s, filtered);
	shmq_pub_close(p);
	shmq_sub_close(s);
	return bits;
}

static void test_each_filter_kind_delivers_what_passes_and_counts_the_rest(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	uint64_t filtered;

	fx_channel_create(c, "f", 512, SHMQ_POLICY_DROP);
	{
		struct shmq_filter_term t = {
		    .kind = SHMQ_FILTER_KEY_EQ, .value = "eu-2", .value_len = 4};
		assert_int_equal(run_filter(c, &t, 1, SHMQ_FILTER_ALL, &filtered), 1u << 1);
		assert_int_equal(filtered, 5);
	}
	{
		struct shmq_filter_term t = {
		    .kind = SHMQ_FILTER_KEY_PREFIX, .value = "us", .value_len = 2};
		assert_int_equal(run_filter(c, &t, 1, SHMQ_FILTER_ALL, &filtered),
				 1u << 2 | 1u << 5);
		assert_int_equal(filtered, 4);
	}
	{
		uint32_t h = shmq_key_hash("eu-1", 4) % 1000;
		struct shmq_filter_term t = {
		    .kind = SHMQ_FILTER_KEY_HASH, .buckets = 1000, .lo = h, .hi = h};
		assert_true(run_filter(c, &t, 1, SHMQ_FILTER_ALL, &filtered) & 1u);
	}
	{
		struct shmq_filter_term t = {
		    .kind = SHMQ_FILTER_HEADER_EQ, .name = "region", .value = "eu", .value_len = 2};
		assert_int_equal(run_filter(c, &t, 1, SHMQ_FILTER_ALL, &filtered), 1u << 3);
	}
	{
		struct shmq_filter_term t = {.kind = SHMQ_FILTER_HEADER_HAS, .name = "trace"};
		assert_int_equal(run_filter(c, &t, 1, SHMQ_FILTER_ALL, &filtered), 1u << 5);
	}
	{
		struct shmq_filter_term t = {
		    .kind = SHMQ_FILTER_CONTENT_TYPE, .value = "application/json", .value_len = 16};
		assert_int_equal(run_filter(c, &t, 1, SHMQ_FILTER_ALL, &filtered),
				 1u << 1 | 1u << 5);
		assert_int_equal(filtered, 4);
	}
	{
		struct shmq_filter_term t[2] = {
		    {.kind = SHMQ_FILTER_CONTENT_TYPE,
		     .value = "application/json",
		     .value_len = 16},
		    {.kind = SHMQ_FILTER_KEY_PREFIX, .value = "us", .value_len = 2}};
		assert_int_equal(run_filter(c, t, 2, SHMQ_FILTER_ALL, &filtered), 1u << 5);
		assert_int_equal(run_filter(c, t, 2, SHMQ_FILTER_ANY, &filtered),
				 1u << 1 | 1u << 2 | 1u << 5);
	}
	shmq_disconnect(c);
}

#define FILTER_MSGS 1000000u
#define FILTER_KEYS 1000u

struct keyed_job {
	const char *sock;
};

static int publish_keyed_many(void *arg)
{
	const struct keyed_job *j = arg;
	struct shmq_msg_opts o = {.fields = SHMQ_F_KEY};
	struct shmq_client *c;
	struct shmq_pub *p;
	char key[16];

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, "k", NULL, &p))
		return 10;
	o.key = key;
	for (uint64_t v = 0; v < FILTER_MSGS; v++) {
		o.key_len =
		    (uint32_t)snprintf(key, sizeof(key), "k%u", (unsigned)(v % FILTER_KEYS));
		if (shmq_publish_opts(p, &v, sizeof(v), &o, FX_HANG_NS, NULL))
			return 12;
	}
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

static void test_key_filter_over_a_million_messages_delivers_exactly_its_keys(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SPIN_SLEEP};
	struct shmq_filter_term t[10];
	char keys[10][16];
	struct shmq_filter f = {t, 10, SHMQ_FILTER_ANY};
	struct keyed_job j = {d->sock};
	struct shmq_sub_counts st;
	struct shmq_sub *s;
	struct shmq_msg m;
	uint64_t got = 0, next_v = 0;
	pid_t pid;

	fx_channel_create(c, "k", 4096, SHMQ_POLICY_BLOCK);
	for (int i = 0; i < 10; i++) {
		int n = snprintf(keys[i], sizeof(keys[i]), "k%d", i * 97);

		t[i] = (struct shmq_filter_term){
		    .kind = SHMQ_FILTER_KEY_EQ, .value = keys[i], .value_len = (uint32_t)n};
	}
	assert_int_equal(shmq_sub_open_pattern(c, "k", &so, &s), 0);
	assert_int_equal(shmq_sub_set_filter(s, &f), 0);
	pid = child_start(publish_keyed_many, &j);
	while (got < FILTER_MSGS / FILTER_KEYS * 10) {
		uint64_t v;

		assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
		v = fx_msg_u64(&m);
		assert_int_equal(v % FILTER_KEYS % 97, 0);
		assert_true(v % FILTER_KEYS / 97 < 10);
		assert_true(v >= next_v);
		next_v = v + 1;
		got++;
	}
	assert_int_equal(child_wait(pid, FX_HANG_S * 4), 0);
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_counts(s, &st);
	assert_int_equal(st.received, got);
	assert_int_equal(st.filtered, FILTER_MSGS - got);
	assert_int_equal(st.lost_overrun + st.lost_abandoned, 0);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

#define GARBAGE_MSGS 200u

/*
 * A hostile publisher rewrites the header fields and payload of committed
 * records with random bytes: all but each record's 32-byte header and the
 * size of its field area (and, in every other record, the rest of the
 * fields' 8-byte head), so that the reader takes the record and the filter
 * meets the garbage; a reader with header and key filters reads them all: no crash, no
 * read out of bounds (ASan builds run this), and every message is
 * delivered, filtered or counted lost (a record the reader cannot parse,
 * skipped).
 */
static void test_filter_survives_garbage_header_fields(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_filter_term t[2] = {
	    {.kind = SHMQ_FILTER_HEADER_EQ, .name = "h", .value = "v", .value_len = 1},
	    {.kind = SHMQ_FILTER_KEY_PREFIX, .value = "k", .value_len = 1}};
	struct shmq_filter f = {t, 2, SHMQ_FILTER_ANY};
	struct shmq_sub_counts st;
	struct shmq_sub *s, *probe;
	struct shmq_msg m, m2;
	struct shmq_pub *p;
	struct raw_chan rc;
	struct raw r;
	uint64_t rec_bytes, seed = 0x9e3779b97f4a7c15ull;
	uint8_t *ring;
	int err;

	fx_channel_create(c, "g", 512, SHMQ_POLICY_BLOCK);
	p = pub_open(c, "g");
	for (uint64_t v = 0; v < GARBAGE_MSGS; v++)
		publish_keyed(p, "k1", "t/x", "h", "v", v);
	/* the records' size: the distance of two seals */
	assert_int_equal(shmq_sub_open(c, "g", &so, &probe), 0);
	assert_int_equal(shmq_recv(probe, &m, 0), 0);
	m2 = m;
	assert_int_equal(shmq_recv(probe, &m, 0), 0);
	rec_bytes = m.seal - m2.seal;
	shmq_sub_close(probe);
	assert_int_equal(raw_connect(&r, d->sock), 0);
	assert_int_equal(raw_hello(&r), 0);
	assert_int_equal(raw_open(&r, "g", ROLE_PUB, &rc), 0);
	ring = (uint8_t *)rc.data + DATA_HDR_BYTES;
	for (uint64_t i = 0; i < GARBAGE_MSGS; i++)
		for (uint64_t b = 32 + 2 + 6 * (i & 1); b < rec_bytes; b++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			ring[i * rec_bytes + b] = (uint8_t)(seed >> 56);
		}
	assert_int_equal(shmq_sub_open(c, "g", &so, &s), 0);
	assert_int_equal(shmq_sub_set_filter(s, &f), 0);
	while ((err = shmq_recv(s, &m, 0)) != -SHMQ_EAGAIN) {
		if (err == -SHMQ_ECORRUPT) {
			err = shmq_sub_skip(s, NULL);
			if (err == -SHMQ_EAGAIN) /* no chunk start past it: the rest stays unread */
				break;
			assert_int_equal(err, 0);
			continue;
		}
		assert_int_equal(err, 0);
	}
	shmq_sub_counts(s, &st);
	print_message("garbage fields: %" PRIu64 " delivered, %" PRIu64 " filtered, %" PRIu64
		      " expired, %" PRIu64 " lost\n",
		      st.received, st.filtered, st.expired, st.lost_overrun + st.lost_abandoned);
	assert_true(st.filtered > 0); /* the filter met the garbage */
	assert_true(shmq_sub_position(s) <= GARBAGE_MSGS);
	/* garbage may read as an expiry that passed: the reader skips those before the filter */
	assert_int_equal(st.received + st.filtered + st.expired + st.lost_overrun +
			     st.lost_abandoned,
			 shmq_sub_position(s));
	raw_chan_unmap(&rc);
	raw_close(&r);
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
}

/*
 * A pattern handle skips expired messages on every channel and sums their
 * count; shmq_sub_deliver_expired() turns that off on the channels it holds
 * and on those it opens later.
 */
static void test_pattern_handle_skips_expired_messages_on_every_channel(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_msg_opts old = {.fields = SHMQ_F_EXPIRY, .expiry_ns = 1};
	struct shmq_sub_counts st;
	struct shmq_sub_stats ss;
	struct shmq_sub *s, *s2;
	struct shmq_pub *p;
	struct shmq_msg m;

	fx_channel_create(c, "xp.a", 512, SHMQ_POLICY_DROP);
	p = pub_open(c, "xp.a");
	assert_int_equal(shmq_publish_opts(p, "gone", 4, &old, 0, NULL), 0);
	assert_int_equal(shmq_publish(p, "kept", 4, 0, NULL), 0);
	shmq_pub_close(p);
	assert_int_equal(shmq_sub_open_pattern(c, "xp.*", &so, &s), 0);
	assert_int_equal(shmq_sub_open_pattern(c, "xp.*", &so, &s2), 0);
	assert_int_equal(shmq_sub_deliver_expired(s2, 1), 0);
	fx_channel_create(c, "xp.b", 512, SHMQ_POLICY_DROP);
	p = pub_open(c, "xp.b");
	assert_int_equal(shmq_publish_opts(p, "gone", 4, &old, 0, NULL), 0);
	shmq_pub_close(p);

	assert_int_equal(shmq_recv(s, &m, 2000000000), 0);
	assert_memory_equal(m.data, "kept", 4);
	assert_int_equal(shmq_recv(s, &m, 200000000), -SHMQ_ETIMEDOUT);
	shmq_sub_counts(s, &st);
	shmq_sub_stats(s, &ss);
	assert_int_equal(st.expired, 2);
	assert_int_equal(ss.expired, 2);
	assert_int_equal(st.received, 1);
	assert_int_equal(st.lost_overrun + st.lost_abandoned, 0);

	for (int i = 0; i < 3; i++) {
		assert_int_equal(shmq_recv(s2, &m, 2000000000), 0);
		assert_int_equal(m.len, 4);
	}
	shmq_sub_counts(s2, &st);
	assert_int_equal(st.expired, 0);
	assert_int_equal(st.received, 3);
	shmq_sub_close(s2);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

static void test_bad_patterns_and_filters_get_distinct_errors(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_filter_term t = {.kind = SHMQ_FILTER_KEY_EQ, .value = "a", .value_len = 1};
	struct shmq_filter_term bad = {.kind = 99};
	struct shmq_filter_term empty = {.kind = SHMQ_FILTER_KEY_EQ};
	struct shmq_filter none = {&t, 0, SHMQ_FILTER_ALL};
	struct shmq_filter unknown = {&bad, 1, SHMQ_FILTER_ALL};
	struct shmq_filter novalue = {&empty, 1, SHMQ_FILTER_ALL};
	struct shmq_sub_opts create = {.create = 1};
	const char *const patterns[] = {"a..b", "a.>.b", "",	".a",	"a.",
					"a*",	"a.b>",	 "a b", "*.>.*"};
	char longp[300];
	struct shmq_sub *s;

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		assert_int_equal(shmq_sub_open_pattern(c, patterns[i], NULL, &s), -SHMQ_EPATTERN);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	assert_int_equal(shmq_sub_open_pattern(c, longp, NULL, &s), -SHMQ_EPATTERN);
	assert_int_equal(shmq_channel_match(c, "a..b", NULL, 0), -SHMQ_EPATTERN);
	assert_int_equal(shmq_sub_open_pattern(c, "a.*", &create, &s), -SHMQ_EINVAL);
	assert_int_equal(shmq_channel_create(c, "a.*", NULL), -SHMQ_ENAME);
	assert_int_equal(shmq_channel_create(c, "a.>", NULL), -SHMQ_ENAME);
	fx_channel_create(c, "b", 512, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open(c, "b", NULL, &s), 0);
	assert_int_equal(shmq_sub_set_filter(s, &none), -SHMQ_EFILTER);
	assert_int_equal(shmq_sub_set_filter(s, &unknown), -SHMQ_EFILTER);
	assert_int_equal(shmq_sub_set_filter(s, &novalue), -SHMQ_EFILTER);
	assert_int_equal(shmq_sub_set_filter(s, NULL), 0);
	assert_string_not_equal(shmq_strerror(-SHMQ_EPATTERN), shmq_strerror(-SHMQ_EFILTER));
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/*
 * A daemon killed and restarted: the pattern subscription goes on with the
 * channels it held (adopted by the new daemon) and watches again, so a
 * channel created after the restart is read too.
 */
static void test_pattern_watches_again_after_a_daemon_restart(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d), *c2;
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_pub *p1, *p2;
	struct shmq_sub *s;
	struct shmq_msg m;

	fx_channel_create(c, "w.old", 512, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_sub_open_pattern(c, "w.*", &so, &s), 0);
	p1 = pub_open(c, "w.old");
	fx_publish_u64(p1, 1, 0);
	assert_int_equal(fx_recv_u64(s, &m), 1);
	daemon_kill(d);
	assert_int_equal(daemon_restart(d), 0);
	fx_publish_u64(p1, 2, 0); /* the data path never needed the daemon */
	assert_int_equal(fx_recv_u64(s, &m), 2);
	c2 = fx_connect(d);
	fx_channel_create(c2, "w.new", 512, SHMQ_POLICY_DROP);
	p2 = pub_open(c2, "w.new");
	fx_publish_u64(p2, 3, 0);
	assert_int_equal(fx_recv_u64(s, &m), 3); /* within FX_HANG_S */
	assert_string_equal(chan_of(s, &m), "w.new");
	shmq_pub_close(p2);
	shmq_pub_close(p1);
	shmq_sub_close(s);
	shmq_disconnect(c2);
	shmq_disconnect(c);
}

/* A connection holds at most 64 watches: the next pattern subscription is refused. */
static void test_a_connection_holds_at_most_64_pattern_subscriptions(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_sub *s[65];

	for (int i = 0; i < 64; i++)
		assert_int_equal(shmq_sub_open_pattern(c, "q.*", NULL, &s[i]), 0);
	assert_int_equal(shmq_sub_open_pattern(c, "q.*", NULL, &s[64]), -SHMQ_ELIMIT);
	shmq_sub_close(s[0]);
	assert_int_equal(shmq_sub_open_pattern(c, "q.*", NULL, &s[0]), 0);
	for (int i = 0; i < 64; i++)
		shmq_sub_close(s[i]);
	shmq_disconnect(c);
}

/* ---- the shmq command ---- */

#define SHMQ(r, d, input, ...) tool_run((r), (input), TOOL_ARGS("--socket", (d)->sock, __VA_ARGS__))

static void shmq_ok(struct daemon *d, struct tool_result *r, const char *const *argv)
{
	const char *args[TOOL_ARGV_MAX] = {"--socket", d->sock};
	int n = 2;

	while (*argv && n < TOOL_ARGV_MAX - 1)
		args[n++] = *argv++;
	args[n] = NULL;
	assert_int_equal(tool_run(r, NULL, args), 0);
	if (r->status)
		fprintf(stderr, "%s", r->err);
	assert_int_equal(r->status, 0);
}

static void test_cli_pattern_sub_names_each_channel_and_filters(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;

	shmq_ok(d, &r, TOOL_ARGS("create", "r.eu.created"));
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("create", "r.us.created"));
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("create", "rx"));
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("pub", "r.eu.created", "one", "-k", "eu-1", "-H", "tier=gold"));
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("pub", "r.us.created", "two", "-k", "us-1"));
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("pub", "rx", "three"));
	tool_result_free(&r);

	shmq_ok(d, &r, TOOL_ARGS("sub", "r.>", "-e", "-f", "%n %o %s\\n"));
	assert_true(strstr(r.out, "r.eu.created 0 one\n") && strstr(r.out, "r.us.created 0 two\n"));
	assert_null(strstr(r.out, "three"));
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("sub", "r.*.created", "-e", "--json"));
	assert_non_null(strstr(r.out, "\"channel\":\"r.eu.created\""));
	assert_non_null(strstr(r.out, "\"channel\":\"r.us.created\""));
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("sub", "r.>", "-e", "--key", "us-1"));
	assert_string_equal(r.out, "two\n");
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("sub", "r.>", "-e", "--key-prefix", "eu"));
	assert_string_equal(r.out, "one\n");
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("sub", "r.eu.created", "-e", "-H", "tier=gold", "-f", "%n:%s\\n"));
	assert_string_equal(r.out, "r.eu.created:one\n");
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("sub", "r.eu.created", "-e", "-H", "tier=silver"));
	assert_string_equal(r.out, "");
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("ls", "r.*.created"));
	assert_true(strstr(r.out, "r.eu.created") && strstr(r.out, "r.us.created"));
	assert_null(strstr(r.out, "rx "));
	tool_result_free(&r);

	assert_int_equal(SHMQ(&r, d, NULL, "ls", "r..x"), 0);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "SHMQ_EPATTERN"));
	tool_result_free(&r);
	assert_int_equal(SHMQ(&r, d, NULL, "sub", "r.>", "--create"), 0);
	assert_int_equal(r.status, 2);
	tool_result_free(&r);
	/* a consumer group is of one channel, and its members take every message of it */
	assert_int_equal(SHMQ(&r, d, NULL, "sub", "r.>", "--group", "g", "-e"), 0);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "not a pattern"));
	tool_result_free(&r);
	assert_int_equal(SHMQ(&r, d, NULL, "sub", "rx", "--group", "g", "-e", "--key", "us-1"), 0);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "--group takes no filter"));
	tool_result_free(&r);
	shmq_ok(d, &r, TOOL_ARGS("sub", "rx", "--group", "g", "-e"));
	assert_string_equal(r.out, "three\n");
	tool_result_free(&r);
}

static void test_stat_shows_pattern_subscribers_and_their_channels(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	const char *stat = getenv("SHMQ_STAT");
	struct shmq_daemon_pattern rows[4];
	struct shmq_sub *s;
	char cmd[512], out[65536];
	size_t n;
	FILE *p;

	fx_channel_create(c, "st.a", 512, SHMQ_POLICY_DROP);
	fx_channel_create(c, "st.b", 512, SHMQ_POLICY_DROP);
	fx_channel_create(c, "other", 512, SHMQ_POLICY_DROP);
	assert_int_equal(shmq_daemon_patterns(c, rows, 4), 0);
	assert_int_equal(shmq_sub_open_pattern(c, "st.>", NULL, &s), 0);
	assert_int_equal(shmq_daemon_patterns(c, rows, 4), 1);
	assert_string_equal(rows[0].pattern, "st.>");
	assert_int_equal(rows[0].pid, (uint32_t)getpid());
	assert_int_equal(rows[0].channels, 2);
	if (stat) {
		snprintf(cmd, sizeof(cmd), "%s --socket %s --once --json", stat, d->sock);
		p = popen(cmd, "r");
		assert_non_null(p);
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = 0;
		assert_int_equal(pclose(p), 0);
		assert_non_null(strstr(out, "\"patterns\":[{"));
		assert_non_null(strstr(out, "\"pattern\":\"st.>\",\"channels\":2"));
	}
	shmq_sub_close(s);
	assert_int_equal(shmq_daemon_patterns(c, rows, 4), 0); /* closed: unwatched */
	shmq_disconnect(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)
#define H(f)                                                                                       \
	cmocka_unit_test_prestate_setup_teardown(f, fx_daemon_setup_conf, daemon_teardown,         \
						 (void *)"[daemon]\ncreate = 65534\n")

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_pattern_receives_from_existing_and_later_channels),
	    T(test_pattern_greater_than_matches_one_or_more_tokens),
	    T(test_deleted_channel_ends_alone_after_its_last_message),
	    T(test_many_channels_every_message_once_in_order_per_channel),
	    T(test_many_drop_channels_count_loss_exactly_per_channel),
	    T(test_loss_is_exact_and_counted_per_channel),
	    T(test_pattern_fd_wakes_an_epoll_loop_for_messages_and_new_channels),
	    H(test_other_uids_channels_are_neither_delivered_nor_revealed),
	    T(test_each_filter_kind_delivers_what_passes_and_counts_the_rest),
	    T(test_key_filter_over_a_million_messages_delivers_exactly_its_keys),
	    T(test_filter_survives_garbage_header_fields),
	    T(test_pattern_handle_skips_expired_messages_on_every_channel),
	    T(test_bad_patterns_and_filters_get_distinct_errors),
	    T(test_pattern_watches_again_after_a_daemon_restart),
	    T(test_a_connection_holds_at_most_64_pattern_subscriptions),
	    T(test_cli_pattern_sub_names_each_channel_and_filters),
	    T(test_stat_shows_pattern_subscribers_and_their_channels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
