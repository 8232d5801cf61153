/*
 * output.c - machine-readable results: JSON (built with jansson; schema
 * BENCH_JSON_SCHEMA, version BENCH_JSON_VERSION, man/shmq-bench.1), CSV with
 * one row per result, and gnuplot PNGs (percentile plot per message size,
 * throughput by size, fan-out) when gnuplot is on PATH.
 *
 * Every result appears in JSON with a "status": "ok" with its figures,
 * "skipped" or "failed" with a "reason" and no figures, so a transport that
 * is not installed is never reported as a zero. The acceptance figures of
 * verdict.c follow the results: JSON "verdicts", CSV rows of scenario
 * "verdict" (with a target) and "figure" (without). Single-threaded.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "results.h"
#include "verdict.h"

/* ---- JSON (built with jansson) ------------------------------------------ */

/* A figure: a number, or null when it is not finite (a ratio to a zero). */
static json_t *jnum(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/*
 * A string; text that is not UTF-8 (a CPU model or file system name read
 * from the system could be) keeps its ASCII and gets '?' for other bytes.
 */
static json_t *jstr(const char *s)
{
	json_t *v = json_string(s);
	char *copy;

	if (v || !s)
		return v;
	copy = strdup(s);
	for (char *p = copy; p && *p; p++)
		*p = (unsigned char)*p < 0x80 ? *p : '?';
	v = copy ? json_string(copy) : NULL;
	free(copy);
	return v;
}

static json_t *ju64(uint64_t v)
{
	return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

/* Set each key/value pair until the NULL key; 0, or -1 (o is then unusable). */
static int set_all(json_t *o, ...)
{
	va_list ap;
	const char *key;
	int err = !o;

	va_start(ap, o);
	while ((key = va_arg(ap, const char *)))
		err |= json_object_set_new(o, key, va_arg(ap, json_t *));
	va_end(ap);
	return err ? -1 : 0;
}

static json_t *json_summary(const struct hist_summary *s)
{
	json_t *o = json_object();

	if (set_all(o, "count", ju64(s->count), "min", ju64(s->min_ns), "mean", jnum(s->mean_ns),
		    "p50", ju64(s->p50_ns), "p90", ju64(s->p90_ns), "p99", ju64(s->p99_ns), "p99.9",
		    ju64(s->p999_ns), "p99.99", ju64(s->p9999_ns), "max", ju64(s->max_ns), NULL)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int json_memory(json_t *o, const struct result *r)
{
	int err = set_all(o, "held_msgs", ju64(r->held), "ring_bytes", ju64(r->ring_bytes),
			  "held_per_mib", jnum(result_held_per_mib(r)), NULL);

	if (!err && !(r->sc->flags & SC_MIXED))
		err = set_all(o, "v2_per_mib", jnum(VERDICT_V2_PER_MIB), "v2_ratio",
			      jnum(result_held_per_mib(r) / VERDICT_V2_PER_MIB), NULL);
	return err;
}

static json_t *json_rep(const struct result *r, unsigned k)
{
	json_t *o = json_object();
	int err = !o;

	if (!err && kind_has_lat(r->sc->kind))
		err = json_object_set_new(o, r->sc->kind == KIND_FANOUT ? "first_ns" : "latency_ns",
					  json_summary(&r->rep_lat[k]));
	if (!err && r->sc->kind == KIND_FANOUT)
		err = json_object_set_new(o, "last_ns", json_summary(&r->rep_lat2[k]));
	if (!err && kind_has_rate(r->sc->kind))
		err = json_object_set_new(o, "msgs_per_s", jnum(r->rep_rate[k]));
	if (!err && r->rep_bytes_rate[k] > 0)
		err = json_object_set_new(o, "mb_per_s", jnum(r->rep_bytes_rate[k] / 1e6));
	if (!err && r->sc->kind == KIND_MEMORY)
		err = json_object_set_new(o, "held_msgs", ju64(r->rep_held[k]));
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int json_figures(json_t *o, const struct result *r)
{
	json_t *reps = json_array();
	int err = !reps;

	if (!err && kind_has_lat(r->sc->kind))
		err = json_object_set_new(o, r->sc->kind == KIND_FANOUT ? "first_ns" : "latency_ns",
					  json_summary(&r->lat));
	if (!err && r->sc->kind == KIND_FANOUT)
		err = json_object_set_new(o, "last_ns", json_summary(&r->lat2));
	if (!err && kind_has_rate(r->sc->kind))
		err = set_all(o, "msgs_per_s", jnum(r->rate), "gb_per_s",
			      jnum(result_bytes_rate(r) / 1e9), "mb_per_s",
			      jnum(result_bytes_rate(r) / 1e6), NULL);
	if (!err && r->sc->kind == KIND_FANOUT)
		err = json_object_set_new(o, "delivered", jnum(r->delivered));
	if (!err && r->sc->kind == KIND_MEMORY)
		err = json_memory(o, r);
	for (unsigned k = 0; !err && k < r->nreps; k++)
		err = json_array_append_new(reps, json_rep(r, k));
	if (err) {
		json_decref(reps);
		return -1;
	}
	return json_object_set_new(o, "per_rep", reps);
}

static json_t *json_result(const struct result *r)
{
	static const char *const status[] = {"ok", "skipped", "failed"};
	json_t *o = json_object();
	int err = set_all(o, "scenario", jstr(r->sc->group), "transport", jstr(r->sc->name), "kind",
			  jstr(r->sc->is_shmq ? "shmq" : "baseline"), "size_bytes",
			  ju64(r->size_bytes), NULL);

	if (!err && (r->sc->flags & SC_MIXED))
		err = json_object_set_new(
		    o, "workload", jstr("mixed: 90% 64 B, 10% 64 KiB (every tenth), max 64 KiB"));
	if (!err && r->sc->kind == KIND_FANOUT)
		err = json_object_set_new(o, "subscribers", ju64(r->nsubs));
	if (!err)
		err = json_object_set_new(o, "status", jstr(status[r->status]));
	if (!err && r->status == RES_OK && r->note[0])
		err = json_object_set_new(o, "note", jstr(r->note));
	if (!err && r->status != RES_OK)
		err = json_object_set_new(o, "reason", jstr(r->reason));
	else if (!err)
		err = set_all(o, "reps", ju64(r->nreps), "iters", ju64(r->iters), "warmup",
			      ju64(r->warmup), NULL) ||
		      json_figures(o, r);
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *json_verdict(const struct verdict *v)
{
	json_t *o = json_object();
	int err = set_all(o, "key", jstr(v->key), "figure", jstr(v->what), "verdict",
			  jstr(verdict_word(v->state)), NULL);

	if (!err && v->state != VERDICT_SKIPPED)
		err = json_object_set_new(o, "value", jnum(v->value));
	if (!err)
		err = json_object_set_new(o, "unit", jstr(v->unit));
	if (!err && v->op)
		err = set_all(o, "op", jstr(v->op), "target", jnum(v->target), "purpose",
			      jstr(v->purpose), NULL);
	if (!err)
		err = json_object_set_new(o, v->state == VERDICT_SKIPPED ? "reason" : "detail",
					  jstr(v->detail));
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *json_run_info(const struct run_info *in, json_t **config)
{
	json_t *machine = json_object();

	*config = json_object();
	if (set_all(machine, "cpu_model", jstr(in->cpu_model), "kernel", jstr(in->kernel),
		    "disk_fs", jstr(in->disk_fs), "ncpus", json_integer(in->ncpus), NULL) ||
	    set_all(*config, "clock", jstr("CLOCK_MONOTONIC"), "latency",
		    jstr("one-way = round trip / 2"), "cpu_a", json_integer(in->cpu[0]), "cpu_b",
		    json_integer(in->cpu[1]), "reps", ju64(in->reps), "quick",
		    json_integer(in->quick), "rate_per_s", ju64(in->rate_per_s), NULL)) {
		json_decref(machine);
		json_decref(*config);
		*config = NULL;
		return NULL;
	}
	return machine;
}

/* The whole document; NULL when out of memory. */
static json_t *json_doc(const struct results *rs)
{
	const struct run_info *in = &rs->info;
	struct verdict v[VERDICT_MAX];
	size_t n = verdicts_compute(rs, v);
	json_t *o = json_object(), *results = json_array(), *verdicts = json_array(), *config;
	json_t *machine = json_run_info(in, &config);
	int err = !results || !verdicts;

	for (size_t i = 0; !err && i < rs->n; i++)
		err = json_array_append_new(results, json_result(&rs->v[i]));
	for (size_t i = 0; !err && i < n; i++)
		err = json_array_append_new(verdicts, json_verdict(&v[i]));
	err |= set_all(o, "schema", jstr(BENCH_JSON_SCHEMA), "schema_version",
		       json_integer(BENCH_JSON_VERSION), "tool", jstr("shmq-bench"), "version",
		       jstr(in->version), "started", jstr(in->started), "machine", machine,
		       "config", config, "results", results, "verdicts", verdicts, NULL);
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int output_json(const char *path, const struct results *rs)
{
	json_t *doc = json_doc(rs);
	FILE *f;
	int err;

	if (!doc)
		return -ENOMEM;
	f = fopen(path, "w");
	if (!f) {
		json_decref(doc);
		return -errno;
	}
	err = json_dumpf(doc, f, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) || fputc('\n', f) == EOF;
	json_decref(doc);
	if (fclose(f) || err)
		return errno ? -errno : -EIO;
	return 0;
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
