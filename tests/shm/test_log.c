/*
 * test_log.c - one-process tests of the channel log, format v3 (shm/log.c):
 * geometry, format and attach, claim/commit/read of variable-length records
 * (every length, every wrap offset, padding), exclusive mode, back-pressure
 * under block, exact loss under drop (overrun, abort, batches), torn-read
 * detection, hostile record headers and random bytes in the ring, repair of
 * dead and stalled claims, and the sleep/wake handshake. Runs on the
 * fixture of fixture.h (anonymous shared memory with guard pages, no
 * daemon). Suites: unit, tsan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "fixture.h"
#include "testutil.h"

#define BLOCK 1u
#define DROP 0u
#define PID 4242u
#define SMALL_MSG 4064u /* the largest message of a 32 KiB ring (4 records with REC_EXT_MAX) */
#define SMALL_RING 32768u

/* ---- helpers ---- */

static void make(struct fx *f, uint64_t capacity, uint32_t max_msg, uint32_t policy)
{
	assert_int_equal(fx_make(f, capacity, max_msg, policy), 0);
}

static uint8_t pattern(uint64_t pos, uint32_t i)
{
	return (uint8_t)(pos * 131 + i * 7 + (pos >> 8) + 1);
}

/* The block bound log_reader_limit() computes now. */
static uint64_t reader_limit(struct fx *f);

static uint64_t tail_bytes(const struct fx *f)
{
	return atomic_load(&f->v.data->tail_bytes);
}

static uint64_t reader_limit(struct fx *f)
{
	uint64_t limit = 0;

	assert_int_equal(log_reader_limit(&f->v, f->peers, tail_bytes(f), &limit), 0);
	return limit;
}

/* Claim, fill with pattern(pos, i), commit with timestamp 1000 + pos; the claim. */
static struct log_claim publish(struct fx *f, struct log_pub *p, uint32_t len)
{
	struct log_claim c;
	uint8_t *d;
	int r;

	assert_int_equal(log_claim(&f->v, p, len, 0, &c), 0);
	assert_int_equal(c.count, 1);
	d = log_payload(&f->v, c.at.bytes, 0);
	for (uint32_t i = 0; i < len; i++)
		d[i] = pattern(c.at.pos, i);
	r = log_commit(&f->v, p, &c, len, 0, 1000 + c.at.pos);
	assert_true(r == 0 || r == 1);
	return c;
}

/* rec is the message pos of len bytes, pattern(pos, i) each, inside the ring. */
static void check_payload(const struct fx *f, const struct log_rec *rec, uint64_t pos, uint32_t len)
{
	assert_int_equal(rec->pos, pos);
	assert_int_equal(rec->len, len);
	assert_int_equal(rec->rec_bytes, rec_bytes_for(len, rec->ext_bytes));
	assert_int_equal(rec->bytes % REC_ALIGN, 0);
	assert_true((rec->bytes & f->v.mask) + rec->rec_bytes <= f->v.ring_bytes);
	assert_ptr_equal(rec->data,
			 f->v.ring + (rec->bytes & f->v.mask) + REC_HDR_BYTES + rec->ext_bytes);
	for (uint32_t i = 0; i < len; i++)
		if (rec->data[i] != pattern(pos, i))
			fail_msg("pos %llu byte %u: %u, want %u", (unsigned long long)pos, i,
				 rec->data[i], pattern(pos, i));
}

/* As check_payload(), and stamped as publish() stamps it. */
static void check_record(const struct fx *f, const struct log_rec *rec, uint64_t pos, uint32_t len)
{
	check_payload(f, rec, pos, len);
	assert_int_equal(rec->timestamp_ns, 1000 + pos);
}

/* Read the message at *cur, which must be there with no loss; move past it. */
static struct log_rec read_expect(struct fx *f, struct log_cursor *cur, uint32_t len)
{
	struct log_rec rec;
	uint64_t want = cur->pos;

	assert_int_equal(log_read(&f->v, cur, &rec), 1);
	assert_int_equal(rec.lost, 0);
	check_record(f, &rec, want, len);
	assert_true(log_verify(&f->v, &rec));
	log_advance(cur, &rec);
	return rec;
}

/* Read every message up to the tail, each checked against its pattern. */
static void read_all(struct fx *f, struct log_cursor *cur, uint64_t *received, uint64_t *lost)
{
	struct log_rec rec;
	int r;

	while ((r = log_read(&f->v, cur, &rec)) == 1) {
		*lost += rec.lost;
		check_record(f, &rec, rec.pos, rec.len);
		assert_true(log_verify(&f->v, &rec));
		log_advance(cur, &rec);
		(*received)++;
	}
	assert_int_equal(r, 0);
	*lost += rec.lost;
}

/* The largest record fill_to() writes: a whole number of 32-byte units of payload. */
static uint64_t max_piece(const struct fx *f)
{
	return REC_HDR_BYTES + (f->v.max_message_bytes & ~(uint64_t)(REC_ALIGN - 1));
}

/* Publish messages until the tail is exactly at target, never padding; returns their number. */
static uint64_t fill_to(struct fx *f, struct log_pub *p, uint64_t target)
{
	uint64_t n = 0;

	assert_true(target >= tail_bytes(f));
	while (tail_bytes(f) < target) {
		uint64_t t = tail_bytes(f), piece = target - t;
		uint64_t lap_left = f->v.ring_bytes - (t & f->v.mask);

		if (piece > lap_left)
			piece = lap_left;
		if (piece > max_piece(f))
			piece = max_piece(f);
		publish(f, p, (uint32_t)(piece - REC_HDR_BYTES));
		n++;
	}
	assert_int_equal(tail_bytes(f), target);
	return n;
}

/* A commit word of f's key for the record at bytes. */
static uint64_t word_for(const struct fx *f, uint64_t bytes, uint64_t len, unsigned flags,
			 unsigned type)
{
	return rec_word_make(f->v.key, bytes, f->v.ring_shift, len, flags, type);
}

/* Where a claim of span bytes from tail t ends, with its PAD if it wraps. */
static uint64_t end_after(const struct fx *f, uint64_t t, uint64_t span)
{
	return (t & f->v.mask) + span > f->v.ring_bytes ? (t | f->v.mask) + 1 + span : t + span;
}

/* The decoded low half of the commit word at bytes; 0 if it is not of bytes' lap. */
static uint32_t low_at(const struct fx *f, uint64_t bytes)
{
	return rec_word_decode(atomic_load(&log_rec_at(&f->v, bytes)->word), f->v.key, bytes,
			       f->v.ring_shift);
}

/* ---- geometry ---- */

