/*
 * test_journal.c - the journal's segment format (shm/journal.c): records
 * encoded by the writer scan back as written; a file cut at any byte of
 * its last records is a torn tail cut at the last whole record; a bit
 * flipped below the last checkpoint is reported as corruption (never a
 * silent cut) and scanning goes on past it; headers of a newer version or
 * an unknown incompat bit are told apart from garbage. Also the publisher
 * side of FEAT_INCOMPAT_JOURNAL (shm/log.c): a drop publisher waits for the
 * journal's reader slot and for no other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crc32c.h"
#include "ext.h"
#include "fixture.h"
#include "journal.h"

#define CHAN 77u
#define BASE 1000u
#define SALT 0x1234567890abcdefull
#define SEG (64u * 1024u)

/* A segment being built: its bytes and where the next record goes. */
struct seg {
	uint8_t *b;
	uint64_t off;
	uint64_t next;	   /* offset of the next message */
	uint64_t ends[64]; /* end offset of each record written */
	unsigned n;
};

static void seg_init(struct seg *s)
{
	s->b = calloc(1, SEG);
	assert_non_null(s->b);
	journal_seg_hdr_make(s->b, CHAN, BASE, SEG, SALT);
	s->off = JSEG_HDR_BYTES;
	s->next = BASE;
	s->n = 0;
}

static void seg_done(struct seg *s)
{
	s->ends[s->n++] = s->off;
}

static void put_msg(struct seg *s, uint32_t len)
{
	uint8_t data[600] = {0};

	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(s->next * 7 + i);
	s->off += journal_put_msg(s->b + s->off, s->next, 5000 + s->next, REC_F_BATCH, NULL, 0,
				  data, len);
	s->next++;
	seg_done(s);
}

static void put_msg_ext(struct seg *s)
{
	struct ext_in in = {.present = EXT_MSG_ID, .msg_id = 99};
	uint8_t ext[64];
	uint32_t eb = 0;

	assert_int_equal(ext_size(&in, &eb), 0);
	ext_write(ext, &in, eb);
	s->off += journal_put_msg(s->b + s->off, s->next++, 1, 0, ext, eb, "abc", 3);
	seg_done(s);
}

static void put_ckpt(struct seg *s, uint64_t durable)
{
	s->off += journal_put_checkpoint(s->b + s->off, durable, s->next, s->off, SALT, 7);
	seg_done(s);
}

static void put_gap(struct seg *s, uint64_t count)
{
	s->off += journal_put_gap(s->b + s->off, s->next, count);
	s->next += count;
	seg_done(s);
}

/* ckpt, 5 msgs, gap, ext msg, ckpt, 3 msgs: the last 3 after the last checkpoint. */
static void seg_typical(struct seg *s)
{
	seg_init(s);
	put_ckpt(s, BASE);
	for (unsigned i = 0; i < 5; i++)
		put_msg(s, 10 + 90 * i);
	put_gap(s, 3);
	put_msg_ext(s);
	put_ckpt(s, s->next);
	put_msg(s, 0);
	put_msg(s, 100);
	put_msg(s, 333);
}

static void test_records_scan_back_as_written(void **state)
{
	struct journal_scan r;
	struct seg s;

	(void)state;
	seg_typical(&s);
	assert_int_equal(journal_scan(s.b, SEG, 0, 0, &r), 0);
	assert_int_equal(r.stop, JSTOP_END);
	assert_int_equal(r.next_pos, s.next);
	assert_int_equal(r.good_bytes, s.off);
	assert_int_equal(r.msgs, 9);
	assert_int_equal(r.lost, 3);
	assert_int_equal(r.corrupt, 0);
	assert_int_equal(r.ckpt_pos, BASE + 9);
	assert_int_equal(r.ckpt_off, s.ends[s.n - 5]);
	assert_int_equal(r.hdr.channel_id, CHAN);
	/* the same bytes without the preallocated zeros */
	assert_int_equal(journal_scan(s.b, s.off, 0, 0, &r), 0);
	assert_int_equal(r.stop, JSTOP_END);
	assert_int_equal(r.next_pos, s.next);
	free(s.b);
}

