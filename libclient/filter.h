/*
 * filter.h - a subscriber's message filter (struct shmq_filter), copied and
 * checked once by filter_build(), then evaluated by filter_pass() on each
 * record's extension area in place. Not installed; any thread, a filter is
 * immutable once built.
 */
#ifndef SHMQ_FILTER_H
#define SHMQ_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "shmq.h"

struct filter_term {
	uint32_t kind;	   /* enum shmq_filter_kind */
	uint32_t len;	   /* of value */
	uint32_t hash;	   /* KEY_EQ: ext_hash(value), compared before the bytes */
	uint32_t buckets;  /* KEY_HASH */
	uint32_t lo, hi;   /* KEY_HASH */
	uint32_t name_len; /* HEADER_* */
	const uint8_t *value;
	const char *name;
};

struct filter {
	uint32_t n;
	uint32_t match; /* SHMQ_FILTER_ALL or SHMQ_FILTER_ANY */
	struct filter_term t[SHMQ_FILTER_MAX_TERMS];
	uint8_t bytes[]; /* the copied values and names */
};

/* Check and copy in: 0 and *out (free with filter_free()), -SHMQ_EFILTER, -SHMQ_ENOMEM. */
int filter_build(const struct shmq_filter *in, struct filter **out);

/* A copy of f (NULL stays NULL); NULL on failure to allocate. */
struct filter *filter_dup(const struct filter *f);

void filter_free(struct filter *f);

/*
 * Does the message whose extension area is ext (ext_bytes, 0: none) pass
 * f? Reads only inside the area, which a hostile publisher may have
 * filled: an area that does not parse never passes.
 */
bool filter_pass(const struct filter *f, const void *ext, uint32_t ext_bytes);

#endif
