/*
 * stat_workload.c - the processes of tests/system/check_stat.py: each one
 * plays one client against the daemon at $SHMQ_SOCKET, prints one line
 * when it has done its part ("ready", "claimed", "done ..."), and then
 * keeps its handles open until its stdin closes, so that shmq-stat sees
 * its counters. Its own counts on the "done" line are what shmq-stat must
 * report.
 *
 *   pub NAME N LEN BIGLEN      N messages of LEN bytes, message N/2 of BIGLEN
 *   pubvar NAME N MAXLEN SEED  N messages of 1..MAXLEN bytes (seeded)
 *   sub NAME COUNT WAIT        receive COUNT messages (batches of shmq_poll(),
 *                              WAIT: spin_sleep, spin, sleep, eventfd)
 *   lapped NAME                subscribe at the earliest message, wait for a
 *                              line on stdin, then read whatever is left
 *   claim NAME LEN             claim and never commit (the test kills it)
 *   scribble NAME WHAT         as a raw publisher, write over the data header:
 *                              magic, version or incompat (a new feature bit)
 *
 * STAT_WORKLOAD_COMM in the environment: the command name (prctl
 * PR_SET_NAME) it takes before it connects, any bytes, as the daemon
 * reads it from /proc and shmq-stat shows it.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "raw.h"
#include "shmq.h"

static struct shmq_client *c;

static void die(const char *what, int err)
{
	fprintf(stderr, "stat_workload: %s: %s\n", what, shmq_strerror(err));
	exit(1);
}

static void say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

/* Keep every handle open until the test closes our stdin. */
static void hold(void)
{
	char buf[64];

	while (read(0, buf, sizeof(buf)) > 0)
		;
}

static struct shmq_pub *pub_open(const char *name)
{
	struct shmq_pub *p;
	int err = shmq_pub_open(c, name, NULL, &p);

	if (err)
		die("pub_open", err);
	return p;
}

static int cmd_pub(char **a, bool var)
{
	struct shmq_pub *p = pub_open(a[0]);
	uint64_t n = strtoull(a[1], NULL, 10), bytes = 0, seed = var ? strtoull(a[3], NULL, 10) : 0;
	uint32_t len = (uint32_t)atoi(a[2]), big = var ? 0 : (uint32_t)atoi(a[3]), max = 0;
	static char buf[1 << 16];
	char line[128];

	memset(buf, 'x', sizeof(buf));
	for (uint64_t i = 0; i < n; i++) {
		uint32_t l = len;
		int err;

		if (var) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			l = 1 + (uint32_t)(seed >> 33) % len;
		} else if (i == n / 2) {
			l = big;
		}
		err = shmq_publish(p, buf, l, -1, NULL);
		if (err)
			die("publish", err);
		bytes += l;
		max = l > max ? l : max;
	}
	snprintf(line, sizeof(line), "done %llu %llu %u", (unsigned long long)n,
		 (unsigned long long)bytes, max);
	say(line);
	hold();
	shmq_pub_close(p);
	return 0;
}

static int count_cb(void *arg, const struct shmq_msg *m)
{
	(void)arg, (void)m;
	return 0;
}

static uint32_t wait_mode(const char *w)
{
	return !strcmp(w, "spin")      ? SHMQ_WAIT_SPIN
	       : !strcmp(w, "sleep")   ? SHMQ_WAIT_SLEEP
	       : !strcmp(w, "eventfd") ? SHMQ_WAIT_EVENTFD
				       : SHMQ_WAIT_SPIN_SLEEP;
}

static void say_stats(struct shmq_sub *s)
{
	struct shmq_sub_stats st;
	char line[128];

	shmq_sub_stats(s, &st);
	snprintf(line, sizeof(line), "done %llu %llu %llu", (unsigned long long)st.received,
		 (unsigned long long)st.lost_overrun, (unsigned long long)st.lost_abandoned);
	say(line);
}

