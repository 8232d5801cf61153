/*
 * results.h - the runner's view of a benchmark run: the scenario table's
 * entries, one result per scenario and message size (and subscriber count),
 * with its figures per repetition and their medians, and the writers that
 * turn results into the terminal table, the short report, JSON, CSV and plots
 * (report.c, output.c). Single-threaded; owned by shmq-bench.c's main().
 */
#ifndef SHMQ_BENCH_RESULTS_H
#define SHMQ_BENCH_RESULTS_H

#include <stdio.h>

#include "bench.h"

#define BENCH_MAX_REPS 32

enum scen_kind {
	KIND_PINGPONG = 0, /* one-way latency from round trips */
	KIND_STREAM = 1,   /* one-way messages/s by size */
	KIND_FANOUT = 2,   /* latency to first/last of N subscribers, publisher rate */
	KIND_LATENCY = 3,  /* the latency of one operation (durable confirm, fdatasync) */
	KIND_MEMORY = 4,   /* messages a channel holds per MiB of ring */
};

static inline int kind_has_lat(enum scen_kind k)
{
	return k == KIND_PINGPONG || k == KIND_FANOUT || k == KIND_LATENCY;
}

static inline int kind_has_rate(enum scen_kind k)
{
	return k == KIND_STREAM || k == KIND_FANOUT;
}

/* struct scenario.flags */
#define SC_SLEEPS 1u	 /* every message is a wake-up: fewer iterations */
#define SC_SUMMARY 2u	 /* part of --summary */
#define SC_DISK 4u	 /* bounded by the disk: far fewer iterations */
#define SC_MIXED 8u	 /* the mixed-size workload (bench_mix_len()), not one size */
#define SC_SERVER 16u	 /* a round trip to another broker per message: more when streamed */
#define SC_GIB 32u	 /* a rate in blocks of size_bytes: also report the time for 1 GiB */
#define SC_SMALL 64u	 /* durable: at 64 B as well as at 4 KiB */
#define SC_SELFTEST 128u /* breaks on purpose: only when --only names "selftest" */

struct scenario {
	const char *group; /* "pingpong", "stream", "fanout", "group", "durable" */
	const char *name;  /* the transport: "raw-spin", "shmq-spin", ... */
	enum scen_kind kind;
	int is_shmq;	     /* 0: a baseline */
	bench_fn fn;	     /* NULL when not built */
	const char *missing; /* why fn is NULL */
	const char *desc;
	unsigned flags;	     /* SC_* */
	uint32_t fixed_size; /* measured at this size only (streaming: if it is listed) */
};

enum res_status {
	RES_OK = 0,
	RES_SKIPPED = 1,
	RES_FAILED = 2,
};

struct result {
	const struct scenario *sc;
	uint32_t size_bytes;
	uint32_t nsubs; /* fan-out only */
	enum res_status status;
	char reason[BENCH_REASON_LEN];
	char note[BENCH_REASON_LEN]; /* the last repetition's bench_out.note */
	uint64_t iters;
	uint64_t warmup;
	unsigned nreps; /* repetitions completed */
	struct hist_summary rep_lat[BENCH_MAX_REPS];
	struct hist_summary rep_lat2[BENCH_MAX_REPS];
	double rep_rate[BENCH_MAX_REPS];
	double rep_delivered[BENCH_MAX_REPS];
	double rep_bytes_rate[BENCH_MAX_REPS];
	uint64_t rep_held[BENCH_MAX_REPS];
	struct hist_summary lat;  /* each figure the median across repetitions */
	struct hist_summary lat2; /* fan-out: to the last subscriber */
	double rate;		  /* msgs/s, median */
	double delivered;	  /* fan-out, median */
	double bytes_rate;	  /* mixed sizes: payload bytes/s, median; else rate * size */
	uint64_t held;		  /* memory: messages held, median */
	uint64_t ring_bytes;	  /* memory: the channel's ring bytes */
	struct hist *all;	  /* every repetition merged, for CDF plots */
	struct hist *all2;
};

struct run_info {
	const char *version;
	char cpu_model[128];
	char kernel[128];
	int ncpus;
	int cpu[2];
	unsigned reps;
	int quick;
	uint64_t rate_per_s;
	char started[32]; /* UTC, ISO 8601 */
	char disk_fs[64]; /* file system of the disk floor's file */
};

struct results {
	struct result *v;
	size_t n;
	struct run_info info;
};

/* report.c */
void report_table(FILE *f, const struct results *rs);
/* The user's summary; without targets it says how to see them. */
void report_summary(FILE *f, const struct results *rs, int targets);
/* The issue-4 targets: each ratio, its bound and whether it holds. */
void report_targets(FILE *f, const struct results *rs);

/* The JSON document's "schema" and "schema_version" (man/shmq-bench.1). */
#define BENCH_JSON_SCHEMA "shmq-bench"
#define BENCH_JSON_VERSION 1

/* output.c: 0 or a negative errno; messages go to stderr. */
int output_json(const char *path, const struct results *rs);
int output_csv(const char *path, const struct results *rs);
int output_plots(const char *dir, const struct results *rs);

/* The message size in a short human form: "64 B", "4 KiB". */
const char *size_label(uint32_t bytes, char *buf, size_t len);

/* The result of group/name at size (nsubs for fan-out), or NULL. */
const struct result *results_find(const struct results *rs, const char *group, const char *name,
				  uint32_t size_bytes, uint32_t nsubs);

/* Payload bytes per second of an ok result: measured (mixed sizes) or rate * size. */
static inline double result_bytes_rate(const struct result *r)
{
	return r->bytes_rate > 0 ? r->bytes_rate : r->rate * r->size_bytes;
}

/* Memory results: messages held per MiB of ring. */
static inline double result_held_per_mib(const struct result *r)
{
	return r->ring_bytes ? (double)r->held * (1u << 20) / (double)r->ring_bytes : 0;
}

#endif
