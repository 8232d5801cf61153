/*
 * test_log.c - one-process tests of the channel log (shm/log.c): geometry,
 * format and attach, claim/commit/read, ordering, abort, overrun counting
 * under drop, back-pressure under block, hostile slot words, repair of
 * stuck claims, and the sleep/wake handshake. Runs on the fixture of
 * fixture.h (anonymous shared memory, no daemon). Suite: unit.
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
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include "fixture.h"
#include "testutil.h"

#define BLOCK 1u
#define DROP 0u
#define PID 4242u

static uint64_t slot_bytes_for(uint32_t max_msg)
{
	return (SLOT_HDR_BYTES + (uint64_t)max_msg + CACHE_LINE - 1) & ~(uint64_t)(CACHE_LINE - 1);
}

/* A fixture with exactly nslots slots. */
static void make(struct fx *f, uint64_t nslots, uint32_t max_msg, uint32_t policy)
{
	assert_int_equal(fx_make(f, nslots * slot_bytes_for(max_msg), max_msg, policy), 0);
	assert_int_equal(f->v.nslots, nslots);
}

static uint8_t pattern(uint64_t pos, uint32_t i)
{
	return (uint8_t)(pos * 131 + i * 7 + (pos >> 8) + 1);
}

/* Claim, fill with pattern(pos, i), commit; returns the pos. */
static uint64_t publish(struct fx *f, uint64_t *limit, uint32_t len)
{
	uint64_t pos;
	uint8_t *p;

	assert_int_equal(log_claim(&f->v, limit, len, PID, &pos), 0);
	p = log_payload(&f->v, pos);
	for (uint32_t i = 0; i < len; i++)
		p[i] = pattern(pos, i);
	assert_int_equal(log_commit(&f->v, pos, len, 1000 + pos), 0);
	return pos;
}

static void check_record(const struct log_rec *rec, uint64_t pos, uint32_t len)
{
	assert_int_equal(rec->pos, pos);
	assert_int_equal(rec->len, len);
	assert_int_equal(rec->flags, REC_F_NONE);
	assert_int_equal(rec->timestamp_ns, 1000 + pos);
	for (uint32_t i = 0; i < len; i++)
		if (rec->data[i] != pattern(pos, i))
			fail_msg("pos %llu byte %u: %u, want %u", (unsigned long long)pos, i,
				 rec->data[i], pattern(pos, i));
}

/* Read the record at *pos, which must be there with no loss; move past it. */
static void read_expect(struct fx *f, uint64_t *pos, uint32_t len)
{
	struct log_rec rec;
	uint64_t want = *pos;

	assert_int_equal(log_read(&f->v, pos, &rec), 1);
	assert_int_equal(rec.lost, 0);
	check_record(&rec, want, len);
	assert_true(log_verify(&f->v, &rec));
	(*pos)++;
}

static void set_word(struct fx *f, uint64_t pos, uint64_t word)
{
	atomic_store_explicit(&log_slot(&f->v, pos)->state, word, memory_order_relaxed);
}

static uint64_t get_word(struct fx *f, uint64_t pos)
{
	return atomic_load_explicit(&log_slot(&f->v, pos)->state, memory_order_relaxed);
}

/* ---- geometry, format, attach ---- */

