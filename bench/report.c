/*
 * report.c - the terminal output: per message size, a percentile table for
 * every transport and, for every shmq figure, its ratio to every baseline
 * measured in the same run; the streaming and fan-out tables; and the short
 * --summary report (shmq vs the floors and a Unix socket); the publisher
 * modes and batches at 64 B, the memory a message takes and the mixed-size
 * workload; the issue-4 targets with their verdicts (--targets; the v3
 * acceptance figures are verdict.c's). Reads results, prints only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "results.h"
#include "verdict.h"

#define MAX_SIZES 32

const char *size_label(uint32_t bytes, char *buf, size_t len)
{
	if (bytes >= 1024 && bytes % 1024 == 0)
		snprintf(buf, len, "%u KiB", bytes / 1024);
	else
		snprintf(buf, len, "%u B", bytes);
	return buf;
}

const struct result *results_find(const struct results *rs, const char *group, const char *name,
				  uint32_t size_bytes, uint32_t nsubs)
{
	size_t i;

	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		if (!strcmp(r->sc->group, group) && !strcmp(r->sc->name, name) &&
		    r->size_bytes == size_bytes && r->nsubs == nsubs)
			return r;
	}
	return NULL;
}

/* 22213 -> "22,213" */
static const char *fmt_ns(uint64_t v, char *buf, size_t len)
{
	char tmp[32];
	size_t n, i, o = 0;

	n = (size_t)snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	for (i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

/* 18.2e6 -> "18.2 M" */
static const char *fmt_rate(double v, char *buf, size_t len)
{
	if (v >= 1e6)
		snprintf(buf, len, "%.2f M", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1f k", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

static const char *fmt_ratio(double num, double den, char *buf, size_t len)
{
	if (num <= 0 || den <= 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.3g", num / den);
	return buf;
}

/* The distinct sizes the results of group have, in first-seen order. */
static size_t group_sizes(const struct results *rs, const char *group, uint32_t *sizes)
{
	size_t i, j, n = 0;

	for (i = 0; i < rs->n; i++) {
		if (strcmp(rs->v[i].sc->group, group))
			continue;
		for (j = 0; j < n && sizes[j] != rs->v[i].size_bytes; j++)
			;
		if (j == n && n < MAX_SIZES)
			sizes[n++] = rs->v[i].size_bytes;
	}
	return n;
}

static void print_status(FILE *f, const struct result *r)
{
	fprintf(f, "%s (%s)\n", r->status == RES_SKIPPED ? "skipped" : "FAILED", r->reason);
}

static void pingpong_rows(FILE *f, const struct results *rs, uint32_t size)
{
	char b[7][32];
	size_t i;

	fprintf(f, "  %-16s %9s %9s %9s %9s %9s %10s %9s\n", "transport", "p50", "p90", "p99",
		"p99.9", "p99.99", "max", "mean");
	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		if (strcmp(r->sc->group, "pingpong") || r->size_bytes != size)
			continue;
		fprintf(f, "  %-16s ", r->sc->name);
		if (r->status != RES_OK) {
			print_status(f, r);
			continue;
		}
		fprintf(f, "%9s %9s %9s %9s %9s %10s %9.0f\n", fmt_ns(r->lat.p50_ns, b[0], 32),
			fmt_ns(r->lat.p90_ns, b[1], 32), fmt_ns(r->lat.p99_ns, b[2], 32),
			fmt_ns(r->lat.p999_ns, b[3], 32), fmt_ns(r->lat.p9999_ns, b[4], 32),
			fmt_ns(r->lat.max_ns, b[5], 32), r->lat.mean_ns);
	}
}

/* Rows: baselines; columns: shmq transports; cells: p50 ratio (p99 ratio). */
static void pingpong_ratios(FILE *f, const struct results *rs, uint32_t size)
{
	const struct result *shmq[16];
	char a[32], b[32], cell[80];
	size_t i, j, ns = 0;

	for (i = 0; i < rs->n && ns < 16; i++)
		if (!strcmp(rs->v[i].sc->group, "pingpong") && rs->v[i].size_bytes == size &&
		    rs->v[i].sc->is_shmq && rs->v[i].status == RES_OK)
			shmq[ns++] = &rs->v[i];
	if (!ns)
		return;
	fprintf(f, "\n  shmq / baseline, p50 (p99); below 1 = shmq faster\n  %-16s", "baseline");
	for (j = 0; j < ns; j++)
		fprintf(f, " %17s", shmq[j]->sc->name);
	fputc('\n', f);
	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		if (strcmp(r->sc->group, "pingpong") || r->size_bytes != size || r->sc->is_shmq ||
		    r->status != RES_OK)
			continue;
		fprintf(f, "  %-16s", r->sc->name);
		for (j = 0; j < ns; j++) {
			snprintf(
			    cell, sizeof(cell), "%s (%s)",
			    fmt_ratio((double)shmq[j]->lat.p50_ns, (double)r->lat.p50_ns, a, 32),
			    fmt_ratio((double)shmq[j]->lat.p99_ns, (double)r->lat.p99_ns, b, 32));
			fprintf(f, " %17s", cell);
		}
		fputc('\n', f);
	}
}

static void stream_rows(FILE *f, const struct results *rs)
{
	char a[32], b[32], c[32], sz[32];
	double lo, hi;
	size_t i;
	unsigned k;

	fprintf(f, "  %-20s %8s %11s %8s   %s\n", "transport", "size", "msgs/s", "GB/s",
		"reps min .. max msgs/s");
	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		if (strcmp(r->sc->group, "stream"))
			continue;
		fprintf(f, "  %-20s %8s ", r->sc->name, size_label(r->size_bytes, sz, 32));
		if (r->status != RES_OK) {
			print_status(f, r);
			continue;
		}
		lo = hi = r->rep_rate[0];
		for (k = 1; k < r->nreps; k++) {
			lo = r->rep_rate[k] < lo ? r->rep_rate[k] : lo;
			hi = r->rep_rate[k] > hi ? r->rep_rate[k] : hi;
		}
		fprintf(f, "%11s %8.3f   %s .. %s\n", fmt_rate(r->rate, a, 32),
			r->rate * r->size_bytes / 1e9, fmt_rate(lo, b, 32), fmt_rate(hi, c, 32));
	}
}

/* Rows: baselines; columns: sizes; cells: name's msgs/s / baseline msgs/s. */
static void stream_ratios(FILE *f, const struct results *rs, const char *name)
{
	uint32_t sizes[MAX_SIZES];
	const struct result *s, *b;
	char cell[32], sz[32];
	size_t i, j, n = group_sizes(rs, "stream", sizes);

	if (!n || !results_find(rs, "stream", name, sizes[0], 0))
		return;
	fprintf(f, "\n  %s / baseline, msgs/s; above 1 = %s faster\n  %-16s", name, name,
		"baseline");
	for (j = 0; j < n; j++)
		fprintf(f, " %9s", size_label(sizes[j], sz, 32));
	fputc('\n', f);
	for (i = 0; i < rs->n; i++) {
		b = &rs->v[i];
		if (strcmp(b->sc->group, "stream") || b->sc->is_shmq || b->size_bytes != sizes[0])
			continue;
		fprintf(f, "  %-16s", b->sc->name);
		for (j = 0; j < n; j++) {
			const struct result *bj =
			    results_find(rs, "stream", b->sc->name, sizes[j], 0);

			s = results_find(rs, "stream", name, sizes[j], 0);
			if (!s || !bj || s->status != RES_OK || bj->status != RES_OK)
				snprintf(cell, sizeof(cell), "-");
			else
				fmt_ratio(s->rate, bj->rate, cell, sizeof(cell));
			fprintf(f, " %9s", cell);
		}
		fputc('\n', f);
	}
}

/* ---- publisher modes, batches and timestamps at 64 B ---------------------- */

static const struct result *ok_find(const struct results *rs, const char *group, const char *name,
				    uint32_t size, uint32_t nsubs)
{
	const struct result *r = results_find(rs, group, name, size, nsubs);

	return r && r->status == RES_OK ? r : NULL;
}

static double rep_min(const struct result *r)
{
	double v = r->rep_rate[0];

	for (unsigned k = 1; k < r->nreps; k++)
		v = r->rep_rate[k] < v ? r->rep_rate[k] : v;
	return v;
}

static double rep_max(const struct result *r)
{
	double v = r->rep_rate[0];

	for (unsigned k = 1; k < r->nreps; k++)
		v = r->rep_rate[k] > v ? r->rep_rate[k] : v;
	return v;
}

/* One row: stream/name at 64 B, its slowest repetition, and its ratio to stream/den. */
static void mode_row(FILE *f, const struct results *rs, const char *label, const char *name,
		     const char *den, const char *den_label)
{
	const struct result *r = results_find(rs, "stream", name, 64, 0),
			    *d = ok_find(rs, "stream", den, 64, 0);
	char a[32], b[32], c[32];

	fprintf(f, "    %-34s %-20s ", label, name);
	if (!r) {
		fprintf(f, "not run\n");
		return;
	}
	if (r->status != RES_OK) {
		print_status(f, r);
		return;
	}
	fprintf(f, "%10s %10s", fmt_rate(r->rate, a, 32), fmt_rate(rep_min(r), b, 32));
	if (d && d != r)
		fprintf(f, "   %sx %s", fmt_ratio(r->rate, d->rate, c, 32), den_label);
	fputc('\n', f);
}

static void mode_rows(FILE *f, const struct results *rs, const char *mode, const char *pfx)
{
	char n[4][40];

	snprintf(n[0], 40, "shmq%s", pfx);
	snprintf(n[1], 40, "%s", pfx[0] ? "shmq-excl-batch" : "shmq-batch");
	snprintf(n[2], 40, "shmq%s-claimv", pfx);
	snprintf(n[3], 40, "shmq%s-publishv", pfx);
	fprintf(f, "  %s\n", mode);
	mode_row(f, rs, "shmq_publish, shmq_recv reader", n[0], "raw-ring", "raw-ring");
	mode_row(f, rs, "shmq_publish, shmq_poll reader", n[1], "raw-ring", "raw-ring");
	mode_row(f, rs, "claimv+commitv x32, shmq_poll", n[2], n[1], "single (poll)");
	mode_row(f, rs, "publishv x32, shmq_poll", n[3], n[1], "single (poll)");
	if (!pfx[0])
		return;
	mode_row(f, rs, "no timestamp, shmq_recv", "shmq-excl-nots", n[0], "with timestamps");
	mode_row(f, rs, "no timestamp, shmq_poll", "shmq-excl-batch-nots", n[1], "with timestamps");
}

static void modes_table(FILE *f, const struct results *rs)
{
	fprintf(f, "\npublisher modes, batches and timestamps: 64 B streaming, one way, consumer's "
		   "rate\n");
	fprintf(f, "    %-34s %-20s %10s %10s   %s\n", "publisher, reader", "transport", "median",
		"slowest", "ratio of medians");
	mode_rows(f, rs, "exclusive publisher (SHMQ_PUBLISHERS_ONE)", "-excl");
	mode_rows(f, rs, "shared publishers (SHMQ_PUBLISHERS_MANY)", "");
}

/* ---- memory and mixed sizes ----------------------------------------------- */

static void memory_rows(FILE *f, const struct results *rs)
{
	char a[32];
	size_t i;

	fprintf(f, "  %-28s %9s %9s %10s %9s %9s %10s %7s\n", "workload", "ring", "max msg", "held",
		"B/msg", "per MiB", "v2 format", "ratio");
	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];
		int mixed = r->sc->flags & SC_MIXED;
		double per_mib = result_held_per_mib(r);

		if (r->sc->kind != KIND_MEMORY)
			continue;
		fprintf(f, "  %-28s ", mixed ? "90 % 64 B, 10 % 64 KiB" : "64 B");
		if (r->status != RES_OK) {
			print_status(f, r);
			continue;
		}
		fprintf(f, "%5.2f MiB %9s %10s %9.1f %9.0f", (double)r->ring_bytes / (1 << 20),
			mixed ? "64 KiB" : "4 KiB", fmt_ns(r->held, a, 32),
			r->held ? (double)r->ring_bytes / (double)r->held : 0, per_mib);
		if (mixed)
			fprintf(f, " %10s %7s\n", "-", "-");
		else
			fprintf(f, " %10.0f %6.1fx\n", VERDICT_V2_PER_MIB,
				per_mib / VERDICT_V2_PER_MIB);
	}
}

