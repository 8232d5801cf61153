/*
 * dedupe_pub.h - a publisher's side of duplicate detection on a dedupe
 * channel (docs/ARCHITECTURE.md, "Dedupe"): a message with a msg_id is
 * reserved in the channel's table before its claim moves the tail,
 * committed with its offset after its commit, released when the claim is
 * given up. Used by pub.c, by the thread that owns the publisher handle.
 */
#ifndef SHMQ_DEDUPE_PUB_H
#define SHMQ_DEDUPE_PUB_H

#include <stdbool.h>
#include <stdint.h>

#include "dedupe.h"
#include "log.h"

struct dedupe_pub {
	bool on; /* the channel has a table and we attached it */
	bool held;
	struct dedupe_view v;
	struct dedupe_owner me;
	uint32_t at; /* the held reservation */
	uint64_t id;
};

/* Attach the table the daemon sent (dd, NULL: none) for publisher slot, gen. 0 or -SHMQ_E.... */
int dedupe_pub_init(struct dedupe_pub *d, const struct log_view *lv, void *dd, uint64_t dd_bytes,
		    uint32_t slot, uint32_t gen);

/*
 * Reserve id before the claim, waiting up to timeout_ns (as for space:
 * 0 none, < 0 for ever) while a live claim holds it. 0 (held),
 * -SHMQ_EDUPLICATE (*offset: the original's, UINT64_MAX if the table holds
 * none below the tail), -SHMQ_EFULL / -SHMQ_ETIMEDOUT (held by another
 * claim), -SHMQ_ELIMIT (no reusable slot: "dedupe table full").
 */
int dedupe_pub_reserve(struct dedupe_pub *d, const struct log_view *lv, uint64_t id,
		       int64_t timeout_ns, uint64_t *offset);

/* The held reservation's message was committed at offset pos (timestamp now_ns). */
void dedupe_pub_commit(struct dedupe_pub *d, uint64_t pos, uint64_t now_ns);

/* The claim was given up (aborted, abandoned, or a failed claim): free the reservation. */
void dedupe_pub_release(struct dedupe_pub *d);

#endif
