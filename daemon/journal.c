/*
 * journal.c - the journal thread (journal.h). One thread writes the
 * segment files of every durable channel; it owns each channel's struct
 * jchan (its own mappings of the data, control and wake segments and of
 * the journal's reader entry) once journal_add() handed it over through
 * the pending list (under j->lock, the only state both threads touch), so
 * the main thread may free its channel at any time. The thread stores
 * only the journal's cursor, ctl_hdr's journal line and durable_pos, and
 * the wake segment's durable words. log_msg() is safe here: each line is
 * one locked stdio write.
 *
 * Per channel: stage committed records into a buffer (a CHECKPOINT first
 * after each sync and at a segment's start, GAPs for lost messages, a
 * SEAL when the segment is full), write it at the segment's end, then
 * move the cursor (written) and written_pos; sync as the mode says, then
 * durable_pos. A failed write or sync is final (FAILED); ENOSPC leaves the
 * cursor where it was and retries (NOSPACE).
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal_int.h"
#include "logmsg.h"
#include "map.h"
#include "registry.h"
#include "wait.h"

#define IDLE_MAX_NS 1000000ull /* the longest nap when nothing moved */
#define NOSPACE_RETRY_NS 100000000ull

static uint64_t salt_new(void)
{
	uint64_t s = 0;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
		s = wait_now_ns() * 0x9e3779b97f4a7c15ull;
	return s | 1;
}

/* ---- the control segment's journal line ---- */

static void state_set(struct jchan *jc, uint32_t state, int err)
{
	if (jc->state == state)
		return;
	jc->state = state;
	/* relaxed: a figure for monitors; publishers read journal_state on
	 * their own and only act on FAILED, which is final */
	atomic_store_explicit(&jc->ctl->journal_errno, (uint32_t)err, memory_order_relaxed);
	/* release: the errno above is visible with the state */
	atomic_store_explicit(&jc->ctl->journal_state, state, memory_order_release);
	log_msg(state == JOURNAL_OK ? LOG_INFO : LOG_ERROR, "journal", "channel=%s state=%s%s%s",
		jc->name,
		state == JOURNAL_OK	   ? "ok"
		: state == JOURNAL_NOSPACE ? "nospace"
					   : "failed",
		err ? " error=" : "", err ? strerror(err) : "");
}

/* durable_pos moved: publish it, then wake confirm waiters if any sleep. */
static void durable_publish(struct jchan *jc, uint64_t pos)
{
	struct wake_hdr *w = jc->v.wake;

	if (pos <= jc->durable)
		return;
	jc->durable = pos;
	/* seq_cst: release for the confirms (every record below is on disk),
	 * and ordered before the durable_waiters exchange below (pairs with
	 * the waiter's seq_cst store of durable_waiters, then load of
	 * durable_pos, in shmq_wait_durable()). */
	atomic_store_explicit(&jc->ctl->durable_pos, pos, memory_order_seq_cst);
	/* release: the new sequence after durable_pos, for waiters that
	 * compare it before they sleep */
	atomic_fetch_add_explicit(&w->durable_seq, 1, memory_order_release);
	/* seq_cst load first: nobody waits in the common case of a busy
	 * publisher that polls; whoever exchanges 1 -> 0 wakes them all */
	if (atomic_load_explicit(&w->durable_waiters, memory_order_seq_cst) &&
	    atomic_exchange_explicit(&w->durable_waiters, 0, memory_order_seq_cst))
		wait_wake(&w->durable_seq, INT32_MAX);
}

/* The cursor moved past what was written: store it and wake publishers waiting for space. */
static void written_publish(struct jchan *jc)
{
	struct wake_hdr *w = jc->v.wake;

	/* seq_cst: release for log_reader_limit(), and ordered before the
	 * space_wanted load (pairs with wait_space() in libclient/pub.c) */
	log_cursor_store(jc->me, &jc->written, true);
	/* release: written_pos is a figure; what is below it is written */
	atomic_store_explicit(&jc->ctl->written_pos, jc->written.pos, memory_order_release);
	if (atomic_load_explicit(&w->space_wanted, memory_order_seq_cst) &&
	    atomic_exchange_explicit(&w->space_wanted, 0, memory_order_seq_cst)) {
		/* release: publish the new sequence before the wake. */
		atomic_fetch_add_explicit(&w->space_seq, 1, memory_order_release);
		wait_wake(&w->space_seq, INT32_MAX);
	}
}

