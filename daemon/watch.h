/*
 * watch.h - routing's control ops: OP_MATCH (the channels a subject pattern
 * matches), OP_WATCH and OP_UNWATCH (a datagram socket the daemon signals
 * when a matching channel the watcher's uid may subscribe to is created or
 * deleted). A watch belongs to its connection. Main thread only.
 */
#ifndef DAEMON_WATCH_H
#define DAEMON_WATCH_H

#include "request.h"

/* Watches one connection may hold. */
#define WATCH_MAX_PER_CLIENT 64u

/* One watch: the pattern and the daemon's (waker) end of its socket pair. */
struct watch {
	uint64_t id;
	int waker_fd;
	char pattern[NAME_BYTES];
};

int watch_op_match(struct ctl *c, struct client *cl, const void *body, struct reply *rep);
int watch_op_watch(struct ctl *c, struct client *cl, const void *body, struct reply *rep);
int watch_op_unwatch(struct ctl *c, struct client *cl, const void *body, struct reply *rep);
/* Every watch for root and the daemon's uid, the caller's uid's for others (as OP_STATS). */
int watch_op_list(struct ctl *c, struct client *cl, const void *body, struct reply *rep);

/* ch was created or is about to be deleted: signal every watch that may know of it. */
void watch_channel_changed(struct ctl *c, const struct channel *ch);

/* The connection ends: close its watches. */
void watch_drop_all(struct client *cl);

#endif
