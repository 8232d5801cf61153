/*
 * shmq-bench.c - the runner: parse the command line, start a private shmqd,
 * run every selected scenario (shmq and its baselines, one at a time, in this
 * process tree) for each message size, repeat each, take the median of every
 * figure across the repetitions, and write the terminal table (or the
 * user's --summary), with --targets the issue-4 targets and the v3
 * acceptance figures (verdict.c), and JSON, CSV and plots.
 * Besides latency and throughput a scenario may measure memory: the messages
 * a channel holds per MiB (KIND_MEMORY). The durable group holds the disk
 * floors, the read-back floor and other brokers' durable publish (Redis,
 * JetStream: private servers that their scenarios start per repetition).
 * A transport that is not built or cannot run here is "skipped" with its
 * reason, never a zero; a scenario that breaks is "FAILED" and the exit
 * status is 1. Each repetition runs in a process of its own under a
 * deadline (--deadline): one that hangs or crashes is "FAILED" with its
 * reason, its processes are killed, and the run goes on. Single-threaded;
 * scenarios fork their own peers.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "results.h"
#include "shmq.h"
#include "verdict.h"

#define NO_ZMQ "ZeroMQ not found at build time (install libzmq3-dev and rebuild)"
#define NO_IOX "iceoryx not found at build time (install libiceoryx-binding-c-dev and rebuild)"
#define NO_URING "liburing not found at build time (install liburing-dev and rebuild)"
#define NO_HIREDIS "hiredis not found at build time (install libhiredis-dev and rebuild)"
#define NO_NATS "libnats not found at build time (install libnats-dev and rebuild)"

#ifdef HAVE_ZMQ
#define ZMQ_FN(f) f
#else
#define ZMQ_FN(f) NULL
#endif
#ifdef HAVE_IOX
#define IOX_FN(f) f
#else
#define IOX_FN(f) NULL
#endif
#ifdef HAVE_URING
#define URING_FN(f) f
#else
#define URING_FN(f) NULL
#endif
#ifdef HAVE_HIREDIS
#define HIREDIS_FN(f) f
#else
#define HIREDIS_FN(f) NULL
#endif
#ifdef HAVE_NATS
#define NATS_FN(f) f
#else
#define NATS_FN(f) NULL
#endif

#define PP KIND_PINGPONG
#define ST KIND_STREAM
#define SL SC_SLEEPS
#define SU SC_SUMMARY
#define LA KIND_LATENCY
#define SV (SC_DISK | SC_SERVER | SC_SMALL)

static const struct scenario scenarios[] = {
    {"pingpong", "raw-spin", PP, 0, base_spin_pingpong, NULL,
     "two padded sequence words, busy-poll: the hardware floor", SU},
    {"pingpong", "raw-spin-futex", PP, 0, base_spinfutex_pingpong, NULL,
     "spin 20 us, then futex; wake only a flagged sleeper", 0},
    {"pingpong", "raw-futex", PP, 0, base_futex_pingpong, NULL,
     "futex wait/wake on a shared word: the wake-up floor", SL | SU},
    {"pingpong", "eventfd", PP, 0, base_eventfd_pingpong, NULL, "shm payload, eventfd doorbell",
     SL},
    {"pingpong", "pipe", PP, 0, base_pipe_pingpong, NULL, "two pipes", SL},
    {"pingpong", "unix-stream", PP, 0, base_unix_pingpong, NULL, "socketpair SOCK_STREAM", SL | SU},
    {"pingpong", "unix-seqpacket", PP, 0, base_seqpacket_pingpong, NULL,
     "socketpair SOCK_SEQPACKET", SL},
    {"pingpong", "zmq-ipc", PP, 0, ZMQ_FN(base_zmq_pingpong), NO_ZMQ, "ZeroMQ PAIR over ipc://",
     SL},
    {"pingpong", "iox-spin", PP, 0, IOX_FN(base_iox_pingpong_spin), NO_IOX,
     "iceoryx C binding, busy-poll take", SU},
    {"pingpong", "iox-waitset", PP, 0, IOX_FN(base_iox_pingpong_waitset), NO_IOX,
     "iceoryx C binding, blocking WaitSet", SL},
    {"pingpong", "shmq-spin-excl", PP, 1, scen_shmq_pingpong_spin_excl, NULL,
     "SHMQ_WAIT_SPIN readers, exclusive publishers (SHMQ_PUBLISHERS_ONE)", SU},
    {"pingpong", "shmq-spin", PP, 1, scen_shmq_pingpong_spin, NULL,
     "SHMQ_WAIT_SPIN readers, shared publishers (the default)", SU},
    {"pingpong", "shmq-spin-pattern", PP, 1, scen_shmq_pingpong_spin_pattern, NULL,
     "as shmq-spin, each reader a pattern subscription of its one channel", SU},
    {"pingpong", "shmq-spin-sleep", PP, 1, scen_shmq_pingpong_spin_sleep, NULL,
     "SHMQ_WAIT_SPIN_SLEEP readers (the default)", SU},
    {"pingpong", "shmq-sleep", PP, 1, scen_shmq_pingpong_sleep, NULL,
     "SHMQ_WAIT_SLEEP readers (futex)", SL | SU},
    {"pingpong", "shmq-eventfd", PP, 1, scen_shmq_pingpong_eventfd, NULL,
     "SHMQ_WAIT_EVENTFD readers in epoll_wait", SL},
    {"pingpong", "shmq-reqrep", PP, 1, scen_shmq_reqrep, NULL,
     "shmq_request_send + shmq_reply_recv against a spinning shmq_reply responder", 0},
    {"stream", "raw-ring", ST, 0, base_ring_stream, NULL, "naive SPSC ring, 4 MiB, memcpy", SU},
    {"stream", "spsc-ring", ST, 0, base_spsc_stream, NULL,
     "best hand-made SPSC ring, 4 MiB: indices 128 B apart, cached, head in batches", SU},
    {"stream", "pipe", ST, 0, base_pipe_stream, NULL, "one write per message", 0},
    {"stream", "unix-stream", ST, 0, base_unix_stream, NULL, "one write per message", 0},
    {"stream", "unix-seqpacket", ST, 0, base_seqpacket_stream, NULL, "one send per message", 0},
    {"stream", "zmq-ipc", ST, 0, ZMQ_FN(base_zmq_stream), NO_ZMQ, "PAIR, default HWM", 0},
    {"stream", "iox", ST, 0, IOX_FN(base_iox_stream), NO_IOX, "loan, copy, publish; take", 0},
    {"stream", "shmq", ST, 1, scen_shmq_stream, NULL,
     "block policy, shared publishers, shmq_recv + copy", SU},
    {"stream", "shmq-pattern", ST, 1, scen_shmq_stream_pattern, NULL,
     "as shmq, the reader a pattern subscription of its one channel", SU},
    {"stream", "shmq-keyed", ST, 1, scen_shmq_stream_keyed, NULL,
     "exclusive publisher, a key on each message, shmq_recv + copy of every one", SU},
    {"stream", "shmq-filter90", ST, 1, scen_shmq_stream_filter90, NULL,
     "as shmq-keyed, a key filter passing 1 in 10: cursor messages/s", SU},
    {"stream", "shmq-pattern8", ST, 1, scen_shmq_stream_pattern8, NULL,
     "8 channels, an exclusive publisher each, one pattern subscriber: aggregate", SU},
    {"stream", "shmq-batch", ST, 1, scen_shmq_stream_batch, NULL,
     "block policy, shared publishers, shmq_poll batches of 256 + copy", SU},
    {"stream", "shmq-excl", ST, 1, scen_shmq_stream_excl, NULL,
     "block policy, exclusive publisher, shmq_recv + copy", SU},
    {"stream", "shmq-excl-batch", ST, 1, scen_shmq_stream_excl_batch, NULL,
     "block policy, exclusive publisher, shmq_poll batches of 256 + copy", SU},
    {"stream", "shmq-claimv", ST, 1, scen_shmq_stream_claimv, NULL,
     "shared, claimv + copy + commitv of 32; shmq_poll", SU, 64},
    {"stream", "shmq-excl-claimv", ST, 1, scen_shmq_stream_excl_claimv, NULL,
     "exclusive, claimv + copy + commitv of 32; shmq_poll", SU, 64},
    {"stream", "shmq-publishv", ST, 1, scen_shmq_stream_publishv, NULL,
     "shared, shmq_publishv of 32; shmq_poll", 0, 64},
    {"stream", "shmq-excl-publishv", ST, 1, scen_shmq_stream_excl_publishv, NULL,
     "exclusive, shmq_publishv of 32; shmq_poll", 0, 64},
    {"stream", "shmq-excl-nots", ST, 1, scen_shmq_stream_excl_nots, NULL,
     "exclusive, SHMQ_CHAN_NO_TIMESTAMP, shmq_recv + copy", 0, 64},
    {"stream", "shmq-excl-batch-nots", ST, 1, scen_shmq_stream_excl_batch_nots, NULL,
     "exclusive, SHMQ_CHAN_NO_TIMESTAMP, shmq_poll batches of 256", 0, 64},
    {"counters", "spin-on", PP, 1, scen_counters_spin_on, NULL,
     "ping-pong spin, shared publishers, libshmq-counters (dlopen)", SU, 64},
    {"counters", "spin-off", PP, 1, scen_counters_spin_off, NULL,
     "the same, libshmq-nocounters (counters compiled out)", SU, 64},
    {"counters", "stream-on", ST, 1, scen_counters_stream_on, NULL,
     "stream, shared publishers, shmq_recv + copy, libshmq-counters (dlopen)", SU, 64},
    {"counters", "stream-off", ST, 1, scen_counters_stream_off, NULL,
     "the same, libshmq-nocounters (counters compiled out)", SU, 64},
    {"memory", "shmq", KIND_MEMORY, 1, scen_memory_64, NULL,
     "64 B messages a default channel (4 MiB, 4 KiB max) holds", SU, 64},
    {"memory", "shmq-mixed", KIND_MEMORY, 1, scen_memory_mixed, NULL,
     "90 % 64 B, 10 % 64 KiB messages a 4 MiB channel (64 KiB max) holds", SC_MIXED,
     BENCH_MIX_LARGE},
    {"mixed", "shmq", ST, 1, scen_shmq_mixed, NULL,
     "90 % 64 B, 10 % 64 KiB; shared publishers, shmq_recv + copy", SC_MIXED, BENCH_MIX_LARGE},
    {"mixed", "shmq-excl", ST, 1, scen_shmq_mixed_excl, NULL,
     "90 % 64 B, 10 % 64 KiB; exclusive publisher, shmq_recv + copy", SC_MIXED, BENCH_MIX_LARGE},
    {"fanout", "shmq", KIND_FANOUT, 1, scen_shmq_fanout, NULL, "block policy, sleeping subscribers",
     SL},
    {"group", "shmq-group-1", ST, 1, scen_shmq_group_1, NULL,
     "block policy, one member: shmq_group_recv + copy + shmq_ack", SU},
    {"group", "shmq-group-2", ST, 1, scen_shmq_group_2, NULL,
     "the same, two members (threads of one process)", SU},
    {"group", "shmq-gpoll-1", ST, 1, scen_shmq_group_poll_1, NULL,
     "one member: shmq_group_poll batches of 256 + copy, one shmq_ackv each", SU},
    {"group", "shmq-gpoll-2", ST, 1, scen_shmq_group_poll_2, NULL,
     "the same, two members (threads of one process)", SU},
    {"durable", "disk-always", KIND_LATENCY, 0, URING_FN(base_disk_always), NO_URING,
     "io_uring 4 KiB append linked with fdatasync, one at a time", SC_DISK},
    {"durable", "disk-batch", KIND_STREAM, 0, URING_FN(base_disk_batch), NO_URING,
     "io_uring 4 KiB appends, 32 in flight, fdatasync per MiB", SC_DISK},
    {"durable", "disk-read", KIND_STREAM, 0, base_disk_read, NULL,
     "pread 1 MiB pieces of a file dropped from the page cache, CRC-32C of every byte",
     SC_DISK | SC_GIB},
    {"durable", "redis-always", LA, 0, HIREDIS_FN(base_redis_always), NO_HIREDIS,
     "XADD, AOF appendfsync always, one client, reply awaited", SV},
    {"durable", "redis-everysec", ST, 0, HIREDIS_FN(base_redis_everysec), NO_HIREDIS,
     "XADD, AOF appendfsync everysec, one client, pipelined 128 deep", SV},
    {"durable", "js-ack", LA, 0, NATS_FN(base_js_ack), NO_NATS,
     "JetStream file stream, publish waiting for its PubAck", SV},
    {"durable", "js-async", ST, 0, NATS_FN(base_js_async), NO_NATS,
     "JetStream file stream, async publish 128 in flight, every PubAck awaited", SV},
    {"durable", "shmq-always", KIND_LATENCY, 1, scen_durable_always, NULL,
     "sync=always: publish one, shmq_wait_durable on it, repeat", SC_DISK},
    {"durable", "shmq-batch", KIND_STREAM, 1, scen_durable_batch, NULL,
     "sync=batch, block policy: publish back to back, shmq_wait_durable on the last",
     SC_DISK | SC_SMALL},
    {"selftest", "hang", PP, 0, scen_selftest_hang, NULL,
     "never finishes: the runner's deadline must end it", SC_SELFTEST},
    {"selftest", "crash", PP, 0, scen_selftest_crash, NULL, "aborts as a failed assertion would",
     SC_SELFTEST},
};

#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))
#define PP_WARMUP_MIN 50000
#define MAX_LIST 32

struct opts {
	int quick;
	int summary;
	int targets;  /* --targets: the acceptance tables with their verdicts */
	int progress; /* 1: a line on stderr per result; 2: one updated line (tty) */
	unsigned reps;
	uint64_t iters;	 /* 0: by scenario */
	uint64_t warmup; /* UINT64_MAX: a tenth of iters */
	uint64_t rate_per_s;
	unsigned deadline_s; /* of each repetition */
	int cpu[2];
	uint32_t sizes[MAX_LIST];
	unsigned nsizes;
	uint32_t stream_sizes[MAX_LIST];
	unsigned nstream_sizes;
	uint32_t subs[MAX_LIST];
	unsigned nsubs;
	const char *json;
	const char *csv;
	const char *plot;
	const char *only;
	const char *disk_dir;
};

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: shmq-bench [options]\n"
	       "  --summary          64 B ping-pong against the floors and a Unix socket (~10 s)\n"
	       "  --targets          also print the acceptance tables: the project's design\n"
	       "                     targets, what each is for, and PASS or MISS on this run\n"
	       "  --quick            every scenario, briefly (a smoke test, not a measurement)\n"
	       "  --reps N           repetitions of each figure, the median is reported (3)\n"
	       "  --iters N          measured messages per repetition (by scenario)\n"
	       "  --warmup N         unmeasured messages first (a tenth of --iters; spinning\n"
	       "                     ping-pong at least 50000, past a channel's first lap)\n"
	       "  --rate N           ping-pong: send N per second on a schedule, timing each from\n"
	       "                     when it was due (no coordinated omission); fan-out: pace\n"
	       "  --cpus A,B         the two CPUs (0,1); peers run on B\n"
	       "  --deadline S       seconds each repetition may take (300); one that\n"
	       "                     overruns or crashes is FAILED and the run goes on\n"
	       "  --size LIST        ping-pong message sizes, e.g. 64,1K (64)\n"
	       "  --stream-size LIST streaming sizes (8,64,256,1K,4K,16K,64K)\n"
	       "  --subs LIST        fan-out subscriber counts (1,2,4,8)\n"
	       "  --only LIST        only scenarios whose group/transport starts with one of LIST\n"
	       "                     (e.g. pingpong,stream/shmq)\n"
	       "  --disk-dir DIR     directory of the durability scenarios' files: disk floors,\n"
	       "                     disk-read, Redis AOF, JetStream store, shmqd's data_dir\n"
	       "                     ($TMPDIR or /tmp)\n"
	       "  --json FILE        write every result as JSON\n"
	       "  --csv FILE         write every result as CSV\n"
	       "  --plot DIR         draw PNG plots with gnuplot into DIR\n"
	       "  --no-progress      no progress line on stderr\n"
	       "  --list             list the scenarios and exit\n"
	       "  --version          print the version and exit\n"
	       "environment: SHMQD  the shmqd to start (default: next to this program,\n"
	       "             ../daemon/shmqd in a build tree, or shmqd on PATH)\n");
}

