/*
 * inbox.h - requesters' reply inboxes (docs/ARCHITECTURE.md, "Request/reply
 * and inboxes"): OP_INBOX makes a drop-policy channel _inbox.<uid>.<id>
 * for the caller, which only its uid may read and the request channel's
 * readers may write, and the daemon deletes it with its requester: when
 * the connection that made it closes, or its last reader goes (closed,
 * died, or not resumed after a restart). Main thread only.
 */
#ifndef DAEMON_INBOX_H
#define DAEMON_INBOX_H

#include <stdbool.h>

#include "request.h"

#define INBOX_PREFIX "_inbox."

/* Is name an inbox's, or one no client may create (first token _inbox)? */
bool inbox_name_reserved(const char *name);

/* OP_INBOX: a new inbox for cl, replying to the channel in body (a proto_name). */
int inbox_op(struct ctl *c, struct client *cl, const void *body, struct reply *rep);

/* A reader of ch went: if ch is an inbox with none left, delete it. */
void inbox_reader_gone(struct registry *r, struct channel *ch);

/* Client cl goes: delete the inboxes it made that are still there. */
void inbox_client_gone(struct ctl *c, const struct client *cl);

#endif
