/*
 * test_filter.c - message filters (libclient/filter.c) on extension areas
 * written by shm/ext.c: each term kind, ALL and ANY, what filter_build()
 * refuses, the copy outliving the caller's strings, and areas that do not
 * parse (every byte of an honest one flipped) never passing or crashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ext.h"
#include "filter.h"

struct area {
	uint8_t b[EXT_MAX_BYTES];
	uint32_t n;
};

static void area_make(struct area *a, const char *key, const char *ctype, const char *hname,
		      const char *hval)
{
	struct ext_kv kv = {hname, hname ? (uint32_t)strlen(hname) : 0, hval,
			    hval ? (uint32_t)strlen(hval) : 0};
	struct ext_in in = {0};

	if (key) {
		in.present |= EXT_KEY;
		in.key = key;
		in.key_len = (uint32_t)strlen(key);
	}
	if (ctype) {
		in.present |= EXT_CONTENT_TYPE;
		in.content_type = ctype;
		in.content_type_len = (uint32_t)strlen(ctype);
	}
	if (hname) {
		in.present |= EXT_HEADERS;
		in.headers = &kv;
		in.nheaders = 1;
	}
	assert_int_equal(ext_size(&in, &a->n), 0);
	ext_write(a->b, &in, a->n);
}

static bool passes(const struct shmq_filter_term *t, uint32_t n, uint32_t match,
		   const struct area *a)
{
	struct shmq_filter f = {t, n, match};
	struct filter *built;
	bool r;

	assert_int_equal(filter_build(&f, &built), 0);
	r = filter_pass(built, a->b, a->n);
	filter_free(built);
	return r;
}

static void test_key_terms(void **state)
{
	struct area a, none = {.n = 0};
	struct shmq_filter_term eq = {.kind = SHMQ_FILTER_KEY_EQ, .value = "eu-1", .value_len = 4};
	struct shmq_filter_term pre = {
	    .kind = SHMQ_FILTER_KEY_PREFIX, .value = "eu", .value_len = 2};
	struct shmq_filter_term h = {.kind = SHMQ_FILTER_KEY_HASH, .buckets = 16};

	(void)state;
	area_make(&a, "eu-1", NULL, NULL, NULL);
	assert_true(passes(&eq, 1, SHMQ_FILTER_ALL, &a));
	assert_true(passes(&pre, 1, SHMQ_FILTER_ALL, &a));
	h.lo = h.hi = ext_hash("eu-1", 4) % 16;
	assert_true(passes(&h, 1, SHMQ_FILTER_ALL, &a));
	h.lo = h.hi = (h.lo + 1) % 16;
	assert_false(passes(&h, 1, SHMQ_FILTER_ALL, &a));
	area_make(&a, "eu-10", NULL, NULL, NULL);
	assert_false(passes(&eq, 1, SHMQ_FILTER_ALL, &a));
	area_make(&a, "e", NULL, NULL, NULL);
	assert_false(passes(&pre, 1, SHMQ_FILTER_ALL, &a));
	assert_false(passes(&eq, 1, SHMQ_FILTER_ALL, &none)); /* no fields at all */
}

static void test_header_and_content_type_terms(void **state)
{
	struct area a;
	struct shmq_filter_term heq = {
	    .kind = SHMQ_FILTER_HEADER_EQ, .name = "region", .value = "eu", .value_len = 2};
	struct shmq_filter_term has = {.kind = SHMQ_FILTER_HEADER_HAS, .name = "region"};
	struct shmq_filter_term ct = {
	    .kind = SHMQ_FILTER_CONTENT_TYPE, .value = "text/plain", .value_len = 10};
	struct shmq_filter_term empty = {.kind = SHMQ_FILTER_HEADER_EQ, .name = "region"};

	(void)state;
	area_make(&a, NULL, "text/plain", "region", "eu");
	assert_true(passes(&heq, 1, SHMQ_FILTER_ALL, &a));
	assert_true(passes(&has, 1, SHMQ_FILTER_ALL, &a));
	assert_true(passes(&ct, 1, SHMQ_FILTER_ALL, &a));
	assert_false(passes(&empty, 1, SHMQ_FILTER_ALL, &a));
	area_make(&a, NULL, "text/plainx", "region", "");
	assert_false(passes(&heq, 1, SHMQ_FILTER_ALL, &a));
	assert_true(passes(&has, 1, SHMQ_FILTER_ALL, &a));
	assert_true(passes(&empty, 1, SHMQ_FILTER_ALL, &a)); /* equal to the empty value */
	assert_false(passes(&ct, 1, SHMQ_FILTER_ALL, &a));
}

