/*
 * ipm_loop.c - the loop scripts/ipm.sh runs under callgrind to count the
 * instructions one message costs: one thread publishes a 64-byte message
 * on the block channel "ipm.a" and receives it, N times, through
 *   plain    shmq_sub_open()
 *   keyed    the same, each message carrying a key (the baseline of filter)
 *   filter   the same with a key-equal filter that every message passes
 *   pattern  shmq_sub_open_pattern("ipm.*"), the one channel it matches
 * Built against an older libshmq (no routing) it offers plain and keyed.
 * usage: shmq-ipm-loop SOCKET MODE N. Exit 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmq.h"

static int open_sub(struct shmq_client *c, const char *mode, struct shmq_sub **s)
{
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SPIN};

#ifdef SHMQ_FILTER_ALL
	struct shmq_filter_term t = {.kind = SHMQ_FILTER_KEY_EQ, .value = "key-7", .value_len = 5};
	struct shmq_filter f = {&t, 1, SHMQ_FILTER_ALL};
	int err;

	if (!strcmp(mode, "pattern"))
		return shmq_sub_open_pattern(c, "ipm.*", &so, s);
	if (!strcmp(mode, "filter")) {
		err = shmq_sub_open(c, "ipm.a", &so, s);
		return err ? err : shmq_sub_set_filter(*s, &f);
	}
#endif
	if (strcmp(mode, "plain") && strcmp(mode, "keyed"))
		return -SHMQ_EINVAL;
	return shmq_sub_open(c, "ipm.a", &so, s);
}

int main(int argc, char **argv)
{
	struct shmq_channel_opts co = {
	    .capacity_bytes = 1 << 20, .max_message_bytes = 64, .policy = SHMQ_POLICY_BLOCK};
	struct shmq_msg_opts mo = {.fields = SHMQ_F_KEY, .key = "key-7", .key_len = 5};
	char payload[64] = {0};
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	long n;
	int err;

	if (argc != 4 || (n = atol(argv[3])) <= 0) {
		fprintf(stderr, "usage: shmq-ipm-loop SOCKET plain|keyed|filter|pattern N\n");
		return 1;
	}
	err = shmq_connect(argv[1], &c);
	if (!err) {
		err = shmq_channel_create(c, "ipm.a", &co);
		err = err == -SHMQ_EEXIST ? 0 : err;
	}
	if (!err)
		err = shmq_pub_open(c, "ipm.a", NULL, &p);
	if (!err)
		err = open_sub(c, argv[2], &s);
	for (long i = 0; !err && i < n; i++) {
		err = strcmp(argv[2], "plain") && strcmp(argv[2], "pattern")
			  ? shmq_publish_opts(p, payload, sizeof(payload), &mo, -1, NULL)
			  : shmq_publish(p, payload, sizeof(payload), -1, NULL);
		if (!err)
			err = shmq_recv(s, &m, -1);
	}
	if (err) {
		fprintf(stderr, "shmq-ipm-loop: %s\n", shmq_strerror(err));
		return 1;
	}
	shmq_sub_close(s);
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}
