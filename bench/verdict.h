/*
 * verdict.h - the acceptance figures of the v3 channel format, each computed
 * from results of one run (ratios to baselines measured in the same run,
 * where a baseline is what it is judged against) with its target and a
 * PASS or MISS; and the derived figures that have no target (timestamp cost,
 * publishv, mixed sizes). JSON and CSV always hold the whole list; the
 * terminal shows the targets with --targets, the other figures in the full
 * report. Reads results only; single-threaded.
 */
#ifndef SHMQ_BENCH_VERDICT_H
#define SHMQ_BENCH_VERDICT_H

#include <stdio.h>

#include "results.h"

/* The v2 format's density: a 4 MiB channel of 4224-byte slots (4096-byte maximum). */
#define VERDICT_V2_PER_MIB 248.0

#define VERDICT_MAX 32

enum verdict_state {
	VERDICT_PASS = 0,
	VERDICT_MISS = 1,
	VERDICT_SKIPPED = 2, /* an input was not run, skipped or failed */
	VERDICT_INFO = 3,    /* a figure without a target */
};

struct verdict {
	const char *key;     /* stable name, e.g. "spin_excl_p50_ratio" */
	char what[96];	     /* the figure in words */
	const char *op;	     /* "<=" or ">=", NULL for VERDICT_INFO */
	const char *purpose; /* what the target is for; "" without a target */
	double target;
	double value;	  /* meaningful unless VERDICT_SKIPPED */
	const char *unit; /* "x", "M msgs/s", "ns", ... */
	char detail[128]; /* the measured figures it comes from, or why it was skipped */
	enum verdict_state state;
	int not_run; /* skipped because an input was not selected in this run */
};

/* Fill out[] (VERDICT_MAX entries) with every figure of rs; the count. */
size_t verdicts_compute(const struct results *rs, struct verdict *out);

/*
 * The median over rounds of a's figure / b's in the same round: p50
 * latency (latency 1) or rate; 0 without a round.
 */
double verdict_paired_ratio(const struct result *a, const struct result *b, int latency);

/* "PASS", "MISS", "skipped", "info" */
const char *verdict_word(enum verdict_state s);

/* The targets with their verdicts and what each is for (--targets). */
void report_verdicts(FILE *f, const struct results *rs);
/* The figures without a target (the full report). */
void report_figures(FILE *f, const struct results *rs);

#endif
