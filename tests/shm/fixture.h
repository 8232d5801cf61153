/*
 * fixture.h - a formatted channel (format v3) in anonymous MAP_SHARED memory
 * for the shm/ tests: no daemon, no names, shared with children across
 * fork(), each ending at a page boundary before a PROT_NONE guard, so that a
 * read past a segment faults. Reader and publisher entries are assigned by hand as the daemon's
 * registry would (registry_reader_add(), registry_pub_add()). Test code
 * only; any thread may use a fixture once fx_make() returned.
 */
#ifndef TEST_FIXTURE_H
#define TEST_FIXTURE_H

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

#define FX_KEY 0x9e3779b97f4a7c14ull /* rec_key of every fixture channel */
#define FX_GUARD_BYTES 65536u         /* PROT_NONE after each segment: overreads fault */

struct fx {
	void *data;
	void *ctl;
	struct log_geometry g;
	struct log_view v;
};

static inline uint64_t fx_map_slack(uint64_t bytes)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	return (bytes + page - 1) / page * page - bytes;
}

/*
 * bytes of zeroed MAP_SHARED memory that END at a page boundary, followed by
 * an inaccessible guard: a read one byte past the segment faults. NULL on
 * failure.
 */
static inline void *fx_map(uint64_t bytes)
{
	uint64_t slack = fx_map_slack(bytes);
	uint8_t *p = mmap(NULL, slack + bytes + FX_GUARD_BYTES, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mmap(p, slack + bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) != p) {
		munmap(p, slack + bytes + FX_GUARD_BYTES);
		return NULL;
	}
	return p + slack;
}

static inline void fx_unmap(void *p, uint64_t bytes)
{
	uint64_t slack = fx_map_slack(bytes);

	munmap((uint8_t *)p - slack, slack + bytes + FX_GUARD_BYTES);
}

/* A channel with every setting spelled out; base_pos is its first message number. */
static inline int fx_make_ex(struct fx *f, uint64_t capacity, uint32_t max_msg, uint32_t policy,
			     uint32_t pub_mode, uint64_t base_pos)
{
	int err = log_geometry_make(capacity, max_msg, policy, pub_mode, 0, &f->g);

	if (err)
		return err;
	f->data = fx_map(f->g.data_bytes);
	f->ctl = fx_map(f->g.ctl_bytes);
	if (!f->data || !f->ctl)
		return -SHMQ_ENOMEM;
	err = log_format(f->data, f->ctl, &f->g, "test.channel", 42, base_pos, FX_KEY);
	if (err)
		return err;
	return log_attach(&f->v, f->data, f->g.data_bytes, f->ctl, f->g.ctl_bytes, NULL);
}

/* Many publishers, message numbers from 0. */
static inline int fx_make(struct fx *f, uint64_t capacity, uint32_t max_msg, uint32_t policy)
{
	return fx_make_ex(f, capacity, max_msg, policy, 0, 0);
}

static inline void fx_free(struct fx *f)
{
	fx_unmap(f->data, f->g.data_bytes);
	fx_unmap(f->ctl, f->g.ctl_bytes);
}

/* Assign reader entry idx with its cursor at `at`, as registry_reader_add() does. */
static inline void fx_reader_add(struct fx *f, unsigned idx, const struct log_cursor *at)
{
	struct reader_entry *r = &f->v.readers[idx];

	log_cursor_store(r, at, false);
	/* release; pairs with the acquire in log_reader_limit(). */
	atomic_store_explicit(&r->state, READER_ACTIVE, memory_order_release);
	if (atomic_load_explicit(&f->v.ctl->readers_hi, memory_order_relaxed) <= idx)
		atomic_store_explicit(&f->v.ctl->readers_hi, idx + 1, memory_order_release);
}

/* The reader at idx is done with everything below cur (block policy's bound). */
static inline void fx_reader_set(struct fx *f, unsigned idx, const struct log_cursor *cur)
{
	log_cursor_store(&f->v.readers[idx], cur, true);
}

/* Assign publisher entry idx to pid, as registry_pub_add() does. */
static inline struct pub_entry *fx_pub_add(struct fx *f, unsigned idx, uint32_t pid)
{
	struct pub_entry *e = &f->v.pubs[idx];

	/* relaxed: the release store of state below publishes the entry. */
	atomic_store_explicit(&e->claim_state, PUB_IDLE, memory_order_relaxed);
	atomic_store_explicit(&e->owner_pid, pid, memory_order_relaxed);
	atomic_fetch_add_explicit(&e->gen, 1, memory_order_relaxed);
	/* release; pairs with the acquire in log_claims_limit(). */
	atomic_store_explicit(&e->state, 1, memory_order_release);
	return e;
}

/* Free publisher entry idx, as registry_pub_remove() does after its repair step. */
static inline void fx_pub_remove(struct fx *f, unsigned idx)
{
	struct pub_entry *e = &f->v.pubs[idx];

	atomic_store_explicit(&e->claim_state, PUB_IDLE, memory_order_relaxed);
	/* release; pairs with the acquire in log_claims_limit(). */
	atomic_store_explicit(&e->state, 0, memory_order_release);
}

/* A publisher on entry idx (assigned here to pid). */
static inline void fx_pub_init(struct fx *f, struct log_pub *p, unsigned idx, uint32_t pid,
			       bool have_membarrier)
{
	log_pub_init(&f->v, p, fx_pub_add(f, idx, pid), have_membarrier);
}

/* Publish one message of len bytes from buf; c (if not NULL) gets the claim. */
static inline int fx_publish(struct fx *f, struct log_pub *p, const void *buf, uint32_t len,
			     uint64_t ts, struct log_claim *c_out)
{
	struct log_claim c;
	int err = log_claim(&f->v, p, len, 0, &c);

	if (err)
		return err;
	memcpy(log_payload(&f->v, c.at.bytes, 0), buf, len);
	err = log_commit(&f->v, p, &c, len, 0, ts);
	if (c_out)
		*c_out = c;
	return err < 0 ? err : 0;
}

#endif
