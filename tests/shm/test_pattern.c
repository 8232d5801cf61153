/*
 * test_pattern.c - subject patterns (shm/pattern.c): NATS rules for `*` and
 * `>`, what is refused and why, and the wire copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pattern.h"
#include "shmq_err.h"

static void test_star_matches_exactly_one_token(void **state)
{
	(void)state;
	assert_true(pattern_match("orders.*.created", "orders.eu.created"));
	assert_false(pattern_match("orders.*.created", "orders.created"));
	assert_false(pattern_match("orders.*.created", "orders.eu.x.created"));
	assert_true(pattern_match("*", "orders"));
	assert_false(pattern_match("*", "orders.eu"));
	assert_true(pattern_match("*.*", "a.b"));
	assert_false(pattern_match("*.*", "a"));
}

static void test_greater_than_matches_one_or_more_trailing_tokens(void **state)
{
	(void)state;
	assert_true(pattern_match("orders.>", "orders.eu"));
	assert_true(pattern_match("orders.>", "orders.eu.created.x"));
	assert_false(pattern_match("orders.>", "orders"));
	assert_false(pattern_match("orders.>", "ordersx.eu"));
	assert_true(pattern_match(">", "a"));
	assert_true(pattern_match(">", "a.b.c"));
	assert_true(pattern_match("*.>", "a.b"));
	assert_false(pattern_match("*.>", "a"));
}

static void test_literal_tokens_match_whole_tokens_only(void **state)
{
	(void)state;
	assert_true(pattern_match("a.b", "a.b"));
	assert_false(pattern_match("a.b", "a.bc"));
	assert_false(pattern_match("a.bc", "a.b"));
	assert_false(pattern_match("a.b", "a.b.c"));
	assert_false(pattern_match("a.b.c", "a.b"));
}

static void test_malformed_patterns_are_refused_with_a_reason(void **state)
{
	const char *const bad[] = {"",	 "a..b", ".a",	"a.",  "a.>.b", ">.a", "a*",
				   "*a", "a.b>", "a b", "a/b", "**",	">>",  "a.*>"};
	char longp[260];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pattern_check(bad[i]), -SHMQ_EPATTERN);
		assert_string_not_equal(pattern_why(bad[i]), "ok");
	}
	assert_int_equal(pattern_check(NULL), -SHMQ_EPATTERN);
	assert_string_equal(pattern_why("a.>.b"), "'>' is not the last token");
	assert_string_equal(pattern_why("a..b"), "empty token (two dots, or a dot at either end)");
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	assert_string_equal(pattern_why(longp), "pattern longer than a channel name");
	assert_int_equal(pattern_check(longp), -SHMQ_EPATTERN);
	longp[200] = 0; /* a name of the longest length is a valid pattern */
	assert_int_equal(pattern_check(longp), 0);
}

static void test_valid_patterns_are_accepted(void **state)
{
	const char *const good[] = {"a", "*", ">", "a.*", "a.>", "*.*.>", "A-b_9.*.x", "a.b.c"};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(pattern_check(good[i]), 0);
}

static void test_wire_copy_refuses_an_unterminated_pattern(void **state)
{
	char wire[8] = {'a', '.', '*', 0}, out[16];

	(void)state;
	assert_int_equal(pattern_from_wire(wire, sizeof(wire), out, sizeof(out)), 0);
	assert_string_equal(out, "a.*");
	memset(wire, 'a', sizeof(wire));
	assert_int_equal(pattern_from_wire(wire, sizeof(wire), out, sizeof(out)), -SHMQ_EPATTERN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_star_matches_exactly_one_token),
	    cmocka_unit_test(test_greater_than_matches_one_or_more_trailing_tokens),
	    cmocka_unit_test(test_literal_tokens_match_whole_tokens_only),
	    cmocka_unit_test(test_malformed_patterns_are_refused_with_a_reason),
	    cmocka_unit_test(test_valid_patterns_are_accepted),
	    cmocka_unit_test(test_wire_copy_refuses_an_unterminated_pattern),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
