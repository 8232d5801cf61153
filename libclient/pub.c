/*
 * pub.c - publisher handles: claim/commit/abort in place, copying publish,
 * block-policy waiting, and waking sleeping readers. A handle is used by
 * one thread at a time; many handles publish to a channel concurrently.
 * The hot path (claim, write, commit) touches only shared memory; the only
 * system calls are wake-ups when ctl->wake_needed says a reader fell asleep, and
 * futex waits of a block-policy publisher that found no space.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "wait.h"

struct shmq_pub {
	struct shmq_client *client;
	struct chan_map m;
	uint64_t limit;       /* block policy: cached bound on tail, see log_claim() */
	uint64_t readers_gen; /* ctl->readers_gen when limit was cached */
	uint64_t claim_pos;
	bool claimed;
	bool have_efds;
	uint32_t pid;
	int efds[MAX_READERS];
};

SHMQ_EXPORT int shmq_pub_open(struct shmq_client *c, const char *name,
			      const struct shmq_pub_opts *opts, struct shmq_pub **out)
{
	struct proto_open req = {.role = ROLE_PUB};
	struct proto_opened resp;
	struct shmq_pub *p;
	int err;

	if (!c || !out)
		return -SHMQ_EINVAL;
	err = client_wire_name(req.name, name);
	if (err)
		return err;
	req.create = opts ? (uint32_t)!!opts->create : 0;
	client_wire_opts(&req.opts, opts ? &opts->channel : NULL);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -SHMQ_ENOMEM;
	err = chan_open(c, &req, true, &resp, &p->m, NULL);
	if (err) {
		free(p);
		return err;
	}
	p->client = c;
	p->pid = (uint32_t)getpid();
	for (unsigned i = 0; i < MAX_READERS; i++)
		p->efds[i] = -1;
	*out = p;
	return 0;
}

static void fetch_efds(void *arg)
{
	struct shmq_pub *p = arg;
	struct proto_efds req = {.channel_id = p->m.channel_id}, resp;
	unsigned n = MAX_READERS;

	if (client_call(p->client, OP_EVENTFDS, &req, sizeof(req), &resp, sizeof(resp), p->efds,
			&n) ||
	    n < MAX_READERS) {
		/* daemon away or no descriptors left: log_wake() leaves the
		 * armed readers' marks for a publisher that can signal them,
		 * and the next wake asks again */
		for (unsigned i = 0; i < n; i++)
			close(p->efds[i]);
		n = 0;
		p->have_efds = false;
	}
	for (unsigned i = n; i < MAX_READERS; i++)
		p->efds[i] = -1;
}

SHMQ_EXPORT void shmq_pub_close(struct shmq_pub *p)
{
	if (!p)
		return;
	if (p->claimed && log_abort(&p->m.v, p->claim_pos) == 1)
		log_wake(&p->m.v, p->efds, &p->have_efds, fetch_efds, p); /* readers wait on it */
	chan_close_notify(p->client, p->m.channel_id, ROLE_PUB, 0);
	for (unsigned i = 0; i < MAX_READERS; i++)
		if (p->efds[i] >= 0)
			close(p->efds[i]);
	chan_unmap(&p->m);
	free(p);
}

SHMQ_EXPORT uint32_t shmq_pub_max_message(const struct shmq_pub *p)
{
	return p ? p->m.v.max_message_bytes : 0;
}

static int64_t left_ns(uint64_t deadline)
{
	uint64_t now = wait_now_ns();

	return now >= deadline ? 0 : (int64_t)(deadline - now);
}

/* Block policy: sleep until a reader moves or the deadline passes. */
static int wait_space(struct shmq_pub *p, int64_t timeout_ns, uint64_t deadline)
{
	struct ctl_hdr *ctl = p->m.v.ctl;
	uint32_t seq;
	int64_t left = timeout_ns < 0 ? 1000000 : left_ns(deadline);
	int err;

	if (left == 0)
		return -SHMQ_ETIMEDOUT;
	if (left > 1000000) /* re-check at least every ms: a reader may die */
		left = 1000000;
	/* seq_cst; pairs with the seq_cst cursor store + space_wanted
	 * exchange of a reader in sub.c (Dekker): either it sees the flag and
	 * wakes us, or we see its move. A flag rather than a count: a
	 * publisher killed asleep leaves it set only until the next reader
	 * move clears it, at the cost of one spurious wake. */
	atomic_store_explicit(&ctl->space_wanted, 1, memory_order_seq_cst);
	seq = atomic_load_explicit(&ctl->space_seq, memory_order_seq_cst);
	p->limit = 0;
	if (log_tail(&p->m.v) < log_reader_limit(&p->m.v, log_tail(&p->m.v)))
		err = 0;
	else
		err = wait_futex(&ctl->space_seq, seq, left);
	return err == -SHMQ_ETIMEDOUT ? 0 : err;
}