/* "64,1K,4k" -> sizes; 0 on success. */
static int parse_list(const char *s, uint32_t *out, unsigned *n, int sizes)
{
	char *end;
	unsigned long v;

	*n = 0;
	while (*s) {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || end == s || *n == MAX_LIST)
			return -1;
		if (sizes && (*end == 'K' || *end == 'k'))
			v *= 1024, end++;
		else if (sizes && (*end == 'M' || *end == 'm'))
			v *= 1024 * 1024, end++;
		if (v == 0 || v > (sizes ? (16ul << 20) : BENCH_MAX_SUBS) || (*end && *end != ','))
			return -1;
		if (sizes && v < 8)
			return -1; /* every message carries its 8-byte sequence number */
		out[(*n)++] = (uint32_t)v;
		s = *end ? end + 1 : end;
	}
	return *n ? 0 : -1;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end || s[0] == '-' ? -1 : 0;
}

static int parse_cpus(const char *s, int cpu[2])
{
	return sscanf(s, "%d,%d", &cpu[0], &cpu[1]) == 2 && cpu[0] >= 0 && cpu[1] >= 0 ? 0 : -1;
}

static void list_scenarios(void)
{
	size_t i;

	for (i = 0; i < NSCEN; i++)
		printf("%-9s %-16s %-8s %s%s%s\n", scenarios[i].group, scenarios[i].name,
		       scenarios[i].is_shmq ? "shmq" : "baseline", scenarios[i].desc,
		       scenarios[i].fn ? "" : "  [skipped: ",
		       scenarios[i].fn ? "" : scenarios[i].missing);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {{"summary", no_argument, NULL, 'S'},
					   {"targets", no_argument, NULL, 'T'},
					   {"quick", no_argument, NULL, 'q'},
					   {"reps", required_argument, NULL, 'r'},
					   {"iters", required_argument, NULL, 'n'},
					   {"warmup", required_argument, NULL, 'w'},
					   {"rate", required_argument, NULL, 'R'},
					   {"cpus", required_argument, NULL, 'c'},
					   {"deadline", required_argument, NULL, 'D'},
					   {"size", required_argument, NULL, 's'},
					   {"stream-size", required_argument, NULL, 't'},
					   {"subs", required_argument, NULL, 'u'},
					   {"only", required_argument, NULL, 'o'},
					   {"disk-dir", required_argument, NULL, 'd'},
					   {"json", required_argument, NULL, 'j'},
					   {"csv", required_argument, NULL, 'C'},
					   {"plot", required_argument, NULL, 'p'},
					   {"no-progress", no_argument, NULL, 'P'},
					   {"list", no_argument, NULL, 'l'},
					   {"help", no_argument, NULL, 'h'},
					   {"version", no_argument, NULL, 'V'},
					   {NULL, 0, NULL, 0}};
	uint64_t v;
	int c, bad = 0;

	*o = (struct opts){
	    .reps = 3, .warmup = UINT64_MAX, .deadline_s = 300, .cpu = {0, 1}, .progress = 1};
	o->progress = isatty(STDERR_FILENO) ? 2 : 1;
	parse_list("64", o->sizes, &o->nsizes, 1);
	parse_list("8,64,256,1K,4K,16K,64K", o->stream_sizes, &o->nstream_sizes, 1);
	parse_list("1,2,4,8", o->subs, &o->nsubs, 0);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'S':
			o->summary = 1;
			break;
		case 'T':
			o->targets = 1;
			break;
		case 'q':
			o->quick = 1;
			break;
		case 'r':
			bad |= parse_u64(optarg, &v) || v < 1 || v > BENCH_MAX_REPS;
			o->reps = (unsigned)v;
			break;
		case 'n':
			bad |= parse_u64(optarg, &o->iters) || o->iters < 1;
			break;
		case 'w':
			bad |= parse_u64(optarg, &o->warmup);
			break;
		case 'R':
			bad |= parse_u64(optarg, &o->rate_per_s) || o->rate_per_s > 1000000000u;
			break;
		case 'c':
			bad |= parse_cpus(optarg, o->cpu);
			break;
		case 'D':
			bad |= parse_u64(optarg, &v) || v < 1 || v > 86400;
			o->deadline_s = (unsigned)v;
			break;
		case 's':
			bad |= parse_list(optarg, o->sizes, &o->nsizes, 1);
			break;
		case 't':
			bad |= parse_list(optarg, o->stream_sizes, &o->nstream_sizes, 1);
			break;
		case 'u':
			bad |= parse_list(optarg, o->subs, &o->nsubs, 0);
			break;
		case 'o':
			o->only = optarg;
			break;
		case 'd':
			o->disk_dir = optarg;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'C':
			o->csv = optarg;
			break;
		case 'p':
			o->plot = optarg;
			break;
		case 'P':
			o->progress = 0;
			break;
		case 'l':
			list_scenarios();
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("shmq-bench %s\n", SHMQ_BENCH_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
		if (bad) {
			fprintf(stderr, "shmq-bench: bad value: %s\n", optarg);
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	return 0;
}

/* ---- the private shmqd ------------------------------------------------------ */

struct daemon {
	pid_t pid;
	char dir[256];
	char socket[300]; /* must fit sockaddr_un: a short $TMPDIR */
	char log[300];
	char conf[300];
	char data[PATH_MAX];	    /* its data_dir (durable channels), under --disk-dir or dir */
	char why[BENCH_REASON_LEN]; /* when it could not start */
};

/* out = dir/rest if that fits and is executable; 0 then. */
static int try_exec(char *out, size_t len, const char *dir, int dir_len, const char *rest)
{
	int n = snprintf(out, len, "%.*s/%s", dir_len, dir, rest);

	return n > 0 && (size_t)n < len && dir_len > 0 ? access(out, X_OK) : -1;
}

/* The shmqd to run: $SHMQD, next to us, ../daemon/shmqd (build tree), or on PATH. */
static int daemon_find(char *out, size_t len)
{
	const char *env = getenv("SHMQD"), *path = getenv("PATH"), *p, *e;
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env && env[0]) {
		snprintf(out, len, "%s", env);
		return access(out, X_OK);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		if (!try_exec(out, len, self, (int)strlen(self), "../daemon/shmqd") ||
		    !try_exec(out, len, self, (int)strlen(self), "shmqd") ||
		    !try_exec(out, len, self, (int)strlen(self), "../sbin/shmqd"))
			return 0;
	}
	for (p = path ? path : ""; *p; p = *e ? e + 1 : e) {
		e = strchr(p, ':');
		if (!e)
			e = p + strlen(p);
		if (!try_exec(out, len, p, (int)(e - p), "shmqd"))
			return 0;
	}
	return -1;
}

static void daemon_exec(const char *bin, const struct daemon *d)
{
	int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	prctl(PR_SET_PDEATHSIG, SIGTERM); /* the runner's death must not leave it behind */
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	execl(bin, "shmqd", "--socket", d->socket, "--config", d->conf, (char *)NULL);
	_exit(127);
}

/*
 * The daemon's settings: a benchmark process that the machine does not run
 * for a while (it is busy with something else) holds its claim; the daemon
 * must not give it up as a stalled publisher's (stuck_ms, 500 by default).
 * Its journal writes to d->data, on the disk the durable floors measure.
 */
static int daemon_config(const struct daemon *d)
{
	FILE *f = fopen(d->conf, "w");

	if (!f)
		return -1;
	fputs("[daemon]\nstuck_ms = 60000\n", f);
	if (d->data[0])
		fprintf(f, "data_dir = %s\n", d->data);
	return fclose(f);
}

/* Start shmqd in d->dir and wait (up to 30 s) until it accepts a client. */
static int daemon_start(struct daemon *d)
{
	char bin[PATH_MAX];
	struct shmq_client *c;
	int i, status, err = -1;

	snprintf(d->socket, sizeof(d->socket), "%s/shmqd.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/shmqd.log", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/shmqd.conf", d->dir);
	if (daemon_config(d)) {
		snprintf(d->why, sizeof(d->why), "cannot write %.100s: %s", d->conf,
			 strerror(errno));
		return -1;
	}
	if (daemon_find(bin, sizeof(bin))) {
		snprintf(d->why, sizeof(d->why), "shmqd not found (set SHMQD to its path)");
		return -1;
	}
	fflush(NULL);
	d->pid = fork();
	if (d->pid < 0) {
		snprintf(d->why, sizeof(d->why), "fork: %s", strerror(errno));
		return -1;
	}
	if (d->pid == 0)
		daemon_exec(bin, d);
	for (i = 0; i < 3000 && err; i++) {
		err = shmq_connect(d->socket, &c);
		if (!err) {
			shmq_disconnect(c);
			break;
		}
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			snprintf(d->why, sizeof(d->why), "shmqd exited at start: %.100s", bin);
			return -1;
		}
		usleep(10000);
	}
	if (err)
		snprintf(d->why, sizeof(d->why), "shmqd did not answer: %s", shmq_strerror(err));
	return err ? -1 : 0;
}

static void daemon_stop(struct daemon *d)
{
	int status;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR)
		;
	d->pid = 0;
}

