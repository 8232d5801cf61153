/*
 * stat_print.c - shmq-stat's outputs of one refresh (see stat.h): the text
 * snapshot (--once), the live frame (80 columns), JSON (schema version
 * STAT_SCHEMA_VERSION, docs/STATS.md) and the Prometheus text exposition
 * format. Names and command names come from other users: JSON (built with
 * jansson) gets valid UTF-8, label values are escaped, the terminal gets
 * only printable ASCII.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stat.h"
#include "utf8.h"

/* ---- helpers ---- */

/* "12.3k", "4.5M": a count in at most 6 columns. */
static const char *human(double v, char *buf, size_t len)
{
	static const char units[] = " kMGTP";
	unsigned u = 0;

	while (v >= 999.95 && u < sizeof(units) - 2) {
		v /= 1000;
		u++;
	}
	if (!u)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
	return buf;
}

/* "850ns", "12us", "3.4ms", "2.0s". */
static const char *human_ns(uint64_t ns, char *buf, size_t len)
{
	if (!ns)
		snprintf(buf, len, "-");
	else if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.0fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.1fms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.1fs", (double)ns / 1e9);
	return buf;
}

static const char *human_dur(uint64_t s, char *buf, size_t len)
{
	if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s / 3600 % 24);
	return buf;
}

/* A name for the terminal: printable ASCII, cut to width with '~'. */
static const char *tty_name(const char *in, unsigned width, char *buf, size_t len)
{
	size_t n = strlen(in), i;

	for (i = 0; i < n && i + 1 < len && i < width; i++)
		buf[i] = in[i] > 0x20 && in[i] < 0x7f ? in[i] : '?';
	if (n > width && width)
		buf[width - 1] = '~';
	buf[i] = 0;
	return buf;
}

static const char *err_word(int err)
{
	switch (-err) {
	case SHMQ_EPERM:
		return "no access";
	case SHMQ_ENOENT:
		return "gone";
	case SHMQ_ECORRUPT:
		return "CORRUPT";
	case SHMQ_EVERSION:
		return "newer format";
	default:
		return shmq_errname(err);
	}
}

static uint64_t uptime_s(const struct stat_state *s)
{
	return s->d.now_ns > s->d.started_ns ? (s->d.now_ns - s->d.started_ns) / 1000000000u : 0;
}

static void daemon_line(FILE *f, const struct stat_state *s)
{
	char up[32];

	if (!s->daemon_up) {
		fprintf(f, "daemon %s: %s; showing the %u channel(s) already open\n",
			s->daemon_err == -SHMQ_ETIMEDOUT ? "not answering" : "unreachable",
			shmq_strerror(s->daemon_err), s->n);
		return;
	}
	if (!s->have_dstats) {
		fprintf(f, "daemon: up (counters not available from this daemon)\n");
		return;
	}
	fprintf(f,
		"daemon up %s  channels %u  clients %u  repairs %" PRIu64 "  denials %" PRIu64
		"  proto errors %" PRIu64 "\n",
		human_dur(uptime_s(s), up, sizeof(up)), s->d.channels, s->d.clients, s->d.repairs,
		s->d.denials, s->d.proto_errors);
}

/* ---- the live view and the text snapshot ---- */

static void chan_hdr(FILE *f)
{
	fprintf(f, "%-22s %8s %7s %7s  %8s %3s %3s %3s %8s\n", "CHANNEL", "MSG/S", "MiB/S", "DEPTH",
		"DROPS", "PUB", "SUB", "MON", "P99 LAT");
}

static void reader_hdr(FILE *f)
{
	fprintf(f, "%s %5s  %-18s %6s %-10s %6s %8s %8s %7s\n", " ", "SLOT", "CHANNEL", "PID",
		"WAIT", "LAG", "RECV/S", "LOST", "SLEEPS");
}

static void chan_row(FILE *f, const struct stat_chan *ch, bool colour)
{
	char name[32], r[16], d[16], dr[16], lat[16];
	const char *mark = ch->depth_trend > 0 ? "+" : " ";

	tty_name(ch->name, 22, name, sizeof(name));
	if (!ch->have) {
		fprintf(f, "%-22s  %-55s\n", name, err_word(ch->err));
		return;
	}
	if (colour && ch->depth_trend > 0)
		fputs("\033[1;33m", f);
	fprintf(f, "%-22s %8s %7.2f %7s%s %8s %3u %3u %3u %8s\n", name,
		ch->rated ? human(ch->msg_rate, r, sizeof(r)) : "-",
		ch->byte_rate / (1024.0 * 1024.0), human((double)ch->depth_messages, d, sizeof(d)),
		mark, human((double)ch->drops, dr, sizeof(dr)), ch->st.npubs, ch->st.nreaders,
		ch->ext.monitors,
		human_ns(stat_lat_quantile(&ch->ext.latency, 0.99), lat, sizeof(lat)));
	if (colour && ch->depth_trend > 0)
		fputs("\033[0m", f);
}

