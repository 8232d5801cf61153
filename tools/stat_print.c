/*
 * stat_print.c - shmq-stat's outputs of one refresh (see stat.h): the text
 * snapshot (--once), the live frame (80 columns), JSON (schema version
 * STAT_SCHEMA_VERSION, docs/STATS.md) and the Prometheus text exposition
 * format. Names and command names come from other users: JSON and label
 * values are escaped, the terminal gets only printable ASCII.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stat.h"

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
	reader_hdr(f);
	readers_by_lag(f, s, UINT32_MAX, false);
}

/* ---- JSON ---- */

static void json_str(FILE *f, const char *v)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void json_lat(FILE *f, const struct shmq_mon_latency *h)
{
	fprintf(f, "{\"samples\":%" PRIu64 ",\"sum_ns\":%" PRIu64 ",\"counts\":[", h->samples,
		h->sum_ns);
	for (unsigned k = 0; k < SHMQ_LAT_BUCKETS; k++)
		fprintf(f, "%s%" PRIu64, k ? "," : "", h->buckets[k]);
	fputs("]}", f);
}

static void json_reader(FILE *f, const struct stat_chan *ch, uint32_t r)
{
	const struct shmq_mon_reader *rd = &ch->st.readers[r];

	fprintf(f,
		"{\"slot\":%u,\"pid\":%u,\"uid\":%u,\"wait\":\"%s\",\"offset\":%" PRIu64
		",\"lag_messages\":%" PRIu64 ",\"lag_bytes\":%" PRIu64 ",\"received\":%" PRIu64
		",\"lost_overrun\":%" PRIu64 ",\"lost_abandoned\":%" PRIu64 ",\"sleeps\":%" PRIu64
		",\"wakeups\":%" PRIu64 ",\"slowest\":%s,\"latency\":",
		rd->slot, rd->pid, rd->uid, stat_wait_name(rd->wait), rd->offset, rd->lag_messages,
		rd->lag_bytes, rd->received, rd->lost_overrun, rd->lost_abandoned, rd->sleeps,
		rd->wakeups, (int)r == ch->slowest ? "true" : "false");
	json_lat(f, &ch->ext.readers[r]);
	if (ch->rated)
		fprintf(f, ",\"rate_received_per_s\":%.3f}", ch->recv_rate[r]);
	else
		fputs(",\"rate_received_per_s\":null}", f);
}

static void json_pub(FILE *f, const struct stat_chan *ch, uint32_t p)
{
	const struct shmq_mon_pub *pb = &ch->st.pubs[p];

	fprintf(f,
		"{\"slot\":%u,\"pid\":%u,\"uid\":%u,\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64
		",\"abandoned\":%" PRIu64 ",\"space_waits\":%" PRIu64
		",\"largest_message_bytes\":%u}",
		pb->slot, pb->pid, pb->uid, pb->messages, pb->bytes, pb->abandoned, pb->space_waits,
		ch->ext.pub_max_bytes[p]);
}

static void json_chan_numbers(FILE *f, const struct stat_chan *ch)
{
	const struct shmq_mon_stats *st = &ch->st;

	fprintf(f,
		",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"oldest\":%" PRIu64
		",\"depth_messages\":%" PRIu64 ",\"depth_bytes\":%" PRIu64
		",\"publishers\":%u,\"subscribers\":%u,\"monitors\":%u,\"sleepers\":%u"
		",\"drops\":%" PRIu64 ",\"abandoned\":%" PRIu64 ",\"space_waits\":%" PRIu64
		",\"largest_message_bytes\":%u,\"watchdog_wakeups\":%" PRIu64
		",\"bad_readers\":%u,\"deleted\":%s,\"stale\":%s,\"stats_kept\":%s",
		st->tail, st->tail_bytes, st->oldest, ch->depth_messages, ch->depth_bytes,
		st->npubs, st->nreaders, ch->ext.monitors, st->sleepers, ch->drops, st->abandoned,
		ch->space_waits, ch->ext.max_message_bytes, st->watchdog_wakeups,
		ch->ext.bad_readers, st->deleted ? "true" : "false", st->stale ? "true" : "false",
		ch->ext.features & SHMQ_MON_F_STATS ? "true" : "false");
	if (ch->rated)
		fprintf(f, ",\"rate_messages_per_s\":%.3f,\"rate_bytes_per_s\":%.3f", ch->msg_rate,
			ch->byte_rate);
	else
		fputs(",\"rate_messages_per_s\":null,\"rate_bytes_per_s\":null", f);
	fputs(",\"latency\":", f);
	json_lat(f, &ch->ext.latency);
	fputs(",\"readers\":[", f);
	for (uint32_t r = 0; r < st->nreaders; r++) {
		fputs(r ? "," : "", f);
		json_reader(f, ch, r);
	}
	fputs("],\"pubs\":[", f);
	for (uint32_t p = 0; p < st->npubs; p++) {
		fputs(p ? "," : "", f);
		json_pub(f, ch, p);
	}
	fputs("],\"groups\":[]", f);
}

