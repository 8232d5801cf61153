/*
 * stat.h - shmq-stat's model: what one refresh learns about the daemon and
 * each channel it may see, read through monitor handles (read-only
 * mappings, no reader entry: nobody is held back), and the rates between
 * two refreshes. stat_collect.c fills it, stat_print.c prints it,
 * stat_scrape.c and stat_http.c serve it. A stat_state belongs to one thread.
 */
#ifndef TOOLS_STAT_H
#define TOOLS_STAT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "shmq.h"

#define STAT_SCHEMA_VERSION 1 /* of --json; docs/STATS.md */
#define STAT_MAX_CLIENTS 1024
#define STAT_MAX_PATTERNS 256
#define STAT_TIMEOUT_NS 1000000000 /* longest wait for one answer of the daemon */

#define STAT_MAX_GROUPS 16 /* consumer groups of a channel */

/* One channel as the last refresh saw it. */
struct stat_chan {
	char name[SHMQ_NAME_MAX + 1];
	struct shmq_channel_info info; /* from the daemon's list (valid if listed) */
	struct shmq_mon *mon;	       /* NULL: could not open one (err says why) */
	struct shmq_mon_stats st;
	struct shmq_mon_ext ext;
	struct shmq_group_info groups[STAT_MAX_GROUPS]; /* its consumer groups (shmq_group_info) */
	uint32_t ngroups;
	int err;     /* 0, or why it has no fresh numbers */
	bool listed; /* in the daemon's list at the last refresh */
	bool have;   /* st and ext hold a snapshot */
	/* derived */
	uint64_t depth_messages; /* tail - the slowest reader's offset */
	uint64_t depth_bytes;
	uint64_t drops;	      /* readers open now: lost to overrun */
	uint64_t space_waits; /* publishers open now */
	int slowest;	      /* row of st.readers, -1 none */
	/* rates between the last two refreshes; valid when rated */
	bool rated;
	double msg_rate, byte_rate;
	int depth_trend; /* +1 grew, -1 shrank, 0 */
	uint64_t prev_tail, prev_tail_bytes, prev_depth, prev_ns;
	uint64_t prev_received[SHMQ_MAX_READERS]; /* per reader slot */
	uint32_t prev_pid[SHMQ_MAX_READERS];
	double recv_rate[SHMQ_MAX_READERS]; /* per row of st.readers */
};

struct stat_state {
	const char *socket_path;
	const char *pattern;   /* fnmatch() glob on channel names, or NULL */
	struct shmq_client *c; /* the connection the monitors were opened on */
	bool conn_ok;	       /* c still works (a timeout leaves it so) */
	bool daemon_up;	       /* the daemon answered this refresh */
	int daemon_err;	       /* why not (shmq_connect(), a request) */
	bool have_dstats;
	struct shmq_daemon_stats d;
	struct shmq_daemon_client *clients; /* STAT_MAX_CLIENTS */
	uint32_t nclients;
	struct shmq_daemon_pattern *patterns; /* STAT_MAX_PATTERNS: pattern subscriptions */
	uint32_t npatterns;
	uint32_t daemon_pid;
	uint64_t now_ns;   /* CLOCK_REALTIME of the refresh */
	uint64_t mono_ns;  /* CLOCK_MONOTONIC of the refresh */
	double interval_s; /* since the refresh before, 0 for the first */
	struct stat_chan **ch;
	uint32_t n, cap;
	/* the first channel whose memory is not believable, and why */
	int fatal_err;
	char fatal_chan[SHMQ_NAME_MAX + 1];
};

enum stat_sort { SORT_NAME, SORT_RATE, SORT_BYTES, SORT_DEPTH, SORT_DROPS, SORT_LAG, SORT_COUNT };

int stat_init(struct stat_state *s, const char *socket_path, const char *pattern);
void stat_fini(struct stat_state *s);

/*
 * Refresh: reach the daemon (again), follow its list, read every channel.
 * Returns 0; s->fatal_err is set (-SHMQ_ECORRUPT, -SHMQ_EVERSION) when a
 * channel's memory holds what no honest daemon wrote.
 */
int stat_refresh(struct stat_state *s);

/* Order s->ch by key (rate, depth, ... descending; name ascending). */
void stat_sort(struct stat_state *s, enum stat_sort key);
const char *stat_sort_name(enum stat_sort key);
int stat_sort_parse(const char *name, enum stat_sort *out);

const char *stat_wait_name(uint32_t wait);
const char *stat_policy_name(uint32_t policy);

/* Latency quantile q (0..1) of h in ns, from its buckets' upper bounds; 0 if no samples. */
uint64_t stat_lat_quantile(const struct shmq_mon_latency *h, double q);

/* stat_print.c */
void stat_print_text(FILE *f, const struct stat_state *s);
void stat_print_live(FILE *f, const struct stat_state *s, enum stat_sort key, bool colour,
		     unsigned rows, bool paused);
/* 0, or -1: out of memory or a write error. */
int stat_print_json(FILE *f, const struct stat_state *s);
void stat_print_prometheus(FILE *f, const struct stat_state *s);

/* A uid that may scrape --listen unix:PATH, and the gid its snapshot runs with. */
struct stat_uid {
	uid_t uid;
	gid_t gid;
};

struct http_cfg {
	const char *listen; /* unix:PATH, or ADDR:PORT on loopback */
	const char *path;   /* of the metrics, such as /metrics */
	const char *socket_path, *pattern;
	bool tcp_exposes_all; /* ADDR:PORT was meant: anyone local sees our view */
	const struct stat_uid *allow;
	size_t nallow;
};

struct http_server;

/*
 * stat_http.c: listen as cfg says and serve GET path from libmicrohttpd's
 * threads until http_stop(); cfg must outlive the server. Returns 0, or -1
 * with err filled (a bad address, TCP without tcp_exposes_all, a socket
 * path in use, no listen).
 */
int http_start(const struct http_cfg *cfg, struct http_server **out, char *err, size_t errlen);
void http_stop(struct http_server *h);
/* Cut the connections open longer than their deadline; call every second. */
void http_expire(struct http_server *h);

/*
 * stat_scrape.c: one snapshot in the exposition format, taken by a child
 * process, as->uid when as is not NULL. 0 and a malloc()ed *body, or -1
 * (no child, it failed, or it took longer than its deadline).
 */
int scrape_run(const char *socket_path, const char *pattern, const struct stat_uid *as, char **body,
	       size_t *len);

#endif