static void test_geometry_rejects_bad_arguments(void **state)
{
	struct log_geometry g;

	(void)state;
	assert_int_equal(log_geometry_make(0, 0, DROP, 0, 0, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(0, MAX_MESSAGE_BYTES + 1, DROP, 0, 0, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(0, 64, 2, 0, 0, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(0, 64, DROP, 2, 0, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(0, 64, DROP, 0, 2, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(0, 64, DROP, 0, 0x80000000u, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(MAX_RING_BYTES + 1, 64, DROP, 0, 0, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(0, 64, BLOCK, 1, DATA_F_NO_TIMESTAMP, &g), 0);
	assert_int_equal(g.flags, DATA_F_NO_TIMESTAMP);
	assert_int_equal(log_geometry_make(0, MAX_MESSAGE_BYTES, DROP, 0, 0, &g), 0);
	assert_int_equal(log_geometry_make(MAX_RING_BYTES, 64, DROP, 0, 0, &g), 0);
	assert_int_equal(g.ring_bytes, MAX_RING_BYTES);
}

/* The smallest power of two >= MIN_RING_BYTES, capacity and 4 of the largest records. */
static void check_geometry(uint64_t cap, uint32_t max_msg)
{
	uint64_t max_rec = rec_bytes_for(max_msg, REC_EXT_MAX), need = MIN_RING_BYTES;
	struct log_geometry g;

	if (need < cap)
		need = cap;
	if (need < 4 * max_rec)
		need = 4 * max_rec;
	assert_int_equal(log_geometry_make(cap, max_msg, DROP, 0, 0, &g), 0);
	assert_true(g.ring_bytes && !(g.ring_bytes & (g.ring_bytes - 1)));
	assert_true(g.ring_bytes >= need);
	assert_true(g.ring_bytes / 2 < need);
	assert_int_equal(g.max_message_bytes, max_msg);
	assert_int_equal(g.max_record_bytes, max_rec);
	assert_int_equal(g.data_bytes, DATA_HDR_BYTES + g.ring_bytes);
	assert_int_equal(g.ctl_bytes, CTL_SEG_BYTES);
}

static void test_geometry_rounds_ring_to_power_of_two_of_four_largest_records(void **state)
{
	struct log_geometry g;
	uint64_t rng = 7;

	(void)state;
	assert_int_equal(log_geometry_make(0, 64, DROP, 0, 0, &g), 0);
	assert_int_equal(g.max_record_bytes, 4192); /* 32 + 4096 + 64 */
	assert_int_equal(g.ring_bytes, 32768);
	assert_int_equal(log_geometry_make(0, SMALL_MSG, DROP, 0, 0, &g), 0);
	assert_int_equal(g.ring_bytes, SMALL_RING);
	assert_int_equal(log_geometry_make(0, SMALL_MSG + 1, DROP, 0, 0, &g), 0);
	assert_int_equal(g.ring_bytes, 2 * SMALL_RING);
	assert_int_equal(log_geometry_make(65536, 64, DROP, 0, 0, &g), 0);
	assert_int_equal(g.ring_bytes, 65536);
	assert_int_equal(log_geometry_make(65537, 64, DROP, 0, 0, &g), 0);
	assert_int_equal(g.ring_bytes, 131072);
	for (unsigned i = 0; i < 2000; i++)
		check_geometry(rng_below(&rng, 1ull << (rng_below(&rng, 30) + 1)),
			       1 + (uint32_t)rng_below(&rng, 1u << (rng_below(&rng, 24) + 1)));
	check_geometry(0, MAX_MESSAGE_BYTES);
	check_geometry(MAX_RING_BYTES, 1);
}

/* Messages of an eighth of the capacity fit a ring of exactly that capacity. */
static void test_message_of_an_eighth_of_capacity_round_trips(void **state)
{
	struct log_cursor cur = {0, 0};
	struct log_pub p;
	struct fx f;

	(void)state;
	for (uint64_t cap = 1ull << 16; cap <= 1ull << 22; cap <<= 2) {
		uint32_t m = (uint32_t)(cap / 8);

		make(&f, cap, m, DROP);
		assert_int_equal(f.v.ring_bytes, cap);
		fx_pub_init(&f, &p, 0, PID, false);
		cur = (struct log_cursor){0, 0};
		for (unsigned i = 0; i < 24; i++) {
			uint32_t len = i % 3 ? m : m - i;

			publish(&f, &p, len);
			read_expect(&f, &cur, len);
		}
		assert_true(tail_bytes(&f) > 2 * cap); /* wrapped twice */
		fx_free(&f);
	}
}

/* ---- format, attach ---- */

static void test_format_then_attach_gives_the_geometry(void **state)
{
	struct log_cursor t, o, cur;
	struct log_pub p;
	struct fx f;

	(void)state;
	assert_int_equal(fx_make_ex(&f, 100000, 1000, BLOCK, 1, 1000), 0);
	assert_int_equal(f.v.ring_bytes, 131072);
	assert_int_equal(f.v.mask, 131071);
	assert_int_equal(f.v.ring_shift, 17);
	assert_int_equal(f.v.chunk_bytes, 131072 / CHUNKS);
	assert_int_equal(f.v.max_message_bytes, 1000);
	assert_int_equal(f.v.max_record_bytes, rec_bytes_for(1000, REC_EXT_MAX));
	assert_int_equal(f.v.policy, BLOCK);
	assert_int_equal(f.v.pub_mode, 1);
	assert_int_equal(f.v.channel_id, 42);
	assert_int_equal(f.v.base_pos, 1000);
	assert_int_equal(f.v.key, FX_KEY);
	assert_int_equal(f.v.key & 3, 0);
	assert_ptr_equal(f.v.ring, (uint8_t *)f.data + DATA_HDR_BYTES);
	assert_ptr_equal(f.v.rslots, (uint8_t *)f.ctl + CTL_READERS_OFF);
	assert_ptr_equal(f.v.pslots, (uint8_t *)f.ctl + CTL_PUBS_OFF);
	assert_ptr_equal(f.v.wake, f.wake);
	assert_string_equal(f.v.data->name, "test.channel");
	log_tail_cursor(&f.v, &t);
	assert_int_equal(t.pos, 1000);
	assert_int_equal(t.bytes, 0);
	log_oldest(&f.v, &o);
	assert_int_equal(o.pos, 1000);
	assert_int_equal(o.bytes, 0);
	fx_pub_init(&f, &p, 0, PID, false);
	assert_int_equal(publish(&f, &p, 5).at.pos, 1000);
	cur = o;
	read_expect(&f, &cur, 5);
	fx_free(&f);
}

static void test_format_rejects_long_name_and_fixes_key(void **state)
{
	char name[300];
	struct fx f;

	(void)state;
	make(&f, 0, 64, DROP);
	memset(f.data, 0, f.g.data_bytes);
	memset(f.ctl, 0, f.g.ctl_bytes);
	memset(name, 'a', sizeof(name));
	name[256] = 0;
	assert_int_equal(log_format(f.data, f.ctl, &f.g, name, 1, 0, 5), -SHMQ_ENAME);
	name[255] = 0;
	/* key 0 or with low bits: the low bits are cleared, 0 gets a fixed one */
	assert_int_equal(log_format(f.data, f.ctl, &f.g, name, 1, 0, 3), 0);
	{
		struct log_segs segs = {f.data,	       f.g.data_bytes, f.ctl,
					f.g.ctl_bytes, f.wake,	       WAKE_SEG_BYTES};

		assert_int_equal(log_attach(&f.v, &segs, NULL), 0);
	}
	assert_true(f.v.key != 0);
	assert_int_equal(f.v.key & 3, 0);
	assert_int_equal(strlen(f.v.data->name), 255);
	fx_free(&f);
}

/* Attach f's segments into v, claiming the data and control segments have these sizes. */
static int attach_into(struct fx *f, struct log_view *v, uint64_t data_bytes, uint64_t ctl_bytes,
		       uint32_t *unknown)
{
	struct log_segs segs = {f->data, data_bytes, f->ctl, ctl_bytes, f->wake, WAKE_SEG_BYTES};

	return log_attach(v, &segs, unknown);
}

static int attach_again(struct fx *f, uint32_t *unknown)
{
	struct log_view v;

	return attach_into(f, &v, f->g.data_bytes, f->g.ctl_bytes, unknown);
}

/* Fresh headers with one field of the data header changed by case i; false past the last. */
static bool data_garbage(struct data_hdr *d, unsigned i)
{
	switch (i) {
	case 0:
		d->magic ^= 1;
		break;
	case 1:
		d->hdr_bytes = 0;
		break;
	case 2:
		d->hdr_bytes += 64;
		break;
	case 3:
		d->seg_bytes += 4096;
		break;
	case 4:
		d->seg_bytes -= 32;
		break;
	case 5:
		d->ring_bytes += 32;
		break;
	case 6:
		d->ring_bytes = 0;
		break;
	case 7:
		d->ring_bytes *= 2;
		d->ring_shift++;
		break; /* past the segment */
	case 8:
		d->ring_bytes /= 4;
		d->ring_shift -= 2;
		break; /* 4 records no longer fit */
	case 9:
		d->ring_bytes = MIN_RING_BYTES / 2;
		d->ring_shift = 11;
		break;
	case 10:
		d->ring_bytes = MAX_RING_BYTES * 2;
		d->ring_shift = 41;
		break;
	case 11:
		d->ring_shift++;
		break;
	case 12:
		d->ring_shift = 200;
		break;
	case 13:
		d->max_message_bytes = 0;
		break;
	case 14:
		d->max_message_bytes = MAX_MESSAGE_BYTES + 1;
		break;
	case 15:
		d->max_message_bytes += 32;
		break; /* max_record_bytes disagrees */
	case 16:
		d->max_record_bytes += 32;
		break;
	case 17:
		d->max_record_bytes -= 32;
		break;
	case 18:
		d->max_record_bytes = 0;
		break;
	case 19:
		d->policy = 2;
		break;
	case 20:
		d->policy = 0xffffffffu;
		break;
	case 21:
		d->pub_mode = 2;
		break;
	case 22:
		d->flags = 2;
		break;
	case 23:
		d->flags = 0x80000001u;
		break;
	case 24:
		d->rec_key = 0;
		break;
	case 25:
		d->rec_key |= 1;
		break;
	case 26:
		d->rec_key |= 2;
		break;
	case 27:
		d->channel_id++;
		break; /* no longer the control segment's */
	default:
		return false;
	}
	return true;
}

static bool ctl_garbage(struct ctl_hdr *c, unsigned i)
{
	switch (i) {
	case 0:
		c->magic ^= 1ull << 40;
		break;
	case 1:
		c->hdr_bytes = 0;
		break;
	case 2:
		c->hdr_bytes = CTL_HDR_BYTES * 2;
		break;
	case 3:
		c->seg_bytes += 4096;
		break;
	case 4:
		c->seg_bytes = 0;
		break;
	case 5:
		c->channel_id ^= 0x100;
		break;
	case 6:
		c->max_readers = MAX_READERS + 1;
		break;
	case 7:
		c->max_readers = 0;
		break;
	case 8:
		c->max_pubs = MAX_PUBS * 2;
		break;
	case 9:
		c->max_pubs = 0;
		break;
	case 10:
		c->pubs_off += 128;
		break;
	case 11:
		c->pubs_off = 0;
		break;
	case 12:
		c->readers_off = 0;
		break;
	case 13:
		c->version = CTL_LAYOUT_VERSION + 1;
		break;
	default:
		return false;
	}
	return true;
}

static void test_attach_rejects_garbage_in_every_data_header_field(void **state)
{
	unsigned i = 0;
	struct fx f;

	(void)state;
	for (;; i++) {
		make(&f, 65536, 100, BLOCK);
		if (!data_garbage(f.v.data, i)) {
			fx_free(&f);
			break;
		}
		if (attach_again(&f, NULL) != -SHMQ_ECORRUPT)
			fail_msg("data header case %u: attach gave %d, want %d", i,
				 attach_again(&f, NULL), -SHMQ_ECORRUPT);
		fx_free(&f);
	}
	assert_int_equal(i, 28);
}

static void test_attach_rejects_garbage_in_every_control_header_field(void **state)
{
	unsigned i = 0;
	struct fx f;

	(void)state;
	for (;; i++) {
		make(&f, 65536, 100, DROP);
		if (!ctl_garbage(fx_ctl(&f), i)) {
			fx_free(&f);
			break;
		}
		if (attach_again(&f, NULL) != (i == 13 ? -SHMQ_EVERSION : -SHMQ_ECORRUPT))
			fail_msg("control header case %u: attach gave %d", i,
				 attach_again(&f, NULL));
		fx_free(&f);
	}
	assert_int_equal(i, 14);
}

/*
 * The reserved group table's place and size are control-header geometry
 * like the publisher table's: garbage there is refused too.
 */
static void test_attach_rejects_garbage_in_the_group_table_fields(void **state)
{
	struct fx f;

	(void)state;
	make(&f, 0, 64, DROP);
	fx_ctl(&f)->max_groups = MAX_GROUPS + 1;
	assert_int_equal(attach_again(&f, NULL), -SHMQ_ECORRUPT);
	fx_ctl(&f)->max_groups = MAX_GROUPS;
	fx_ctl(&f)->groups_off = CTL_SEG_BYTES; /* the table would lie past the segment */
	assert_int_equal(attach_again(&f, NULL), -SHMQ_ECORRUPT);
	fx_free(&f);
}

static void test_attach_rejects_short_or_mismatched_segments(void **state)
{
	struct log_view v;
	struct fx f;

	(void)state;
	make(&f, 0, 64, DROP);
	struct log_segs segs = {f.data,	       f.g.data_bytes, f.ctl,
				f.g.ctl_bytes, f.wake,	       WAKE_SEG_BYTES - 1};

	assert_int_equal(attach_into(&f, &v, DATA_HDR_BYTES - 1, f.g.ctl_bytes, NULL),
			 -SHMQ_ECORRUPT);
	assert_int_equal(attach_into(&f, &v, f.g.data_bytes, CTL_HDR_BYTES - 1, NULL),
			 -SHMQ_ECORRUPT);
	assert_int_equal(attach_into(&f, &v, f.g.data_bytes - 4096, f.g.ctl_bytes, NULL),
			 -SHMQ_ECORRUPT);
	/* a wake segment too short */
	assert_int_equal(log_attach(&v, &segs, NULL), -SHMQ_ECORRUPT);
	/* a control segment too short for its tables, even if it says so itself */
	fx_ctl(&f)->seg_bytes = CTL_SEG_BYTES - 128;
	assert_int_equal(attach_into(&f, &v, f.g.data_bytes, CTL_SEG_BYTES - 128, NULL),
			 -SHMQ_ECORRUPT);
	/* zeroed segments: no magic */
	fx_ctl(&f)->seg_bytes = CTL_SEG_BYTES;
	atomic_store(&f.v.data->magic, 0);
	assert_int_equal(attach_again(&f, NULL), -SHMQ_ECORRUPT);
	fx_free(&f);
}

static void test_attach_reports_other_version_and_unknown_incompat_bits(void **state)
{
	uint32_t unknown = 77;
	struct fx f;

	(void)state;
	make(&f, 0, 64, DROP);
	f.v.data->version = LAYOUT_VERSION + 1;
	assert_int_equal(attach_again(&f, NULL), -SHMQ_EVERSION);
	f.v.data->version = 2;
	assert_int_equal(attach_again(&f, NULL), -SHMQ_EVERSION);
	f.v.data->version = LAYOUT_VERSION;
	fx_ctl(&f)->version = 2;
	assert_int_equal(attach_again(&f, NULL), -SHMQ_EVERSION);
	fx_ctl(&f)->version = CTL_LAYOUT_VERSION;
	assert_int_equal(attach_again(&f, &unknown), 0);
	assert_int_equal(unknown, 0);

	f.v.data->incompat = 0x80000001u;
	assert_int_equal(attach_again(&f, &unknown), -SHMQ_EVERSION);
	assert_int_equal(unknown, 0x80000001u & ~FEAT_INCOMPAT_KNOWN);
	assert_int_equal(attach_again(&f, NULL), -SHMQ_EVERSION);
	f.v.data->incompat = 0x10;
	assert_int_equal(attach_again(&f, &unknown), -SHMQ_EVERSION);
	assert_int_equal(unknown, 0x10);

	/* compat bits nobody knows are accepted */
	f.v.data->incompat = 0;
	f.v.data->compat = 0xffffffffu;
	assert_int_equal(attach_again(&f, &unknown), 0);
	assert_int_equal(unknown, 0);
	fx_free(&f);
}

/* ---- claim, commit, read ---- */

static void round_trip_every_length(uint32_t policy, uint32_t pub_mode)
{
	struct log_cursor cur = {0, 0};
	struct log_pub p;
	struct fx f;

	assert_int_equal(fx_make_ex(&f, 0, SMALL_MSG, policy, pub_mode, 0), 0);
	assert_int_equal(f.v.ring_bytes, SMALL_RING);
	fx_reader_add(&f, 0, &cur);
	fx_pub_init(&f, &p, 0, PID, false);
	for (uint32_t len = 0; len <= SMALL_MSG; len++) {
		struct log_claim c = publish(&f, &p, len);
		struct log_rec rec;

		assert_int_equal(c.at.pos, len);
		assert_int_equal(c.end - c.at.bytes, rec_bytes_for(len, 0));
		rec = read_expect(&f, &cur, len);
		assert_int_equal(rec.bytes, c.at.bytes);
		assert_int_equal(rec.flags, 0);
		assert_null(rec.ext);
		fx_reader_set(&f, 0, &cur);
	}
	assert_int_equal(log_tail(&f.v), SMALL_MSG + 1);
	assert_true(tail_bytes(&f) > 100 * SMALL_RING);
	fx_free(&f);
}

/*
 * A hostile publisher scribbles a tail off the 32-byte record grid, just
 * short of the ring's end. An honest publisher's claim must refuse it
 * (-SHMQ_ECORRUPT), not lay a record across the ring's end: its header or
 * payload would be written past the mapping.
 */
static void test_a_claim_from_a_tail_off_the_record_grid_is_refused(void **state)
{
	struct log_pub p;
	struct log_claim c;
	struct fx f;

	(void)state;
	assert_int_equal(fx_make_ex(&f, 0, SMALL_MSG, DROP, 0, 0), 0);
	fx_pub_init(&f, &p, 0, PID, false);
	atomic_store(&f.v.data->tail_bytes, f.v.ring_bytes - REC_ALIGN / 2);
	assert_int_equal(log_claim(&f.v, &p, 8, 0, &c), -SHMQ_ECORRUPT);
	assert_int_equal(atomic_load(&p.me->claim_state), PUB_IDLE);
	fx_free(&f);
}

static void test_every_length_round_trips_byte_by_byte(void **state)
{
	(void)state;
	round_trip_every_length(DROP, 0);
	round_trip_every_length(BLOCK, 0);
}

static void test_exclusive_publisher_round_trips_every_length(void **state)
{
	(void)state;
	round_trip_every_length(DROP, 1);
	round_trip_every_length(BLOCK, 1);
}

static void test_claim_rejects_message_larger_than_max(void **state)
{
	struct log_claim c;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 100, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	assert_int_equal(log_claim(&f.v, &p, 101, 0, &c), -SHMQ_ETOOBIG);
	assert_int_equal(log_claim(&f.v, &p, UINT32_MAX, 0, &c), -SHMQ_ETOOBIG);
	assert_int_equal(log_claim(&f.v, &p, 1, REC_EXT_MAX + 8, &c), -SHMQ_ETOOBIG);
	assert_int_equal(log_tail(&f.v), 0);
	assert_int_equal(tail_bytes(&f), 0);
	assert_int_equal(log_claim(&f.v, &p, 100, REC_EXT_MAX, &c), 0);
	assert_int_equal(c.end - c.at.bytes, f.v.max_record_bytes);
	fx_free(&f);
}

/* A 64-byte message takes 96 ring bytes: a 32-byte header, no padding. */
static void test_message_of_64_bytes_takes_96_ring_bytes(void **state)
{
	static const uint32_t len[] = {64, 0, 1, 32, 33, 63, 65, 100};
	static const uint64_t bytes[] = {96, 32, 64, 64, 96, 96, 128, 160};
	struct log_cursor cur = {0, 0};
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 128, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned i = 0; i < sizeof(len) / sizeof(len[0]); i++) {
		uint64_t before = tail_bytes(&f);
		struct log_rec rec;

		publish(&f, &p, len[i]);
		assert_int_equal(tail_bytes(&f) - before, bytes[i]);
		rec = read_expect(&f, &cur, len[i]);
		assert_int_equal(rec.rec_bytes, bytes[i]);
	}
	assert_int_equal(atomic_load(&fx_pub(&f, 0)->published), 8);
	assert_int_equal(atomic_load(&fx_pub(&f, 0)->published_bytes),
			 64 + 1 + 32 + 33 + 63 + 65 + 100);
	fx_free(&f);
}

/* A record with an extension area: the reader gets it, and the payload after it. */
static void test_record_with_extension_area_round_trips(void **state)
{
	struct log_cursor cur = {0, 0};
	struct log_claim c;
	struct log_rec rec;
	struct log_pub p;
	uint16_t ext = 24;
	struct fx f;

	(void)state;
	make(&f, 0, 100, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	assert_int_equal(log_claim(&f.v, &p, 10, ext, &c), 0);
	assert_int_equal(c.end - c.at.bytes, rec_bytes_for(10, ext));
	memset(f.v.ring + c.at.bytes + REC_HDR_BYTES, 0xab, ext);
	memcpy(f.v.ring + c.at.bytes + REC_HDR_BYTES, &ext, sizeof(ext));
	for (uint32_t i = 0; i < 10; i++)
		log_payload(&f.v, c.at.bytes, ext)[i] = pattern(0, i);
	assert_int_equal(log_commit(&f.v, &p, &c, 10, ext, 1000), 0);
	assert_int_equal(log_read(&f.v, &cur, &rec), 1);
	assert_int_equal(rec.flags, REC_F_EXT);
	assert_int_equal(rec.ext_bytes, ext);
	assert_ptr_equal(rec.ext, f.v.ring + REC_HDR_BYTES);
	assert_int_equal(rec.ext[2], 0xab);
	check_record(&f, &rec, 0, 10);
	/* a commit that says more than was claimed (64 bytes) is refused */
	assert_int_equal(log_claim(&f.v, &p, 10, 0, &c), 0);
	assert_int_equal(log_commit(&f.v, &p, &c, 10, 40, 0), -SHMQ_EINVAL);
	assert_int_equal(log_commit(&f.v, &p, &c, 33, 0, 0), -SHMQ_EINVAL);
	assert_int_equal(log_commit(&f.v, &p, &c, 32, 0, 0), 0);
	fx_free(&f);
}

/*
 * The ring's end at every 32-byte offset: with L bytes left before the end,
 * a record of L + 32 bytes gets a PAD of L first (none for L = 0) and starts
 * at the next lap; readers skip the PAD and lose nothing.
 */
static void wrap_at_every_offset(uint32_t policy, uint32_t pub_mode)
{
	struct log_cursor cur = {0, 0};
	uint64_t received = 0, lost = 0, published = 0;
	struct log_pub p;
	struct fx f;

	assert_int_equal(fx_make_ex(&f, 0, SMALL_MSG, policy, pub_mode, 0), 0);
	fx_reader_add(&f, 0, &cur);
	fx_pub_init(&f, &p, 0, PID, false);
	for (uint64_t left = 0; left + REC_HDR_BYTES <= max_piece(&f); left += REC_ALIGN) {
		uint64_t lap_end = (tail_bytes(&f) / SMALL_RING + 1) * SMALL_RING;
		struct log_claim c;
		uint32_t raw;

		/* in two halves with a read between: a drop reader a whole ring
		 * behind would lose its next record to the claim's guard word */
		published += fill_to(&f, &p, (tail_bytes(&f) + lap_end - left) / 2 & ~(uint64_t)31);
		read_all(&f, &cur, &received, &lost);
		published += fill_to(&f, &p, lap_end - left);
		read_all(&f, &cur, &received, &lost);
		fx_reader_set(&f, 0, &cur);
		c = publish(&f, &p, (uint32_t)left);
		published++;
		assert_int_equal(c.start, lap_end - left);
		assert_int_equal(c.at.bytes, left ? lap_end : lap_end - left);
		assert_int_equal(c.end, c.at.bytes + left + REC_HDR_BYTES);
		if (left) {
			raw = low_at(&f, c.start);
			assert_int_equal(rec_word_type(raw), REC_T_PAD);
			assert_int_equal(rec_word_len(raw), left);
			assert_int_equal(log_rec_at(&f.v, c.start)->pos, c.at.pos);
		}
		read_all(&f, &cur, &received, &lost);
		assert_int_equal(cur.bytes, c.end);
		fx_reader_set(&f, 0, &cur);
	}
	assert_int_equal(lost, 0);
	assert_int_equal(received, published);
	assert_int_equal(log_tail(&f.v), published);
	fx_free(&f);
}

static void test_wrap_pads_at_every_32_byte_offset_of_the_ring_end(void **state)
{
	(void)state;
	wrap_at_every_offset(BLOCK, 0);
	wrap_at_every_offset(DROP, 0);
	wrap_at_every_offset(DROP, 1);
}

/*
 * Mixed sizes under block: the publisher runs until -SHMQ_EFULL, which it
 * gets exactly when the claim (with any PAD) would end more than a ring past
 * the reader; the reader drains a random share and publishes its cursor.
 */
static void test_mixed_sizes_block_exactly_at_a_ring_past_the_reader(void **state)
{
	struct log_cursor cur = {0, 0};
	uint64_t rng = 11, received = 0, published = 0, fulls = 0;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, SMALL_MSG, BLOCK);
	fx_reader_add(&f, 0, &cur);
	fx_pub_init(&f, &p, 0, PID, false);
	while (published < 20000) {
		uint32_t len = (uint32_t)rng_below(&rng, rng_below(&rng, 4) ? 200 : SMALL_MSG + 1);
		uint64_t t = tail_bytes(&f), need = rec_bytes_for(len, 0), end;
		struct log_claim c;
		int err;

		end = end_after(&f, t, need);
		err = log_claim(&f.v, &p, len, 0, &c);
		if (end > cur.bytes + SMALL_RING) {
			assert_int_equal(err, -SHMQ_EFULL);
			assert_int_equal(tail_bytes(&f), t);
			assert_int_equal(atomic_load(&fx_pub(&f, 0)->claim_state), PUB_IDLE);
			fulls++;
			for (uint64_t n = 1 + rng_below(&rng, 40); n > 0; n--) {
				struct log_rec rec;
				int r = log_read(&f.v, &cur, &rec);

				if (r != 1 && cur.bytes + SMALL_RING / 2 < tail_bytes(&f))
					fail_msg("full ring, reader at %llu: log_read gave %d",
						 (unsigned long long)cur.bytes, r);
				if (r != 1)
					break;
				assert_int_equal(rec.lost, 0);
				assert_int_equal(rec.pos, received);
				check_record(&f, &rec, rec.pos, rec.len);
				log_advance(&cur, &rec);
				received++;
			}
			fx_reader_set(&f, 0, &cur);
			continue;
		}
		assert_int_equal(err, 0);
		assert_int_equal(c.end, end);
		for (uint32_t i = 0; i < len; i++)
			log_payload(&f.v, c.at.bytes, 0)[i] = pattern(c.at.pos, i);
		assert_int_equal(log_commit(&f.v, &p, &c, len, 0, 1000 + c.at.pos), 0);
		published++;
	}
	assert_true(fulls > 100);
	fx_free(&f);
}

/* Messages of the largest size, in the smallest ring that geometry allows for them. */
static void test_max_size_messages_in_the_smallest_ring(void **state)
{
	static const uint32_t sizes[] = {SMALL_MSG, 100000, 1u << 20};

	(void)state;
	for (unsigned s = 0; s < 3; s++) {
		struct log_cursor cur = {0, 0};
		struct log_geometry g;
		struct log_pub p;
		struct fx f;

		assert_int_equal(log_geometry_make(0, sizes[s], BLOCK, 0, 0, &g), 0);
		make(&f, 0, sizes[s], BLOCK);
		assert_int_equal(f.v.ring_bytes, g.ring_bytes);
		fx_reader_add(&f, 0, &cur);
		fx_pub_init(&f, &p, 0, PID, false);
		while (tail_bytes(&f) < (s < 2 ? 6 : 3) * f.v.ring_bytes) {
			publish(&f, &p, sizes[s]);
			read_expect(&f, &cur, sizes[s]);
			fx_reader_set(&f, 0, &cur);
		}
		fx_free(&f);
	}
}

/* An exclusive publisher moves the tail with plain stores under tail_seq. */
static void test_exclusive_publisher_uses_the_tail_seqlock(void **state)
{
	struct log_cursor cur = {500, 0}, t;
	uint64_t rng = 3;
	struct log_pub p;
	struct fx f;

	(void)state;
	assert_int_equal(fx_make_ex(&f, 0, 1000, DROP, 1, 500), 0);
	fx_pub_init(&f, &p, 0, PID, false);
	assert_true(p.exclusive);
	assert_int_equal(p.tail.pos, 500);
	for (uint32_t i = 0; i < 3000; i++) {
		uint32_t seq = atomic_load(&f.v.data->tail_seq),
			 len = (uint32_t)rng_below(&rng, 1001);
		struct log_claim c = publish(&f, &p, len);

		assert_int_equal(atomic_load(&f.v.data->tail_seq), seq + 2);
		assert_int_equal(c.at.pos, 500 + i);
		log_tail_cursor(&f.v, &t);
		assert_int_equal(t.pos, c.at.pos + 1);
		assert_int_equal(t.bytes, c.end);
		assert_int_equal(p.tail.pos, t.pos);
		assert_int_equal(p.tail.bytes, t.bytes);
		read_expect(&f, &cur, len);
	}
	fx_free(&f);
}

/* log_tail_cursor() is the next record's (pos, bytes), across PADs and batches. */
static void test_tail_cursor_is_the_next_record(void **state)
{
	uint32_t lens[3] = {1, 200, 3000};
	struct log_cursor t;
	struct log_claim c;
	uint64_t rng = 5;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, SMALL_MSG, DROP);
	fx_pub_init(&f, &p, 0, PID, true);
	for (unsigned i = 0; i < 2000; i++) {
		if (i % 7 == 0) {
			assert_int_equal(log_claimv(&f.v, &p, lens, NULL, 3, &c), 0);
			assert_int_equal(log_commitv(&f.v, &p, &c, lens, NULL, 0), 0);
		} else {
			c = publish(&f, &p, (uint32_t)rng_below(&rng, SMALL_MSG + 1));
		}
		log_tail_cursor(&f.v, &t);
		assert_int_equal(t.pos, c.at.pos + c.count);
		assert_int_equal(t.bytes, c.end);
		assert_int_equal(log_tail(&f.v), t.pos);
	}
	fx_free(&f);
}

/* log_oldest(): an intact record boundary at most two chunks and a record past tail - ring. */
static void test_oldest_places_a_reader_that_loses_nothing(void **state)
{
	uint64_t rng = 17;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, SMALL_MSG, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned round = 0; round < 200; round++) {
		uint64_t received = 0, lost = 0, t, lo;
		struct log_cursor o, tail;

		for (uint64_t n = rng_below(&rng, 40); n > 0; n--)
			publish(&f, &p, (uint32_t)rng_below(&rng, SMALL_MSG + 1));
		t = tail_bytes(&f);
		lo = t > SMALL_RING ? t - SMALL_RING : 0;
		log_oldest(&f.v, &o);
		log_tail_cursor(&f.v, &tail);
		assert_true(o.bytes >= lo && o.bytes <= t);
		if (t > SMALL_RING) /* a claim (PAD and record) past two chunks at most */
			assert_true(o.bytes < lo + 2 * f.v.chunk_bytes + 2 * max_piece(&f));
		else
			assert_int_equal(o.bytes, 0);
		read_all(&f, &o, &received, &lost);
		assert_int_equal(lost, 0);
		assert_int_equal(o.pos, tail.pos);
		assert_int_equal(o.bytes, tail.bytes);
	}
	fx_free(&f);
}

/* ---- block policy ---- */

static void test_block_claim_fails_when_slowest_active_reader_is_a_ring_behind(void **state)
{
	struct log_cursor r0 = {0, 0}, r1 = {0, 0};
	struct log_claim c;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 64, BLOCK);
	fx_reader_add(&f, 0, &r0);
	fx_reader_add(&f, 1, &r1);
	/* a free entry's cursor does not count */
	atomic_store(&fx_reader(&f, 5)->bytes, 0);
	f.peers->readers[5] = fx_reader(&f, 5);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned i = 0; i < SMALL_RING / 64; i++) /* 32-byte messages: 64 ring bytes */
		publish(&f, &p, 32);
	assert_int_equal(tail_bytes(&f), SMALL_RING);
	assert_int_equal(log_claim(&f.v, &p, 0, 0, &c), -SHMQ_EFULL);
	assert_int_equal(log_tail(&f.v), SMALL_RING / 64);
	assert_int_equal(atomic_load(&fx_pub(&f, 0)->claim_state), PUB_IDLE);

	/* reader 1 goes ahead: reader 0 is still the slowest */
	read_expect(&f, &r1, 32);
	read_expect(&f, &r1, 32);
	fx_reader_set(&f, 1, &r1);
	assert_int_equal(log_claim(&f.v, &p, 0, 0, &c), -SHMQ_EFULL);
	/* reader 0 reads one record: exactly 64 bytes of room */
	read_expect(&f, &r0, 32);
	fx_reader_set(&f, 0, &r0);
	assert_int_equal(log_claim(&f.v, &p, 33, 0, &c), -SHMQ_EFULL); /* 96 bytes */
	publish(&f, &p, 32);
	assert_int_equal(log_claim(&f.v, &p, 0, 0, &c), -SHMQ_EFULL);
	/* reader 0 leaves: reader 1 is the bound now */
	atomic_store(&fx_rslot(&f, 0)->state, SLOT_FREE);
	publish(&f, &p, 32);
	assert_int_equal(log_claim(&f.v, &p, 0, 0, &c), -SHMQ_EFULL);
	fx_free(&f);
}

static void test_block_without_readers_never_fills(void **state)
{
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 64, BLOCK);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned i = 0; i < 5 * SMALL_RING / 96; i++)
		publish(&f, &p, 64);
	fx_free(&f);
}

