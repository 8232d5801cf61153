/*
 * test_ext.c - tests of the extension area codec (shm/ext.c): round trips of
 * each field alone and all together, every size limit of ext_size(), each
 * kind of forged or torn area ext_parse() must refuse, the user header
 * lookups, the hash, and a seeded fuzz loop that feeds mutated encodings and
 * random buffers of exact size to the parser (run it under ASan and UBSan).
 * SHMQ_SEED replays a fuzz run; SHMQ_FUZZ_ITERS changes its length.
 * Pure functions, no shared memory needed. Suite: unit.
 */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ext.h"

#define FUZZ_SEED 0x6578742d66757a7aull /* "ext-fuzz" */
#define FUZZ_ITERS 200000u

static alignas(8) uint8_t area[EXT_MAX_BYTES + 64];

static const struct ext_kv hdrs3[3] = {
    {.name = "trace", .name_len = 5, .value = "abc", .value_len = 3},
    {.name = "empty", .name_len = 5, .value = NULL, .value_len = 0},
    {.name = "trace", .name_len = 5, .value = "second", .value_len = 6},
};

static struct ext_in all_in(void)
{
	return (struct ext_in){
	    .present = EXT_KNOWN_MASK,
	    .msg_id = 0x0102030405060708ull,
	    .corr_id = 0xfedcba9876543210ull,
	    .deliver_at_ns = 1700000000123456789ull,
	    .expiry_ns = UINT64_MAX,
	    .key = "order-42",
	    .key_len = 8,
	    .reply_to = "replies.client7",
	    .reply_to_len = 15,
	    .content_type = "application/json",
	    .content_type_len = 16,
	    .headers = hdrs3,
	    .nheaders = 3,
	};
}

/* Content type "json" alone: 8 head, 2 len, 4 bytes, 2 padding. */
static struct ext_in json_in(void)
{
	return (struct ext_in){
	    .present = EXT_CONTENT_TYPE, .content_type = "json", .content_type_len = 4};
}

static uint32_t encode(const struct ext_in *in, uint8_t *dst)
{
	uint32_t bytes = 0xdead;

	assert_int_equal(ext_size(in, &bytes), 0);
	assert_true(bytes % 8 == 0 && bytes <= EXT_MAX_BYTES);
	ext_write(dst, in, bytes);
	return bytes;
}

static int size_of(const struct ext_in *in)
{
	uint32_t bytes;
	int err = ext_size(in, &bytes);

	return err ? err : (int)bytes;
}

static void put16(uint8_t *p, uint32_t off, uint32_t v)
{
	uint16_t w = (uint16_t)v;

	memcpy(p + off, &w, sizeof(w));
}