/* ---- running ---------------------------------------------------------------- */

static int only_match(const char *only, const struct scenario *sc)
{
	char full[96];
	const char *p, *e;

	if (!only)
		return 1;
	snprintf(full, sizeof(full), "%s/%s", sc->group, sc->name);
	for (p = only; *p; p = *e ? e + 1 : e) {
		e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		if (e > p && !strncmp(full, p, (size_t)(e - p)))
			return 1;
	}
	return 0;
}

/* Measured messages per repetition of one result. */
static uint64_t iters_for(const struct opts *o, const struct scenario *sc, uint32_t size)
{
	uint64_t n;

	if (o->iters)
		return o->iters;
	if (sc->kind == KIND_MEMORY)
		return 1; /* one fill of the channel */
	/* another broker's stream: 64 MiB, at least 16 Ki, at most 200 k messages */
	if ((sc->flags & SC_SERVER) && sc->kind == KIND_STREAM) {
		n = (64ull << 20) / size;
		n = n > 200000 ? 200000 : n < 16384 ? 16384 : n;
		return o->quick ? n / 100 : n;
	}
	if (sc->flags & SC_DISK)
		return o->quick ? 64 : (sc->kind == KIND_LATENCY ? 1000 : 16384);
	if (sc->kind == KIND_STREAM) { /* --summary too: fewer would not pass the first lap */
		n = sc->flags & SC_MIXED ? 200000 : (1ull << 30) / size;
		n = n > 2000000 ? 2000000 : n < 20000 ? 20000 : n;
		return o->quick ? n / 100 : n;
	}
	if (o->summary) {
		n = sc->flags & SC_SLEEPS ? 5000 : 50000;
		return o->quick ? n / 10 : n;
	}
	if (sc->kind == KIND_FANOUT) /* the paced latency phase */
		return o->quick ? 200 : 10000;
	if (sc->flags & SC_SLEEPS)
		return o->quick ? 400 : 50000;
	return o->quick ? 4000 : 200000;
}