/* A reader more than a ring behind (late joiner, hostile) bounds nobody below tail - ring. */
static void test_reader_limit_clamps_a_lapped_reader(void **state)
{
	struct log_cursor r = {0, 0};
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 64, BLOCK);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned i = 0; i < 3 * SMALL_RING / 64; i++)
		publish(&f, &p, 32);
	fx_reader_add(&f, 0, &r);
	assert_int_equal(reader_limit(&f), tail_bytes(&f));
	r.bytes = tail_bytes(&f) - 64;
	fx_reader_set(&f, 0, &r);
	assert_int_equal(reader_limit(&f), r.bytes + SMALL_RING);
	fx_free(&f);
}

/* ---- drop policy ---- */

/*
 * A reader lapped by k rings and a bit: its read reports exactly the
 * messages it skipped, continues at a message whose pos and content match,
 * and received + lost is the tail.
 */
static void overrun_by(uint64_t rings_x4, uint64_t seed)
{
	struct log_cursor cur = {0, 0}, o;
	uint64_t rng = seed, received = 0, lost = 0, start_pos;
	struct log_rec rec;
	struct log_pub p;
	struct fx f;

	make(&f, 0, SMALL_MSG, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	for (uint64_t n = rng_below(&rng, 50); n > 0; n--)
		publish(&f, &p, (uint32_t)rng_below(&rng, SMALL_MSG + 1));
	read_all(&f, &cur, &received, &lost);
	start_pos = cur.pos;
	while (tail_bytes(&f) <= cur.bytes + rings_x4 * SMALL_RING / 4)
		publish(&f, &p,
			(uint32_t)rng_below(&rng, rng_below(&rng, 2) ? 100 : SMALL_MSG + 1));
	log_oldest(&f.v, &o);
	assert_int_equal(log_read(&f.v, &cur, &rec), 1);
	assert_int_equal(rec.abandoned, 0);
	assert_int_equal(rec.lost, o.pos - start_pos);
	assert_true(rec.lost > 0);
	assert_int_equal(rec.pos, start_pos + rec.lost);
	assert_true(rec.bytes >= tail_bytes(&f) - SMALL_RING);
	check_record(&f, &rec, rec.pos, rec.len);
	assert_true(log_verify(&f.v, &rec));
	lost += rec.lost;
	received++;
	log_advance(&cur, &rec);
	read_all(&f, &cur, &received, &lost);
	assert_int_equal(received + lost, log_tail(&f.v));
	fx_free(&f);
}

static void test_drop_lapped_reader_counts_exact_loss(void **state)
{
	(void)state;
	for (uint64_t k = 5; k <= 17; k++)
		for (uint64_t s = 0; s < 8; s++)
			overrun_by(k, k * 100 + s);
}

static void test_drop_reader_a_ring_less_the_guard_behind_loses_nothing(void **state)
{
	struct log_cursor cur = {0, 0};
	uint64_t rng = 9, received = 0, lost = 0;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, SMALL_MSG, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned i = 0; i < 10; i++)
		publish(&f, &p, (uint32_t)rng_below(&rng, 300));
	read_all(&f, &cur, &received, &lost);
	while (tail_bytes(&f) + 3 * max_piece(&f) < cur.bytes + SMALL_RING)
		publish(&f, &p, (uint32_t)rng_below(&rng, SMALL_MSG + 1));
	/* the ring less the guard word where the next record will start */
	fill_to(&f, &p, cur.bytes + SMALL_RING - REC_ALIGN);
	read_all(&f, &cur, &received, &lost);
	assert_int_equal(lost, 0);
	assert_int_equal(received, log_tail(&f.v));
	fx_free(&f);
}

