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
#define FX_GUARD_BYTES 65536u	     /* PROT_NONE after each segment: overreads fault */

struct fx {
	void *data;
	void *ctl;
	void *wake;
	uint8_t *entries;	 /* MAX_READERS reader entries, then MAX_PUBS publisher entries */
	struct log_peers *peers; /* every entry, as the daemon maps them (shared across fork) */
	struct log_geometry g;
	struct log_view v;
};

#define FX_ENTRIES_BYTES                                                                           \
	(MAX_READERS * (uint64_t)sizeof(struct reader_entry) +                                     \
	 MAX_PUBS * (uint64_t)sizeof(struct pub_entry))

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
	struct log_segs segs;
	int err = log_geometry_make(capacity, max_msg, policy, pub_mode, 0, &f->g);

	if (err)
		return err;
	f->data = fx_map(f->g.data_bytes);
	f->ctl = fx_map(f->g.ctl_bytes);
	f->wake = fx_map(WAKE_SEG_BYTES);
	f->entries = fx_map(FX_ENTRIES_BYTES);
	f->peers = fx_map(sizeof(struct log_peers));
	if (!f->data || !f->ctl || !f->wake || !f->entries || !f->peers)
		return -SHMQ_ENOMEM;
	err = log_format(f->data, f->ctl, &f->g, "test.channel", 42, base_pos, FX_KEY);
	if (err)
		return err;
	segs = (struct log_segs){f->data,	 f->g.data_bytes, f->ctl,
				 f->g.ctl_bytes, f->wake,	  WAKE_SEG_BYTES};
	return log_attach(&f->v, &segs, NULL);
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
	fx_unmap(f->wake, WAKE_SEG_BYTES);
	fx_unmap(f->entries, FX_ENTRIES_BYTES);
	fx_unmap(f->peers, sizeof(struct log_peers));
}

/* The daemon's writable view of the control segment. */
static inline struct ctl_hdr *fx_ctl(struct fx *f)
{
	return f->ctl;
}

static inline struct ctl_slot *fx_rslot(struct fx *f, unsigned idx)
{
	return (struct ctl_slot *)((uint8_t *)f->ctl + CTL_READERS_OFF) + idx;
}

static inline struct ctl_slot *fx_pslot(struct fx *f, unsigned idx)
{
	return (struct ctl_slot *)((uint8_t *)f->ctl + CTL_PUBS_OFF) + idx;
}

/* Reader idx's entry. */
static inline struct reader_entry *fx_reader(struct fx *f, unsigned idx)
{
	return (struct reader_entry *)(f->entries + idx * sizeof(struct reader_entry));
}

/* Publisher idx's entry. */
static inline struct pub_entry *fx_pub(struct fx *f, unsigned idx)
{
	return (struct pub_entry *)(f->entries + MAX_READERS * sizeof(struct reader_entry) +
				    idx * sizeof(struct pub_entry));
}

/* A repair state for this fixture's channel, as the registry sets one up. */
static inline void fx_repair_init(struct fx *f, struct log_repair *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->ctl = fx_ctl(f);
	rep->ctl_pslots = fx_pslot(f, 0);
}

/* rep, set up for this fixture's channel (idempotent), for log_repair_*(). */
static inline struct log_repair *fx_rep(struct fx *f, struct log_repair *rep)
{
	rep->ctl = fx_ctl(f);
	rep->ctl_pslots = fx_pslot(f, 0);
	return rep;
}

/* Activate a slot with the next generation, as the registry's slot_fill() does. */
static inline void fx_slot_fill(struct ctl_slot *sl, uint32_t pid)
{
	uint32_t gen = atomic_load_explicit(&sl->gen, memory_order_relaxed) + 1;

	atomic_store_explicit(&sl->owner_pid, pid, memory_order_relaxed);
	atomic_store_explicit(&sl->cut_bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&sl->gen, gen, memory_order_relaxed);
	/* release; pairs with the acquire in log_slot_stale(). */
	atomic_store_explicit(&sl->state, SLOT_ACTIVE, memory_order_release);
}

/* Assign reader entry idx with its cursor at `at`, as registry_reader_add() does. */
static inline void fx_reader_add(struct fx *f, unsigned idx, const struct log_cursor *at)
{
	struct reader_entry *r = fx_reader(f, idx);

	memset(r, 0, sizeof(*r));
	log_cursor_store(r, at, false);
	/* the peers' generation first: nobody sees the slot active with an older one */
	f->peers->readers[idx] = r;
	f->peers->rgen[idx] = atomic_load(&fx_rslot(f, idx)->gen) + 1;
	fx_slot_fill(fx_rslot(f, idx), 1);
	atomic_fetch_add_explicit(&fx_ctl(f)->readers_gen, 1, memory_order_release);
	if (atomic_load_explicit(&f->v.ctl->readers_hi, memory_order_relaxed) <= idx)
		atomic_store_explicit(&fx_ctl(f)->readers_hi, idx + 1, memory_order_release);
}

/* The reader at idx is done with everything below cur (block policy's bound). */
static inline void fx_reader_set(struct fx *f, unsigned idx, const struct log_cursor *cur)
{
	log_cursor_store(fx_reader(f, idx), cur, true);
}

/* Assign publisher entry idx to pid, as registry_pub_add() does. */
static inline struct pub_entry *fx_pub_add(struct fx *f, unsigned idx, uint32_t pid)
{
	struct pub_entry *e = fx_pub(f, idx);

	memset(e, 0, sizeof(*e));
	f->peers->pubs[idx] = e;
	f->peers->pgen[idx] = atomic_load(&fx_pslot(f, idx)->gen) + 1;
	fx_slot_fill(fx_pslot(f, idx), pid);
	atomic_fetch_add_explicit(&fx_ctl(f)->pubs_gen, 1, memory_order_release);
	return e;
}

/*
 * Free publisher entry idx, as registry_pub_remove() does after its repair
 * step. Its mapping stays in peers, as a client's stays until it maps anew:
 * other processes read peers while this runs, and one that saw the slot
 * active must not find the entry gone.
 */
static inline void fx_pub_remove(struct fx *f, unsigned idx)
{
	/* release; pairs with the acquire in log_claims_limit(). */
	atomic_store_explicit(&fx_pslot(f, idx)->state, SLOT_FREE, memory_order_release);
}

/* A publisher on entry idx (assigned here to pid). */
static inline void fx_pub_init(struct fx *f, struct log_pub *p, unsigned idx, uint32_t pid,
			       bool have_membarrier)
{
	struct pub_entry *e = fx_pub_add(f, idx, pid);

	log_pub_init(&f->v, p, idx, e, f->peers, have_membarrier);
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
