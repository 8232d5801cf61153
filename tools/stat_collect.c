/*
 * stat_collect.c - one refresh of shmq-stat (see stat.h): reach the daemon,
 * follow its channel list (glob-filtered), keep one monitor per channel and
 * read it, derive depth and rates. While the daemon is unreachable the
 * monitors already open keep their mappings and are still read; once it
 * answers again they belong to a daemon that is gone and are replaced. A
 * daemon that is stopped or overloaded costs a refresh STAT_TIMEOUT_NS at
 * most: the connection is kept, and libshmq fails later requests at once
 * while the late answer is due.
 * Every number read comes from shared memory that a hostile peer may have
 * written; libshmq bounds it, and a header that no honest daemon wrote
 * stops the tool (fatal_err). Single-threaded.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "stat.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int stat_init(struct stat_state *s, const char *socket_path, const char *pattern)
{
	memset(s, 0, sizeof(*s));
	s->socket_path = socket_path;
	s->pattern = pattern;
	s->clients = calloc(STAT_MAX_CLIENTS, sizeof(*s->clients));
	s->patterns = calloc(STAT_MAX_PATTERNS, sizeof(*s->patterns));
	return s->clients && s->patterns ? 0 : -SHMQ_ENOMEM;
}

static void chan_free(struct stat_chan *ch)
{
	shmq_mon_close(ch->mon);
	free(ch);
}

/* Close every monitor; then the connection they were opened on. */
static void drop_all(struct stat_state *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		chan_free(s->ch[i]);
	s->n = 0;
	shmq_disconnect(s->c);
	s->c = NULL;
}

void stat_fini(struct stat_state *s)
{
	drop_all(s);
	free(s->ch);
	free(s->clients);
	free(s->patterns);
	s->ch = NULL;
	s->clients = NULL;
	s->patterns = NULL;
}

static struct stat_chan *chan_find(const struct stat_state *s, const char *name)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (!strcmp(s->ch[i]->name, name))
			return s->ch[i];
	return NULL;
}

static struct stat_chan *chan_add(struct stat_state *s, const char *name)
{
	struct stat_chan *ch;

	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		struct stat_chan **n = realloc(s->ch, cap * sizeof(*n));

		if (!n)
			return NULL;
		s->ch = n;
		s->cap = cap;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	ch->slowest = -1;
	s->ch[s->n++] = ch;
	return ch;
}

/* The daemon answers no more: keep what is mapped, say why. */
static void daemon_lost(struct stat_state *s, int err)
{
	s->daemon_up = false;
	s->daemon_err = err;
	s->have_dstats = false;
	if (err != -SHMQ_ETIMEDOUT) /* gone, not slow: connect again next time */
		s->conn_ok = false;
}

static bool daemon_error(int err)
{
	return err == -SHMQ_ECLOSED || err == -SHMQ_ENODAEMON || err == -SHMQ_ETIMEDOUT ||
	       err == -SHMQ_EPROTO;
}

/* Reach the daemon; a new connection replaces the monitors of the old one. */
static void daemon_reach(struct stat_state *s)
{
	struct shmq_client *c;
	int err;

	if (s->c && s->conn_ok) {
		s->daemon_up = true; /* until a request says otherwise */
		s->daemon_err = 0;
		return;
	}
	err = shmq_connect_timeout(s->socket_path, STAT_TIMEOUT_NS, &c);
	if (err) {
		daemon_lost(s, err);
		return;
	}
	drop_all(s);
	s->c = c;
	s->conn_ok = true;
	s->daemon_up = true;
	s->daemon_err = 0;
}

/* Follow the daemon's list: add new channels, forget deleted ones. */
static void follow_list(struct stat_state *s)
{
	struct shmq_channel_info *rows = NULL;
	int total = shmq_channel_list(s->c, NULL, 0);

	if (total >= 0) {
		rows = calloc((size_t)total + 1, sizeof(*rows));
		total = rows ? shmq_channel_list(s->c, rows, (size_t)total) : -SHMQ_ENOMEM;
	}
	if (total < 0) {
		free(rows);
		if (daemon_error(total))
			daemon_lost(s, total);
		return;
	}
	for (uint32_t i = 0; i < s->n; i++)
		s->ch[i]->listed = false;
	for (int i = 0; i < total; i++) {
		struct stat_chan *ch;

		if (s->pattern && fnmatch(s->pattern, rows[i].name, 0))
			continue;
		ch = chan_find(s, rows[i].name);
		if (!ch)
			ch = chan_add(s, rows[i].name);
		if (!ch)
			break;
		ch->info = rows[i];
		ch->listed = true;
	}
	free(rows);
	for (uint32_t i = 0; i < s->n;) {
		if (s->ch[i]->listed) {
			i++;
			continue;
		}
		chan_free(s->ch[i]);
		s->ch[i] = s->ch[--s->n];
	}
}

