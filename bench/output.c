/*
 * output.c - machine-readable results: JSON (a small writer of our own),
 * CSV with one row per result, and gnuplot PNGs (percentile plot per message
 * size, throughput by size, fan-out) when gnuplot is on PATH.
 *
 * Every result appears in JSON with a "status": "ok" with its figures,
 * "skipped" or "failed" with a "reason" and no figures, so a transport that
 * is not installed is never reported as a zero. The acceptance figures of
 * verdict.c follow the results: JSON "verdicts", CSV rows of scenario
 * "verdict" (with a target) and "figure" (without). Single-threaded.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "results.h"
#include "verdict.h"

/* ---- a small JSON writer ----------------------------------------------- */

struct json {
	FILE *f;
	int depth;
	int first[16]; /* nothing written yet at this depth */
};

static void json_sep(struct json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = 0;
	fprintf(j->f, "\n%*s", 2 * j->depth, "");
	if (!key)
		return;
	fputc('"', j->f);
	for (; *key; key++) {
		if (*key == '"' || *key == '\\')
			fputc('\\', j->f);
		if ((unsigned char)*key < 0x20)
			fprintf(j->f, "\\u%04x", *key);
		else
			fputc(*key, j->f);
	}
	fputs("\": ", j->f);
}

static void json_open(struct json *j, const char *key, char bracket)
{
	json_sep(j, key);
	fputc(bracket, j->f);
	j->first[++j->depth] = 1;
}

static void json_close(struct json *j, char bracket)
{
	j->depth--;
	fprintf(j->f, "\n%*s%c", 2 * j->depth, "", bracket);
}

static void json_str(struct json *j, const char *key, const char *v)
{
	json_sep(j, key);
	fputc('"', j->f);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fprintf(j->f, "\\%c", *v);
		else if ((unsigned char)*v < 0x20)
			fprintf(j->f, "\\u%04x", *v);
		else
			fputc(*v, j->f);
	}
	fputc('"', j->f);
}