static void put32(uint8_t *p, uint32_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static uint32_t off_of(const void *p, const uint8_t *base)
{
	return (uint32_t)((const uint8_t *)p - base);
}

static void assert_blob(const void *got, uint32_t got_len, const void *want, uint32_t want_len)
{
	assert_int_equal(got_len, want_len);
	if (want_len)
		assert_memory_equal(got, want, want_len);
}

/* The view of dst says exactly what in said; fields whose bit is clear are empty. */
static void assert_view_is(const struct ext_view *v, const struct ext_in *in, uint32_t bytes)
{
	struct ext_kv kv;
	uint32_t p = in->present;

	assert_int_equal(v->present, p);
	assert_int_equal(v->ext_bytes, bytes);
	assert_int_equal(v->key_hash, (p & EXT_KEY) ? ext_hash(in->key, in->key_len) : 0);
	assert_true(v->msg_id == ((p & EXT_MSG_ID) ? in->msg_id : 0));
	assert_true(v->corr_id == ((p & EXT_CORR_ID) ? in->corr_id : 0));
	assert_true(v->deliver_at_ns == ((p & EXT_DELIVER_AT) ? in->deliver_at_ns : 0));
	assert_true(v->expiry_ns == ((p & EXT_EXPIRY) ? in->expiry_ns : 0));
	assert_blob(v->key, v->key_len, in->key, (p & EXT_KEY) ? in->key_len : 0);
	assert_blob(v->reply_to, v->reply_to_len, in->reply_to,
		    (p & EXT_REPLY_TO) ? in->reply_to_len : 0);
	assert_blob(v->content_type, v->content_type_len, in->content_type,
		    (p & EXT_CONTENT_TYPE) ? in->content_type_len : 0);
	assert_int_equal(v->nheaders, (p & EXT_HEADERS) ? in->nheaders : 0);
	for (uint32_t i = 0; i < v->nheaders; i++) {
		assert_int_equal(ext_header_at(v, i, &kv), 0);
		assert_blob(kv.name, kv.name_len, in->headers[i].name, in->headers[i].name_len);
		assert_blob(kv.value, kv.value_len, in->headers[i].value, in->headers[i].value_len);
	}
}

static void round_trip(const struct ext_in *in)
{
	struct ext_view v;
	uint32_t bytes;

	memset(area, 0xa5, sizeof(area));
	bytes = encode(in, area);
	assert_int_equal(ext_parse(area, bytes, &v), 0);
	assert_view_is(&v, in, bytes);
}

/* ---- sizing and round trips ---- */

static void test_ext_size_is_zero_without_fields(void **state)
{
	struct ext_in in = all_in();
	uint32_t bytes = 77;

	(void)state;
	in.present = 0;
	assert_int_equal(ext_size(&in, &bytes), 0);
	assert_int_equal(bytes, 0);
	memset(area, 0xa5, 16);
	ext_write(area, &in, 0);
	assert_int_equal(area[0], 0xa5);
}

static void test_ext_round_trips_each_field_alone(void **state)
{
	static const uint32_t want_bytes[8] = {16, 16, 16, 16, 24, 32, 32, 48};
	struct ext_in in;

	(void)state;
	for (unsigned bit = 0; bit < 8; bit++) {
		in = all_in();
		in.present = 1u << bit;
		assert_int_equal(size_of(&in), want_bytes[bit]);
		round_trip(&in);
	}
}

static void test_ext_round_trips_all_fields_together(void **state)
{
	struct ext_in in = all_in();

	(void)state;
	/* 8 + 32 + (2+8) + (2+15) + (2+16) + 2 + (4+5+3) + (4+5) + (4+5+6) = 123 */
	assert_int_equal(size_of(&in), 128);
	round_trip(&in);
}

static void test_ext_round_trips_fields_at_their_limits(void **state)
{
	static char name[EXT_HEADER_NAME_MAX], big[EXT_KEY_MAX];
	struct ext_kv h = {.name = name, .name_len = EXT_HEADER_NAME_MAX};
	struct ext_in in = {.present = EXT_KEY | EXT_REPLY_TO | EXT_CONTENT_TYPE | EXT_HEADERS};

	(void)state;
	memset(name, 'n', sizeof(name));
	memset(big, 'b', sizeof(big));
	h.value = big;
	h.value_len = EXT_HEADER_VALUE_MAX;
	in.key = big;
	in.key_len = EXT_KEY_MAX;
	in.reply_to = big;
	in.reply_to_len = EXT_REPLY_TO_MAX;
	in.content_type = big;
	in.content_type_len = EXT_CONTENT_TYPE_MAX;
	in.headers = &h;
	in.nheaders = 1;
	round_trip(&in);
}

static void test_ext_write_writes_exactly_bytes_with_zero_padding(void **state)
{
	struct ext_in in = json_in();
	uint32_t bytes;

	(void)state;
	memset(area, 0xa5, sizeof(area));
	bytes = encode(&in, area);
	assert_int_equal(bytes, 16);
	for (uint32_t i = 8 + 2 + 4; i < bytes; i++)
		assert_int_equal(area[i], 0);
	for (uint32_t i = bytes; i < bytes + 32; i++)
		assert_int_equal(area[i], 0xa5);
}

static void test_ext_size_ignores_fields_whose_bit_is_clear(void **state)
{
	struct ext_in in = {.present = EXT_MSG_ID, .key = NULL, .key_len = 5000, .nheaders = 99};

	(void)state;
	assert_int_equal(size_of(&in), 16);
}

/* ---- ext_size() limits ---- */

static void test_ext_size_accepts_key_of_1024_rejects_1025_and_0(void **state)
{
	static char key[EXT_KEY_MAX + 1];
	struct ext_in in = {.present = EXT_KEY, .key = key};

	(void)state;
	in.key_len = EXT_KEY_MAX;
	assert_int_equal(size_of(&in), 8 + 2 + 1024 + 6);
	in.key_len = EXT_KEY_MAX + 1;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	in.key_len = 0;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
}

static void test_ext_size_accepts_16_headers_rejects_17_and_0(void **state)
{
	struct ext_kv h[EXT_HEADERS_MAX + 1];
	struct ext_in in = {.present = EXT_HEADERS, .headers = h};

	(void)state;
	for (unsigned i = 0; i < EXT_HEADERS_MAX + 1; i++)
		h[i] = (struct ext_kv){.name = "h", .name_len = 1, .value = "v", .value_len = 1};
	in.nheaders = EXT_HEADERS_MAX;
	assert_int_equal(size_of(&in), 8 + 2 + 16 * 6 + 6);
	round_trip(&in);
	in.nheaders = EXT_HEADERS_MAX + 1;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	in.nheaders = 0;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
}

static void test_ext_size_rejects_header_name_of_0_or_256_bytes(void **state)
{
	static char name[EXT_HEADER_NAME_MAX + 1];
	struct ext_kv h = {.name = name, .value = "v", .value_len = 1};
	struct ext_in in = {.present = EXT_HEADERS, .headers = &h, .nheaders = 1};

	(void)state;
	h.name_len = EXT_HEADER_NAME_MAX;
	assert_int_equal(size_of(&in), 8 + 2 + 4 + 255 + 1 + 2);
	h.name_len = EXT_HEADER_NAME_MAX + 1;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	h.name_len = 0;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
}

static void test_ext_size_accepts_header_value_of_0_to_1024_bytes(void **state)
{
	static char value[EXT_HEADER_VALUE_MAX + 1];
	struct ext_kv h = {.name = "n", .name_len = 1, .value = value};
	struct ext_in in = {.present = EXT_HEADERS, .headers = &h, .nheaders = 1};

	(void)state;
	h.value_len = 0;
	assert_int_equal(size_of(&in), 16);
	h.value_len = EXT_HEADER_VALUE_MAX;
	assert_int_equal(size_of(&in), 8 + 2 + 4 + 1 + 1024 + 1);
	h.value_len = EXT_HEADER_VALUE_MAX + 1;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
}

static void test_ext_size_limits_reply_to_and_content_type(void **state)
{
	static char s[256];
	struct ext_in in = {.present = EXT_REPLY_TO, .reply_to = s, .content_type = s};

	(void)state;
	memset(s, 'a', sizeof(s));
	in.reply_to_len = EXT_REPLY_TO_MAX;
	assert_int_equal(size_of(&in), 8 + 2 + 200 + 6);
	in.reply_to_len = EXT_REPLY_TO_MAX + 1;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	in.reply_to_len = 0;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	in.reply_to = "a\0b";
	in.reply_to_len = 3;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);

	in.present = EXT_CONTENT_TYPE;
	in.content_type_len = EXT_CONTENT_TYPE_MAX;
	assert_int_equal(size_of(&in), 8 + 2 + 255 + 7);
	in.content_type_len = EXT_CONTENT_TYPE_MAX + 1;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	in.content_type_len = 0;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
}