/*
 * A record held by a reader (variable lengths, anywhere in the ring) stays
 * valid while the tail is less than a ring past its start, and log_verify()
 * says false from the first claim that reaches it (that claim's guard word
 * is the record's first word).
 */
static void test_verify_fails_once_a_later_lap_overwrites_a_held_record(void **state)
{
	uint64_t rng = 21;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, SMALL_MSG, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned round = 0; round < 60; round++) {
		struct log_cursor cur;
		struct log_rec rec;
		struct log_claim c;

		for (uint64_t n = rng_below(&rng, 30); n > 0; n--)
			publish(&f, &p, (uint32_t)rng_below(&rng, SMALL_MSG + 1));
		c = publish(&f, &p, (uint32_t)rng_below(&rng, SMALL_MSG + 1));
		cur = c.at;
		assert_int_equal(log_read(&f.v, &cur, &rec), 1);
		while (tail_bytes(&f) + 3 * max_piece(&f) < c.at.bytes + SMALL_RING)
			publish(&f, &p, (uint32_t)rng_below(&rng, SMALL_MSG + 1));
		fill_to(&f, &p, c.at.bytes + SMALL_RING - REC_ALIGN);
		assert_true(log_verify(&f.v, &rec));
		check_record(&f, &rec, c.at.pos, rec.len);
		publish(&f, &p, (uint32_t)rng_below(&rng, SMALL_MSG + 1));
		assert_false(log_verify(&f.v, &rec));
		/* the reader that held it goes on at a message its count matches */
		log_advance(&cur, &rec);
		assert_int_equal(log_read(&f.v, &cur, &rec), 1);
		check_record(&f, &rec, c.at.pos + 1 + rec.lost, rec.len);
	}
	fx_free(&f);
}

/* Block policy: nobody overwrites what a reader has not passed; verify always holds. */
static void test_verify_holds_under_block_policy(void **state)
{
	struct log_cursor cur = {0, 0};
	struct log_rec rec;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 64, BLOCK);
	fx_pub_init(&f, &p, 0, PID, false);
	publish(&f, &p, 10);
	assert_int_equal(log_read(&f.v, &cur, &rec), 1);
	for (unsigned i = 0; i < 3 * SMALL_RING / 64; i++)
		publish(&f, &p, 32);
	assert_true(log_verify(&f.v, &rec));
	fx_free(&f);
}

/* ---- abort, batches ---- */

/*
 * Aborted claims are counted exactly: at once when they end at the tail
 * (the tail's number says how many), else when the next record shows its.
 */
static void test_abort_counts_exactly_the_aborted_messages(void **state)
{
	struct log_cursor cur = {0, 0}, before;
	struct log_claim c;
	struct log_rec rec;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, SMALL_MSG, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	publish(&f, &p, 5);
	read_expect(&f, &cur, 5);
	/* three aborts, the last across the ring's end (a PAD, then ABANDONED) */
	assert_int_equal(log_claim(&f.v, &p, 100, 0, &c), 0);
	assert_int_equal(log_abort(&f.v, &p, &c), 0);
	assert_int_equal(atomic_load(&fx_pub(&f, 0)->claim_state), PUB_IDLE);
	assert_int_equal(log_claim(&f.v, &p, 0, 0, &c), 0);
	assert_int_equal(log_abort(&f.v, &p, &c), 0);
	/* both end at the tail: counted now, the cursor at the tail */
	before = cur;
	assert_int_equal(log_read(&f.v, &cur, &rec), 0);
	assert_int_equal(rec.lost, 2);
	assert_int_equal(rec.abandoned, 2);
	assert_int_equal(cur.pos, before.pos + 2);
	assert_int_equal(cur.bytes, tail_bytes(&f));
	assert_int_equal(log_read(&f.v, &cur, &rec), 0);
	assert_int_equal(rec.lost, 0);
	fill_to(&f, &p, SMALL_RING - 64);
	read_all(&f, &cur, &(uint64_t){0}, &(uint64_t){0});
	/* across the ring's end (a PAD, then ABANDONED), not at the tail
	 * once the next is claimed: counted when the next record shows it */
	assert_int_equal(log_claim(&f.v, &p, 100, 0, &c), 0);
	assert_int_equal(c.start, SMALL_RING - 64);
	assert_int_equal(log_abort(&f.v, &p, &c), 0);
	{
		struct log_claim d;

		assert_int_equal(log_claim(&f.v, &p, 7, 0, &d), 0); /* claimed, not committed */
		assert_int_equal(log_read(&f.v, &cur, &rec),
				 0); /* past the PAD, at the ABANDONED */
		assert_int_equal(rec.lost, 0);
		assert_int_equal(cur.bytes, c.at.bytes);
		memcpy(log_payload(&f.v, d.at.bytes, 0), "1234567", 7);
		assert_int_equal(log_commit(&f.v, &p, &d, 7, 0, 0), 0);
	}
	assert_int_equal(log_read(&f.v, &cur, &rec), 1);
	assert_int_equal(rec.lost, 1);
	assert_int_equal(rec.abandoned, 1);
	assert_int_equal(rec.pos, c.at.pos + 1);
	assert_int_equal(rec.len, 7);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), 0); /* the daemon's count only */
	fx_free(&f);
}

/* More aborts in a row than any batch has records: each counted. */
static void test_aborts_in_a_long_row_are_each_counted(void **state)
{
	struct log_cursor cur = {0, 0};
	struct log_claim c;
	struct log_rec rec;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 131072, 100, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned i = 0; i < 3 * MAX_BATCH; i++) {
		assert_int_equal(log_claim(&f.v, &p, 0, 0, &c), 0);
		assert_int_equal(log_abort(&f.v, &p, &c), 0);
	}
	assert_int_equal(log_read(&f.v, &cur, &rec), 0);
	assert_int_equal(rec.lost, 3 * MAX_BATCH);
	assert_int_equal(rec.abandoned, 3 * MAX_BATCH);
	publish(&f, &p, 4);
	assert_int_equal(log_read(&f.v, &cur, &rec), 1);
	assert_int_equal(rec.lost, 0);
	check_record(&f, &rec, 3 * MAX_BATCH, 4);
	fx_free(&f);
}

static void test_abort_read_right_away_counts_both(void **state)
{
	struct log_cursor cur = {0, 0};
	struct log_claim c;
	struct log_rec rec;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 100, BLOCK);
	fx_pub_init(&f, &p, 0, PID, false);
	publish(&f, &p, 1);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(log_claim(&f.v, &p, 50, 0, &c), 0);
		assert_int_equal(log_abort(&f.v, &p, &c), 0);
	}
	publish(&f, &p, 3);
	read_expect(&f, &cur, 1);
	assert_int_equal(log_read(&f.v, &cur, &rec), 1);
	assert_int_equal(rec.lost, 2);
	assert_int_equal(rec.abandoned, 2);
	check_record(&f, &rec, 3, 3);
	fx_free(&f);
}

static struct log_claim batch_claim(struct fx *f, struct log_pub *p, const uint32_t *lens,
				    unsigned n)
{
	struct log_claim c;

	assert_int_equal(log_claimv(&f->v, p, lens, NULL, n, &c), 0);
	assert_int_equal(c.count, n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = log_claim_rec_bytes(&c, lens, NULL, i);

		for (uint32_t j = 0; j < lens[i]; j++)
			log_payload(&f->v, b, 0)[j] = pattern(c.at.pos + i, j);
	}
	return c;
}

/* The batch c, committed with timestamp ts, read whole in order. */
static void read_batch(struct fx *f, struct log_cursor *cur, const struct log_claim *c,
		       const uint32_t *lens, unsigned n, uint64_t ts)
{
	for (unsigned i = 0; i < n; i++) {
		struct log_rec rec;

		assert_int_equal(log_read(&f->v, cur, &rec), 1);
		assert_int_equal(rec.lost, 0);
		check_payload(f, &rec, c->at.pos + i, lens[i]);
		assert_int_equal(rec.timestamp_ns, ts);
		assert_true(log_verify(&f->v, &rec));
		log_advance(cur, &rec);
		assert_int_equal(rec.flags, i == 0 && n > 1 ? REC_F_BATCH : 0);
		assert_int_equal(rec.bytes, log_claim_rec_bytes(c, lens, NULL, i));
	}
}

static void test_batch_is_invisible_until_committed_then_read_whole(void **state)
{
	uint32_t lens[MAX_BATCH];
	struct log_cursor cur = {0, 0};
	uint64_t rng = 31;
	struct log_rec rec;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 1000, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned round = 0; round < 300; round++) {
		unsigned n = 1 + (unsigned)rng_below(&rng, round % 10 ? 32 : 100);
		struct log_claim c;

		for (unsigned i = 0; i < n; i++)
			lens[i] = (uint32_t)rng_below(&rng, rng_below(&rng, 4) ? 64 : 1001);
		if (log_claimv(&f.v, &p, lens, NULL, n, &c) == -SHMQ_ETOOBIG)
			continue;
		assert_int_equal(log_abort(&f.v, &p, &c), 0); /* a batch's abort, read below */
		publish(&f, &p, 2);
		assert_int_equal(log_read(&f.v, &cur, &rec), 1);
		assert_int_equal(rec.lost, n);
		assert_int_equal(rec.abandoned, n);
		check_record(&f, &rec, c.at.pos + n, 2);
		log_advance(&cur, &rec);

		c = batch_claim(&f, &p, lens, n);
		assert_int_equal(log_read(&f.v, &cur, &rec), 0);
		assert_int_equal(rec.lost, 0);
		assert_int_equal(cur.pos, c.at.pos);
		assert_int_equal(log_commitv(&f.v, &p, &c, lens, NULL, 77 + round), 0);
		read_batch(&f, &cur, &c, lens, n, 77 + round);
		assert_int_equal(log_tail(&f.v), c.at.pos + n);
	}
	fx_free(&f);
}

