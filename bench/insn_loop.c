/*
 * insn_loop.c - publish and receive n messages of size bytes on one
 * thread, against a running shmqd: the program scripts/insn.sh runs under
 * callgrind to count the instructions a message costs (two runs of
 * different n; their difference cancels start-up). Not a timing tool.
 *
 *   shmq-insn-loop SOCKET N SIZE [block|drop] [shared|exclusive] [ts|nots]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmq.h"

static int fail(const char *what, int err)
{
	fprintf(stderr, "shmq-insn-loop: %s: %s\n", what, shmq_strerror(err));
	return 1;
}

int main(int argc, char **argv)
{
	struct shmq_channel_opts co = {.capacity_bytes = 1u << 20};
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SPIN};
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;
	char buf[65536];
	unsigned long n, size;
	int err;

	if (argc < 4) {
		fprintf(stderr,
			"usage: shmq-insn-loop SOCKET N SIZE [block|drop] [shared|exclusive] "
			"[ts|nots]\n");
		return 2;
	}
	n = strtoul(argv[2], NULL, 0);
	size = strtoul(argv[3], NULL, 0);
	if (size > sizeof(buf))
		return fail("size", -SHMQ_EINVAL);
	co.policy = argc > 4 && !strcmp(argv[4], "drop") ? SHMQ_POLICY_DROP : SHMQ_POLICY_BLOCK;
	co.publishers =
	    argc > 5 && !strcmp(argv[5], "exclusive") ? SHMQ_PUBLISHERS_ONE : SHMQ_PUBLISHERS_MANY;
	if (argc > 6 && !strcmp(argv[6], "nots"))
		co.flags = SHMQ_CHAN_NO_TIMESTAMP;
	memset(buf, 'x', size);
	err = shmq_connect(argv[1], &c);
	if (err)
		return fail("connect", err);
	err = shmq_channel_create(c, "insn.loop", &co);
	if (err && err != -SHMQ_EEXIST)
		return fail("create", err);
	err = shmq_sub_open(c, "insn.loop", &so, &s);
	if (err)
		return fail("subscribe", err);
	err = shmq_pub_open(c, "insn.loop", NULL, &p);
	if (err)
		return fail("publish", err);
	for (unsigned long i = 0; i < n; i++) {
		err = shmq_publish(p, buf, (uint32_t)size, -1, NULL);
		if (err)
			return fail("shmq_publish", err);
		err = shmq_recv(s, &m, -1);
		if (err)
			return fail("shmq_recv", err);
		if (m.len != size)
			return fail("shmq_recv: length", -SHMQ_ECORRUPT);
	}
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_channel_delete(c, "insn.loop");
	shmq_disconnect(c);
	return 0;
}
