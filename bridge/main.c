/*
 * main.c - shmq-bridge: forward shmq channels to NATS JetStream subjects
 * and subjects to channels (shmq-bridge(1)). main() reads the settings,
 * connects to shmqd and to NATS (either one missing at start: exit 1 with
 * the reason), creates the stream if asked, starts one thread per route,
 * and then prints a stats line every --stats seconds until SIGTERM or
 * SIGINT, or until a route fails, which stops the others (exit 1).
 */
#include "bridge.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Atomic int bridge_stop; /* lock-free (static_assert below): a signal handler sets it */
static_assert(ATOMIC_INT_LOCK_FREE == 2, "bridge_stop in a signal handler");

void blog(const char *level, const char *comp, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "shmq-bridge %s %s: ", level, comp);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line); /* one write per line: threads do not interleave */
}

static void on_signal(int sig)
{
	bridge_stop_set(sig);
}

static void signals_install(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static uint64_t ld(_Atomic uint64_t *v)
{
	/* relaxed: a counter for the stats line, written by one route thread */
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void stats_line(struct bridge *b, struct route *r, uint64_t *last, unsigned secs)
{
	struct shmq_channel_info info;
	uint64_t msgs = ld(&r->st.messages), lag;

	if (r->dir == ROUTE_OUT)
		lag = shmq_channel_info(b->client, r->channel, &info) == 0 &&
			      info.tail > ld(&r->st.next)
			  ? info.tail - ld(&r->st.next)
			  : 0;
	else
		lag = ld(&r->st.pending);
	blog("info", "stats",
	     "%s channel=%s subject=%s messages=%" PRIu64 " rate=%" PRIu64 "/s lag=%" PRIu64
	     " duplicates=%" PRIu64 " resent=%" PRIu64 " lost=%" PRIu64 " rejected=%" PRIu64,
	     r->dir == ROUTE_OUT ? "out" : "in", r->channel, r->subject, msgs,
	     (msgs - *last) / (secs ? secs : 1), lag, ld(&r->st.duplicates), ld(&r->st.resent),
	     ld(&r->st.lost), ld(&r->st.rejected));
	*last = msgs;
}

/* Wait for the routes, a stats line every b->stats_s; a route that ends stops them all. */
static void supervise(struct bridge *b)
{
	uint64_t last[BRIDGE_ROUTES_MAX] = {0};
	unsigned ticks = 0, running = b->nroutes;

	while (running) {
		sleep(1);
		running = 0;
		for (unsigned i = 0; i < b->nroutes; i++)
			/* acquire: pairs with the release of done in route_start()'s thread */
			running += !atomic_load_explicit(&b->routes[i].done, memory_order_acquire);
		if (running < b->nroutes)
			bridge_stop_set(-1);
		if (b->stats_s && ++ticks % b->stats_s == 0)
			for (unsigned i = 0; i < b->nroutes; i++)
				stats_line(b, &b->routes[i], &last[i], b->stats_s);
	}
}

static void *route_thread(void *arg)
{
	struct route_arg *a = arg;

	if (a->r->dir == ROUTE_OUT)
		route_out_run(a);
	else
		route_in_run(a);
	atomic_store_explicit(&a->r->done, 1, memory_order_release);
	return NULL;
}

static int routes_run(struct bridge *b)
{
	struct route_arg args[BRIDGE_ROUTES_MAX];
	pthread_t th[BRIDGE_ROUTES_MAX];
	unsigned started = 0;
	int failed = 0;

	for (; started < b->nroutes; started++) {
		args[started] = (struct route_arg){b, &b->routes[started]};
		if (pthread_create(&th[started], NULL, route_thread, &args[started])) {
			blog("error", "main", "cannot start a thread");
			bridge_stop_set(-1);
			break;
		}
	}
	for (unsigned i = started; i < b->nroutes; i++)
		b->routes[i].done = 1;
	supervise(b);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		failed |= b->routes[i].err != 0;
	}
	return failed || started < b->nroutes ? BRIDGE_FAILED : BRIDGE_OK;
}

static int state_dir_make(const struct bridge *b)
{
	for (unsigned i = 0; i < b->nroutes; i++)
		if (b->routes[i].dir == ROUTE_OUT) {
			if (mkdir(b->state_dir, 0755) == 0 || errno == EEXIST)
				return access(b->state_dir, W_OK) == 0 ? 0 : (errno = EACCES, -1);
			return -1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	struct bridge b;
	int rc = config_parse(&b, argc, argv), err;

	if (rc) {
		config_free(&b);
		return rc < 0 ? BRIDGE_OK : rc;
	}
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	signals_install();
	rc = BRIDGE_FAILED;
	if (state_dir_make(&b)) {
		blog("error", "main", "state directory %s: %s", b.state_dir, strerror(errno));
		goto out_config;
	}
	err = shmq_connect(b.socket, &b.client);
	if (err) {
		blog("error", "main", "cannot connect to shmqd: %s (%s)", shmq_strerror(err),
		     shmq_errname(err));
		goto out_config;
	}
	if (nats_conn_open(&b) != NATS_OK)
		goto out_shmq;
	if (b.create_stream && nats_stream_ensure(&b))
		goto out_nats;
	blog("info", "main", "running routes=%u nats=%s state-dir=%s", b.nroutes, b.nats_url,
	     b.state_dir);
	rc = routes_run(&b);
	blog("info", "main", "stopped%s", rc ? " after a failure" : "");
out_nats:
	natsConnection_Destroy(b.nc);
out_shmq:
	shmq_disconnect(b.client);
	nats_Close();
out_config:
	config_free(&b);
	return rc;
}
