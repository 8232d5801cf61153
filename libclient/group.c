/*
 * group.c - consumer group members (shmq.h "consumer groups"): join through
 * OP_GROUP, take messages by the claim-then-advance CAS of shm/group.c,
 * settle them, move the group's floor. A member maps the channel as a
 * subscriber does (data and control read-only, wake read-write) plus the
 * group's reader entry and segment read-write. While messages are ready no
 * system call is made; a member with nothing to take sleeps on the
 * channel's wake_seq after the wake_needed handshake (no reader mark: all
 * members share one slot) when it is the group's watcher, else on the
 * group's idle_seq (one wake per message, not one per member), at most
 * MEMBER_SLEEP_NS so that dead members and
 * passed deadlines are found by its scan; one stopped by max_pending sleeps
 * on the group's wake_seq, which acks bump. A handle is used by one thread
 * at a time; members of one group may run in any threads or processes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group.h"
#include "internal.h"
#include "map.h"
#include "wait.h"

#define MEMBER_SPIN_NS 20000u
#define MEMBER_SLEEP_NS 10000000  /* longest sleep: dead members, deadlines */
#define FULL_SLEEP_NS 1000000	  /* longest wait for an ack at max_pending */
#define SCAN_IDLE_NS 1000000	  /* an idle member scans for redeliveries this often */
#define DLQ_RETRY_NS 10000000	  /* a dead letter without room waits this long */
#define MEMBER_CHECK_NS 100000000 /* an idle member asks after the daemon this often */
#define WATCH_LEASE_MS 25	  /* > 2 MEMBER_SLEEP_NS: a live watcher renews it in time */

struct shmq_member {
	struct shmq_client *client;
	struct chan_map m; /* m.entry: the group's reader entry (the floor) */
	void *seg;
	uint64_t seg_bytes;
	struct group_view gv;
	uint32_t handle_idx; /* group * GROUP_MAX_MEMBERS + member: OP_CLOSE's slot */
	uint32_t wait_mode;
	uint32_t flags;
	uint32_t since_scan; /* dispatches since the last redelivery scan */
	uint64_t scanned_ns; /* when an idle look last scanned */
	uint64_t noack_pos;  /* SHMQ_GROUP_NOACK: the view out, acked at the next call */
	uint64_t checked_ns; /* when an idle look last asked after the daemon */
	uint64_t watch;	     /* our group_hdr.watcher word while we watch, else 0 */
	bool noack_held;
	struct group_take t;
	struct client_handle h; /* resumed after a daemon restart */
	struct shmq_pub *dlq;	/* GROUP_F_DLQ: <channel>.dlq, where dead messages go */
	char group[GROUP_NAME_BYTES];
};

static int group_req(struct proto_group *req, const char *channel, const char *group, uint32_t what)
{
	memset(req, 0, sizeof(*req));
	req->what = what;
	if (group && (!group[0] || strlen(group) >= sizeof(req->group)))
		return -SHMQ_ENAME;
	if (group)
		strcpy(req->group, group);
	return client_wire_name(req->channel, channel);
}

static void opts_to_req(struct proto_group *req, const struct shmq_group_opts *o)
{
	req->flags = o->flags;
	req->ack_wait_ns = o->ack_wait_ns;
	req->offset = o->offset;
	req->max_pending = o->max_pending;
	req->max_deliver = o->max_deliver;
	req->start = o->start;
}

/* Settings the daemon would refuse, refused here first with the same code. */
static int opts_check(const struct shmq_group_opts *o)
{
	if (o->max_pending &&
	    ((o->max_pending & (o->max_pending - 1)) || o->max_pending > GROUP_MAX_PENDING))
		return -SHMQ_EINVAL;
	if (o->start > SHMQ_START_OFFSET || o->wait > SHMQ_WAIT_EVENTFD || o->reserved ||
	    (o->flags & ~(SHMQ_GROUP_CREATE | SHMQ_GROUP_NOACK | SHMQ_GROUP_DLQ)))
		return -SHMQ_EINVAL;
	return 0;
}

