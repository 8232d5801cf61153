/*
 * pattern_sub.h - pattern subscriptions (pattern_sub.c): the calls sub.c
 * hands a pattern handle to, and the hooks sub.c gives pattern_sub.c into
 * plain handles. Not installed. A handle is used by one thread at a time.
 */
#ifndef SHMQ_PATTERN_SUB_H
#define SHMQ_PATTERN_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filter.h"
#include "shmq.h"

struct pattern;

/* sub.c hands these the pattern handle's calls (shmq.h says what each does). */
int pattern_recv(struct pattern *p, struct shmq_msg *msg, void *buf, size_t len, bool copy,
		 int64_t timeout_ns);
int pattern_poll(struct pattern *p, shmq_msg_cb cb, void *arg, unsigned max, int64_t timeout_ns);
int pattern_verify(const struct pattern *p, const struct shmq_msg *msg);
int pattern_skip(struct pattern *p, uint64_t *lost);
int pattern_fd(const struct pattern *p);
void pattern_counts(const struct pattern *p, struct shmq_sub_counts *out);
/* Takes f (NULL: no filter) for every channel, now and later. */
int pattern_set_filter(struct pattern *p, struct filter *f);
/* shmq_sub_deliver_expired() of a pattern handle: every member, now and later. */
void pattern_deliver_expired(struct pattern *p, bool on);
void pattern_close(struct pattern *p);

/* sub.c: a handle that hands everything to p; NULL without memory. */
struct shmq_sub *sub_wrap_pattern(struct pattern *p);
struct pattern *sub_pattern(const struct shmq_sub *s);
/* sub.c: s takes f (frees the one it had). */
void sub_take_filter(struct shmq_sub *s, struct filter *f);
/* sub.c: the wake socket of an event-fd handle. */
int sub_wake_fd(const struct shmq_sub *s);
/*
 * sub.c: receive from a member without waiting (a view, or with copy a
 * copy into buf); with arm, an empty look arms the member's wake socket
 * (the handshake of a sleep), without it nothing is armed.
 */
int sub_recv_member(struct shmq_sub *s, struct shmq_msg *msg, void *buf, size_t len, bool copy,
		    bool arm);

#endif