static void test_batch_across_the_ring_end_starts_after_a_pad(void **state)
{
	uint32_t lens[5] = {100, 0, 700, 33, 64};
	struct log_cursor cur = {0, 0};
	struct log_claim c;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 1000, BLOCK);
	fx_pub_init(&f, &p, 0, PID, false);
	fill_to(&f, &p, f.v.ring_bytes - 96);
	read_all(&f, &cur, &(uint64_t){0}, &(uint64_t){0});
	c = batch_claim(&f, &p, lens, 5);
	assert_int_equal(c.start, f.v.ring_bytes - 96);
	assert_int_equal(c.at.bytes, f.v.ring_bytes);
	assert_int_equal(rec_word_type(low_at(&f, c.start)), REC_T_PAD);
	assert_int_equal(log_commitv(&f.v, &p, &c, lens, NULL, 5), 0);
	read_batch(&f, &cur, &c, lens, 5, 5);
	fx_free(&f);
}

static void test_batch_rejects_bad_arguments(void **state)
{
	uint32_t lens[MAX_BATCH + 1];
	struct log_claim c;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 1000, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned i = 0; i <= MAX_BATCH; i++)
		lens[i] = 0;
	assert_int_equal(log_claimv(&f.v, &p, lens, NULL, 0, &c), -SHMQ_EINVAL);
	assert_int_equal(log_claimv(&f.v, &p, lens, NULL, MAX_BATCH + 1, &c), -SHMQ_EINVAL);
	assert_int_equal(log_claimv(&f.v, &p, NULL, NULL, 1, &c), -SHMQ_EINVAL);
	lens[3] = 1001;
	assert_int_equal(log_claimv(&f.v, &p, lens, NULL, 4, &c), -SHMQ_ETOOBIG);
	for (unsigned i = 0; i < 10; i++)
		lens[i] = 1000; /* 10 * 1056 bytes > ring / 4 */
	assert_true(10 * rec_bytes_for(1000, 0) > f.v.ring_bytes / 4);
	assert_int_equal(log_claimv(&f.v, &p, lens, NULL, 10, &c), -SHMQ_ETOOBIG);
	for (unsigned i = 0; i < MAX_BATCH; i++)
		lens[i] = 0;
	assert_int_equal(log_claimv(&f.v, &p, lens, NULL, MAX_BATCH, &c), -SHMQ_ETOOBIG);
	assert_int_equal(log_claimv(&f.v, &p, lens, NULL, f.v.ring_bytes / 4 / 32 + 1, &c),
			 -SHMQ_ETOOBIG);
	assert_int_equal(tail_bytes(&f), 0);
	assert_int_equal(log_claimv(&f.v, &p, lens, NULL, f.v.ring_bytes / 4 / 32, &c), 0);
	assert_int_equal(log_abort(&f.v, &p, &c), 0);
	assert_int_equal(log_claimv(&f.v, &p, lens, NULL, 7, &c), 0);
	lens[6] = 1;
	assert_int_equal(log_commitv(&f.v, &p, &c, lens, NULL, 0), -SHMQ_EINVAL);
	assert_int_equal(log_commit(&f.v, &p, &c, 0, 0, 0), -SHMQ_EINVAL);
	lens[6] = 0;
	assert_int_equal(log_commitv(&f.v, &p, &c, lens, NULL, 0), 0);
	fx_free(&f);
}

/*
 * Stale bytes are no record: lap 0 leaves a commit word at index i; in lap 1
 * a record's payload ends 5 bytes into that word (byte-granular payload
 * writes), leaving the top bytes of the old word (under format v3's first
 * word, key ^ lap, the bytes below made it read as lap 2's ABANDONED); in
 * lap 2 nothing has been committed at i yet. A reader waiting there sees nothing, and the
 * record then claimed and committed there is published, not "abandoned".
 */
static void test_stale_word_cut_by_a_later_payload_is_no_record(void **state)
{
	const uint64_t i = 4096;
	struct log_cursor cur;
	struct log_claim c;
	struct log_rec rec;
	struct log_pub p;
	uint8_t *d;
	struct fx f;
	int r;

	(void)state;
	make(&f, 0, 100, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	fill_to(&f, &p, i);
	publish(&f, &p, 0); /* lap 0: a commit word at i */
	fill_to(&f, &p, SMALL_RING + i - 64);
	/* lap 1: 37 payload bytes from i - 32 to i + 5 */
	assert_int_equal(log_claim(&f.v, &p, 37, 0, &c), 0);
	d = log_payload(&f.v, c.at.bytes, 0);
	memset(d, 0x11, 37);
	d[32] = (uint8_t)(f.v.key ^ 3);	      /* decodes to type 3 (ABANDONED) */
	d[36] = (uint8_t)(f.v.key >> 32 ^ 2); /* and to lap 2 */
	assert_int_equal(log_commit(&f.v, &p, &c, 37, 0, 0), 0);
	fill_to(&f, &p, 2 * SMALL_RING + i); /* lap 2, up to i */
	cur = (struct log_cursor){log_tail(&f.v), 2 * SMALL_RING + i};
	r = log_read(&f.v, &cur, &rec);
	assert_int_equal(r, 0);
	assert_int_equal(log_claim(&f.v, &p, 8, 0, &c), 0);
	assert_int_equal(c.at.bytes, 2 * SMALL_RING + i);
	assert_int_equal(log_commit(&f.v, &p, &c, 8, 0, 0), 0);
	fx_free(&f);
}

/* ---- hostile record headers ---- */

struct forged {
	struct fx f;
	struct log_cursor cur; /* the reader, in front of the forged record */
	struct rec_hdr *h;
};

/* Publish a few messages, read them; the reader then waits at the tail. */
static void forge_setup(struct forged *g, uint32_t policy, uint64_t at_bytes)
{
	struct log_pub p;

	make(&g->f, 131072, 1000, policy);
	fx_pub_init(&g->f, &p, 0, PID, false);
	g->cur = (struct log_cursor){0, 0};
	fill_to(&g->f, &p, at_bytes);
	read_all(&g->f, &g->cur, &(uint64_t){0}, &(uint64_t){0});
	g->h = log_rec_at(&g->f.v, g->cur.bytes);
}

static void forge_msg(struct forged *g, uint64_t size, unsigned flags, uint32_t len, uint64_t pos)
{
	g->h->pos = pos;
	g->h->len = len;
	atomic_store(&g->h->word, word_for(&g->f, g->cur.bytes, size, flags, REC_T_MSG));
}

static void expect_read(struct forged *g, int want, const char *what)
{
	struct log_cursor cur = g->cur;
	struct log_rec rec;
	int r = log_read(&g->f.v, &cur, &rec);

	if (r != want)
		fail_msg("%s (policy %u): log_read gave %d, want %d", what, g->f.v.policy, r, want);
}

static void garbage_headers(uint32_t policy)
{
	struct forged g;
	uint64_t p;

	forge_setup(&g, policy, 4096);
	p = g.cur.pos;
	forge_msg(&g, 64, 0, 10, p);
	expect_read(&g, 1, "honest control case");
	forge_msg(&g, 0, 0, 0, p);
	expect_read(&g, -SHMQ_ECORRUPT, "MSG of 0 bytes");
	forge_msg(&g, g.f.v.max_record_bytes + 32, 0, 10, p);
	expect_read(&g, -SHMQ_ECORRUPT, "MSG longer than the largest record");
	forge_msg(&g, (0xffffffull) * REC_ALIGN, 0, 10, p);
	expect_read(&g, -SHMQ_ECORRUPT, "MSG of the largest units field");
	forge_msg(&g, 64, 0, 1001, p);
	expect_read(&g, -SHMQ_ECORRUPT, "len beyond max_message_bytes");
	forge_msg(&g, 64, 0, 33, p);
	expect_read(&g, -SHMQ_ECORRUPT, "len beyond the record");
	forge_msg(&g, 64, 0, UINT32_MAX, p);
	expect_read(&g, -SHMQ_ECORRUPT, "len of ~0");
	forge_msg(&g, 64, 0, 10, p + 1);
	expect_read(&g, -SHMQ_ECORRUPT, "pos ahead");
	forge_msg(&g, 64, 0, 10, p - 1);
	expect_read(&g, -SHMQ_ECORRUPT, "pos behind");
	forge_msg(&g, 64, 0, 10, p ^ (1ull << 63));
	expect_read(&g, -SHMQ_ECORRUPT, "pos far off");
	for (unsigned e = 0; e < 5; e++) {
		static const uint16_t bad_ext[] = {0, 7, 12, 4104, 0xffff};

		forge_msg(&g, 128, REC_F_EXT, 10, p);
		memcpy((uint8_t *)g.h + REC_HDR_BYTES, &bad_ext[e], 2);
		expect_read(&g, -SHMQ_ECORRUPT, "bad extension length");
	}
	forge_msg(&g, 64, REC_F_EXT, 10, p);
	memcpy((uint8_t *)g.h + REC_HDR_BYTES, &(uint16_t){24}, 2);
	expect_read(&g, -SHMQ_ECORRUPT, "extension and payload beyond the record");
	/* not this lap's word, or type 0: nothing there yet, not corrupt */
	g.h->pos = p;
	atomic_store(&g.h->word, word_for(&g.f, g.cur.bytes + g.f.v.ring_bytes, 64, 0, REC_T_MSG));
	expect_read(&g, 0, "a later lap's word");
	atomic_store(&g.h->word, word_for(&g.f, g.cur.bytes, 64, 0, 0));
	expect_read(&g, 0, "type 0");
	atomic_store(&g.h->word, 0);
	expect_read(&g, 0, "zero word");
	/* padding and abandoned records */
	atomic_store(&g.h->word, word_for(&g.f, g.cur.bytes, 0, 0, REC_T_PAD));
	expect_read(&g, -SHMQ_ECORRUPT, "PAD of 0 bytes");
	atomic_store(&g.h->word, word_for(&g.f, g.cur.bytes, g.f.v.ring_bytes / 2, 0, REC_T_PAD));
	expect_read(&g, -SHMQ_ECORRUPT, "PAD over half the ring");
	atomic_store(&g.h->word, word_for(&g.f, g.cur.bytes, 64, 0, REC_T_PAD));
	expect_read(&g, -SHMQ_ECORRUPT, "PAD past the tail");
	atomic_store(&g.h->word, word_for(&g.f, g.cur.bytes, 0, 0, REC_T_ABANDONED));
	expect_read(&g, -SHMQ_ECORRUPT, "ABANDONED of 0 bytes");
	atomic_store(&g.h->word,
		     word_for(&g.f, g.cur.bytes, g.f.v.ring_bytes / 2, 0, REC_T_ABANDONED));
	expect_read(&g, -SHMQ_ECORRUPT, "ABANDONED over half the ring");
	fx_free(&g.f);

	/* ABANDONED, then a message whose pos says fewer than none, or too many */
	forge_setup(&g, policy, 4096);
	p = g.cur.pos;
	atomic_store(&g.h->word, word_for(&g.f, g.cur.bytes, 64, 0, REC_T_ABANDONED));
	g.h = log_rec_at(&g.f.v, g.cur.bytes + 64);
	g.h->len = 0;
	g.h->pos = p - 1;
	atomic_store(&g.h->word, word_for(&g.f, g.cur.bytes + 64, 32, 0, REC_T_MSG));
	expect_read(&g, -SHMQ_ECORRUPT, "message after ABANDONED with a lower pos");
	g.h->pos = p + 2 * MAX_BATCH;
	expect_read(&g, -SHMQ_ECORRUPT, "message after one ABANDONED claiming > MAX_BATCH lost");
	g.h->pos = p + 1;
	expect_read(&g, 1, "honest control case after ABANDONED");
	fx_free(&g.f);

	/* a MSG running past the ring's end */
	forge_setup(&g, policy, 131072 - 64);
	forge_msg(&g, 128, 0, 10, g.cur.pos);
	expect_read(&g, -SHMQ_ECORRUPT, "MSG past the ring's end");
	/* the last 32 bytes of the ring claim an extension area */
	fx_free(&g.f);
	forge_setup(&g, policy, 131072 - 32);
	forge_msg(&g, 64, REC_F_EXT, 0, g.cur.pos);
	expect_read(&g, -SHMQ_ECORRUPT, "MSG with extensions in the ring's last 32 bytes");
	fx_free(&g.f);

	/* 3000 ABANDONED records in a row: waiting for the message after them,
	 * which may say at most MAX_BATCH lost for each */
	forge_setup(&g, policy, 4096);
	p = g.cur.pos;
	for (uint64_t b = g.cur.bytes; b < g.cur.bytes + 3000 * 32; b += 32)
		atomic_store(&log_rec_at(&g.f.v, b)->word,
			     word_for(&g.f, b, 32, 0, REC_T_ABANDONED));
	expect_read(&g, -SHMQ_ECORRUPT,
		    "a chain of 3000 ABANDONED records past the tail: no claim made them");
	g.h = log_rec_at(&g.f.v, g.cur.bytes + 3000 * 32);
	g.h->len = 0;
	g.h->pos = p + 3000ull * MAX_BATCH + 1;
	atomic_store(&g.h->word, word_for(&g.f, g.cur.bytes + 3000 * 32, 32, 0, REC_T_MSG));
	expect_read(&g, -SHMQ_ECORRUPT, "more than MAX_BATCH lost per ABANDONED record");
	g.h->pos = p + 3000ull * MAX_BATCH;
	expect_read(&g, 1, "MAX_BATCH lost per ABANDONED record");
	fx_free(&g.f);
}

static void test_read_rejects_garbage_record_headers(void **state)
{
	(void)state;
	garbage_headers(BLOCK);
	garbage_headers(DROP);
}

/*
 * A publisher turns its own committed record into a PAD that lands the
 * reader inside the next one, below the tail: log_read() sees no record
 * there (0, as if not committed yet); log_skip() finds the next chunk
 * start the index names, with the message number there, and nothing
 * before the tail has passed one.
 */
static void test_skip_passes_a_forged_pad_to_the_next_chunk(void **state)
{
	struct log_cursor cur = {0, 0}, to;
	struct log_rec rec;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 131072, 1000, BLOCK); /* chunks of 8 KiB */
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned i = 0; i < 200; i++)
		publish(&f, &p, 32); /* records of 64 bytes: 12,800 bytes */
	atomic_store(&log_rec_at(&f.v, 0)->word, word_for(&f, 0, 96, 0, REC_T_PAD));
	assert_int_equal(log_read(&f.v, &cur, &rec), 0);
	assert_int_equal(cur.bytes, 96);
	assert_int_equal(cur.pos, 0);
	assert_int_equal(log_skip(&f.v, &cur, &to), 0);
	assert_int_equal(to.bytes, 8192);
	assert_int_equal(to.pos, 8192 / 64);
	assert_int_equal(log_read(&f.v, &to, &rec), 1);
	assert_int_equal(rec.pos, 8192 / 64);
	/* an index entry not to be trusted: the tail, which passed its chunk start */
	atomic_store(&log_rec_at(&f.v, 8192)->word, 0);
	assert_int_equal(log_skip(&f.v, &cur, &to), 0);
	assert_int_equal(to.bytes, 200 * 64);
	assert_int_equal(to.pos, 200);
	/* no chunk start between the cursor and the tail: nothing to skip to yet */
	cur = (struct log_cursor){8192 / 64 + 1, 8192 + 64};
	assert_int_equal(log_skip(&f.v, &cur, &to), -SHMQ_EAGAIN);
	/* a tail moved back below the cursor: the tail, no message counted twice */
	atomic_store(&f.v.data->tail_bytes, 4096);
	assert_int_equal(log_skip(&f.v, &cur, &to), 0);
	assert_int_equal(to.bytes, 4096);
	fx_free(&f);
}

