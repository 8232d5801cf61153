/*
 * dedupe_pub.c - duplicate detection for a publisher (see dedupe_pub.h).
 * Whether a reservation's owner lives is the control segment's word (the
 * daemon's, read-only to clients): its publisher slot active at the
 * generation the reservation names. Time is the data header's calibrated
 * clock, as the records' timestamps.
 */
#include "dedupe_pub.h"

#include <time.h>

#include "shmq_err.h"
#include "wait.h"

#define HELD_PAUSE_NS 50000 /* a live claim holds the id: look again after this */

int dedupe_pub_init(struct dedupe_pub *d, const struct log_view *lv, void *dd, uint64_t dd_bytes,
		    uint32_t slot, uint32_t gen)
{
	int err;

	*d = (struct dedupe_pub){.me = {slot, gen}};
	if (!dd)
		return lv->data->incompat & FEAT_INCOMPAT_DEDUPE ? -SHMQ_EPROTO : 0;
	err = dedupe_attach(&d->v, dd, dd_bytes, lv->channel_id);
	d->on = !err;
	return err;
}

static bool owner_live(void *arg, struct dedupe_owner who)
{
	const struct log_view *lv = arg;

	if (who.slot >= MAX_PUBS)
		return false;
	/* acquire; pairs with the daemon's release of the slot's state: the
	 * generation read after it is the one the slot became active with */
	return atomic_load_explicit(&lv->pslots[who.slot].state, memory_order_acquire) ==
		   SLOT_ACTIVE &&
	       atomic_load_explicit(&lv->pslots[who.slot].gen, memory_order_relaxed) == who.gen;
}

int dedupe_pub_reserve(struct dedupe_pub *d, const struct log_view *lv, uint64_t id,
		       int64_t timeout_ns, uint64_t *offset)
{
	uint64_t start = wait_now_ns(), pos = 0;
	struct timespec pause = {0, HELD_PAUSE_NS};
	int err;

	for (;;) {
		err = dedupe_reserve(&d->v, id, d->me, log_timestamp(lv), owner_live, (void *)lv,
				     &d->at, &pos);
		if (err != -SHMQ_EAGAIN)
			break;
		if (timeout_ns == 0)
			return -SHMQ_EFULL;
		if (timeout_ns > 0 && wait_now_ns() - start >= (uint64_t)timeout_ns)
			return -SHMQ_ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
	if (err == -SHMQ_EDUPLICATE)
		*offset = pos < log_tail(lv) ? pos : UINT64_MAX; /* a scribbler's offset: none */
	if (!err) {
		d->held = true;
		d->id = id;
	}
	return err;
}

void dedupe_pub_commit(struct dedupe_pub *d, uint64_t pos, uint64_t now_ns)
{
	if (!d->held)
		return;
	d->held = false;
	dedupe_commit(&d->v, d->at, d->id, d->me, pos, now_ns);
}

void dedupe_pub_release(struct dedupe_pub *d)
{
	if (!d->held)
		return;
	d->held = false;
	dedupe_release(&d->v, d->at, d->id, d->me);
}