static void reader_row(FILE *f, const struct stat_chan *ch, uint32_t r, bool colour)
{
	const struct shmq_mon_reader *rd = &ch->st.readers[r];
	bool slow = (int)r == ch->slowest && rd->lag_messages > 0;
	char name[32], lag[16], rate[16], lost[16], sl[16];

	if (colour && slow)
		fputs("\033[1;31m", f);
	fprintf(f, "%s %5u  %-18s %6u %-10s %6s %8s %8s %7s\n", slow ? "*" : " ", rd->slot,
		tty_name(ch->name, 18, name, sizeof(name)), rd->pid, stat_wait_name(rd->wait),
		human((double)rd->lag_messages, lag, sizeof(lag)),
		ch->rated ? human(ch->recv_rate[r], rate, sizeof(rate)) : "-",
		human((double)(rd->lost_overrun + rd->lost_abandoned), lost, sizeof(lost)),
		human((double)rd->sleeps, sl, sizeof(sl)));
	if (colour && slow)
		fputs("\033[0m", f);
}

struct reader_ref {
	const struct stat_chan *ch;
	uint32_t r;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct reader_ref *x = a, *y = b;
	uint64_t lx = x->ch->st.readers[x->r].lag_messages,
		 ly = y->ch->st.readers[y->r].lag_messages;
	int c = strcmp(x->ch->name, y->ch->name);

	if (lx != ly)
		return lx > ly ? -1 : 1;
	return c ? c : (int)x->ch->st.readers[x->r].slot - (int)y->ch->st.readers[y->r].slot;
}

/* Readers of every channel, the most behind first; up to max rows. */
static void readers_by_lag(FILE *f, const struct stat_state *s, unsigned max, bool colour)
{
	struct reader_ref *refs = calloc((size_t)s->n * SHMQ_MAX_READERS + 1, sizeof(*refs));
	size_t n = 0;

	if (!refs)
		return;
	for (uint32_t i = 0; i < s->n; i++)
		for (uint32_t r = 0; s->ch[i]->have && r < s->ch[i]->st.nreaders; r++)
			refs[n++] = (struct reader_ref){s->ch[i], r};
	qsort(refs, n, sizeof(*refs), ref_cmp);
	for (size_t i = 0; i < n && i < max; i++)
		reader_row(f, refs[i].ch, refs[i].r, colour);
	free(refs);
}

/* A line for each channel with readers stuck at a bad record; the lines printed. */
/* One line per consumer group: its members, pending, redelivered and dead messages. */
static unsigned group_lines(FILE *f, const struct stat_state *s)
{
	char name[32], group[32];
	unsigned n = 0;

	for (uint32_t i = 0; i < s->n; i++) {
		const struct stat_chan *ch = s->ch[i];

		for (uint32_t k = 0; ch->have && k < ch->ngroups; k++) {
			const struct shmq_group_info *g = &ch->groups[k];

			tty_name(ch->name, 22, name, sizeof(name));
			tty_name(g->name, 16, group, sizeof(group));
			fprintf(f,
				"GROUP %s/%s: members=%u pending=%" PRIu64 " delivered=%" PRIu64
				" redelivered=%" PRIu64 " acked=%" PRIu64 " dead=%" PRIu64
				" lost=%" PRIu64 "\n",
				name, group, g->members,
				g->dispatch > g->floor ? g->dispatch - g->floor : 0, g->delivered,
				g->redelivered, g->acked, g->dead, g->lost);
			n++;
		}
	}
	return n;
}

static unsigned bad_lines(FILE *f, const struct stat_state *s)
{
	unsigned n = 0;
	char name[32];

	for (uint32_t i = 0; i < s->n; i++) {
		const struct stat_chan *ch = s->ch[i];

		if (!ch->have || !ch->ext.bad_readers)
			continue;
		tty_name(ch->name, 22, name, sizeof(name));
		fprintf(f, "BAD %s: %u reader%s stuck at a record it cannot parse (shmq repair)\n",
			name, ch->ext.bad_readers, ch->ext.bad_readers == 1 ? "" : "s");
		n++;
	}
	return n;
}

