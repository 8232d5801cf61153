/*
 * bench.h - what every shmq-bench scenario shares: its configuration, its
 * output, the clock, the pause instruction, anonymous shared mappings, and
 * the process helpers of proc.c (fork, CPU pinning, start barrier).
 *
 * A scenario is one function of type bench_fn. The runner (shmq-bench.c) calls
 * it once per repetition, in the runner's process, with a reset histogram; the
 * function forks its peers, pins them to cfg->cpu[], measures in the parent
 * and returns 0, BENCH_SKIP with out->reason set when the transport cannot run
 * here, or a negative errno with out->reason set on failure. Scenarios run
 * one at a time; nothing here is thread safe.
 */
#ifndef SHMQ_BENCH_H
#define SHMQ_BENCH_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "hist.h"

#define BENCH_SKIP 1
#define BENCH_MAX_SUBS 64
#define BENCH_REASON_LEN 160

struct bench_cfg {
	int cpu[2];		 /* [0]: the measuring parent, [1]: its peer(s) */
	uint32_t size_bytes;	 /* message size */
	uint32_t nsubs;		 /* fan-out: number of subscribers */
	uint64_t iters;		 /* measured round trips or messages */
	uint64_t warmup;	 /* unmeasured ones before them */
	uint64_t rate_per_s;	 /* ping-pong: paced sends, 0 = back to back */
	const char *tmpdir;	 /* private directory for socket paths; durable: --disk-dir */
	const char *sock_dir;	 /* the private directory, whatever --disk-dir says */
	const char *socket_path; /* shmqd control socket (shmq scenarios) */
	uint64_t fanout_iters;	 /* fan-out: messages of the throughput phase */
};

struct bench_out {
	struct hist *lat;    /* one-way latency; fan-out: to the first subscriber */
	struct hist *lat2;   /* fan-out: to the last subscriber */
	double msgs_per_s;   /* stream: received; fan-out: published */
	double bytes_per_s;  /* stream of mixed sizes: payload bytes received (else 0) */
	double delivered;    /* fan-out: share the slowest subscriber received, 0..1 */
	uint64_t held_msgs;  /* memory: messages a channel held before it was full */
	uint64_t ring_bytes; /* memory: that channel's ring bytes */
	char reason[BENCH_REASON_LEN];
	char note[BENCH_REASON_LEN]; /* what an ok run says beside its figures (a server's
					version and settings), or "" */
};

/*
 * The mixed-size workload: message seq is BENCH_MIX_LARGE bytes when
 * seq % BENCH_MIX_EVERY is BENCH_MIX_EVERY - 1, else BENCH_MIX_SMALL (90 %
 * 64 B, 10 % 64 KiB); its channels take messages up to BENCH_MIX_LARGE.
 */
#define BENCH_MIX_SMALL 64u
#define BENCH_MIX_LARGE 65536u
#define BENCH_MIX_EVERY 10u

static inline uint32_t bench_mix_len(uint64_t seq)
{
	return seq % BENCH_MIX_EVERY == BENCH_MIX_EVERY - 1 ? BENCH_MIX_LARGE : BENCH_MIX_SMALL;
}

typedef int (*bench_fn)(const struct bench_cfg *cfg, struct bench_out *out);

/*
 * The clock is clock_gettime(CLOCK_MONOTONIC): here it is a vDSO call reading
 * the TSC (clocksource tsc), ~24 ns, the same as lfence+rdtsc, needs no
 * calibration, and is one clock for every process and CPU, so a timestamp
 * taken in one process can be subtracted from one taken in another (fan-out).
 * Ping-pong round trips include one clock read (~24 ns, ~12 ns one-way).
 */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The spin-wait hint: lets the sibling hyperthread run and saves power. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static inline uint64_t round_up64(uint64_t v)
{
	return (v + 63) & ~(uint64_t)63;
}

/* ---- proc.c ----------------------------------------------------------- */

/*
 * The start line shared by a parent and its children, in a shared mapping:
 * children count themselves ready, then wait for the parent's go.
 */
struct proc_sync {
	alignas(64) _Atomic uint32_t ready; /* children increment */
	alignas(64) _Atomic uint32_t go;    /* parent sets to 1 */
	alignas(64) _Atomic uint32_t stop;  /* parent sets to 1 to end open-ended loops */
};