static void daemon_counters(struct stat_state *s)
{
	int n = shmq_daemon_stats(s->c, &s->d, s->clients, STAT_MAX_CLIENTS);

	s->have_dstats = n >= 0;
	s->nclients = n < 0 ? 0 : (uint32_t)n > STAT_MAX_CLIENTS ? STAT_MAX_CLIENTS : (uint32_t)n;
	if (daemon_error(n)) {
		daemon_lost(s, n);
		return;
	}
	/* a daemon before protocol minor 8 has none to show */
	n = shmq_daemon_patterns(s->c, s->patterns, STAT_MAX_PATTERNS);
	s->npatterns = n < 0				 ? 0
		       : (uint32_t)n > STAT_MAX_PATTERNS ? STAT_MAX_PATTERNS
							 : (uint32_t)n;
}

/* Depth, drops, waits and the slowest reader of a fresh snapshot. */
static void derive(struct stat_chan *ch)
{
	const struct shmq_mon_stats *st = &ch->st;

	ch->depth_messages = ch->depth_bytes = ch->drops = ch->space_waits = 0;
	ch->slowest = -1;
	for (uint32_t r = 0; r < st->nreaders; r++) {
		const struct shmq_mon_reader *rd = &st->readers[r];

		ch->drops += rd->lost_overrun;
		if (ch->slowest < 0 || rd->lag_messages > ch->depth_messages) {
			ch->slowest = (int)r;
			ch->depth_messages = rd->lag_messages;
		}
		if (rd->lag_bytes > ch->depth_bytes)
			ch->depth_bytes = rd->lag_bytes;
	}
	for (uint32_t p = 0; p < st->npubs; p++)
		ch->space_waits += st->pubs[p].space_waits;
}

static double per_s(uint64_t now, uint64_t before, double dt)
{
	return now >= before && dt > 0 ? (double)(now - before) / dt : 0;
}

/* Rates since the last snapshot of this channel. */
static void rate(struct stat_chan *ch, uint64_t mono_ns, bool had)
{
	double dt = had ? (double)(mono_ns - ch->prev_ns) / 1e9 : 0;
	const struct shmq_mon_stats *st = &ch->st;

	ch->rated = had && dt > 0;
	ch->msg_rate = per_s(st->tail, ch->prev_tail, dt);
	ch->byte_rate = per_s(st->tail_bytes, ch->prev_tail_bytes, dt);
	ch->depth_trend = !had					? 0
			  : ch->depth_messages > ch->prev_depth ? 1
			  : ch->depth_messages < ch->prev_depth ? -1
								: 0;
	for (uint32_t r = 0; r < st->nreaders; r++) {
		const struct shmq_mon_reader *rd = &st->readers[r];
		uint32_t slot = rd->slot % SHMQ_MAX_READERS;

		ch->recv_rate[r] = had && ch->prev_pid[slot] == rd->pid
				       ? per_s(rd->received, ch->prev_received[slot], dt)
				       : 0;
	}
	memset(ch->prev_pid, 0, sizeof(ch->prev_pid));
	for (uint32_t r = 0; r < st->nreaders; r++) {
		uint32_t slot = st->readers[r].slot % SHMQ_MAX_READERS;

		ch->prev_pid[slot] = st->readers[r].pid;
		ch->prev_received[slot] = st->readers[r].received;
	}
	ch->prev_tail = st->tail;
	ch->prev_tail_bytes = st->tail_bytes;
	ch->prev_depth = ch->depth_messages;
	ch->prev_ns = mono_ns;
}

/* Memory that no honest daemon wrote, or a format newer than ours: remember the first. */
static void note_fatal(struct stat_state *s, const struct stat_chan *ch, int err)
{
	if ((err == -SHMQ_ECORRUPT || err == -SHMQ_EVERSION) && !s->fatal_err) {
		s->fatal_err = err;
		snprintf(s->fatal_chan, sizeof(s->fatal_chan), "%s", ch->name);
	}
}

