/*
 * journal_files.c - the journal's files (docs/ARCHITECTURE.md
 * "Durability"): DATA_DIR/<name>/<id>/ with meta and <base_pos>.seg.
 * jfiles_resume() and jfiles_delete() run on the journal thread;
 * jfiles_open_dir(), journal_recover() and journal_meta_load() on the main
 * thread at start, before anything is served. Segment bytes are scanned
 * with shm/journal.c, which trusts none of them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal_int.h"
#include "logmsg.h"
#include "registry.h"

#define META "meta"
#define META_TMP "meta.tmp"
#define META_BYTES 8192

int jfiles_open_dir(struct journal *j, const char *path, const char **why)
{
	if (mkdir(path, 0700) && errno != EEXIST) {
		*why = strerror(errno);
		return errno == EACCES || errno == EROFS ? -SHMQ_EPERM : -SHMQ_ESYS;
	}
	j->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0 || faccessat(j->dirfd, ".", W_OK | X_OK, AT_EACCESS)) {
		*why = j->dirfd < 0 ? strerror(errno) : "not writable";
		if (j->dirfd >= 0)
			close(j->dirfd);
		return -SHMQ_EPERM;
	}
	return 0;
}

/* DATA_DIR/<name>/<id>, made if asked; a descriptor or a negated errno. */
static int chan_dir(int top, const char *name, uint64_t id, bool make)
{
	char sub[32];
	int nfd, fd;

	if (make && mkdirat(top, name, 0700) && errno != EEXIST)
		return -errno;
	nfd = openat(top, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (nfd < 0)
		return -errno;
	snprintf(sub, sizeof(sub), "%" PRIu64, id);
	if (make && mkdirat(nfd, sub, 0700) && errno != EEXIST) {
		fd = -errno;
		close(nfd);
		return fd;
	}
	fd = openat(nfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	if (make && fd >= 0)
		fsync(nfd);
	close(nfd);
	return fd;
}

/* ---- meta ---- */

static int acl_print(char *out, size_t len, const struct acl *a)
{
	int n = snprintf(out, len, "%s", a->everyone ? "*" : "");

	for (uint32_t i = 0; i < a->n && i < CONFIG_MAX_UIDS && n < (int)len; i++)
		n += snprintf(out + n, len - (size_t)n, "%s%u", i ? "," : "", a->uids[i]);
	return n;
}

static int meta_text(const struct jchan *jc, char *out, size_t len)
{
	const struct channel_spec *s = &jc->spec;
	char pub[256], sub[256];

	acl_print(pub, sizeof(pub), &s->publish);
	acl_print(sub, sizeof(sub), &s->subscribe);
	return snprintf(out, len,
			"name=%s\nid=%" PRIu64 "\nowner_uid=%u\ncapacity=%" PRIu64
			"\nmax_message=%u\npolicy=%u\npublishers=%u\nflags=%u\ndurability=%u\n"
			"sync_interval_us=%u\nsync_bytes=%" PRIu64 "\nsegment_bytes=%" PRIu64
			"\npublish=%s\nsubscribe=%s\n",
			jc->name, jc->id, jc->owner_uid, jc->v.ring_bytes, s->max_message_bytes,
			s->policy, s->publishers, s->flags, s->durability, s->sync_interval_us,
			jc->sync_bytes, jc->seg_bytes, pub, sub);
}

/* meta.tmp written and synced, renamed to meta, the directory synced. */
static int meta_write(const struct jchan *jc)
{
	char text[META_BYTES];
	int n = meta_text(jc, text, sizeof(text)), fd, err = 0;

	fd = openat(jc->dirfd, META_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n || fsync(fd))
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && renameat(jc->dirfd, META_TMP, jc->dirfd, META))
		err = -errno;
	if (!err && fsync(jc->dirfd))
		err = -errno;
	return err;
}

static int acl_parse(const char *v, struct acl *a)
{
	memset(a, 0, sizeof(*a));
	if (*v == '*') {
		a->everyone = true;
		v++;
	}
	while (*v && a->n < CONFIG_MAX_UIDS) {
		char *end;
		unsigned long u = strtoul(v, &end, 10);

		if (end == v || u > UINT32_MAX)
			return -1;
		a->uids[a->n++] = (uint32_t)u;
		v = *end == ',' ? end + 1 : end;
	}
	return *v ? -1 : 0;
}

/* One "key=value" of meta into spec; -1 if the value is bad. */
static int meta_key(struct channel_spec *s, uint64_t *id, uint32_t *owner, const char *k,
		    const char *v)
{
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	bool num = end != v && !*end;

	if (!strcmp(k, "name"))
		return snprintf(s->name, sizeof(s->name), "%s", v) >= (int)sizeof(s->name) ? -1 : 0;
	if (!strcmp(k, "publish"))
		return acl_parse(v, &s->publish);
	if (!strcmp(k, "subscribe"))
		return acl_parse(v, &s->subscribe);
	if (!num)
		return -1;
	if (!strcmp(k, "id"))
		*id = n;
	else if (!strcmp(k, "owner_uid"))
		*owner = (uint32_t)n;
	else if (!strcmp(k, "capacity"))
		s->capacity_bytes = n;
	else if (!strcmp(k, "max_message"))
		s->max_message_bytes = (uint32_t)n;
	else if (!strcmp(k, "policy"))
		s->policy = (uint32_t)n;
	else if (!strcmp(k, "publishers"))
		s->publishers = (uint32_t)n;
	else if (!strcmp(k, "flags"))
		s->flags = (uint32_t)n;
	else if (!strcmp(k, "durability"))
		s->durability = (uint32_t)n;
	else if (!strcmp(k, "sync_interval_us"))
		s->sync_interval_us = (uint32_t)n;
	else if (!strcmp(k, "sync_bytes"))
		s->sync_bytes = n;
	else if (!strcmp(k, "segment_bytes"))
		s->segment_bytes = n;
	return 0; /* unknown keys: a later version's, ignored */
}

/* Read dirfd's meta into spec: 0 or -1 (missing, malformed). */
static int meta_read(int dirfd, struct channel_spec *s, uint64_t *id, uint32_t *owner)
{
	char text[META_BYTES], *line, *save = NULL;
	int fd = openat(dirfd, META, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = 0;
	memset(s, 0, sizeof(*s));
	s->numa_node = SHMQ_NUMA_NONE;
	s->numa_resolved = -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			return -1;
		*eq = 0;
		if (meta_key(s, id, owner, line, eq + 1))
			return -1;
	}
	if (!s->name[0] || name_check(s->name) || !s->durability || s->durability > 3 ||
	    !s->max_message_bytes)
		return -1;
	return 0;
}

int journal_meta_load(struct journal *j, const char *name, uint64_t id, struct channel_spec *spec)
{
	uint64_t got = 0;
	uint32_t owner = 0;
	int fd = chan_dir(j->dirfd, name, id, false), err;

	if (fd < 0)
		return -SHMQ_ENOENT;
	err = meta_read(fd, spec, &got, &owner);
	close(fd);
	return err || got != id || strcmp(spec->name, name) ? -SHMQ_ECORRUPT : 0;
}

/* ---- segments ---- */

/* The highest base_pos of a segment in dirfd (and how many there are); -1 if none. */
static int seg_list(int dirfd, uint64_t *bases, unsigned max, unsigned *n)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	*n = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((e = readdir(d)) && *n < max) {
		uint64_t b;

		if (!journal_seg_name_parse(e->d_name, &b))
			bases[(*n)++] = b;
	}
	closedir(d);
	for (unsigned i = 1; i < *n; i++) /* few segments: insertion sort */
		for (unsigned k = i; k > 0 && bases[k - 1] > bases[k]; k--) {
			uint64_t t = bases[k];

			bases[k] = bases[k - 1];
			bases[k - 1] = t;
		}
	return 0;
}

