/*
 * pattern_sub.c - pattern subscriptions (shmq_sub_open_pattern()): one plain
 * event-fd subscriber per matched channel, one epoll descriptor over their
 * wake sockets and the daemon's watch socket (docs/ARCHITECTURE.md,
 * "Routing"). Members are looked at without arming while messages flow; only
 * a receive about to sleep or to return -SHMQ_EAGAIN arms them, once each
 * until a publisher takes the mark. The watch socket says a matching channel
 * came or went: the next receive asks OP_MATCH once and opens what it does
 * not hold. Member indices grow and are never reused while the handle is
 * open. A watch lives in one daemon: when another one serves the socket
 * (killed and restarted, or replaced), the next empty receive, at most
 * every PATTERN_SLEEP_NS, watches again and asks what matches. A handle is
 * used by one thread at a time.
 */
#include "pattern_sub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "name.h"
#include "pattern.h"
#include "wait.h"

#define PATTERN_MAX 1024u	   /* channels held at once */
#define PATTERN_BATCH 64u	   /* messages from one channel in a row, then the next */
#define PATTERN_SLEEP_NS 100000000 /* longest sleep: members' deleted marks, the daemon */
#define WATCH_TAG UINT32_MAX	   /* epoll data of the watch socket */

struct member {
	struct shmq_sub *sub; /* NULL once the channel ended */
	char name[SHMQ_NAME_MAX + 1];
	struct shmq_sub_counts st; /* its last counters, once ended */
};

struct pattern {
	struct shmq_client *client;
	char pattern[SHMQ_NAME_MAX + 1];
	struct shmq_sub_opts opts;
	struct filter *filter;
	bool deliver_expired; /* shmq_sub_deliver_expired(), for every member */
	struct member *m;
	uint32_t n, cap, live;
	uint32_t cur, run; /* the member read now, and how many in a row */
	uint32_t bad;	   /* the member that last failed, for shmq_sub_skip() */
	bool rescan;	   /* ask the daemon what matches before the next look */
	int epfd;
	int watch_fd;
	uint64_t watch_id;
	uint32_t watch_pid;  /* the daemon that holds the watch */
	uint64_t checked_ns; /* when pattern_daemon() last looked */
	uint64_t unopened;
};

static int member_grow(struct pattern *p)
{
	struct member *m;
	uint32_t cap = p->cap ? p->cap * 2 : 16;

	if (p->n < p->cap)
		return 0;
	m = realloc(p->m, cap * sizeof(*m));
	if (!m)
		return -SHMQ_ENOMEM;
	p->m = m;
	p->cap = cap;
	return 0;
}

static bool member_held(const struct pattern *p, const char *name)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (p->m[i].sub && !strcmp(p->m[i].name, name))
			return true;
	return false;
}

/*
 * Open channel name as member n. Channels found after the handle opened
 * start at their earliest message: nothing published since their creation
 * is missed. A channel gone meanwhile is no error; one refused (rights,
 * quotas, the limit) is counted in unopened.
 */
static int member_open(struct pattern *p, const char *name, bool initial)
{
	struct shmq_sub_opts o = p->opts;
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = p->n};
	struct member *m;
	int err;

	if (p->live >= PATTERN_MAX) {
		p->unopened++;
		return 0;
	}
	err = member_grow(p);
	if (err)
		return err;
	o.wait = SHMQ_WAIT_EVENTFD;
	if (!initial)
		o.start = SHMQ_START_EARLIEST;
	m = &p->m[p->n];
	*m = (struct member){0};
	err = shmq_sub_open(p->client, name, &o, &m->sub);
	if (err == -SHMQ_ENOENT || err == -SHMQ_EDELETED)
		return 0;
	if (err == -SHMQ_EPERM || err == -SHMQ_EHANDLEQUOTA || err == -SHMQ_ELIMIT) {
		p->unopened++;
		return 0;
	}
	if (err)
		return err;
	if (p->filter)
		sub_take_filter(m->sub, filter_dup(p->filter));
	if (p->deliver_expired)
		shmq_sub_deliver_expired(m->sub, 1);
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, sub_wake_fd(m->sub), &ev) < 0) {
		shmq_sub_close(m->sub);
		return -SHMQ_ESYS;
	}
	snprintf(m->name, sizeof(m->name), "%s", name);
	p->n++;
	p->live++;
	return 0;
}

static void member_end(struct pattern *p, uint32_t i)
{
	struct member *m = &p->m[i];

	shmq_sub_counts(m->sub, &m->st);
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, sub_wake_fd(m->sub), NULL);
	shmq_sub_close(m->sub);
	m->sub = NULL;
	p->live--;
}