static void mixed_rows(FILE *f, const struct results *rs)
{
	char a[32], b[32], c[32];
	size_t i;

	fprintf(f, "  %-20s %11s %10s   %s\n", "transport", "msgs/s", "MB/s",
		"reps min .. max msgs/s");
	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		if (strcmp(r->sc->group, "mixed"))
			continue;
		fprintf(f, "  %-20s ", r->sc->name);
		if (r->status != RES_OK) {
			print_status(f, r);
			continue;
		}
		fprintf(f, "%11s %10.0f   %s .. %s\n", fmt_rate(r->rate, a, 32),
			result_bytes_rate(r) / 1e6, fmt_rate(rep_min(r), b, 32),
			fmt_rate(rep_max(r), c, 32));
	}
}

static void fanout_rows(FILE *f, const struct results *rs)
{
	const struct result *one = NULL;
	char b[6][32];
	size_t i;

	fprintf(f, "  %-6s %10s %10s %10s %10s %11s %9s %10s\n", "subs", "first p50", "first p99",
		"last p50", "last p99", "pub msgs/s", "vs 1 sub", "delivered");
	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		if (r->sc->kind != KIND_FANOUT)
			continue;
		fprintf(f, "  %-6u ", r->nsubs);
		if (r->status != RES_OK) {
			print_status(f, r);
			continue;
		}
		if (r->nsubs == 1)
			one = r;
		fprintf(f, "%10s %10s %10s %10s %11s %9s %9.1f%%\n",
			fmt_ns(r->lat.p50_ns, b[0], 32), fmt_ns(r->lat.p99_ns, b[1], 32),
			fmt_ns(r->lat2.p50_ns, b[2], 32), fmt_ns(r->lat2.p99_ns, b[3], 32),
			fmt_rate(r->rate, b[4], 32),
			fmt_ratio(r->rate, one ? one->rate : 0, b[5], 32), r->delivered * 100);
	}
}

