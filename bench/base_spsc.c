/*
 * base_spsc.c - the streaming floor that is not naive: the best hand-made
 * single-producer single-consumer ring we know how to write, in the same
 * 4 MiB of shared mapping as raw-ring and a default shmq channel, fixed
 * slots of the message size rounded up to 8 bytes, memcpy in and out.
 *
 * What it takes from the known good rings (rigtorp's SPSCQueue, the LMAX
 * Disruptor, Aeron's IPC publication, FastForward):
 * - each index alone in its own 128-byte pair of cache lines, so the
 *   adjacent-line prefetcher never pulls the other side's line with it;
 * - each side caches the other's index and rereads it only when the ring
 *   looks full (producer) or empty (consumer);
 * - the consumer publishes its head in batches (SPSC_HEAD_BATCH_BYTES of
 *   slots, and always before it waits), as Aeron's subscriber moves its
 *   position once per poll: the producer's reads of head then miss once a
 *   batch, not once a message. The producer publishes every message.
 */
#include <assert.h>
#include <string.h>

#include "bench.h"
#include "drive.h"

#define SPSC_RING_BYTES (4u << 20)
#define SPSC_HEAD_BATCH_BYTES (64u << 10)

struct spsc_hdr {
	struct proc_sync sync;
	alignas(128) _Atomic uint64_t head_pos; /* consumer writes, in batches */
	alignas(128) _Atomic uint64_t tail_pos; /* producer writes */
	uint8_t pad[120];
};
static_assert(sizeof(struct spsc_hdr) % 128 == 0, "each index alone in its pair of lines");

struct spsc {
	struct spsc_hdr *hdr;
	uint8_t *slots;
	uint64_t nslots; /* power of two */
	uint64_t slot_bytes;
	uint64_t batch;	   /* consumer: slots per head store */
	uint64_t pos;	   /* this side's own position */
	uint64_t peer_pos; /* the other side's position, as last read */
	uint64_t shown;	   /* consumer: the head last stored */
	const struct bench_cfg *cfg;
	struct bench_out *out;
	struct bench_mem mem;
};

static int spsc_push(void *t, void *buf, uint32_t len)
{
	struct spsc *q = t;

	while (q->pos - q->peer_pos >= q->nslots) {
		/* Acquire; pairs with the release stores in spsc_show_head():
		 * the consumer has copied out every slot below head. */
		q->peer_pos = atomic_load_explicit(&q->hdr->head_pos, memory_order_acquire);
		if (q->pos - q->peer_pos >= q->nslots)
			cpu_relax();
	}
	memcpy(q->slots + (q->pos & (q->nslots - 1)) * q->slot_bytes, buf, len);
	/* Release: the slot's bytes before the new tail. Pairs with the
	 * acquire in spsc_pop(). */
	atomic_store_explicit(&q->hdr->tail_pos, ++q->pos, memory_order_release);
	return 0;
}

static inline void spsc_show_head(struct spsc *q)
{
	/* Release: the slots below pos are copied out before the producer may
	 * reuse them. Pairs with the acquire in spsc_push(). */
	atomic_store_explicit(&q->hdr->head_pos, q->pos, memory_order_release);
	q->shown = q->pos;
}

static int spsc_pop(void *t, void *buf, uint32_t len)
{
	struct spsc *q = t;

	if (q->pos == q->peer_pos) {
		if (q->shown != q->pos)
			spsc_show_head(q); /* about to wait: the producer may be waiting too */
		/* Acquire; pairs with the release store in spsc_push(), so every
		 * slot below tail is fully written. */
		while ((q->peer_pos = atomic_load_explicit(&q->hdr->tail_pos,
							   memory_order_acquire)) == q->pos)
			cpu_relax();
	}
	memcpy(buf, q->slots + (q->pos & (q->nslots - 1)) * q->slot_bytes, len);
	if (++q->pos - q->shown >= q->batch)
		spsc_show_head(q);
	return 0;
}

static int spsc_child(void *arg, unsigned idx)
{
	struct spsc *q = arg;

	(void)idx;
	return st_producer_start(q, &q->hdr->sync, q->cfg, q->mem.buf, spsc_push);
}

static int spsc_parent(void *arg)
{
	struct spsc *q = arg;

	return st_consumer_start(q, &q->hdr->sync, q->cfg, q->mem.buf, spsc_pop,
				 &q->out->msgs_per_s);
}

int base_spsc_stream(const struct bench_cfg *cfg, struct bench_out *out)
{
	struct spsc q = {.cfg = cfg, .out = out};
	int err;

	q.slot_bytes = (cfg->size_bytes + 7) & ~7u;
	q.nslots = 2;
	while (q.nslots * 2 * q.slot_bytes <= SPSC_RING_BYTES)
		q.nslots *= 2;
	q.batch = SPSC_HEAD_BATCH_BYTES / q.slot_bytes;
	if (q.batch < 1)
		q.batch = 1;
	err = bench_mem_alloc(&q.mem, sizeof(*q.hdr), q.nslots * q.slot_bytes, cfg->size_bytes,
			      out->reason);
	if (!err) {
		q.hdr = q.mem.hdr;
		q.slots = q.mem.data;
		err = proc_run(cfg, 1, spsc_child, spsc_parent, &q, out->reason);
	}
	bench_mem_free(&q.mem);
	return err;
}
