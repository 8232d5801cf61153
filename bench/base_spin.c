/*
 * base_spin.c - the hardware floor: ping-pong through two sequence words in
 * a MAP_SHARED|MAP_ANONYMOUS mapping, each on its own cache line, with the
 * payload in two more cache-line-aligned buffers. Both sides busy-poll with
 * the pause instruction and never make a system call, so a round trip costs
 * two cache-line transfers of the word plus the payload's.
 *
 * The parent (client) writes ping_buf then ping_seq; the child (server) waits
 * for ping_seq, echoes through pong_buf and pong_seq. Sequence numbers only
 * grow, so each side knows the exact value it waits for.
 */
#include <string.h>

#include "bench.h"
#include "drive.h"

struct spin_hdr {
	struct proc_sync sync;
	alignas(64) _Atomic uint64_t ping_seq; /* client writes */
	alignas(64) _Atomic uint64_t pong_seq; /* server writes */
};

struct spin_pp {
	struct spin_hdr *hdr;
	uint8_t *ping_buf;
	uint8_t *pong_buf;
	uint64_t seq; /* this side's count of messages sent (client) or received (server) */
	const struct bench_cfg *cfg;
	struct bench_out *out;
	struct bench_mem mem;
};

static inline void spin_wait_for(_Atomic uint64_t *word, uint64_t want)
{
	/* Acquire; pairs with the release store in spin_client_send() or
	 * spin_server_send(), so the payload buffer is complete. */
	while (atomic_load_explicit(word, memory_order_acquire) != want)
		cpu_relax();
}

static int spin_client_send(void *t, void *buf, uint32_t len)
{
	struct spin_pp *p = t;

	memcpy(p->ping_buf, buf, len);
	/* Release: the payload before the sequence number. Pairs with the
	 * acquire in spin_wait_for() on the server. */
	atomic_store_explicit(&p->hdr->ping_seq, ++p->seq, memory_order_release);
	return 0;
}

static int spin_client_recv(void *t, void *buf, uint32_t len)
{
	struct spin_pp *p = t;

	spin_wait_for(&p->hdr->pong_seq, p->seq);
	memcpy(buf, p->pong_buf, len);
	return 0;
}

static int spin_server_recv(void *t, void *buf, uint32_t len)
{
	struct spin_pp *p = t;

	spin_wait_for(&p->hdr->ping_seq, ++p->seq);
	memcpy(buf, p->ping_buf, len);
	return 0;
}

static int spin_server_send(void *t, void *buf, uint32_t len)
{
	struct spin_pp *p = t;

	memcpy(p->pong_buf, buf, len);
	/* Release: the echo before its sequence number. Pairs with the acquire
	 * in spin_wait_for() on the client. */
	atomic_store_explicit(&p->hdr->pong_seq, p->seq, memory_order_release);
	return 0;
}

static int spin_child(void *arg, unsigned idx)
{
	struct spin_pp *p = arg;

	(void)idx;
	return pp_server_start(p, &p->hdr->sync, p->cfg, p->mem.buf, spin_server_recv,
			       spin_server_send);
}

static int spin_parent(void *arg)
{
	struct spin_pp *p = arg;

	return pp_client_start(p, &p->hdr->sync, p->cfg, p->out->lat, p->mem.buf, spin_client_send,
			       spin_client_recv);
}

int base_spin_pingpong(const struct bench_cfg *cfg, struct bench_out *out)
{
	uint64_t buf_bytes = round_up64(cfg->size_bytes);
	struct spin_pp p = {.cfg = cfg, .out = out};
	int err;

	err = bench_mem_alloc(&p.mem, sizeof(*p.hdr), 2 * buf_bytes, cfg->size_bytes, out->reason);
	if (!err) {
		p.hdr = p.mem.hdr;
		p.ping_buf = p.mem.data;
		p.pong_buf = p.mem.data + buf_bytes;
		err = proc_run(cfg, 1, spin_child, spin_parent, &p, out->reason);
	}
	bench_mem_free(&p.mem);
	return err;
}