static void json_u64(struct json *j, const char *key, uint64_t v)
{
	json_sep(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

static void json_num(struct json *j, const char *key, double v)
{
	json_sep(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.6g", v);
	else
		fputs("null", j->f);
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_summary(struct json *j, const char *key, const struct hist_summary *s)
{
	json_open(j, key, '{');
	json_u64(j, "count", s->count);
	json_u64(j, "min", s->min_ns);
	json_num(j, "mean", s->mean_ns);
	json_u64(j, "p50", s->p50_ns);
	json_u64(j, "p90", s->p90_ns);
	json_u64(j, "p99", s->p99_ns);
	json_u64(j, "p99.9", s->p999_ns);
	json_u64(j, "p99.99", s->p9999_ns);
	json_u64(j, "max", s->max_ns);
	json_close(j, '}');
}

static void json_memory(struct json *j, const struct result *r)
{
	json_u64(j, "held_msgs", r->held);
	json_u64(j, "ring_bytes", r->ring_bytes);
	json_num(j, "held_per_mib", result_held_per_mib(r));
	if (!(r->sc->flags & SC_MIXED)) {
		json_num(j, "v2_per_mib", VERDICT_V2_PER_MIB);
		json_num(j, "v2_ratio", result_held_per_mib(r) / VERDICT_V2_PER_MIB);
	}
}

static void json_rep(struct json *j, const struct result *r, unsigned k)
{
	json_open(j, NULL, '{');
	if (kind_has_lat(r->sc->kind))
		json_summary(j, r->sc->kind == KIND_FANOUT ? "first_ns" : "latency_ns",
			     &r->rep_lat[k]);
	if (r->sc->kind == KIND_FANOUT)
		json_summary(j, "last_ns", &r->rep_lat2[k]);
	if (kind_has_rate(r->sc->kind))
		json_num(j, "msgs_per_s", r->rep_rate[k]);
	if (r->rep_bytes_rate[k] > 0)
		json_num(j, "mb_per_s", r->rep_bytes_rate[k] / 1e6);
	if (r->sc->kind == KIND_MEMORY)
		json_u64(j, "held_msgs", r->rep_held[k]);
	json_close(j, '}');
}

static void json_figures(struct json *j, const struct result *r)
{
	unsigned k;

	if (kind_has_lat(r->sc->kind))
		json_summary(j, r->sc->kind == KIND_FANOUT ? "first_ns" : "latency_ns", &r->lat);
	if (r->sc->kind == KIND_FANOUT)
		json_summary(j, "last_ns", &r->lat2);
	if (kind_has_rate(r->sc->kind)) {
		json_num(j, "msgs_per_s", r->rate);
		json_num(j, "gb_per_s", result_bytes_rate(r) / 1e9);
		json_num(j, "mb_per_s", result_bytes_rate(r) / 1e6);
	}
	if (r->sc->kind == KIND_FANOUT)
		json_num(j, "delivered", r->delivered);
	if (r->sc->kind == KIND_MEMORY)
		json_memory(j, r);
	json_open(j, "per_rep", '[');
	for (k = 0; k < r->nreps; k++)
		json_rep(j, r, k);
	json_close(j, ']');
}

static void json_result(struct json *j, const struct result *r)
{
	static const char *const status[] = {"ok", "skipped", "failed"};

	json_open(j, NULL, '{');
	json_str(j, "scenario", r->sc->group);
	json_str(j, "transport", r->sc->name);
	json_str(j, "kind", r->sc->is_shmq ? "shmq" : "baseline");
	json_u64(j, "size_bytes", r->size_bytes);
	if (r->sc->flags & SC_MIXED)
		json_str(j, "workload", "mixed: 90% 64 B, 10% 64 KiB (every tenth), max 64 KiB");
	if (r->sc->kind == KIND_FANOUT)
		json_u64(j, "subscribers", r->nsubs);
	json_str(j, "status", status[r->status]);
	if (r->status != RES_OK) {
		json_str(j, "reason", r->reason);
	} else {
		json_u64(j, "reps", r->nreps);
		json_u64(j, "iters", r->iters);
		json_u64(j, "warmup", r->warmup);
		json_figures(j, r);
	}
	json_close(j, '}');
}

static void json_verdicts(struct json *j, const struct results *rs)
{
	struct verdict v[VERDICT_MAX];
	size_t i, n = verdicts_compute(rs, v);

	json_open(j, "verdicts", '[');
	for (i = 0; i < n; i++) {
		json_open(j, NULL, '{');
		json_str(j, "key", v[i].key);
		json_str(j, "figure", v[i].what);
		json_str(j, "verdict", verdict_word(v[i].state));
		if (v[i].state != VERDICT_SKIPPED)
			json_num(j, "value", v[i].value);
		json_str(j, "unit", v[i].unit);
		if (v[i].op) {
			json_str(j, "op", v[i].op);
			json_num(j, "target", v[i].target);
		}
		json_str(j, v[i].state == VERDICT_SKIPPED ? "reason" : "detail", v[i].detail);
		json_close(j, '}');
	}
	json_close(j, ']');
}

int output_json(const char *path, const struct results *rs)
{
	const struct run_info *in = &rs->info;
	struct json j = {.first = {1}};
	size_t i;

	j.f = fopen(path, "w");
	if (!j.f)
		return -errno;
	fputc('{', j.f);
	j.depth = 1;
	j.first[1] = 1;
	json_str(&j, "tool", "shmq-bench");
	json_str(&j, "version", in->version);
	json_str(&j, "started", in->started);
	json_open(&j, "machine", '{');
	json_str(&j, "cpu_model", in->cpu_model);
	json_str(&j, "kernel", in->kernel);
	json_str(&j, "disk_fs", in->disk_fs);
	json_u64(&j, "ncpus", (uint64_t)in->ncpus);
	json_close(&j, '}');
	json_open(&j, "config", '{');
	json_str(&j, "clock", "CLOCK_MONOTONIC");
	json_str(&j, "latency", "one-way = round trip / 2");
	json_u64(&j, "cpu_a", (uint64_t)in->cpu[0]);
	json_u64(&j, "cpu_b", (uint64_t)in->cpu[1]);
	json_u64(&j, "reps", in->reps);
	json_u64(&j, "quick", (uint64_t)in->quick);
	json_u64(&j, "rate_per_s", in->rate_per_s);
	json_close(&j, '}');
	json_open(&j, "results", '[');
	for (i = 0; i < rs->n; i++)
		json_result(&j, &rs->v[i]);
	json_close(&j, ']');
	json_verdicts(&j, rs);
	fputs("\n}\n", j.f);
	return fclose(j.f) ? -errno : 0;
}

/* ---- CSV ----------------------------------------------------------------- */

static void csv_summary(FILE *f, const struct hist_summary *s, int have)
{
	if (!have) {
		fputs(",,,,,,,,", f);
		return;
	}
	fprintf(f,
		",%" PRIu64 ",%.1f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		",%" PRIu64,
		s->min_ns, s->mean_ns, s->p50_ns, s->p90_ns, s->p99_ns, s->p999_ns, s->p9999_ns,
		s->max_ns);
}

/* Our own text: no quotes or newlines; commas become ';'. */
static void csv_text(FILE *f, const char *p)
{
	for (; *p; p++)
		fputc(*p == ',' ? ';' : *p, f);
}

/* The figures of verdict.c, as rows "verdict" (with a target) or "figure". */
static void csv_verdicts(FILE *f, const struct results *rs)
{
	struct verdict v[VERDICT_MAX];
	size_t i, n = verdicts_compute(rs, v);

	for (i = 0; i < n; i++) {
		fprintf(f, "%s,%s,%s,0,0,%s,,", v[i].op ? "verdict" : "figure", v[i].key,
			v[i].op ? "target" : "info",
			v[i].state == VERDICT_SKIPPED ? "skipped" : "ok");
		fputs(",,,,,,,,,,,,,,,,,,,,,,,", f); /* latency, rates, memory */
		if (v[i].state != VERDICT_SKIPPED)
			fprintf(f, "%.6g", v[i].value);
		fputc(',', f);
		csv_text(f, v[i].unit);
		fputc(',', f);
		if (v[i].op)
			fprintf(f, "%s %.6g", v[i].op, v[i].target);
		fprintf(f, ",%s,", verdict_word(v[i].state));
		csv_text(f, v[i].what);
		fputs(": ", f);
		csv_text(f, v[i].detail);
		fputc('\n', f);
	}
}

int output_csv(const char *path, const struct results *rs)
{
	static const char *const status[] = {"ok", "skipped", "failed"};
	FILE *f = fopen(path, "w");
	size_t i;

	if (!f)
		return -errno;
	fputs("scenario,transport,kind,size_bytes,subscribers,status,reps,iters,"
	      "min_ns,mean_ns,p50_ns,p90_ns,p99_ns,p999_ns,p9999_ns,max_ns,"
	      "last_min_ns,last_mean_ns,last_p50_ns,last_p90_ns,last_p99_ns,last_p999_ns,"
	      "last_p9999_ns,last_max_ns,msgs_per_s,gb_per_s,mb_per_s,"
	      "held_msgs,ring_bytes,held_per_mib,value,unit,target,verdict,reason\n",
	      f);
	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];
		int ok = r->status == RES_OK;

		fprintf(f, "%s,%s,%s,%u,%u,%s,%u,%" PRIu64, r->sc->group, r->sc->name,
			r->sc->is_shmq ? "shmq" : "baseline", r->size_bytes, r->nsubs,
			status[r->status], r->nreps, r->iters);
		csv_summary(f, &r->lat, ok && kind_has_lat(r->sc->kind));
		csv_summary(f, &r->lat2, ok && r->sc->kind == KIND_FANOUT);
		if (ok && kind_has_rate(r->sc->kind))
			fprintf(f, ",%.0f,%.4f,%.1f", r->rate, result_bytes_rate(r) / 1e9,
				result_bytes_rate(r) / 1e6);
		else
			fputs(",,,", f);
		if (ok && r->sc->kind == KIND_MEMORY)
			fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%.1f", r->held, r->ring_bytes,
				result_held_per_mib(r));
		else
			fputs(",,,", f);
		fputs(",,,,,", f); /* value, unit, target, verdict: verdict rows only */
		csv_text(f, ok ? "" : r->reason);
		fputc('\n', f);
	}
	csv_verdicts(f, rs);
	return fclose(f) ? -errno : 0;
}

/* ---- plots --------------------------------------------------------------- */

static int gnuplot_found(void)
{
	const char *path = getenv("PATH");
	char buf[4096];
	const char *p, *e;

	for (p = path ? path : "/usr/bin:/bin"; *p; p = *e ? e + 1 : e) {
		e = strchr(p, ':');
		if (!e)
			e = p + strlen(p);
		snprintf(buf, sizeof(buf), "%.*s/gnuplot", (int)(e - p), p);
		if (e > p && access(buf, X_OK) == 0)
			return 1;
	}
	return 0;
}

/*
 * Percentile plot data, HdrHistogram style: x = 1 / (1 - p) on a log axis, so
 * 90 %, 99 %, 99.9 % are evenly spaced; y = the bucket's top value in ns.
 */
static int plot_percentiles(const char *dir, const struct result *r)
{
	uint64_t seen = 0;
	char path[4096];
	double p;
	unsigned i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/lat_%u_%s.dat", dir, r->size_bytes, r->sc->name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	for (i = 0; i < HIST_NBUCKETS; i++) {
		if (!r->all->counts[i])
			continue;
		seen += r->all->counts[i];
		p = (double)seen / (double)r->all->count;
		if (p >= 1.0) /* the last point: plot the max at 1 - 1/count */
			p = 1.0 - 1.0 / (double)r->all->count;
		fprintf(f, "%.9g %" PRIu64 "\n", 1.0 / (1.0 - p),
			i == HIST_NBUCKETS - 1 ? r->all->max_ns : hist_bucket_high(i));
	}
	return fclose(f) ? -errno : 0;
}

