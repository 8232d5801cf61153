/*
 * verdict.c - the acceptance figures of the v3 channel format and the derived
 * figures without a target, from one run's results (see verdict.h). Each
 * ratio divides figures measured in this run only: absolute times on the
 * development VM move between runs, ratios of one run do not. A figure whose
 * input was not run, skipped or failed is "skipped" with the reason, never a
 * zero and never a MISS. Single-threaded; reads results, prints only.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verdict.h"

#define MIB (1024.0 * 1024.0)

struct vlist {
	const struct results *rs;
	struct verdict *v;
	size_t n;
};

/* What each target is for: the property of shmq it checks. */
static const struct {
	const char *key, *purpose;
} purposes[] = {
    {"spin_excl_p50_ratio", "a spinning reader gets a message almost as fast as a bare "
			    "cache-line hand-off"},
    {"spin_excl_p99_ratio", "the same in the tail: no stalls of shmq's own"},
    {"spin_shared_p50_ratio", "many lock-free publishers cost little more than one"},
    {"sleep_p99_ratio", "a sleeping reader wakes about as fast as a bare futex allows"},
    {"fanout_first_p99_ratio", "more subscribers do not delay the first one"},
    {"iox_spin_p50_ratio", "faster than iceoryx, another shared-memory transport"},
    {"stream_excl_ring_ratio", "one publisher streams as fast as a hand-written ring"},
    {"stream_excl_min", "throughput holds in the slowest repetition, not just the median"},
    {"stream_shared_ring_ratio", "many-publisher streaming stays near the hand-written ring"},
    {"stream_shared_min", "the same, slowest repetition"},
    {"claimv_excl_ratio", "batched publishing pays off"},
    {"claimv_shared_ratio", "batched publishing pays off with many publishers too"},
    {"memory_v2_ratio", "small messages take the ring space their size needs"},
    {"counters_spin_p50_ratio", "statistics counters cost latency within noise"},
    {"counters_stream_ratio", "statistics counters cost throughput within noise"},
};

static const char *purpose_of(const char *key)
{
	for (size_t i = 0; i < sizeof(purposes) / sizeof(purposes[0]); i++)
		if (!strcmp(purposes[i].key, key))
			return purposes[i].purpose;
	return "";
}

/* Append a figure; op NULL: no target. Its state is decided by vset() or need(). */
static struct verdict *vadd(struct vlist *l, const char *key, const char *op, double target,
			    const char *unit, const char *what)
{
	struct verdict *v = &l->v[l->n < VERDICT_MAX - 1 ? l->n++ : l->n];

	*v = (struct verdict){.key = key, .op = op, .target = target, .unit = unit};
	v->purpose = op ? purpose_of(key) : "";
	v->state = op ? VERDICT_MISS : VERDICT_INFO;
	snprintf(v->what, sizeof(v->what), "%s", what);
	snprintf(v->detail, sizeof(v->detail), "not computed");
	return v;
}

/* The ok result group/name at size; else NULL, and v is skipped saying why (first cause). */
static const struct result *need(struct vlist *l, struct verdict *v, const char *group,
				 const char *name, uint32_t size)
{
	const struct result *r = results_find(l->rs, group, name, size, 0);
	char sz[32];

	if (r && r->status == RES_OK)
		return r;
	v->not_run |= !r;
	if (v->state != VERDICT_SKIPPED)
		snprintf(v->detail, sizeof(v->detail), "%s/%s %s: %.80s", group, name,
			 size_label(size, sz, sizeof(sz)),
			 !r			    ? "not run"
			 : r->status == RES_SKIPPED ? r->reason
						    : "FAILED");
	v->state = VERDICT_SKIPPED;
	return NULL;
}