static void test_seal_ends_the_segment(void **state)
{
	struct journal_scan r;
	struct seg s;

	(void)state;
	seg_typical(&s);
	s.off += journal_put_seal(s.b + s.off, s.next, 1);
	assert_int_equal(journal_scan(s.b, SEG, 0, 0, &r), 0);
	assert_int_equal(r.stop, JSTOP_SEALED);
	assert_int_equal(r.good_bytes, s.off);
	assert_int_equal(r.next_pos, s.next);
	free(s.b);
}

static bool all_zero(const uint8_t *b, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		if (b[i])
			return false;
	return true;
}

/* Cut at every byte of the last 3 records, with and without the zeros after. */
static void test_truncation_at_every_byte_of_the_last_three_records(void **state)
{
	struct journal_scan r;
	struct seg s;
	uint8_t *copy = malloc(SEG);

	(void)state;
	assert_non_null(copy);
	seg_typical(&s);
	for (uint64_t len = s.ends[s.n - 4]; len <= s.off; len++) {
		for (int zeros = 0; zeros < 2; zeros++) {
			/* whole records: those cut only in their zero padding, with zeros after */
			unsigned whole = 0;

			while (whole < 3 &&
			       (s.ends[s.n - 3 + whole] <= len ||
				(zeros && all_zero(s.b, len, s.ends[s.n - 3 + whole]))))
				whole++;
			memset(copy, 0, SEG);
			memcpy(copy, s.b, len);
			assert_int_equal(journal_scan(copy, zeros ? SEG : len, 0, 0, &r), 0);
			assert_int_equal(r.corrupt, 0);
			assert_int_equal(r.good_bytes,
					 whole ? s.ends[s.n - 4 + whole] : s.ends[s.n - 4]);
			assert_int_equal(r.next_pos, s.next - 3 + whole);
			if (r.good_bytes >= len || all_zero(copy, r.good_bytes, len)) {
				assert_int_equal(r.stop, JSTOP_END);
			} else {
				assert_int_equal(r.stop, JSTOP_TORN);
				assert_true(r.torn_end <= len && r.torn_end > r.good_bytes);
			}
		}
	}
	free(copy);
	free(s.b);
}