/*
 * How far past a bad record recovery looks: what one sync window and two
 * write buffers hold, twice (a checkpoint follows every sync, and no more
 * than that is ever unsynced but batch).
 */
static uint64_t scan_ahead(uint64_t sync_bytes, uint64_t max_record)
{
	return 2 * (sync_bytes + 2 * (JOURNAL_STAGE_MIN + 2 * max_record));
}

/* Scan the segment open at fd: 0 and *r, or the header's error. */
static int seg_scan(int fd, uint64_t max_record, uint64_t ahead, struct journal_scan *r)
{
	struct stat st;
	void *m;
	int err;

	if (fstat(fd, &st) || st.st_size < JSEG_HDR_BYTES)
		return -SHMQ_ECORRUPT;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return -SHMQ_ESYS;
	err = journal_scan(m, (uint64_t)st.st_size, max_record, ahead, r);
	munmap(m, (size_t)st.st_size);
	return err;
}

static void scan_log(const char *chan, uint64_t base, const struct journal_scan *r)
{
	if (r->corrupt)
		log_msg(LOG_ERROR, "journal",
			"corruption channel=%s segment=%" PRIu64 " bytes=%" PRIu64 "..%" PRIu64
			" offset=%" PRIu64 " reason=%s spans=%" PRIu64
			": kept as found; readers there get SHMQ_ECORRUPT",
			chan, base, r->corrupt_off, r->corrupt_end, r->corrupt_pos,
			journal_why_name(r->corrupt_why), r->corrupt);
	if (r->stop == JSTOP_TORN)
		log_msg(LOG_WARN, "journal",
			"torn tail cut channel=%s segment=%" PRIu64 " at=%" PRIu64 " bytes=%" PRIu64
			" reason=%s",
			chan, base, r->good_bytes, r->torn_end - r->good_bytes,
			journal_why_name(r->why));
}