static void json_chan(FILE *f, const struct stat_chan *ch)
{
	fputs("{\"name\":", f);
	json_str(f, ch->name);
	fprintf(f, ",\"policy\":\"%s\",\"capacity_bytes\":%" PRIu64 ",\"max_message_bytes\":%u",
		stat_policy_name(ch->info.policy), ch->info.capacity_bytes,
		ch->info.max_message_bytes);
	if (ch->have) {
		fputs(",\"error\":null", f);
		json_chan_numbers(f, ch);
	} else {
		fputs(",\"error\":", f);
		json_str(f, shmq_errname(ch->err));
	}
	fputc('}', f);
}

static void json_daemon(FILE *f, const struct stat_state *s)
{
	fprintf(f, "\"daemon\":{\"reachable\":%s", s->daemon_up ? "true" : "false");
	if (!s->daemon_up) {
		fputs(",\"error\":", f);
		json_str(f, shmq_errname(s->daemon_err));
	} else {
		fputs(",\"error\":null", f);
	}
	if (s->have_dstats)
		fprintf(f,
			",\"started_ns\":%" PRIu64 ",\"uptime_s\":%" PRIu64 ",\"channels\":%u"
			",\"clients\":%u,\"connections\":%" PRIu64 ",\"repairs\":%" PRIu64
			",\"denials\":%" PRIu64 ",\"protocol_errors\":%" PRIu64,
			s->d.started_ns, uptime_s(s), s->d.channels, s->d.clients, s->d.connections,
			s->d.repairs, s->d.denials, s->d.proto_errors);
	fputs("},\"clients\":[", f);
	for (uint32_t i = 0; i < s->nclients; i++) {
		const struct shmq_daemon_client *c = &s->clients[i];

		fprintf(f, "%s{\"pid\":%u,\"uid\":%u,\"comm\":", i ? "," : "", c->pid, c->uid);
		json_str(f, c->comm);
		fprintf(f, ",\"channels\":%u,\"handles\":%u,\"since_ns\":%" PRIu64 "}", c->channels,
			c->handles, c->since_ns);
	}
	fputc(']', f);
}

void stat_print_json(FILE *f, const struct stat_state *s)
{
	fprintf(f, "{\"schema\":\"shmq-stat\",\"version\":%d,\"time_ns\":%" PRIu64,
		STAT_SCHEMA_VERSION, s->now_ns);
	if (s->interval_s > 0)
		fprintf(f, ",\"interval_s\":%.3f", s->interval_s);
	else
		fputs(",\"interval_s\":null", f);
	fprintf(f, ",\"latency_sample_every\":%d,\"latency_bucket_le_ns\":[",
		SHMQ_LAT_SAMPLE_EVERY);
	for (unsigned k = 0; k < SHMQ_LAT_BUCKETS; k++)
		if (k + 1 < SHMQ_LAT_BUCKETS)
			fprintf(f, "%s%" PRIu64, k ? "," : "", (uint64_t)SHMQ_LAT_BUCKET_NS(k));
		else
			fputs(",null", f);
	fputs("],", f);
	json_daemon(f, s);
	fputs(",\"channels\":[", f);
	for (uint32_t i = 0; i < s->n; i++) {
		fputs(i ? "," : "", f);
		json_chan(f, s->ch[i]);
	}
	fputs("]}\n", f);
}

/* ---- Prometheus ---- */

static void prom_label(FILE *f, const char *v)
{
	fputc('"', f);
	for (const char *p = v; *p; p++) {
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

enum { R_RECEIVED, R_OVERRUN, R_ABANDONED, R_LAG, R_LAG_BYTES, R_SLEEPS, R_WAKEUPS, R_N };

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
};

static uint64_t reader_val(const struct shmq_mon_reader *rd, unsigned m)
{
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
					reader_val(rd, m));
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
}

void stat_print_prometheus(FILE *f, const struct stat_state *s)
{
	prom_daemon(f, s);
	prom_channels(f, s);
	prom_latency(f, s);
	prom_readers(f, s);
	prom_pubs(f, s);
}