static void vset(struct verdict *v, double value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void vset(struct verdict *v, double value, const char *fmt, ...)
{
	va_list ap;

	v->value = value;
	va_start(ap, fmt);
	vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
	if (v->op)
		v->state = (v->op[0] == '<' ? value <= v->target : value >= v->target)
			       ? VERDICT_PASS
			       : VERDICT_MISS;
	else
		v->state = VERDICT_INFO;
}

static double rep_min(const struct result *r)
{
	double v = r->rep_rate[0];

	for (unsigned k = 1; k < r->nreps; k++)
		v = r->rep_rate[k] < v ? r->rep_rate[k] : v;
	return v;
}

/* ---- ping-pong ----------------------------------------------------------- */

/* pingpong/num pNN over pingpong/den pNN, 64 B. */
static void lat_ratio(struct vlist *l, struct verdict *v, const char *num, const char *den, int p99)
{
	const struct result *a = need(l, v, "pingpong", num, 64),
			    *b = need(l, v, "pingpong", den, 64);
	uint64_t x, y;

	if (!a || !b)
		return;
	x = p99 ? a->lat.p99_ns : a->lat.p50_ns;
	y = p99 ? b->lat.p99_ns : b->lat.p50_ns;
	if (y)
		vset(v, (double)x / (double)y, "%s %" PRIu64 " ns / %s %" PRIu64 " ns", num, x, den,
		     y);
}

static void figures_pingpong(struct vlist *l)
{
	lat_ratio(l,
		  vadd(l, "spin_excl_p50_ratio", "<=", 1.3, "x",
		       "ping-pong spin, exclusive publisher: p50 / raw-spin p50"),
		  "shmq-spin-excl", "raw-spin", 0);
	lat_ratio(l,
		  vadd(l, "spin_excl_p99_ratio", "<=", 2, "x",
		       "ping-pong spin, exclusive publisher: p99 / raw-spin p99"),
		  "shmq-spin-excl", "raw-spin", 1);
	lat_ratio(l,
		  vadd(l, "spin_shared_p50_ratio", "<=", 1.6, "x",
		       "ping-pong spin, shared publishers: p50 / raw-spin p50"),
		  "shmq-spin", "raw-spin", 0);
	lat_ratio(l,
		  vadd(l, "sleep_p99_ratio", "<=", 1.5, "x",
		       "ping-pong sleep: shmq-sleep p99 / raw-futex p99"),
		  "shmq-sleep", "raw-futex", 1);
}

/* ---- fan-out ------------------------------------------------------------- */

/* The ok fan-out result of 64 B with the most subscribers, more than one; NULL if none. */
static const struct result *fanout_most(const struct results *rs)
{
	const struct result *most = NULL;

	for (size_t i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		if (r->sc->kind == KIND_FANOUT && r->size_bytes == 64 && r->status == RES_OK &&
		    r->nsubs > 1 && (!most || r->nsubs > most->nsubs))
			most = r;
	}
	return most;
}

/* Sleeping subscribers: the first of N is woken as soon as the only one would be. */
static void figures_fanout(struct vlist *l)
{
	struct verdict *v = vadd(l, "fanout_first_p99_ratio", "<=", 2, "x",
				 "fan-out, most subscribers: first-message p99 / 1 subscriber's");
	const struct result *one = results_find(l->rs, "fanout", "shmq", 64, 1);
	const struct result *most = fanout_most(l->rs);

	if (!one || one->status != RES_OK || !most) {
		v->state = VERDICT_SKIPPED;
		v->not_run = !one || !most;
		snprintf(v->detail, sizeof(v->detail), "fanout/shmq 64 B: %s",
			 !one || one->status != RES_OK ? "1 subscriber not run or not ok"
						       : "no run with more subscribers");
		return;
	}
	if (one->lat.p99_ns)
		vset(v, (double)most->lat.p99_ns / (double)one->lat.p99_ns,
		     "%u subscribers %" PRIu64 " ns / 1 subscriber %" PRIu64 " ns", most->nsubs,
		     most->lat.p99_ns, one->lat.p99_ns);
}

static void figures_iox(struct vlist *l)
{
	lat_ratio(l,
		  vadd(l, "iox_spin_p50_ratio", ">=", 7, "x",
		       "iceoryx busy-poll p50 / shmq spin p50 (exclusive)"),
		  "iox-spin", "shmq-spin-excl", 0);
}

/* ---- streaming ----------------------------------------------------------- */

static void stream_vs_ring(struct vlist *l, const char *key, const char *name, double bound,
			   const char *what)
{
	struct verdict *v = vadd(l, key, ">=", bound, "x", what);
	const struct result *s = need(l, v, "stream", name, 64),
			    *ring = need(l, v, "stream", "raw-ring", 64);

	if (s && ring && ring->rate > 0)
		vset(v, s->rate / ring->rate, "%s %.2f M / raw-ring %.2f M msgs/s, medians", name,
		     s->rate / 1e6, ring->rate / 1e6);
}

static void stream_min(struct vlist *l, const char *key, const char *name, const char *what)
{
	struct verdict *v = vadd(l, key, ">=", 12, "M msgs/s", what);
	const struct result *s = need(l, v, "stream", name, 64);

	if (s)
		vset(v, rep_min(s) / 1e6, "%s: %u repetitions, median %.2f M msgs/s", name,
		     s->nreps, s->rate / 1e6);
}

/* A rate over another's, both 64 B streaming. */
static void stream_ratio(struct vlist *l, struct verdict *v, const char *num, const char *den)
{
	const struct result *a = need(l, v, "stream", num, 64), *b = need(l, v, "stream", den, 64);

	if (a && b && b->rate > 0)
		vset(v, a->rate / b->rate, "%s %.2f M / %s %.2f M msgs/s", num, a->rate / 1e6, den,
		     b->rate / 1e6);
}

static void figures_stream(struct vlist *l)
{
	stream_vs_ring(l, "stream_excl_ring_ratio", "shmq-excl", 1.0,
		       "stream 64 B, exclusive, shmq_recv: median / raw-ring median");
	stream_min(l, "stream_excl_min", "shmq-excl",
		   "stream 64 B, exclusive, shmq_recv: slowest repetition");
	stream_vs_ring(l, "stream_shared_ring_ratio", "shmq", 0.6,
		       "stream 64 B, shared, shmq_recv: median / raw-ring median");
	stream_min(l, "stream_shared_min", "shmq",
		   "stream 64 B, shared, shmq_recv: slowest repetition");
	stream_ratio(l,
		     vadd(l, "claimv_excl_ratio", ">=", 2, "x",
			  "claimv batches of 32 / single messages, exclusive (shmq_poll reader)"),
		     "shmq-excl-claimv", "shmq-excl-batch");
	stream_ratio(l,
		     vadd(l, "claimv_shared_ratio", ">=", 2, "x",
			  "claimv batches of 32 / single messages, shared (shmq_poll reader)"),
		     "shmq-claimv", "shmq-batch");
}

/* ---- the statistics counters ---------------------------------------------- */

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The median over rounds of a's figure / b's figure in the same round (p50
 * latency, or rate): the runner runs round k of every scenario back to
 * back, so a round-by-round ratio cancels the slow phases of a shared
 * machine that a ratio of medians keeps.
 */
double verdict_paired_ratio(const struct result *a, const struct result *b, int latency)
{
	double v[BENCH_MAX_REPS];
	unsigned n = 0;

	for (unsigned k = 0; k < a->nreps && k < b->nreps; k++) {
		double x = latency ? (double)a->rep_lat[k].p50_ns : a->rep_rate[k];
		double y = latency ? (double)b->rep_lat[k].p50_ns : b->rep_rate[k];

		if (y > 0)
			v[n++] = x / y;
	}
	if (!n)
		return 0;
	qsort(v, n, sizeof(v[0]), dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void figures_counters(struct vlist *l)
{
	struct verdict *v = vadd(l, "counters_spin_p50_ratio", "<=", 1.02, "x",
				 "ping-pong spin p50: counters on / compiled out, by round");
	const struct result *on = need(l, v, "counters", "spin-on", 64),
			    *off = need(l, v, "counters", "spin-off", 64);

	if (on && off && off->lat.p50_ns)
		vset(v, verdict_paired_ratio(on, off, 1),
		     "median of %u rounds; medians spin-on %" PRIu64 " ns, spin-off %" PRIu64 " ns",
		     on->nreps, on->lat.p50_ns, off->lat.p50_ns);
	v = vadd(l, "counters_stream_ratio", ">=", 0.98, "x",
		 "stream 64 B msgs/s: counters on / compiled out, by round");
	on = need(l, v, "counters", "stream-on", 64);
	off = need(l, v, "counters", "stream-off", 64);
	if (on && off && off->rate > 0)
		vset(v, verdict_paired_ratio(on, off, 0),
		     "median of %u rounds; medians stream-on %.2f M, stream-off %.2f M msgs/s",
		     on->nreps, on->rate / 1e6, off->rate / 1e6);
}

/* ---- memory -------------------------------------------------------------- */

static void figures_memory(struct vlist *l)
{
	struct verdict *v = vadd(l, "memory_v2_ratio", ">=", 40, "x",
				 "64 B messages held per MiB / v2 format (248 per MiB)");
	const struct result *m = need(l, v, "memory", "shmq", 64);

	if (m)
		vset(v, result_held_per_mib(m) / VERDICT_V2_PER_MIB,
		     "%.0f per MiB (%" PRIu64 " in a %.2f MiB ring) / 248 (v2 format)",
		     result_held_per_mib(m), m->held, (double)m->ring_bytes / MIB);
}

/* ---- figures without a target -------------------------------------------- */

/* The clock read per message: time per message with timestamps less without. */
static void timestamp_cost(struct vlist *l, const char *with, const char *without,
			   const char *key_ns, const char *key_pct, const char *reader)
{
	char what[96];
	struct verdict *ns, *pct;
	const struct result *a, *b;

	snprintf(what, sizeof(what), "timestamp cost per message, exclusive, %s (ns)", reader);
	ns = vadd(l, key_ns, NULL, 0, "ns", what);
	snprintf(what, sizeof(what), "timestamp cost per message, exclusive, %s (%%)", reader);
	pct = vadd(l, key_pct, NULL, 0, "%", what);
	a = need(l, ns, "stream", with, 64);
	b = need(l, ns, "stream", without, 64);
	if (!a || !b || a->rate <= 0 || b->rate <= 0) {
		pct->state = VERDICT_SKIPPED;
		pct->not_run = ns->not_run;
		memcpy(pct->detail, ns->detail, sizeof(pct->detail));
		return;
	}
	vset(ns, 1e9 / a->rate - 1e9 / b->rate, "%.2f ns/msg with (%s) - %.2f ns/msg without (%s)",
	     1e9 / a->rate, with, 1e9 / b->rate, without);
	vset(pct, 100 * (1 - a->rate / b->rate), "of %.2f ns/msg with timestamps (%s)",
	     1e9 / a->rate, with);
}

static void figures_mixed(struct vlist *l)
{
	static const char *const name[2] = {"shmq", "shmq-excl"};
	static const char *const key[2][2] = {{"mixed_shared_msgs", "mixed_shared_mb"},
					      {"mixed_excl_msgs", "mixed_excl_mb"}};
	static const char *const mode[2] = {"shared", "exclusive"};
	struct verdict *v = vadd(l, "memory_mixed_per_mib", NULL, 0, "per MiB",
				 "mixed sizes: messages held per MiB");
	const struct result *r = need(l, v, "memory", "shmq-mixed", BENCH_MIX_LARGE);
	char what[96];

	if (r)
		vset(v, result_held_per_mib(r),
		     "%" PRIu64 " in a %.2f MiB ring (max message 64 KiB)", r->held,
		     (double)r->ring_bytes / MIB);
	for (int i = 0; i < 2; i++) {
		struct verdict *m, *b;

		snprintf(what, sizeof(what), "mixed sizes: streaming, %s, shmq_recv (msgs/s)",
			 mode[i]);
		m = vadd(l, key[i][0], NULL, 0, "M msgs/s", what);
		snprintf(what, sizeof(what), "mixed sizes: streaming, %s, shmq_recv (MB/s)",
			 mode[i]);
		b = vadd(l, key[i][1], NULL, 0, "MB/s", what);
		r = need(l, m, "mixed", name[i], BENCH_MIX_LARGE);
		if (!r) {
			b->state = VERDICT_SKIPPED;
			b->not_run = m->not_run;
			memcpy(b->detail, m->detail, sizeof(b->detail));
			continue;
		}
		vset(m, r->rate / 1e6, "mixed/%s, slowest repetition %.2f M", name[i],
		     rep_min(r) / 1e6);
		vset(b, result_bytes_rate(r) / 1e6,
		     "payload bytes; %.1f %% of them in 64 KiB messages",
		     100.0 * BENCH_MIX_LARGE / (BENCH_MIX_LARGE + 9.0 * BENCH_MIX_SMALL));
	}
}

static void figures_info(struct vlist *l)
{
	lat_ratio(l,
		  vadd(l, "spin_shared_p99_ratio", NULL, 0, "x",
		       "ping-pong spin, shared publishers: p99 / raw-spin p99"),
		  "shmq-spin", "raw-spin", 1);
	lat_ratio(l,
		  vadd(l, "iox_spin_shared_p50_ratio", NULL, 0, "x",
		       "iceoryx busy-poll p50 / shmq spin p50 (shared)"),
		  "iox-spin", "shmq-spin", 0);
	stream_ratio(l,
		     vadd(l, "publishv_excl_ratio", NULL, 0, "x",
			  "publishv batches of 32 / single messages, exclusive (shmq_poll reader)"),
		     "shmq-excl-publishv", "shmq-excl-batch");
	stream_ratio(l,
		     vadd(l, "publishv_shared_ratio", NULL, 0, "x",
			  "publishv batches of 32 / single messages, shared (shmq_poll reader)"),
		     "shmq-publishv", "shmq-batch");
	timestamp_cost(l, "shmq-excl", "shmq-excl-nots", "timestamp_recv_ns", "timestamp_recv_pct",
		       "shmq_recv");
	timestamp_cost(l, "shmq-excl-batch", "shmq-excl-batch-nots", "timestamp_poll_ns",
		       "timestamp_poll_pct", "shmq_poll");
	figures_mixed(l);
}

size_t verdicts_compute(const struct results *rs, struct verdict *out)
{
	struct vlist l = {.rs = rs, .v = out};

	figures_pingpong(&l);
	figures_fanout(&l);
	figures_stream(&l);
	figures_memory(&l);
	figures_counters(&l);
	figures_iox(&l);
	figures_info(&l);
	return l.n;
}

const char *verdict_word(enum verdict_state s)
{
	static const char *const w[] = {"PASS", "MISS", "skipped", "info"};

	return s <= VERDICT_INFO ? w[s] : "?";
}

/* ---- the report ---------------------------------------------------------- */

static const char *fmt_value(double v, const char *unit, char *buf, size_t len)
{
	if (!strcmp(unit, "x"))
		snprintf(buf, len, "%.2fx", v);
	else if (!strcmp(unit, "M msgs/s"))
		snprintf(buf, len, "%.2f M/s", v);
	else if (!strcmp(unit, "%"))
		snprintf(buf, len, "%.1f %%", v);
	else if (!strcmp(unit, "ns"))
		snprintf(buf, len, "%.2f ns", v);
	else
		snprintf(buf, len, "%.0f %s", v, unit);
	return buf;
}

void report_verdicts(FILE *f, const struct results *rs)
{
	struct verdict v[VERDICT_MAX];
	char val[48], tgt[48];
	size_t i, n = verdicts_compute(rs, v);

	fprintf(f, "acceptance figures of the v3 channel format, 64 B unless said, "
		   "from this run\n");
	fprintf(f,
		"  Design targets that guide shmq's development, each a ratio or rate from "
		"this run. MISS means a\n  figure fell short of its goal here (a busy or "
		"virtual machine often does); it is not an\n  error, and no message was lost.\n");
	fprintf(f, "  %-72s %11s %12s  %-7s  %s\n", "figure", "measured", "target", "verdict",
		"from");
	for (i = 0; i < n; i++) {
		if (v[i].state == VERDICT_INFO || (!v[i].op && v[i].state == VERDICT_SKIPPED))
			continue;
		snprintf(tgt, sizeof(tgt), "%s %s", v[i].op,
			 fmt_value(v[i].target, v[i].unit, val, sizeof(val)));
		fprintf(f, "  %-72s %11s %12s  %-7s  %s\n", v[i].what,
			v[i].state == VERDICT_SKIPPED
			    ? "-"
			    : fmt_value(v[i].value, v[i].unit, val, sizeof(val)),
			tgt, verdict_word(v[i].state), v[i].detail);
		fprintf(f, "      for: %s\n", v[i].purpose);
	}
	fputc('\n', f);
}

void report_figures(FILE *f, const struct results *rs)
{
	struct verdict v[VERDICT_MAX];
	char val[48];
	size_t i, n = verdicts_compute(rs, v), shown = 0;

	for (i = 0; i < n; i++) {
		if (v[i].op || v[i].not_run) /* --summary and --only select fewer */
			continue;
		if (!shown++)
			fprintf(f, "other figures\n");
		fprintf(f, "  %-72s %11s  %s\n", v[i].what,
			v[i].state == VERDICT_SKIPPED
			    ? "-"
			    : fmt_value(v[i].value, v[i].unit, val, sizeof(val)),
			v[i].detail);
	}
	if (shown)
		fputc('\n', f);
}