/*
 * One log_claim(). On block channels the cached limit is dropped when the
 * daemon changed the reader table: a reader that joined below it would
 * otherwise be overwritten until the cache ran out.
 */
static int pub_claim_once(struct shmq_pub *p, uint32_t len)
{
	if (p->m.v.policy == SHMQ_POLICY_BLOCK) {
		/* acquire; pairs with the daemon's release increment after it
		 * activated or freed an entry: the rescan sees that entry. */
		uint64_t gen = atomic_load_explicit(&p->m.v.ctl->readers_gen, memory_order_acquire);

		if (gen != p->readers_gen) {
			p->readers_gen = gen;
			p->limit = 0;
		}
	}
	return log_claim(&p->m.v, &p->limit, len, p->pid, &p->claim_pos);
}

SHMQ_EXPORT int shmq_pub_claim(struct shmq_pub *p, uint32_t len, struct shmq_claim *claim,
			       int64_t timeout_ns)
{
	uint64_t deadline = 0;
	int err;

	if (!p || !claim)
		return -SHMQ_EINVAL;
	if (p->claimed)
		return -SHMQ_ESTATE;
	if (timeout_ns > 0)
		deadline = wait_now_ns() + (uint64_t)timeout_ns;
	for (;;) {
		err = pub_claim_once(p, len);
		if (err == -SHMQ_EABANDONED)
			continue; /* the daemon skipped our pos; take the next */
		if (err != -SHMQ_EFULL || timeout_ns == 0)
			break;
		err = wait_space(p, timeout_ns, deadline);
		if (err)
			return err;
		if (timeout_ns > 0 && left_ns(deadline) == 0) {
			do
				err = pub_claim_once(p, len);
			while (err == -SHMQ_EABANDONED);
			if (err == -SHMQ_EFULL)
				err = -SHMQ_ETIMEDOUT;
			break;
		}
	}
	if (err)
		return err;
	p->claimed = true;
	claim->data = log_payload(&p->m.v, p->claim_pos);
	claim->capacity = p->m.v.max_message_bytes;
	claim->reserved = 0;
	claim->offset = p->claim_pos;
	return 0;
}

static int pub_finish(struct shmq_pub *p, struct shmq_claim *claim, int rc)
{
	p->claimed = false;
	claim->data = NULL;
	if (rc == 1) {
		log_wake(&p->m.v, p->efds, &p->have_efds, fetch_efds, p);
		rc = 0;
	}
	return rc;
}

SHMQ_EXPORT int shmq_pub_commit(struct shmq_pub *p, struct shmq_claim *claim, uint32_t len)
{
	if (!p || !claim)
		return -SHMQ_EINVAL;
	if (!p->claimed || claim->offset != p->claim_pos)
		return -SHMQ_ESTATE;
	if (len > p->m.v.max_message_bytes)
		return -SHMQ_ETOOBIG;
	return pub_finish(p, claim, log_commit(&p->m.v, p->claim_pos, len, wait_realtime_ns()));
}

SHMQ_EXPORT int shmq_pub_abort(struct shmq_pub *p, struct shmq_claim *claim)
{
	if (!p || !claim)
		return -SHMQ_EINVAL;
	if (!p->claimed || claim->offset != p->claim_pos)
		return -SHMQ_ESTATE;
	return pub_finish(p, claim, log_abort(&p->m.v, p->claim_pos));
}

SHMQ_EXPORT int shmq_publish(struct shmq_pub *p, const void *data, uint32_t len,
			     int64_t timeout_ns, uint64_t *offset)
{
	struct shmq_claim c;
	int err;

	if (!p || (len && !data))
		return -SHMQ_EINVAL;
	err = shmq_pub_claim(p, len, &c, timeout_ns);
	if (err)
		return err;
	memcpy(c.data, data, len);
	err = shmq_pub_commit(p, &c, len);
	if (!err && offset)
		*offset = c.offset;
	return err;
}