/* Ask the daemon what matches now and open what we do not hold. */
static int pattern_scan(struct pattern *p, bool initial)
{
	struct proto_match_req req = {.flags = MATCH_SUBSCRIBE};
	struct proto_list resp;
	char name[NAME_BYTES];
	int err;

	memcpy(req.pattern, p->pattern, sizeof(p->pattern));
	do {
		err = client_call(p->client, OP_MATCH, &req, sizeof(req), &resp, sizeof(resp), NULL,
				  NULL);
		if (err)
			return err;
		if (resp.count > PROTO_LIST_ROWS)
			return -SHMQ_EPROTO;
		for (uint32_t i = 0; i < resp.count; i++) {
			if (name_from_wire(resp.rows[i].name, sizeof(resp.rows[i].name), name,
					   sizeof(name)) ||
			    !pattern_match(p->pattern, name))
				return -SHMQ_EPROTO;
			if (member_held(p, name))
				continue;
			err = member_open(p, name, initial);
			if (err)
				return err;
		}
		req.start += resp.count;
	} while (resp.count && req.start < resp.total);
	return 0;
}

static int watch_open(struct pattern *p)
{
	struct proto_watch_req req = {{0}};
	struct proto_watch resp;
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WATCH_TAG};
	unsigned nfds = 1;
	int err;

	memcpy(req.pattern, p->pattern, sizeof(p->pattern));
	err = client_call(p->client, OP_WATCH, &req, sizeof(req), &resp, sizeof(resp), &p->watch_fd,
			  &nfds);
	if (err)
		return err;
	if (nfds != 1 || p->watch_fd < 0)
		return -SHMQ_EPROTO;
	p->watch_id = resp.watch_id;
	p->watch_pid = p->client->daemon_pid;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->watch_fd, &ev) < 0)
		return -SHMQ_ESYS;
	return 0;
}

/*
 * Nothing to read: every PATTERN_SLEEP_NS, is the daemon there, and the
 * one that holds our watch? A new one gets a new watch, and we ask it what
 * matches. -SHMQ_ECLOSED once the daemon stayed away too long, else 0.
 */
static int pattern_daemon(struct pattern *p)
{
	uint64_t now = wait_now_ns();
	uint32_t pid;
	int err;

	if (now - p->checked_ns < PATTERN_SLEEP_NS)
		return 0;
	p->checked_ns = now;
	err = client_daemon(p->client, &pid);
	if (err)
		return err == -SHMQ_ECLOSED ? err : 0;
	if (pid == p->watch_pid)
		return 0;
	if (p->watch_fd >= 0) {
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->watch_fd, NULL);
		close(p->watch_fd);
		p->watch_fd = -1;
	}
	err = watch_open(p);
	if (!err)
		p->rescan = true;
	return err == -SHMQ_ENODAEMON || err == -SHMQ_ECLOSED ? 0 : err;
}

/* Did the daemon signal the watch? Empties it. */
static bool watch_pending(struct pattern *p)
{
	char b[8];
	bool any = false;

	for (unsigned i = 0; i < 64 && recv(p->watch_fd, b, sizeof(b), MSG_DONTWAIT) >= 0; i++)
		any = true;
	return any;
}

SHMQ_EXPORT int shmq_sub_open_pattern(struct shmq_client *c, const char *pattern,
				      const struct shmq_sub_opts *opts, struct shmq_sub **out)
{
	struct pattern *p;
	int err;

	if (!c || !out ||
	    (opts &&
	     (opts->create || opts->start > SHMQ_START_OFFSET || opts->wait > SHMQ_WAIT_EVENTFD)))
		return -SHMQ_EINVAL;
	if (pattern_check(pattern))
		return -SHMQ_EPATTERN;
	if (c->daemon_minor < PROTO_MINOR_ROUTING)
		return -SHMQ_EVERSION;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -SHMQ_ENOMEM;
	p->client = c;
	p->watch_fd = -1;
	snprintf(p->pattern, sizeof(p->pattern), "%s", pattern);
	if (opts)
		p->opts = *opts;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	err = p->epfd < 0 ? -SHMQ_ESYS : 0;
	/* the watch first: a channel created during the scan is signalled */
	if (!err)
		err = watch_open(p);
	if (!err)
		err = pattern_scan(p, true);
	if (!err) {
		*out = sub_wrap_pattern(p);
		err = *out ? 0 : -SHMQ_ENOMEM;
	}
	if (err)
		pattern_close(p);
	return err;
}

static void member_next(struct pattern *p)
{
	p->run = 0;
	if (++p->cur >= p->n)
		p->cur = 0;
}

/*
 * One look at every member, from the current one on: the first message,
 * or -SHMQ_EAGAIN. A member whose channel was deleted (and is read to its
 * end) is closed. With arm, empty members arm their wake sockets.
 */