/* Cut a torn tail: truncate at the last good record, preallocate again, sync. */
static int seg_cut(struct journal_io *io, int fd, const struct journal_scan *r)
{
	if (ftruncate(fd, (off_t)r->good_bytes))
		return -errno;
	if (io->allocate(io, fd, r->hdr.seg_bytes))
		return -EIO;
	return io->sync(io, fd);
}

/*
 * The last segment of jc: scanned, cut, synced, opened for appending
 * (or none: a new one starts at the cursor). *next gets the offset after
 * its last record, UINT64_MAX if there is no segment.
 */
static int seg_resume(struct journal *j, struct jchan *jc, uint64_t *next)
{
	uint64_t bases[4096];
	struct journal_scan r;
	char name[JSEG_NAME_BYTES];
	unsigned n;
	int fd, err;

	*next = UINT64_MAX;
	if (seg_list(jc->dirfd, bases, 4096, &n) || !n)
		return 0;
	journal_seg_name(bases[n - 1], name);
	err = j->io->open(j->io, jc->dirfd, name, O_RDWR, &fd);
	if (err)
		return err;
	err = seg_scan(fd, jc->v.max_record_bytes,
		       scan_ahead(jc->sync_bytes, jc->v.max_record_bytes), &r);
	if (!err && (r.hdr.channel_id != jc->id || r.hdr.base_pos != bases[n - 1]))
		err = -SHMQ_ECORRUPT;
	if (err) {
		log_msg(LOG_ERROR, "journal", "channel=%s segment=%s not usable: %s", jc->name,
			name, err == -SHMQ_EVERSION ? "a newer format" : "bad header");
		close(fd);
		return -EIO;
	}
	scan_log(jc->name, bases[n - 1], &r);
	err = r.stop == JSTOP_TORN ? seg_cut(j->io, fd, &r) : j->io->sync(j->io, fd);
	if (err) {
		close(fd);
		return err;
	}
	*next = r.next_pos;
	if (r.stop == JSTOP_SEALED) {
		close(fd);
		return 0;
	}
	jc->seg_fd = fd;
	jc->seg_base = bases[n - 1];
	jc->seg_off = r.good_bytes;
	jc->seg_bytes = r.hdr.seg_bytes;
	jc->salt = r.hdr.salt;
	jc->ckpt_durable = UINT64_MAX;
	jchan_seg_published(jc);
	return 0;
}

