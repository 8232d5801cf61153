/*
 * inbox.c - requesters' reply inboxes (see inbox.h). An inbox is an
 * ordinary channel in every other respect: its name (reserved prefix) and
 * access lists travel to the keeper with it, so a restarted daemon knows
 * it for an inbox, and its reader slot, judged by pid and start mark,
 * says when its requester is gone. Responders are trusted with nothing:
 * the inbox has policy drop, so a requester that stops reading costs
 * them nothing, and only the request channel's readers may publish.
 */
#include "inbox.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "name.h"
#include "shmq_types.h"

#define INBOX_RING_BYTES (64u << 10)

bool inbox_name_reserved(const char *name)
{
	return !strncmp(name, "_inbox", 6) && (name[6] == '.' || name[6] == 0);
}

static void acl_add(struct acl *a, uint32_t uid)
{
	if (a->everyone || acl_allows(a, uid) || a->n >= CONFIG_MAX_UIDS)
		return;
	a->uids[a->n++] = uid;
}

/*
 * The inbox's settings: drop, the request channel's largest message; the
 * owner reads, and whoever may read the request channel (its owner, its
 * subscribe list) writes. Administrators may do anything anyway.
 */
static int inbox_spec(struct channel_spec *spec, const struct channel *req, uint32_t uid)
{
	uint64_t id;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
		return -SHMQ_ESYS;
	memset(spec, 0, sizeof(*spec));
	snprintf(spec->name, sizeof(spec->name), INBOX_PREFIX "%" PRIu32 ".%016" PRIx64, uid, id);
	spec->capacity_bytes = INBOX_RING_BYTES;
	spec->max_message_bytes = req->v.max_message_bytes;
	spec->policy = SHMQ_POLICY_DROP;
	spec->publishers = SHMQ_PUBLISHERS_MANY;
	spec->numa_node = SHMQ_NUMA_NONE;
	spec->numa_resolved = -1;
	spec->subscribe.n = 1;
	spec->subscribe.uids[0] = uid;
	spec->publish = req->subscribe;
	acl_add(&spec->publish, req->owner_uid);
	acl_add(&spec->publish, uid);
	return 0;
}

int inbox_op(struct ctl *c, struct client *cl, const void *body, struct reply *rep)
{
	const struct proto_name *req = body;
	struct proto_inbox *out = (struct proto_inbox *)rep->body;
	struct channel_spec spec;
	struct channel *rch, *ch;
	char name[NAME_BYTES];
	int err = name_from_wire(req->name, sizeof(req->name), name, sizeof(name));

	if (err)
		return err;
	rch = registry_find(c->reg, name);
	if (!rch)
		return -SHMQ_ENOENT;
	if (!ctl_is_admin(c, cl->uid) && cl->uid != rch->owner_uid &&
	    !acl_allows(&rch->publish, cl->uid))
		return ctl_deny(c, cl, "inbox", name, "no_access", -SHMQ_EPERM);
	if (!ctl_is_admin(c, cl->uid) &&
	    registry_owned_by(c->reg, cl->uid) >= c->cfg->max_channels_per_uid)
		return ctl_deny(c, cl, "inbox", name, "max_channels_per_uid", -SHMQ_ECHANQUOTA);
	err = inbox_spec(&spec, rch, cl->uid);
	if (!err)
		err = registry_create_by(c->reg, &spec, cl->uid, ctl_who(cl), &ch);
	if (err)
		return err;
	ch->inbox_client = cl->id;
	memset(out, 0, sizeof(*out));
	strcpy(out->name, ch->name);
	out->channel_id = ch->id;
	rep->len = sizeof(*out);
	return 0;
}

void inbox_reader_gone(struct registry *r, struct channel *ch)
{
	if (!ch->deleted && inbox_name_reserved(ch->name) && !channel_readers(ch))
		registry_delete(r, ch, "inbox_reader_gone");
}

void inbox_client_gone(struct ctl *c, const struct client *cl)
{
	for (uint32_t i = 0; i < c->reg->n;) {
		struct channel *ch = c->reg->ch[i];

		/* registry_delete() may free ch and move the last one here */
		if (!ch->deleted && ch->inbox_client == cl->id) {
			registry_delete(c->reg, ch, "inbox_requester_gone");
			continue;
		}
		i++;
	}
}
