/*
 * journal_int.h - the journal's own structures, shared by journal.c (the
 * thread's writer) and journal_files.c (directories, meta, segments at
 * resume, recovery). Not for other modules.
 */
#ifndef DAEMON_JOURNAL_INT_H
#define DAEMON_JOURNAL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "journal.h"
#include "journal_io.h"
#include "log.h"
#include "name.h"

#include "../shm/journal.h"

/* One durable channel, owned by the journal thread once it took it. */
struct jchan {
	struct jchan *next;
	uint64_t id;
	char name[NAME_BYTES];
	struct channel_spec spec; /* for meta */
	uint32_t owner_uid;
	/* the thread's own mappings */
	void *data, *ctl_map, *wake;
	struct reader_entry *me; /* the journal's reader entry (slot 0) */
	struct ctl_hdr *ctl;	 /* writable: the journal line, durable_pos */
	uint64_t data_bytes, ctl_bytes, wake_bytes, entry_bytes;
	struct log_view v;
	/* where the ring stands */
	struct log_cursor cur;	       /* the next record to stage */
	struct log_cursor written;     /* after the last record written: the slot's cursor */
	uint64_t durable;	       /* durable_pos as stored */
	uint64_t gap_first, gap_count; /* a GAP to write first (files below the cursor) */
	/* settings */
	uint32_t sync; /* SHMQ_SYNC_* */
	uint32_t state;
	uint64_t sync_bytes, sync_interval_ns, seg_bytes;
	/* the segment being written */
	int dirfd, seg_fd;
	uint64_t seg_base, seg_off, salt;
	uint64_t ckpt_durable; /* durable_pos of its last checkpoint; UINT64_MAX: none yet */
	uint64_t unsynced;     /* bytes written since the last sync */
	uint64_t first_unsynced_ns, retry_ns;
	uint32_t cur_rate;	    /* bad-record lines logged */
	bool ready;		    /* files opened and cursor reconciled */
	bool removed, delete_files; /* set by the main thread, under the lock */
	uint8_t *buf;
	uint64_t buf_bytes, buf_len;
};

struct journal {
	pthread_t thread;
	pthread_mutex_t lock; /* guards pending, the removed flags, stop */
	struct jchan *pending;
	struct jchan *live; /* the thread's */
	bool stop;
	int dirfd; /* data_dir */
	struct journal_io *io;
};

/* Open (make) data_dir and check it is writable: 0, -SHMQ_EPERM or -SHMQ_ESYS, *why. */
int jfiles_open_dir(struct journal *j, const char *path, const char **why);

/*
 * The thread takes jc up: its directory and meta, its last segment scanned
 * (a torn tail cut) and synced, the cursor reconciled with the files.
 * 0, or non-zero if it failed (jc's state then says so) or must wait.
 */
int jfiles_resume(struct journal *j, struct jchan *jc);

/* A failure (a negated errno): FAILED, or NOSPACE for -ENOSPC. (journal.c) */
void jchan_fail(struct jchan *jc, int err);

/* A segment was opened: its base and the count, for monitors. (journal.c) */
void jchan_seg_published(struct jchan *jc);

/* After resume: store the cursor, written_pos, durable_pos; state OK. (journal.c) */
void jchan_published(struct jchan *jc);

/* Delete a deleted channel's files and directory. */
void jfiles_delete(struct journal *j, struct jchan *jc);

#endif