/* Receive exactly count messages; shmq_poll() publishes the cursor at each return. */
static int cmd_sub(char **a)
{
	struct shmq_sub_opts o = {.start = SHMQ_START_LATEST, .wait = wait_mode(a[2])};
	uint64_t count = strtoull(a[1], NULL, 10), got = 0;
	struct shmq_sub *s;
	int err = shmq_sub_open(c, a[0], &o, &s);

	if (err)
		die("sub_open", err);
	say("ready");
	while (got < count) {
		unsigned max = count - got > 256 ? 256 : (unsigned)(count - got);
		int n = shmq_poll(s, count_cb, NULL, max, o.wait == SHMQ_WAIT_EVENTFD ? 0 : -1);

		if (n == -SHMQ_EAGAIN && o.wait == SHMQ_WAIT_EVENTFD) {
			struct pollfd pf = {.fd = shmq_sub_fd(s), .events = POLLIN};

			poll(&pf, 1, 100);
			continue;
		}
		if (n < 0)
			die("poll", n);
		got += (uint64_t)n;
	}
	say_stats(s);
	hold();
	shmq_sub_close(s);
	return 0;
}

static int cmd_lapped(char **a)
{
	struct shmq_sub_opts o = {.start = SHMQ_START_EARLIEST};
	struct shmq_sub *s;
	char go[16];
	int err = shmq_sub_open(c, a[0], &o, &s);

	if (err)
		die("sub_open", err);
	say("ready");
	if (!fgets(go, sizeof(go), stdin))
		return 1;
	while ((err = shmq_poll(s, count_cb, NULL, 256, 0)) > 0)
		;
	if (err != -SHMQ_EAGAIN)
		die("poll", err);
	say_stats(s);
	hold();
	shmq_sub_close(s);
	return 0;
}

static __attribute__((noreturn)) void cmd_claim(char **a)
{
	struct shmq_pub *p = pub_open(a[0]);
	struct shmq_claim cl;
	int err = shmq_pub_claim(p, (uint32_t)atoi(a[1]), &cl, -1);

	if (err)
		die("claim", err);
	say("claimed");
	for (;;)
		pause();
}

static int cmd_scribble(char **a)
{
	struct raw r;
	struct raw_chan rc;
	const char *sock = getenv("SHMQ_SOCKET");

	if (!sock || raw_connect(&r, sock) || raw_hello(&r) || raw_open(&r, a[0], ROLE_PUB, &rc)) {
		fprintf(stderr, "stat_workload: raw open failed\n");
		return 1;
	}
	if (!strcmp(a[1], "magic"))
		atomic_store(&rc.data->magic, 0x6261646261646261ull);
	else if (!strcmp(a[1], "version"))
		rc.data->version = LAYOUT_VERSION + 1;
	else
		rc.data->incompat |= 0x80000000u;
	say("done");
	hold();
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
	} cmds[] = {{"pub", 4},	   {"pubvar", 4}, {"sub", 3},
		    {"lapped", 1}, {"claim", 2},  {"scribble", 2}};
	const char *comm = getenv("STAT_WORKLOAD_COMM");
	int err;

	if (comm && prctl(PR_SET_NAME, comm, 0, 0, 0)) {
		perror("stat_workload: prctl");
		return 1;
	}
	for (size_t i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		if (argc != cmds[i].nargs + 2)
			break;
		if (i == 5)
			return cmd_scribble(argv + 2);
		err = shmq_connect(NULL, &c);
		if (err)
			die("connect", err);
		switch (i) {
		case 0:
		case 1:
			return cmd_pub(argv + 2, i == 1);
		case 2:
			return cmd_sub(argv + 2);
		case 3:
			return cmd_lapped(argv + 2);
		default:
			cmd_claim(argv + 2);
		}
	}
	fprintf(stderr, "usage: stat_workload pub|pubvar|sub|lapped|claim|scribble ARGS\n");
	return 2;
}
