/*
 * soak_probe.c - the steady side of scripts/soak.sh, against a running
 * shmqd (its socket the first argument):
 *   soak_probe SOCK latency CHANNEL SECONDS  a subscriber child and a
 *       publisher at about 1000 messages a second on a block channel: every
 *       message exactly once and in order; prints one-way latency
 *       percentiles (publish timestamp to receipt, CLOCK_REALTIME)
 *   soak_probe SOCK churn SECONDS  channels created, used by a publisher, a
 *       subscriber (each wait mode in turn) and a monitor, and deleted, in a
 *       loop; now and then a child holding handles is SIGKILLed
 *   soak_probe SOCK slots  no reader or publisher slot of any channel is
 *       held by a process that is gone (retried for 10 s while the daemon
 *       notices deaths)
 * Exits 0, 1 on a violation (said on stderr), 2 on a usage or setup error.
 * One thread per process.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmq.h"

#define END_SEQ UINT64_MAX
#define MAX_SAMPLES (1u << 22)
#define S_NS 1000000000ll

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * S_NS + ts.tv_nsec;
}

static void nap_us(long us)
{
	struct timespec ts = {us / 1000000, us % 1000000 * 1000};

	nanosleep(&ts, NULL);
}

static int fail(const char *fmt, const char *what, int err)
{
	fprintf(stderr, "soak_probe: ");
	fprintf(stderr, fmt, what);
	if (err)
		fprintf(stderr, ": %s", shmq_strerror(err));
	fputc('\n', stderr);
	return 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The subscriber: every seq once, in order, until END_SEQ; latencies in ns. */
static int latency_sub(struct shmq_sub *s, int ready_fd)
{
	uint64_t *lat = malloc(MAX_SAMPLES * sizeof(*lat)), n = 0, want = 0, seq;
	struct shmq_msg m;
	int err;

	if (!lat || write(ready_fd, "r", 1) != 1)
		return 2;
	for (;;) {
		err = shmq_recv(s, &m, 30 * S_NS);
		if (err)
			return fail("latency: %s", "recv", err);
		if (m.len != sizeof(seq) || m.lost)
			return fail("latency: %s", "a message lost or of another size on block", 0);
		memcpy(&seq, m.data, sizeof(seq));
		if (seq == END_SEQ)
			break;
		if (seq != want) {
			fprintf(stderr, "soak_probe: latency: seq %" PRIu64 " after %" PRIu64 "\n",
				seq, want);
			return 1;
		}
		want++;
		if (n < MAX_SAMPLES && m.timestamp_ns)
			lat[n++] = (uint64_t)(clock_ns(CLOCK_REALTIME) - (int64_t)m.timestamp_ns);
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("latency messages=%" PRIu64 " p50_us=%.1f p99_us=%.1f max_us=%.1f\n", want,
	       n ? lat[n / 2] / 1e3 : 0, n ? lat[n * 99 / 100] / 1e3 : 0, n ? lat[n - 1] / 1e3 : 0);
	free(lat);
	fflush(stdout); /* the child leaves with _exit() */
	return 0;
}

static int latency(const char *sock, const char *name, int64_t seconds)
{
	struct shmq_sub_opts so = {.wait = SHMQ_WAIT_SLEEP};
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_sub *s;
	int pfd[2], err, st;
	uint64_t seq;
	char b;
	pid_t pid;

	if (pipe(pfd) || (err = shmq_connect(sock, &c)))
		return 2;
	if ((err = shmq_sub_open(c, name, &so, &s)) || (err = shmq_pub_open(c, name, NULL, &p)))
		return fail("latency: open %s", name, err);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		shmq_pub_close(p);
		_exit(latency_sub(s, pfd[1]));
	}
	close(pfd[1]);
	shmq_sub_close(s); /* the child's now */
	if (pid < 0 || read(pfd[0], &b, 1) != 1)
		return 2;
	seq = 0;
	for (int64_t end = clock_ns(CLOCK_MONOTONIC) + seconds * S_NS;
	     clock_ns(CLOCK_MONOTONIC) < end; seq++) {
		err = shmq_publish(p, &seq, sizeof(seq), 30 * S_NS, NULL);
		if (err)
			return fail("latency: %s", "publish", err);
		nap_us(1000);
	}
	seq = END_SEQ;
	err = shmq_publish(p, &seq, sizeof(seq), 30 * S_NS, NULL);
	shmq_pub_close(p);
	shmq_disconnect(c);
	if (err)
		return fail("latency: %s", "publish the end", err);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return fail("latency: %s", "the subscriber died", 0);
	return WEXITSTATUS(st);
}

/* A child holding a publisher and a subscriber of name, until killed. */
static pid_t holder(const char *sock, const char *name)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct shmq_client *c;
		struct shmq_pub *p;
		struct shmq_sub *s;
		uint64_t v = 0;

		if (shmq_connect(sock, &c) || shmq_pub_open(c, name, NULL, &p) ||
		    shmq_sub_open(c, name, NULL, &s))
			_exit(0); /* killed before it got there is the same */
		for (;;) {
			shmq_publish(p, &v, sizeof(v), 0, NULL);
			nap_us(200);
		}
	}
	return pid;
}

/* The holder of the current churn round, -1 none. */
static pid_t victim = -1;