/* Pattern subscriptions: who, the pattern, and how many channels it reads now. */
static void patterns_text(FILE *f, const struct stat_state *s)
{
	if (!s->npatterns)
		return;
	fprintf(f, "%-8s %6s %8s  %s\n", "PATTERN", "PID", "CHANNELS", "SUBJECT");
	for (uint32_t i = 0; i < s->npatterns; i++)
		fprintf(f, "%-8s %6u %8u  %s\n", "", s->patterns[i].pid, s->patterns[i].channels,
			s->patterns[i].pattern);
}

/* The live view's line of pattern subscriptions (the first four); the lines it took. */
static unsigned patterns_line(FILE *f, const struct stat_state *s)
{
	if (!s->npatterns)
		return 0;
	fprintf(f, "patterns %u:", s->npatterns);
	for (uint32_t i = 0; i < s->npatterns && i < 4; i++)
		fprintf(f, "  %s (pid %u, %u channels)", s->patterns[i].pattern, s->patterns[i].pid,
			s->patterns[i].channels);
	fputs(s->npatterns > 4 ? "  ...\n" : "\n", f);
	return 1;
}

void stat_print_live(FILE *f, const struct stat_state *s, enum stat_sort key, bool colour,
		     unsigned rows, bool paused)
{
	char tbuf[16];
	time_t t = (time_t)(s->now_ns / 1000000000u);
	struct tm tm;
	unsigned used = 5, nch;

	localtime_r(&t, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	fputs("\033[H\033[2J", f);
	fprintf(f, "shmq-stat %s  sort: %-5s  %s  (s: sort, p: pause, q: quit)\n", tbuf,
		stat_sort_name(key), paused ? "PAUSED" : "      ");
	daemon_line(f, s);
	used += patterns_line(f, s);
	fputs("\n", f);
	if (colour)
		fputs("\033[7m", f);
	chan_hdr(f);
	if (colour)
		fputs("\033[0m", f);
	nch = s->n;
	if (rows > used + 4 && nch > (rows - used) / 2)
		nch = (rows - used) / 2;
	for (uint32_t i = 0; i < nch; i++)
		chan_row(f, s->ch[i], colour);
	if (!s->n)
		fputs("(no channels)\n", f);
	used += nch + 2 + bad_lines(f, s);
	used += group_lines(f, s);
	fputs("\n", f);
	if (colour)
		fputs("\033[7m", f);
	reader_hdr(f);
	if (colour)
		fputs("\033[0m", f);
	readers_by_lag(f, s, rows > used + 1 ? rows - used - 1 : 1, colour);
	fflush(f);
}

void stat_print_text(FILE *f, const struct stat_state *s)
{
	daemon_line(f, s);
	chan_hdr(f);
	for (uint32_t i = 0; i < s->n; i++)
		chan_row(f, s->ch[i], false);
	if (!s->n)
		fputs("(no channels)\n", f);
	bad_lines(f, s);
	group_lines(f, s);
	reader_hdr(f);
	readers_by_lag(f, s, UINT32_MAX, false);
	patterns_text(f, s);
}

/* ---- JSON ---- */

/*
 * Built with jansson. Counters are numbers (a value above 2^63 - 1, which
 * only garbage in shared memory could hold, is written as a real); a
 * command name, from /proc, is UTF-8 with each invalid byte as U+FFFD.
 */
static json_t *ju64(uint64_t v)
{
	return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

/* A rate or an interval: three decimals, or null when there is none. */
static json_t *jrate(bool have, double v)
{
	return have && isfinite(v) ? json_real(round(v * 1000) / 1000) : json_null();
}

static json_t *json_lat(const struct shmq_mon_latency *h)
{
	json_t *counts = json_array();

	for (unsigned k = 0; counts && k < SHMQ_LAT_BUCKETS; k++)
		json_array_append_new(counts, ju64(h->buckets[k]));
	return json_pack("{s:o, s:o, s:o}", "samples", ju64(h->samples), "sum_ns", ju64(h->sum_ns),
			 "counts", counts);
}

static json_t *json_reader(const struct stat_chan *ch, uint32_t r)
{
	const struct shmq_mon_reader *rd = &ch->st.readers[r];
	json_t *o;

	o = json_pack("{s:I, s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, "
		      "s:o}",
		      "slot", (json_int_t)rd->slot, "pid", (json_int_t)rd->pid, "uid",
		      (json_int_t)rd->uid, "wait", stat_wait_name(rd->wait), "offset",
		      ju64(rd->offset), "lag_messages", ju64(rd->lag_messages), "lag_bytes",
		      ju64(rd->lag_bytes), "received", ju64(rd->received), "lost_overrun",
		      ju64(rd->lost_overrun), "lost_abandoned", ju64(rd->lost_abandoned), "sleeps",
		      ju64(rd->sleeps), "wakeups", ju64(rd->wakeups), "slowest",
		      (int)r == ch->slowest, "latency", json_lat(&ch->ext.readers[r]),
		      "rate_received_per_s", jrate(ch->rated, ch->recv_rate[r]));
	if (o)
		json_object_set_new(o, "expired", ju64(ch->ext.reader_expired[r]));
	return o;
}

static json_t *json_pub(const struct stat_chan *ch, uint32_t p)
{
	const struct shmq_mon_pub *pb = &ch->st.pubs[p];

	return json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:I}", "slot", (json_int_t)pb->slot,
			 "pid", (json_int_t)pb->pid, "uid", (json_int_t)pb->uid, "messages",
			 ju64(pb->messages), "bytes", ju64(pb->bytes), "abandoned",
			 ju64(pb->abandoned), "space_waits", ju64(pb->space_waits),
			 "largest_message_bytes", (json_int_t)ch->ext.pub_max_bytes[p]);
}

