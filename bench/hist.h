/*
 * hist.h - a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Values are nanoseconds. Below 64 every value has its own bucket; above,
 * each power of two [2^k, 2^(k+1)) is split into 64 equal sub-buckets, so a
 * bucket is never wider than 1/64 of its lower bound: a reported percentile
 * is at most 1.6 % above the true sample (it is the bucket's highest value,
 * clamped to the exact max). Values of HIST_MAX_NS (~73 min) and above land in
 * the top bucket; min, max and the sum are kept exactly.
 *
 * A struct hist is a plain fixed-size block with no pointers, so it may live in
 * a shared mapping. It is not thread safe: one writer at a time, and merge
 * histograms only after their writers are done.
 */
#ifndef SHMQ_BENCH_HIST_H
#define SHMQ_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS) /* sub-buckets per power of two */
#define HIST_MAX_BITS 42		     /* values below 2^42 ns are bucketed */
#define HIST_MAX_NS ((uint64_t)1 << HIST_MAX_BITS)
#define HIST_NBUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB_COUNT)

struct hist {
	uint64_t count;
	uint64_t min_ns; /* UINT64_MAX while empty */
	uint64_t max_ns;
	uint64_t sum_ns; /* wraps only after 584 years of summed latency */
	uint64_t counts[HIST_NBUCKETS];
};

/* The figures a benchmark reports; all zero for an empty histogram. */
struct hist_summary {
	uint64_t count;
	uint64_t min_ns;
	uint64_t p50_ns;
	uint64_t p90_ns;
	uint64_t p99_ns;
	uint64_t p999_ns;
	uint64_t p9999_ns;
	uint64_t max_ns;
	double mean_ns;
};

/* The bucket that holds value_ns. */
static inline unsigned hist_bucket_index(uint64_t value_ns)
{
	unsigned msb, shift;

	if (value_ns >= HIST_MAX_NS)
		return HIST_NBUCKETS - 1;
	if (value_ns < HIST_SUB_COUNT)
		return (unsigned)value_ns;
	msb = 63u - (unsigned)__builtin_clzll(value_ns);
	shift = msb - HIST_SUB_BITS;
	/* (value >> shift) is in [64, 128): buckets of 2^shift ns from shift * 64 + 64 on */
	return shift * HIST_SUB_COUNT + (unsigned)(value_ns >> shift);
}

/* Count one value. Called on measurement hot paths: a few instructions. */
static inline void hist_record(struct hist *h, uint64_t value_ns)
{
	h->counts[hist_bucket_index(value_ns)]++;
	h->count++;
	h->sum_ns += value_ns;
	if (value_ns < h->min_ns)
		h->min_ns = value_ns;
	if (value_ns > h->max_ns)
		h->max_ns = value_ns;
}

/* Empty h. A zero-filled struct hist must be reset before use. */
void hist_reset(struct hist *h);

/* Add every value counted in src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* Lowest and highest value that fall into bucket idx. */
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_high(unsigned idx);

/*
 * The value at or below which pct percent (0..100) of the values lie: the
 * highest value of the bucket holding the sample of rank ceil(pct/100 * count),
 * clamped to [min, max]. 0 for an empty histogram; pct 0 gives min, 100 gives max.
 */
uint64_t hist_percentile(const struct hist *h, double pct);

/* The exact mean, 0 when empty. */
double hist_mean(const struct hist *h);

/* Fill s with count, min, p50, p90, p99, p99.9, p99.99, max and mean. */
void hist_summarize(const struct hist *h, struct hist_summary *s);

#endif