/* Every bit of the records below the last checkpoint (and of that checkpoint's predecessors). */
static void test_flipped_bit_below_last_checkpoint_is_corruption(void **state)
{
	uint64_t lo = JSEG_HDR_BYTES, hi;
	struct journal_scan r;
	struct seg s;

	(void)state;
	seg_typical(&s);
	hi = s.ends[s.n - 5]; /* the last checkpoint's offset */
	for (uint64_t bit = lo * 8; bit < hi * 8; bit++) {
		s.b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(journal_scan(s.b, SEG, 0, 0, &r), 0);
		assert_int_equal(r.corrupt, 1);
		assert_int_not_equal(r.stop, JSTOP_TORN);
		assert_true(r.corrupt_off <= bit / 8 && bit / 8 < r.corrupt_end);
		assert_int_equal(r.corrupt_end, hi);
		/* scanning went on from the checkpoint to the end */
		assert_int_equal(r.next_pos, s.next);
		assert_int_equal(r.good_bytes, s.off);
		s.b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	free(s.b);
}

static void test_zeroed_record_below_checkpoint_is_a_hole(void **state)
{
	struct journal_scan r;
	struct seg s;

	(void)state;
	seg_typical(&s);
	memset(s.b + s.ends[1], 0, s.ends[2] - s.ends[1]);
	assert_int_equal(journal_scan(s.b, SEG, 0, 0, &r), 0);
	assert_int_equal(r.corrupt, 1);
	assert_int_equal(r.corrupt_why, JWHY_HOLE);
	assert_int_equal(r.corrupt_pos, BASE + 1);
	assert_int_equal(r.next_pos, s.next);
	free(s.b);
}

/* A well-formed record whose offset does not follow: corruption or torn, never accepted. */
static void test_offsets_must_follow(void **state)
{
	struct journal_scan r;
	struct seg s;

	(void)state;
	seg_init(&s);
	put_ckpt(&s, BASE);
	put_msg(&s, 5);
	s.next += 2; /* skip two offsets without a GAP */
	put_msg(&s, 5);
	assert_int_equal(journal_scan(s.b, SEG, 0, 0, &r), 0);
	assert_int_equal(r.stop, JSTOP_TORN);
	assert_int_equal(r.why, JWHY_POS);
	assert_int_equal(r.next_pos, BASE + 1);
	free(s.b);
}

static void test_oversized_record_is_bounded(void **state)
{
	struct journal_scan r;
	struct seg s;

	(void)state;
	seg_init(&s);
	put_ckpt(&s, BASE);
	put_msg(&s, 500);
	assert_int_equal(journal_scan(s.b, SEG, 128, 0, &r), 0);
	assert_int_equal(r.stop, JSTOP_TORN);
	assert_int_equal(r.why, JWHY_LENGTH);
	assert_int_equal(r.next_pos, BASE);
	/* a word claiming 2^32 units */
	memset(s.b + s.ends[0], 0xff, 8);
	assert_int_equal(journal_scan(s.b, SEG, 0, 0, &r), 0);
	assert_int_equal(r.stop, JSTOP_TORN);
	free(s.b);
}

static void rehash(uint8_t *b)
{
	struct jseg_hdr h;

	memcpy(&h, b, sizeof(h));
	h.hdr_crc = 0;
	h.hdr_crc = crc32c_update(0, &h, sizeof(h));
	memcpy(b, &h, sizeof(h));
}

static void test_segment_header_checks(void **state)
{
	struct jseg_hdr *h;
	struct journal_scan r;
	struct seg s;

	(void)state;
	seg_init(&s);
	h = (struct jseg_hdr *)s.b;
	assert_int_equal(journal_seg_hdr_check(s.b, SEG, &r.hdr), 0);
	assert_int_equal(journal_seg_hdr_check(s.b, JSEG_HDR_BYTES - 1, &r.hdr), -SHMQ_ECORRUPT);
	h->base_pos++; /* checksum no longer matches */
	assert_int_equal(journal_scan(s.b, SEG, 0, 0, &r), -SHMQ_ECORRUPT);
	h->base_pos--;
	h->version = JSEG_VERSION + 1;
	rehash(s.b);
	assert_int_equal(journal_seg_hdr_check(s.b, SEG, &r.hdr), -SHMQ_EVERSION);
	h->version = JSEG_VERSION;
	h->incompat = 0x80;
	rehash(s.b);
	assert_int_equal(journal_seg_hdr_check(s.b, SEG, &r.hdr), -SHMQ_EVERSION);
	assert_int_equal(r.hdr.incompat, 0x80);
	h->incompat = 0;
	h->compat = 0x80; /* a reader may ignore these */
	rehash(s.b);
	assert_int_equal(journal_seg_hdr_check(s.b, SEG, &r.hdr), 0);
	s.b[JSEG_HDR_BYTES - 1] = 1; /* reserved bytes */
	assert_int_equal(journal_seg_hdr_check(s.b, SEG, &r.hdr), -SHMQ_ECORRUPT);
	s.b[JSEG_HDR_BYTES - 1] = 0;
	h->magic++;
	rehash(s.b);
	assert_int_equal(journal_seg_hdr_check(s.b, SEG, &r.hdr), -SHMQ_ECORRUPT);
	free(s.b);
}

/* A checkpoint copied from elsewhere (another offset) does not make a torn tail corruption. */
static void test_checkpoint_elsewhere_does_not_resync(void **state)
{
	struct journal_scan r;
	struct seg s;
	uint64_t at;

	(void)state;
	seg_typical(&s);
	at = s.off;
	memcpy(s.b + at + 64, s.b + s.ends[s.n - 5], JREC_CKPT_BYTES); /* a stray copy */
	memset(s.b + at, 0xee, 64);				       /* torn bytes */
	assert_int_equal(journal_scan(s.b, SEG, 0, 0, &r), 0);
	assert_int_equal(r.stop, JSTOP_TORN);
	assert_int_equal(r.corrupt, 0);
	assert_int_equal(r.good_bytes, at);
	free(s.b);
}

static void test_segment_names(void **state)
{
	char name[JSEG_NAME_BYTES];
	uint64_t v = 0;

	(void)state;
	journal_seg_name(1234, name);
	assert_string_equal(name, "00000000000000001234.seg");
	assert_int_equal(journal_seg_name_parse(name, &v), 0);
	assert_int_equal(v, 1234);
	journal_seg_name(UINT64_MAX, name);
	assert_int_equal(journal_seg_name_parse(name, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(journal_seg_name_parse("99999999999999999999.seg", &v), -SHMQ_EINVAL);
	assert_int_equal(journal_seg_name_parse("0000000000000000123.seg", &v), -SHMQ_EINVAL);
	assert_int_equal(journal_seg_name_parse("00000000000000001234.sex", &v), -SHMQ_EINVAL);
	assert_int_equal(journal_seg_name_parse("00000000000000001234.seg.tmp", &v), -SHMQ_EINVAL);
}

/*
 * FEAT_INCOMPAT_JOURNAL on a drop channel: the journal's slot (0) holds
 * publishers back a ring ahead of it; another reader does not.
 */
static void test_journaled_drop_publisher_waits_for_the_journal_slot_only(void **state)
{
	struct log_cursor at = {0, 0};
	struct log_segs segs;
	struct log_claim c;
	struct log_pub p;
	struct fx f;
	uint8_t buf[64] = {0};
	int err = 0;
	unsigned n;

	(void)state;
	assert_int_equal(fx_make(&f, 4096, 64, 0 /* drop */), 0);
	((struct data_hdr *)f.data)->incompat |= FEAT_INCOMPAT_JOURNAL;
	segs =
	    (struct log_segs){f.data, f.g.data_bytes, f.ctl, f.g.ctl_bytes, f.wake, WAKE_SEG_BYTES};
	assert_int_equal(log_attach(&f.v, &segs, NULL), 0);
	assert_int_equal(f.v.held_readers, 1);
	fx_reader_add(&f, 0, &at); /* the journal, at 0 */
	fx_reader_add(&f, 1, &at); /* a subscriber that never reads */
	fx_pub_init(&f, &p, 0, 1, false);
	for (n = 0; n < 1000 && !err; n++)
		err = fx_publish(&f, &p, buf, sizeof(buf), 1, &c);
	assert_int_equal(err, -SHMQ_EFULL);
	assert_true(n > f.v.ring_bytes / 96 - 3 && n < f.v.ring_bytes / 96 + 2);
	/* the journal moves on: publishing goes on, the subscriber is lapped */
	log_tail_cursor(&f.v, &at);
	fx_reader_set(&f, 0, &at);
	for (n = 0, err = 0; n < 1000 && !err; n++)
		err = fx_publish(&f, &p, buf, sizeof(buf), 1, &c);
	assert_int_equal(err, -SHMQ_EFULL);
	assert_true(n > f.v.ring_bytes / 96 - 3);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_records_scan_back_as_written),
	    cmocka_unit_test(test_seal_ends_the_segment),
	    cmocka_unit_test(test_truncation_at_every_byte_of_the_last_three_records),
	    cmocka_unit_test(test_flipped_bit_below_last_checkpoint_is_corruption),
	    cmocka_unit_test(test_zeroed_record_below_checkpoint_is_a_hole),
	    cmocka_unit_test(test_offsets_must_follow),
	    cmocka_unit_test(test_oversized_record_is_bounded),
	    cmocka_unit_test(test_segment_header_checks),
	    cmocka_unit_test(test_checkpoint_elsewhere_does_not_resync),
	    cmocka_unit_test(test_segment_names),
	    cmocka_unit_test(test_journaled_drop_publisher_waits_for_the_journal_slot_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
