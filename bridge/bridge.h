/*
 * bridge.h - what the files of shmq-bridge share: the routes read from the
 * command line and the configuration file, the log, and the two kinds of
 * route thread. main() parses and starts one thread per route; each
 * thread owns its shmq handle and its JetStream context, and shares only
 * the shmq client and the NATS connection (both thread-safe) and the
 * stop flag. Only main() exits.
 */
#ifndef BRIDGE_BRIDGE_H
#define BRIDGE_BRIDGE_H

#include <nats/nats.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "shmq.h"

/* Exit status of shmq-bridge. */
enum bridge_exit {
	BRIDGE_OK = 0,	   /* stopped by SIGTERM or SIGINT */
	BRIDGE_FAILED = 1, /* NATS or shmqd unreachable at start, a route failed */
	BRIDGE_USAGE = 2,  /* the command line or the configuration is wrong */
};

#define BRIDGE_ROUTES_MAX 64
#define BRIDGE_SUBJECT_MAX 255
#define BRIDGE_BATCH_MAX 4096

enum route_dir {
	ROUTE_OUT, /* channel -> subject */
	ROUTE_IN,  /* subject -> channel */
};

/* Counters of a route: written by its thread, read by the stats line. */
struct route_stats {
	_Atomic uint64_t messages; /* forwarded (out: acked by JetStream; in: published) */
	_Atomic uint64_t
	    duplicates;		   /* out: acks that said Duplicate (a resend JetStream dropped) */
	_Atomic uint64_t resent;   /* out: messages sent again after a failed or missing ack */
	_Atomic uint64_t lost;	   /* out: gone from the ring before the bridge read them */
	_Atomic uint64_t rejected; /* in: messages the channel refused (too big): terminated */
	_Atomic uint64_t next;	   /* out: the offset recorded last (the next to send) */
	_Atomic uint64_t pending;  /* in: messages the consumer has not delivered yet */
};

struct route {
	enum route_dir dir;
	char channel[SHMQ_NAME_MAX + 1];
	char subject[BRIDGE_SUBJECT_MAX + 1];
	struct route_stats st;
	int err;	  /* the thread's end: 0 or -SHMQ_E..., set before done */
	_Atomic int done; /* 1 once the thread ended; release, pairs with main()'s acquire */
};

struct bridge {
	const char *socket;
	const char *nats_url;
	const char *state_dir;
	const char *durable_prefix;
	const char *create_stream; /* NULL, or a stream to create for the out subjects */
	const char *start;	   /* out routes without state: "earliest" or "latest" */
	unsigned batch;		   /* messages in flight per out route */
	unsigned ack_wait_s;	   /* in: the consumer's AckWait */
	unsigned stats_s;	   /* seconds between stats lines, 0: none */
	unsigned nroutes;
	struct route routes[BRIDGE_ROUTES_MAX];
	char **owned; /* values read from --config files, freed by config_free() */
	unsigned nowned;
	struct shmq_client *client;
	natsConnection *nc;
};

/* Non-zero once the bridge stops: a signal's number, or -1 (a route failed). */
extern _Atomic int bridge_stop;

/*
 * Relaxed: a flag polled between messages; nothing else is published
 * with it (the threads' results go through route.done).
 */
static inline int bridge_stopping(void)
{
	return atomic_load_explicit(&bridge_stop, memory_order_relaxed);
}

static inline void bridge_stop_set(int why)
{
	int none = 0;

	/* relaxed, as above; the first reason stays */
	atomic_compare_exchange_strong_explicit(&bridge_stop, &none, why, memory_order_relaxed,
						memory_order_relaxed);
}

/* One line on stderr: "shmq-bridge LEVEL COMPONENT: message". */
void blog(const char *level, const char *comp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* config.c: parse argv (and --config files) into b. 0, or BRIDGE_USAGE after a message;
 * -1 after --help or --version (printed: exit 0). */
int config_parse(struct bridge *b, int argc, char **argv);
void config_free(struct bridge *b);

/* nats_conn.c: connect with reconnects and backoff; 0 or the natsStatus (logged). */
int nats_conn_open(struct bridge *b);
/* Create b->create_stream for the out subjects unless it exists; 0 or -1 (logged). */
int nats_stream_ensure(struct bridge *b);

/* route_out.c, route_in.c: the route threads; set r->err. */
struct route_arg {
	struct bridge *b;
	struct route *r;
};
void *route_out_run(void *arg);
void *route_in_run(void *arg);

/* state.c: the out route's recorded offset (the next message to send). */
int state_load(const char *dir, const char *channel, uint64_t *next);
int state_store(const char *dir, const char *channel, uint64_t next);

/* Milliseconds of the backoff after attempts failures: 100 ms doubling to 5 s, with jitter. */
int64_t backoff_ms(int attempts);

#endif