/* What a hostile peer may do to the ring and the shared tail, frontier and index. */
static void scribble(struct fx *f, uint64_t *rng, uint64_t tail)
{
	uint64_t n = rng_below(rng, 64), at;

	for (uint64_t i = 0; i < n; i++) {
		at = rng_below(rng, f->v.ring_bytes / 8) * 8;
		memcpy(f->v.ring + at, &(uint64_t){rng_next(rng)}, 8);
	}
	for (uint64_t i = rng_below(rng, 8); i > 0; i--) {
		uint64_t b = (tail & ~(uint64_t)(REC_ALIGN - 1)) - rng_below(rng, 64) * REC_ALIGN;
		unsigned type = (unsigned)rng_below(rng, 4), flags = (unsigned)rng_next(rng) & 0xfc;
		uint64_t len = rng_below(rng, 3) ? rng_below(rng, 40) * REC_ALIGN
						 : rng_below(rng, 1u << 24) * REC_ALIGN;
		struct rec_hdr *h = log_rec_at(&f->v, b);

		h->pos = rng_below(rng, 2) ? log_tail(&f->v) - rng_below(rng, 100) : rng_next(rng);
		h->len =
		    rng_below(rng, 2) ? (uint32_t)rng_below(rng, 2000) : (uint32_t)rng_next(rng);
		if (rng_below(rng, 2) && (b & f->v.mask) + REC_HDR_BYTES < f->v.ring_bytes)
			memcpy((uint8_t *)h + REC_HDR_BYTES, &(uint16_t){(uint16_t)rng_next(rng)},
			       2);
		atomic_store(&h->word, word_for(f, b, len, flags, type));
	}
	if (rng_below(rng, 16) == 0)
		atomic_store(&f->v.data->frontier, rng_next(rng) >> rng_below(rng, 64));
	if (rng_below(rng, 16) == 0) {
		struct chunk_entry *e = &f->v.data->chunks[rng_below(rng, CHUNKS)];

		atomic_store(&e->bytes,
			     rng_below(rng, 2) ? tail - rng_below(rng, 70000) : rng_next(rng));
		atomic_store(&e->pos, rng_next(rng) >> rng_below(rng, 64));
	}
	if (rng_below(rng, 32) == 0)
		atomic_store(&f->v.data->tail_bytes, tail + rng_below(rng, 3) * f->v.ring_bytes -
							 rng_below(rng, 1000) * REC_ALIGN);
}

/*
 * Random bytes in the ring, the index and the tail between a reader's reads:
 * it never faults (guard pages) and answers only 0, 1 or -SHMQ_ECORRUPT; a
 * record it returns lies inside the ring and within the channel's limits.
 */
static void fuzz(uint32_t policy, uint64_t seed)
{
	struct log_cursor cur = {0, 0};
	uint64_t rng = seed;
	struct log_pub p;
	struct fx f;

	make(&f, 131072, 1000, policy);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned i = 0; i < 20000; i++) {
		uint64_t tail = tail_bytes(&f);
		struct log_rec rec;
		int r;

		if (tail < f.v.ring_bytes || rng_below(&rng, 4) == 0) {
			struct log_claim c;

			uint32_t len = (uint32_t)rng_below(&rng, 1001);

			if (log_claim(&f.v, &p, len, 0, &c) == 0) {
				memset(log_payload(&f.v, c.at.bytes, 0), (int)i, len);
				log_commit(&f.v, &p, &c, len, 0, 0);
			}
			continue;
		}
		scribble(&f, &rng, tail);
		if (rng_below(&rng, 8) == 0)
			cur = (struct log_cursor){rng_next(&rng) >> rng_below(&rng, 64),
						  rng_below(&rng, 2)
						      ? tail - rng_below(&rng, 4096) * 32
						      : rng_next(&rng) & ~31ull};
		r = log_read(&f.v, &cur, &rec);
		if (r != 0 && r != 1 && r != -SHMQ_ECORRUPT)
			fail_msg("round %u: log_read gave %d", i, r);
		if (r == 1) {
			assert_true(rec.data >= f.v.ring + REC_HDR_BYTES);
			assert_true(rec.data + rec.len <= f.v.ring + f.v.ring_bytes);
			assert_true(rec.len <= f.v.max_message_bytes);
			assert_true(rec.rec_bytes >= REC_HDR_BYTES + rec.len + rec.ext_bytes);
			assert_true(rec.rec_bytes <= f.v.max_record_bytes);
			(void)log_verify(&f.v, &rec);
			log_advance(&cur, &rec);
		} else if (r < 0) {
			log_tail_cursor(&f.v, &cur);
		}
		atomic_store(&f.v.data->tail_bytes, tail); /* the publisher's own, back */
	}
	fx_free(&f);
}

static void test_read_survives_random_bytes_in_the_ring(void **state)
{
	(void)state;
	for (uint64_t s = 1; s <= 4; s++) {
		fuzz(DROP, s);
		fuzz(BLOCK, s);
	}
}

/*
 * Drop policy: an atomic batch is atomic in its visibility (all of it or
 * none appears), not in its delivery to a reader overrun while it reads
 * the batch: that reader has the batch's first messages and counts the
 * rest lost, exactly, like any overrun (libshmq's shmq.h says so).
 */
static void test_batch_reaches_a_reader_lapped_inside_it_partly_and_counted(void **state)
{
	uint32_t lens[8] = {40, 40, 40, 40, 40, 40, 40, 40};
	struct log_cursor cur = {0, 0};
	struct log_pub p;
	struct log_claim c;
	struct log_rec rec;
	uint64_t got = 0, lost = 0;
	int r;
	struct fx f;

	(void)state;
	make(&f, 0, 100, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	assert_int_equal(log_claimv(&f.v, &p, lens, NULL, 8, &c), 0);
	for (unsigned i = 0; i < 8; i++)
		memset(log_payload(&f.v, log_claim_rec_bytes(&c, lens, NULL, i), 0), 7, 40);
	assert_true(log_commitv(&f.v, &p, &c, lens, NULL, 1000) >= 0);
	/* the reader takes the batch's first two messages */
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(log_read(&f.v, &cur, &rec), 1);
		assert_int_equal(rec.pos, i);
		assert_int_equal(rec.lost, 0);
		assert_int_equal(rec.flags & REC_F_BATCH, i == 0 ? REC_F_BATCH : 0);
		log_advance(&cur, &rec);
	}
	/* then it is lapped */
	while (tail_bytes(&f) < c.end + f.v.ring_bytes)
		publish(&f, &p, 60);
	while ((r = log_read(&f.v, &cur, &rec)) == 1) {
		lost += rec.lost;
		assert_true(rec.pos >= 8); /* nothing more of the batch */
		got++;
		log_advance(&cur, &rec);
	}
	assert_int_equal(r, 0);
	lost += rec.lost;
	assert_true(lost >= 6);
	assert_int_equal(2 + got + lost, log_tail(&f.v));
	fx_free(&f);
}

/* ---- repair ---- */

struct alive_ctx {
	uint32_t dead;
};

static bool alive_unless_dead(uint32_t pid, void *arg)
{
	return pid != ((struct alive_ctx *)arg)->dead;
}

static void test_repair_gives_up_claim_of_dead_publisher_at_once(void **state)
{
	uint32_t pids[MAX_PUBS] = {0};
	struct alive_ctx alive = {0};
	struct log_cursor cur = {0, 0};
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct log_pub p, q;
	struct log_claim c;
	struct log_rec rec;
	struct fx f;

	(void)state;
	make(&f, 0, 1000, BLOCK);
	fx_pub_init(&f, &p, 0, PID, false);
	fx_pub_init(&f, &q, 1, PID + 1, true);
	pids[0] = PID;
	pids[1] = PID + 1;
	publish(&f, &q, 1);
	assert_int_equal(log_claim(&f.v, &p, 500, 0, &c), 0);
	assert_int_equal(atomic_load(&fx_pub(&f, 0)->claim_state), PUB_CLAIMED);
	assert_int_equal(atomic_load(&fx_pub(&f, 0)->claim_bytes), c.start);
	assert_int_equal(atomic_load(&fx_pub(&f, 0)->claim_end), c.end);
	assert_int_equal(atomic_load(&fx_pub(&f, 0)->claim_pos), 1);
	assert_int_equal(atomic_load(&fx_pub(&f, 0)->claim_count), 1);
	publish(&f, &q, 2);
	read_expect(&f, &cur, 1);
	assert_int_equal(log_read(&f.v, &cur, &rec), 0); /* waits for the claim */

	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1, UINT64_MAX / 2, alive_unless_dead,
			&alive, &out);
	assert_int_equal(out.abandoned, 0);
	alive.dead = PID;
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 2, UINT64_MAX / 2, alive_unless_dead,
			&alive, &out);
	assert_int_equal(out.abandoned, 1);
	assert_int_equal(out.nstall, 0);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), 1);
	assert_int_equal(rec_word_type(low_at(&f, c.at.bytes)), REC_T_ABANDONED);
	assert_int_equal(rec_word_len(low_at(&f, c.at.bytes)), c.end - c.at.bytes);
	/* again: nothing more to give up */
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 3, UINT64_MAX / 2, alive_unless_dead,
			&alive, &out);
	assert_int_equal(out.abandoned, 0);
	assert_int_equal(log_read(&f.v, &cur, &rec), 1);
	assert_int_equal(rec.lost, 1);
	assert_int_equal(rec.abandoned, 1);
	check_record(&f, &rec, 2, 2);
	/* a commit after all is refused and changes nothing */
	assert_int_equal(log_commit(&f.v, &p, &c, 500, 0, 0), -SHMQ_EABANDONED);
	assert_int_equal(rec_word_type(low_at(&f, c.at.bytes)), REC_T_ABANDONED);
	assert_int_equal(atomic_load(&fx_pub(&f, 0)->claim_state), PUB_IDLE);
	fx_free(&f);
}

static void test_repair_gives_up_stalled_claim_after_stuck_ns_and_reports_it(void **state)
{
	uint32_t pids[MAX_PUBS] = {0};
	uint64_t limit = 0;
	struct log_cursor cur = {0, 0};
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct log_pub p, q;
	struct log_claim c, d;
	struct fx f;
	int err;

	(void)state;
	make(&f, 0, 1000, DROP);
	fx_pub_init(&f, &p, 3, PID, false);
	fx_pub_init(&f, &q, 7, PID + 1, false);
	pids[3] = PID;
	pids[7] = PID + 1;
	assert_int_equal(log_claim(&f.v, &p, 100, 0, &c), 0);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1000, 500, NULL, NULL, &out);
	assert_int_equal(out.abandoned, 0);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1499, 500, NULL, NULL, &out);
	assert_int_equal(out.abandoned, 0);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1500, 500, NULL, NULL, &out);
	assert_int_equal(out.abandoned, 1);
	assert_int_equal(out.nstall, 0); /* far from the wrap */
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 9000, 500, NULL, NULL, &out);
	assert_int_equal(out.abandoned, 0);

	/* the others go on until a ring past the stalled claim; the stalled
	 * publisher is reported from a quarter ring before that */
	for (;;) {
		uint64_t t = tail_bytes(&f);

		log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 9000, 500, NULL, NULL, &out);
		if (t + f.v.ring_bytes / 4 >= c.start + f.v.ring_bytes) {
			assert_int_equal(out.nstall, 1);
			assert_int_equal(out.stall_pid[0], PID);
		} else {
			assert_int_equal(out.nstall, 0);
		}
		err = log_claim(&f.v, &q, 200, 0, &d);
		if (err) {
			assert_int_equal(err, -SHMQ_EFULL);
			assert_true(end_after(&f, t, rec_bytes_for(200, 0)) >
				    c.start + f.v.ring_bytes);
			assert_int_equal(tail_bytes(&f), t);
			break;
		}
		assert_true(d.end <= c.start + f.v.ring_bytes);
		assert_int_equal(log_commit(&f.v, &q, &d, 0, 0, 0), 0);
	}
	assert_int_equal(log_claims_limit(&f.v, f.peers, 7, tail_bytes(&f), &limit), 0);
	assert_int_equal(limit, c.start + f.v.ring_bytes);
	/* the stalled one wakes, fails its commit, and the others go on */
	assert_int_equal(log_commit(&f.v, &p, &c, 100, 0, 0), -SHMQ_EABANDONED);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 9000, 500, NULL, NULL, &out);
	assert_int_equal(out.nstall, 0);
	assert_int_equal(log_claim(&f.v, &q, 200, 0, &d), 0);
	assert_int_equal(log_commit(&f.v, &q, &d, 0, 0, 0), 0);
	(void)cur;
	fx_free(&f);
}

