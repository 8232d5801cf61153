/*
 * expiry.h - readers skip messages whose expiry_ns has passed and count
 * them (docs/ARCHITECTURE.md, "Expiry"). One call in the receive path:
 * a record without header fields costs one flag test. Used by sub.c, by
 * the thread that owns the subscriber handle.
 */
#ifndef SHMQ_EXPIRY_H
#define SHMQ_EXPIRY_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

struct expiry {
	bool deliver;	/* shmq_sub_deliver_expired(): skip nothing */
	uint64_t count; /* messages skipped, since the handle opened */
};

/* The slow half of expiry_skip(): the record carries header fields. */
bool expiry_passed(struct expiry *x, const struct log_view *v, const struct log_rec *rec,
		   uint64_t skip_below);

/*
 * Should the reader pass rec (from log_read()) without delivering it? Yes,
 * counted in x->count, when its expiry_ns is at or before now (the data
 * header's calibrated clock) and rec is at or above skip_below (below it
 * nothing is delivered anyway). A forged extension area is not skipped:
 * the application's shmq_msg_fields() reports it.
 */
static inline bool expiry_skip(struct expiry *x, const struct log_view *v,
			       const struct log_rec *rec, uint64_t skip_below)
{
	if (__builtin_expect(!(rec->flags & REC_F_EXT), 1))
		return false;
	return expiry_passed(x, v, rec, skip_below);
}

#endif