/* Map the five segments of a join answer; the fds are closed by the caller. */
static int member_map(struct shmq_member *mb, const int *fds, unsigned nfds,
		      const struct proto_group_joined *resp)
{
	int err =
	    nfds != 5 || resp->nfds != 5 ? -SHMQ_EPROTO : chan_map_fds(fds, 4, ROLE_SUB, &mb->m);

	if (!err && mb->m.v.channel_id != resp->channel_id)
		err = -SHMQ_ECORRUPT;
	mb->m.channel_id = resp->channel_id;
	if (!err)
		err = map_fd(fds[4], true, &mb->seg, &mb->seg_bytes);
	if (!err && mb->seg_bytes != resp->seg_bytes)
		err = -SHMQ_ECORRUPT;
	if (!err)
		err = group_attach(&mb->gv, mb->seg, mb->seg_bytes, mb->m.entry, resp->channel_id,
				   resp->member, resp->member_gen);
	return err;
}

static void member_unmap(struct shmq_member *mb)
{
	chan_unmap(&mb->m);
	if (mb->seg)
		map_release(mb->seg, mb->seg_bytes);
	mb->seg = NULL;
}

SHMQ_EXPORT int shmq_group_open(struct shmq_client *c, const char *channel, const char *group,
				const struct shmq_group_opts *opts, struct shmq_member **out)
{
	struct shmq_group_opts o = {0};
	struct proto_group_joined resp;
	struct proto_group req;
	int fds[5] = {-1, -1, -1, -1, -1}, err;
	unsigned nfds = 5;
	struct shmq_member *mb;

	if (!c || !out || !group)
		return -SHMQ_EINVAL;
	if (opts)
		o = *opts;
	err = opts_check(&o);
	if (!err)
		err = group_req(&req, channel, group, GROUP_JOIN);
	if (err)
		return err;
	if (c->daemon_minor < PROTO_MINOR_GROUP)
		return -SHMQ_EVERSION;
	opts_to_req(&req, &o);
	mb = calloc(1, sizeof(*mb));
	if (!mb)
		return -SHMQ_ENOMEM;
	err = client_call(c, OP_GROUP, &req, sizeof(req), &resp, sizeof(resp), fds, &nfds);
	if (err)
		goto out_free;
	mb->handle_idx = resp.group * GROUP_MAX_MEMBERS + resp.member;
	err = member_map(mb, fds, nfds, &resp);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	if (err)
		goto out_leave;
	if (mb->gv.flags & GROUP_F_DLQ) {
		char dlq[PROTO_NAME_BYTES + 8];

		snprintf(dlq, sizeof(dlq), "%s.dlq", channel);
		err = shmq_pub_open(c, dlq, NULL, &mb->dlq);
		if (err)
			goto out_leave;
	}
	snprintf(mb->group, sizeof(mb->group), "%s", group);
	mb->client = c;
	mb->wait_mode = o.wait;
	mb->flags = o.flags;
	mb->h = (struct client_handle){.channel_id = resp.channel_id,
				       .role = ROLE_MEMBER,
				       .slot = mb->handle_idx,
				       .gen = resp.member_gen};
	client_handle_add(c, &mb->h);
	*out = mb;
	return 0;

out_leave:
	member_unmap(mb);
	chan_close_notify(c, resp.channel_id, ROLE_MEMBER, mb->handle_idx);
out_free:
	free(mb);
	return err;
}

