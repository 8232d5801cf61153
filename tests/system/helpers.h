/*
 * helpers.h - libshmq and raw-client steps that many system tests take:
 * connect to the fixture's daemon, create a channel of 64-byte messages,
 * count the messages of one size its ring holds (format v3: records of
 * their own size, SHMQ_RECORD_BYTES), publish and receive uint64 values,
 * open a channel by hand, wait for
 * shmqd's descriptor count, and a child process that publishes. The
 * helpers assert with cmocka (test process only); fx_run_publisher() runs
 * in a child started with child_start() and returns an exit code instead.
 */
#ifndef TEST_SYSTEM_HELPERS_H
#define TEST_SYSTEM_HELPERS_H

#include <stdint.h>

#include "daemon.h"
#include "raw.h"
#include "shmq.h"

/* A libshmq client connected to d's socket. */
struct shmq_client *fx_connect(const struct daemon *d);

/*
 * Create name (max_message_bytes 64) with a ring of at least min_msgs
 * uint64 messages. The ring is never smaller than 4 records of the largest
 * message with room for header extensions (32 KiB here, 512 uint64
 * messages): fx_ring_msgs() says how many it really holds.
 */
void fx_channel_create(struct shmq_client *c, const char *name, uint64_t min_msgs, uint32_t policy);

/* The channel's ring bytes (shmq_channel_info). */
uint64_t fx_ring_bytes(struct shmq_client *c, const char *name);

/* Messages of len bytes the channel's ring holds: capacity / SHMQ_RECORD_BYTES(len). */
uint64_t fx_ring_msgs(struct shmq_client *c, const char *name, uint32_t len);

/* shmq_channel_info's oldest retained offset. */
uint64_t fx_oldest(struct shmq_client *c, const char *name);

/* Publish the uint64 v, waiting up to timeout_ns for space. */
void fx_publish_u64(struct shmq_pub *p, uint64_t v, int64_t timeout_ns);

/* The uint64 a message carries (its length must be 8). */
uint64_t fx_msg_u64(const struct shmq_msg *m);

/* Receive one message (waiting up to FX_HANG_S) and return its uint64. */
uint64_t fx_recv_u64(struct shmq_sub *s, struct shmq_msg *m);

/* A fresh libshmq client can connect, list and round-trip a message. */
void fx_assert_daemon_serves(struct daemon *d);

/* raw_connect + raw_hello on d's socket. */
void fx_raw_hello(struct raw *r, const struct daemon *d);

/* fx_raw_hello + raw_open name as role, mapped into *rc. */
void fx_raw_open(struct raw *r, const struct daemon *d, const char *name, uint32_t role,
		 struct raw_chan *rc);

/* Wait (bounded) until shmqd holds exactly want descriptors; 0 or -1. */
int fx_wait_fd_count(const struct daemon *d, int want);

/*
 * Wait (bounded) until shmqd holds at most want descriptors; 0 or -1. For
 * a count taken before that may include the fixture's own probe
 * connection, which shmqd closes a moment later.
 */
int fx_wait_fd_count_at_most(const struct daemon *d, int want);

/* Wait (bounded) until shmqd's log holds a line containing text; 0 or -1. */
int fx_wait_log(const struct daemon *d, const char *text);

/* A child that publishes the uint64 values first .. last-1 on chan. */
struct pub_job {
	const char *sock;
	const char *chan;
	uint64_t first, last;
	int go_fd;	    /* if >= 0: wait for a line on it first */
	int64_t timeout_ns; /* how long each publish may wait for space */
};

/*
 * child_start() function for a struct pub_job: 0, or 10 (connect/open
 * failed), 11 (no go line), 12 (a publish failed; said on stderr).
 */
int fx_run_publisher(void *arg);

/* ---- a second uid, configured daemons, the daemon's memory (test_hostile.c) ---- */

/* The unprivileged uid and gid the hostile tests' children drop to. */
#define FX_NOBODY 65534u

/*
 * In a child forked by root: drop every group and become FX_NOBODY, then
 * make the process dumpable again (setuid() cleared that, which would make
 * /proc/self/fd root's and every reopen through it fail for that reason
 * alone). 0, or -1 if any step failed (not root, say).
 */
int fx_become_nobody(void);

/*
 * cmocka setup (use with cmocka_unit_test_prestate_setup_teardown): start
 * shmqd with the configuration text in the prestate (NULL: none), and let
 * other uids reach its socket (the directory becomes 0711). Tear down with
 * daemon_teardown().
 */
int fx_daemon_setup_conf(void **state);

/* shmqd's resident memory (VmRSS of /proc/PID/status) in KiB, or -1. */
long fx_daemon_rss_kb(const struct daemon *d);

/*
 * Wait (bounded) until one line of shmqd's log contains every string of
 * the NULL-terminated needles; 0 (the line, without its newline, into
 * line if not NULL) or -1.
 */
int fx_wait_log_line(const struct daemon *d, const char *const *needles, char *line, size_t len);

/* Zeroed memory shared with the children forked after this call; NULL on failure. */
void *fx_shared_alloc(size_t bytes);
void fx_shared_free(void *p, size_t bytes);

/*
 * Start fn(job) in a child with a pipe whose write end goes to *say_fd
 * (-1 again once started), and wait for its line "ready"; its pid.
 */
pid_t fx_child_ready(int (*fn)(void *arg), void *job, int *say_fd);

#endif
