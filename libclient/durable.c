/*
 * durable.c - confirms on durable channels (shmq.h): a publisher reads
 * ctl_hdr.durable_pos, which only the daemon's journal thread stores
 * (after the write or fdatasync that covers it), and sleeps on the wake
 * segment's durable_seq. The wake segment is writable by every client of
 * the channel, so a sleep is bounded: a cleared flag or a bumped sequence
 * costs a waiter at most DURABLE_NAP_NS, never a confirm. Any thread, on
 * its own handle.
 */
#include <assert.h>

#include "internal.h"
#include "log.h"
#include "wait.h"

#define DURABLE_NAP_NS 10000000 /* the longest sleep between two looks */

/* 0 and *pos, or why there is none. */
static int durable_look(const struct log_view *v, uint64_t *pos)
{
	if (!v->journal)
		return -SHMQ_ESTATE;
	/* acquire; pairs with the journal's store after the fdatasync
	 * (durable_publish() in daemon/journal.c): below it is on disk */
	*pos = atomic_load_explicit(&v->ctl->durable_pos, memory_order_acquire);
	return log_journal_failed(v) ? -SHMQ_EIO : 0;
}

static_assert(SHMQ_JOURNAL_OK == JOURNAL_OK && SHMQ_JOURNAL_FAILED == JOURNAL_FAILED &&
		  SHMQ_JOURNAL_NOSPACE == JOURNAL_NOSPACE,
	      "public twins");

SHMQ_EXPORT int shmq_mon_journal(struct shmq_mon *mon, struct shmq_journal_info *out)
{
	const struct log_view *v;
	const struct ctl_hdr *c;

	if (!mon || !out)
		return -SHMQ_EINVAL;
	v = mon_view(mon);
	if (!v->journal)
		return -SHMQ_ESTATE;
	c = v->ctl;
	/* acquire; pairs with the journal thread's release stores: a figure
	 * for people, each word read once */
	*out = (struct shmq_journal_info){
	    .state = atomic_load_explicit(&c->journal_state, memory_order_acquire),
	    .error = (int32_t)atomic_load_explicit(&c->journal_errno, memory_order_relaxed),
	    .written = atomic_load_explicit(&c->written_pos, memory_order_acquire),
	    .durable = atomic_load_explicit(&c->durable_pos, memory_order_acquire),
	    .seg_base = atomic_load_explicit(&c->journal_seg_base, memory_order_relaxed),
	    .segments = atomic_load_explicit(&c->journal_segs, memory_order_relaxed),
	};
	return 0;
}

SHMQ_EXPORT int shmq_pub_durable(const struct shmq_pub *pub, uint64_t *below)
{
	if (!pub || !below)
		return -SHMQ_EINVAL;
	return durable_look(pub_view(pub), below);
}

SHMQ_EXPORT int shmq_wait_durable(struct shmq_pub *pub, uint64_t offset, int64_t timeout_ns)
{
	const struct log_view *v = pub ? pub_view(pub) : NULL;
	uint64_t deadline = timeout_ns > 0 ? wait_now_ns() + (uint64_t)timeout_ns : 0, pos, now;
	struct wake_hdr *w;
	int err;

	if (!pub)
		return -SHMQ_EINVAL;
	w = v->wake;
	for (;;) {
		int64_t nap = DURABLE_NAP_NS;
		uint32_t seq;

		err = durable_look(v, &pos);
		if (err)
			return err;
		if (pos > offset)
			return 0;
		if (timeout_ns == 0)
			return -SHMQ_ETIMEDOUT;
		/* seq_cst: the flag before the second look (Dekker with the
		 * journal's seq_cst durable_pos store, then its flag exchange) */
		atomic_store_explicit(&w->durable_waiters, 1, memory_order_seq_cst);
		/* acquire; pairs with the journal's release increment */
		seq = atomic_load_explicit(&w->durable_seq, memory_order_acquire);
		/* seq_cst: the other half of the pair above */
		pos = atomic_load_explicit(&v->ctl->durable_pos, memory_order_seq_cst);
		if (pos > offset)
			return 0;
		if (deadline) {
			now = wait_now_ns();
			if (now >= deadline)
				return -SHMQ_ETIMEDOUT;
			if ((int64_t)(deadline - now) < nap)
				nap = (int64_t)(deadline - now);
		}
		err = wait_futex(&w->durable_seq, seq, nap);
		if (err && err != -SHMQ_ETIMEDOUT && err != -SHMQ_EAGAIN)
			return err;
	}
}
