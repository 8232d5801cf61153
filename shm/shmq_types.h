/*
 * shmq_types.h - the enumerations and flag values that the public API, the
 * control protocol and the shared-memory formats share: defined once, here,
 * for libshmq, shmqd and shm/ alike. Values are ABI: append, never renumber.
 * Included by shmq.h; applications include shmq.h only.
 */
#ifndef SHMQ_TYPES_H
#define SHMQ_TYPES_H

/* What a channel does when its slowest live reader is a full ring behind. */
enum shmq_policy {
	SHMQ_POLICY_DROP = 0,  /* publishers never wait; the lapped reader learns its loss */
	SHMQ_POLICY_BLOCK = 1, /* publishers wait for (or are refused by) the slowest reader */
};

/*
 * Where a new subscriber starts reading. On a block-policy channel a new
 * subscriber never starts below the slowest subscriber already attached:
 * SHMQ_START_EARLIEST and SHMQ_START_OFFSET are raised to that subscriber's
 * position, the oldest message publishers will not overwrite; with no other
 * subscriber attached they apply as asked.
 */
enum shmq_start {
	SHMQ_START_LATEST = 0,	 /* only messages published after it opened */
	SHMQ_START_EARLIEST = 1, /* the oldest message still in the ring */
	SHMQ_START_OFFSET = 2,	 /* shmq_sub_opts.offset (clamped to the oldest retained;
				  * beyond the next offset: -SHMQ_EINVAL) */
};

/* How a subscriber waits in shmq_recv() when no message is ready. */
enum shmq_wait {
	SHMQ_WAIT_SPIN_SLEEP = 0, /* spin for spin_ns, then sleep on a futex (default) */
	SHMQ_WAIT_SPIN = 1,	  /* busy-poll until a message or the timeout */
	SHMQ_WAIT_SLEEP = 2,	  /* sleep on a futex at once */
	SHMQ_WAIT_EVENTFD = 3,	  /* wait on shmq_sub_fd(): in your epoll loop, or in poll() */
};

/* Who may publish to a channel at the same time. */
enum shmq_publishers {
	SHMQ_PUBLISHERS_MANY = 0, /* any number of publisher handles, lock-free claims */
	SHMQ_PUBLISHERS_ONE = 1,  /* one handle at a time (-SHMQ_EBUSY for a second one);
				   * it moves the tail with plain stores */
};

/* NUMA placement of a channel's memory (shmq_channel_opts.numa_node). */
#define SHMQ_NUMA_NONE 0	    /* the kernel's default policy */
#define SHMQ_NUMA_LOCAL (-1)	    /* the node of the CPU the creating client runs on */
#define SHMQ_NUMA_NODE(n) ((n) + 1) /* bind to node n */

/* Channel flags (shmq_channel_opts.flags). */
#define SHMQ_CHAN_NO_TIMESTAMP 0x1u /* records carry no publish time (timestamp_ns 0) */
#define SHMQ_CHAN_INBOX 0x2u /* a requester's reply inbox: set by the daemon, never asked for */

/*
 * Durability: a durable channel's records are written to files by the
 * daemon (it needs data_dir); SHMQ_CHAN_DURABLE(s) in the channel flags
 * asks for one, SHMQ_CHAN_DURABILITY(flags) reads it back.
 */
enum shmq_sync {
	SHMQ_SYNC_NONE = 0,   /* not durable */
	SHMQ_SYNC_OS = 1,     /* written, never fsynced: survives process and daemon crashes */
	SHMQ_SYNC_BATCH = 2,  /* fdatasync every 1 MiB or 1 ms after the first unsynced write */
	SHMQ_SYNC_ALWAYS = 3, /* fdatasync as soon as anything is written (shared) */
};
#define SHMQ_CHAN_SYNC_SHIFT 8
#define SHMQ_CHAN_SYNC_MASK 0x300u
#define SHMQ_CHAN_DURABLE(sync) (((uint32_t)(sync) << SHMQ_CHAN_SYNC_SHIFT) & SHMQ_CHAN_SYNC_MASK)
#define SHMQ_CHAN_DURABILITY(flags) (((flags)&SHMQ_CHAN_SYNC_MASK) >> SHMQ_CHAN_SYNC_SHIFT)

/* Consumer group flags (shmq_group_opts.flags). */
#define SHMQ_GROUP_CREATE 0x1u /* make the group if it does not exist */
#define SHMQ_GROUP_NOACK 0x2u  /* members ack each message as they receive it */
#define SHMQ_GROUP_DLQ 0x4u    /* a dead message is copied to <channel>.dlq first */

#endif
