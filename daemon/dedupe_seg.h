/*
 * dedupe_seg.h - the duplicate table segment of a dedupe channel
 * (shm/dedupe.h): created with the channel (a sealed memfd,
 * shmq.<channel>.u), handed to publishers read-write, held by the keeper
 * with the channel's other segments and checked again at adoption. The
 * data header's FEAT_INCOMPAT_DEDUPE makes libraries that do not know the
 * table refuse the channel. Main thread only.
 */
#ifndef DAEMON_DEDUPE_SEG_H
#define DAEMON_DEDUPE_SEG_H

#include <stdint.h>

#include "registry.h"

#define DEDUPE_WINDOW_NS (120ull * 1000000000ull) /* 2 min, as JetStream's default */

/* Is n a table size a channel may ask for (0: no table)? */
int dedupe_slots_check(uint32_t n);

/*
 * Make ch's table of ch->g.dedupe_slots slots, ids refused for window_s
 * seconds (0: DEDUPE_WINDOW_NS), and mark the data header; 0 or -SHMQ_E....
 */
int dedupe_seg_create(struct channel *ch, uint32_t window_s);

/*
 * Adopt the kept table fd of ch (ch->g.dedupe_slots > 0): a memfd of
 * ours of the right size whose header attaches with ch's id. 0 or
 * -SHMQ_ECORRUPT; fd is ch's from then on either way.
 */
int dedupe_seg_adopt(struct channel *ch, int fd);

/* Unmap and close ch's table, if it has one. */
void dedupe_seg_free(struct channel *ch);

#endif
