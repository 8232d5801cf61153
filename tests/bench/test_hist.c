/*
 * test_hist.c - unit tests for bench/hist.c against distributions whose
 * percentiles are known exactly: constant, small exact values, uniform,
 * two-point, and merged halves. Every reported percentile must lie in
 * [true value, true value * (1 + 1/64)] and never outside [min, max].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"

static struct hist *hist_new(void)
{
	struct hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	hist_reset(h);
	return h;
}

/* Deterministic xorshift64*, so failures reproduce. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* got is the true value rounded up to its bucket's top: at most 1/64 above. */
static void assert_within_precision(uint64_t got, uint64_t want)
{
	assert_true(got >= want);
	assert_true(got - want <= want / HIST_SUB_COUNT);
}

static void test_hist_empty_reports_zero(void **state)
{
	struct hist *h = hist_new();
	struct hist_summary s;

	(void)state;
	hist_summarize(h, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.p50_ns, 0);
	assert_int_equal(s.max_ns, 0);
	assert_int_equal(hist_percentile(h, 99.0), 0);
	assert_true(hist_mean(h) == 0.0);
	free(h);
}

static void test_hist_constant_is_exact_at_every_percentile(void **state)
{
	struct hist *h = hist_new();
	struct hist_summary s;
	int i;

	(void)state;
	for (i = 0; i < 10000; i++)
		hist_record(h, 12345);
	hist_summarize(h, &s);
	assert_int_equal(s.count, 10000);
	assert_int_equal(s.min_ns, 12345);
	assert_int_equal(s.p50_ns, 12345);
	assert_int_equal(s.p90_ns, 12345);
	assert_int_equal(s.p99_ns, 12345);
	assert_int_equal(s.p999_ns, 12345);
	assert_int_equal(s.p9999_ns, 12345);
	assert_int_equal(s.max_ns, 12345);
	assert_true(s.mean_ns == 12345.0);
	free(h);
}

static void test_hist_values_below_64_are_exact(void **state)
{
	struct hist *h = hist_new();
	uint64_t v;

	(void)state;
	for (v = 0; v < HIST_SUB_COUNT; v++)
		hist_record(h, v);
	/* rank ceil(p * 64 / 100) holds value rank - 1 */
	assert_int_equal(hist_percentile(h, 50.0), 31);
	assert_int_equal(hist_percentile(h, 25.0), 15);
	assert_int_equal(hist_percentile(h, 0.0), 0);
	assert_int_equal(hist_percentile(h, 100.0), 63);
	free(h);
}

static void test_hist_uniform_percentiles_within_precision(void **state)
{
	struct hist *h = hist_new();
	struct hist_summary s;
	uint64_t v;

	(void)state;
	for (v = 1; v <= 100000; v++)
		hist_record(h, v);
	hist_summarize(h, &s);
	assert_int_equal(s.count, 100000);
	assert_int_equal(s.min_ns, 1);
	assert_int_equal(s.max_ns, 100000);
	assert_true(s.mean_ns == 50000.5);
	assert_within_precision(s.p50_ns, 50000);
	assert_within_precision(s.p90_ns, 90000);
	assert_within_precision(s.p99_ns, 99000);
	assert_within_precision(s.p999_ns, 99900);
	assert_within_precision(s.p9999_ns, 99990);
	assert_within_precision(hist_percentile(h, 10.0), 10000);
	assert_within_precision(hist_percentile(h, 0.01), 10);
	free(h);
}

static void test_hist_two_point_splits_at_its_weight(void **state)
{
	struct hist *h = hist_new();
	int i;

	(void)state;
	for (i = 0; i < 900; i++)
		hist_record(h, 100);
	for (i = 0; i < 100; i++)
		hist_record(h, 1000000);
	assert_int_equal(hist_percentile(h, 50.0), 100);
	assert_int_equal(hist_percentile(h, 90.0), 100); /* rank 900 is the last 100 */
	assert_within_precision(hist_percentile(h, 90.1), 1000000);
	assert_int_equal(hist_percentile(h, 99.0), 1000000); /* clamped to the exact max */
	assert_int_equal(hist_percentile(h, 99.99), 1000000);
	assert_true(hist_mean(h) == (900.0 * 100 + 100.0 * 1000000) / 1000.0);
	free(h);
}