/* Durable scenarios and anything else that is not measured yet. */
static void other_rows(FILE *f, const struct results *rs, const char *group)
{
	char a[32], b[32], c[32];
	size_t i;

	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		if (strcmp(r->sc->group, group))
			continue;
		fprintf(f, "  %-16s ", r->sc->name);
		if (r->status != RES_OK)
			print_status(f, r);
		else if (r->sc->kind == KIND_LATENCY)
			fprintf(f, "p50 %s ns  p99 %s ns  max %s ns  (%s)\n",
				fmt_ns(r->lat.p50_ns, a, 32), fmt_ns(r->lat.p99_ns, b, 32),
				fmt_ns(r->lat.max_ns, c, 32), r->sc->desc);
		else
			fprintf(f, "%s msgs/s  %.3f GB/s  (%s)\n", fmt_rate(r->rate, a, 32),
				r->rate * r->size_bytes / 1e9, r->sc->desc);
	}
}

/*
 * Durability: the disk floors, shmq's durable channels and other brokers'
 * durable publish, each at its size, described, with the run's note (a
 * server's version and sync setting, the read file's size) where it has one.
 */
static void durable_rows(FILE *f, const struct results *rs)
{
	char a[32], b[32], sz[32];
	size_t i;

	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];
		double bps = r->rate * r->size_bytes;

		if (strcmp(r->sc->group, "durable"))
			continue;
		fprintf(f, "  %-16s %6s  ", r->sc->name, size_label(r->size_bytes, sz, 32));
		if (r->status != RES_OK)
			print_status(f, r);
		else if (r->sc->kind == KIND_LATENCY)
			fprintf(f, "p50 %s ns  p99 %s ns", fmt_ns(r->lat.p50_ns, a, 32),
				fmt_ns(r->lat.p99_ns, b, 32));
		else if (r->sc->flags & SC_GIB)
			fprintf(f, "%.3f GB/s, 1 GiB in %.0f ms", bps / 1e9,
				bps > 0 ? (double)(1u << 30) * 1e3 / bps : 0);
		else
			fprintf(f, "%s msgs/s  %.3f GB/s", fmt_rate(r->rate, a, 32), bps / 1e9);
		if (r->status == RES_OK)
			fprintf(f, "  (%s%s%s)\n", r->sc->desc, r->note[0] ? "; " : "", r->note);
	}
}

