/*
 * drive.h - the measuring loops every transport shares: ping-pong client and
 * echo server, streaming producer and consumer. Each transport passes its own
 * static send and receive functions; the loops are always inlined, so those
 * become direct (usually inlined) calls and the raw baselines pay nothing for
 * sharing the code. Every message carries its sequence number in its first
 * 8 bytes and receivers check it: a broken transport fails, it is not timed.
 *
 * Ping-pong records one-way = round trip / 2. With cfg->rate_per_s the client
 * sends on a fixed schedule and times each round trip from when it was due,
 * not when it went out, so a stall also counts against the sends it delayed
 * (no coordinated omission).
 */
#ifndef SHMQ_BENCH_DRIVE_H
#define SHMQ_BENCH_DRIVE_H

#include <errno.h>
#include <string.h>

#include "bench.h"

#define DRIVE_INLINE static inline __attribute__((always_inline))

/* Send or receive one message of len bytes at buf; 0 or a negative errno. */
typedef int (*drive_io_fn)(void *t, void *buf, uint32_t len);

DRIVE_INLINE void drive_stamp(void *buf, uint64_t seq)
{
	memcpy(buf, &seq, sizeof(seq));
}

DRIVE_INLINE int drive_check(const void *buf, uint64_t seq)
{
	uint64_t got;

	memcpy(&got, buf, sizeof(got));
	return got == seq ? 0 : -EBADMSG;
}

/* Receive message seq into buf and check its sequence number. */
DRIVE_INLINE int drive_recv_check(void *t, void *buf, uint32_t len, drive_io_fn recv, uint64_t seq)
{
	int err = recv(t, buf, len);

	if (err)
		return err;
	return drive_check(buf, seq);
}

/* Wait until the next paced send is due; return the time it was due. */
DRIVE_INLINE uint64_t drive_pace(uint64_t *due, uint64_t period_ns, int first)
{
	uint64_t t;

	if (first)
		*due = now_ns();
	else
		*due += period_ns;
	while ((t = now_ns()) < *due)
		cpu_relax();
	return *due;
}

DRIVE_INLINE int pp_client(void *t, const struct bench_cfg *cfg, struct hist *h, void *buf,
			   drive_io_fn send, drive_io_fn recv)
{
	uint64_t n = cfg->warmup + cfg->iters, i, t0, t1, due = 0, period = 0;
	int err;

	if (cfg->rate_per_s)
		period = 1000000000u / cfg->rate_per_s;
	for (i = 0; i < n; i++) {
		drive_stamp(buf, i);
		if (period && i >= cfg->warmup)
			t0 = drive_pace(&due, period, i == cfg->warmup);
		else
			t0 = now_ns();
		err = send(t, buf, cfg->size_bytes);
		if (err)
			return err;
		err = recv(t, buf, cfg->size_bytes);
		if (err)
			return err;
		t1 = now_ns();
		if (drive_check(buf, i))
			return -EBADMSG;
		if (i >= cfg->warmup)
			hist_record(h, (t1 - t0) / 2);
	}
	return 0;
}

DRIVE_INLINE int pp_server(void *t, const struct bench_cfg *cfg, void *buf, drive_io_fn recv,
			   drive_io_fn send)
{
	uint64_t n = cfg->warmup + cfg->iters, i;
	int err;

	for (i = 0; i < n; i++) {
		err = drive_recv_check(t, buf, cfg->size_bytes, recv, i);
		if (err)
			return err;
		err = send(t, buf, cfg->size_bytes);
		if (err)
			return err;
	}
	return 0;
}

DRIVE_INLINE int st_producer(void *t, const struct bench_cfg *cfg, void *buf, drive_io_fn send)
{
	uint64_t n = cfg->warmup + cfg->iters, i;
	int err;

	for (i = 0; i < n; i++) {
		drive_stamp(buf, i);
		err = send(t, buf, cfg->size_bytes);
		if (err)
			return err;
	}
	return 0;
}

/* Received messages per second after the warm-up (cfg->warmup >= 1), into *rate. */
DRIVE_INLINE int st_consumer(void *t, const struct bench_cfg *cfg, void *buf, drive_io_fn recv,
			     double *rate)
{
	uint64_t n = cfg->warmup + cfg->iters, i, t0 = 0;
	int err;

	for (i = 0; i < n; i++) {
		err = drive_recv_check(t, buf, cfg->size_bytes, recv, i);
		if (err)
			return err;
		if (i + 1 == cfg->warmup)
			t0 = now_ns();
	}
	*rate = (double)cfg->iters * 1e9 / (double)(now_ns() - t0);
	return 0;
}

/*
 * The two halves of a run under proc_run(), each starting at the start line
 * in sync (the parent waits for one child): the ping-pong echo server and
 * timed client, the streaming producer and consumer.
 */
DRIVE_INLINE int pp_server_start(void *t, struct proc_sync *sync, const struct bench_cfg *cfg,
				 void *buf, drive_io_fn recv, drive_io_fn send)
{
	proc_child_ready(sync);
	return pp_server(t, cfg, buf, recv, send);
}

DRIVE_INLINE int pp_client_start(void *t, struct proc_sync *sync, const struct bench_cfg *cfg,
				 struct hist *h, void *buf, drive_io_fn send, drive_io_fn recv)
{
	proc_parent_go(sync, 1);
	return pp_client(t, cfg, h, buf, send, recv);
}

DRIVE_INLINE int st_producer_start(void *t, struct proc_sync *sync, const struct bench_cfg *cfg,
				   void *buf, drive_io_fn send)
{
	proc_child_ready(sync);
	return st_producer(t, cfg, buf, send);
}

DRIVE_INLINE int st_consumer_start(void *t, struct proc_sync *sync, const struct bench_cfg *cfg,
				   void *buf, drive_io_fn recv, double *rate)
{
	proc_parent_go(sync, 1);
	return st_consumer(t, cfg, buf, recv, rate);
}

#endif
