/*
 * test_crc32c.c - CRC-32C (shm/crc32c.c): the published check value, the
 * RFC 3720 test vectors, both implementations agreeing on every length and
 * alignment, and a checksum fed in pieces equal to the whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crc32c.h"

static void test_check_values(void **state)
{
	(void)state;
	unsigned char buf[32];

	assert_int_equal(crc32c_update(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_update_table(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_update(0, "", 0), 0);
	/* RFC 3720 B.4: 32 bytes of zeros, of ones, ascending */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(crc32c_update(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(crc32c_update(0, buf, sizeof(buf)), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	assert_int_equal(crc32c_update(0, buf, sizeof(buf)), 0x46DD794Eu);
	assert_int_equal(crc32c_update_table(0, buf, sizeof(buf)), 0x46DD794Eu);
}

static void test_implementations_agree_at_every_length_and_alignment(void **state)
{
	(void)state;
	unsigned char buf[300];
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(x >> 16);
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len++)
			assert_int_equal(crc32c_update(0, buf + off, len),
					 crc32c_update_table(0, buf + off, len));
}

static void test_pieces_give_the_checksum_of_the_whole(void **state)
{
	(void)state;
	const char *s = "a journal record, checksummed in two pieces";
	size_t n = strlen(s);
	uint32_t whole = crc32c_update(0, s, n);

	for (size_t cut = 0; cut <= n; cut++) {
		assert_int_equal(crc32c_update(crc32c_update(0, s, cut), s + cut, n - cut), whole);
		assert_int_equal(
		    crc32c_update_table(crc32c_update_table(0, s, cut), s + cut, n - cut), whole);
	}
	assert_int_not_equal(crc32c_update(0, s, n - 1), whole);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_values),
	    cmocka_unit_test(test_implementations_agree_at_every_length_and_alignment),
	    cmocka_unit_test(test_pieces_give_the_checksum_of_the_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