static void test_ext_size_rejects_null_pointer_with_length(void **state)
{
	struct ext_kv h = {.name = "n", .name_len = 1, .value = NULL, .value_len = 1};
	struct ext_in in;

	(void)state;
	in = (struct ext_in){.present = EXT_KEY, .key_len = 3};
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	in = (struct ext_in){.present = EXT_REPLY_TO, .reply_to_len = 3};
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	in = (struct ext_in){.present = EXT_CONTENT_TYPE, .content_type_len = 3};
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	in = (struct ext_in){.present = EXT_HEADERS, .nheaders = 1};
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	in.headers = &h;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	h = (struct ext_kv){.name = NULL, .name_len = 1};
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	assert_int_equal(ext_size(NULL, &h.name_len), -SHMQ_EINVAL);
	assert_int_equal(ext_size(&in, NULL), -SHMQ_EINVAL);
}

static void test_ext_size_rejects_unknown_bit(void **state)
{
	struct ext_in in = all_in();

	(void)state;
	in.present |= 0x100;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
	in.present = 1u << 31;
	assert_int_equal(size_of(&in), -SHMQ_EINVAL);
}

static void test_ext_size_fits_4096_and_gives_etoobig_beyond(void **state)
{
	static char name[EXT_HEADER_NAME_MAX], value[EXT_HEADER_VALUE_MAX];
	struct ext_kv h[4];
	struct ext_in in = {.present = EXT_HEADERS, .headers = h, .nheaders = 4};

	(void)state;
	for (unsigned i = 0; i < 3; i++)
		h[i] = (struct ext_kv){name, EXT_HEADER_NAME_MAX, value, EXT_HEADER_VALUE_MAX};
	/* 8 + 2 + 3 * (4 + 255 + 1024) = 3859; the fourth entry takes 237 */
	h[3] = (struct ext_kv){name, 1, value, 232};
	assert_int_equal(size_of(&in), EXT_MAX_BYTES);
	round_trip(&in);
	h[3].value_len = 233;
	assert_int_equal(size_of(&in), -SHMQ_ETOOBIG);
	in.present |= EXT_KEY;
	in.key = value;
	in.key_len = EXT_KEY_MAX;
	assert_int_equal(size_of(&in), -SHMQ_ETOOBIG);
}

/* ---- ext_parse() refusals ---- */

static void test_ext_parse_rejects_ext_bytes_beyond_avail(void **state)
{
	struct ext_in in = all_in();
	struct ext_view v;
	uint32_t bytes = encode(&in, area);

	(void)state;
	assert_int_equal(ext_parse(area, bytes - 1, &v), -SHMQ_ECORRUPT);
	assert_int_equal(ext_parse(area, bytes - 8, &v), -SHMQ_ECORRUPT);
	assert_int_equal(ext_parse(area, 7, &v), -SHMQ_ECORRUPT);
	assert_int_equal(ext_parse(area, 0, &v), -SHMQ_ECORRUPT);
	assert_int_equal(ext_parse(area, bytes, &v), 0);
}

static void test_ext_parse_rejects_ext_bytes_not_multiple_of_8(void **state)
{
	struct ext_in in = json_in();
	struct ext_view v;

	(void)state;
	in.present |= EXT_MSG_ID;
	memset(area, 0, sizeof(area));
	assert_int_equal(encode(&in, area), 24);
	put16(area, 0, 20);
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
	put16(area, 0, 25);
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
	put16(area, 0, 24);
	assert_int_equal(ext_parse(area, sizeof(area), &v), 0);
}

