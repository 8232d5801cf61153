/*
 * base_futex.c - the wake-up floor, and its spin-first variant.
 *
 * raw-futex: ping-pong through two 32-bit sequence words in a shared mapping
 * (not FUTEX_PRIVATE: two processes). The receiver sleeps in FUTEX_WAIT at
 * once; the sender always calls FUTEX_WAKE. Every message is one wake-up.
 *
 * raw-spin-futex: the receiver spins BENCH_SPIN_NS (shmq's default spin
 * window) before it sleeps, and announces its sleep in a waiter word on its
 * own cache line; the sender calls FUTEX_WAKE only when that word is set. This
 * is what shmq's spin-then-sleep reader does, without the broker around it.
 *
 * Parent = client on CPU cfg->cpu[0], child = echo server on cfg->cpu[1].
 */
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "drive.h"

struct futex_hdr {
	struct proc_sync sync;
	alignas(64) _Atomic uint32_t ping_seq;	  /* client writes */
	alignas(64) _Atomic uint32_t pong_seq;	  /* server writes */
	alignas(64) _Atomic uint32_t ping_waiter; /* server writes: 1 while it may sleep */
	alignas(64) _Atomic uint32_t pong_waiter; /* client writes: 1 while it may sleep */
};

struct futex_pp {
	struct futex_hdr *hdr;
	uint8_t *ping_buf;
	uint8_t *pong_buf;
	uint32_t seq;
	int spin_first;
	const struct bench_cfg *cfg;
	struct bench_out *out;
	struct bench_mem mem;
};

static long futex_op(_Atomic uint32_t *word, int op, uint32_t val)
{
	return syscall(SYS_futex, (uint32_t *)word, op, val, NULL, NULL, 0);
}

/* Always sleep: FUTEX_WAIT returns at once if the word already moved on. */
static void futex_sleep_for(_Atomic uint32_t *word, uint32_t want)
{
	uint32_t v;

	/* Acquire; pairs with the release store in futex_publish(), so the
	 * payload is complete once the word shows want. */
	while ((v = atomic_load_explicit(word, memory_order_acquire)) != want)
		futex_op(word, FUTEX_WAIT, v);
}

/* Spin up to BENCH_SPIN_NS for want; 1 if it came. */
static int futex_spin_for(_Atomic uint32_t *word, uint32_t want)
{
	uint64_t deadline = now_ns() + BENCH_SPIN_NS;
	unsigned spins = 0;

	/* Acquire; pairs with the release (seq_cst) store in futex_publish(). */
	while (atomic_load_explicit(word, memory_order_acquire) != want) {
		cpu_relax();
		if (++spins % 64 == 0 && now_ns() > deadline)
			return 0;
	}
	return 1;
}

/* Spin first; then announce the sleep in *waiter and sleep. */
static void futex_spin_sleep_for(_Atomic uint32_t *word, _Atomic uint32_t *waiter, uint32_t want)
{
	uint32_t v;

	if (futex_spin_for(word, want))
		return;
	for (;;) {
		/* Seq_cst store then seq_cst load (a Dekker pair with
		 * futex_publish()): either the sender sees waiter = 1 and wakes
		 * us, or we see its new sequence number here. */
		atomic_store_explicit(waiter, 1, memory_order_seq_cst);
		v = atomic_load_explicit(word, memory_order_seq_cst);
		if (v == want)
			break;
		futex_op(word, FUTEX_WAIT, v);
	}
	/* Relaxed: only a hint that saves the sender a syscall; a stale 1 costs
	 * one spurious FUTEX_WAKE. */
	atomic_store_explicit(waiter, 0, memory_order_relaxed);
}

static void futex_publish(struct futex_pp *p, _Atomic uint32_t *word, _Atomic uint32_t *waiter,
			  uint32_t seq)
{
	if (!p->spin_first) {
		/* Release: payload before sequence number. Pairs with the
		 * acquire in futex_sleep_for(). */
		atomic_store_explicit(word, seq, memory_order_release);
		futex_op(word, FUTEX_WAKE, 1);
		return;
	}
	/* Seq_cst: the Dekker pair with futex_spin_sleep_for(); also a release
	 * for the payload, pairing with its acquire loads of word. */
	atomic_store_explicit(word, seq, memory_order_seq_cst);
	if (atomic_load_explicit(waiter, memory_order_seq_cst))
		futex_op(word, FUTEX_WAKE, 1);
}

static void futex_wait_for(struct futex_pp *p, _Atomic uint32_t *word, _Atomic uint32_t *waiter,
			   uint32_t want)
{
	if (p->spin_first)
		futex_spin_sleep_for(word, waiter, want);
	else
		futex_sleep_for(word, want);
}

static int futex_client_send(void *t, void *buf, uint32_t len)
{
	struct futex_pp *p = t;

	memcpy(p->ping_buf, buf, len);
	futex_publish(p, &p->hdr->ping_seq, &p->hdr->ping_waiter, ++p->seq);
	return 0;
}

static int futex_client_recv(void *t, void *buf, uint32_t len)
{
	struct futex_pp *p = t;

	futex_wait_for(p, &p->hdr->pong_seq, &p->hdr->pong_waiter, p->seq);
	memcpy(buf, p->pong_buf, len);
	return 0;
}

static int futex_server_recv(void *t, void *buf, uint32_t len)
{
	struct futex_pp *p = t;

	futex_wait_for(p, &p->hdr->ping_seq, &p->hdr->ping_waiter, ++p->seq);
	memcpy(buf, p->ping_buf, len);
	return 0;
}

static int futex_server_send(void *t, void *buf, uint32_t len)
{
	struct futex_pp *p = t;

	memcpy(p->pong_buf, buf, len);
	futex_publish(p, &p->hdr->pong_seq, &p->hdr->pong_waiter, p->seq);
	return 0;
}

static int futex_child(void *arg, unsigned idx)
{
	struct futex_pp *p = arg;

	(void)idx;
	return pp_server_start(p, &p->hdr->sync, p->cfg, p->mem.buf, futex_server_recv,
			       futex_server_send);
}

static int futex_parent(void *arg)
{
	struct futex_pp *p = arg;

	return pp_client_start(p, &p->hdr->sync, p->cfg, p->out->lat, p->mem.buf, futex_client_send,
			       futex_client_recv);
}

static int futex_run(const struct bench_cfg *cfg, struct bench_out *out, int spin_first)
{
	uint64_t buf_bytes = round_up64(cfg->size_bytes);
	struct futex_pp p = {.cfg = cfg, .out = out, .spin_first = spin_first};
	int err;

	err = bench_mem_alloc(&p.mem, sizeof(*p.hdr), 2 * buf_bytes, cfg->size_bytes, out->reason);
	if (!err) {
		p.hdr = p.mem.hdr;
		p.ping_buf = p.mem.data;
		p.pong_buf = p.mem.data + buf_bytes;
		err = proc_run(cfg, 1, futex_child, futex_parent, &p, out->reason);
	}
	bench_mem_free(&p.mem);
	return err;
}

int base_futex_pingpong(const struct bench_cfg *cfg, struct bench_out *out)
{
	return futex_run(cfg, out, 0);
}

int base_spinfutex_pingpong(const struct bench_cfg *cfg, struct bench_out *out)
{
	return futex_run(cfg, out, 1);
}