static void test_all_needs_every_term_any_one(void **state)
{
	struct area a;
	struct shmq_filter_term t[2] = {
	    {.kind = SHMQ_FILTER_KEY_EQ, .value = "k", .value_len = 1},
	    {.kind = SHMQ_FILTER_HEADER_HAS, .name = "x"},
	};

	(void)state;
	area_make(&a, "k", NULL, NULL, NULL);
	assert_false(passes(t, 2, SHMQ_FILTER_ALL, &a));
	assert_true(passes(t, 2, SHMQ_FILTER_ANY, &a));
	area_make(&a, "k", NULL, "x", "1");
	assert_true(passes(t, 2, SHMQ_FILTER_ALL, &a));
}

static void test_build_refuses_bad_filters(void **state)
{
	struct shmq_filter_term ok = {.kind = SHMQ_FILTER_KEY_EQ, .value = "k", .value_len = 1};
	struct shmq_filter_term bad[] = {
	    {.kind = 0},
	    {.kind = 7},
	    {.kind = SHMQ_FILTER_KEY_EQ},
	    {.kind = SHMQ_FILTER_KEY_PREFIX, .value = "k", .value_len = EXT_KEY_MAX + 1},
	    {.kind = SHMQ_FILTER_KEY_HASH, .buckets = 0},
	    {.kind = SHMQ_FILTER_KEY_HASH, .buckets = 4, .lo = 3, .hi = 2},
	    {.kind = SHMQ_FILTER_KEY_HASH, .buckets = 4, .lo = 0, .hi = 4},
	    {.kind = SHMQ_FILTER_HEADER_HAS},
	    {.kind = SHMQ_FILTER_HEADER_HAS, .name = ""},
	    {.kind = SHMQ_FILTER_HEADER_EQ, .name = "a", .value_len = 3},
	    {.kind = SHMQ_FILTER_CONTENT_TYPE, .value = "x", .value_len = 256},
	};
	struct shmq_filter_term many[SHMQ_FILTER_MAX_TERMS + 1];
	struct shmq_filter f;
	struct filter *out;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = (struct shmq_filter){&bad[i], 1, SHMQ_FILTER_ALL};
		assert_int_equal(filter_build(&f, &out), -SHMQ_EFILTER);
	}
	f = (struct shmq_filter){&ok, 0, SHMQ_FILTER_ALL};
	assert_int_equal(filter_build(&f, &out), -SHMQ_EFILTER);
	f = (struct shmq_filter){&ok, 1, 2};
	assert_int_equal(filter_build(&f, &out), -SHMQ_EFILTER);
	for (size_t i = 0; i < SHMQ_FILTER_MAX_TERMS + 1; i++)
		many[i] = ok;
	f = (struct shmq_filter){many, SHMQ_FILTER_MAX_TERMS + 1, SHMQ_FILTER_ALL};
	assert_int_equal(filter_build(&f, &out), -SHMQ_EFILTER);
	assert_int_equal(filter_build(NULL, &out), -SHMQ_EFILTER);
}

static void test_copy_outlives_the_callers_strings(void **state)
{
	char *name = strdup("region"), *val = strdup("eu");
	struct shmq_filter_term t = {
	    .kind = SHMQ_FILTER_HEADER_EQ, .name = name, .value = val, .value_len = 2};
	struct shmq_filter f = {&t, 1, SHMQ_FILTER_ALL};
	struct filter *built, *dup;
	struct area a;

	(void)state;
	assert_int_equal(filter_build(&f, &built), 0);
	memset(name, 'x', 6);
	memset(val, 'x', 2);
	free(name);
	free(val);
	dup = filter_dup(built);
	filter_free(built);
	area_make(&a, NULL, NULL, "region", "eu");
	assert_true(filter_pass(dup, a.b, a.n));
	filter_free(dup);
}

static void test_garbage_areas_never_pass(void **state)
{
	struct shmq_filter_term t = {.kind = SHMQ_FILTER_HEADER_HAS, .name = "region"};
	struct shmq_filter f = {&t, 1, SHMQ_FILTER_ALL};
	struct filter *built;
	struct area a;
	uint8_t *copy;

	(void)state;
	assert_int_equal(filter_build(&f, &built), 0);
	area_make(&a, "key", "ct", "region", "eu");
	for (uint32_t i = 0; i < a.n; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			copy = malloc(a.n); /* exact size: a read past it is caught by ASan */
			memcpy(copy, a.b, a.n);
			copy[i] ^= (uint8_t)(1u << bit);
			(void)filter_pass(built, copy, a.n);
			free(copy);
		}
	}
	assert_false(filter_pass(built, a.b, a.n - 8)); /* truncated: does not parse */
	assert_false(filter_pass(built, NULL, 8));
	filter_free(built);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_terms),
	    cmocka_unit_test(test_header_and_content_type_terms),
	    cmocka_unit_test(test_all_needs_every_term_any_one),
	    cmocka_unit_test(test_build_refuses_bad_filters),
	    cmocka_unit_test(test_copy_outlives_the_callers_strings),
	    cmocka_unit_test(test_garbage_areas_never_pass),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