/* After the floor moved on a block channel: wake publishers waiting for space. */
static void floor_moved(struct shmq_member *mb)
{
	struct wake_hdr *w = mb->m.v.wake;
	struct group_hdr *g = mb->gv.g;

	if (mb->m.v.policy == SHMQ_POLICY_BLOCK &&
	    atomic_load_explicit(&w->space_wanted, memory_order_seq_cst) &&
	    atomic_exchange_explicit(&w->space_wanted, 0, memory_order_seq_cst)) {
		/* release: publish the new sequence before the wake (pairs with
		 * wait_space() in pub.c, as publish_cursor() in sub.c). */
		atomic_fetch_add_explicit(&w->space_seq, 1, memory_order_release);
		wait_wake(&w->space_seq, INT32_MAX);
	}
	/* seq_cst: ordered after the floor's CAS; a member that counted itself
	 * in waiters before its last look is woken, else it saw the floor. */
	if (atomic_load_explicit(&g->waiters, memory_order_seq_cst)) {
		atomic_fetch_add_explicit(&g->wake_seq, 1, memory_order_release);
		wait_wake(&g->wake_seq, INT32_MAX);
	}
}

/*
 * The copy of a dead message (rec, delivered deliveries times) to the
 * dead-letter channel, with headers saying where it came from: 0, or
 * shmq_publish_opts()'s error (-SHMQ_EFULL: a block dead-letter channel
 * has no room now).
 */
static int dead_copy(struct shmq_member *mb, const struct log_rec *rec, uint32_t deliveries,
		     const char *reason)
{
	char dstr[24], ostr[24];
	struct shmq_header h[4] = {
	    {"shmq-reason", 11, reason, (uint32_t)strlen(reason)},
	    {"shmq-group", 10, mb->group, (uint32_t)strlen(mb->group)},
	    {"shmq-deliveries", 15, dstr, (uint32_t)snprintf(dstr, sizeof(dstr), "%u", deliveries)},
	    {"shmq-offset", 11, ostr,
	     (uint32_t)snprintf(ostr, sizeof(ostr), "%llu", (unsigned long long)rec->pos)},
	};
	struct shmq_msg_opts o = {.fields = SHMQ_F_HEADERS, .nheaders = 4, .headers = h};

	return mb->dlq ? shmq_publish_opts(mb->dlq, rec->data, rec->len, &o, 0, NULL) : 0;
}

static int settle(struct shmq_member *mb, uint64_t offset, unsigned how, uint64_t delay_ns)
{
	int err;

	if (!mb)
		return -SHMQ_EINVAL;
	err = group_settle(&mb->gv, offset, how, wait_now_ns(), delay_ns);
	if (err || how == GSET_TOUCH)
		return err;
	/* as far as it goes: a floor left behind acked messages would hold
	 * block publishers with nobody left to move it */
	if (group_floor_advance(&mb->m.v, &mb->gv, mb->gv.max_pending) || how != GSET_ACK)
		floor_moved(mb);
	return 0;
}

SHMQ_EXPORT int shmq_ack(struct shmq_member *mb, uint64_t offset)
{
	return settle(mb, offset, GSET_ACK, 0);
}

SHMQ_EXPORT int shmq_ackv(struct shmq_member *mb, const uint64_t *offsets, unsigned n)
{
	int acked = 0;

	if (!mb || (n && !offsets))
		return -SHMQ_EINVAL;
	for (unsigned i = 0; i < n; i++)
		acked += !group_settle(&mb->gv, offsets[i], GSET_ACK, wait_now_ns(), 0);
	if (group_floor_advance(&mb->m.v, &mb->gv, mb->gv.max_pending))
		floor_moved(mb);
	return acked;
}

SHMQ_EXPORT int shmq_nack(struct shmq_member *mb, uint64_t offset, int64_t delay_ns)
{
	if (delay_ns < 0)
		return -SHMQ_EINVAL;
	return settle(mb, offset, GSET_NACK, (uint64_t)delay_ns);
}

/*
 * With dead letters, a message given up is copied first (reason "term"),
 * once this member is known to hold it (the touch says so), so that no
 * copy is made of a message it does not hold.
 */
SHMQ_EXPORT int shmq_term(struct shmq_member *mb, uint64_t offset)
{
	struct log_rec rec;
	uint32_t deliveries;
	int err;

	if (mb && mb->dlq) {
		err = settle(mb, offset, GSET_TOUCH, 0);
		if (!err && group_find(&mb->m.v, &mb->gv, offset, &rec, &deliveries) == 1 &&
		    dead_copy(mb, &rec, deliveries, "term") == -SHMQ_EFULL)
			err = -SHMQ_EFULL; /* still held: term it again later */
		if (err)
			return err;
	}
	return settle(mb, offset, GSET_TERM, 0);
}

