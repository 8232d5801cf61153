/*
 * base_redis.c - Redis Streams as the durable broker to compare with:
 * each repetition starts a private redis-server (found on PATH) with a
 * config of its own: no TCP port, a Unix socket in cfg->sock_dir, no RDB
 * snapshots, the append-only file in a directory under cfg->tmpdir (the disk
 * floor's file system) with the given appendfsync and no rewrite during the
 * run. One client (hiredis, pinned to cfg->cpu[0]; the server on any CPU, as shmqd)
 * appends size-byte entries with XADD to one stream:
 *
 * redis-always: appendfsync always, one XADD at a time, each timed until its
 * reply: Redis writes and fsyncs the AOF before it replies, so this is a
 * confirm's latency.
 * redis-everysec: appendfsync everysec, XADDs pipelined REDIS_PIPELINE deep,
 * every reply read: messages/s, with up to a second of them not yet on disk.
 *
 * The note gives the server's version and appendfsync as it reports them.
 * Not installed: "skipped" with the package to install.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define REDIS_PIPELINE 128
#define REDIS_XADD "XADD bench * d %b"

struct redis {
	struct server srv;
	redisContext *c;
	char dir[4096];
	char sock[300];
	char conf[4200];
	char log[4200];
	char *payload;
	uint32_t len;
};

static int redis_ready(void *arg)
{
	return unix_accepts(((struct redis *)arg)->sock);
}

static int redis_conf(const struct redis *r, const char *fsync, char *reason)
{
	FILE *f = fopen(r->conf, "w");

	if (!f)
		return bench_fail(reason, -errno, "%s: %s", r->conf, strerror(errno));
	fprintf(f,
		"port 0\nunixsocket \"%s\"\nunixsocketperm 700\ndir \"%s\"\ndaemonize no\n"
		"save \"\"\nappendonly yes\nappendfsync %s\nauto-aof-rewrite-percentage 0\n",
		r->sock, r->dir, fsync);
	return fclose(f) ? bench_fail(reason, -errno, "%s: %s", r->conf, strerror(errno)) : 0;
}

/* The server's own word for its version and fsync setting, as the note. */
static void redis_note(struct redis *r, char *note)
{
	redisReply *info = redisCommand(r->c, "INFO server");
	redisReply *sync = redisCommand(r->c, "CONFIG GET appendfsync");
	const char *v =
	    info && info->type == REDIS_REPLY_STRING ? strstr(info->str, "redis_version:") : NULL;
	int ok = sync && sync->type == REDIS_REPLY_ARRAY && sync->elements == 2 &&
		 sync->element[1]->type == REDIS_REPLY_STRING;

	snprintf(note, BENCH_REASON_LEN, "redis-server %.*s, which reports appendfsync %s",
		 v ? (int)strcspn(v + 14, "\r\n") : 1, v ? v + 14 : "?",
		 ok ? sync->element[1]->str : "?");
	freeReplyObject(info);
	freeReplyObject(sync);
}

static int redis_open(struct redis *r, const struct bench_cfg *cfg, const char *fsync, char *reason)
{
	char *argv[] = {"redis-server", r->conf, NULL};
	int err;

	memset(r, 0, sizeof(*r));
	r->len = cfg->size_bytes;
	r->payload = malloc(r->len);
	if (!r->payload)
		return bench_fail(reason, -ENOMEM, "out of memory");
	memset(r->payload, 'r', r->len);
	snprintf(r->sock, sizeof(r->sock), "%s/redis.%d.sock", cfg->sock_dir, (int)getpid());
	err = bench_mkdir(r->dir, sizeof(r->dir), cfg->tmpdir, "redis", reason);
	if (err)
		return err;
	snprintf(r->conf, sizeof(r->conf), "%s/redis.conf", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/redis.log", r->dir);
	err = redis_conf(r, fsync, reason);
	if (!err)
		err = server_start(&r->srv, argv, r->log, "redis-server", redis_ready, r, reason);
	if (err)
		return err;
	r->c = redisConnectUnix(r->sock);
	if (!r->c || r->c->err)
		return bench_fail(reason, -ECONNREFUSED, "connect %s: %s", r->sock,
				  r->c ? r->c->errstr : "out of memory");
	return 0;
}

static void redis_close(struct redis *r)
{
	if (r->c)
		redisFree(r->c);
	server_stop(&r->srv);
	if (r->dir[0])
		bench_rmtree(r->dir);
	unlink(r->sock);
	free(r->payload);
}

/* One XADD's reply: an entry id, else the failure in reason. */
static int redis_check(struct redis *r, redisReply *rep, char *reason)
{
	int err = 0;

	if (!rep)
		err = bench_fail(reason, -EIO, "XADD: %s", r->c->errstr);
	else if (rep->type != REDIS_REPLY_STRING)
		err = bench_fail(reason, -EPROTO, "XADD: reply type %d: %s", rep->type,
				 rep->type == REDIS_REPLY_ERROR ? rep->str : "not an entry id");
	freeReplyObject(rep);
	return err;
}

static int redis_one_by_one(struct redis *r, const struct bench_cfg *cfg, struct hist *h,
			    char *reason)
{
	uint64_t i, t0;
	int err;

	for (i = 0; i < cfg->warmup + cfg->iters; i++) {
		t0 = now_ns();
		err = redis_check(r, redisCommand(r->c, REDIS_XADD, r->payload, (size_t)r->len),
				  reason);
		if (err)
			return err;
		if (i >= cfg->warmup)
			hist_record(h, now_ns() - t0);
	}
	return 0;
}

/* n XADDs, REDIS_PIPELINE sent before their replies are read. */
static int redis_pipelined(struct redis *r, uint64_t n, char *reason)
{
	uint64_t done, k, j;
	void *rep;
	int err;

	for (done = 0; done < n; done += k) {
		k = n - done < REDIS_PIPELINE ? n - done : REDIS_PIPELINE;
		for (j = 0; j < k; j++)
			if (redisAppendCommand(r->c, REDIS_XADD, r->payload, (size_t)r->len))
				return bench_fail(reason, -ENOMEM, "XADD: %s", r->c->errstr);
		for (j = 0; j < k; j++) {
			rep = NULL;
			redisGetReply(r->c, &rep);
			err = redis_check(r, rep, reason);
			if (err)
				return err;
		}
	}
	return 0;
}

static int redis_run(const struct bench_cfg *cfg, struct bench_out *out, int always)
{
	struct redis r;
	cpu_set_t saved;
	uint64_t t0;
	int err;

	sched_getaffinity(0, sizeof(saved), &saved);
	proc_pin(cfg->cpu[0]);
	err = redis_open(&r, cfg, always ? "always" : "everysec", out->reason);
	if (!err)
		redis_note(&r, out->note);
	if (!err && always) {
		err = redis_one_by_one(&r, cfg, out->lat, out->reason);
	} else if (!err) {
		err = redis_pipelined(&r, cfg->warmup, out->reason);
		t0 = now_ns();
		if (!err)
			err = redis_pipelined(&r, cfg->iters, out->reason);
		out->msgs_per_s = (double)cfg->iters * 1e9 / (double)(now_ns() - t0);
	}
	redis_close(&r);
	sched_setaffinity(0, sizeof(saved), &saved);
	return err;
}

int base_redis_always(const struct bench_cfg *cfg, struct bench_out *out)
{
	return redis_run(cfg, out, 1);
}

int base_redis_everysec(const struct bench_cfg *cfg, struct bench_out *out)
{
	return redis_run(cfg, out, 0);
}