static void test_hist_merge_equals_recording_everything(void **state)
{
	struct hist *all = hist_new(), *a = hist_new(), *b = hist_new();
	uint64_t seed = 42, v;
	int i;

	(void)state;
	for (i = 0; i < 200000; i++) {
		v = rng_next(&seed) >> (24 + (i % 24)); /* log-spread, < 2^40 */
		hist_record(all, v);
		hist_record(i & 1 ? a : b, v);
	}
	hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->min_ns, all->min_ns);
	assert_int_equal(a->max_ns, all->max_ns);
	assert_int_equal(a->sum_ns, all->sum_ns);
	assert_memory_equal(a->counts, all->counts, sizeof(all->counts));
	assert_int_equal(hist_percentile(a, 99.9), hist_percentile(all, 99.9));
	free(all);
	free(a);
	free(b);
}

static void test_hist_merge_of_empty_changes_nothing(void **state)
{
	struct hist *a = hist_new(), *empty = hist_new(), *copy = hist_new();

	(void)state;
	hist_record(a, 7);
	hist_record(a, 7000);
	memcpy(copy, a, sizeof(*a));
	hist_merge(a, empty);
	assert_memory_equal(a, copy, sizeof(*a));
	hist_merge(empty, a); /* into an empty one: min comes from src */
	assert_int_equal(empty->min_ns, 7);
	assert_int_equal(empty->max_ns, 7000);
	free(a);
	free(empty);
	free(copy);
}

static void test_hist_buckets_are_contiguous_and_narrow(void **state)
{
	uint64_t lo, hi;
	unsigned i;

	(void)state;
	assert_int_equal(hist_bucket_low(0), 0);
	for (i = 1; i < HIST_NBUCKETS; i++) {
		lo = hist_bucket_low(i);
		hi = hist_bucket_high(i);
		assert_int_equal(lo, hist_bucket_high(i - 1) + 1);
		assert_true(hi >= lo);
		if (lo >= HIST_SUB_COUNT)
			assert_true(hi - lo + 1 <= lo / HIST_SUB_COUNT);
		assert_int_equal(hist_bucket_index(lo), i);
		assert_int_equal(hist_bucket_index(hi), i);
	}
	assert_int_equal(hist_bucket_high(HIST_NBUCKETS - 1), HIST_MAX_NS - 1);
}

static void test_hist_percentile_precision_bound_over_range(void **state)
{
	struct hist *h = hist_new();
	uint64_t seed = 7, v;
	int i;

	(void)state;
	for (i = 0; i < 5000; i++) {
		v = rng_next(&seed) >> (22 + i % 42); /* 1 ns .. 2^42 */
		hist_reset(h);
		hist_record(h, v);
		hist_record(h, HIST_MAX_NS - 1); /* a larger max, so no clamping hides the bucket */
		if (v == HIST_MAX_NS - 1)
			continue;
		assert_within_precision(hist_percentile(h, 50.0), v);
	}
	free(h);
}

static void test_hist_huge_values_keep_exact_max(void **state)
{
	struct hist *h = hist_new();
	uint64_t big = (uint64_t)1 << 50;

	(void)state;
	hist_record(h, 10);
	hist_record(h, big);
	assert_int_equal(hist_bucket_index(big), HIST_NBUCKETS - 1);
	assert_int_equal(hist_percentile(h, 100.0), big);
	assert_int_equal(hist_percentile(h, 99.0), big); /* the top bucket reports the max */
	assert_int_equal(hist_percentile(h, 50.0), 10);
	free(h);
}

static void test_hist_reset_empties(void **state)
{
	struct hist *h = hist_new(), *fresh = hist_new();

	(void)state;
	hist_record(h, 1);
	hist_record(h, 1 << 20);
	hist_reset(h);
	assert_memory_equal(h, fresh, sizeof(*h));
	assert_int_equal(hist_percentile(h, 50.0), 0);
	free(h);
	free(fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hist_empty_reports_zero),
	    cmocka_unit_test(test_hist_constant_is_exact_at_every_percentile),
	    cmocka_unit_test(test_hist_values_below_64_are_exact),
	    cmocka_unit_test(test_hist_uniform_percentiles_within_precision),
	    cmocka_unit_test(test_hist_two_point_splits_at_its_weight),
	    cmocka_unit_test(test_hist_merge_equals_recording_everything),
	    cmocka_unit_test(test_hist_merge_of_empty_changes_nothing),
	    cmocka_unit_test(test_hist_buckets_are_contiguous_and_narrow),
	    cmocka_unit_test(test_hist_percentile_precision_bound_over_range),
	    cmocka_unit_test(test_hist_huge_values_keep_exact_max),
	    cmocka_unit_test(test_hist_reset_empties),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