SHMQ_EXPORT int shmq_touch(struct shmq_member *mb, uint64_t offset)
{
	return settle(mb, offset, GSET_TOUCH, 0);
}

/* SHMQ_GROUP_NOACK: ack the view handed out last, now that the caller is done with it. */
static void noack_release(struct shmq_member *mb)
{
	if (mb->noack_held)
		settle(mb, mb->noack_pos, GSET_ACK, 0);
	mb->noack_held = false;
}

SHMQ_EXPORT void shmq_group_close(struct shmq_member *mb)
{
	if (!mb)
		return;
	noack_release(mb);
	group_give_back(&mb->m.v, &mb->gv, wait_now_ns());
	client_handle_close(mb->client, &mb->h);
	if (mb->dlq)
		shmq_pub_close(mb->dlq);
	member_unmap(mb);
	free(mb);
}

/*
 * A message past max_deliver, taken as a dead letter: copied, then dead.
 * No room for the copy: given back for DLQ_RETRY_NS, then copied again by
 * whichever member finds it. A copy that cannot be made at all (too big
 * with its headers) is not retried: the message is dead all the same.
 */
static void dead_letter(struct shmq_member *mb)
{
	int err = dead_copy(mb, &mb->t.rec, mb->t.deliveries, "max_deliver");

	if (err == -SHMQ_EFULL)
		settle(mb, mb->t.rec.pos, GSET_NACK, DLQ_RETRY_NS);
	else
		settle(mb, mb->t.rec.pos, GSET_TERM, 0);
}

/* One look: a message (1), nothing (0), the group full (-SHMQ_EFULL), or an error. */
static int take_one(struct shmq_member *mb, bool idle)
{
	uint64_t now = wait_now_ns();
	bool scan =
	    ++mb->since_scan >= GROUP_SCAN_EVERY || (idle && now - mb->scanned_ns >= SCAN_IDLE_NS);
	int r;

	if (scan) {
		mb->since_scan = 0;
		mb->scanned_ns = now;
	}
	r = group_take(&mb->m.v, &mb->gv, scan, now, &mb->t);
	/* full, or idle at a scan: move the floor past what others acked
	 * (another member's ack may have raced its own advance) */
	if ((r == -SHMQ_EFULL || (r == 0 && scan)) &&
	    group_floor_advance(&mb->m.v, &mb->gv, mb->gv.max_pending)) {
		floor_moved(mb);
		if (r == -SHMQ_EFULL)
			r = group_take(&mb->m.v, &mb->gv, false, wait_now_ns(), &mb->t);
	}
	if (r == -SHMQ_EFULL && !scan)
		r = group_scan(&mb->m.v, &mb->gv, wait_now_ns(), &mb->t);
	return r;
}

/* take_one(), copying dead letters away on the way (a few per call). */
static int take(struct shmq_member *mb, bool idle)
{
	int r = take_one(mb, idle);

	for (unsigned n = 0; r == 1 && mb->t.dead_letter; n++) {
		dead_letter(mb);
		r = n < 16 ? take_one(mb, idle) : 0;
	}
	return r;
}

/*
 * The full group: wait for an ack (bounded). Returns the last look's take():
 * a message it took (1) is the caller's to hand out.
 */
static int sleep_full(struct shmq_member *mb, int64_t left)
{
	struct group_hdr *g = mb->gv.g;
	uint32_t seq = atomic_load_explicit(&g->wake_seq, memory_order_seq_cst);
	int r;

	/* seq_cst: counted before the last look; pairs with floor_moved(). */
	atomic_fetch_add_explicit(&g->waiters, 1, memory_order_seq_cst);
	r = take(mb, false);
	if (r == -SHMQ_EFULL)
		wait_futex(&g->wake_seq, seq,
			   left >= 0 && left < FULL_SLEEP_NS ? left : FULL_SLEEP_NS);
	atomic_fetch_sub_explicit(&g->waiters, 1, memory_order_seq_cst);
	return r;
}

