/*
 * hist.c - the cold half of the latency histogram: reset, merge, bucket bounds
 * and percentile extraction. Recording is inline in hist.h. Layout and
 * precision are described there. Single-threaded: callers own the histograms.
 */
#include "hist.h"

#include <string.h>

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = UINT64_MAX;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned i;

	if (!src->count)
		return;
	for (i = 0; i < HIST_NBUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

uint64_t hist_bucket_low(unsigned idx)
{
	unsigned shift;

	if (idx < HIST_SUB_COUNT)
		return idx;
	shift = idx / HIST_SUB_COUNT - 1;
	return (uint64_t)(idx - shift * HIST_SUB_COUNT) << shift;
}

uint64_t hist_bucket_high(unsigned idx)
{
	unsigned shift;

	if (idx < HIST_SUB_COUNT)
		return idx;
	shift = idx / HIST_SUB_COUNT - 1;
	return ((uint64_t)(idx - shift * HIST_SUB_COUNT + 1) << shift) - 1;
}

/* ceil(pct / 100 * count), at least 1, forgiving the rounding of pct / 100. */
static uint64_t hist_rank(uint64_t count, double pct)
{
	double r = pct / 100.0 * (double)count;
	uint64_t rank = (uint64_t)r;

	if ((double)rank < r - r * 1e-12)
		rank++;
	if (rank < 1)
		rank = 1;
	return rank > count ? count : rank;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
	uint64_t rank, seen = 0, v;
	unsigned i;

	if (!h->count)
		return 0;
	if (pct <= 0.0)
		return h->min_ns;
	if (pct >= 100.0)
		return h->max_ns;
	rank = hist_rank(h->count, pct);
	for (i = 0; i < HIST_NBUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank)
			break;
	}
	/* The top bucket has no upper bound, and i == HIST_NBUCKETS only if
	 * counts disagree with count (a caller's bug): the exact max is honest. */
	if (i >= HIST_NBUCKETS - 1)
		return h->max_ns;
	v = hist_bucket_high(i);
	if (v > h->max_ns)
		v = h->max_ns;
	if (v < h->min_ns)
		v = h->min_ns;
	return v;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum_ns / (double)h->count : 0.0;
}

void hist_summarize(const struct hist *h, struct hist_summary *s)
{
	memset(s, 0, sizeof(*s));
	if (!h->count)
		return;
	s->count = h->count;
	s->min_ns = h->min_ns;
	s->p50_ns = hist_percentile(h, 50.0);
	s->p90_ns = hist_percentile(h, 90.0);
	s->p99_ns = hist_percentile(h, 99.0);
	s->p999_ns = hist_percentile(h, 99.9);
	s->p9999_ns = hist_percentile(h, 99.99);
	s->max_ns = h->max_ns;
	s->mean_ns = hist_mean(h);
}