void jchan_seg_published(struct jchan *jc)
{
	/* relaxed: figures for monitors */
	atomic_store_explicit(&jc->ctl->journal_seg_base, jc->seg_base, memory_order_relaxed);
	atomic_fetch_add_explicit(&jc->ctl->journal_segs, 1, memory_order_relaxed);
}

void jchan_published(struct jchan *jc)
{
	written_publish(jc);
	durable_publish(jc, jc->gap_count ? jc->gap_first : jc->written.pos);
	state_set(jc, JOURNAL_OK, 0);
}

/* ---- segments ---- */

static void seg_close(struct jchan *jc)
{
	if (jc->seg_fd >= 0)
		close(jc->seg_fd);
	jc->seg_fd = -1;
}

/*
 * Start a segment at base: create, preallocate, write its header, sync it
 * and the directory (the file's name must outlive a crash as its data
 * does). 0 or a negated errno.
 */
static int seg_create(struct journal *j, struct jchan *jc, uint64_t base)
{
	char name[JSEG_NAME_BYTES];
	uint8_t hdr[JSEG_HDR_BYTES];
	int fd, err;

	journal_seg_name(base, name);
	err = j->io->open(j->io, jc->dirfd, name, O_RDWR | O_CREAT | O_TRUNC, &fd);
	if (err)
		return err;
	jc->salt = salt_new();
	journal_seg_hdr_make(hdr, jc->id, base, jc->seg_bytes, jc->salt);
	err = j->io->allocate(j->io, fd, jc->seg_bytes);
	if (!err)
		err = j->io->write(j->io, fd, hdr, JSEG_HDR_BYTES, 0);
	if (!err)
		err = j->io->sync(j->io, fd);
	if (!err)
		err = j->io->sync(j->io, jc->dirfd);
	if (err) {
		close(fd);
		unlinkat(jc->dirfd, name, 0);
		return err;
	}
	jc->seg_fd = fd;
	jc->seg_base = base;
	jc->seg_off = JSEG_HDR_BYTES;
	jc->ckpt_durable = UINT64_MAX; /* its first write starts with a checkpoint */
	jchan_seg_published(jc);
	log_msg(LOG_DEBUG, "journal", "segment channel=%s base=%llu", jc->name,
		(unsigned long long)base);
	return 0;
}

/* ---- staging ---- */

static bool stage_room(const struct jchan *jc, uint64_t n)
{
	/* a SEAL must still fit after it */
	return jc->buf_len + n <= jc->buf_bytes &&
	       jc->seg_off + jc->buf_len + n + JREC_SMALL_BYTES <= jc->seg_bytes;
}

static void stage_gap(struct jchan *jc, uint64_t first, uint64_t count)
{
	while (count) {
		uint64_t n = count < JREC_GAP_MAX ? count : JREC_GAP_MAX;

		jc->buf_len += journal_put_gap(jc->buf + jc->buf_len, first, n);
		first += n;
		count -= n;
	}
}

/* Stage the record rec: the writer's copy, checksummed (the ring is never written). */
static void stage_msg(struct jchan *jc, const struct log_rec *rec)
{
	jc->buf_len += journal_put_msg(jc->buf + jc->buf_len, rec->pos, rec->timestamp_ns,
				       rec->flags, rec->ext, rec->ext_bytes, rec->data, rec->len);
}

/* A record at the cursor no honest publisher writes: skip to a trusted boundary, a GAP. */
static bool stage_skip(struct jchan *jc)
{
	struct log_cursor out;

	if (log_skip(&jc->v, &jc->cur, &out))
		return false;
	if (jc->cur_rate++ < 5)
		log_msg(LOG_WARN, "journal",
			"channel=%s bad record at offset=%llu: skipped to %llu", jc->name,
			(unsigned long long)jc->cur.pos, (unsigned long long)out.pos);
	if (out.pos > jc->cur.pos)
		stage_gap(jc, jc->cur.pos, out.pos - jc->cur.pos);
	jc->cur = out;
	return true;
}

/*
 * Stage what the ring holds past the cursor. Returns true if the segment
 * is full (a SEAL ends the staged bytes).
 */