static void test_ext_parse_rejects_ext_bytes_0_8_or_over_max(void **state)
{
	struct ext_in in = {.present = EXT_MSG_ID, .msg_id = 1};
	struct ext_view v;

	(void)state;
	memset(area, 0, sizeof(area));
	encode(&in, area);
	put16(area, 0, 0);
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
	put16(area, 0, 8);
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
	put16(area, 0, EXT_MAX_BYTES + 8);
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
}

static void test_ext_parse_rejects_consistent_area_over_max(void **state)
{
	static char name[EXT_HEADER_NAME_MAX], value[EXT_HEADER_VALUE_MAX];
	struct ext_kv h[4];
	struct ext_in in = {.present = EXT_HEADERS, .headers = h, .nheaders = 4};
	struct ext_view v;

	(void)state;
	for (unsigned i = 0; i < 3; i++)
		h[i] = (struct ext_kv){name, EXT_HEADER_NAME_MAX, value, EXT_HEADER_VALUE_MAX};
	h[3] = (struct ext_kv){name, 1, value, 232};
	memset(area, 0, sizeof(area));
	assert_int_equal(encode(&in, area), EXT_MAX_BYTES);
	/* the fourth entry's lengths sit at 8 + 2 + 3 * 1283 = 3859; grow it by 8 */
	put16(area, 3861, 240);
	put16(area, 0, EXT_MAX_BYTES + 8);
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
	put16(area, 3861, 232);
	put16(area, 0, EXT_MAX_BYTES);
	assert_int_equal(ext_parse(area, sizeof(area), &v), 0);
}

static void test_ext_parse_rejects_field_lengths_out_of_range(void **state)
{
	static char ct[EXT_CONTENT_TYPE_MAX + 1];
	struct ext_in in = {.present = EXT_CONTENT_TYPE, .content_type = ct};
	struct ext_view v;

	(void)state;
	memset(ct, 't', sizeof(ct));
	in.content_type_len = EXT_CONTENT_TYPE_MAX;
	memset(area, 0, sizeof(area));
	assert_int_equal(encode(&in, area), 272); /* 8 + 2 + 255, then 7 of padding */
	put16(area, 8, EXT_CONTENT_TYPE_MAX + 1);
	area[265] = 't'; /* a 256-byte type that fits the area */
	assert_int_equal(ext_parse(area, 272, &v), -SHMQ_ECORRUPT);

	in = json_in();
	assert_int_equal(encode(&in, area), 16);
	put16(area, 8, 0); /* an empty type, then zero padding */
	memset(area + 10, 0, 6);
	assert_int_equal(ext_parse(area, 16, &v), -SHMQ_ECORRUPT);
}

static void test_ext_parse_rejects_area_larger_than_its_fields(void **state)
{
	struct ext_in in = {.present = EXT_MSG_ID, .msg_id = 1};
	struct ext_view v;

	(void)state;
	memset(area, 0, sizeof(area));
	encode(&in, area);
	put16(area, 0, 24); /* zeroes after the id, but no honest writer pads 8 more */
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
}

static void test_ext_parse_rejects_nonzero_padding(void **state)
{
	struct ext_in in = json_in();
	struct ext_view v;

	(void)state;
	encode(&in, area);
	area[15] = 1;
	assert_int_equal(ext_parse(area, 16, &v), -SHMQ_ECORRUPT);
}

static void test_ext_parse_rejects_unknown_bit_and_no_bit(void **state)
{
	struct ext_in in = all_in();
	struct ext_view v;
	uint32_t bytes = encode(&in, area);

	(void)state;
	put16(area, 2, EXT_KNOWN_MASK | 0x100);
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
	put16(area, 2, 0x8000);
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
	put16(area, 2, 0);
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
}

static void test_ext_parse_rejects_length_running_past_area(void **state)
{
	struct ext_in in = json_in();
	struct ext_kv h = {.name = "n", .name_len = 1, .value = "v", .value_len = 1};
	struct ext_view v;

	(void)state;
	memset(area, 0, sizeof(area));
	encode(&in, area); /* 8 head, 2 len, 4 bytes, 2 padding */
	put16(area, 8, 7);
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
	put16(area, 8, 6); /* ends exactly at the area's end, where padding was */
	assert_int_equal(ext_parse(area, sizeof(area), &v), 0);
	assert_int_equal(v.content_type_len, 6);

	in = (struct ext_in){.present = EXT_HEADERS, .headers = &h, .nheaders = 1};
	memset(area, 0, sizeof(area));
	encode(&in, area);  /* 8 head, 2 count, 2 + 2 lens, n, v: 16 */
	put16(area, 12, 3); /* value_len */
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
	put16(area, 12, 1);
	put16(area, 10, 300); /* name_len beyond its range */
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
}

static void test_ext_parse_rejects_fixed_field_past_area(void **state)
{
	struct ext_in in = {.present = EXT_MSG_ID, .msg_id = 1};
	struct ext_view v;

	(void)state;
	memset(area, 0, sizeof(area));
	encode(&in, area);
	put16(area, 2, EXT_MSG_ID | EXT_CORR_ID);
	assert_int_equal(ext_parse(area, sizeof(area), &v), -SHMQ_ECORRUPT);
}