static void test_repair_restarts_the_timer_for_each_new_claim(void **state)
{
	uint32_t pids[MAX_PUBS] = {[0] = PID};
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct log_claim c;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 100, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(log_claim(&f.v, &p, 10, 0, &c), 0);
		log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1000 * (i + 1), 800, NULL,
				NULL, &out);
		assert_int_equal(out.abandoned, 0);
		assert_int_equal(log_commit(&f.v, &p, &c, 10, 0, 0), 0);
	}
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 100000, 800, NULL, NULL, &out);
	assert_int_equal(out.abandoned, 0);
	fx_free(&f);
}

/*
 * A claim cut while its publisher lives, then the daemon restarts: the new
 * daemon's repair state starts empty and must learn the cut from the
 * control segment (the cut mark survives with it), so that it still stops
 * the stalled publisher before the others must wait for its space.
 */
static void test_repair_remembers_a_cut_claim_across_a_daemon_restart(void **state)
{
	uint32_t pids[MAX_PUBS] = {0};
	struct log_repair rep = {0}, next = {0};
	struct log_repair_out out;
	struct log_pub p, q;
	struct log_claim c, d;
	bool reported = false;
	struct fx f;

	(void)state;
	make(&f, 0, 1000, DROP);
	fx_pub_init(&f, &p, 3, PID, false);
	fx_pub_init(&f, &q, 7, PID + 1, false);
	pids[3] = PID;
	pids[7] = PID + 1;
	assert_int_equal(log_claim(&f.v, &p, 100, 0, &c), 0);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1000, 500, NULL, NULL, &out);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1500, 500, NULL, NULL, &out);
	assert_int_equal(out.abandoned, 1);
	/* the restarted daemon: nothing given up again, the stall still seen */
	while (log_claim(&f.v, &q, 200, 0, &d) == 0) {
		assert_int_equal(log_commit(&f.v, &q, &d, 0, 0, 0), 0);
		log_repair_step(&f.v, f.peers, fx_rep(&f, &next), pids, 9000, 500, NULL, NULL,
				&out);
		assert_int_equal(out.abandoned, 0);
		if (tail_bytes(&f) + f.v.ring_bytes / 4 >= c.start + f.v.ring_bytes) {
			assert_int_equal(out.nstall, 1);
			assert_int_equal(out.stall_pid[0], PID);
			reported = true;
		}
	}
	assert_true(reported);
	/* once it commits (refused) and moves on, it is no longer reported */
	assert_int_equal(log_commit(&f.v, &p, &c, 100, 0, 0), -SHMQ_EABANDONED);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &next), pids, 9000, 500, NULL, NULL, &out);
	assert_int_equal(out.nstall, 0);
	assert_int_equal(log_claim(&f.v, &q, 200, 0, &d), 0);
	fx_free(&f);
}

/* A publisher that closed (or died) with a claim open: log_repair_gone() gives it up now. */
static void test_repair_gone_gives_up_the_claim_left_open(void **state)
{
	uint32_t pids[MAX_PUBS] = {[2] = PID};
	struct log_cursor cur = {0, 0};
	struct log_repair rep = {0};
	struct log_claim c;
	struct log_rec rec;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 100, BLOCK);
	fx_pub_init(&f, &p, 2, PID, false);
	assert_false(log_repair_gone(&f.v, f.peers, fx_rep(&f, &rep), pids, 2)); /* nothing open */
	assert_int_equal(log_claim(&f.v, &p, 20, 0, &c), 0);
	assert_false(log_repair_gone(&f.v, f.peers, fx_rep(&f, &rep), pids, MAX_PUBS));
	assert_true(log_repair_gone(&f.v, f.peers, fx_rep(&f, &rep), pids, 2));
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), 1);
	fx_pub_remove(&f, 2);
	fx_pub_init(&f, &p, 2, PID, false);
	publish(&f, &p, 6);
	assert_int_equal(log_read(&f.v, &cur, &rec), 1);
	assert_int_equal(rec.abandoned, 1);
	check_record(&f, &rec, 1, 6);
	fx_free(&f);
}

/* The publisher committed but died before idling its entry: the record stands. */
static void test_repair_leaves_a_committed_claim_alone(void **state)
{
	uint32_t pids[MAX_PUBS] = {[0] = PID};
	struct alive_ctx alive = {.dead = PID};
	struct log_cursor cur = {0, 0};
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct log_claim c;
	struct log_pub p;
	struct fx f;

	(void)state;
	make(&f, 0, 100, DROP);
	fx_pub_init(&f, &p, 0, PID, false);
	c = publish(&f, &p, 9);
	atomic_store(&fx_pub(&f, 0)->claim_bytes, c.start);
	atomic_store(&fx_pub(&f, 0)->claim_end, c.end);
	atomic_store(&fx_pub(&f, 0)->claim_pos, c.at.pos);
	atomic_store(&fx_pub(&f, 0)->claim_count, 1);
	atomic_store(&fx_pub(&f, 0)->claim_state, PUB_CLAIMED);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1, 1, alive_unless_dead, &alive,
			&out);
	assert_int_equal(out.abandoned, 0);
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), 0);
	read_expect(&f, &cur, 9);
	fx_free(&f);
}

/* Entries that say what no honest publisher says are not acted on. */
static void test_repair_ignores_implausible_claims(void **state)
{
	uint32_t pids[MAX_PUBS] = {[0] = PID};
	struct alive_ctx alive = {.dead = PID};
	struct log_repair rep = {0};
	struct log_repair_out out;
	struct pub_entry *e;
	struct log_pub p;
	struct fx f;
	uint8_t before[4096];

	(void)state;
	make(&f, 0, 100, DROP);
	fx_pub_init(&f, &p, 1, PID + 1, false);
	for (unsigned i = 0; i < 20; i++)
		publish(&f, &p, 60); /* tail 1920 */
	memcpy(before, f.v.ring, sizeof(before));
	e = fx_pub_add(&f, 0, PID);
	for (unsigned i = 0; i < 8; i++) {
		uint64_t b = 96, end = 192, count = 1, st = PUB_CLAIMED;

		switch (i) {
		case 0:
			end = 4096;
			break; /* past the tail */
		case 1:
			b = 200;
			end = 100;
			break; /* backwards */
		case 2:
			b = 100;
			break; /* unaligned */
		case 3:
			count = 0;
			break;
		case 4:
			count = MAX_BATCH + 1;
			break;
		case 5:
			st = 7;
			break; /* no state */
		case 6:
			b = 1920;
			end = 1920;
			break;
		case 7:
			b = 1920;
			end = 1952;
			break; /* the tail never moved over it */
		}
		atomic_store(&e->claim_bytes, b);
		atomic_store(&e->claim_end, end);
		atomic_store(&e->claim_pos, 3);
		atomic_store(&e->claim_count, (uint32_t)count);
		atomic_store(&e->claim_state, (uint32_t)st);
		log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1, 1, alive_unless_dead,
				&alive, &out);
		if (out.abandoned)
			fail_msg("implausible claim %u given up", i);
	}
	assert_memory_equal(before, f.v.ring, sizeof(before));
	/* a free entry (pid 0) is never looked at */
	pids[0] = 0;
	atomic_store(&e->claim_bytes, 96);
	atomic_store(&e->claim_end, 192);
	atomic_store(&e->claim_state, PUB_CLAIMED);
	log_repair_step(&f.v, f.peers, fx_rep(&f, &rep), pids, 1, 1, alive_unless_dead, &alive,
			&out);
	assert_int_equal(out.abandoned, 0);
	fx_free(&f);
}

/* A claim in progress holds every other publisher a ring past its start, in both policies. */
static void test_claims_limit_holds_publishers_a_ring_past_a_claim_in_progress(void **state)
{
	(void)state;
	for (uint32_t policy = 0; policy < 2; policy++) {
		struct log_claim held, c;
		struct log_pub p, q;
		struct fx f;
		int err;

		make(&f, 0, 100, policy);
		fx_pub_init(&f, &p, 0, PID, false);
		fx_pub_init(&f, &q, 1, PID + 1, false);
		publish(&f, &q, 50);
		assert_int_equal(log_claim(&f.v, &p, 64, 0, &held), 0);
		assert_int_equal(held.start, 96);
		/* 64-byte records up to 32 short of the bound, then one of 32 */
		while ((err = log_claim(&f.v, &q, 32, 0, &c)) == 0) {
			assert_true(c.end <= held.start + f.v.ring_bytes);
			assert_int_equal(log_commit(&f.v, &q, &c, 32, 0, 0), 0);
		}
		assert_int_equal(err, -SHMQ_EFULL);
		assert_int_equal(tail_bytes(&f), held.start + f.v.ring_bytes - 32);
		assert_int_equal(log_claim(&f.v, &q, 0, 0, &c), 0);
		assert_int_equal(log_commit(&f.v, &q, &c, 0, 0, 0), 0);
		assert_int_equal(log_claim(&f.v, &q, 0, 0, &c), -SHMQ_EFULL);
		assert_int_equal(tail_bytes(&f), held.start + f.v.ring_bytes);
		assert_int_equal(log_commit(&f.v, &p, &held, 64, 0, 0), 0);
		assert_int_equal(log_claim(&f.v, &q, 0, 0, &c), 0);
		fx_free(&f);
	}
}

/* ---- waking ---- */

static void test_commit_asks_for_wake_only_when_readers_sleep(void **state)
{
	struct log_claim c;
	struct log_pub p;
	struct fx f;

	(void)state;
	for (unsigned mb = 0; mb < 2; mb++) {
		bool have = mb && log_pub_register();

		make(&f, 0, 16, DROP);
		fx_pub_init(&f, &p, 0, PID, have);
		assert_int_equal(p.fence, !have);
		assert_int_equal(log_claim(&f.v, &p, 1, 0, &c), 0);
		assert_int_equal(log_commit(&f.v, &p, &c, 1, 0, 0), 0);
		atomic_store(&f.v.wake->wake_needed, 1); /* a reader went to sleep */
		assert_int_equal(log_claim(&f.v, &p, 1, 0, &c), 0);
		assert_int_equal(log_commit(&f.v, &p, &c, 1, 0, 0), 1);
		/* that commit took the wake: the next ones leave it to it */
		assert_int_equal(atomic_load(&f.v.wake->wake_needed), 0);
		assert_int_equal(log_claim(&f.v, &p, 1, 0, &c), 0);
		assert_int_equal(log_commit(&f.v, &p, &c, 1, 0, 0), 0);
		atomic_store(&f.v.wake->wake_needed, 1);
		assert_int_equal(log_claim(&f.v, &p, 1, 0, &c), 0);
		assert_int_equal(log_abort(&f.v, &p, &c), 1);
		assert_int_equal(log_claim(&f.v, &p, 1, 0, &c), 0);
		assert_int_equal(log_abort(&f.v, &p, &c), 0);
		atomic_store(&f.v.wake->wake_needed, 1);
		assert_int_equal(log_claimv(&f.v, &p, (uint32_t[]){1, 2}, NULL, 2, &c), 0);
		assert_int_equal(log_commitv(&f.v, &p, &c, (uint32_t[]){1, 2}, NULL, 0), 1);
		assert_int_equal(atomic_load(&f.v.wake->wake_seq), 0);
		fx_free(&f);
	}
}

static void test_reader_unmark_decrements_sleepers_once(void **state)
{
	struct fx f;
	_Atomic uint32_t *r;

	(void)state;
	make(&f, 0, 16, DROP);
	r = &f.v.wake->marks[3].armed;
	atomic_store(r, MARK_FUTEX);
	atomic_store(&f.v.wake->sleepers, 2);
	log_reader_unmark(&f.v, 3, MARK_EFD); /* not that mark: no change */
	assert_int_equal(atomic_load(r), MARK_FUTEX);
	assert_int_equal(atomic_load(&f.v.wake->sleepers), 2);
	log_reader_unmark(&f.v, 3, MARK_FUTEX);
	assert_int_equal(atomic_load(r), MARK_NONE);
	assert_int_equal(atomic_load(&f.v.wake->sleepers), 1);
	log_reader_unmark(&f.v, 3, MARK_FUTEX);
	assert_int_equal(atomic_load(&f.v.wake->sleepers), 1);
	fx_free(&f);
}