static void test_geometry_rejects_bad_arguments(void **state)
{
	struct log_geometry g;

	(void)state;
	assert_int_equal(log_geometry_make(4096, 0, DROP, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(4096, MAX_MESSAGE_BYTES + 1, DROP, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(4096, UINT32_MAX, DROP, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(4096, 64, 2, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(4096, 64, UINT32_MAX, &g), -SHMQ_EINVAL);
	/* more than 2^40 bytes of slots */
	assert_int_equal(log_geometry_make(1ull << 41, MAX_MESSAGE_BYTES, DROP, &g), -SHMQ_EINVAL);
	assert_int_equal(log_geometry_make(UINT64_MAX, MAX_MESSAGE_BYTES, BLOCK, &g),
			 -SHMQ_EINVAL);
}

static void test_geometry_rounds_to_power_of_two_slots(void **state)
{
	struct log_geometry g;

	(void)state;
	assert_int_equal(log_geometry_make(0, 1, DROP, &g), 0);
	assert_int_equal(g.nslots, MIN_SLOTS);
	assert_int_equal(g.slot_bytes, 128);
	assert_int_equal(g.max_message_bytes, 1);
	assert_int_equal(g.policy, DROP);
	assert_int_equal(g.data_bytes, DATA_HDR_BYTES + MIN_SLOTS * 128);
	assert_int_equal(g.ctl_bytes, CTL_SEG_BYTES);

	assert_int_equal(log_geometry_make(100 * 128 + 1, 64, BLOCK, &g), 0);
	assert_int_equal(g.nslots, 128);
	assert_int_equal(g.slot_bytes, 128);
	assert_int_equal(g.policy, BLOCK);

	assert_int_equal(log_geometry_make(1024 * 192, 65, DROP, &g), 0);
	assert_int_equal(g.slot_bytes, 192);
	assert_int_equal(g.nslots, 1024);

	assert_int_equal(log_geometry_make(0, MAX_MESSAGE_BYTES, DROP, &g), 0);
	assert_int_equal(g.slot_bytes, SLOT_HDR_BYTES + MAX_MESSAGE_BYTES);
	assert_int_equal(g.nslots, MIN_SLOTS);

	/* a huge capacity with small slots stops at MAX_SLOTS */
	assert_int_equal(log_geometry_make(1ull << 40, 1, DROP, &g), 0);
	assert_int_equal(g.nslots, MAX_SLOTS);
}

static void test_format_then_attach_gives_the_geometry(void **state)
{
	struct fx f;
	struct data_hdr *d;
	struct ctl_hdr *c;

	(void)state;
	assert_int_equal(fx_make(&f, 64 * 1024, 1000, BLOCK), 0);
	d = f.data;
	c = f.ctl;
	assert_int_equal(f.v.nslots, f.g.nslots);
	assert_int_equal(f.v.mask, f.g.nslots - 1);
	assert_int_equal(f.v.slot_bytes, f.g.slot_bytes);
	assert_int_equal(f.v.max_message_bytes, 1000);
	assert_int_equal(f.v.policy, BLOCK);
	assert_int_equal(f.v.channel_id, 42);
	assert_ptr_equal(f.v.slots, (uint8_t *)f.data + DATA_HDR_BYTES);
	assert_ptr_equal(f.v.readers, (struct reader_entry *)((uint8_t *)f.ctl + CTL_HDR_BYTES));
	assert_string_equal(d->name, "test.channel");
	assert_int_equal(d->seg_bytes, f.g.data_bytes);
	assert_int_equal(c->seg_bytes, f.g.ctl_bytes);
	assert_int_equal(c->max_readers, MAX_READERS);
	assert_int_equal(c->groups_off, CTL_HDR_BYTES + MAX_READERS * sizeof(struct reader_entry));
	assert_int_equal(log_tail(&f.v), 0);
	assert_int_equal(log_oldest(&f.v), 0);
	assert_false(log_pending(&f.v, 0));
	fx_free(&f);
}

static void test_format_rejects_long_name(void **state)
{
	char name[300];
	struct fx f;

	(void)state;
	assert_int_equal(fx_make(&f, 0, 64, DROP), 0);
	memset(f.data, 0, f.g.data_bytes);
	memset(f.ctl, 0, f.g.ctl_bytes);
	memset(name, 'a', sizeof(name));
	name[256] = 0;
	assert_int_equal(log_format(f.data, f.ctl, &f.g, name, 1), -SHMQ_ENAME);
	name[255] = 0;
	assert_int_equal(log_format(f.data, f.ctl, &f.g, name, 1), 0);
	fx_free(&f);
}

static int attach_again(struct fx *f)
{
	struct log_view v;

	return log_attach(&v, f->data, f->g.data_bytes, f->ctl, f->g.ctl_bytes);
}

static void test_attach_rejects_bad_magic(void **state)
{
	struct fx f;
	struct data_hdr *d;
	struct ctl_hdr *c;

	(void)state;
	assert_int_equal(fx_make(&f, 0, 64, DROP), 0);
	d = f.data;
	c = f.ctl;
	atomic_store(&d->magic, 0);
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	atomic_store(&d->magic, CTL_MAGIC);
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	atomic_store(&d->magic, DATA_MAGIC);
	assert_int_equal(attach_again(&f), 0);
	atomic_store(&c->magic, DATA_MAGIC);
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	atomic_store(&c->magic, CTL_MAGIC);
	assert_int_equal(attach_again(&f), 0);
	fx_free(&f);
}

static void test_attach_rejects_other_version(void **state)
{
	struct fx f;
	struct data_hdr *d;
	struct ctl_hdr *c;

	(void)state;
	assert_int_equal(fx_make(&f, 0, 64, DROP), 0);
	d = f.data;
	c = f.ctl;
	d->version = LAYOUT_VERSION + 1;
	assert_int_equal(attach_again(&f), -SHMQ_EVERSION);
	d->version = 0;
	assert_int_equal(attach_again(&f), -SHMQ_EVERSION);
	d->version = LAYOUT_VERSION;
	c->version = LAYOUT_VERSION + 1;
	assert_int_equal(attach_again(&f), -SHMQ_EVERSION);
	c->version = LAYOUT_VERSION;
	assert_int_equal(attach_again(&f), 0);
	fx_free(&f);
}

static void test_attach_rejects_bad_slot_count(void **state)
{
	static const uint64_t bad[] = {0, 1, 2, 3, 5, 6, 12, 15, MAX_SLOTS * 2, UINT64_MAX,
				       1ull << 63};
	struct fx f;
	struct data_hdr *d;

	(void)state;
	assert_int_equal(fx_make(&f, 16 * 128, 64, DROP), 0);
	d = f.data;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d->nslots = bad[i];
		assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	}
	/* a power of two, but more slots than the segment holds */
	d->nslots = 32;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->nslots = 16;
	assert_int_equal(attach_again(&f), 0);
	fx_free(&f);
}

static void test_attach_rejects_inconsistent_slot_bytes(void **state)
{
	struct fx f;
	struct data_hdr *d;

	(void)state;
	assert_int_equal(fx_make(&f, 16 * 192, 100, DROP), 0);
	d = f.data;
	assert_int_equal(d->slot_bytes, 192);
	d->slot_bytes = 0;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->slot_bytes = 190; /* not a multiple of the cache line */
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->slot_bytes = 128; /* header + max_message_bytes do not fit */
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->slot_bytes = 256; /* slots overrun the segment */
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->slot_bytes = UINT32_MAX - 63;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->slot_bytes = 192;
	d->max_message_bytes = 0;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->max_message_bytes = 129;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->max_message_bytes = MAX_MESSAGE_BYTES + 1;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->max_message_bytes = 128; /* still fits: accepted */
	assert_int_equal(attach_again(&f), 0);
	d->max_message_bytes = 100;
	assert_int_equal(attach_again(&f), 0);
	fx_free(&f);
}

static void test_attach_rejects_segment_size_mismatch(void **state)
{
	struct log_view v;
	struct fx f;
	struct data_hdr *d;
	struct ctl_hdr *c;

	(void)state;
	assert_int_equal(fx_make(&f, 0, 64, DROP), 0);
	d = f.data;
	c = f.ctl;
	assert_int_equal(log_attach(&v, f.data, f.g.data_bytes - 64, f.ctl, f.g.ctl_bytes),
			 -SHMQ_ECORRUPT);
	assert_int_equal(log_attach(&v, f.data, f.g.data_bytes + 64, f.ctl, f.g.ctl_bytes),
			 -SHMQ_ECORRUPT);
	assert_int_equal(log_attach(&v, f.data, f.g.data_bytes, f.ctl, f.g.ctl_bytes - 128),
			 -SHMQ_ECORRUPT);
	assert_int_equal(log_attach(&v, f.data, 16, f.ctl, f.g.ctl_bytes), -SHMQ_ECORRUPT);
	assert_int_equal(log_attach(&v, f.data, f.g.data_bytes, f.ctl, 16), -SHMQ_ECORRUPT);
	d->seg_bytes = f.g.data_bytes + 64;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->seg_bytes = f.g.data_bytes;
	c->seg_bytes = CTL_HDR_BYTES; /* agrees with a too small mapping */
	assert_int_equal(log_attach(&v, f.data, f.g.data_bytes, f.ctl, CTL_HDR_BYTES),
			 -SHMQ_ECORRUPT);
	c->seg_bytes = f.g.ctl_bytes;
	d->hdr_bytes = DATA_HDR_BYTES + 64;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->hdr_bytes = DATA_HDR_BYTES;
	c->hdr_bytes = 0;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	c->hdr_bytes = CTL_HDR_BYTES;
	c->max_readers = MAX_READERS + 1;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	c->max_readers = MAX_READERS;
	c->channel_id = 43;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	c->channel_id = 42;
	d->policy = 2;
	assert_int_equal(attach_again(&f), -SHMQ_ECORRUPT);
	d->policy = DROP;
	assert_int_equal(attach_again(&f), 0);
	fx_free(&f);
}

/* ---- claim, commit, read ---- */

static void test_claim_commit_read_round_trip(void **state)
{
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, pos, rpos = 0;
	const char msg[] = "hello, log";

	(void)state;
	make(&f, 8, 64, DROP);
	assert_int_equal(log_claim(&f.v, &limit, sizeof(msg), PID, &pos), 0);
	assert_int_equal(pos, 0);
	assert_int_equal(log_tail(&f.v), 1);
	assert_int_equal(get_word(&f, 0), slot_word(0, SLOT_CLAIMED));
	assert_int_equal(log_slot(&f.v, 0)->claimer_pid, PID);
	assert_true(log_pending(&f.v, 0));
	assert_int_equal(log_read(&f.v, &rpos, &rec), 0);
	assert_int_equal(rpos, 0);
	memcpy(log_payload(&f.v, pos), msg, sizeof(msg));
	assert_int_equal(log_commit(&f.v, pos, sizeof(msg), 777), 0);
	assert_int_equal(get_word(&f, 0), slot_word(0, SLOT_COMMITTED));

	assert_int_equal(log_read(&f.v, &rpos, &rec), 1);
	assert_int_equal(rpos, 0);
	assert_int_equal(rec.pos, 0);
	assert_int_equal(rec.len, sizeof(msg));
	assert_int_equal(rec.timestamp_ns, 777);
	assert_int_equal(rec.flags, REC_F_NONE);
	assert_int_equal(rec.lost, 0);
	assert_int_equal(rec.abandoned, 0);
	assert_memory_equal(rec.data, msg, sizeof(msg));
	assert_ptr_equal(rec.data, log_payload(&f.v, 0));
	assert_true(log_verify(&f.v, &rec));
	rpos++;
	assert_int_equal(log_read(&f.v, &rpos, &rec), 0);
	assert_int_equal(rec.lost, 0);
	assert_int_equal(rpos, 1);
	assert_false(log_pending(&f.v, 1));

	/* an empty message and a full-size one */
	assert_int_equal(publish(&f, &limit, 0), 1);
	assert_int_equal(publish(&f, &limit, 64), 2);
	read_expect(&f, &rpos, 0);
	read_expect(&f, &rpos, 64);
	fx_free(&f);
}

static void test_claim_rejects_message_larger_than_max(void **state)
{
	struct fx f;
	uint64_t limit = 0, pos = 99;

	(void)state;
	make(&f, 4, 100, DROP);
	assert_int_equal(log_claim(&f.v, &limit, 101, PID, &pos), -SHMQ_ETOOBIG);
	assert_int_equal(log_claim(&f.v, &limit, UINT32_MAX, PID, &pos), -SHMQ_ETOOBIG);
	assert_int_equal(pos, 99);
	assert_int_equal(log_tail(&f.v), 0);
	assert_int_equal(log_claim(&f.v, &limit, 100, PID, &pos), 0);
	/* commit checks the length again */
	assert_int_equal(log_commit(&f.v, pos, 101, 0), -SHMQ_ETOOBIG);
	assert_int_equal(get_word(&f, pos), slot_word(pos, SLOT_CLAIMED));
	assert_int_equal(log_commit(&f.v, pos, 100, 0), 0);
	fx_free(&f);
}

static void test_uncommitted_claim_hides_later_records(void **state)
{
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, held, rpos = 0, peek = 1;

	(void)state;
	make(&f, 8, 64, DROP);
	assert_int_equal(publish(&f, &limit, 10), 0);
	assert_int_equal(log_claim(&f.v, &limit, 20, PID, &held), 0);
	assert_int_equal(held, 1);
	assert_int_equal(publish(&f, &limit, 30), 2);
	assert_int_equal(publish(&f, &limit, 40), 3);

	read_expect(&f, &rpos, 10);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(log_read(&f.v, &rpos, &rec), 0);
		assert_int_equal(rpos, 1);
		assert_int_equal(rec.lost, 0);
	}
	peek = 2; /* the later records are committed, only order holds them */
	assert_int_equal(log_read(&f.v, &peek, &rec), 1);

	for (uint32_t i = 0; i < 20; i++)
		log_payload(&f.v, held)[i] = pattern(held, i);
	assert_int_equal(log_commit(&f.v, held, 20, 1000 + held), 0);
	read_expect(&f, &rpos, 20);
	read_expect(&f, &rpos, 30);
	read_expect(&f, &rpos, 40);
	assert_int_equal(log_read(&f.v, &rpos, &rec), 0);
	fx_free(&f);
}

static void test_abort_is_read_as_abandoned(void **state)
{
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, pos, rpos = 0;

	(void)state;
	make(&f, 4, 64, DROP);
	assert_int_equal(log_claim(&f.v, &limit, 10, PID, &pos), 0);
	assert_int_equal(log_abort(&f.v, pos), 0);
	assert_int_equal(get_word(&f, pos), slot_word(pos, SLOT_ABANDONED));
	/* abandoned and nothing after it */
	assert_int_equal(log_read(&f.v, &rpos, &rec), 0);
	assert_int_equal(rec.lost, 1);
	assert_int_equal(rec.abandoned, 1);
	assert_int_equal(rpos, 1);
	/* two aborts before a record */
	assert_int_equal(log_claim(&f.v, &limit, 10, PID, &pos), 0);
	assert_int_equal(log_abort(&f.v, pos), 0);
	assert_int_equal(log_claim(&f.v, &limit, 10, PID, &pos), 0);
	assert_int_equal(log_abort(&f.v, pos), 0);
	assert_int_equal(publish(&f, &limit, 5), 3);
	assert_int_equal(log_read(&f.v, &rpos, &rec), 1);
	assert_int_equal(rec.lost, 2);
	assert_int_equal(rec.abandoned, 2);
	check_record(&rec, 3, 5);
	/* a finished claim cannot be committed or aborted again */
	assert_int_equal(log_commit(&f.v, 1, 10, 0), -SHMQ_EABANDONED);
	assert_int_equal(log_abort(&f.v, 3), -SHMQ_EABANDONED);
	assert_int_equal(get_word(&f, 3), slot_word(3, SLOT_COMMITTED));
	/* the slot of an aborted pos is free for the next lap */
	for (uint64_t p = 4; p < 12; p++)
		assert_int_equal(publish(&f, &limit, 1), p);
	fx_free(&f);
}

static void test_verify_detects_overwrite(void **state)
{
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, pos, rpos = 0;

	(void)state;
	make(&f, 4, 64, DROP);
	publish(&f, &limit, 8);
	assert_int_equal(log_read(&f.v, &rpos, &rec), 1);
	assert_true(log_verify(&f.v, &rec));
	for (uint64_t p = 1; p < 4; p++)
		publish(&f, &limit, 8);
	assert_true(log_verify(&f.v, &rec));
	/* the next lap's claim alone invalidates the view */
	assert_int_equal(log_claim(&f.v, &limit, 8, PID, &pos), 0);
	assert_int_equal(pos, 4);
	assert_false(log_verify(&f.v, &rec));
	assert_int_equal(log_commit(&f.v, pos, 8, 0), 0);
	assert_false(log_verify(&f.v, &rec));
	fx_free(&f);
}

/* ---- wrap-around ---- */

static uint32_t size_at(const uint32_t *sizes, unsigned n, uint64_t pos, uint64_t nslots)
{
	/* vary the size a slot gets from lap to lap */
	return sizes[(pos * 7 + pos / nslots) % n];
}

static unsigned sizes_for(uint32_t max, uint32_t *out)
{
	static const uint32_t all[] = {0,    1,    7,    8,     63,    64,   65,  127, 128,
				       129,  255,  256,  1000,  4095,  4096, 4097, 65535, 65536,
				       65537};
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i] < max - 1)
			out[n++] = all[i];
	if (max >= 1)
		out[n++] = max - 1;
	out[n++] = max;
	return n;
}