static void test_ext_parse_rejects_wrong_key_hash(void **state)
{
	struct ext_in in = all_in();
	struct ext_view v;
	uint32_t bytes = encode(&in, area), hash;

	(void)state;
	assert_int_equal(ext_parse(area, bytes, &v), 0);
	memcpy(&hash, area + 4, sizeof(hash));
	put32(area, 4, hash ^ 1);
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
	put32(area, 4, hash);
	area[42] ^= 0x20; /* a torn key: "Order-42" */
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);

	in.present &= ~EXT_KEY;
	bytes = encode(&in, area);
	put32(area, 4, hash); /* a hash but no key */
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
}

static void test_ext_parse_rejects_header_count_0_or_17(void **state)
{
	struct ext_in in = {.present = EXT_HEADERS, .headers = hdrs3, .nheaders = 3};
	struct ext_view v;
	uint32_t bytes = encode(&in, area);

	(void)state;
	put16(area, 8, 0);
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
	put16(area, 8, EXT_HEADERS_MAX + 1);
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
	put16(area, 8, 4); /* one more than there are */
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
	put16(area, 8, 3);
	assert_int_equal(ext_parse(area, bytes, &v), 0);
}

static void test_ext_parse_rejects_17_well_formed_headers(void **state)
{
	struct ext_kv h[EXT_HEADERS_MAX];
	struct ext_in in = {.present = EXT_HEADERS, .headers = h, .nheaders = EXT_HEADERS_MAX};
	struct ext_view v;
	uint32_t bytes;

	(void)state;
	for (unsigned i = 0; i < EXT_HEADERS_MAX; i++)
		h[i] = (struct ext_kv){.name = "h", .name_len = 1, .value = "v", .value_len = 1};
	bytes = encode(&in, area);
	assert_int_equal(bytes, 112); /* 8 + 2 + 16 * 6 = 106, then 6 bytes of padding */
	put16(area, 106, 1);	      /* a 17th entry exactly where the padding was */
	put16(area, 108, 1);
	area[110] = 'h';
	area[111] = 'v';
	put16(area, 8, EXT_HEADERS_MAX + 1);
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
}

static void test_ext_parse_rejects_nul_in_reply_to(void **state)
{
	struct ext_in in = {.present = EXT_REPLY_TO, .reply_to = "a.b", .reply_to_len = 3};
	struct ext_view v;
	uint32_t bytes = encode(&in, area);

	(void)state;
	area[11] = 0;
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
}

static void test_ext_parse_zeroes_view_on_error(void **state)
{
	struct ext_in in = all_in();
	struct ext_view v, zero = {0};
	uint32_t bytes = encode(&in, area);

	(void)state;
	area[bytes - 1] = 9;
	memset(&v, 0x5a, sizeof(v));
	assert_int_equal(ext_parse(area, bytes, &v), -SHMQ_ECORRUPT);
	assert_memory_equal(&v, &zero, sizeof(v));
}

static void test_ext_parse_reads_unaligned_area(void **state)
{
	struct ext_in in = all_in();
	uint32_t bytes = encode(&in, area + 3);
	struct ext_view v;

	(void)state;
	assert_int_equal(ext_parse(area + 3, bytes, &v), 0);
	assert_view_is(&v, &in, bytes);
}

/* ---- user headers ---- */

static void test_ext_header_at_rejects_index_past_count(void **state)
{
	struct ext_in in = all_in();
	struct ext_view v;
	struct ext_kv kv;
	uint32_t bytes = encode(&in, area);

	(void)state;
	assert_int_equal(ext_parse(area, bytes, &v), 0);
	assert_int_equal(ext_header_at(&v, 3, &kv), -SHMQ_EINVAL);
	assert_int_equal(ext_header_at(&v, UINT32_MAX, &kv), -SHMQ_EINVAL);
	in.present &= ~EXT_HEADERS;
	bytes = encode(&in, area);
	assert_int_equal(ext_parse(area, bytes, &v), 0);
	assert_int_equal(ext_header_at(&v, 0, &kv), -SHMQ_EINVAL);
}

static void test_ext_header_at_reports_entry_rewritten_after_parse(void **state)
{
	struct ext_in in = all_in();
	struct ext_view v;
	struct ext_kv kv;
	uint32_t bytes = encode(&in, area), h;

	(void)state;
	assert_int_equal(ext_parse(area, bytes, &v), 0);
	h = off_of(v.headers, area);
	put16(area, h + 2, 60000); /* entry 0's value_len, as a lapping writer might */
	assert_int_equal(ext_header_at(&v, 0, &kv), -SHMQ_ECORRUPT);
	assert_int_equal(ext_header_at(&v, 2, &kv), -SHMQ_ECORRUPT);
	put16(area, h + 2, 200); /* in range, but past the list */
	assert_int_equal(ext_header_at(&v, 0, &kv), -SHMQ_ECORRUPT);
	put16(area, h + 2, 3);
	put16(area, h, 0);
	assert_int_equal(ext_header_find(&v, "trace", 5, &kv), -SHMQ_ECORRUPT);
}

