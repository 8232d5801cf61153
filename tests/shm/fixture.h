/*
 * fixture.h - a formatted channel in anonymous MAP_SHARED memory for the
 * shm/ tests: no daemon, no names, shared with children across fork().
 * Reader entries are activated by hand as the daemon would.
 */
#ifndef TEST_FIXTURE_H
#define TEST_FIXTURE_H

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"

struct fx {
	void *data;
	void *ctl;
	struct log_geometry g;
	struct log_view v;
};

static inline int fx_make(struct fx *f, uint64_t capacity, uint32_t max_msg, uint32_t policy)
{
	int err = log_geometry_make(capacity, max_msg, policy, &f->g);

	if (err)
		return err;
	f->data = mmap(NULL, f->g.data_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	f->ctl = mmap(NULL, f->g.ctl_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		      0);
	if (f->data == MAP_FAILED || f->ctl == MAP_FAILED)
		return -SHMQ_ENOMEM;
	err = log_format(f->data, f->ctl, &f->g, "test.channel", 42);
	if (err)
		return err;
	return log_attach(&f->v, f->data, f->g.data_bytes, f->ctl, f->g.ctl_bytes);
}

static inline void fx_free(struct fx *f)
{
	munmap(f->data, f->g.data_bytes);
	munmap(f->ctl, f->g.ctl_bytes);
}

/* Activate reader slot idx at pos, as registry_reader_add() does. */
static inline void fx_reader_add(struct fx *f, unsigned idx, uint64_t pos)
{
	struct reader_entry *r = &f->v.readers[idx];

	atomic_store_explicit(&r->pos, pos, memory_order_relaxed);
	atomic_store_explicit(&r->state, READER_ACTIVE, memory_order_release);
	if (atomic_load_explicit(&f->v.ctl->readers_hi, memory_order_relaxed) <= idx)
		atomic_store_explicit(&f->v.ctl->readers_hi, idx + 1, memory_order_release);
}

static inline void fx_reader_set(struct fx *f, unsigned idx, uint64_t pos)
{
	atomic_store_explicit(&f->v.readers[idx].pos, pos, memory_order_release);
}

/* Publish one message; retries claims the daemon abandoned. */
static inline int fx_publish(struct fx *f, uint64_t *limit, const void *buf, uint32_t len,
			     uint64_t *pos_out)
{
	uint64_t pos;
	int err;

	do
		err = log_claim(&f->v, limit, len, 1, &pos);
	while (err == -SHMQ_EABANDONED);
	if (err)
		return err;
	memcpy(log_payload(&f->v, pos), buf, len);
	err = log_commit(&f->v, pos, len, 0);
	if (pos_out)
		*pos_out = pos;
	return err < 0 ? err : 0;
}

#endif