static void chan_read(struct stat_state *s, struct stat_chan *ch)
{
	bool had = ch->have;
	int err;

	if (!ch->mon && s->daemon_up) {
		ch->err = shmq_mon_open(s->c, ch->name, &ch->mon);
		if (daemon_error(ch->err))
			daemon_lost(s, ch->err);
		note_fatal(s, ch, ch->err);
	}
	if (!ch->mon) {
		ch->have = false;
		return;
	}
	err = shmq_mon_read_ext(ch->mon, &ch->st, &ch->ext);
	ch->ngroups = 0;
	if (!err && s->daemon_up) { /* none from a daemon without groups */
		int n = shmq_group_info(s->c, ch->name, NULL, ch->groups, STAT_MAX_GROUPS);

		ch->ngroups = n > 0 ? (uint32_t)(n < STAT_MAX_GROUPS ? n : STAT_MAX_GROUPS) : 0;
	}
	ch->err = err;
	ch->have = !err;
	note_fatal(s, ch, err);
	if (err)
		return;
	derive(ch);
	rate(ch, s->mono_ns, had);
}

int stat_refresh(struct stat_state *s)
{
	uint64_t mono = clock_ns(CLOCK_MONOTONIC);

	s->interval_s = s->mono_ns ? (double)(mono - s->mono_ns) / 1e9 : 0;
	s->mono_ns = mono;
	s->now_ns = clock_ns(CLOCK_REALTIME);
	daemon_reach(s);
	if (s->daemon_up)
		follow_list(s);
	if (s->daemon_up)
		daemon_counters(s);
	for (uint32_t i = 0; i < s->n; i++)
		chan_read(s, s->ch[i]);
	return 0;
}

/* ---- sorting and names ---- */

static enum stat_sort sort_key;

static double sort_value(const struct stat_chan *ch)
{
	switch (sort_key) {
	case SORT_RATE:
		return ch->msg_rate;
	case SORT_BYTES:
		return ch->byte_rate;
	case SORT_DEPTH:
		return (double)ch->depth_messages;
	case SORT_DROPS:
		return (double)ch->drops;
	case SORT_LAG:
		return (double)ch->depth_bytes;
	default:
		return 0;
	}
}

static int chan_cmp(const void *a, const void *b)
{
	const struct stat_chan *x = *(const struct stat_chan *const *)a;
	const struct stat_chan *y = *(const struct stat_chan *const *)b;
	double vx = sort_value(x), vy = sort_value(y);

	if (vx != vy)
		return vx > vy ? -1 : 1;
	return strcmp(x->name, y->name);
}

void stat_sort(struct stat_state *s, enum stat_sort key)
{
	sort_key = key;
	if (s->n)
		qsort(s->ch, s->n, sizeof(*s->ch), chan_cmp);
}

static const char *const sort_names[SORT_COUNT] = {
    [SORT_NAME] = "name",   [SORT_RATE] = "rate",   [SORT_BYTES] = "bytes",
    [SORT_DEPTH] = "depth", [SORT_DROPS] = "drops", [SORT_LAG] = "lag",
};

const char *stat_sort_name(enum stat_sort key)
{
	return key < SORT_COUNT ? sort_names[key] : "?";
}

int stat_sort_parse(const char *name, enum stat_sort *out)
{
	for (unsigned k = 0; k < SORT_COUNT; k++) {
		if (!strcasecmp(name, sort_names[k])) {
			*out = (enum stat_sort)k;
			return 0;
		}
	}
	return -1;
}

const char *stat_wait_name(uint32_t wait)
{
	static const char *const names[] = {"spin_sleep", "spin", "sleep", "eventfd"};

	return wait < 4 ? names[wait] : "unknown";
}

const char *stat_policy_name(uint32_t policy)
{
	return policy == SHMQ_POLICY_BLOCK  ? "block"
	       : policy == SHMQ_POLICY_DROP ? "drop"
					    : "unknown";
}

uint64_t stat_lat_quantile(const struct shmq_mon_latency *h, double q)
{
	uint64_t total = 0, want, seen = 0;

	for (unsigned k = 0; k < SHMQ_LAT_BUCKETS; k++)
		total += h->buckets[k];
	if (!total)
		return 0;
	want = (uint64_t)(q * (double)total + 0.999999);
	if (!want)
		want = 1;
	for (unsigned k = 0; k < SHMQ_LAT_BUCKETS; k++) {
		seen += h->buckets[k];
		if (seen >= want)
			return k + 1 < SHMQ_LAT_BUCKETS ? SHMQ_LAT_BUCKET_NS(k)
							: SHMQ_LAT_BUCKET_NS(k - 1) * 2;
	}
	return SHMQ_LAT_BUCKET_NS(SHMQ_LAT_BUCKETS - 2) * 2;
}