static void test_ext_header_at_refuses_view_not_made_by_parse(void **state)
{
	struct ext_in in = all_in();
	struct ext_view v;
	struct ext_kv kv;
	uint32_t bytes = encode(&in, area);

	(void)state;
	assert_int_equal(ext_parse(area, bytes, &v), 0);
	v.nheaders = EXT_HEADERS_MAX + 1;
	assert_int_equal(ext_header_at(&v, 0, &kv), -SHMQ_ECORRUPT);
	v.nheaders = 3;
	v.headers_bytes = EXT_MAX_BYTES + 1;
	assert_int_equal(ext_header_find(&v, "trace", 5, &kv), -SHMQ_ECORRUPT);
	v.headers_bytes = 2; /* shorter than its entries */
	assert_int_equal(ext_header_at(&v, 0, &kv), -SHMQ_ECORRUPT);
	v.headers = NULL;
	assert_int_equal(ext_header_at(&v, 0, &kv), -SHMQ_ECORRUPT);
}

static void test_ext_header_find_returns_first_of_that_name(void **state)
{
	struct ext_in in = all_in();
	struct ext_view v;
	struct ext_kv kv;
	uint32_t bytes = encode(&in, area);

	(void)state;
	assert_int_equal(ext_parse(area, bytes, &v), 0);
	assert_int_equal(ext_header_find(&v, "trace", 5, &kv), 0);
	assert_blob(kv.value, kv.value_len, "abc", 3);
	assert_int_equal(ext_header_find(&v, "empty", 5, &kv), 0);
	assert_int_equal(kv.value_len, 0);
	assert_int_equal(ext_header_find(&v, "trac", 4, &kv), -SHMQ_ENOENT);
	assert_int_equal(ext_header_find(&v, "traces", 6, &kv), -SHMQ_ENOENT);
	assert_int_equal(ext_header_find(&v, "", 0, &kv), -SHMQ_EINVAL);
	assert_int_equal(ext_header_find(&v, NULL, 5, &kv), -SHMQ_EINVAL);
}

static void test_ext_header_find_gives_enoent_without_headers(void **state)
{
	struct ext_in in = {.present = EXT_MSG_ID, .msg_id = 5};
	struct ext_view v;
	struct ext_kv kv;
	uint32_t bytes = encode(&in, area);

	(void)state;
	assert_int_equal(ext_parse(area, bytes, &v), 0);
	assert_int_equal(ext_header_find(&v, "trace", 5, &kv), -SHMQ_ENOENT);
}

/* ---- hash ---- */

static void test_ext_hash_is_fnv1a_32(void **state)
{
	(void)state;
	assert_int_equal(ext_hash("", 0), 0x811c9dc5u);
	assert_int_equal(ext_hash(NULL, 0), 0x811c9dc5u);
	assert_int_equal(ext_hash("a", 1), 0xe40c292cu);
	assert_int_equal(ext_hash("foobar", 6), 0xbf9cf968u);
}

static void test_ext_hash_maps_zero_to_one(void **state)
{
	/* found by search: FNV-1a 32 of these five bytes is 0 */
	static const uint8_t zero_key[5] = {0x3d, 0x48, 0xf2, 0x00, 0xe2};
	struct ext_in in = {.present = EXT_KEY, .key = zero_key, .key_len = 5};
	struct ext_view v;

	(void)state;
	assert_int_equal(ext_hash(zero_key, 5), 1);
	encode(&in, area);
	assert_int_equal(ext_parse(area, 16, &v), 0);
	assert_int_equal(v.key_hash, 1);
}

/* ---- fuzz ---- */

struct fuzz {
	uint64_t rng;
	uint8_t bytes[EXT_KEY_MAX]; /* random contents for keys and values */
	char letters[EXT_KEY_MAX];  /* contents without NUL for names */
	struct ext_kv h[EXT_HEADERS_MAX];
	uint32_t parsed_ok, headers_ok;
};