/* Milliseconds since the group's epoch, as the watcher's lease counts them. */
static uint32_t watch_ms(const struct shmq_member *mb, uint64_t now_ns)
{
	return now_ns > mb->gv.epoch_ns ? (uint32_t)((now_ns - mb->gv.epoch_ns) / 1000000) : 0;
}

static bool lease_over(const struct shmq_member *mb, uint64_t w, uint64_t now_ns)
{
	return (int32_t)((uint32_t)(w >> 32) - watch_ms(mb, now_ns)) < 0;
}

/* Nothing can be taken now? A hint: a record past dispatch means there is work. */
static bool nothing_ready(const struct shmq_member *mb)
{
	/* relaxed: a hint; acquire on the tail as the readers' look */
	return atomic_load_explicit(&mb->gv.g->dispatch_bytes, memory_order_relaxed) >=
	       atomic_load_explicit(&mb->m.v.data->tail_bytes, memory_order_acquire);
}

/*
 * Become the group's watcher, or stay it with a new lease: false while
 * another member's lease runs.
 */
static bool watch_take(struct shmq_member *mb, uint64_t now_ns)
{
	_Atomic uint64_t *wp = &mb->gv.g->watcher;
	uint64_t w = atomic_load_explicit(wp, memory_order_relaxed);
	uint64_t mine =
	    (uint64_t)(mb->gv.member + 1) | (uint64_t)(watch_ms(mb, now_ns) + WATCH_LEASE_MS) << 32;

	if (w && (uint32_t)w != mb->gv.member + 1 && !lease_over(mb, w, now_ns))
		return false;
	/* seq_cst: one order with the sleepers' idle_waiters++ and watcher load */
	if (!atomic_compare_exchange_strong_explicit(wp, &w, mine, memory_order_seq_cst,
						     memory_order_relaxed))
		return false;
	mb->watch = mine;
	return true;
}

/*
 * Leaving a wait that slept: give the watcher's role up, and while nobody
 * watches, wake one member asleep on idle_seq (it takes the next message
 * or watches).
 */
static void idle_hand_over(struct shmq_member *mb)
{
	struct group_hdr *g = mb->gv.g;
	uint64_t w = mb->watch;

	mb->watch = 0;
	/* seq_cst: the clear (or the load) comes before the idle_waiters load,
	 * the Dekker pair of sleep_following(); a lease taken over fails the CAS */
	if (w)
		atomic_compare_exchange_strong_explicit(&g->watcher, &w, 0, memory_order_seq_cst,
							memory_order_relaxed);
	else if (atomic_load_explicit(&g->watcher, memory_order_seq_cst))
		return;
	if (atomic_load_explicit(&g->idle_waiters, memory_order_seq_cst)) {
		/* release: the new sequence before the wake; the futex compares it */
		atomic_fetch_add_explicit(&g->idle_seq, 1, memory_order_release);
		wait_wake(&g->idle_seq, 1);
	}
}

/* Idle while another member watches: sleep on idle_seq until handed over. */
static void sleep_following(struct shmq_member *mb, int64_t left)
{
	struct group_hdr *g = mb->gv.g;
	uint32_t seq = atomic_load_explicit(&g->idle_seq, memory_order_seq_cst);
	uint64_t w;

	/* seq_cst: counted before the watcher is looked at; pairs with idle_hand_over() */
	atomic_fetch_add_explicit(&g->idle_waiters, 1, memory_order_seq_cst);
	w = atomic_load_explicit(&g->watcher, memory_order_seq_cst);
	if (w && !lease_over(mb, w, wait_now_ns()) && nothing_ready(mb))
		wait_futex(&g->idle_seq, seq, left);
	atomic_fetch_sub_explicit(&g->idle_waiters, 1, memory_order_seq_cst);
}

