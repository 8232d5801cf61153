/*
 * watch.c - subject patterns on the control socket (see watch.h and
 * docs/ARCHITECTURE.md, "Routing"). Whom a row or a signal reaches is
 * decided by the uid of the connection, with the rights of OP_OPEN: a
 * channel the uid may not subscribe to is neither listed to a subscriber
 * nor signalled, so its name, creation and deletion never reach it.
 * Signals are one datagram sent with MSG_DONTWAIT (wait_fd_signal()): a
 * client that never reads its socket costs one queued datagram, never a
 * blocked daemon. Main thread only.
 */
#include "watch.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "name.h"
#include "pattern.h"
#include "wait.h"

static bool may_see(const struct ctl *c, const struct client *cl, const struct channel *ch,
		    uint32_t flags)
{
	if (flags & MATCH_SUBSCRIBE)
		return request_may_subscribe(c, cl, ch);
	return request_visible(c, cl, ch);
}

int watch_op_match(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_match_req *req = body;
	struct proto_list *out = (struct proto_list *)rep->body;
	char pattern[NAME_BYTES];
	uint32_t live = 0;
	int err = pattern_from_wire(req->pattern, sizeof(req->pattern), pattern, sizeof(pattern));

	if (err)
		return err;
	if (req->flags & ~MATCH_SUBSCRIBE)
		return -SHMQ_EINVAL;
	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < c->reg->n; i++) {
		const struct channel *ch = c->reg->ch[i];

		if (ch->deleted || !pattern_match(pattern, ch->name) ||
		    !may_see(c, cl, ch, req->flags))
			continue;
		if (live >= req->start && out->count < PROTO_LIST_ROWS)
			request_info_fill(&out->rows[out->count++], ch);
		live++;
	}
	out->total = live;
	rep->len = sizeof(*out);
	return 0;
}

int watch_op_watch(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_watch_req *req = body;
	struct proto_watch *out = (struct proto_watch *)rep->body;
	struct watch w = {0}, *grown;
	int reader_fd, err;

	(void)c;
	err = pattern_from_wire(req->pattern, sizeof(req->pattern), w.pattern, sizeof(w.pattern));
	if (err)
		return err;
	if (cl->nw >= WATCH_MAX_PER_CLIENT)
		return -SHMQ_ELIMIT;
	grown = realloc(cl->w, (cl->nw + 1) * sizeof(*cl->w));
	if (!grown)
		return -SHMQ_ENOMEM;
	cl->w = grown;
	if (wait_fd_create(&reader_fd, &w.waker_fd) < 0)
		return -SHMQ_ELIMIT; /* out of descriptors */
	w.id = ++cl->watch_seq;
	cl->w[cl->nw++] = w;
	out->watch_id = w.id;
	rep->len = sizeof(*out);
	rep->fds[0] = reader_fd;
	rep->nfds = 1;
	rep->handed_fd = reader_fd; /* the client's alone: closed after the answer */
	return 0;
}

int watch_op_unwatch(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_watch *req = body;

	(void)c;
	for (uint32_t i = 0; i < cl->nw; i++) {
		if (cl->w[i].id != req->watch_id)
			continue;
		close(cl->w[i].waker_fd);
		cl->w[i] = cl->w[--cl->nw];
		*(struct proto_watch *)rep->body = *req;
		rep->len = sizeof(*req);
		return 0;
	}
	return -SHMQ_ENOENT;
}

void watch_channel_changed(struct ctl *c, const struct channel *ch)
{
	for (uint32_t i = 0; i < c->n; i++) {
		const struct client *cl = c->cl[i];

		for (uint32_t k = 0; k < cl->nw; k++)
			if (pattern_match(cl->w[k].pattern, ch->name) &&
			    request_may_subscribe(c, cl, ch))
				wait_fd_signal(cl->w[k].waker_fd);
	}
}

void watch_drop_all(struct client *cl)
{
	for (uint32_t i = 0; i < cl->nw; i++)
		close(cl->w[i].waker_fd);
	free(cl->w);
	cl->w = NULL;
	cl->nw = 0;
}

/* Subscriber handles of cl on channels that pattern matches. */
static uint32_t watch_channels(struct ctl *c, const struct client *cl, const char *pattern)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < cl->nh; i++) {
		const struct channel *ch;

		if (cl->h[i].role != ROLE_SUB)
			continue;
		ch = registry_by_id(c->reg, cl->h[i].channel_id);
		n += ch && pattern_match(pattern, ch->name);
	}
	return n;
}

int watch_op_list(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_list_req *req = body;
	struct proto_watches *out = (struct proto_watches *)rep->body;
	bool admin = ctl_is_admin(c, cl->uid);
	uint32_t seen = 0;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < c->n; i++) {
		const struct client *o = c->cl[i];

		for (uint32_t k = 0; (admin || o->uid == cl->uid) && k < o->nw; k++, seen++) {
			struct proto_watch_row *row = &out->rows[out->count];

			if (seen < req->start || out->count >= PROTO_WATCH_ROWS)
				continue;
			*row = (struct proto_watch_row){.pid = o->pid, .uid = o->uid};
			row->channels = watch_channels(c, o, o->w[k].pattern);
			memcpy(row->pattern, o->w[k].pattern, sizeof(o->w[k].pattern));
			out->count++;
		}
	}
	out->total = seen;
	rep->len = sizeof(*out);
	return 0;
}
