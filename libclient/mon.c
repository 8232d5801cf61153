/*
 * mon.c - monitor handles: a channel observed through read-only mappings
 * of its data, control and wake segments and of every reader's and
 * publisher's entry, without a reader entry of its own, so a monitor never
 * holds a publisher back. Counters are summed from the entries their
 * writers keep; each value comes from a client that may be hostile, so it
 * is bounded by the tail before it is reported, and the headers the
 * daemon wrote are checked again at every read (publishers map the data
 * segment read-write). One thread at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct shmq_mon {
	struct shmq_client *client;
	struct client_handle h; /* resumed after a daemon restart */
	struct chan_map m;
	struct peer_maps peers;
	bool stale;
};

SHMQ_EXPORT int shmq_mon_open(struct shmq_client *c, const char *name, struct shmq_mon **out)
{
	struct proto_open req;
	struct proto_opened resp;
	struct shmq_mon *mon;
	int err = chan_open_req(c, name, out, ROLE_MON, 0, NULL, &req);

	if (err)
		return err;
	mon = calloc(1, sizeof(*mon));
	if (!mon)
		return -SHMQ_ENOMEM;
	err = chan_open(c, &req, &resp, &mon->m, NULL);
	if (err) {
		free(mon);
		return err;
	}
	mon->client = c;
	mon->stale = true;
	mon->h = (struct client_handle){.channel_id = resp.channel_id, .role = ROLE_MON};
	client_handle_add(c, &mon->h);
	*out = mon;
	return 0;
}

SHMQ_EXPORT void shmq_mon_close(struct shmq_mon *mon)
{
	if (!mon)
		return;
	client_handle_close(mon->client, &mon->h);
	peers_release(&mon->peers);
	chan_unmap(&mon->m);
	free(mon);
}

/* Map the entries of handles opened since the last look. */
static void mon_refresh(struct shmq_mon *mon)
{
	const struct ctl_hdr *ctl = mon->m.v.ctl;
	int err = 0;

	/* relaxed: compared with what peers_refresh() recorded (acquire there) */
	if (mon->stale ||
	    atomic_load_explicit(&ctl->readers_gen, memory_order_relaxed) != mon->peers.readers_gen)
		err = peers_refresh(mon->client, &mon->m, &mon->peers, PEER_READERS, MAX_READERS);
	if (!err && (mon->stale || atomic_load_explicit(&ctl->pubs_gen, memory_order_relaxed) !=
				       mon->peers.pubs_gen))
		err = peers_refresh(mon->client, &mon->m, &mon->peers, PEER_PUBS, MAX_PUBS);
	mon->stale = err != 0;
}

static uint64_t ld(const _Atomic uint64_t *w)
{
	/* relaxed: counters, each with one writer; a snapshot is loose */
	return atomic_load_explicit(w, memory_order_relaxed);
}

static uint32_t ld32(const _Atomic uint32_t *w)
{
	/* relaxed: as ld() */
	return atomic_load_explicit(w, memory_order_relaxed);
}

static void reader_row(const struct shmq_mon *mon, unsigned i, const struct log_cursor *tail,
		       struct shmq_mon_reader *row)
{
	const struct reader_entry *e = mon->peers.p.readers[i];
	const struct ctl_slot *sl = &mon->m.v.rslots[i];
	struct log_cursor cur = *tail;

	if (!log_cursor_load(e, &cur) || cur.pos > tail->pos || cur.bytes > tail->bytes)
		cur = *tail; /* not a cursor an honest reader holds: report no lag */
	*row = (struct shmq_mon_reader){
	    .slot = i,
	    .pid = ld32(&sl->owner_pid),
	    .uid = ld32(&sl->owner_uid),
	    .wait = ld32(&sl->wait_mode),
	    .offset = cur.pos,
	    .lag_messages = tail->pos - cur.pos,
	    .lag_bytes = tail->bytes - cur.bytes,
	    .received = ld(&e->received),
	    .lost_overrun = ld(&e->lost),
	    .lost_abandoned = ld(&e->lost_abandoned),
	    .sleeps = ld(&e->sleeps),
	    .wakeups = ld(&e->wakeups),
	};
}

static void pub_row(const struct shmq_mon *mon, unsigned i, struct shmq_mon_pub *row)
{
	const struct pub_entry *e = mon->peers.p.pubs[i];
	const struct ctl_slot *sl = &mon->m.v.pslots[i];

	*row = (struct shmq_mon_pub){
	    .slot = i,
	    .pid = ld32(&sl->owner_pid),
	    .uid = ld32(&sl->owner_uid),
	    .messages = ld(&e->published),
	    .bytes = ld(&e->published_bytes),
	    .abandoned = ld(&e->abandoned),
	    .space_waits = ld(&e->space_waits),
	};
}