/* The readers' and publishers' rows, and the (empty) groups, into o. */
static json_t *json_group(const struct shmq_group_info *g)
{
	char name[3 * sizeof(g->name) + 1];

	return json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name",
			 utf8_lossy(g->name, name, sizeof(name)), "members", (json_int_t)g->members,
			 "max_pending", (json_int_t)g->max_pending, "floor", ju64(g->floor),
			 "dispatch", ju64(g->dispatch), "pending",
			 ju64(g->dispatch > g->floor ? g->dispatch - g->floor : 0), "delivered",
			 ju64(g->delivered), "redelivered", ju64(g->redelivered), "acked",
			 ju64(g->acked), "dead", ju64(g->dead), "lost", ju64(g->lost));
}

static int json_chan_rows(json_t *o, const struct stat_chan *ch)
{
	json_t *readers = json_array(), *pubs = json_array(), *groups = json_array();
	int err = !readers || !pubs || !groups;

	for (uint32_t r = 0; !err && r < ch->st.nreaders; r++)
		err = json_array_append_new(readers, json_reader(ch, r));
	for (uint32_t p = 0; !err && p < ch->st.npubs; p++)
		err = json_array_append_new(pubs, json_pub(ch, p));
	for (uint32_t g = 0; !err && g < ch->ngroups; g++)
		err = json_array_append_new(groups, json_group(&ch->groups[g]));
	if (err) {
		json_decref(readers);
		json_decref(pubs);
		json_decref(groups);
		return -1;
	}
	return json_object_set_new(o, "readers", readers) | json_object_set_new(o, "pubs", pubs) |
	       json_object_set_new(o, "groups", groups);
}

static int json_chan_numbers(json_t *o, const struct stat_chan *ch)
{
	const struct shmq_mon_stats *st = &ch->st;
	json_t *n = json_pack(
	    "{s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:I, s:o, s:I, s:b, s:b, "
	    "s:b, s:o, s:o, s:o}",
	    "messages", ju64(st->tail), "bytes", ju64(st->tail_bytes), "oldest", ju64(st->oldest),
	    "depth_messages", ju64(ch->depth_messages), "depth_bytes", ju64(ch->depth_bytes),
	    "publishers", (json_int_t)st->npubs, "subscribers", (json_int_t)st->nreaders,
	    "monitors", (json_int_t)ch->ext.monitors, "sleepers", (json_int_t)st->sleepers, "drops",
	    ju64(ch->drops), "abandoned", ju64(st->abandoned), "space_waits", ju64(ch->space_waits),
	    "largest_message_bytes", (json_int_t)ch->ext.max_message_bytes, "watchdog_wakeups",
	    ju64(st->watchdog_wakeups), "bad_readers", (json_int_t)ch->ext.bad_readers, "deleted",
	    (int)st->deleted, "stale", (int)st->stale, "stats_kept",
	    (ch->ext.features & SHMQ_MON_F_STATS) != 0, "rate_messages_per_s",
	    jrate(ch->rated, ch->msg_rate), "rate_bytes_per_s", jrate(ch->rated, ch->byte_rate),
	    "latency", json_lat(&ch->ext.latency));
	int err = !n || json_object_update(o, n);

	json_decref(n);
	return err ? -1 : json_chan_rows(o, ch);
}

