/*
 * test_strerror.c - shmq_strerror() and shmq_errname(): a distinct,
 * non-empty sentence and name for every code, negative or positive, and
 * something sensible for values outside enum shmq_err.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "shmq.h"

static void test_every_code_has_a_distinct_sentence(void **state)
{
	(void)state;
	for (int i = 0; i < SHMQ_ERR_COUNT; i++) {
		const char *t = shmq_strerror(-i);

		assert_non_null(t);
		assert_true(strlen(t) >= 5);
		assert_null(strstr(t, "unknown"));
		for (int k = 0; k < i; k++)
			assert_string_not_equal(t, shmq_strerror(-k));
	}
}

static void test_every_code_has_a_distinct_name_that_spells_it(void **state)
{
	(void)state;
	assert_string_equal(shmq_errname(0), "SHMQ_OK");
	assert_string_equal(shmq_errname(-SHMQ_ENOENT), "SHMQ_ENOENT");
	assert_string_equal(shmq_errname(-SHMQ_ESTATE), "SHMQ_ESTATE");
	for (int i = 1; i < SHMQ_ERR_COUNT; i++) {
		const char *n = shmq_errname(-i);

		assert_non_null(n);
		assert_true(!strncmp(n, "SHMQ_E", 6) && strlen(n) > 6);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(n, shmq_errname(-k));
	}
}

static void test_positive_and_negative_codes_read_the_same(void **state)
{
	(void)state;
	for (int i = 0; i < SHMQ_ERR_COUNT; i++) {
		assert_string_equal(shmq_strerror(i), shmq_strerror(-i));
		assert_string_equal(shmq_errname(i), shmq_errname(-i));
	}
}

static void test_out_of_range_codes_get_a_generic_text(void **state)
{
	const int bad[] = {SHMQ_ERR_COUNT, -SHMQ_ERR_COUNT, 1000,	-1000,
			   INT_MAX,	   INT_MIN,	    INT_MIN + 1};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *t = shmq_strerror(bad[i]), *n = shmq_errname(bad[i]);

		assert_non_null(t);
		assert_non_null(n);
		assert_true(strlen(t) > 0 && strlen(n) > 0);
		assert_non_null(strstr(t, "unknown"));
		/* never the text of a real code */
		for (int k = 0; k < SHMQ_ERR_COUNT; k++) {
			assert_string_not_equal(t, shmq_strerror(k));
			assert_string_not_equal(n, shmq_errname(k));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_code_has_a_distinct_sentence),
	    cmocka_unit_test(test_every_code_has_a_distinct_name_that_spells_it),
	    cmocka_unit_test(test_positive_and_negative_codes_read_the_same),
	    cmocka_unit_test(test_out_of_range_codes_get_a_generic_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