/*
 * The files hold records up to next; the slot's cursor says cur. Records
 * written but not yet marked in the cursor (a daemon killed between the
 * two) are read past in the ring, not written twice.
 */
static void cursor_reconcile(struct jchan *jc, uint64_t next)
{
	struct log_rec rec;

	for (unsigned i = 0; next != UINT64_MAX && jc->cur.pos < next && i < (1u << 30); i++) {
		struct log_cursor c = jc->cur;
		int r = log_read(&jc->v, &c, &rec);

		if (r <= 0) {
			jc->cur = c;
			if (r < 0 || !log_pending(&jc->v, &c))
				break;
			continue;
		}
		if (rec.pos >= next)
			break;
		log_advance(&c, &rec);
		jc->cur = c;
	}
	if (next != UINT64_MAX && jc->cur.pos < next)
		log_msg(LOG_ERROR, "journal",
			"channel=%s the files hold offsets to %" PRIu64
			" but the ring only %" PRIu64 ": appending after them",
			jc->name, next, jc->cur.pos);
	if (next != UINT64_MAX && jc->cur.pos > next) {
		log_msg(LOG_ERROR, "journal",
			"channel=%s the files end at offset %" PRIu64
			" below the journal's cursor %" PRIu64 ": a GAP records the difference",
			jc->name, next, jc->cur.pos);
		jc->gap_first = next;
		jc->gap_count = jc->cur.pos - next;
	}
	jc->written = jc->cur;
}

int jfiles_resume(struct journal *j, struct jchan *jc)
{
	uint64_t next;
	int err;

	jc->dirfd = chan_dir(j->dirfd, jc->name, jc->id, true);
	err = jc->dirfd < 0 ? jc->dirfd : meta_write(jc);
	if (!err)
		err = seg_resume(j, jc, &next);
	if (err) {
		jchan_fail(jc, err > 0 ? -err : err);
		jc->ready = true; /* FAILED: nothing more is tried */
		return err;
	}
	if (!log_cursor_load(jc->me, &jc->cur))
		log_tail_cursor(&jc->v, &jc->cur);
	cursor_reconcile(jc, next);
	/* everything written is synced now (seg_resume()); nothing below
	 * base_pos was ever the ring's */
	jc->durable = 0;
	jc->ready = true;
	jc->state = JOURNAL_NONE;
	jchan_published(jc);
	return 0;
}