static void plot_latency_script(FILE *g, const char *dir, const struct results *rs, uint32_t size)
{
	const char *sep = "plot ";
	size_t i;

	fprintf(g, "set output '%s/latency_%u.png'\n", dir, size);
	fprintf(g, "set title 'ping-pong one-way latency, %u B (all repetitions)'\n", size);
	fputs("set logscale xy\nset xlabel 'percentile'\nset ylabel 'ns'\n"
	      "set xtics ('0%%' 1, '50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, "
	      "'99.99%%' 10000, '99.999%%' 100000)\nset key outside right\n",
	      g);
	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		if (strcmp(r->sc->group, "pingpong") || r->size_bytes != size ||
		    r->status != RES_OK)
			continue;
		fprintf(g, "%s'%s/lat_%u_%s.dat' using 1:2 with steps lw 2 title '%s'", sep, dir,
			size, r->sc->name, r->sc->name);
		sep = ", \\\n     ";
	}
	fputs("\nunset xtics\nset xtics auto\n", g);
}

static int plot_stream_data(const char *dir, const struct results *rs, FILE *g)
{
	const char *sep = "plot ";
	char path[4096];
	size_t i, k;
	FILE *f;

	fprintf(g,
		"set output '%s/stream.png'\nset title 'streaming throughput by size'\n"
		"set logscale xy\nset xlabel 'message bytes'\nset ylabel 'messages/s'\n"
		"set key outside right\n",
		dir);
	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		/* one-size scenarios (batches, timestamps) are a point, not a curve */
		if (strcmp(r->sc->group, "stream") || r->status != RES_OK || r->sc->fixed_size)
			continue;
		for (k = 0; k < i && (rs->v[k].sc != r->sc || rs->v[k].status != RES_OK); k++)
			;
		if (k < i) /* this transport's file is written already */
			continue;
		snprintf(path, sizeof(path), "%s/stream_%s.dat", dir, r->sc->name);
		f = fopen(path, "w");
		if (!f)
			return -errno;
		for (k = i; k < rs->n; k++)
			if (rs->v[k].sc == r->sc && rs->v[k].status == RES_OK)
				fprintf(f, "%u %.0f %.4f\n", rs->v[k].size_bytes, rs->v[k].rate,
					rs->v[k].rate * rs->v[k].size_bytes / 1e9);
		fclose(f);
		fprintf(g, "%s'%s' using 1:2 with linespoints lw 2 title '%s'", sep, path,
			r->sc->name);
		sep = ", \\\n     ";
	}
	fputc('\n', g);
	return 0;
}

