/*
 * base_jetstream.c - NATS JetStream as the durable broker to compare with:
 * each repetition starts a private nats-server -js (found on PATH) on a
 * free port of 127.0.0.1, its store in a directory under cfg->tmpdir (the
 * disk floor's file system), creates a file stream and publishes size-byte
 * messages to it from one client (libnats through natsjs.c, pinned to
 * cfg->cpu[0]; the server on any CPU, as shmqd):
 *
 * js-ack: js_Publish, one at a time, each timed until its PubAck.
 * js-async: js_PublishAsync with JS_WINDOW in flight, then every PubAck
 * awaited: messages/s.
 *
 * The server's sync setting is part of the note: this code sets none, so the
 * file store runs with its default (nats-server 2.9 has no setting: it
 * fsyncs every 2 minutes; 2.10 added sync_interval with the same default),
 * and a PubAck means the server has the message, not the disk.
 *
 * libnats starts threads of its own, and the runner forks the peers of later
 * scenarios: so the client runs in a child process, which hands its figures
 * back through a shared mapping, and the runner never loads libnats' state.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "natsjs.h"

#define JS_WINDOW 128
#define JS_STREAM "BENCH"
#define JS_SUBJECT "bench.js"
#define JS_ACK_WAIT_MS 60000

struct js_server {
	struct server srv;
	char dir[4096];
	char log[4200];
	char url[64];
	char version[32];
};

/* What the client child hands back (a shared mapping). */
struct js_result {
	struct hist lat;
	double msgs_per_s;
	int err;
	char reason[BENCH_REASON_LEN];
};

/* The port in nats-server's ports file, 0 until it lists one. */
static int js_port(const struct js_server *j)
{
	char path[4300], line[256], *p;
	FILE *f;
	int port = 0;

	snprintf(path, sizeof(path), "%s/nats-server_%d.ports", j->dir, (int)j->srv.pid);
	f = fopen(path, "r");
	while (f && !port && fgets(line, sizeof(line), f))
		if ((p = strstr(line, "127.0.0.1:")))
			port = atoi(p + 10);
	if (f)
		fclose(f);
	return port > 0 && port <= 65535 ? port : 0;
}

/* Ready once the ports file names a port that accepts a connection. */
static int js_ready(void *arg)
{
	struct js_server *j = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd, ok, port = js_port(j);

	if (!port)
		return 0;
	a.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok = fd >= 0 && !connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (fd >= 0)
		close(fd);
	snprintf(j->url, sizeof(j->url), "nats://127.0.0.1:%d", port);
	return ok;
}

/* The version nats-server logged at start ("Version:  2.9.10"). */
static void js_version(struct js_server *j)
{
	char line[256], *p;
	FILE *f = fopen(j->log, "r");

	snprintf(j->version, sizeof(j->version), "?");
	while (f && fgets(line, sizeof(line), f)) {
		if (!(p = strstr(line, "Version:")))
			continue;
		p += strspn(p + 8, " ") + 8;
		snprintf(j->version, sizeof(j->version), "%.*s", (int)strcspn(p, " \r\n"), p);
		break;
	}
	if (f)
		fclose(f);
}

static int js_start(struct js_server *j, const struct bench_cfg *cfg, char *reason)
{
	char *argv[] = {"nats-server",	    "-js",  "-a", "127.0.0.1", "-p", "-1", "-sd", j->dir,
			"--ports_file_dir", j->dir, NULL};
	int err;

	memset(j, 0, sizeof(*j));
	err = bench_mkdir(j->dir, sizeof(j->dir), cfg->tmpdir, "nats", reason);
	if (err)
		return err;
	snprintf(j->log, sizeof(j->log), "%s/nats.log", j->dir);
	err = server_start(&j->srv, argv, j->log, "nats-server", js_ready, j, reason);
	if (!err)
		js_version(j);
	return err;
}

static void js_stop(struct js_server *j)
{
	server_stop(&j->srv);
	if (j->dir[0])
		bench_rmtree(j->dir);
}

/* ---- the client (child process) -------------------------------------------- */

struct js_client {
	jsCtx *js;
	void *payload;
	int len;
};

static void js_msg(void *arg, long i, struct natsjs_msg *m)
{
	const struct js_client *c = arg;

	(void)i;
	*m = (struct natsjs_msg){.data = c->payload, .len = c->len};
}

static void js_ack_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)pae;
	(*(long *)closure)++;
}

