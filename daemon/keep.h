/*
 * keep.h - the daemon's side of the keeper (keeper.h): mirror each
 * channel and each open handle's slot to it as they are made and freed,
 * so that a daemon started after this one died can adopt them. Every call
 * is a no-op once the keeper is gone (*ch->kfd < 0). Main thread only.
 */
#ifndef DAEMON_KEEP_H
#define DAEMON_KEEP_H

#include "registry.h"

/* The channel's record and segments, then every open handle's entry and
 * every consumer group. The
 * keeper updates a record it has in place, keeping its entries. */
void keep_channel(const struct channel *ch);

/* keep_channel() after adoption, and a drop of every slot not adopted. */
void keep_channel_adopted(const struct channel *ch);

/* The channel is freed: the keeper drops it and its entries. */
void keep_drop(const struct channel *ch);

/* Slot idx of kind 'r' (reader) or 'p' (publisher): its entry and event fd. */
void keep_entry(const struct channel *ch, char kind, unsigned idx);

/* Slot idx of kind 'r' or 'p' is freed. */
void keep_drop_entry(const struct channel *ch, char kind, unsigned idx);

/* Consumer group idx of ch (groups.h): its definition, members and segment. */
void keep_group(const struct channel *ch, unsigned idx);

/* Group idx of ch is deleted. */
void keep_drop_group(const struct channel *ch, unsigned idx);

#endif