static int pattern_pass(struct pattern *p, struct shmq_msg *msg, void *buf, size_t len, bool copy,
			bool arm)
{
	for (uint32_t k = 0; k < p->n; k++) {
		uint32_t i = p->cur;
		int r = -SHMQ_EAGAIN;

		if (p->m[i].sub)
			r = sub_recv_member(p->m[i].sub, msg, buf, len, copy, arm);
		if (r == 0) {
			msg->channel = i;
			if (++p->run >= PATTERN_BATCH)
				member_next(p);
			return 0;
		}
		member_next(p);
		if (r == -SHMQ_EDELETED) {
			member_end(p, i);
			p->rescan = true; /* a channel of that name may be back */
		} else if (r != -SHMQ_EAGAIN) {
			p->bad = i;
			return r;
		}
	}
	return -SHMQ_EAGAIN;
}

/* Sleep on every member and the watch at once, at most left ns (< 0: the bound). */
static void pattern_sleep(struct pattern *p, int64_t left)
{
	struct epoll_event ev[8];

	if (left < 0 || left > PATTERN_SLEEP_NS)
		left = PATTERN_SLEEP_NS;
	epoll_wait(p->epfd, ev, 8, (int)((left + 999999) / 1000000));
}

int pattern_recv(struct pattern *p, struct shmq_msg *msg, void *buf, size_t len, bool copy,
		 int64_t timeout_ns)
{
	uint64_t start = 0, now;
	unsigned spins = 0;
	int r;

	for (;;) {
		if (p->rescan) {
			p->rescan = false;
			r = pattern_scan(p, false);
			if (r)
				return r;
		}
		r = pattern_pass(p, msg, buf, len, copy, false);
		if (r != -SHMQ_EAGAIN)
			return r;
		if (timeout_ns != 0 && p->opts.wait != SHMQ_WAIT_SLEEP && ++spins & 63) {
			wait_cpu_relax();
			continue;
		}
		if (watch_pending(p)) {
			p->rescan = true;
			continue;
		}
		r = pattern_daemon(p);
		if (r)
			return r;
		if (p->rescan)
			continue;
		if (timeout_ns == 0)
			return pattern_pass(p, msg, buf, len, copy, true);
		now = wait_now_ns();
		if (!start)
			start = now;
		if (timeout_ns > 0 && now - start >= (uint64_t)timeout_ns)
			return -SHMQ_ETIMEDOUT;
		if (p->opts.wait == SHMQ_WAIT_SPIN ||
		    (p->opts.wait == SHMQ_WAIT_SPIN_SLEEP &&
		     now - start < (p->opts.spin_ns ? p->opts.spin_ns : 20000)))
			continue;
		r = pattern_pass(p, msg, buf, len, copy, true);
		if (r != -SHMQ_EAGAIN)
			return r;
		pattern_sleep(p, timeout_ns < 0 ? -1 : timeout_ns - (int64_t)(now - start));
	}
}

int pattern_poll(struct pattern *p, shmq_msg_cb cb, void *arg, unsigned max, int64_t timeout_ns)
{
	struct shmq_msg msg;
	unsigned n = 0;
	int r = pattern_recv(p, &msg, NULL, 0, false, timeout_ns);

	while (!r) {
		n++;
		if (cb(arg, &msg) || n == max)
			break;
		r = pattern_pass(p, &msg, NULL, 0, false, false);
	}
	return n ? (int)n : r;
}

int pattern_verify(const struct pattern *p, const struct shmq_msg *msg)
{
	if (msg->channel >= p->n || !p->m[msg->channel].sub)
		return -SHMQ_EINVAL;
	return shmq_msg_verify(p->m[msg->channel].sub, msg);
}

int pattern_skip(struct pattern *p, uint64_t *lost)
{
	if (p->bad >= p->n || !p->m[p->bad].sub)
		return -SHMQ_ESTATE;
	return shmq_sub_skip(p->m[p->bad].sub, lost);
}

int pattern_fd(const struct pattern *p)
{
	return p->epfd;
}

static void counts_add(struct shmq_sub_counts *to, const struct shmq_sub_counts *st)
{
	to->received += st->received;
	to->lost_overrun += st->lost_overrun;
	to->lost_abandoned += st->lost_abandoned;
	to->filtered += st->filtered;
	to->expired += st->expired;
}

void pattern_counts(const struct pattern *p, struct shmq_sub_counts *out)
{
	struct shmq_sub_counts st;

	*out = (struct shmq_sub_counts){.unopened = p->unopened};
	for (uint32_t i = 0; i < p->n; i++) {
		if (p->m[i].sub)
			shmq_sub_counts(p->m[i].sub, &st);
		else
			st = p->m[i].st;
		counts_add(out, &st);
	}
}