static int js_one_by_one(struct js_client *c, const struct bench_cfg *cfg, struct js_result *res)
{
	char buf[BENCH_REASON_LEN];
	jsErrCode jerr = 0;
	natsStatus s;
	uint64_t t0;

	for (uint64_t i = 0; i < cfg->warmup + cfg->iters; i++) {
		t0 = now_ns();
		s = js_Publish(NULL, c->js, JS_SUBJECT, c->payload, c->len, NULL, &jerr);
		if (s != NATS_OK)
			return bench_fail(res->reason, -EIO, "%s",
					  natsjs_error("js_Publish", s, buf, sizeof(buf)));
		if (i >= cfg->warmup)
			hist_record(&res->lat, now_ns() - t0);
	}
	return 0;
}

static int js_window(struct js_client *c, const struct bench_cfg *cfg, const long *nack,
		     struct js_result *res)
{
	char buf[BENCH_REASON_LEN];
	natsStatus s;
	uint64_t t0;

	s = natsjs_publish_all(c->js, JS_SUBJECT, (long)cfg->warmup, js_msg, c, JS_ACK_WAIT_MS);
	t0 = now_ns();
	if (s == NATS_OK)
		s = natsjs_publish_all(c->js, JS_SUBJECT, (long)cfg->iters, js_msg, c,
				       JS_ACK_WAIT_MS);
	res->msgs_per_s = (double)cfg->iters * 1e9 / (double)(now_ns() - t0);
	if (s != NATS_OK)
		return bench_fail(res->reason, -EIO, "%s",
				  natsjs_error("js_PublishAsync", s, buf, sizeof(buf)));
	if (*nack)
		return bench_fail(res->reason, -EIO, "%ld PubAcks carried an error", *nack);
	return 0;
}

static int js_client_run(const char *url, const struct bench_cfg *cfg, int async,
			 struct js_result *res)
{
	struct js_client c = {.len = (int)cfg->size_bytes};
	char buf[BENCH_REASON_LEN];
	natsConnection *nc = NULL;
	long nack = 0;
	jsOptions jo;
	natsStatus s;
	int err;

	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = JS_WINDOW;
	jo.PublishAsync.StallWait = JS_ACK_WAIT_MS;
	jo.PublishAsync.ErrHandler = js_ack_error;
	jo.PublishAsync.ErrHandlerClosure = &nack;
	c.payload = malloc(cfg->size_bytes);
	if (!c.payload)
		return bench_fail(res->reason, -ENOMEM, "out of memory");
	memset(c.payload, 'j', cfg->size_bytes);
	s = natsjs_open(url, &jo, &nc, &c.js);
	if (s == NATS_OK)
		s = natsjs_stream_add(c.js, JS_STREAM, JS_SUBJECT);
	if (s != NATS_OK)
		err = bench_fail(res->reason, -EIO, "%s",
				 natsjs_error("connect and create stream", s, buf, sizeof(buf)));
	else
		err = async ? js_window(&c, cfg, &nack, res) : js_one_by_one(&c, cfg, res);
	natsjs_close(nc, c.js);
	free(c.payload);
	return err;
}

/* ---- the runner's side ----------------------------------------------------- */

/* Fork the client, wait for it, take its figures. */
static int js_client(const char *url, const struct bench_cfg *cfg, int async, struct bench_out *out)
{
	struct js_result *res = shm_anon(sizeof(*res));
	pid_t pid;
	int status, err;

	if (!res)
		return bench_fail(out->reason, -ENOMEM, "out of memory");
	hist_reset(&res->lat);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		proc_pin(cfg->cpu[0]);
		res->err = js_client_run(url, cfg, async, res);
		_exit(0);
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid < 0)
		err = bench_fail(out->reason, -errno, "fork: %s", strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		err = bench_fail(out->reason, -EIO, "the JetStream client died (status 0x%x)",
				 status);
	else if ((err = res->err))
		snprintf(out->reason, sizeof(out->reason), "%s", res->reason);
	hist_merge(out->lat, &res->lat);
	out->msgs_per_s = res->msgs_per_s;
	shm_anon_free(res, sizeof(*res));
	return err;
}

static int js_run(const struct bench_cfg *cfg, struct bench_out *out, int async)
{
	struct js_server j;
	int err = js_start(&j, cfg, out->reason);

	if (!err) {
		snprintf(out->note, sizeof(out->note),
			 "nats-server %s, file storage, sync not set: fsync every 2 min (the "
			 "default); a PubAck does not wait for it",
			 j.version);
		err = js_client(j.url, cfg, async, out);
	}
	js_stop(&j);
	return err;
}

int base_js_ack(const struct bench_cfg *cfg, struct bench_out *out)
{
	return js_run(cfg, out, 0);
}

int base_js_async(const struct bench_cfg *cfg, struct bench_out *out)
{
	return js_run(cfg, out, 1);
}