/*
 * Block policy: fill the ring to EFULL, which must come exactly a ring
 * ahead of the reader, then let the reader take a random bite.
 */
static void wrap_block(uint64_t nslots, uint32_t max, uint64_t *rng)
{
	uint32_t sizes[32];
	unsigned n = sizes_for(max, sizes);
	uint64_t limit = 0, rpos = 0, tail = 0, pos, laps = nslots < 64 ? 6 : 3;
	struct fx f;

	make(&f, nslots, max, BLOCK);
	fx_reader_add(&f, 5, 0);
	while (rpos < laps * nslots) {
		uint64_t bite;

		for (;;) {
			uint32_t len = size_at(sizes, n, tail, nslots);
			int err = log_claim(&f.v, &limit, len, PID, &pos);
			uint8_t *p;

			if (err == -SHMQ_EFULL)
				break;
			assert_int_equal(err, 0);
			assert_int_equal(pos, tail);
			assert_true(pos < rpos + nslots); /* never past the reader's slot */
			p = log_payload(&f.v, pos);
			for (uint32_t i = 0; i < len; i++)
				p[i] = pattern(pos, i);
			assert_int_equal(log_commit(&f.v, pos, len, 1000 + pos), 0);
			tail++;
		}
		assert_int_equal(log_tail(&f.v), tail);
		assert_int_equal(tail - rpos, nslots);
		bite = 1 + rng_below(rng, nslots);
		while (bite--)
			read_expect(&f, &rpos, size_at(sizes, n, rpos, nslots));
		fx_reader_set(&f, 5, rpos);
	}
	while (rpos < tail)
		read_expect(&f, &rpos, size_at(sizes, n, rpos, nslots));
	fx_free(&f);
}