struct efd_ctx {
	unsigned calls;
};

static void fill_efds(void *arg)
{
	struct efd_ctx *c = arg;

	c->calls++;
}

/* Datagrams waiting on a wake socket's reader end (taken). */
static unsigned signals(int rd)
{
	unsigned n = 0;
	char c;

	while (recv(rd, &c, 1, MSG_DONTWAIT) == 1)
		n++;
	return n;
}

static void test_wake_signals_armed_event_fds(void **state)
{
	int efds[MAX_READERS], rd[MAX_READERS];
	struct efd_ctx ctx = {0};
	bool have = false;
	struct fx f;

	(void)state;
	make(&f, 0, 16, DROP);
	for (unsigned i = 0; i < MAX_READERS; i++)
		efds[i] = -1;
	assert_int_equal(wait_fd_create(&rd[5], &efds[5]), 0);
	assert_int_equal(wait_fd_create(&rd[9], &efds[9]), 0);
	atomic_store(&fx_ctl(&f)->readers_hi,
		     10); /* entries 0..9 assigned, as the daemon keeps it */
	atomic_store(&f.v.wake->marks[5].armed, MARK_EFD);
	atomic_store(&f.v.wake->marks[6].armed, MARK_FUTEX);
	atomic_store(&f.v.wake->sleepers, 2);

	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(atomic_load(&f.v.wake->wake_seq), 1);
	assert_true(have);
	assert_int_equal(ctx.calls, 1);
	assert_int_equal(atomic_load(&f.v.wake->marks[5].armed), MARK_NONE);
	assert_int_equal(atomic_load(&f.v.wake->marks[6].armed), MARK_FUTEX);
	assert_int_equal(atomic_load(&f.v.wake->sleepers), 1);
	assert_int_equal(signals(rd[5]), 1);
	assert_int_equal(signals(rd[9]), 0); /* not armed: not signalled */

	/* a second wake signals only readers armed again */
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(ctx.calls, 1);
	assert_int_equal(signals(rd[5]), 0);
	atomic_store(&f.v.wake->marks[9].armed, MARK_EFD);
	atomic_fetch_add(&f.v.wake->sleepers, 1);
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(signals(rd[9]), 1);
	assert_int_equal(atomic_load(&f.v.wake->sleepers), 1);
	assert_int_equal(atomic_load(&f.v.wake->wake_seq), 3);

	/* entries at or above readers_hi (the daemon's) are not scanned; a
	 * value above the table is bounded */
	atomic_store(&f.v.wake->marks[9].armed, MARK_EFD);
	atomic_fetch_add(&f.v.wake->sleepers, 1);
	atomic_store(&fx_ctl(&f)->readers_hi, 9);
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(atomic_load(&f.v.wake->marks[9].armed), MARK_EFD);
	assert_int_equal(signals(rd[9]), 0);
	atomic_store(&fx_ctl(&f)->readers_hi, UINT32_MAX);
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(atomic_load(&f.v.wake->marks[9].armed), MARK_NONE);
	assert_int_equal(signals(rd[9]), 1);
	assert_int_equal(atomic_load(&f.v.wake->sleepers), 1);
	/* 0: no reader is assigned, whatever marks a client wrote */
	atomic_store(&f.v.wake->marks[9].armed, MARK_EFD);
	atomic_fetch_add(&f.v.wake->sleepers, 1);
	atomic_store(&fx_ctl(&f)->readers_hi, 0);
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(signals(rd[9]), 0);
	assert_int_equal(atomic_load(&f.v.wake->marks[9].armed), MARK_EFD);
	log_reader_unmark(&f.v, 9, MARK_EFD);
	assert_int_equal(atomic_load(&f.v.wake->sleepers), 1);

	/* a reader whose event fd the publisher lacks keeps its mark and count */
	atomic_store(&fx_ctl(&f)->readers_hi, 10);
	atomic_store(&f.v.wake->marks[7].armed, MARK_EFD);
	atomic_fetch_add(&f.v.wake->sleepers, 1);
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(atomic_load(&f.v.wake->marks[7].armed), MARK_EFD);
	assert_int_equal(atomic_load(&f.v.wake->sleepers), 2);
	assert_int_equal(atomic_load(&f.v.wake->wake_needed), 1); /* the next commit tries again */
	for (unsigned i = 5; i <= 9; i += 4) {
		close(efds[i]);
		close(rd[i]);
	}
	fx_free(&f);
}

struct sleeper {
	struct fx *f;
	_Atomic int tid;
	int result;   /* log_read() result that ended the wait */
	int slept;    /* futex waits that returned 0 */
	int timeouts; /* futex waits that timed out: a lost wake-up */
	struct log_cursor cur;
	struct log_rec rec;
};

/* The futex sleep of libclient/sub.c, bounded by HANG_NS. */
static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	struct log_view *v = &s->f->v;
	_Atomic uint32_t *armed = &v->wake->marks[0].armed;
	uint64_t start = wait_now_ns();

	atomic_store(&s->tid, (int)syscall(SYS_gettid));
	while (wait_now_ns() - start < HANG_NS) {
		uint32_t seq;
		int r;

		atomic_store_explicit(armed, MARK_FUTEX, memory_order_relaxed);
		atomic_fetch_add_explicit(&v->wake->sleepers, 1, memory_order_seq_cst);
		seq = atomic_load_explicit(&v->wake->wake_seq, memory_order_seq_cst);
		atomic_store_explicit(&v->wake->wake_needed, 1, memory_order_seq_cst);
		if (!log_sleep_fence())
			atomic_thread_fence(memory_order_seq_cst);
		r = log_read(v, &s->cur, &s->rec);
		if (r == 0) {
			r = wait_futex(&v->wake->wake_seq, seq, (int64_t)HANG_NS);
			if (r == -SHMQ_ETIMEDOUT)
				s->timeouts++;
			else if (r == 0)
				s->slept++;
			r = 0;
		}
		log_reader_unmark(v, 0, MARK_FUTEX);
		if (r != 0) {
			s->result = r;
			return NULL;
		}
	}
	s->result = -SHMQ_ETIMEDOUT;
	return NULL;
}

/* 'S' once the thread sleeps in the kernel (its only blocking call is FUTEX_WAIT). */
static char task_state(int tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : '?';
}

static void wakes_sleeper(bool membarrier)
{
	struct sleeper s = {0};
	struct log_claim c;
	struct log_pub p;
	uint64_t start;
	bool have = false;
	struct fx f;
	pthread_t th;
	char st;

	make(&f, 0, 16, DROP);
	fx_pub_init(&f, &p, 0, PID, membarrier && log_pub_register());
	s.f = &f;
	s.cur = (struct log_cursor){0, 0};
	assert_int_equal(pthread_create(&th, NULL, sleeper_main, &s), 0);
	start = wait_now_ns();
	while (atomic_load(&f.v.wake->sleepers) == 0 || atomic_load(&s.tid) == 0) {
		assert_true(wait_now_ns() - start < HANG_NS);
		nap_us(100);
	}
	/* wait until it is inside FUTEX_WAIT, when /proc can tell */
	while ((st = task_state(atomic_load(&s.tid))) == 'R') {
		assert_true(wait_now_ns() - start < HANG_NS);
		nap_us(100);
	}
	assert_int_equal(log_claim(&f.v, &p, 5, 0, &c), 0);
	memcpy(log_payload(&f.v, c.at.bytes, 0), "wake!", 5);
	assert_int_equal(log_commit(&f.v, &p, &c, 5, 0, 0), 1); /* it cannot leave before a wake */
	log_wake(&f.v, NULL, &have, NULL, NULL);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(s.result, 1);
	assert_int_equal(s.timeouts, 0);
	if (st == 'S')
		assert_int_equal(s.slept, 1);
	assert_int_equal(s.rec.pos, 0);
	assert_int_equal(s.rec.len, 5);
	assert_memory_equal(s.rec.data, "wake!", 5);
	assert_int_equal(atomic_load(&f.v.wake->sleepers), 0);
	assert_int_equal(atomic_load(&f.v.wake->marks[0].armed), MARK_NONE);
	fx_free(&f);
}

static void test_commit_wakes_reader_sleeping_on_futex(void **state)
{
	(void)state;
	wakes_sleeper(false);
	wakes_sleeper(true);
}

/* Latency buckets: 0 below 256 ns, then one per power of two, the last open-ended. */
static void test_lat_bucket_is_log2_from_256_ns(void **state)
{
	(void)state;
	assert_int_equal(lat_bucket(0), 0);
	assert_int_equal(lat_bucket(255), 0);
	assert_int_equal(lat_bucket(256), 1);
	assert_int_equal(lat_bucket(511), 1);
	assert_int_equal(lat_bucket(512), 2);
	assert_int_equal(lat_bucket(1000000), 12); /* 1 ms in [2^19, 2^20) ns */
	assert_int_equal(lat_bucket((1ull << 36) - 1), LAT_BUCKETS - 2);
	assert_int_equal(lat_bucket(1ull << 36), LAT_BUCKETS - 1);
	assert_int_equal(lat_bucket(UINT64_MAX), LAT_BUCKETS - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lat_bucket_is_log2_from_256_ns),
	    cmocka_unit_test(test_geometry_rejects_bad_arguments),
	    cmocka_unit_test(test_geometry_rounds_ring_to_power_of_two_of_four_largest_records),
	    cmocka_unit_test(test_message_of_an_eighth_of_capacity_round_trips),
	    cmocka_unit_test(test_format_then_attach_gives_the_geometry),
	    cmocka_unit_test(test_format_rejects_long_name_and_fixes_key),
	    cmocka_unit_test(test_attach_rejects_garbage_in_every_data_header_field),
	    cmocka_unit_test(test_attach_rejects_garbage_in_every_control_header_field),
	    cmocka_unit_test(test_attach_rejects_garbage_in_the_group_table_fields),
	    cmocka_unit_test(test_attach_rejects_short_or_mismatched_segments),
	    cmocka_unit_test(test_attach_reports_other_version_and_unknown_incompat_bits),
	    cmocka_unit_test(test_every_length_round_trips_byte_by_byte),
	    cmocka_unit_test(test_a_claim_from_a_tail_off_the_record_grid_is_refused),
	    cmocka_unit_test(test_exclusive_publisher_round_trips_every_length),
	    cmocka_unit_test(test_claim_rejects_message_larger_than_max),
	    cmocka_unit_test(test_message_of_64_bytes_takes_96_ring_bytes),
	    cmocka_unit_test(test_record_with_extension_area_round_trips),
	    cmocka_unit_test(test_wrap_pads_at_every_32_byte_offset_of_the_ring_end),
	    cmocka_unit_test(test_mixed_sizes_block_exactly_at_a_ring_past_the_reader),
	    cmocka_unit_test(test_max_size_messages_in_the_smallest_ring),
	    cmocka_unit_test(test_exclusive_publisher_uses_the_tail_seqlock),
	    cmocka_unit_test(test_tail_cursor_is_the_next_record),
	    cmocka_unit_test(test_oldest_places_a_reader_that_loses_nothing),
	    cmocka_unit_test(test_block_claim_fails_when_slowest_active_reader_is_a_ring_behind),
	    cmocka_unit_test(test_block_without_readers_never_fills),
	    cmocka_unit_test(test_reader_limit_clamps_a_lapped_reader),
	    cmocka_unit_test(test_drop_lapped_reader_counts_exact_loss),
	    cmocka_unit_test(test_drop_reader_a_ring_less_the_guard_behind_loses_nothing),
	    cmocka_unit_test(test_verify_fails_once_a_later_lap_overwrites_a_held_record),
	    cmocka_unit_test(test_verify_holds_under_block_policy),
	    cmocka_unit_test(test_abort_counts_exactly_the_aborted_messages),
	    cmocka_unit_test(test_aborts_in_a_long_row_are_each_counted),
	    cmocka_unit_test(test_abort_read_right_away_counts_both),
	    cmocka_unit_test(test_batch_is_invisible_until_committed_then_read_whole),
	    cmocka_unit_test(test_batch_across_the_ring_end_starts_after_a_pad),
	    cmocka_unit_test(test_batch_rejects_bad_arguments),
	    cmocka_unit_test(test_stale_word_cut_by_a_later_payload_is_no_record),
	    cmocka_unit_test(test_read_rejects_garbage_record_headers),
	    cmocka_unit_test(test_read_survives_random_bytes_in_the_ring),
	    cmocka_unit_test(test_batch_reaches_a_reader_lapped_inside_it_partly_and_counted),
	    cmocka_unit_test(test_skip_passes_a_forged_pad_to_the_next_chunk),
	    cmocka_unit_test(test_repair_gives_up_claim_of_dead_publisher_at_once),
	    cmocka_unit_test(test_repair_gives_up_stalled_claim_after_stuck_ns_and_reports_it),
	    cmocka_unit_test(test_repair_remembers_a_cut_claim_across_a_daemon_restart),
	    cmocka_unit_test(test_repair_restarts_the_timer_for_each_new_claim),
	    cmocka_unit_test(test_repair_gone_gives_up_the_claim_left_open),
	    cmocka_unit_test(test_repair_leaves_a_committed_claim_alone),
	    cmocka_unit_test(test_repair_ignores_implausible_claims),
	    cmocka_unit_test(test_claims_limit_holds_publishers_a_ring_past_a_claim_in_progress),
	    cmocka_unit_test(test_commit_asks_for_wake_only_when_readers_sleep),
	    cmocka_unit_test(test_reader_unmark_decrements_sleepers_once),
	    cmocka_unit_test(test_wake_signals_armed_event_fds),
	    cmocka_unit_test(test_commit_wakes_reader_sleeping_on_futex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