/* The statistics counters on and compiled out, side by side, with the ratio. */
static void counters_rows(FILE *f, const struct results *rs)
{
	static const char *const pair[2][2] = {{"spin-on", "spin-off"},
					       {"stream-on", "stream-off"}};
	char a[32], b[32];

	for (int k = 0; k < 2; k++) {
		const struct result *on = ok_find(rs, "counters", pair[k][0], 64, 0),
				    *off = ok_find(rs, "counters", pair[k][1], 64, 0);

		for (int j = 0; j < 2; j++) {
			const struct result *r = results_find(rs, "counters", pair[k][j], 64, 0);

			if (!r)
				continue;
			fprintf(f, "  %-12s ", r->sc->name);
			if (r->status != RES_OK)
				print_status(f, r);
			else if (r->sc->kind == KIND_PINGPONG)
				fprintf(f, "p50 %s ns  p99 %s ns  (%s)\n",
					fmt_ns(r->lat.p50_ns, a, 32), fmt_ns(r->lat.p99_ns, b, 32),
					r->sc->desc);
			else
				fprintf(f, "%s msgs/s  (%s)\n", fmt_rate(r->rate, a, 32),
					r->sc->desc);
		}
		if (on && off && k == 0 && off->lat.p50_ns)
			fprintf(f, "  %-12s p50 %.3fx by round, %.3fx of medians  (on / off)\n",
				"ratio", verdict_paired_ratio(on, off, 1),
				(double)on->lat.p50_ns / (double)off->lat.p50_ns);
		if (on && off && k == 1 && off->rate > 0)
			fprintf(f, "  %-12s %.3fx by round, %.3fx of medians  (on / off)\n",
				"ratio", verdict_paired_ratio(on, off, 0), on->rate / off->rate);
	}
}