static void add_result(struct results *rs, const struct scenario *sc, uint32_t size, uint32_t nsubs)
{
	struct result *r = &rs->v[rs->n++];

	memset(r, 0, sizeof(*r));
	r->sc = sc;
	r->size_bytes = size;
	r->nsubs = nsubs;
}

/* A durable scenario: at 4 KiB, and with SC_SMALL at 64 B first. */
static void durable_sizes(struct results *rs, const struct scenario *sc)
{
	if (sc->flags & SC_SMALL)
		add_result(rs, sc, 64, 0);
	add_result(rs, sc, 4096, 0);
}

/* Every result to measure, in table order. */
static int plan(const struct opts *o, struct results *rs)
{
	size_t i, cap = NSCEN * (MAX_LIST + 1);
	unsigned k;

	rs->v = calloc(cap, sizeof(*rs->v));
	if (!rs->v)
		return -ENOMEM;
	for (i = 0; i < NSCEN; i++) {
		const struct scenario *sc = &scenarios[i];

		if (!only_match(o->only, sc) || (o->summary && !(sc->flags & SC_SUMMARY)))
			continue;
		if ((sc->flags & SC_SELFTEST) && (!o->only || !strstr(o->only, "selftest")))
			continue;
		if (o->summary)
			add_result(rs, sc, sc->fixed_size ? sc->fixed_size : 64, 0);
		else if (!strcmp(sc->group, "pingpong"))
			for (k = 0; k < o->nsizes; k++)
				add_result(rs, sc, o->sizes[k], 0);
		else if (!strcmp(sc->group, "stream"))
			for (k = 0; k < o->nstream_sizes; k++) {
				if (!sc->fixed_size || sc->fixed_size == o->stream_sizes[k])
					add_result(rs, sc, o->stream_sizes[k], 0);
			}
		else if (sc->kind == KIND_FANOUT)
			for (k = 0; k < o->nsubs; k++)
				add_result(rs, sc, 64, o->subs[k]);
		else if (!strcmp(sc->group, "durable"))
			durable_sizes(rs, sc);
		else
			add_result(rs, sc, sc->fixed_size ? sc->fixed_size : 64, 0);
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of n values taken at byte offset off of each summary. */
static uint64_t median_u64(const struct hist_summary *s, unsigned n, size_t off)
{
	uint64_t v[BENCH_MAX_REPS];
	unsigned i;

	for (i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&s[i] + off, sizeof(v[i]));
	qsort(v, n, sizeof(v[0]), cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double median_dbl(const double *in, unsigned n)
{
	double v[BENCH_MAX_REPS];

	memcpy(v, in, n * sizeof(v[0]));
	qsort(v, n, sizeof(v[0]), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void median_summary(struct hist_summary *m, const struct hist_summary *s, unsigned n)
{
	double means[BENCH_MAX_REPS];
	unsigned i;

	m->count = median_u64(s, n, offsetof(struct hist_summary, count));
	m->min_ns = median_u64(s, n, offsetof(struct hist_summary, min_ns));
	m->p50_ns = median_u64(s, n, offsetof(struct hist_summary, p50_ns));
	m->p90_ns = median_u64(s, n, offsetof(struct hist_summary, p90_ns));
	m->p99_ns = median_u64(s, n, offsetof(struct hist_summary, p99_ns));
	m->p999_ns = median_u64(s, n, offsetof(struct hist_summary, p999_ns));
	m->p9999_ns = median_u64(s, n, offsetof(struct hist_summary, p9999_ns));
	m->max_ns = median_u64(s, n, offsetof(struct hist_summary, max_ns));
	for (i = 0; i < n; i++)
		means[i] = s[i].mean_ns;
	m->mean_ns = median_dbl(means, n);
}

static void progress(const struct opts *o, size_t idx, size_t total, const struct result *r,
		     unsigned rep, const char *state)
{
	char sz[32], subs[32] = "";

	if (!o->progress)
		return;
	if (r->sc->kind == KIND_FANOUT)
		snprintf(subs, sizeof(subs), " x%u", r->nsubs);
	size_label(r->size_bytes, sz, sizeof(sz));
	if (o->progress == 2)
		fprintf(stderr, "\r\033[K[%zu/%zu] %s/%s %s%s rep %u/%u %s%s", idx + 1, total,
			r->sc->group, r->sc->name, sz, subs, rep, o->reps, state,
			r->status == RES_FAILED ? "\n" : ""); /* a failure stays on screen */
	else if (state[0])
		fprintf(stderr, "[%zu/%zu] %s/%s %s%s: %s\n", idx + 1, total, r->sc->group,
			r->sc->name, sz, subs, state);
}

/* One repetition of r into the hists; returns the scenario's result. */
static int run_rep(const struct opts *o, const struct daemon *d, struct result *r, struct hist *lat,
		   struct hist *lat2, struct bench_out *out)
{
	struct bench_cfg cfg = {
	    .cpu = {o->cpu[0], o->cpu[1]},
	    .size_bytes = r->size_bytes,
	    .nsubs = r->nsubs,
	    .iters = r->iters,
	    .warmup = r->warmup,
	    .rate_per_s = o->rate_per_s,
	    .tmpdir = d->dir,
	    .sock_dir = d->dir,
	    .socket_path = d->pid > 0 ? d->socket : NULL,
	    .fanout_iters = o->quick ? 20000 : 1000000,
	};

	hist_reset(lat);
	hist_reset(lat2);
	*out = (struct bench_out){.lat = lat, .lat2 = lat2};
	if (r->sc->is_shmq && d->pid <= 0)
		return bench_fail(out->reason, BENCH_SKIP, "%s", d->why);
	if (o->disk_dir && !strcmp(r->sc->group, "durable"))
		cfg.tmpdir = o->disk_dir;
	return r->sc->fn(&cfg, out);
}

/* Before the first repetition: the counts, or "skipped" when not built. */
static void result_begin(const struct opts *o, struct result *r)
{
	r->iters = iters_for(o, r->sc, r->size_bytes);
	r->warmup = o->warmup != UINT64_MAX ? o->warmup : r->iters / 10;
	/* Spinning ping-pong: warm up past the first lap of a default channel
	 * (43690 records of a 64 B message in 4 MiB), whose pages fault in on
	 * first touch (~5 us each). */
	if (o->warmup == UINT64_MAX && !o->quick && r->sc->kind == KIND_PINGPONG &&
	    !(r->sc->flags & SC_SLEEPS) && r->warmup < PP_WARMUP_MIN)
		r->warmup = PP_WARMUP_MIN;
	if ((r->sc->kind == KIND_STREAM || r->sc->kind == KIND_FANOUT) && !r->warmup)
		r->warmup = 1; /* the consumers time from the end of the warm-up */
	if (!r->sc->fn) {
		r->status = RES_SKIPPED;
		snprintf(r->reason, sizeof(r->reason), "%s", r->sc->missing);
	}
}

/* What one repetition hands back from its own process: a shared mapping. */
struct rep_area {
	struct hist lat;
	struct hist lat2;
	struct bench_out out;
};

struct rep_job {
	const struct opts *o;
	const struct daemon *d;
	struct result *r;
	struct rep_area *a;
};

/* In the repetition's process (proc_isolate()): run it, stop what it started. */
static int rep_run_isolated(void *arg)
{
	struct rep_job *j = arg;
	int err = run_rep(j->o, j->d, j->r, &j->a->lat, &j->a->lat2, &j->a->out);

#ifdef HAVE_IOX
	base_iox_cleanup();
#endif
	return err;
}

/*
 * Repetition k of r, in a process of its own under the --deadline: one that
 * hangs, crashes or fails is "FAILED" with its reason, and the run goes on.
 * A skip or failure ends r's repetitions.
 */
static void result_rep(const struct opts *o, const struct daemon *d, struct result *r, unsigned k,
		       struct rep_area *a)
{
	struct rep_job job = {.o = o, .d = d, .r = r, .a = a};
	struct hist *lat = &a->lat, *lat2 = &a->lat2;
	struct bench_out out;
	char why[BENCH_REASON_LEN] = "";
	int err, ret = 0;

	a->out = (struct bench_out){0};
	err = proc_isolate(o->deadline_s, rep_run_isolated, &job, &ret, why);
	out = a->out;
	if (err)
		snprintf(out.reason, sizeof(out.reason), "%s", why);
	else
		err = ret;
	if (err) {
		r->status = err == BENCH_SKIP ? RES_SKIPPED : RES_FAILED;
		snprintf(r->reason, sizeof(r->reason), "%s",
			 out.reason[0] ? out.reason : strerror(err < 0 ? -err : EIO));
		return;
	}
	hist_summarize(lat, &r->rep_lat[k]);
	hist_summarize(lat2, &r->rep_lat2[k]);
	r->rep_rate[k] = out.msgs_per_s;
	r->rep_bytes_rate[k] = out.bytes_per_s;
	r->rep_delivered[k] = out.delivered;
	r->rep_held[k] = out.held_msgs;
	r->ring_bytes = out.ring_bytes;
	snprintf(r->note, sizeof(r->note), "%s", out.note);
	hist_merge(r->all, lat);
	hist_merge(r->all2, lat2);
	r->nreps++;
}

static void result_end(struct result *r)
{
	double held[BENCH_MAX_REPS];

	if (r->status != RES_OK)
		return;
	median_summary(&r->lat, r->rep_lat, r->nreps);
	median_summary(&r->lat2, r->rep_lat2, r->nreps);
	r->rate = median_dbl(r->rep_rate, r->nreps);
	r->bytes_rate = median_dbl(r->rep_bytes_rate, r->nreps);
	r->delivered = median_dbl(r->rep_delivered, r->nreps);
	for (unsigned k = 0; k < r->nreps; k++)
		held[k] = (double)r->rep_held[k];
	r->held = (uint64_t)median_dbl(held, r->nreps);
}

static const char *status_word(const struct result *r)
{
	return r->status == RES_OK ? "ok" : r->status == RES_SKIPPED ? "skipped" : "FAILED";
}

/* "ok", or the status with its reason. */
static const char *status_line(const struct result *r, char *buf, size_t len)
{
	if (r->status == RES_OK)
		return status_word(r);
	snprintf(buf, len, "%s (%s)", status_word(r), r->reason);
	return buf;
}

/*
 * Repetitions are rounds over every result, not back to back: the guest's
 * vCPUs move between host cores over time (the spin floor alone moves between
 * ~50 and ~300 ns here), so round k of each transport sees about the same
 * placement, and the median across rounds compares like with like. Odd
 * rounds run in reverse order, so that no scenario always runs right after
 * the same other one (the counters on/off pair of 64 B streaming read
 * 0.97-0.98 in a fixed order, 1.02-1.05 in alternating order).
 */
static int run_all(const struct opts *o, const struct daemon *d, struct results *rs)
{
	struct rep_area *a = shm_anon(sizeof(*a));
	char line[BENCH_REASON_LEN + 16];
	int failed = 0;
	unsigned k;
	size_t i;

	if (!a)
		return -ENOMEM;
	for (i = 0; i < rs->n; i++) {
		rs->v[i].all = malloc(sizeof(*rs->v[i].all));
		rs->v[i].all2 = malloc(sizeof(*rs->v[i].all2));
		if (!rs->v[i].all || !rs->v[i].all2)
			return -ENOMEM;
		hist_reset(rs->v[i].all);
		hist_reset(rs->v[i].all2);
		result_begin(o, &rs->v[i]);
	}
	for (k = 0; k < o->reps; k++) {
		for (size_t j = 0; j < rs->n; j++) {
			struct result *r;

			i = k % 2 ? rs->n - 1 - j : j;
			r = &rs->v[i];

			if (r->status != RES_OK)
				continue;
			progress(o, i, rs->n, r, k + 1, "");
			result_rep(o, d, r, k, a);
			if (r->status != RES_OK || (k + 1 == o->reps && o->progress == 1))
				progress(o, i, rs->n, r, k + 1, status_line(r, line, sizeof(line)));
		}
	}
	for (i = 0; i < rs->n; i++) {
		result_end(&rs->v[i]);
		failed |= rs->v[i].status == RES_FAILED;
	}
	if (o->progress == 2)
		fputs("\r\033[K", stderr);
	shm_anon_free(a, sizeof(*a));
	return failed;
}

/* ---- the machine ------------------------------------------------------------ */

static void machine_info(const struct opts *o, const char *disk_dir, struct run_info *in)
{
	struct utsname u;
	struct statfs sf;
	char line[256], *p;
	time_t now = time(NULL);
	FILE *f;

	in->version = SHMQ_BENCH_VERSION;
	in->cpu[0] = o->cpu[0];
	in->cpu[1] = o->cpu[1];
	in->reps = o->reps;
	in->quick = o->quick;
	in->rate_per_s = o->rate_per_s;
	in->ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	strftime(in->started, sizeof(in->started), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	snprintf(in->cpu_model, sizeof(in->cpu_model), "unknown");
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) || !(p = strchr(line, ':')))
			continue;
		p += strspn(p + 1, " \t") + 1;
		p[strcspn(p, "\n")] = '\0';
		snprintf(in->cpu_model, sizeof(in->cpu_model), "%s", p);
		break;
	}
	if (f)
		fclose(f);
	if (!uname(&u))
		snprintf(in->kernel, sizeof(in->kernel), "%s", u.release);
	snprintf(in->disk_fs, sizeof(in->disk_fs), "unknown");
	if (!statfs(disk_dir, &sf))
		snprintf(in->disk_fs, sizeof(in->disk_fs), "%s (magic 0x%lx)",
			 sf.f_type == 0xEF53	   ? "ext4"
			 : sf.f_type == 0x01021994 ? "tmpfs"
			 : sf.f_type == 0x58465342 ? "xfs"
			 : sf.f_type == 0x9123683E ? "btrfs"
						   : "other",
			 (unsigned long)sf.f_type);
}

static int valid_cpus(const struct opts *o)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	if (o->cpu[0] >= n || o->cpu[1] >= n) {
		fprintf(stderr, "shmq-bench: --cpus %d,%d: this machine has CPUs 0..%ld\n",
			o->cpu[0], o->cpu[1], n - 1);
		return 0;
	}
	return 1;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Our own mkdtemp directory: socket, daemon log, ipc endpoints, disk file. */
static void remove_dir(const char *dir)
{
	if (nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS))
		fprintf(stderr, "shmq-bench: could not remove %s: %s\n", dir, strerror(errno));
}

/*
 * The daemon's data_dir: a fresh directory under --disk-dir (made absolute,
 * as data_dir must be), else "data" in our own. Left empty on failure: the
 * daemon then runs without one and the durable shmq rows fail, saying so.
 */
static int data_dir_make(const struct opts *o, struct daemon *d)
{
	char base[PATH_MAX];
	int n;

	if (!o->disk_dir) {
		snprintf(d->data, sizeof(d->data), "%s/data", d->dir);
		if (!mkdir(d->data, 0700))
			return 0;
	} else if (realpath(o->disk_dir, base)) {
		n = snprintf(d->data, sizeof(d->data), "%s/shmq-data.XXXXXX", base);
		if (n > 0 && (size_t)n < sizeof(d->data) && mkdtemp(d->data))
			return 0;
	}
	snprintf(d->why, sizeof(d->why), "data_dir under %.100s: %s",
		 o->disk_dir ? o->disk_dir : d->dir, strerror(errno));
	d->data[0] = '\0';
	return -1;
}

static int write_outputs(const struct opts *o, const struct results *rs)
{
	int err = 0, e;

	if (o->summary) {
		report_summary(stdout, rs, o->targets);
	} else {
		report_table(stdout, rs);
		report_figures(stdout, rs);
		if (o->targets)
			report_targets(stdout, rs);
	}
	if (o->targets)
		report_verdicts(stdout, rs);
	fflush(stdout);
	if (o->json && (e = output_json(o->json, rs))) {
		fprintf(stderr, "shmq-bench: %s: %s\n", o->json, strerror(-e));
		err = e;
	}
	if (o->csv && (e = output_csv(o->csv, rs))) {
		fprintf(stderr, "shmq-bench: %s: %s\n", o->csv, strerror(-e));
		err = e;
	}
	if (o->plot && (e = output_plots(o->plot, rs))) {
		fprintf(stderr, "shmq-bench: plots in %s: %s\n", o->plot, strerror(-e));
		err = e;
	}
	return err;
}

int main(int argc, char **argv)
{
	struct results rs = {0};
	struct daemon d = {0};
	const char *tmp = getenv("TMPDIR");
	struct opts o;
	int failed, err;

	parse_args(argc, argv, &o);
	if (!valid_cpus(&o))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	snprintf(d.dir, sizeof(d.dir), "%s/shmq-bench.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(d.dir)) {
		fprintf(stderr, "shmq-bench: mkdtemp %s: %s\n", d.dir, strerror(errno));
		return 2;
	}
	machine_info(&o, o.disk_dir ? o.disk_dir : d.dir, &rs.info);
	if (plan(&o, &rs))
		return 2;
	if (data_dir_make(&o, &d))
		fprintf(stderr, "shmq-bench: durable channels unavailable: %s\n", d.why);
	if (daemon_start(&d))
		fprintf(stderr, "shmq-bench: shmq scenarios skipped: %s\n", d.why);
	failed = run_all(&o, &d, &rs);
	daemon_stop(&d);
#ifdef HAVE_IOX
	base_iox_cleanup();
#endif
	if (d.data[0] && o.disk_dir)
		remove_dir(d.data);
	remove_dir(d.dir);
	if (failed < 0) {
		fprintf(stderr, "shmq-bench: out of memory\n");
		return 2;
	}
	err = write_outputs(&o, &rs);
	return failed || err ? 1 : 0;
}