static void lat_row(const struct reader_entry *e, struct shmq_mon_latency *row,
		    struct shmq_mon_latency *sum)
{
	static_assert(SHMQ_LAT_BUCKETS == LAT_BUCKETS, "API and layout agree");
	static_assert(SHMQ_LAT_SAMPLE_EVERY == LAT_SAMPLE_EVERY, "API and layout agree");

	row->samples = ld(&e->lat_samples);
	row->sum_ns = ld(&e->lat_sum_ns);
	sum->samples += row->samples;
	sum->sum_ns += row->sum_ns;
	for (unsigned k = 0; k < LAT_BUCKETS; k++) {
		row->buckets[k] = ld(&e->lat[k]);
		sum->buckets[k] += row->buckets[k];
	}
}

static void ext_fill(const struct shmq_mon *mon, const struct shmq_mon_stats *st,
		     struct shmq_mon_ext *ext)
{
	const struct log_view *v = &mon->m.v;

	memset(ext, 0, sizeof(*ext));
	ext->features = v->data->compat & FEAT_COMPAT_STATS ? SHMQ_MON_F_STATS : 0;
	ext->monitors = ld32(&v->ctl->monitors);
	ext->bad_readers = ld32(&v->ctl->bad_readers);
	if (ext->bad_readers > MAX_READERS) /* the daemon's word; bounded all the same */
		ext->bad_readers = MAX_READERS;
	for (uint32_t r = 0; r < st->nreaders; r++) {
		const struct reader_entry *e = mon->peers.p.readers[st->readers[r].slot];
		uint64_t expired = ld(&e->expired);

		lat_row(e, &ext->readers[r], &ext->latency);
		/* a reader's word: it cannot have passed more than was published */
		ext->reader_expired[r] = expired <= st->tail ? expired : st->tail;
		ext->expired += ext->reader_expired[r];
	}
	for (uint32_t r = 0; r < st->npubs; r++) {
		uint32_t len = ld32(&mon->peers.p.pubs[st->pubs[r].slot]->max_len);

		/* a publisher's word: bounded by what the channel accepts */
		ext->pub_max_bytes[r] = len <= v->max_message_bytes ? len : 0;
		if (ext->pub_max_bytes[r] > ext->max_message_bytes)
			ext->max_message_bytes = ext->pub_max_bytes[r];
	}
}

const struct log_view *mon_view(const struct shmq_mon *m)
{
	return &m->m.v;
}

SHMQ_EXPORT int shmq_mon_read_ext(struct shmq_mon *mon, struct shmq_mon_stats *out,
				  struct shmq_mon_ext *ext)
{
	int err;

	if (!ext)
		return -SHMQ_EINVAL;
	err = shmq_mon_read(mon, out);
	if (!err)
		ext_fill(mon, out, ext);
	return err;
}

SHMQ_EXPORT int shmq_mon_read(struct shmq_mon *mon, struct shmq_mon_stats *out)
{
	const struct log_view *v;
	struct log_cursor tail, oldest;
	int err;

	if (!mon || !out)
		return -SHMQ_EINVAL;
	err = log_recheck(&mon->m.v, mon->m.data_bytes, mon->m.ctl_bytes);
	if (err)
		return err;
	mon_refresh(mon);
	v = &mon->m.v;
	memset(out, 0, sizeof(*out));
	log_tail_cursor(v, &tail);
	log_oldest(v, &oldest);
	out->tail = tail.pos;
	out->tail_bytes = tail.bytes;
	out->oldest = oldest.pos;
	out->capacity_bytes = v->ring_bytes;
	out->abandoned = ld(&v->ctl->abandoned);
	out->watchdog_wakeups = ld(&v->ctl->wakeups);
	out->policy = v->policy;
	out->deleted = ld32(&v->ctl->state) == CHAN_DELETED;
	out->sleepers = ld32(&v->wake->sleepers);
	out->stale = mon->stale;
	for (unsigned i = 0; i < MAX_READERS; i++)
		if (mon->peers.p.readers[i] &&
		    !log_slot_stale(&v->rslots[i], mon->peers.p.rgen[i], true))
			reader_row(mon, i, &tail, &out->readers[out->nreaders++]);
	for (unsigned i = 0; i < MAX_PUBS; i++)
		if (mon->peers.p.pubs[i] &&
		    !log_slot_stale(&v->pslots[i], mon->peers.p.pgen[i], true))
			pub_row(mon, i, &out->pubs[out->npubs++]);
	return 0;
}
