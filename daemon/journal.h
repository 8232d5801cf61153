/*
 * journal.h - the journal of durable channels (docs/ARCHITECTURE.md
 * "Durability"): one thread that reads each durable channel's committed
 * records as reader slot 0 does, writes them to segment files under
 * data_dir, syncs them as the channel's mode says and publishes
 * written_pos and durable_pos in its control segment. The main thread
 * adds and removes channels (journal_add(), journal_remove()) and never
 * waits for the disk; recovery (journal_recover()) runs at start, before
 * anything is served, on the main thread.
 */
#ifndef DAEMON_JOURNAL_H
#define DAEMON_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct channel;
struct registry;
struct journal;

/* Defaults of a channel's journal settings (channel_spec). */
#define JOURNAL_SYNC_INTERVAL_US 1000u
#define JOURNAL_SYNC_BYTES (1ull << 20)
#define JOURNAL_SEGMENT_BYTES (256ull << 20)
#define JOURNAL_SEGMENT_MIN (64ull << 10)
#define JOURNAL_STAGE_MIN (1ull << 20) /* bytes staged for one write, at least */

/*
 * Open data_dir (created if missing) and start the thread. NULL data_dir:
 * *out NULL, 0. -SHMQ_EPERM or -SHMQ_ESYS if the directory cannot be made
 * or written (the daemon then exits 2), *why saying so.
 */
int journal_open(const char *data_dir, struct journal **out, const char **why);

/* Stop the thread after its current call, close everything. */
void journal_close(struct journal *j);

/*
 * Is spec's journal possible: 0, or -SHMQ_EINVAL with *why (no data_dir,
 * a segment too small for the largest record, ...).
 */
int journal_spec_check(const struct journal *j, const struct channel_spec *spec, const char **why);

/*
 * Journal ch (its reader slot 0 is the journal's, assigned): map its
 * segments for the thread, which then writes meta, opens or creates the
 * last segment and follows the ring from the slot's cursor. 0, or
 * -SHMQ_ENOMEM, -SHMQ_ESYS.
 */
int journal_add(struct journal *j, struct channel *ch, const struct channel_spec *spec);

/* Stop journaling channel id; delete_files: it was deleted, its files go too. */
void journal_remove(struct journal *j, uint64_t channel_id, bool delete_files);

/*
 * At start: every DATA_DIR/<name>/<id>/ whose channel the registry does
 * not hold (adopted from the keeper) is scanned and its channel created
 * again at the offset its journal reached; see ARCHITECTURE.md. Returns
 * the number of channels recovered.
 */
unsigned journal_recover(struct journal *j, struct registry *r);

/* The settings a durable channel was created with, from its meta file; for adoption. */
int journal_meta_load(struct journal *j, const char *name, uint64_t id, struct channel_spec *spec);

#endif
