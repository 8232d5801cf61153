/*
 * base_zmq.c - the ZeroMQ baseline: a PAIR socket pair over ipc:// in the
 * run's temporary directory, default options (HWM 1000) except linger 0.
 * Built only when libzmq was found (HAVE_ZMQ).
 *
 * A ZeroMQ context must not cross fork(): the parent makes its context and
 * binds before forking and the child never touches it; the child makes its
 * own context and connects. Each process is pinned before it makes its
 * context, so ZeroMQ's I/O thread runs on the same CPU as its user: parent =
 * client / consumer on cfg->cpu[0], child on cfg->cpu[1].
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "drive.h"

struct zpair {
	struct proc_sync *sync;
	char endpoint[256];
	void *ctx;
	void *sock;
	int stream; /* 0: ping-pong, 1: the child produces a stream */
	const struct bench_cfg *cfg;
	struct bench_out *out;
	struct bench_mem mem;
};

static int zpair_send(void *t, void *buf, uint32_t len)
{
	struct zpair *z = t;

	while (zmq_send(z->sock, buf, len, 0) < 0) {
		if (zmq_errno() != EINTR)
			return -zmq_errno();
	}
	return 0;
}

static int zpair_recv(void *t, void *buf, uint32_t len)
{
	struct zpair *z = t;
	int n;

	while ((n = zmq_recv(z->sock, buf, len, 0)) < 0) {
		if (zmq_errno() != EINTR)
			return -zmq_errno();
	}
	return (uint32_t)n == len ? 0 : -EMSGSIZE;
}

static void zpair_close(struct zpair *z)
{
	if (z->sock)
		zmq_close(z->sock);
	if (z->ctx)
		zmq_ctx_term(z->ctx);
	z->sock = NULL;
	z->ctx = NULL;
}

/* Make a context and a PAIR socket that binds (parent) or connects (child). */
static int zpair_open(struct zpair *z, int bind)
{
	int linger = 0, rc;

	z->ctx = zmq_ctx_new();
	if (!z->ctx)
		return -zmq_errno();
	z->sock = zmq_socket(z->ctx, ZMQ_PAIR);
	if (!z->sock)
		goto out_close;
	zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger));
	rc = bind ? zmq_bind(z->sock, z->endpoint) : zmq_connect(z->sock, z->endpoint);
	if (rc < 0)
		goto out_close;
	return 0;

out_close:
	rc = -zmq_errno();
	zpair_close(z);
	return rc;
}

/*
 * In the child: forget the parent's context (never touch it), open our own,
 * connect, and wait at the start line.
 */
static int zpair_child_start(struct zpair *z)
{
	int err;

	z->ctx = NULL;
	z->sock = NULL;
	err = zpair_open(z, 0);
	if (!err)
		proc_child_ready(z->sync);
	return err;
}

/* The child: the echo server (ping-pong) or the producer (stream). */
static int zpair_child(void *arg, unsigned idx)
{
	struct zpair *z = arg;
	int err;

	(void)idx;
	err = zpair_child_start(z);
	if (err)
		return err;
	if (!z->stream) {
		err = pp_server(z, z->cfg, z->mem.buf, zpair_recv, zpair_send);
	} else {
		err = st_producer(z, z->cfg, z->mem.buf, zpair_send);
		/* Linger is 0: closing now would drop what the I/O thread has
		 * not sent yet. Acquire; pairs with the release store in
		 * zpair_st_parent(). */
		while (!err && !atomic_load_explicit(&z->sync->stop, memory_order_acquire))
			usleep(1000);
	}
	zpair_close(z);
	return err;
}

static int zpair_parent(void *arg)
{
	struct zpair *z = arg;

	proc_parent_go(z->sync, 1);
	return pp_client(z, z->cfg, z->out->lat, z->mem.buf, zpair_send, zpair_recv);
}

static int zpair_st_parent(void *arg)
{
	struct zpair *z = arg;

	int err;

	proc_parent_go(z->sync, 1);
	err = st_consumer(z, z->cfg, z->mem.buf, zpair_recv, &z->out->msgs_per_s);
	/* Release: every message is in; the producer may close. */
	atomic_store_explicit(&z->sync->stop, 1, memory_order_release);
	return err;
}

static int zpair_run(const struct bench_cfg *cfg, struct bench_out *out, int stream,
		     proc_parent_fn parent)
{
	struct zpair z = {.cfg = cfg, .out = out, .stream = stream};
	cpu_set_t saved;
	int err;

	snprintf(z.endpoint, sizeof(z.endpoint), "ipc://%s/zmq-pair", cfg->tmpdir);
	err = bench_mem_alloc(&z.mem, sizeof(*z.sync), 0, cfg->size_bytes, out->reason);
	if (err)
		goto out_free;
	z.sync = z.mem.hdr;
	if (sched_getaffinity(0, sizeof(saved), &saved) || proc_pin(cfg->cpu[0])) {
		err = bench_fail(out->reason, -errno, "pin to CPU %d: %s", cfg->cpu[0],
				 strerror(errno));
		goto out_free;
	}
	err = zpair_open(&z, 1);
	if (err) {
		err =
		    bench_fail(out->reason, err, "zmq bind %s: %s", z.endpoint, zmq_strerror(-err));
		goto out_unpin;
	}
	err = proc_run(cfg, 1, zpair_child, parent, &z, out->reason);
	zpair_close(&z);
out_unpin:
	sched_setaffinity(0, sizeof(saved), &saved);
out_free:
	bench_mem_free(&z.mem);
	return err;
}

int base_zmq_pingpong(const struct bench_cfg *cfg, struct bench_out *out)
{
	return zpair_run(cfg, out, 0, zpair_parent);
}

int base_zmq_stream(const struct bench_cfg *cfg, struct bench_out *out)
{
	return zpair_run(cfg, out, 1, zpair_st_parent);
}