void report_table(FILE *f, const struct results *rs)
{
	const struct run_info *in = &rs->info;
	uint32_t sizes[MAX_SIZES];
	char sz[32];
	size_t i, n;

	fprintf(f, "\nshmq-bench %s  %s  CPUs %d,%d  median of %u repetitions%s%s\n", in->version,
		in->started, in->cpu[0], in->cpu[1], in->reps, in->quick ? "  (--quick)" : "",
		in->rate_per_s ? "  (--rate)" : "");
	fprintf(f, "machine: %s, %d CPUs, Linux %s; clock CLOCK_MONOTONIC\n", in->cpu_model,
		in->ncpus, in->kernel);
	n = group_sizes(rs, "pingpong", sizes);
	for (i = 0; i < n; i++) {
		fprintf(f, "\nping-pong, one-way latency in ns (round trip / 2), %s%s\n",
			size_label(sizes[i], sz, sizeof(sz)),
			in->rate_per_s ? ", paced, timed from when each send was due" : "");
		pingpong_rows(f, rs, sizes[i]);
		pingpong_ratios(f, rs, sizes[i]);
	}
	if (group_sizes(rs, "stream", sizes)) {
		fprintf(f, "\nstreaming, one way, consumer's rate\n");
		stream_rows(f, rs);
		stream_ratios(f, rs, "shmq");
		stream_ratios(f, rs, "shmq-excl");
		if (results_find(rs, "stream", "shmq-excl", 64, 0) ||
		    results_find(rs, "stream", "shmq", 64, 0))
			modes_table(f, rs);
	}
	if (group_sizes(rs, "memory", sizes)) {
		fprintf(f, "\nmemory: messages a block-policy channel holds, one subscriber that "
			   "reads nothing, published with timeout 0 until -SHMQ_EFULL\n");
		memory_rows(f, rs);
	}
	if (group_sizes(rs, "mixed", sizes)) {
		fprintf(f, "\nmixed sizes: 90 %% 64 B, 10 %% 64 KiB (every tenth), max message "
			   "64 KiB; streaming, shmq_recv + copy, one way, consumer's rate\n");
		mixed_rows(f, rs);
	}
	if (group_sizes(rs, "fanout", sizes)) {
		fprintf(f,
			"\nfan-out, shmq, sleeping subscribers, %s; latency of paced messages in "
			"ns, then the publisher back to back\n",
			size_label(sizes[0], sz, sizeof(sz)));
		fanout_rows(f, rs);
	}
	if (group_sizes(rs, "counters", sizes)) {
		fprintf(f, "\nstatistics counters: libshmq built with them (libshmq-counters) and "
			   "with them compiled out (libshmq-nocounters), 64 B\n");
		counters_rows(f, rs);
	}
	if (group_sizes(rs, "group", sizes)) {
		fprintf(f, "\nconsumer group with acks\n");
		other_rows(f, rs, "group");
	}
	if (group_sizes(rs, "durable", sizes)) {
		fprintf(f, "\ndurable publish and read-back, file system %s\n", in->disk_fs);
		durable_rows(f, rs);
	}
	fputc('\n', f);
}

