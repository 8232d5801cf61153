/*
 * test_size.c - size_parse() (shm/size.c): every unit and suffix, the
 * largest sizes that fit, one past them, and each kind of malformed input,
 * with syntax (-SHMQ_EINVAL) told apart from overflow (-SHMQ_ELIMIT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "shmq_err.h"
#include "size.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aull

static uint64_t parsed(const char *s)
{
	uint64_t v = SENTINEL;

	if (size_parse(s, &v))
		fail_msg("size_parse(\"%s\") failed", s);
	return v;
}

/* size_parse(s) fails with err and leaves *out alone. */
static void refused(const char *s, int err)
{
	uint64_t v = SENTINEL;
	int got = size_parse(s, &v);

	if (got != err)
		fail_msg("size_parse(\"%s\") = %d, expected %d", s ? s : "(null)", got, err);
	assert_int_equal(v, SENTINEL);
}

static void test_size_plain_numbers_are_bytes(void **state)
{
	(void)state;
	assert_int_equal(parsed("0"), 0);
	assert_int_equal(parsed("1"), 1);
	assert_int_equal(parsed("4096"), 4096);
	assert_int_equal(parsed("007"), 7);
	assert_int_equal(parsed("512B"), 512);
	assert_int_equal(parsed("512b"), 512);
}

static void test_size_units_are_binary_multiples_in_either_case(void **state)
{
	(void)state;
	assert_int_equal(parsed("1K"), 1024);
	assert_int_equal(parsed("1k"), 1024);
	assert_int_equal(parsed("64K"), 65536);
	assert_int_equal(parsed("4M"), 4u << 20);
	assert_int_equal(parsed("4m"), 4u << 20);
	assert_int_equal(parsed("2G"), 2ull << 30);
	assert_int_equal(parsed("1T"), 1ull << 40);
	assert_int_equal(parsed("3t"), 3ull << 40);
	assert_int_equal(parsed("0K"), 0);
}

static void test_size_units_take_b_or_ib(void **state)
{
	(void)state;
	assert_int_equal(parsed("4MB"), 4u << 20);
	assert_int_equal(parsed("4MiB"), 4u << 20);
	assert_int_equal(parsed("4mib"), 4u << 20);
	assert_int_equal(parsed("4Mb"), 4u << 20);
	assert_int_equal(parsed("1KiB"), 1024);
	assert_int_equal(parsed("1GB"), 1ull << 30);
	assert_int_equal(parsed("1TiB"), 1ull << 40);
}

static void test_size_largest_values_fit_and_one_more_overflows(void **state)
{
	(void)state;
	assert_int_equal(parsed("18446744073709551615"), UINT64_MAX);
	refused("18446744073709551616", -SHMQ_ELIMIT);
	refused("99999999999999999999999", -SHMQ_ELIMIT);
	assert_int_equal(parsed("16777215T"), 16777215ull << 40);
	refused("16777216T", -SHMQ_ELIMIT);
	assert_int_equal(parsed("17179869183G"), 17179869183ull << 30);
	refused("17179869184G", -SHMQ_ELIMIT);
	assert_int_equal(parsed("17592186044415M"), 17592186044415ull << 20);
	refused("17592186044416M", -SHMQ_ELIMIT);
	assert_int_equal(parsed("18014398509481983K"), 18014398509481983ull << 10);
	refused("18014398509481984KiB", -SHMQ_ELIMIT);
}

static void test_size_malformed_input_is_a_syntax_error(void **state)
{
	static const char *const bad[] = {
	    "",	    "K",    "B",    "iB",  "-1",  "+1",	   " 1",    "1 ",    "1 K",   "1.5M",
	    "1e6",  "0x10", "4P",   "4E",  "4KK", "4iB",   "4Ki",   "4KBB",  "4KiBB", "4BB",
	    "4MiX", "4Bi",  "4KB ", "4\n", "abc", "1,000", "4kib!", "1_000",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i], -SHMQ_EINVAL);
	refused(NULL, -SHMQ_EINVAL);
}

static void test_size_syntax_error_wins_over_overflow(void **state)
{
	(void)state;
	refused("99999999999999999999999X", -SHMQ_EINVAL);
	refused("-99999999999999999999999", -SHMQ_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size_plain_numbers_are_bytes),
	    cmocka_unit_test(test_size_units_are_binary_multiples_in_either_case),
	    cmocka_unit_test(test_size_units_take_b_or_ib),
	    cmocka_unit_test(test_size_largest_values_fit_and_one_more_overflows),
	    cmocka_unit_test(test_size_malformed_input_is_a_syntax_error),
	    cmocka_unit_test(test_size_syntax_error_wins_over_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