static bool stage(struct jchan *jc)
{
	if (jc->gap_count) { /* the files end below the cursor (journal_int.h) */
		stage_gap(jc, jc->gap_first, jc->gap_count);
		jc->gap_count = 0;
	}
	if (jc->ckpt_durable != jc->durable) {
		jc->buf_len += journal_put_checkpoint(jc->buf, jc->durable, jc->cur.pos,
						      jc->seg_off, jc->salt, wait_realtime_ns());
		jc->ckpt_durable = jc->durable;
	}
	for (;;) {
		struct log_cursor c = jc->cur;
		struct log_rec rec;
		int r;

		if (!stage_room(jc, 2 * JREC_SMALL_BYTES))
			break;
		r = log_read(&jc->v, &c, &rec);
		if (r == 0) { /* past padding and lost messages, if any */
			if (c.pos > jc->cur.pos)
				stage_gap(jc, jc->cur.pos, c.pos - jc->cur.pos);
			jc->cur = c;
			break;
		}
		if (r < 0) {
			if (!stage_skip(jc))
				break;
			continue;
		}
		if (rec.pos > jc->cur.pos) /* messages lost before it */
			stage_gap(jc, jc->cur.pos, rec.pos - jc->cur.pos);
		jc->cur = (struct log_cursor){rec.pos, rec.bytes};
		if (!stage_room(jc, journal_msg_bytes(rec.len, rec.ext_bytes)))
			break;
		stage_msg(jc, &rec);
		log_advance(&c, &rec);
		jc->cur = c;
	}
	if (jc->seg_off + jc->buf_len + jc->v.max_record_bytes + 2 * JREC_SMALL_BYTES +
		JREC_CKPT_BYTES <=
	    jc->seg_bytes)
		return false;
	jc->buf_len += journal_put_seal(jc->buf + jc->buf_len, jc->cur.pos, wait_realtime_ns());
	return true;
}

/* ---- a step of one channel ---- */

void jchan_fail(struct jchan *jc, int err)
{
	state_set(jc, err == -ENOSPC ? JOURNAL_NOSPACE : JOURNAL_FAILED, -err);
}

/* fdatasync the segment; durable_pos up to what was written before it. */
static int sync_now(struct journal *j, struct jchan *jc)
{
	uint64_t upto = jc->written.pos;
	int err = j->io->sync(j->io, jc->seg_fd);

	if (err)
		return err;
	jc->unsynced = 0;
	durable_publish(jc, upto);
	return 0;
}

static bool sync_due(const struct jchan *jc, uint64_t now_ns)
{
	if (!jc->unsynced || jc->sync == SHMQ_SYNC_OS)
		return false;
	return jc->sync == SHMQ_SYNC_ALWAYS || jc->unsynced >= jc->sync_bytes ||
	       now_ns - jc->first_unsynced_ns >= jc->sync_interval_ns;
}

/* Write the staged bytes (with their fsync for ALWAYS); 0 or a negated errno. */
static int flush(struct journal *j, struct jchan *jc, uint64_t now_ns)
{
	bool linked = jc->sync == SHMQ_SYNC_ALWAYS;
	uint64_t n = jc->buf_len;
	int err = linked ? j->io->write_sync(j->io, jc->seg_fd, jc->buf, n, jc->seg_off)
			 : j->io->write(j->io, jc->seg_fd, jc->buf, n, jc->seg_off);

	if (err)
		return err;
	jc->seg_off += n;
	jc->buf_len = 0;
	jc->written = jc->cur;
	written_publish(jc);
	if (linked) {
		durable_publish(jc, jc->written.pos);
		return 0;
	}
	if (!jc->unsynced)
		jc->first_unsynced_ns = now_ns;
	jc->unsynced += n;
	if (jc->sync == SHMQ_SYNC_OS)
		durable_publish(jc, jc->written.pos);
	return 0;
}

/* A write did not happen: forget what was staged, read it again later. */
static void unstage(struct jchan *jc)
{
	jc->buf_len = 0;
	jc->cur = jc->written;
	jc->ckpt_durable = UINT64_MAX;
}