/*
 * Nothing to take: the watcher makes the wake_needed handshake of sub.c's
 * sleep_announce() without a mark, then one more look and a bounded sleep
 * on wake_seq; another member sleeps on idle_seq.
 */
static void sleep_idle(struct shmq_member *mb, int64_t left)
{
	struct wake_hdr *w = mb->m.v.wake;
	uint32_t seq;
	bool fenced;

	if (left < 0 || left > MEMBER_SLEEP_NS)
		left = MEMBER_SLEEP_NS;
	if (!watch_take(mb, wait_now_ns())) {
		sleep_following(mb, left);
		return;
	}
	seq = atomic_load_explicit(&w->wake_seq, memory_order_seq_cst);

	/* seq_cst, after the wake_seq load: pairs with the publisher's load
	 * and exchange in finish() (log.c), as in sub.c. */
	atomic_store_explicit(&w->wake_needed, 1, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	fenced = log_sleep_fence();
	if (!nothing_ready(mb))
		return;
	if (!fenced && left > FULL_SLEEP_NS)
		left = FULL_SLEEP_NS;
	wait_futex(&w->wake_seq, seq, left);
}

/*
 * Nothing to take: was the channel deleted or closed? Every
 * MEMBER_CHECK_NS: is the daemon there, or back after a restart (then the
 * membership is resumed)? As a subscriber, a member whose daemon stayed
 * away longer than DAEMON_GRACE_NS, or came back without the group, ends.
 */
static bool channel_ended(struct shmq_member *mb, int *err)
{
	/* acquire; pairs with the daemon's release store in registry_delete(). */
	uint32_t st = atomic_load_explicit(&mb->m.v.ctl->state, memory_order_acquire);
	uint64_t now;

	*err = st == CHAN_DELETED ? -SHMQ_EDELETED : st == CHAN_CLOSED ? -SHMQ_ECLOSED : 0;
	if (*err)
		return true;
	now = wait_now_ns();
	if (now - mb->checked_ns < MEMBER_CHECK_NS)
		return false;
	mb->checked_ns = now;
	*err = client_check(mb->client, &mb->h);
	return *err != 0;
}

static int wait_take_loop(struct shmq_member *mb, int64_t timeout_ns, bool *slept)
{
	uint64_t start = 0, now;
	int r, err;

	for (unsigned spins = 0;; spins++) {
		r = take(mb, spins > 0);
		if (r == 1 || (r < 0 && r != -SHMQ_EFULL))
			return r;
		if (timeout_ns == 0)
			return channel_ended(mb, &err) ? err : -SHMQ_EAGAIN;
		now = wait_now_ns();
		if (!start)
			start = now;
		if (timeout_ns > 0 && now - start >= (uint64_t)timeout_ns)
			return channel_ended(mb, &err) ? err : -SHMQ_ETIMEDOUT;
		if (r == 0 && channel_ended(mb, &err))
			return err;
		if (mb->wait_mode == SHMQ_WAIT_SPIN ||
		    (mb->wait_mode != SHMQ_WAIT_SLEEP && now - start < MEMBER_SPIN_NS)) {
			wait_cpu_relax();
			continue;
		}
		if (r == -SHMQ_EFULL) {
			/* its look may take a message: ours then, not to be taken over */
			r = sleep_full(mb,
				       timeout_ns < 0 ? -1 : timeout_ns - (int64_t)(now - start));
			if (r == 1 || (r < 0 && r != -SHMQ_EFULL))
				return r;
		} else {
			sleep_idle(mb, timeout_ns < 0 ? -1 : timeout_ns - (int64_t)(now - start));
			*slept = true;
		}
	}
}

/* A message taken (1), or why not; a wait that slept hands the watch over. */
static int wait_take(struct shmq_member *mb, int64_t timeout_ns)
{
	bool slept = false;
	int r = wait_take_loop(mb, timeout_ns, &slept);

	if (slept)
		idle_hand_over(mb);
	return r;
}

static void fill(struct shmq_member *mb, struct shmq_msg *msg)
{
	const struct log_rec *rec = &mb->t.rec;

	*msg = (struct shmq_msg){
	    .data = rec->data,
	    .len = rec->len,
	    .flags = rec->flags,
	    .offset = rec->pos,
	    .timestamp_ns = rec->timestamp_ns,
	    .lost = mb->t.lost,
	    .seal = rec->bytes,
	    .ext = rec->ext,
	    .ext_bytes = rec->ext_bytes,
	    .deliveries = mb->t.deliveries,
	};
}

SHMQ_EXPORT int shmq_group_recv(struct shmq_member *mb, struct shmq_msg *msg, int64_t timeout_ns)
{
	int r;

	if (!mb || !msg)
		return -SHMQ_EINVAL;
	noack_release(mb);
	r = wait_take(mb, timeout_ns);
	if (r < 0)
		return r;
	fill(mb, msg);
	/* acked at the next call: until then it holds the floor, so the view stays whole */
	mb->noack_held = (mb->flags & SHMQ_GROUP_NOACK) != 0;
	mb->noack_pos = msg->offset;
	return 0;
}

SHMQ_EXPORT int shmq_group_poll(struct shmq_member *mb, shmq_msg_cb cb, void *arg, unsigned max,
				int64_t timeout_ns)
{
	struct shmq_msg msg;
	unsigned n = 0;
	int r;

	if (!mb || !cb || !max)
		return -SHMQ_EINVAL;
	noack_release(mb);
	r = wait_take(mb, timeout_ns);
	while (r == 1) {
		int stop;

		fill(mb, &msg);
		n++;
		stop = cb(arg, &msg);
		if (mb->flags & SHMQ_GROUP_NOACK) /* after its callback: the view is done */
			settle(mb, msg.offset, GSET_ACK, 0);
		if (stop || n == max)
			break;
		r = take(mb, false);
	}
	if (n)
		return (int)n;
	return r;
}

SHMQ_EXPORT int shmq_group_info(struct shmq_client *c, const char *channel, const char *group,
				struct shmq_group_info *rows, unsigned max)
{
	struct proto_group_info resp;
	struct proto_group req;
	int err;

	if (!c || (max && !rows))
		return -SHMQ_EINVAL;
	err = group_req(&req, channel, group, GROUP_INFO);
	if (err)
		return err;
	if (c->daemon_minor < PROTO_MINOR_GROUP)
		return -SHMQ_EVERSION;
	err = client_call(c, OP_GROUP, &req, sizeof(req), &resp, sizeof(resp), NULL, NULL);
	if (err)
		return err;
	if (resp.count > PROTO_GROUP_ROWS)
		return -SHMQ_EPROTO;
	for (uint32_t i = 0; i < resp.count && i < max; i++) {
		const struct proto_group_row *w = &resp.rows[i];

		rows[i] = (struct shmq_group_info){
		    .members = w->members,
		    .max_pending = w->max_pending,
		    .floor = w->floor,
		    .dispatch = w->dispatch,
		    .delivered = w->delivered,
		    .redelivered = w->redelivered,
		    .acked = w->acked,
		    .dead = w->dead,
		    .lost = w->lost,
		};
		memcpy(rows[i].name, w->name, sizeof(rows[i].name));
		rows[i].name[sizeof(rows[i].name) - 1] = 0;
	}
	return (int)resp.count;
}

SHMQ_EXPORT int shmq_group_delete(struct shmq_client *c, const char *channel, const char *group)
{
	struct proto_group req, resp;
	int err;

	if (!c || !group)
		return -SHMQ_EINVAL;
	err = group_req(&req, channel, group, GROUP_DELETE);
	if (err)
		return err;
	if (c->daemon_minor < PROTO_MINOR_GROUP)
		return -SHMQ_EVERSION;
	return client_call(c, OP_GROUP, &req, sizeof(req), &resp, sizeof(resp), NULL, NULL);
}