/* Drop policy: bursts of at most a ring, read completely in between. */
static void wrap_drop(uint64_t nslots, uint32_t max, uint64_t *rng)
{
	uint32_t sizes[32];
	unsigned n = sizes_for(max, sizes);
	uint64_t limit = 0, rpos = 0, tail = 0, pos, laps = nslots < 64 ? 6 : 3;
	struct fx f;

	make(&f, nslots, max, DROP);
	while (tail < laps * nslots) {
		uint64_t burst = 1 + rng_below(rng, nslots);

		while (burst--) {
			uint32_t len = size_at(sizes, n, tail, nslots);
			uint8_t *p;

			assert_int_equal(log_claim(&f.v, &limit, len, PID, &pos), 0);
			assert_int_equal(pos, tail);
			p = log_payload(&f.v, pos);
			for (uint32_t i = 0; i < len; i++)
				p[i] = pattern(pos, i);
			assert_int_equal(log_commit(&f.v, pos, len, 1000 + pos), 0);
			tail++;
		}
		while (rpos < tail)
			read_expect(&f, &rpos, size_at(sizes, n, rpos, nslots));
	}
	fx_free(&f);
}

static void test_wrap_around_keeps_every_byte_at_many_sizes(void **state)
{
	static const uint64_t nslots[] = {4, 8, 16, 32, 64, 256, 1024, 4096};
	static const uint32_t maxes[] = {1, 7, 8, 63, 64, 65, 127, 128, 129, 1000, 4096, 65536};
	uint64_t rng = 1;

	(void)state;
	for (unsigned i = 0; i < sizeof(nslots) / sizeof(nslots[0]); i++) {
		for (unsigned j = 0; j < sizeof(maxes) / sizeof(maxes[0]); j++) {
			if (nslots[i] * slot_bytes_for(maxes[j]) > (32u << 20))
				continue;
			wrap_block(nslots[i], maxes[j], &rng);
			wrap_drop(nslots[i], maxes[j], &rng);
		}
	}
	/* the largest message the layout allows */
	wrap_block(4, MAX_MESSAGE_BYTES, &rng);
	wrap_drop(4, MAX_MESSAGE_BYTES, &rng);
}

/* ---- drop policy ---- */

/* From rpos, publish nslots + k; the reader must lose exactly k. */
static void overrun_by(uint64_t nslots, uint64_t k, uint64_t start)
{
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, rpos = 0, received = 0, lost = 0, end;

	make(&f, nslots, 32, DROP);
	for (uint64_t p = 0; p < start; p++) {
		publish(&f, &limit, (uint32_t)(p % 33));
		read_expect(&f, &rpos, (uint32_t)(p % 33));
	}
	end = start + nslots + k;
	for (uint64_t p = start; p < end; p++)
		publish(&f, &limit, (uint32_t)(p % 33));
	assert_int_equal(log_oldest(&f.v), end - nslots);

	assert_int_equal(log_read(&f.v, &rpos, &rec), 1);
	assert_int_equal(rec.lost, k);
	assert_int_equal(rec.abandoned, 0);
	assert_int_equal(rpos, start + k);
	check_record(&rec, start + k, (uint32_t)((start + k) % 33));
	lost += rec.lost;
	for (;;) {
		received++;
		rpos++;
		if (log_read(&f.v, &rpos, &rec) != 1)
			break;
		assert_int_equal(rec.lost, 0);
		check_record(&rec, rpos, (uint32_t)(rpos % 33));
	}
	assert_int_equal(rec.lost, 0);
	assert_int_equal(rpos, end);
	assert_int_equal(received, nslots);
	assert_int_equal(received + lost, end - start);
	fx_free(&f);
}

static void test_drop_overrun_counts_exact_loss(void **state)
{
	static const uint64_t nslots[] = {4, 16, 64};

	(void)state;
	for (unsigned i = 0; i < sizeof(nslots) / sizeof(nslots[0]); i++) {
		uint64_t n = nslots[i];
		uint64_t ks[] = {1, 2, 3, n - 1, n, n + 1, 2 * n, 3 * n + 1, 10 * n + 3};

		for (unsigned j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
			overrun_by(n, ks[j], 0);
			overrun_by(n, ks[j], 5);
			overrun_by(n, ks[j], 3 * n + 1);
		}
	}
}

static void test_drop_reader_exactly_a_ring_behind_loses_nothing(void **state)
{
	struct fx f;
	uint64_t limit = 0, rpos = 0;

	(void)state;
	make(&f, 8, 32, DROP);
	for (uint64_t p = 0; p < 8; p++)
		publish(&f, &limit, 3);
	for (uint64_t p = 0; p < 8; p++)
		read_expect(&f, &rpos, 3);
	fx_free(&f);
}

/* ---- block policy ---- */