/* One round for jc: true if it moved. */
static bool jchan_step(struct journal *j, struct jchan *jc, uint64_t now_ns)
{
	uint64_t before;
	bool full;
	int err;

	if (jc->state == JOURNAL_FAILED || (jc->state == JOURNAL_NOSPACE && now_ns < jc->retry_ns))
		return false;
	if (jc->seg_fd < 0) {
		err = seg_create(j, jc, jc->written.pos);
		if (err)
			goto out_err;
	}
	before = jc->written.pos;
	full = stage(jc);
	if (!full && jc->cur.bytes == jc->written.bytes) {
		unstage(jc); /* nothing new (a lone checkpoint waits for records) */
	} else {
		err = flush(j, jc, now_ns);
		if (err) {
			unstage(jc);
			goto out_err;
		}
	}
	if (sync_due(jc, now_ns) || (full && jc->unsynced)) {
		err = sync_now(j, jc);
		if (err)
			goto out_fatal;
	}
	if (full)
		seg_close(jc);
	state_set(jc, JOURNAL_OK, 0);
	return jc->written.pos != before;

out_err:
	if (err == -ENOSPC) {
		jc->retry_ns = now_ns + NOSPACE_RETRY_NS;
		jchan_fail(jc, err);
		return false;
	}
out_fatal:
	jchan_fail(jc, err == -ENOSPC ? -EIO : err); /* a failed sync is final, whatever it says */
	return false;
}

/* ---- the thread ---- */

static void jchan_free(struct jchan *jc)
{
	seg_close(jc);
	if (jc->dirfd >= 0)
		close(jc->dirfd);
	map_release(jc->data, jc->data_bytes);
	map_release(jc->ctl, jc->ctl_bytes);
	map_release(jc->wake, jc->wake_bytes);
	map_release(jc->me, jc->entry_bytes);
	free(jc->buf);
	free(jc);
}

/* Take what the main thread handed over or asked to drop. */
static bool take_pending(struct journal *j)
{
	bool stop;

	pthread_mutex_lock(&j->lock);
	while (j->pending) {
		struct jchan *jc = j->pending;

		j->pending = jc->next;
		jc->next = j->live;
		j->live = jc;
	}
	for (struct jchan **p = &j->live; *p;) {
		struct jchan *jc = *p;

		if (!jc->removed) {
			p = &jc->next;
			continue;
		}
		*p = jc->next;
		if (jc->delete_files)
			jfiles_delete(j, jc);
		jchan_free(jc);
	}
	stop = j->stop;
	pthread_mutex_unlock(&j->lock);
	return stop;
}

static void *journal_thread(void *arg)
{
	struct journal *j = arg;
	uint64_t nap_ns = 20000;

	while (!take_pending(j)) {
		uint64_t now = wait_now_ns();
		bool moved = false;

		for (struct jchan *jc = j->live; jc; jc = jc->next) {
			if (!jc->ready && jfiles_resume(j, jc))
				continue;
			moved |= jchan_step(j, jc, now);
		}
		if (moved) {
			nap_ns = 20000;
			continue;
		}
		{
			struct timespec ts = {0, (long)nap_ns};

			nanosleep(&ts, NULL);
		}
		nap_ns = nap_ns * 2 > IDLE_MAX_NS ? IDLE_MAX_NS : nap_ns * 2;
	}
	/* a stop: write what the rings hold and sync it, then let go */
	for (struct jchan *jc = j->live, *n; jc; jc = n) {
		n = jc->next;
		if (jc->ready && jc->state == JOURNAL_OK && !jc->removed) {
			jchan_step(j, jc, wait_now_ns());
			if (jc->state == JOURNAL_OK && jc->unsynced && jc->seg_fd >= 0 &&
			    sync_now(j, jc))
				jchan_fail(jc, -EIO);
		}
		jchan_free(jc);
	}
	j->live = NULL;
	return NULL;
}