/* ---- --summary ------------------------------------------------------------ */

static void summary_line(FILE *f, const char *label, const struct result *r,
			 const struct result *floor, const char *floor_name)
{
	char a[32], b[32];

	if (!r) {
		fprintf(f, "  %-32s not run\n", label);
		return;
	}
	if (r->status != RES_OK) {
		fprintf(f, "  %-32s ", label);
		print_status(f, r);
		return;
	}
	fprintf(f, "  %-32s %9s %9s", label, fmt_ns(r->lat.p50_ns, a, 32),
		fmt_ns(r->lat.p99_ns, b, 32));
	if (floor && floor != r && floor->status == RES_OK && floor->lat.p50_ns)
		fprintf(f, "   %5.2fx %s", (double)r->lat.p50_ns / (double)floor->lat.p50_ns,
			floor_name);
	fputc('\n', f);
}

static void summary_ratio(FILE *f, const char *label, const struct result *s,
			  const struct result *u)
{
	if (!s || !u || s->status != RES_OK || u->status != RES_OK || !s->lat.p50_ns ||
	    !s->lat.p99_ns)
		return;
	double p50 = (double)u->lat.p50_ns / (double)s->lat.p50_ns,
	       p99 = (double)u->lat.p99_ns / (double)s->lat.p99_ns;

	fprintf(f, "  %s vs Unix socket: %.1fx %s at p50, %.1fx %s at p99\n", label,
		p50 >= 1 ? p50 : 1 / p50, p50 >= 1 ? "faster" : "slower", p99 >= 1 ? p99 : 1 / p99,
		p99 >= 1 ? "faster" : "slower");
}

void report_summary(FILE *f, const struct results *rs, int targets)
{
	const struct result *spin, *excl, *dflt, *sleep, *unix_s, *floor, *futex;

	floor = results_find(rs, "pingpong", "raw-spin", 64, 0);
	futex = results_find(rs, "pingpong", "raw-futex", 64, 0);
	spin = results_find(rs, "pingpong", "shmq-spin", 64, 0);
	excl = results_find(rs, "pingpong", "shmq-spin-excl", 64, 0);
	dflt = results_find(rs, "pingpong", "shmq-spin-sleep", 64, 0);
	sleep = results_find(rs, "pingpong", "shmq-sleep", 64, 0);
	unix_s = results_find(rs, "pingpong", "unix-stream", 64, 0);
	fprintf(f,
		"\nshmq-bench --summary: 64 B ping-pong, one-way latency (round trip / 2), "
		"CPUs %d,%d, median of %u runs\n",
		rs->info.cpu[0], rs->info.cpu[1], rs->info.reps);
	fprintf(f, "  %-32s %9s %9s   %s\n", "transport", "p50 ns", "p99 ns",
		"p50 / floor (the fastest possible)");
	summary_line(f, "raw shm spin (hardware floor)", floor, NULL, "");
	summary_line(f, "shmq, spinning, exclusive pub", excl, floor, "spin floor");
	summary_line(f, "shmq, spinning, shared pubs", spin, floor, "spin floor");
	summary_line(f, "shmq, spin-then-sleep (default)", dflt, floor, "spin floor");
	summary_line(f, "raw futex (wake-up floor)", futex, NULL, "");
	summary_line(f, "shmq, sleeping reader", sleep, futex, "futex floor");
	summary_line(f, "Unix stream socket", unix_s, NULL, "");
	summary_ratio(f, "shmq spinning, exclusive", excl, unix_s);
	summary_ratio(f, "shmq spinning, shared", spin, unix_s);
	summary_ratio(f, "shmq default reader", dflt, unix_s);
	summary_ratio(f, "shmq sleeping", sleep, unix_s);
	fprintf(f, "  Lower is better. Times vary between runs and machines; the ratios, taken in "
		   "one run, vary less.\n  A spinning reader needs a CPU of its own: where "
		   "others compete for it, its p99 grows.\n");
	if (!targets)
		fprintf(f, "  shmq-bench --summary --targets adds the project's acceptance "
			   "targets.\n");
	fputc('\n', f);
}