static void test_block_claim_fails_when_reader_a_ring_behind(void **state)
{
	struct fx f;
	uint64_t limit = 0, other = 0, pos = 1234, rpos = 0;

	(void)state;
	make(&f, 8, 32, BLOCK);
	fx_reader_add(&f, 0, 0);
	for (uint64_t p = 0; p < 8; p++)
		assert_int_equal(publish(&f, &limit, 4), p);
	assert_int_equal(log_claim(&f.v, &limit, 4, PID, &pos), -SHMQ_EFULL);
	assert_int_equal(log_claim(&f.v, &other, 4, PID, &pos), -SHMQ_EFULL);
	assert_int_equal(pos, 1234);
	assert_int_equal(log_tail(&f.v), 8);
	assert_int_equal(log_reader_limit(&f.v, 8), 8);

	read_expect(&f, &rpos, 4);
	/* reading is not enough: the published cursor holds publishers */
	assert_int_equal(log_claim(&f.v, &limit, 4, PID, &pos), -SHMQ_EFULL);
	fx_reader_set(&f, 0, rpos);
	assert_int_equal(log_claim(&f.v, &limit, 4, PID, &pos), 0);
	assert_int_equal(pos, 8);
	assert_int_equal(log_commit(&f.v, pos, 0, 0), 0);
	assert_int_equal(log_claim(&f.v, &other, 4, PID, &pos), -SHMQ_EFULL);

	/* the slowest active reader rules; a free entry does not count */
	fx_reader_set(&f, 0, 9);
	fx_reader_add(&f, 7, 3);
	assert_int_equal(log_reader_limit(&f.v, 9), 11);
	assert_int_equal(publish(&f, &other, 1), 9);
	assert_int_equal(publish(&f, &other, 1), 10);
	assert_int_equal(log_claim(&f.v, &other, 4, PID, &pos), -SHMQ_EFULL);
	atomic_store(&f.v.readers[7].state, READER_FREE);
	assert_int_equal(publish(&f, &other, 1), 11);
	/* a stale cached limit is refreshed, and aborted claims count */
	for (uint64_t p = 12; p < 17; p++) {
		assert_int_equal(log_claim(&f.v, &limit, 1, PID, &pos), 0);
		assert_int_equal(pos, p);
		assert_int_equal(log_abort(&f.v, pos), 0);
	}
	assert_int_equal(log_claim(&f.v, &limit, 1, PID, &pos), -SHMQ_EFULL);
	assert_int_equal(log_tail(&f.v), 17);
	fx_free(&f);
}

static void test_block_without_readers_never_fills(void **state)
{
	struct fx f;
	uint64_t limit = 0;

	(void)state;
	make(&f, 4, 8, BLOCK);
	for (uint64_t p = 0; p < 100; p++)
		assert_int_equal(publish(&f, &limit, 8), p);
	fx_free(&f);
}

static void test_reader_limit_clamps_lapped_reader(void **state)
{
	struct fx f;

	(void)state;
	make(&f, 8, 8, BLOCK);
	fx_reader_add(&f, 2, 0);
	/* a reader far behind (late joiner, hostile) holds at most a ring */
	assert_int_equal(log_reader_limit(&f.v, 100), 100);
	fx_reader_set(&f, 2, 95);
	assert_int_equal(log_reader_limit(&f.v, 100), 103);
	fx_reader_set(&f, 2, UINT64_MAX - 8);
	assert_int_equal(log_reader_limit(&f.v, 100), 108);
	fx_free(&f);
}

/* ---- hostile slot words ---- */

static void test_read_rejects_state_ahead_of_tail(void **state)
{
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, rpos = 0;

	(void)state;
	make(&f, 4, 16, DROP);
	publish(&f, &limit, 4);
	publish(&f, &limit, 4);
	set_word(&f, 0, slot_word(4, SLOT_COMMITTED)); /* tail is 2 */
	assert_int_equal(log_read(&f.v, &rpos, &rec), -SHMQ_ECORRUPT);
	set_word(&f, 0, slot_word(1ull << 60, SLOT_CLAIMED));
	assert_int_equal(log_read(&f.v, &rpos, &rec), -SHMQ_ECORRUPT);
	set_word(&f, 0, UINT64_MAX);
	assert_int_equal(log_read(&f.v, &rpos, &rec), -SHMQ_ECORRUPT);
	/* a publisher that finds it in its slot refuses it too */
	set_word(&f, 2, slot_word(6, SLOT_COMMITTED));
	assert_int_equal(log_claim(&f.v, &limit, 4, PID, &rpos), -SHMQ_ECORRUPT);
	fx_free(&f);
}

static void test_read_rejects_invalid_state(void **state)
{
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, rpos = 0;

	(void)state;
	make(&f, 4, 16, DROP);
	publish(&f, &limit, 4);
	set_word(&f, 0, slot_word(0, 0));
	assert_int_equal(log_read(&f.v, &rpos, &rec), -SHMQ_ECORRUPT);
	fx_free(&f);
}

static void test_read_rejects_length_beyond_max(void **state)
{
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, rpos = 0;

	(void)state;
	make(&f, 4, 100, DROP);
	publish(&f, &limit, 4);
	log_slot(&f.v, 0)->len = 101;
	assert_int_equal(log_read(&f.v, &rpos, &rec), -SHMQ_ECORRUPT);
	log_slot(&f.v, 0)->len = UINT32_MAX;
	assert_int_equal(log_read(&f.v, &rpos, &rec), -SHMQ_ECORRUPT);
	/* the bound is the attach-time maximum, not the header's */
	((struct data_hdr *)f.data)->max_message_bytes = MAX_MESSAGE_BYTES;
	log_slot(&f.v, 0)->len = 4096;
	assert_int_equal(log_read(&f.v, &rpos, &rec), -SHMQ_ECORRUPT);
	log_slot(&f.v, 0)->len = 100;
	assert_int_equal(log_read(&f.v, &rpos, &rec), 1);
	fx_free(&f);
}

/* ---- repair (the daemon's side) ---- */

struct alive_set {
	uint32_t dead_pid;
	unsigned calls;
};

static bool alive_unless_dead(uint32_t pid, void *arg)
{
	struct alive_set *a = arg;

	a->calls++;
	return pid != a->dead_pid;
}

#define STUCK_NS 1000000000ull