void jfiles_delete(struct journal *j, struct jchan *jc)
{
	uint64_t bases[4096];
	char name[JSEG_NAME_BYTES], sub[32];
	unsigned n;
	int nfd;

	if (jc->dirfd < 0)
		return;
	if (!seg_list(jc->dirfd, bases, 4096, &n))
		for (unsigned i = 0; i < n; i++) {
			journal_seg_name(bases[i], name);
			unlinkat(jc->dirfd, name, 0);
		}
	unlinkat(jc->dirfd, META, 0);
	unlinkat(jc->dirfd, META_TMP, 0);
	nfd = openat(j->dirfd, jc->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (nfd >= 0) {
		snprintf(sub, sizeof(sub), "%" PRIu64, jc->id);
		unlinkat(nfd, sub, AT_REMOVEDIR);
		close(nfd);
		unlinkat(j->dirfd, jc->name, AT_REMOVEDIR); /* fails if another id is there */
	}
	log_msg(LOG_INFO, "journal", "deleted files channel=%s", jc->name);
}

/* ---- recovery at start ---- */

/*
 * Scan every segment of one channel directory in order: 0 and *next (the
 * offset after the last good record), or -1 if the channel cannot be
 * served (logged).
 */
static int recover_scan(struct journal *j, int dirfd, const char *chan, uint64_t id, uint64_t ahead,
			uint64_t *next)
{
	static uint64_t bases[4096];
	struct journal_scan r;
	char name[JSEG_NAME_BYTES];
	unsigned n;

	*next = UINT64_MAX;
	if (seg_list(dirfd, bases, 4096, &n))
		return -1;
	for (unsigned i = 0; i < n; i++) {
		int fd, err;

		journal_seg_name(bases[i], name);
		fd = openat(dirfd, name, O_RDWR | O_CLOEXEC);
		err = fd < 0 ? -SHMQ_ESYS : seg_scan(fd, 0, ahead, &r);
		if (!err && (r.hdr.channel_id != id || r.hdr.base_pos != bases[i]))
			err = -SHMQ_ECORRUPT;
		if (!err && *next != UINT64_MAX && bases[i] != *next)
			log_msg(LOG_ERROR, "journal",
				"channel=%s segment=%s does not start where the one before ended "
				"(%" PRIu64 ")",
				chan, name, *next);
		if (err) {
			log_msg(LOG_ERROR, "journal", "channel=%s not served: segment=%s %s", chan,
				name,
				err == -SHMQ_EVERSION
				    ? "has a newer format or an unknown incompat bit"
				    : "has a bad header");
			if (fd >= 0)
				close(fd);
			return -1;
		}
		scan_log(chan, bases[i], &r);
		if (r.stop == JSTOP_TORN && seg_cut(j->io, fd, &r))
			log_msg(LOG_ERROR, "journal", "channel=%s cannot cut segment=%s", chan,
				name);
		close(fd);
		*next = r.next_pos;
	}
	return 0;
}

/* One DATA_DIR/<name>/<id>: recreate its channel. True if it was. */
static bool recover_one(struct journal *j, struct registry *reg, int nfd, const char *chan,
			const char *idtext)
{
	struct channel_spec spec;
	struct channel *ch;
	uint64_t id = 0, next;
	uint32_t owner = 0;
	char *end;
	int dfd, err;

	id = strtoull(idtext, &end, 10);
	if (end == idtext || *end || registry_by_id(reg, id))
		return false; /* not ours, or adopted from the keeper with its ring */
	dfd = openat(nfd, idtext, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return false;
	err = meta_read(dfd, &spec, &(uint64_t){0}, &owner);
	if (err || strcmp(spec.name, chan)) {
		log_msg(LOG_ERROR, "journal", "channel=%s id=%s not served: meta missing or bad",
			chan, idtext);
		close(dfd);
		return false;
	}
	err = recover_scan(j, dfd, chan, id,
			   scan_ahead(spec.sync_bytes ? spec.sync_bytes : JOURNAL_SYNC_BYTES,
				      rec_bytes_for(spec.max_message_bytes, REC_EXT_MAX)),
			   &next);
	close(dfd);
	if (err)
		return false;
	spec.id = id;
	spec.base_pos = next == UINT64_MAX ? 0 : next;
	err = registry_create(reg, &spec, owner, &ch);
	if (err) {
		log_msg(LOG_ERROR, "journal", "channel=%s not served: cannot create it err=%d",
			chan, err);
		return false;
	}
	log_msg(LOG_INFO, "journal", "recovered channel=%s id=%" PRIu64 " next_offset=%" PRIu64,
		chan, id, spec.base_pos);
	return true;
}

unsigned journal_recover(struct journal *j, struct registry *reg)
{
	int fd = j ? dup(j->dirfd) : -1;
	DIR *top = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	unsigned n = 0;

	if (!top) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	rewinddir(top);
	while ((e = readdir(top))) {
		int nfd, sfd;
		DIR *sub;
		struct dirent *s;

		if (e->d_name[0] == '.' || name_check(e->d_name))
			continue;
		nfd = openat(j->dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		sfd = nfd >= 0 ? dup(nfd) : -1;
		sub = sfd >= 0 ? fdopendir(sfd) : NULL;
		while (sub && (s = readdir(sub)))
			if (s->d_name[0] != '.')
				n += recover_one(j, reg, nfd, e->d_name, s->d_name);
		if (sub)
			closedir(sub);
		else if (sfd >= 0)
			close(sfd);
		if (nfd >= 0)
			close(nfd);
	}
	closedir(top);
	return n;
}