static uint64_t rnd(struct fuzz *z) /* splitmix64 */
{
	uint64_t x = (z->rng += 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint32_t below(struct fuzz *z, uint32_t n)
{
	return (uint32_t)(rnd(z) % n);
}

/* Mostly short lengths, now and then up to max. */
static uint32_t fuzz_len(struct fuzz *z, uint32_t min, uint32_t max)
{
	uint32_t cap = below(z, 8) ? (max < 24 ? max : 24) : max;

	return min + below(z, cap - min + 1);
}

static void fuzz_in(struct fuzz *z, struct ext_in *in)
{
	*in = (struct ext_in){.present = 1 + below(z, EXT_KNOWN_MASK)};
	in->msg_id = rnd(z);
	in->corr_id = rnd(z);
	in->deliver_at_ns = rnd(z);
	in->expiry_ns = rnd(z);
	if (below(z, 4)) /* mostly keyless, so mutations reach past the hash check */
		in->present &= ~EXT_KEY;
	in->key = z->bytes;
	in->key_len = fuzz_len(z, 1, EXT_KEY_MAX);
	in->reply_to = z->letters;
	in->reply_to_len = fuzz_len(z, 1, EXT_REPLY_TO_MAX);
	in->content_type = z->letters;
	in->content_type_len = fuzz_len(z, 1, EXT_CONTENT_TYPE_MAX);
	in->headers = z->h;
	in->nheaders = 1 + below(z, EXT_HEADERS_MAX);
	for (uint32_t i = 0; i < in->nheaders; i++)
		z->h[i] = (struct ext_kv){.name = z->letters + below(z, 64),
					  .name_len = fuzz_len(z, 1, EXT_HEADER_NAME_MAX),
					  .value = z->bytes,
					  .value_len = fuzz_len(z, 0, EXT_HEADER_VALUE_MAX)};
}

/* A valid encoding into src, or a random buffer with a plausible head; returns its size. */
static uint32_t fuzz_source(struct fuzz *z, uint8_t *src)
{
	struct ext_in in;
	uint32_t bytes, n;

	if (below(z, 4) == 0) {
		n = below(z, EXT_MAX_BYTES + 32);
		for (uint32_t i = 0; i < n; i++)
			src[i] = (uint8_t)rnd(z);
		if (n >= 8 && below(z, 2)) {
			put16(src, 0, (1 + below(z, n / 8)) * 8);
			put16(src, 2, (uint32_t)rnd(z) & (below(z, 8) ? 0xff : 0xffff));
			put32(src, 4, 0);
		}
		return n;
	}
	do
		fuzz_in(z, &in);
	while (ext_size(&in, &bytes) == -SHMQ_ETOOBIG);
	assert_int_equal(ext_size(&in, &bytes), 0);
	ext_write(src, &in, bytes);
	return bytes;
}

/* Change 0 to 4 bytes: random values, off-by-one lengths or flipped bits. */
static void fuzz_mutate(struct fuzz *z, uint8_t *p, uint32_t n)
{
	uint32_t k = below(z, 5), at;

	for (uint32_t i = 0; i < k && n; i++) {
		at = below(z, n);
		switch (below(z, 3)) {
		case 0:
			p[at] = (uint8_t)rnd(z);
			break;
		case 1:
			p[at] += below(z, 2) ? 1 : 0xff;
			break;
		default:
			p[at] ^= (uint8_t)(1u << below(z, 8));
			break;
		}
	}
}

static void assert_inside(const void *p, uint32_t len, const uint8_t *buf, uint32_t bytes)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)buf;

	if (!p) {
		assert_int_equal(len, 0);
		return;
	}
	assert_true(a >= b && a - b <= bytes && len <= bytes - (a - b));
}

static void assert_kv_inside(const struct ext_kv *kv, const uint8_t *buf, uint32_t bytes)
{
	assert_inside(kv->name, kv->name_len, buf, bytes);
	assert_inside(kv->value, kv->value_len, buf, bytes);
	assert_true(kv->name_len >= 1 && kv->name_len <= EXT_HEADER_NAME_MAX);
	assert_true(kv->value_len <= EXT_HEADER_VALUE_MAX);
}

/* Every header of v, while buf may be changing under it. */
static void fuzz_headers(struct fuzz *z, const struct ext_view *v, const uint8_t *buf,
			 int must_pass)
{
	struct ext_kv kv;
	int err;

	for (uint32_t i = 0; i <= v->nheaders; i++) {
		err = ext_header_at(v, i, &kv);
		if (i == v->nheaders) {
			assert_int_equal(err, -SHMQ_EINVAL);
			break;
		}
		assert_true(err == 0 || (err == -SHMQ_ECORRUPT && !must_pass));
		if (err == 0)
			assert_kv_inside(&kv, buf, v->ext_bytes);
		z->headers_ok += err == 0;
	}
	err = ext_header_find(v, z->letters, 1 + below(z, 3), &kv);
	assert_true(err == 0 || err == -SHMQ_ENOENT || (err == -SHMQ_ECORRUPT && !must_pass));
	if (err == 0)
		assert_kv_inside(&kv, buf, v->ext_bytes);
}