/* What a forked child runs: idx is 0..nchildren-1. Returns 0 or a negative errno. */
typedef int (*proc_child_fn)(void *arg, unsigned idx);

/* The parent's half; runs after fork with the parent pinned to cfg->cpu[0]. */
typedef int (*proc_parent_fn)(void *arg);

/* An anonymous MAP_SHARED mapping inherited across fork, zero-filled; NULL on failure. */
void *shm_anon(size_t bytes);
void shm_anon_free(void *p, size_t bytes);

/*
 * A transport's memory: one zero-filled shared mapping, inherited across fork,
 * of a header (which starts with struct proc_sync) rounded up to 64 bytes and
 * then data_bytes of payload area; and a private message buffer of msg_bytes.
 */
struct bench_mem {
	void *hdr;	  /* the mapping's start: the transport's header */
	uint8_t *data;	  /* round_up64(hdr_bytes) past hdr */
	size_t map_bytes; /* round_up64(hdr_bytes) + data_bytes */
	void *buf;	  /* private, zeroed */
};

/* 0, or -ENOMEM with reason set; call bench_mem_free() in both cases. */
int bench_mem_alloc(struct bench_mem *m, size_t hdr_bytes, size_t data_bytes, uint32_t msg_bytes,
		    char *reason);
void bench_mem_free(struct bench_mem *m);

/*
 * Fork nchildren children pinned to cfg->cpu[1] (killed if the parent dies),
 * pin the caller to cfg->cpu[0], run parent(arg), wait for the children and
 * restore the caller's CPU mask. A child's failure or an abnormal exit fails
 * the run, with reason set.
 */
int proc_run(const struct bench_cfg *cfg, unsigned nchildren, proc_child_fn child,
	     proc_parent_fn parent, void *arg, char *reason);

/* Child: report ready and wait for the parent's go. */
void proc_child_ready(struct proc_sync *s);

/* Parent: wait until n children are ready, then let them go. */
void proc_parent_go(struct proc_sync *s, unsigned n);

/* Pin the calling process to one CPU. */
int proc_pin(int cpu);

/*
 * Run fn(arg) in a child process that leads a process group of its own, and
 * wait at most deadline_s seconds for it. 0 when fn returned (its value in
 * *ret); else a negative errno with reason set: it overran (the whole group
 * is killed), died by a signal (an assertion's abort) or exited early. Kills
 * whatever of the group is left either way. A hung or crashed scenario then
 * costs its own result, not the run.
 */
int proc_isolate(unsigned deadline_s, int (*fn)(void *arg), void *arg, int *ret, char *reason);