static void test_repair_abandons_claim_of_dead_publisher(void **state)
{
	struct alive_set alive = {.dead_pid = 777};
	struct log_repair rep = {0};
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, pos, rpos = 0;

	(void)state;
	make(&f, 8, 16, DROP);
	publish(&f, &limit, 2);
	assert_int_equal(log_claim(&f.v, &limit, 2, PID, &pos), 0);
	publish(&f, &limit, 2);
	/* a live claimer is left alone before the timeout */
	assert_int_equal(log_repair_step(&f.v, &rep, 5, STUCK_NS, 64, alive_unless_dead, &alive),
			 0);
	assert_true(alive.calls > 0);
	assert_int_equal(rep.scan_pos, 1);
	/* same slot claimed by a pid that is gone */
	log_slot(&f.v, pos)->claimer_pid = 777;
	assert_int_equal(log_repair_step(&f.v, &rep, 6, STUCK_NS, 64, alive_unless_dead, &alive),
			 1);
	assert_int_equal(get_word(&f, pos), slot_word(pos, SLOT_ABANDONED));
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), 1);
	assert_int_equal(rep.scan_pos, 3);

	read_expect(&f, &rpos, 2);
	assert_int_equal(log_read(&f.v, &rpos, &rec), 1);
	assert_int_equal(rec.lost, 1);
	assert_int_equal(rec.abandoned, 1);
	check_record(&rec, 2, 2);
	assert_int_equal(log_commit(&f.v, pos, 2, 0), -SHMQ_EABANDONED);
	assert_int_equal(log_abort(&f.v, pos), -SHMQ_EABANDONED);
	/* nothing left to repair */
	assert_int_equal(log_repair_step(&f.v, &rep, 7, 0, 64, alive_unless_dead, &alive), 0);
	fx_free(&f);
}

static void test_repair_abandons_live_claim_after_stuck_timeout(void **state)
{
	struct alive_set alive = {.dead_pid = 0};
	struct log_repair rep = {0};
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, pos, rpos = 0, t0 = 5000;

	(void)state;
	make(&f, 4, 16, BLOCK);
	fx_reader_add(&f, 0, 0);
	assert_int_equal(log_claim(&f.v, &limit, 2, PID, &pos), 0);
	publish(&f, &limit, 3);
	assert_int_equal(log_repair_step(&f.v, &rep, t0, STUCK_NS, 64, alive_unless_dead, &alive),
			 0);
	assert_int_equal(log_repair_step(&f.v, &rep, t0 + STUCK_NS - 1, STUCK_NS, 64,
					 alive_unless_dead, &alive),
			 0);
	assert_int_equal(get_word(&f, pos), slot_word(pos, SLOT_CLAIMED));
	assert_int_equal(log_repair_step(&f.v, &rep, t0 + STUCK_NS, STUCK_NS, 64,
					 alive_unless_dead, &alive),
			 1);
	assert_int_equal(get_word(&f, pos), slot_word(pos, SLOT_ABANDONED));

	assert_int_equal(log_read(&f.v, &rpos, &rec), 1);
	assert_int_equal(rec.lost, 1);
	assert_int_equal(rec.abandoned, 1);
	check_record(&rec, 1, 3);
	/* the stalled publisher's late commit is refused */
	assert_int_equal(log_commit(&f.v, pos, 2, 0), -SHMQ_EABANDONED);
	fx_free(&f);
}

static void test_repair_restarts_timer_when_slot_changes(void **state)
{
	struct alive_set alive = {.dead_pid = 0};
	struct log_repair rep = {0};
	struct fx f;
	uint64_t limit = 0, a, b;

	(void)state;
	make(&f, 4, 16, DROP);
	assert_int_equal(log_claim(&f.v, &limit, 2, PID, &a), 0);
	assert_int_equal(log_repair_step(&f.v, &rep, 100, STUCK_NS, 64, alive_unless_dead, &alive),
			 0);
	assert_int_equal(log_commit(&f.v, a, 2, 0), 0);
	assert_int_equal(log_claim(&f.v, &limit, 2, PID, &b), 0);
	/* b has been claimed for less than the timeout */
	assert_int_equal(log_repair_step(&f.v, &rep, 100 + STUCK_NS, STUCK_NS, 64,
					 alive_unless_dead, &alive),
			 0);
	assert_int_equal(log_repair_step(&f.v, &rep, 100 + 2 * STUCK_NS, STUCK_NS, 64,
					 alive_unless_dead, &alive),
			 1);
	assert_int_equal(log_commit(&f.v, b, 2, 0), -SHMQ_EABANDONED);
	fx_free(&f);
}

/* A publisher died between taking tail and claiming its slot. */
static void test_repair_abandons_position_never_claimed(void **state)
{
	struct alive_set alive = {.dead_pid = 0};
	struct log_repair rep = {0};
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, rpos = 0;

	(void)state;
	make(&f, 4, 16, DROP);
	for (int i = 0; i < 5; i++)
		publish(&f, &limit, 1);
	atomic_fetch_add(&f.v.data->tail_pos, 1); /* pos 5: its claimer is gone */
	publish(&f, &limit, 1);
	rpos = 3;
	for (int i = 0; i < 2; i++)
		read_expect(&f, &rpos, 1);
	assert_int_equal(log_read(&f.v, &rpos, &rec), 0);
	assert_int_equal(rpos, 5);
	assert_int_equal(log_repair_step(&f.v, &rep, 1, STUCK_NS, 64, alive_unless_dead, &alive),
			 0);
	assert_int_equal(alive.calls, 0); /* no claimer to ask about */
	assert_int_equal(log_repair_step(&f.v, &rep, 1 + STUCK_NS, STUCK_NS, 64,
					 alive_unless_dead, &alive),
			 1);
	assert_int_equal(log_read(&f.v, &rpos, &rec), 1);
	assert_int_equal(rec.lost, 1);
	assert_int_equal(rec.abandoned, 1);
	check_record(&rec, 6, 1);
	fx_free(&f);
}

/*
 * The daemon abandoned a stalled claim and a later lap reused the slot: the
 * stalled publisher's commit must fail without touching the new record.
 */
static void test_late_commit_leaves_next_lap_record_alone(void **state)
{
	struct alive_set alive = {.dead_pid = 0};
	struct log_repair rep = {0};
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, stalled, rpos = 0;

	(void)state;
	make(&f, 4, 64, DROP);
	assert_int_equal(log_claim(&f.v, &limit, 10, PID, &stalled), 0);
	assert_int_equal(log_repair_step(&f.v, &rep, 1, STUCK_NS, 64, alive_unless_dead, &alive),
			 0);
	assert_int_equal(log_repair_step(&f.v, &rep, 1 + STUCK_NS, STUCK_NS, 64,
					 alive_unless_dead, &alive),
			 1);
	for (uint64_t p = 1; p < 5; p++)
		assert_int_equal(publish(&f, &limit, 5), p);
	assert_int_equal(log_commit(&f.v, stalled, 60, 99), -SHMQ_EABANDONED);
	assert_int_equal(log_abort(&f.v, stalled), -SHMQ_EABANDONED);
	assert_int_equal(get_word(&f, 4), slot_word(4, SLOT_COMMITTED));
	rpos = 4;
	assert_int_equal(log_read(&f.v, &rpos, &rec), 1);
	check_record(&rec, 4, 5);
	fx_free(&f);
}

/*
 * The ring wrapped onto a slot whose claimer died: abandoning must free that
 * claimer's own pos, so that the publisher waiting for the slot goes on and
 * readers count exactly the dead claim, as abandoned.
 */