/* ---- the issue-4 targets ------------------------------------------------ */

/*
 * One target: value against bound, "<=" (at most) or ">=" (at least). a or b
 * missing (not run, skipped): the line says so instead of a verdict.
 */
static void target(FILE *f, const char *what, double value, const char *op, double bound, int have)
{
	int met = op[0] == '<' ? value <= bound : value >= bound;

	if (!have) {
		fprintf(f, "  %-58s %2s %-6.3g %10s  %s\n", what, op, bound, "-", "not measured");
		return;
	}
	fprintf(f, "  %-58s %2s %-6.3g %10.3g  %s\n", what, op, bound, value,
		met ? "met" : "MISSED");
}

static double lat_ratio(const struct result *a, const struct result *b, int p99)
{
	if (!a || !b)
		return 0;
	return p99 ? (double)a->lat.p99_ns / (double)b->lat.p99_ns
		   : (double)a->lat.p50_ns / (double)b->lat.p50_ns;
}

/* The p50 and the p99 ratio of a to b, each against its bound. */
static void target_lat(FILE *f, const struct results *rs, const char *a_name, const char *b_name,
		       const char *op, double bound_p50, double bound_p99, const char *note)
{
	static const char *const pct[2] = {"p50", "p99"};
	const struct result *a = ok_find(rs, "pingpong", a_name, 64, 0),
			    *b = ok_find(rs, "pingpong", b_name, 64, 0);
	const double bound[2] = {bound_p50, bound_p99};
	char what[96];

	for (int p99 = 0; p99 < 2; p99++) {
		snprintf(what, sizeof(what), "ping-pong %s %s / %s %s%s", a_name, pct[p99], b_name,
			 pct[p99], note);
		target(f, what, lat_ratio(a, b, p99), op, bound[p99], a && b);
	}
}

static void targets_pingpong(FILE *f, const struct results *rs)
{
	const struct result *futex = ok_find(rs, "pingpong", "raw-futex", 64, 0),
			    *sleep = ok_find(rs, "pingpong", "shmq-sleep", 64, 0);

	target_lat(f, rs, "shmq-spin", "raw-spin", "<=", 1.3, 2, "");
	target_lat(f, rs, "shmq-spin-sleep", "shmq-spin", "<=", 1.1, 1.1, " (\"the same\")");
	target(f, "ping-pong shmq-sleep p50 / raw-futex p50", lat_ratio(sleep, futex, 0), "<=", 1.2,
	       sleep && futex);
	target_lat(f, rs, "iox-spin", "shmq-spin", ">=", 5, 5, "");
	target_lat(f, rs, "unix-stream", "shmq-spin", ">=", 10, 10, " (\"far below\")");
	target_lat(f, rs, "zmq-ipc", "shmq-spin", ">=", 10, 10, " (\"far below\")");
}