int journal_open(const char *data_dir, struct journal **out, const char **why)
{
	struct journal *j;
	const char *io_why = NULL;
	int err;

	*out = NULL;
	if (!data_dir || !data_dir[0])
		return 0;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -SHMQ_ENOMEM;
	err = jfiles_open_dir(j, data_dir, why);
	if (err) {
		free(j);
		return err;
	}
	j->io = journal_io_open(&io_why);
	if (!j->io) {
		close(j->dirfd);
		free(j);
		return -SHMQ_ENOMEM;
	}
	if (io_why)
		log_msg(LOG_INFO, "journal",
			"io_uring unavailable (%s): using pwritev and fdatasync", io_why);
	if (journal_io_faulty())
		log_msg(LOG_WARN, "journal", "test I/O faults on: SHMQD_JOURNAL_FAULT=%s",
			getenv("SHMQD_JOURNAL_FAULT"));
	pthread_mutex_init(&j->lock, NULL);
	if (pthread_create(&j->thread, NULL, journal_thread, j)) {
		j->io->close(j->io);
		close(j->dirfd);
		free(j);
		return -SHMQ_ESYS;
	}
	log_msg(LOG_INFO, "journal", "data_dir=%s io=%s", data_dir, j->io->name);
	*out = j;
	return 0;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->stop = true;
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	for (struct jchan *jc = j->pending, *n; jc; jc = n) {
		n = jc->next;
		jchan_free(jc);
	}
	j->io->close(j->io);
	close(j->dirfd);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

int journal_spec_check(const struct journal *j, const struct channel_spec *spec, const char **why)
{
	uint64_t seg = spec->segment_bytes ? spec->segment_bytes : JOURNAL_SEGMENT_BYTES;
	uint64_t max_rec =
	    rec_bytes_for(spec->max_message_bytes ? spec->max_message_bytes : 4096, REC_EXT_MAX);

	*why = NULL;
	if (!j)
		*why = "durability needs the daemon's data_dir (shmqd --data-dir DIR)";
	else if (spec->durability > SHMQ_SYNC_ALWAYS)
		*why = "unknown durability";
	else if (seg < JOURNAL_SEGMENT_MIN || seg < JSEG_HDR_BYTES + 2 * max_rec + 256)
		*why = "segment_bytes too small for two of the largest messages";
	return *why ? -SHMQ_EINVAL : 0;
}

/* Map ch's segments and the journal's entry again, for the thread. */
static int jchan_map(struct jchan *jc, struct channel *ch)
{
	struct log_segs segs;
	int err;

	if (map_fd(ch->data_fd, true, &jc->data, &jc->data_bytes) ||
	    map_fd(ch->ctl_fd, true, &jc->ctl_map, &jc->ctl_bytes) ||
	    map_fd(ch->wake_fd, true, &jc->wake, &jc->wake_bytes) ||
	    map_fd(ch->reader_fd[JOURNAL_READER_SLOT], true, (void **)&jc->me, &jc->entry_bytes))
		return -SHMQ_ESYS;
	jc->ctl = jc->ctl_map;
	segs = (struct log_segs){jc->data,	jc->data_bytes, jc->ctl,
				 jc->ctl_bytes, jc->wake,	jc->wake_bytes};
	err = log_attach(&jc->v, &segs, NULL);
	/* the journal's slot holds publishers on every policy, so it reads as
	 * a block reader does: never lapped, nothing "overrun" to skip */
	jc->v.policy = SHMQ_POLICY_BLOCK;
	return err;
}

int journal_add(struct journal *j, struct channel *ch, const struct channel_spec *spec)
{
	struct jchan *jc = calloc(1, sizeof(*jc));
	int err;

	if (!jc)
		return -SHMQ_ENOMEM;
	jc->seg_fd = jc->dirfd = -1;
	jc->id = ch->id;
	snprintf(jc->name, sizeof(jc->name), "%s", ch->name);
	jc->spec = *spec;
	jc->sync = spec->durability;
	jc->sync_bytes = spec->sync_bytes ? spec->sync_bytes : JOURNAL_SYNC_BYTES;
	jc->sync_interval_ns =
	    1000ull * (spec->sync_interval_us ? spec->sync_interval_us : JOURNAL_SYNC_INTERVAL_US);
	jc->seg_bytes = spec->segment_bytes ? spec->segment_bytes : JOURNAL_SEGMENT_BYTES;
	jc->owner_uid = ch->owner_uid;
	err = jchan_map(jc, ch);
	/* aligned_alloc() wants a multiple of the alignment */
	jc->buf_bytes = (JOURNAL_STAGE_MIN + 2ull * jc->v.max_record_bytes + 4095) & ~4095ull;
	jc->buf = err ? NULL : aligned_alloc(4096, jc->buf_bytes);
	if (err || !jc->buf) {
		jchan_free(jc);
		return err ? err : -SHMQ_ENOMEM;
	}
	pthread_mutex_lock(&j->lock);
	jc->next = j->pending;
	j->pending = jc;
	pthread_mutex_unlock(&j->lock);
	return 0;
}

void journal_remove(struct journal *j, uint64_t channel_id, bool delete_files)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	for (struct jchan *jc = j->pending; jc; jc = jc->next)
		if (jc->id == channel_id) {
			jc->removed = true;
			jc->delete_files = delete_files;
		}
	for (struct jchan *jc = j->live; jc; jc = jc->next)
		if (jc->id == channel_id) {
			jc->removed = true;
			jc->delete_files = delete_files;
		}
	pthread_mutex_unlock(&j->lock);
}
