/*
 * base_ring.c - the streaming floor: a single-producer single-consumer ring
 * in a shared mapping, the same 4 MiB as a default shmq channel, fixed slots
 * of the message size rounded up to 8 bytes. The child produces, the parent
 * consumes; each copies the message in or out with memcpy, as shmq's
 * publish and copying receive do.
 *
 * Deliberately the plain design: each side publishes its position after
 * every message and caches the other's, rereading it only when the ring
 * looks full (producer) or empty (consumer). No batching: this is the ring
 * anyone would write first, and on this machine type it is bimodal.
 */
#include <string.h>

#include "bench.h"
#include "drive.h"

#define RING_BYTES (4u << 20)

struct ring_hdr {
	struct proc_sync sync;
	alignas(64) _Atomic uint64_t head_pos; /* consumer writes */
	alignas(64) _Atomic uint64_t tail_pos; /* producer writes */
};

struct ring_pp {
	struct ring_hdr *hdr;
	uint8_t *slots;
	uint64_t nslots; /* power of two */
	uint64_t slot_bytes;
	uint64_t pos;	   /* this side's own position */
	uint64_t peer_pos; /* the other side's position, as last read */
	const struct bench_cfg *cfg;
	struct bench_out *out;
	struct bench_mem mem;
};

static int ring_push(void *t, void *buf, uint32_t len)
{
	struct ring_pp *r = t;

	while (r->pos - r->peer_pos >= r->nslots) {
		/* Acquire; pairs with the release store in ring_pop(): the
		 * consumer has finished copying out the slots below head. */
		r->peer_pos = atomic_load_explicit(&r->hdr->head_pos, memory_order_acquire);
		cpu_relax();
	}
	memcpy(r->slots + (r->pos & (r->nslots - 1)) * r->slot_bytes, buf, len);
	/* Release: the slot's bytes before the new tail. Pairs with the
	 * acquire in ring_pop(). */
	atomic_store_explicit(&r->hdr->tail_pos, ++r->pos, memory_order_release);
	return 0;
}

static int ring_pop(void *t, void *buf, uint32_t len)
{
	struct ring_pp *r = t;

	while (r->pos == r->peer_pos) {
		/* Acquire; pairs with the release store in ring_push(), so
		 * every slot below tail is fully written. */
		r->peer_pos = atomic_load_explicit(&r->hdr->tail_pos, memory_order_acquire);
		if (r->pos == r->peer_pos)
			cpu_relax();
	}
	memcpy(buf, r->slots + (r->pos & (r->nslots - 1)) * r->slot_bytes, len);
	/* Release: the slot is copied out before the producer may reuse it.
	 * Pairs with the acquire in ring_push(). */
	atomic_store_explicit(&r->hdr->head_pos, ++r->pos, memory_order_release);
	return 0;
}

static int ring_child(void *arg, unsigned idx)
{
	struct ring_pp *r = arg;

	(void)idx;
	return st_producer_start(r, &r->hdr->sync, r->cfg, r->mem.buf, ring_push);
}

static int ring_parent(void *arg)
{
	struct ring_pp *r = arg;

	return st_consumer_start(r, &r->hdr->sync, r->cfg, r->mem.buf, ring_pop,
				 &r->out->msgs_per_s);
}

int base_ring_stream(const struct bench_cfg *cfg, struct bench_out *out)
{
	struct ring_pp r = {.cfg = cfg, .out = out};
	int err;

	r.slot_bytes = (cfg->size_bytes + 7) & ~7u;
	r.nslots = 2;
	while (r.nslots * 2 * r.slot_bytes <= RING_BYTES)
		r.nslots *= 2;
	err = bench_mem_alloc(&r.mem, sizeof(*r.hdr), r.nslots * r.slot_bytes, cfg->size_bytes,
			      out->reason);
	if (!err) {
		r.hdr = r.mem.hdr;
		r.slots = r.mem.data;
		err = proc_run(cfg, 1, ring_child, ring_parent, &r, out->reason);
	}
	bench_mem_free(&r.mem);
	return err;
}