int pattern_set_filter(struct pattern *p, struct filter *f)
{
	struct filter *d;

	filter_free(p->filter);
	p->filter = f;
	for (uint32_t i = 0; i < p->n; i++) {
		if (!p->m[i].sub)
			continue;
		d = filter_dup(f);
		if (f && !d)
			return -SHMQ_ENOMEM;
		sub_take_filter(p->m[i].sub, d);
	}
	return 0;
}

void pattern_deliver_expired(struct pattern *p, bool on)
{
	p->deliver_expired = on;
	for (uint32_t i = 0; i < p->n; i++)
		if (p->m[i].sub)
			shmq_sub_deliver_expired(p->m[i].sub, on);
}

void pattern_close(struct pattern *p)
{
	struct proto_watch req = {.watch_id = p->watch_id}, resp;

	for (uint32_t i = 0; i < p->n; i++)
		if (p->m[i].sub)
			shmq_sub_close(p->m[i].sub);
	if (p->watch_fd >= 0) {
		client_call(p->client, OP_UNWATCH, &req, sizeof(req), &resp, sizeof(resp), NULL,
			    NULL);
		close(p->watch_fd);
	}
	if (p->epfd >= 0)
		close(p->epfd);
	filter_free(p->filter);
	free(p->m);
	free(p);
}

SHMQ_EXPORT int shmq_sub_channel(const struct shmq_sub *s, uint32_t index,
				 struct shmq_sub_channel *out)
{
	const struct pattern *p = sub_pattern(s);
	const struct member *m;

	if (!s || !out)
		return -SHMQ_EINVAL;
	if (!p)
		return -SHMQ_ESTATE;
	if (index >= p->n)
		return -SHMQ_ENOENT;
	m = &p->m[index];
	*out = (struct shmq_sub_channel){.name = m->name, .ended = !m->sub};
	if (m->sub)
		shmq_sub_counts(m->sub, &out->st);
	else
		out->st = m->st;
	return 0;
}

SHMQ_EXPORT uint32_t shmq_sub_channels(const struct shmq_sub *s)
{
	const struct pattern *p = sub_pattern(s);

	return p ? p->n : 0;
}

SHMQ_EXPORT int shmq_pattern_check(const char *pattern)
{
	return pattern_check(pattern);
}

/* Channels matching pattern that the caller may see (shmq ls PATTERN). */
SHMQ_EXPORT int shmq_channel_match(struct shmq_client *c, const char *pattern,
				   struct shmq_channel_info *out, size_t max)
{
	struct proto_match_req req = {0};
	struct proto_list resp;
	size_t filled = 0;
	int err;

	if (!c || (max && !out))
		return -SHMQ_EINVAL;
	if (pattern_check(pattern))
		return -SHMQ_EPATTERN;
	if (c->daemon_minor < PROTO_MINOR_ROUTING)
		return -SHMQ_EVERSION;
	snprintf(req.pattern, sizeof(req.pattern), "%s", pattern);
	do {
		err = client_call(c, OP_MATCH, &req, sizeof(req), &resp, sizeof(resp), NULL, NULL);
		if (err)
			return err;
		if (resp.count > PROTO_LIST_ROWS)
			return -SHMQ_EPROTO;
		for (uint32_t i = 0; i < resp.count && filled < max; i++)
			client_info_from_wire(&out[filled++], &resp.rows[i]);
		req.start += resp.count;
	} while (resp.count && filled < max && req.start < resp.total);
	return resp.total > (uint32_t)INT32_MAX ? -SHMQ_EPROTO : (int)resp.total;
}

SHMQ_EXPORT int shmq_daemon_patterns(struct shmq_client *c, struct shmq_daemon_pattern *rows,
				     size_t max)
{
	struct proto_list_req req = {0};
	struct proto_watches resp;
	size_t filled = 0;
	int err;

	if (!c || (max && !rows))
		return -SHMQ_EINVAL;
	if (c->daemon_minor < PROTO_MINOR_ROUTING)
		return -SHMQ_EVERSION;
	do {
		err =
		    client_call(c, OP_WATCHES, &req, sizeof(req), &resp, sizeof(resp), NULL, NULL);
		if (err)
			return err;
		if (resp.count > PROTO_WATCH_ROWS)
			return -SHMQ_EPROTO;
		for (uint32_t i = 0; i < resp.count && filled < max; i++, filled++) {
			const struct proto_watch_row *w = &resp.rows[i];

			rows[filled] = (struct shmq_daemon_pattern){
			    .pid = w->pid, .uid = w->uid, .channels = w->channels};
			if (pattern_from_wire(w->pattern, sizeof(w->pattern), rows[filled].pattern,
					      sizeof(rows[filled].pattern)))
				return -SHMQ_EPROTO;
		}
		req.start += resp.count;
	} while (resp.count && filled < max && req.start < resp.total);
	return resp.total > (uint32_t)INT32_MAX ? -SHMQ_EPROTO : (int)resp.total;
}
