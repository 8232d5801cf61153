/*
 * request.h - the control socket's requests and the state they share with
 * ctl.c, which owns it: the daemon's struct ctl, its clients and the
 * handles each holds, and a handler's reply. ctl.c receives a datagram,
 * checks it (request_check()), runs it (request_run()) and sends the
 * reply; request.c never touches a socket. Main thread only.
 */
#ifndef DAEMON_REQUEST_H
#define DAEMON_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"
#include "logmsg.h"
#include "proto.h"
#include "registry.h"

struct handle {
	uint64_t channel_id;
	uint32_t role;
	uint32_t reader_idx;
};

struct client {
	uint64_t id;
	int fd;
	int pidfd;
	uint32_t pid;
	uint32_t uid;
	uint64_t start;	      /* its process's start mark (procid.h), 0 = unknown */
	char comm[16];	      /* its command name, for the log */
	uint64_t since_ns;    /* CLOCK_REALTIME when it connected */
	uint64_t hello_by_ns; /* CLOCK_MONOTONIC: HELLO is due before this */
	bool hello;
	uint32_t minor; /* the protocol minor its OP_HELLO announced */
	unsigned bad;
	uint32_t nh;
	uint32_t caph;
	struct handle *h;
	struct watch *w; /* its subject-pattern watches (watch.c) */
	uint32_t nw;
	uint64_t watch_seq;
};

struct ctl {
	int lfd;
	int epfd;
	uint32_t uid; /* the daemon's own uid: an administrator */
	struct registry *reg;
	const struct config *cfg;
	struct client **cl;
	uint32_t n;
	uint32_t cap;
	uint64_t next_id;
	struct log_rate reply_rate; /* "reply failed" lines */
	struct log_rate deny_rate;  /* "denied" lines */
	struct log_rate shed_rate;  /* "out of descriptors" lines */
	struct log_rate late_rate;  /* "no hello" lines */
	uint32_t unhello;	    /* clients that have not said HELLO yet */
	unsigned shed;		    /* connections refused since the last line */
	int reserve_fd;		    /* /dev/null, given up to shed a connection */
	uint64_t started_ns;	    /* CLOCK_REALTIME at ctl_open() */
	uint64_t denials;	    /* requests refused: access control, quotas */
	uint64_t proto_errors;	    /* malformed requests */
	uint64_t connections;	    /* clients accepted */
	char path[108];
};

/* What a handler answers: a body and descriptors. */
struct reply {
	uint8_t body[PROTO_MAX_BYTES - sizeof(struct proto_hdr)];
	uint32_t len;
	uint32_t nfds;
	int fds[PROTO_MAX_FDS];
	bool close_fds; /* the fds were opened for this reply: close them after it */
	int handed_fd;	/* one fd the daemon gives away with this reply: closed after it, -1 none */
};

/* From ctl.c: CLOCK_REALTIME in ns. */
uint64_t ctl_realtime_ns(void);

/* From ctl.c: root and the daemon's own uid administer every channel. */
bool ctl_is_admin(const struct ctl *c, uint32_t uid);

/* From ctl.c: "uid=U pid=P comm=C", who did something, for the log. */
const char *ctl_who(const struct client *cl);

/* From ctl.c: refuse with err, logging who was refused what (rate-limited). */
int ctl_deny(struct ctl *c, const struct client *cl, const char *op, const char *name,
	     const char *why, int err);

/* Check a request of n bytes with header h; 0 if it may be run. */
int request_check(const struct client *cl, const struct proto_hdr *h, size_t n);

/* Run a checked request: the op's handler fills rep; 0 or -SHMQ_E.... */
int request_run(struct ctl *c, struct client *cl, uint32_t op, const void *body, struct reply *rep);

/* For watch.c: may the client subscribe to ch; may it see ch (list, info); ch's OP_INFO row. */
bool request_may_subscribe(const struct ctl *c, const struct client *cl, const struct channel *ch);
bool request_visible(const struct ctl *c, const struct client *cl, const struct channel *ch);
void request_info_fill(struct proto_info *o, const struct channel *ch);

/* Release handle at of a client: its slot and its channel reference. */
void request_release_handle(struct ctl *c, struct client *cl, uint32_t at);

#endif