/* Set reason to a formatted message and return err (a negative errno). */
int bench_fail(char *reason, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Write all / read exactly len bytes, retrying short transfers and EINTR. */
int fd_write_all(int fd, const void *buf, size_t len);
int fd_read_all(int fd, void *buf, size_t len);

/* ---- server.c: a third-party server a baseline runs privately ------- */

struct server {
	pid_t pid;
	char log[300]; /* its standard output and error */
};

/* 1 when the server answers; called every 10 ms while it starts. */
typedef int (*server_ready_fn)(void *arg);

/*
 * Run argv[0], found on PATH, on any CPU (not the caller's pinning), with its
 * output appended to log, killed if the benchmark dies; then poll ready(arg)
 * for up to 20 s. 0 once ready; BENCH_SKIP with reason set when argv[0] is
 * not on PATH (install_hint names the package); a negative errno with reason
 * set (the log's last line) when it exits or does not become ready.
 */
int server_start(struct server *s, char *const argv[], const char *log, const char *install_hint,
		 server_ready_fn ready, void *arg, char *reason);

/* SIGTERM, then SIGKILL after 10 s; waits for it. No-op when not running. */
void server_stop(struct server *s);

/* Make dir/name.PID (mode 0700) into out; 0 or a negative errno with reason set. */
int bench_mkdir(char *out, size_t len, const char *dir, const char *name, char *reason);

/* Remove the tree at path (a scenario's own directory); errors are ignored. */
void bench_rmtree(const char *path);

/* 1 when a Unix stream socket at path accepts a connection. */
int unix_accepts(const char *path);

/* ---- the scenarios (one file each; the runner's table lists them) ----- */

/* Spin window of the spin-then-sleep baseline: shmq's default spin_ns. */
#define BENCH_SPIN_NS 20000

int base_spin_pingpong(const struct bench_cfg *cfg, struct bench_out *out);
int base_spinfutex_pingpong(const struct bench_cfg *cfg, struct bench_out *out);
int base_futex_pingpong(const struct bench_cfg *cfg, struct bench_out *out);
int base_eventfd_pingpong(const struct bench_cfg *cfg, struct bench_out *out);
int base_pipe_pingpong(const struct bench_cfg *cfg, struct bench_out *out);
int base_pipe_stream(const struct bench_cfg *cfg, struct bench_out *out);
int base_unix_pingpong(const struct bench_cfg *cfg, struct bench_out *out);
int base_unix_stream(const struct bench_cfg *cfg, struct bench_out *out);
int base_seqpacket_pingpong(const struct bench_cfg *cfg, struct bench_out *out);
int base_seqpacket_stream(const struct bench_cfg *cfg, struct bench_out *out);
int base_ring_stream(const struct bench_cfg *cfg, struct bench_out *out);
int base_spsc_stream(const struct bench_cfg *cfg, struct bench_out *out);
#ifdef HAVE_ZMQ
int base_zmq_pingpong(const struct bench_cfg *cfg, struct bench_out *out);
int base_zmq_stream(const struct bench_cfg *cfg, struct bench_out *out);
#endif
#ifdef HAVE_IOX
int base_iox_pingpong_spin(const struct bench_cfg *cfg, struct bench_out *out);
int base_iox_pingpong_waitset(const struct bench_cfg *cfg, struct bench_out *out);
int base_iox_stream(const struct bench_cfg *cfg, struct bench_out *out);
/* Stop the iox-roudi the iceoryx scenarios started, if any. */
void base_iox_cleanup(void);
#endif
#ifdef HAVE_URING
int base_disk_always(const struct bench_cfg *cfg, struct bench_out *out);
int base_disk_batch(const struct bench_cfg *cfg, struct bench_out *out);
#endif
int base_disk_read(const struct bench_cfg *cfg, struct bench_out *out);
#ifdef HAVE_HIREDIS
int base_redis_always(const struct bench_cfg *cfg, struct bench_out *out);
int base_redis_everysec(const struct bench_cfg *cfg, struct bench_out *out);
#endif
#ifdef HAVE_NATS
int base_js_ack(const struct bench_cfg *cfg, struct bench_out *out);
int base_js_async(const struct bench_cfg *cfg, struct bench_out *out);
#endif
int scen_shmq_pingpong_spin(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_pingpong_spin_pattern(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_pattern(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_keyed(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_filter90(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_pattern8(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_pingpong_spin_sleep(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_pingpong_sleep(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_pingpong_eventfd(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_reqrep(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_pingpong_spin_excl(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_group_1(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_group_2(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_group_poll_1(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_group_poll_2(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_batch(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_excl(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_excl_batch(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_claimv(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_excl_claimv(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_publishv(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_excl_publishv(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_excl_nots(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_stream_excl_batch_nots(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_mixed(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_mixed_excl(const struct bench_cfg *cfg, struct bench_out *out);
int scen_shmq_fanout(const struct bench_cfg *cfg, struct bench_out *out);
/* scen_counters.c: the statistics counters on, and compiled out */
int scen_counters_spin_on(const struct bench_cfg *cfg, struct bench_out *out);
int scen_counters_spin_off(const struct bench_cfg *cfg, struct bench_out *out);
int scen_counters_stream_on(const struct bench_cfg *cfg, struct bench_out *out);
int scen_counters_stream_off(const struct bench_cfg *cfg, struct bench_out *out);
/* scen_durable.c: durable channels, sync=batch streaming and sync=always confirms */
int scen_durable_batch(const struct bench_cfg *cfg, struct bench_out *out);
int scen_durable_always(const struct bench_cfg *cfg, struct bench_out *out);
/* scen_memory.c */
int scen_memory_64(const struct bench_cfg *cfg, struct bench_out *out);
int scen_memory_mixed(const struct bench_cfg *cfg, struct bench_out *out);
/* scen_selftest.c: a scenario that hangs, one that crashes */
int scen_selftest_hang(const struct bench_cfg *cfg, struct bench_out *out);
int scen_selftest_crash(const struct bench_cfg *cfg, struct bench_out *out);

#endif