static void test_repair_frees_wrapped_slot_of_dead_claimer(void **state)
{
	struct alive_set alive = {.dead_pid = 777};
	struct log_repair rep = {0};
	struct log_rec rec;
	struct fx f;
	uint64_t limit = 0, dead, rpos = 0, pos;

	(void)state;
	make(&f, 4, 16, DROP);
	assert_int_equal(log_claim(&f.v, &limit, 2, 777, &dead), 0);
	for (uint64_t p = 1; p < 4; p++)
		publish(&f, &limit, 3);
	/* a publisher took pos 4 and waits for slot 0 (its claim spins) */
	atomic_fetch_add(&f.v.data->tail_pos, 1);
	assert_int_equal(log_repair_step(&f.v, &rep, 1, STUCK_NS, 64, alive_unless_dead, &alive),
			 1);
	assert_int_equal(get_word(&f, 0), slot_word(0, SLOT_ABANDONED));
	assert_int_equal(atomic_load(&f.v.ctl->abandoned), 1);
	assert_int_equal(log_read(&f.v, &rpos, &rec), 1);
	assert_int_equal(rec.lost, 1);
	assert_int_equal(rec.abandoned, 1);
	check_record(&rec, 1, 3);
	rpos++;
	read_expect(&f, &rpos, 3);
	read_expect(&f, &rpos, 3);
	/* the waiter's turn (played here by giving its pos back): slot 0 is
	 * free for pos 4 */
	atomic_fetch_sub(&f.v.data->tail_pos, 1);
	assert_int_equal(publish(&f, &limit, 3), 4);
	read_expect(&f, &rpos, 3);
	assert_int_equal(log_claim(&f.v, &limit, 2, PID, &pos), 0);
	assert_int_equal(pos, 5);
	fx_free(&f);
}

/* ---- waking ---- */

static void test_commit_asks_for_wake_only_when_readers_sleep(void **state)
{
	struct fx f;
	uint64_t limit = 0, pos;

	(void)state;
	make(&f, 4, 16, DROP);
	assert_int_equal(log_claim(&f.v, &limit, 1, PID, &pos), 0);
	assert_int_equal(log_commit(&f.v, pos, 1, 0), 0);
	atomic_store(&f.v.ctl->wake_needed, 1); /* a reader went to sleep */
	assert_int_equal(log_claim(&f.v, &limit, 1, PID, &pos), 0);
	assert_int_equal(log_commit(&f.v, pos, 1, 0), 1);
	/* that commit took the wake: the next ones leave it to it */
	assert_int_equal(atomic_load(&f.v.ctl->wake_needed), 0);
	assert_int_equal(log_claim(&f.v, &limit, 1, PID, &pos), 0);
	assert_int_equal(log_commit(&f.v, pos, 1, 0), 0);
	atomic_store(&f.v.ctl->wake_needed, 1);
	assert_int_equal(log_claim(&f.v, &limit, 1, PID, &pos), 0);
	assert_int_equal(log_abort(&f.v, pos), 1);
	assert_int_equal(log_claim(&f.v, &limit, 1, PID, &pos), 0);
	assert_int_equal(log_abort(&f.v, pos), 0);
	assert_int_equal(atomic_load(&f.v.ctl->wake_seq), 0);
	fx_free(&f);
}