static int plot_fanout_data(const char *dir, const struct results *rs, FILE *g)
{
	char path[4096];
	size_t i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/fanout.dat", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		if (r->sc->kind == KIND_FANOUT && r->status == RES_OK)
			fprintf(f, "%u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %.0f\n",
				r->nsubs, r->lat.p50_ns, r->lat.p99_ns, r->lat2.p50_ns,
				r->lat2.p99_ns, r->rate);
	}
	fclose(f);
	fprintf(g,
		"set output '%s/fanout.png'\nset title 'fan-out to sleeping subscribers'\n"
		"unset logscale\nset logscale y\nset xlabel 'subscribers'\n"
		"set ylabel 'ns'\nset y2label 'publisher messages/s'\nset y2tics\n"
		"set key outside right\n"
		"plot '%s' using 1:2 with linespoints title 'first p50', "
		"'' using 1:3 with linespoints title 'first p99', "
		"'' using 1:4 with linespoints title 'last p50', "
		"'' using 1:5 with linespoints title 'last p99', "
		"'' using 1:6 axes x1y2 with linespoints lw 2 title 'publisher msgs/s'\n",
		dir, path);
	return 0;
}

static int plot_all(const char *dir, const struct results *rs, FILE *g)
{
	uint32_t sizes[32];
	size_t i, n = 0, k;
	int err, have_stream = 0, have_fanout = 0;

	for (i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];

		have_stream |= !strcmp(r->sc->group, "stream") && r->status == RES_OK;
		have_fanout |= r->sc->kind == KIND_FANOUT && r->status == RES_OK;
		if (strcmp(r->sc->group, "pingpong") || r->status != RES_OK)
			continue;
		err = plot_percentiles(dir, r);
		if (err)
			return err;
		for (k = 0; k < n && sizes[k] != r->size_bytes; k++)
			;
		if (k == n && n < 32)
			sizes[n++] = r->size_bytes;
	}
	fputs("set terminal pngcairo size 1100,650 noenhanced\nset grid\n", g);
	for (k = 0; k < n; k++)
		plot_latency_script(g, dir, rs, sizes[k]);
	err = have_stream ? plot_stream_data(dir, rs, g) : 0;
	if (!err && have_fanout)
		err = plot_fanout_data(dir, rs, g);
	return err;
}

int output_plots(const char *dir, const struct results *rs)
{
	char path[4096], cmd[8192];
	FILE *g;
	int err;

	if (!gnuplot_found()) {
		fprintf(stderr, "shmq-bench: plots skipped (gnuplot not found on PATH)\n");
		return 0;
	}
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/plots.gp", dir);
	g = fopen(path, "w");
	if (!g)
		return -errno;
	err = plot_all(dir, rs, g);
	if (fclose(g) && !err)
		err = -errno;
	if (err)
		return err;
	snprintf(cmd, sizeof(cmd), "gnuplot '%s'", path);
	if (system(cmd) != 0) {
		fprintf(stderr, "shmq-bench: gnuplot failed on %s\n", path);
		return -EIO;
	}
	fprintf(stderr, "shmq-bench: plots written to %s\n", dir);
	return 0;
}
