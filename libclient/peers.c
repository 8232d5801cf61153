/*
 * peers.c - the entry segments of a channel's other handles, mapped
 * read-only: publishers map the readers' (block policy) and the other
 * publishers' to bound their claims, monitors all of them to read
 * counters; and the event fds a publisher needs to wake event-fd readers.
 * The daemon hands out only what the caller's handle needs (OP_PEERS).
 * Called by the thread that uses the handle.
 */
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "map.h"

static int peers_call(struct shmq_client *c, const struct chan_map *m, uint32_t kind,
		      struct proto_peers *resp, int *fds, unsigned *nfds)
{
	struct proto_peers_req req = {.channel_id = m->channel_id, .kind = kind};
	int err;

	*nfds = PROTO_MAX_FDS;
	err = client_call(c, OP_PEERS, &req, sizeof(req), resp, sizeof(*resp), fds, nfds);
	if (err)
		return err;
	if (resp->count != *nfds || resp->kind != kind || resp->count > MAX_READERS)
		err = -SHMQ_EPROTO;
	for (unsigned i = 0; i < resp->count && !err; i++)
		if (resp->idx[i] >= MAX_READERS || (i && resp->idx[i] <= resp->idx[i - 1]))
			err = -SHMQ_EPROTO;
	if (err) {
		for (unsigned i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
	}
	return err;
}

/* Slot i as listed (mapped anew if its generation changed), or unlisted. */
static void peer_set(void **map, uint32_t *gen, int fd, uint32_t new_gen)
{
	uint64_t bytes;
	void *p;

	if (fd >= 0 && *map && *gen == new_gen)
		return;
	map_release(*map, ENTRY_SEG_BYTES);
	*map = NULL;
	*gen = 0;
	if (fd < 0 || map_fd(fd, false, &p, &bytes))
		return;
	if (bytes != ENTRY_SEG_BYTES) {
		map_release(p, bytes);
		return;
	}
	*map = p;
	*gen = new_gen;
}

int peers_refresh(struct shmq_client *c, const struct chan_map *m, struct peer_maps *pm,
		  uint32_t kind, uint32_t self)
{
	/* acquire; pairs with the daemon's release bump: the listing we get
	 * next is at least as new as this generation. */
	uint64_t gen = atomic_load_explicit(
	    kind == PEER_PUBS ? &m->v.ctl->pubs_gen : &m->v.ctl->readers_gen, memory_order_acquire);
	struct proto_peers resp;
	int fds[PROTO_MAX_FDS];
	unsigned nfds, k = 0;
	int err = peers_call(c, m, kind, &resp, fds, &nfds);

	if (err)
		return err;
	for (unsigned i = 0; i < MAX_READERS; i++) {
		int fd = k < nfds && resp.idx[k] == i ? fds[k] : -1;
		uint32_t g = fd >= 0 ? resp.gen[k++] : 0;

		if (i == self)
			continue;
		if (kind == PEER_PUBS)
			peer_set((void **)&pm->p.pubs[i], &pm->p.pgen[i], fd, g);
		else
			peer_set((void **)&pm->p.readers[i], &pm->p.rgen[i], fd, g);
	}
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	if (kind == PEER_PUBS)
		pm->pubs_gen = gen;
	else
		pm->readers_gen = gen;
	return 0;
}

void peers_release(struct peer_maps *pm)
{
	for (unsigned i = 0; i < MAX_READERS; i++) {
		map_release(pm->p.readers[i], ENTRY_SEG_BYTES);
		map_release(pm->p.pubs[i], ENTRY_SEG_BYTES);
	}
	memset(pm, 0, sizeof(*pm));
}

int peers_fetch_efds(struct shmq_client *c, const struct chan_map *m, int *efds)
{
	struct proto_peers resp;
	int fds[PROTO_MAX_FDS];
	unsigned nfds, k = 0;
	int err = peers_call(c, m, PEER_EFDS, &resp, fds, &nfds);

	if (err)
		return err;
	for (unsigned i = 0; i < MAX_READERS; i++) {
		if (efds[i] >= 0)
			close(efds[i]);
		efds[i] = k < nfds && resp.idx[k] == i ? fds[k++] : -1;
	}
	return 0;
}