static void test_reader_unmark_decrements_sleepers_once(void **state)
{
	struct fx f;
	struct reader_entry *r;

	(void)state;
	make(&f, 4, 16, DROP);
	r = &f.v.readers[3];
	atomic_store(&r->armed, MARK_FUTEX);
	atomic_store(&f.v.ctl->sleepers, 2);
	log_reader_unmark(&f.v, r, MARK_EFD); /* not that mark: no change */
	assert_int_equal(atomic_load(&r->armed), MARK_FUTEX);
	assert_int_equal(atomic_load(&f.v.ctl->sleepers), 2);
	log_reader_unmark(&f.v, r, MARK_FUTEX);
	assert_int_equal(atomic_load(&r->armed), MARK_NONE);
	assert_int_equal(atomic_load(&f.v.ctl->sleepers), 1);
	log_reader_unmark(&f.v, r, MARK_FUTEX);
	assert_int_equal(atomic_load(&f.v.ctl->sleepers), 1);
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

static void test_wake_signals_armed_event_fds(void **state)
{
	int efds[MAX_READERS];
	struct efd_ctx ctx = {0};
	bool have = false;
	uint64_t n = 0;
	struct fx f;

	(void)state;
	make(&f, 4, 16, DROP);
	for (unsigned i = 0; i < MAX_READERS; i++)
		efds[i] = -1;
	efds[5] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	efds[9] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(efds[5] >= 0 && efds[9] >= 0);
	atomic_store(&f.v.ctl->readers_hi, 10); /* entries 0..9 assigned, as the daemon keeps it */
	atomic_store(&f.v.readers[5].armed, MARK_EFD);
	atomic_store(&f.v.readers[6].armed, MARK_FUTEX);
	atomic_store(&f.v.ctl->sleepers, 2);

	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(atomic_load(&f.v.ctl->wake_seq), 1);
	assert_true(have);
	assert_int_equal(ctx.calls, 1);
	assert_int_equal(atomic_load(&f.v.readers[5].armed), MARK_NONE);
	assert_int_equal(atomic_load(&f.v.readers[6].armed), MARK_FUTEX);
	assert_int_equal(atomic_load(&f.v.ctl->sleepers), 1);
	assert_int_equal(read(efds[5], &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 1);
	assert_true(read(efds[9], &n, sizeof(n)) < 0); /* not armed: not signalled */

	/* a second wake signals only readers armed again */
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(ctx.calls, 1);
	assert_true(read(efds[5], &n, sizeof(n)) < 0);
	atomic_store(&f.v.readers[9].armed, MARK_EFD);
	atomic_fetch_add(&f.v.ctl->sleepers, 1);
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(read(efds[9], &n, sizeof(n)), sizeof(n));
	assert_int_equal(atomic_load(&f.v.ctl->sleepers), 1);
	assert_int_equal(atomic_load(&f.v.ctl->wake_seq), 3);

	/* entries at or above readers_hi are not scanned; a hostile value is bounded */
	atomic_store(&f.v.readers[9].armed, MARK_EFD);
	atomic_fetch_add(&f.v.ctl->sleepers, 1);
	atomic_store(&f.v.ctl->readers_hi, 9);
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(atomic_load(&f.v.readers[9].armed), MARK_EFD);
	assert_true(read(efds[9], &n, sizeof(n)) < 0);
	atomic_store(&f.v.ctl->readers_hi, UINT32_MAX);
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(atomic_load(&f.v.readers[9].armed), MARK_NONE);
	assert_int_equal(read(efds[9], &n, sizeof(n)), sizeof(n));
	assert_int_equal(atomic_load(&f.v.ctl->sleepers), 1);
	/* 0 while someone sleeps is no honest value either: scan them all */
	atomic_store(&f.v.readers[9].armed, MARK_EFD);
	atomic_fetch_add(&f.v.ctl->sleepers, 1);
	atomic_store(&f.v.ctl->readers_hi, 0);
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(read(efds[9], &n, sizeof(n)), sizeof(n));
	assert_int_equal(atomic_load(&f.v.ctl->sleepers), 1);

	/* a reader whose event fd the publisher lacks keeps its mark and count */
	atomic_store(&f.v.ctl->readers_hi, 10);
	atomic_store(&f.v.readers[7].armed, MARK_EFD);
	atomic_fetch_add(&f.v.ctl->sleepers, 1);
	log_wake(&f.v, efds, &have, fill_efds, &ctx);
	assert_int_equal(atomic_load(&f.v.readers[7].armed), MARK_EFD);
	assert_int_equal(atomic_load(&f.v.ctl->sleepers), 2);
	assert_int_equal(atomic_load(&f.v.ctl->wake_needed), 1); /* the next commit tries again */
	close(efds[5]);
	close(efds[9]);
	fx_free(&f);
}

struct sleeper {
	struct fx *f;
	_Atomic int tid;
	int result;   /* log_read() result that ended the wait */
	int slept;    /* futex waits that returned 0 */
	int timeouts; /* futex waits that timed out: a lost wake-up */
	uint64_t pos;
	struct log_rec rec;
};

/* The futex sleep of libclient/sub.c sleep_futex(), bounded by HANG_NS. */
static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	struct log_view *v = &s->f->v;
	struct reader_entry *me = &v->readers[0];
	uint64_t start = wait_now_ns();

	atomic_store(&s->tid, (int)syscall(SYS_gettid));
	while (wait_now_ns() - start < HANG_NS) {
		uint32_t seq;
		int r;

		atomic_store_explicit(&me->armed, MARK_FUTEX, memory_order_relaxed);
		atomic_fetch_add_explicit(&v->ctl->sleepers, 1, memory_order_seq_cst);
		seq = atomic_load_explicit(&v->ctl->wake_seq, memory_order_seq_cst);
		atomic_store_explicit(&v->ctl->wake_needed, 1, memory_order_seq_cst);
		atomic_thread_fence(memory_order_seq_cst);
		r = log_read(v, &s->pos, &s->rec);
		if (r == 0) {
			r = wait_futex(&v->ctl->wake_seq, seq, (int64_t)HANG_NS);
			if (r == -SHMQ_ETIMEDOUT)
				s->timeouts++;
			else if (r == 0)
				s->slept++;
			r = 0;
		}
		log_reader_unmark(v, me, MARK_FUTEX);
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

static void test_commit_wakes_reader_sleeping_on_futex(void **state)
{
	struct sleeper s = {0};
	struct fx f;
	pthread_t th;
	uint64_t limit = 0, pos, start;
	bool have = false;
	char st;
	int r;

	(void)state;
	make(&f, 4, 16, DROP);
	s.f = &f;
	assert_int_equal(pthread_create(&th, NULL, sleeper_main, &s), 0);
	start = wait_now_ns();
	while (atomic_load(&f.v.ctl->sleepers) == 0 || atomic_load(&s.tid) == 0) {
		assert_true(wait_now_ns() - start < HANG_NS);
		nap_us(100);
	}
	/* wait until it is inside FUTEX_WAIT, when /proc can tell */
	while ((st = task_state(atomic_load(&s.tid))) == 'R') {
		assert_true(wait_now_ns() - start < HANG_NS);
		nap_us(100);
	}
	assert_int_equal(log_claim(&f.v, &limit, 5, PID, &pos), 0);
	memcpy(log_payload(&f.v, pos), "wake!", 5);
	r = log_commit(&f.v, pos, 5, 0);
	assert_int_equal(r, 1); /* it cannot leave before a wake: sleepers stays 1 */
	log_wake(&f.v, NULL, &have, NULL, NULL);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(s.result, 1);
	assert_int_equal(s.timeouts, 0);
	if (st == 'S')
		assert_int_equal(s.slept, 1);
	assert_int_equal(s.rec.pos, 0);
	assert_int_equal(s.rec.len, 5);
	assert_memory_equal(s.rec.data, "wake!", 5);
	assert_int_equal(atomic_load(&f.v.ctl->sleepers), 0);
	assert_int_equal(atomic_load(&f.v.readers[0].armed), MARK_NONE);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry_rejects_bad_arguments),
		cmocka_unit_test(test_geometry_rounds_to_power_of_two_slots),
		cmocka_unit_test(test_format_then_attach_gives_the_geometry),
		cmocka_unit_test(test_format_rejects_long_name),
		cmocka_unit_test(test_attach_rejects_bad_magic),
		cmocka_unit_test(test_attach_rejects_other_version),
		cmocka_unit_test(test_attach_rejects_bad_slot_count),
		cmocka_unit_test(test_attach_rejects_inconsistent_slot_bytes),
		cmocka_unit_test(test_attach_rejects_segment_size_mismatch),
		cmocka_unit_test(test_claim_commit_read_round_trip),
		cmocka_unit_test(test_claim_rejects_message_larger_than_max),
		cmocka_unit_test(test_uncommitted_claim_hides_later_records),
		cmocka_unit_test(test_abort_is_read_as_abandoned),
		cmocka_unit_test(test_verify_detects_overwrite),
		cmocka_unit_test(test_wrap_around_keeps_every_byte_at_many_sizes),
		cmocka_unit_test(test_drop_overrun_counts_exact_loss),
		cmocka_unit_test(test_drop_reader_exactly_a_ring_behind_loses_nothing),
		cmocka_unit_test(test_block_claim_fails_when_reader_a_ring_behind),
		cmocka_unit_test(test_block_without_readers_never_fills),
		cmocka_unit_test(test_reader_limit_clamps_lapped_reader),
		cmocka_unit_test(test_read_rejects_state_ahead_of_tail),
		cmocka_unit_test(test_read_rejects_invalid_state),
		cmocka_unit_test(test_read_rejects_length_beyond_max),
		cmocka_unit_test(test_repair_abandons_claim_of_dead_publisher),
		cmocka_unit_test(test_repair_abandons_live_claim_after_stuck_timeout),
		cmocka_unit_test(test_repair_restarts_timer_when_slot_changes),
		cmocka_unit_test(test_repair_abandons_position_never_claimed),
		cmocka_unit_test(test_late_commit_leaves_next_lap_record_alone),
		cmocka_unit_test(test_repair_frees_wrapped_slot_of_dead_claimer),
		cmocka_unit_test(test_commit_asks_for_wake_only_when_readers_sleep),
		cmocka_unit_test(test_reader_unmark_decrements_sleepers_once),
		cmocka_unit_test(test_wake_signals_armed_event_fds),
		cmocka_unit_test(test_commit_wakes_reader_sleeping_on_futex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