static json_t *json_chan(const struct stat_chan *ch)
{
	json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:o}", "name", ch->name, "policy",
			      stat_policy_name(ch->info.policy), "capacity_bytes",
			      ju64(ch->info.capacity_bytes), "max_message_bytes",
			      (json_int_t)ch->info.max_message_bytes, "error",
			      ch->have ? json_null() : json_string(shmq_errname(ch->err)));

	if (o && ch->have && json_chan_numbers(o, ch)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *json_client(const struct shmq_daemon_client *c)
{
	char comm[3 * sizeof(c->comm) + 1];

	return json_pack("{s:I, s:I, s:s, s:I, s:I, s:o}", "pid", (json_int_t)c->pid, "uid",
			 (json_int_t)c->uid, "comm", utf8_lossy(c->comm, comm, sizeof(comm)),
			 "channels", (json_int_t)c->channels, "handles", (json_int_t)c->handles,
			 "since_ns", ju64(c->since_ns));
}

static json_t *json_daemon(const struct stat_state *s)
{
	json_t *d =
	    json_pack("{s:b, s:o}", "reachable", s->daemon_up, "error",
		      s->daemon_up ? json_null() : json_string(shmq_errname(s->daemon_err)));
	json_t *n = NULL;
	int err = !d;

	if (!err && s->have_dstats) {
		n = json_pack("{s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o}", "started_ns",
			      ju64(s->d.started_ns), "uptime_s", ju64(uptime_s(s)), "channels",
			      (json_int_t)s->d.channels, "clients", (json_int_t)s->d.clients,
			      "connections", ju64(s->d.connections), "repairs", ju64(s->d.repairs),
			      "denials", ju64(s->d.denials), "protocol_errors",
			      ju64(s->d.proto_errors));
		err = !n || json_object_update(d, n);
		json_decref(n);
	}
	if (err) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* The snapshot's top-level arrays: bucket bounds, clients, channels. */
static int json_lists(json_t *o, const struct stat_state *s)
{
	json_t *le = json_array(), *clients = json_array(), *chans = json_array(),
	       *pats = json_array();
	int err = !le || !clients || !chans || !pats;

	for (unsigned k = 0; !err && k < SHMQ_LAT_BUCKETS; k++)
		err = json_array_append_new(le, k + 1 < SHMQ_LAT_BUCKETS
						    ? ju64((uint64_t)SHMQ_LAT_BUCKET_NS(k))
						    : json_null());
	for (uint32_t i = 0; !err && i < s->nclients; i++)
		err = json_array_append_new(clients, json_client(&s->clients[i]));
	for (uint32_t i = 0; !err && i < s->n; i++)
		err = json_array_append_new(chans, json_chan(s->ch[i]));
	for (uint32_t i = 0; !err && i < s->npatterns; i++)
		err = json_array_append_new(
		    pats,
		    json_pack("{s:I, s:I, s:s, s:I}", "pid", (json_int_t)s->patterns[i].pid, "uid",
			      (json_int_t)s->patterns[i].uid, "pattern", s->patterns[i].pattern,
			      "channels", (json_int_t)s->patterns[i].channels));
	err = json_object_set_new(o, "patterns", pats) || err;
	err = json_object_set_new(o, "latency_bucket_le_ns", le) || err;
	err = json_object_set_new(o, "daemon", json_daemon(s)) || err;
	err = json_object_set_new(o, "clients", clients) || err;
	return json_object_set_new(o, "channels", chans) || err ? -1 : 0;
}

int stat_print_json(FILE *f, const struct stat_state *s)
{
	json_t *o = json_pack("{s:s, s:i, s:o, s:o, s:i}", "schema", "shmq-stat", "version",
			      STAT_SCHEMA_VERSION, "time_ns", ju64(s->now_ns), "interval_s",
			      jrate(s->interval_s > 0, s->interval_s), "latency_sample_every",
			      SHMQ_LAT_SAMPLE_EVERY);
	int err = !o || json_lists(o, s) ||
		  json_dumpf(o, f, JSON_COMPACT | JSON_REAL_PRECISION(15)) || fputc('\n', f) == EOF;

	json_decref(o);
	return err ? -1 : 0;
}

/* ---- Prometheus ---- */

/* A label value: UTF-8 (invalid bytes as U+FFFD, as in JSON), quoted and escaped. */
static void prom_label(FILE *f, const char *v)
{
	char text[3 * (SHMQ_NAME_MAX + 1) + 1];

	fputc('"', f);
	for (const char *p = utf8_lossy(v, text, sizeof(text)); *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void prom_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

typedef uint64_t (*chan_val)(const struct stat_chan *ch);

static uint64_t cv_messages(const struct stat_chan *ch)
{
	return ch->st.tail;
}
static uint64_t cv_bytes(const struct stat_chan *ch)
{
	return ch->st.tail_bytes;
}
static uint64_t cv_depth(const struct stat_chan *ch)
{
	return ch->depth_messages;
}
static uint64_t cv_depth_bytes(const struct stat_chan *ch)
{
	return ch->depth_bytes;
}
static uint64_t cv_pubs(const struct stat_chan *ch)
{
	return ch->st.npubs;
}
static uint64_t cv_subs(const struct stat_chan *ch)
{
	return ch->st.nreaders;
}
static uint64_t cv_mons(const struct stat_chan *ch)
{
	return ch->ext.monitors;
}
static uint64_t cv_sleepers(const struct stat_chan *ch)
{
	return ch->st.sleepers;
}
static uint64_t cv_drops(const struct stat_chan *ch)
{
	return ch->drops;
}
static uint64_t cv_abandoned(const struct stat_chan *ch)
{
	return ch->st.abandoned;
}
static uint64_t cv_waits(const struct stat_chan *ch)
{
	return ch->space_waits;
}
static uint64_t cv_largest(const struct stat_chan *ch)
{
	return ch->ext.max_message_bytes;
}
static uint64_t cv_capacity(const struct stat_chan *ch)
{
	return ch->st.capacity_bytes;
}
static uint64_t cv_wakeups(const struct stat_chan *ch)
{
	return ch->st.watchdog_wakeups;
}

static uint64_t cv_bad(const struct stat_chan *ch)
{
	return ch->ext.bad_readers;
}

static const struct {
	const char *name, *type, *help;
	chan_val fn;
} chan_metrics[] = {
    {"shmq_channel_messages_total", "counter", "Offsets handed out (messages published).",
     cv_messages},
    {"shmq_channel_ring_bytes_total", "counter", "Ring bytes used since creation.", cv_bytes},
    {"shmq_channel_depth_messages", "gauge", "Messages between the slowest reader and the tail.",
     cv_depth},
    {"shmq_channel_depth_bytes", "gauge", "Ring bytes between the slowest reader and the tail.",
     cv_depth_bytes},
    {"shmq_channel_publishers", "gauge", "Publisher handles open.", cv_pubs},
    {"shmq_channel_subscribers", "gauge", "Subscriber handles open.", cv_subs},
    {"shmq_channel_monitors", "gauge", "Monitor handles open.", cv_mons},
    {"shmq_channel_sleepers", "gauge", "Readers asleep now.", cv_sleepers},
    {"shmq_channel_dropped_total", "counter", "Messages overrun before open readers read them.",
     cv_drops},
    {"shmq_channel_abandoned_total", "counter", "Claims the daemon gave up.", cv_abandoned},
    {"shmq_channel_space_waits_total", "counter", "Times open publishers slept for space.",
     cv_waits},
    {"shmq_channel_largest_message_bytes", "gauge", "Largest payload of an open publisher.",
     cv_largest},
    {"shmq_channel_capacity_bytes", "gauge", "Bytes of the ring.", cv_capacity},
    {"shmq_channel_watchdog_wakeups_total", "counter", "Readers the daemon woke behind the tail.",
     cv_wakeups},
    {"shmq_channel_bad_readers", "gauge", "Readers stuck at a record they cannot parse.", cv_bad},
};

/* Whether each channel was read; why not, as a label, for those that were not. */
static void prom_chan_state(FILE *f, const struct stat_state *s)
{
	prom_head(f, "shmq_channel_up", "gauge", "1 if the channel's counters were read.");
	for (uint32_t i = 0; i < s->n; i++) {
		fputs("shmq_channel_up{channel=", f);
		prom_label(f, s->ch[i]->name);
		fprintf(f, "} %d\n", s->ch[i]->have);
	}
	prom_head(f, "shmq_channel_error", "gauge", "1 for a channel that could not be read.");
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->ch[i]->have || !s->ch[i]->err)
			continue;
		fputs("shmq_channel_error{channel=", f);
		prom_label(f, s->ch[i]->name);
		fprintf(f, ",error=\"%s\"} 1\n", shmq_errname(s->ch[i]->err));
	}
}

static void prom_channels(FILE *f, const struct stat_state *s)
{
	prom_chan_state(f, s);
	for (size_t m = 0; m < sizeof(chan_metrics) / sizeof(chan_metrics[0]); m++) {
		prom_head(f, chan_metrics[m].name, chan_metrics[m].type, chan_metrics[m].help);
		for (uint32_t i = 0; i < s->n; i++) {
			if (!s->ch[i]->have)
				continue;
			fprintf(f, "%s{channel=", chan_metrics[m].name);
			prom_label(f, s->ch[i]->name);
			fprintf(f, "} %" PRIu64 "\n", chan_metrics[m].fn(s->ch[i]));
		}
	}
}

static void prom_latency(FILE *f, const struct stat_state *s)
{
	prom_head(f, "shmq_channel_latency_seconds", "histogram",
		  "End-to-end latency, publish to delivery, of sampled messages.");
	for (uint32_t i = 0; i < s->n; i++) {
		const struct stat_chan *ch = s->ch[i];
		uint64_t cum = 0;

		if (!ch->have)
			continue;
		for (unsigned k = 0; k < SHMQ_LAT_BUCKETS; k++) {
			cum += ch->ext.latency.buckets[k];
			fputs("shmq_channel_latency_seconds_bucket{channel=", f);
			prom_label(f, ch->name);
			if (k + 1 < SHMQ_LAT_BUCKETS)
				fprintf(f, ",le=\"%.9g\"} %" PRIu64 "\n",
					(double)SHMQ_LAT_BUCKET_NS(k) / 1e9, cum);
			else
				fprintf(f, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
		}
		fputs("shmq_channel_latency_seconds_sum{channel=", f);
		prom_label(f, ch->name);
		fprintf(f, "} %.9f\n", (double)ch->ext.latency.sum_ns / 1e9);
		fputs("shmq_channel_latency_seconds_count{channel=", f);
		prom_label(f, ch->name);
		fprintf(f, "} %" PRIu64 "\n", cum);
	}
}

enum {
	R_RECEIVED,
	R_OVERRUN,
	R_ABANDONED,
	R_LAG,
	R_LAG_BYTES,
	R_SLEEPS,
	R_WAKEUPS,
	R_EXPIRED,
	R_N
};

static const struct {
	const char *name, *type, *help;
} reader_metrics[R_N] = {
    [R_RECEIVED] = {"shmq_reader_received_total", "counter", "Messages delivered."},
    [R_OVERRUN] = {"shmq_reader_lost_overrun_total", "counter",
		   "Messages overwritten before read."},
    [R_ABANDONED] = {"shmq_reader_lost_abandoned_total", "counter",
		     "Messages lost to a publisher that died or stalled."},
    [R_LAG] = {"shmq_reader_lag_messages", "gauge", "Messages between the reader and the tail."},
    [R_LAG_BYTES] = {"shmq_reader_lag_bytes", "gauge",
		     "Ring bytes between the reader and the tail."},
    [R_SLEEPS] = {"shmq_reader_sleeps_total", "counter", "Times the reader went to sleep."},
    [R_WAKEUPS] = {"shmq_reader_wakeups_total", "counter", "Sleeps that ended with a message."},
    [R_EXPIRED] = {"shmq_reader_expired_total", "counter",
		   "Messages skipped because their expiry had passed."},
};

static uint64_t reader_val(const struct stat_chan *ch, uint32_t r, unsigned m)
{
	const struct shmq_mon_reader *rd = &ch->st.readers[r];

	switch (m) {
	case R_RECEIVED:
		return rd->received;
	case R_OVERRUN:
		return rd->lost_overrun;
	case R_ABANDONED:
		return rd->lost_abandoned;
	case R_LAG:
		return rd->lag_messages;
	case R_LAG_BYTES:
		return rd->lag_bytes;
	case R_SLEEPS:
		return rd->sleeps;
	case R_EXPIRED:
		return ch->ext.reader_expired[r];
	default:
		return rd->wakeups;
	}
}

static void prom_readers(FILE *f, const struct stat_state *s)
{
	for (unsigned m = 0; m < R_N; m++) {
		prom_head(f, reader_metrics[m].name, reader_metrics[m].type,
			  reader_metrics[m].help);
		for (uint32_t i = 0; i < s->n; i++) {
			const struct stat_chan *ch = s->ch[i];

			for (uint32_t r = 0; ch->have && r < ch->st.nreaders; r++) {
				const struct shmq_mon_reader *rd = &ch->st.readers[r];

				fprintf(f, "%s{channel=", reader_metrics[m].name);
				prom_label(f, ch->name);
				fprintf(f, ",slot=\"%u\",pid=\"%u\",wait=\"%s\"} %" PRIu64 "\n",
					rd->slot, rd->pid, stat_wait_name(rd->wait),
					reader_val(ch, r, m));
			}
		}
	}
}

enum { P_MESSAGES, P_BYTES, P_ABANDONED, P_WAITS, P_LARGEST, P_N };

static const struct {
	const char *name, *type, *help;
} pub_metrics[P_N] = {
    [P_MESSAGES] = {"shmq_publisher_messages_total", "counter", "Messages committed."},
    [P_BYTES] = {"shmq_publisher_payload_bytes_total", "counter", "Payload bytes committed."},
    [P_ABANDONED] = {"shmq_publisher_abandoned_total", "counter", "Claims aborted or given up."},
    [P_WAITS] = {"shmq_publisher_space_waits_total", "counter", "Times it slept for space."},
    [P_LARGEST] = {"shmq_publisher_largest_message_bytes", "gauge", "Largest payload committed."},
};

static void prom_pubs(FILE *f, const struct stat_state *s)
{
	for (unsigned m = 0; m < P_N; m++) {
		prom_head(f, pub_metrics[m].name, pub_metrics[m].type, pub_metrics[m].help);
		for (uint32_t i = 0; i < s->n; i++) {
			const struct stat_chan *ch = s->ch[i];

			for (uint32_t p = 0; ch->have && p < ch->st.npubs; p++) {
				const struct shmq_mon_pub *pb = &ch->st.pubs[p];
				uint64_t v = m == P_MESSAGES	? pb->messages
					     : m == P_BYTES	? pb->bytes
					     : m == P_ABANDONED ? pb->abandoned
					     : m == P_WAITS	? pb->space_waits
								: ch->ext.pub_max_bytes[p];

				fprintf(f, "%s{channel=", pub_metrics[m].name);
				prom_label(f, ch->name);
				fprintf(f, ",slot=\"%u\",pid=\"%u\"} %" PRIu64 "\n", pb->slot,
					pb->pid, v);
			}
		}
	}
}

static void prom_daemon(FILE *f, const struct stat_state *s)
{
	prom_head(f, "shmq_daemon_up", "gauge", "1 if shmqd answered this scrape.");
	fprintf(f, "shmq_daemon_up %d\n", s->daemon_up);
	if (!s->have_dstats)
		return;
	prom_head(f, "shmq_daemon_uptime_seconds", "gauge", "Seconds since shmqd started.");
	fprintf(f, "shmq_daemon_uptime_seconds %" PRIu64 "\n", uptime_s(s));
	prom_head(f, "shmq_daemon_channels", "gauge", "Live channels visible to this user.");
	fprintf(f, "shmq_daemon_channels %u\n", s->d.channels);
	prom_head(f, "shmq_daemon_clients", "gauge", "Clients visible to this user.");
	fprintf(f, "shmq_daemon_clients %u\n", s->d.clients);
	prom_head(f, "shmq_daemon_connections_total", "counter", "Clients accepted.");
	fprintf(f, "shmq_daemon_connections_total %" PRIu64 "\n", s->d.connections);
	prom_head(f, "shmq_daemon_repairs_total", "counter",
		  "Claims of dead or stalled publishers given up.");
	fprintf(f, "shmq_daemon_repairs_total %" PRIu64 "\n", s->d.repairs);
	prom_head(f, "shmq_daemon_denials_total", "counter",
		  "Requests refused by access control or quota.");
	fprintf(f, "shmq_daemon_denials_total %" PRIu64 "\n", s->d.denials);
	prom_head(f, "shmq_daemon_protocol_errors_total", "counter", "Malformed requests.");
	fprintf(f, "shmq_daemon_protocol_errors_total %" PRIu64 "\n", s->d.proto_errors);
	prom_head(f, "shmq_client_channels", "gauge", "Channels a client holds handles on.");
	for (uint32_t i = 0; i < s->nclients; i++) {
		fprintf(f, "shmq_client_channels{pid=\"%u\",uid=\"%u\",comm=", s->clients[i].pid,
			s->clients[i].uid);
		prom_label(f, s->clients[i].comm);
		fprintf(f, "} %u\n", s->clients[i].channels);
	}
	prom_head(f, "shmq_client_connected_since_seconds", "gauge",
		  "Unix time the client connected.");
	for (uint32_t i = 0; i < s->nclients; i++)
		fprintf(f, "shmq_client_connected_since_seconds{pid=\"%u\"} %.3f\n",
			s->clients[i].pid, (double)s->clients[i].since_ns / 1e9);
	prom_head(f, "shmq_pattern_channels", "gauge",
		  "Channels a pattern subscription reads now.");
	for (uint32_t i = 0; i < s->npatterns; i++) /* a pattern: [A-Za-z0-9_.*>-] only */
		fprintf(f, "shmq_pattern_channels{pid=\"%u\",uid=\"%u\",pattern=\"%s\"} %u\n",
			s->patterns[i].pid, s->patterns[i].uid, s->patterns[i].pattern,
			s->patterns[i].channels);
}

void stat_print_prometheus(FILE *f, const struct stat_state *s)
{
	prom_daemon(f, s);
	prom_channels(f, s);
	prom_latency(f, s);
	prom_readers(f, s);
	prom_pubs(f, s);
}