static void targets_stream(FILE *f, const struct results *rs, const char *name)
{
	const struct result *s = ok_find(rs, "stream", name, 64, 0),
			    *ring = ok_find(rs, "stream", "raw-ring", 64, 0),
			    *zmq = ok_find(rs, "stream", "zmq-ipc", 64, 0),
			    *s64k = ok_find(rs, "stream", name, 65536, 0),
			    *r64k = ok_find(rs, "stream", "raw-ring", 65536, 0);
	char what[96];

	snprintf(what, sizeof(what), "stream 64 B %s msgs/s, slowest repetition (M)", name);
	target(f, what, s ? rep_min(s) / 1e6 : 0, ">=", 10, s != NULL);
	snprintf(what, sizeof(what), "stream 64 B %s slowest rep / raw-ring best rep", name);
	target(f, what, s && ring ? rep_min(s) / rep_max(ring) : 0, ">=", 0.5, s && ring);
	snprintf(what, sizeof(what), "stream 64 B %s / zmq-ipc msgs/s", name);
	target(f, what, s && zmq ? s->rate / zmq->rate : 0, ">=", 1, s && zmq);
	snprintf(what, sizeof(what), "stream 64 KiB %s / raw-ring GB/s", name);
	target(f, what, s64k && r64k ? s64k->rate / r64k->rate : 0, ">=", 0.8, s64k && r64k);
}

/* The durability targets that have both figures: shmq's rows over their baselines. */
static void targets_durable(FILE *f, const struct results *rs)
{
	const struct result *batch = ok_find(rs, "durable", "shmq-batch", 4096, 0),
			    *batch64 = ok_find(rs, "durable", "shmq-batch", 64, 0),
			    *always = ok_find(rs, "durable", "shmq-always", 4096, 0),
			    *disk = ok_find(rs, "durable", "disk-batch", 4096, 0),
			    *fsync = ok_find(rs, "durable", "disk-always", 4096, 0),
			    *redis = ok_find(rs, "durable", "redis-always", 4096, 0),
			    *everysec = ok_find(rs, "durable", "redis-everysec", 64, 0);

	target(f, "durable sync=batch 4 KiB / disk-batch GB/s",
	       batch && disk && disk->rate > 0 ? batch->rate / disk->rate : 0, ">=", 0.7,
	       batch && disk && disk->rate > 0);
	target(f, "durable sync=always 4 KiB confirm p50 / disk-always p50",
	       lat_ratio(always, fsync, 0), "<=", 1.2, always && fsync && fsync->lat.p50_ns);
	target(f, "durable sync=always 4 KiB p50 / redis-always p50", lat_ratio(always, redis, 0),
	       "<=", 1, always && redis && redis->lat.p50_ns);
	target(f, "durable sync=batch 64 B / redis-everysec msgs/s",
	       batch64 && everysec && everysec->rate > 0 ? batch64->rate / everysec->rate : 0,
	       ">=", 5, batch64 && everysec && everysec->rate > 0);
	fprintf(f, "  %-58s %s\n", "durable catch-up / disk-read GB/s (>= 0.8)",
		"not available yet");
	fprintf(f, "  %-58s %s\n", "durable recovery of 1 GiB / disk-read's time (<= 1.5)",
		"not available yet");
}

void report_targets(FILE *f, const struct results *rs)
{
	const struct result *one = ok_find(rs, "fanout", "shmq", 64, 1),
			    *eight = ok_find(rs, "fanout", "shmq", 64, 8);

	fprintf(f, "benchmark targets, 64 B unless said, ratios of figures from this run\n");
	fprintf(f, "  Goals shmq is built to meet against its baselines; MISSED is a figure short "
		   "of its goal on\n  this machine in this run, not an error.\n");
	fprintf(f, "  %-58s %-9s %10s  %s\n", "figure", "bound", "measured", "verdict");
	targets_pingpong(f, rs);
	targets_stream(f, rs, "shmq");
	targets_stream(f, rs, "shmq-batch");
	target(f, "fan-out publisher msgs/s, 1 subscriber / 8 subscribers",
	       one && eight ? one->rate / eight->rate : 0, "<", 2, one && eight);
	/* the rate only counts if the subscribers kept up: drop-policy ones that
	 * were lapped made the publisher's work lighter, not its result better */
	target(f, "fan-out 8 subscribers: share of the burst the slowest got",
	       eight ? eight->delivered : 0, ">=", 1, eight != NULL);
	targets_durable(f, rs);
	fputc('\n', f);
}