/* One round: parse src as a buffer of exactly avail bytes (ASan sees any overread). */
static void fuzz_one(struct fuzz *z, const uint8_t *src, uint32_t avail)
{
	uint8_t *buf = malloc(avail ? avail : 1);
	struct ext_view v;
	int err;

	assert_non_null(buf);
	memcpy(buf, src, avail);
	err = ext_parse(buf, avail, &v);
	assert_true(err == 0 || err == -SHMQ_ECORRUPT);
	if (err == 0) {
		z->parsed_ok++;
		assert_true(v.ext_bytes <= avail && v.nheaders <= EXT_HEADERS_MAX);
		assert_inside(v.key, v.key_len, buf, v.ext_bytes);
		assert_inside(v.reply_to, v.reply_to_len, buf, v.ext_bytes);
		assert_inside(v.content_type, v.content_type_len, buf, v.ext_bytes);
		assert_inside(v.headers, v.headers_bytes, buf, v.ext_bytes);
		fuzz_headers(z, &v, buf, 1);
		fuzz_mutate(z, buf, v.ext_bytes); /* a peer rewrites the record */
		fuzz_headers(z, &v, buf, 0);
	}
	free(buf);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static void test_ext_parse_survives_fuzzed_areas(void **state)
{
	static uint8_t src[EXT_MAX_BYTES + 32];
	static struct fuzz z;
	uint64_t seed = env_u64("SHMQ_SEED", FUZZ_SEED),
		 iters = env_u64("SHMQ_FUZZ_ITERS", FUZZ_ITERS);
	uint32_t n, avail;

	(void)state;
	printf("test_ext: fuzz seed=0x%llx iterations=%llu (SHMQ_SEED replays)\n",
	       (unsigned long long)seed, (unsigned long long)iters);
	fflush(stdout);
	z = (struct fuzz){.rng = seed};
	for (uint32_t i = 0; i < EXT_KEY_MAX; i++) {
		z.bytes[i] = (uint8_t)rnd(&z);
		z.letters[i] = (char)('a' + below(&z, 26));
	}
	for (uint64_t it = 0; it < iters; it++) {
		n = fuzz_source(&z, src);
		fuzz_mutate(&z, src, n);
		avail = n;
		if (below(&z, 8) == 0) /* truncated, or with bytes after the area */
			avail = below(&z, 2) ? below(&z, n + 1) : n + below(&z, 32);
		if (avail > sizeof(src))
			avail = sizeof(src);
		fuzz_one(&z, src, avail);
	}
	printf("test_ext: fuzz parsed_ok=%u headers_ok=%u\n", z.parsed_ok, z.headers_ok);
	assert_true(iters < 1000 || z.parsed_ok > iters / 10); /* it got past the head */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ext_size_is_zero_without_fields),
	    cmocka_unit_test(test_ext_round_trips_each_field_alone),
	    cmocka_unit_test(test_ext_round_trips_all_fields_together),
	    cmocka_unit_test(test_ext_round_trips_fields_at_their_limits),
	    cmocka_unit_test(test_ext_write_writes_exactly_bytes_with_zero_padding),
	    cmocka_unit_test(test_ext_size_ignores_fields_whose_bit_is_clear),
	    cmocka_unit_test(test_ext_size_accepts_key_of_1024_rejects_1025_and_0),
	    cmocka_unit_test(test_ext_size_accepts_16_headers_rejects_17_and_0),
	    cmocka_unit_test(test_ext_size_rejects_header_name_of_0_or_256_bytes),
	    cmocka_unit_test(test_ext_size_accepts_header_value_of_0_to_1024_bytes),
	    cmocka_unit_test(test_ext_size_limits_reply_to_and_content_type),
	    cmocka_unit_test(test_ext_size_rejects_null_pointer_with_length),
	    cmocka_unit_test(test_ext_size_rejects_unknown_bit),
	    cmocka_unit_test(test_ext_size_fits_4096_and_gives_etoobig_beyond),
	    cmocka_unit_test(test_ext_parse_rejects_ext_bytes_beyond_avail),
	    cmocka_unit_test(test_ext_parse_rejects_ext_bytes_not_multiple_of_8),
	    cmocka_unit_test(test_ext_parse_rejects_ext_bytes_0_8_or_over_max),
	    cmocka_unit_test(test_ext_parse_rejects_consistent_area_over_max),
	    cmocka_unit_test(test_ext_parse_rejects_field_lengths_out_of_range),
	    cmocka_unit_test(test_ext_parse_rejects_area_larger_than_its_fields),
	    cmocka_unit_test(test_ext_parse_rejects_nonzero_padding),
	    cmocka_unit_test(test_ext_parse_rejects_unknown_bit_and_no_bit),
	    cmocka_unit_test(test_ext_parse_rejects_length_running_past_area),
	    cmocka_unit_test(test_ext_parse_rejects_fixed_field_past_area),
	    cmocka_unit_test(test_ext_parse_rejects_wrong_key_hash),
	    cmocka_unit_test(test_ext_parse_rejects_header_count_0_or_17),
	    cmocka_unit_test(test_ext_parse_rejects_17_well_formed_headers),
	    cmocka_unit_test(test_ext_parse_rejects_nul_in_reply_to),
	    cmocka_unit_test(test_ext_parse_zeroes_view_on_error),
	    cmocka_unit_test(test_ext_parse_reads_unaligned_area),
	    cmocka_unit_test(test_ext_header_at_rejects_index_past_count),
	    cmocka_unit_test(test_ext_header_at_reports_entry_rewritten_after_parse),
	    cmocka_unit_test(test_ext_header_at_refuses_view_not_made_by_parse),
	    cmocka_unit_test(test_ext_header_find_returns_first_of_that_name),
	    cmocka_unit_test(test_ext_header_find_gives_enoent_without_headers),
	    cmocka_unit_test(test_ext_hash_is_fnv1a_32),
	    cmocka_unit_test(test_ext_hash_maps_zero_to_one),
	    cmocka_unit_test(test_ext_parse_survives_fuzzed_areas),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