/* One round on name: create, publish 10, receive them in order, monitor, delete. */
static int churn_round(struct shmq_client *c, const char *sock, const char *name, unsigned round)
{
	struct shmq_channel_opts o = {.capacity_bytes = 4096,
				      .max_message_bytes = 64,
				      .policy = round % 2 ? SHMQ_POLICY_BLOCK : SHMQ_POLICY_DROP,
				      .publishers = round / 2 % 2};
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST, .wait = round % 4};
	struct shmq_mon_stats *st = calloc(1, sizeof(*st));
	struct shmq_mon *m;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg msg;
	int err;

	if (!st)
		return 2;
	if ((err = shmq_channel_create(c, name, &o)) || (err = shmq_sub_open(c, name, &so, &s)) ||
	    (err = shmq_pub_open(c, name, NULL, &p)) || (err = shmq_mon_open(c, name, &m)))
		return fail("churn: set up %s", name, err);
	/* a holder's subscriber never reads: only where it holds nobody back */
	if (round % 3 == 0 && o.policy == SHMQ_POLICY_DROP)
		victim = holder(sock, name);
	for (uint64_t i = 0; i < 10; i++)
		if ((err = shmq_publish(p, &i, sizeof(i), 10 * S_NS, NULL)))
			return fail("churn: publish on %s", name, err);
	for (uint64_t i = 0; i < 10; i++) {
		uint64_t v;

		if ((err = shmq_recv(s, &msg, 10 * S_NS)))
			return fail("churn: recv on %s", name, err);
		if (msg.len != sizeof(v))
			continue; /* the holder's */
		memcpy(&v, msg.data, sizeof(v));
		if (v != i && o.policy == SHMQ_POLICY_BLOCK && victim < 0)
			return fail("churn: %s out of order", name, 0);
	}
	if ((err = shmq_mon_read(m, st)))
		return fail("churn: monitor %s", name, err);
	shmq_mon_close(m);
	shmq_pub_close(p);
	shmq_sub_close(s);
	free(st);
	if ((err = shmq_channel_delete(c, name)))
		return fail("churn: delete %s", name, err);
	return 0;
}

/* A round, and the channel gone after it whatever happened: one failure, not a cascade. */
static int churn_one(struct shmq_client *c, const char *sock, const char *name, unsigned round)
{
	int rc = churn_round(c, sock, name, round);

	if (victim > 0) {
		kill(victim, SIGKILL);
		waitpid(victim, NULL, 0);
		victim = -1;
	}
	if (rc)
		shmq_channel_delete(c, name);
	return rc;
}

static int churn(const char *sock, int64_t seconds)
{
	struct shmq_client *c;
	unsigned round = 0;
	char name[64];
	int rc = 0;

	if (shmq_connect(sock, &c))
		return 2;
	for (int64_t end = clock_ns(CLOCK_MONOTONIC) + seconds * S_NS;
	     !rc && clock_ns(CLOCK_MONOTONIC) < end; round++) {
		snprintf(name, sizeof(name), "soak.churn.%u", round % 8);
		rc = churn_one(c, sock, name, round);
		nap_us(20000);
	}
	shmq_disconnect(c);
	printf("churn rounds=%u\n", round);
	return rc;
}

static bool gone(uint32_t pid)
{
	return kill((pid_t)pid, 0) && errno == ESRCH;
}

/* Slots of dead processes in every channel now; -1 if it cannot look. */
static int dead_slots(struct shmq_client *c, bool say)
{
	struct shmq_channel_info info[64];
	struct shmq_mon_stats *st = calloc(1, sizeof(*st));
	int n = shmq_channel_list(c, info, 64), dead = 0;

	if (!st || n < 0)
		return -1;
	for (int i = 0; i < n && i < 64; i++) {
		struct shmq_mon *m;

		if (shmq_mon_open(c, info[i].name, &m))
			continue; /* deleted meanwhile */
		if (shmq_mon_read(m, st) == 0) {
			for (uint32_t j = 0; j < st->nreaders; j++)
				if (gone(st->readers[j].pid) && ++dead && say)
					fprintf(stderr,
						"soak_probe: %s: reader slot %u of dead pid %u\n",
						info[i].name, st->readers[j].slot,
						st->readers[j].pid);
			for (uint32_t j = 0; j < st->npubs; j++)
				if (gone(st->pubs[j].pid) && ++dead && say)
					fprintf(
					    stderr,
					    "soak_probe: %s: publisher slot %u of dead pid %u\n",
					    info[i].name, st->pubs[j].slot, st->pubs[j].pid);
		}
		shmq_mon_close(m);
	}
	free(st);
	return dead;
}

static int slots(const char *sock)
{
	struct shmq_client *c;
	int dead = -1;

	if (shmq_connect(sock, &c))
		return 2;
	for (int64_t end = clock_ns(CLOCK_MONOTONIC) + 10 * S_NS;
	     clock_ns(CLOCK_MONOTONIC) < end && dead; nap_us(100000))
		dead = dead_slots(c, false);
	if (dead)
		dead = dead_slots(c, true);
	shmq_disconnect(c);
	return dead ? 1 : 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 5 && !strcmp(argv[2], "latency"))
		return latency(argv[1], argv[3], atoll(argv[4]));
	if (argc == 4 && !strcmp(argv[2], "churn"))
		return churn(argv[1], atoll(argv[3]));
	if (argc == 3 && !strcmp(argv[2], "slots"))
		return slots(argv[1]);
	fprintf(stderr, "usage: soak_probe SOCK latency CHANNEL SECONDS | churn SECONDS | slots\n");
	return 2;
}
