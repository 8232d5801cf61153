/*
 * helpers.c - steps many system tests share (see helpers.h). Everything
 * but fx_run_publisher() asserts with cmocka and so runs in the test
 * process only.
 */
#include "helpers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

struct shmq_client *fx_connect(const struct daemon *d)
{
	struct shmq_client *c = NULL;

	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_non_null(c);
	return c;
}

void fx_channel_create(struct shmq_client *c, const char *name, uint64_t min_msgs, uint32_t policy)
{
	struct shmq_channel_opts o = {.capacity_bytes = min_msgs * SHMQ_RECORD_BYTES(8),
				      .max_message_bytes = 64,
				      .policy = policy};

	assert_int_equal(shmq_channel_create(c, name, &o), 0);
	assert_true(fx_ring_msgs(c, name, 8) >= min_msgs);
}

uint64_t fx_ring_bytes(struct shmq_client *c, const char *name)
{
	struct shmq_channel_info ci;

	assert_int_equal(shmq_channel_info(c, name, &ci), 0);
	/* a power of two, at least 4 records of the largest message */
	assert_true(ci.capacity_bytes && !(ci.capacity_bytes & (ci.capacity_bytes - 1)));
	assert_true(ci.capacity_bytes >= 4 * SHMQ_RECORD_BYTES(ci.max_message_bytes));
	return ci.capacity_bytes;
}

uint64_t fx_ring_msgs(struct shmq_client *c, const char *name, uint32_t len)
{
	return fx_ring_bytes(c, name) / SHMQ_RECORD_BYTES(len);
}

uint64_t fx_oldest(struct shmq_client *c, const char *name)
{
	struct shmq_channel_info ci;

	assert_int_equal(shmq_channel_info(c, name, &ci), 0);
	assert_true(ci.oldest <= ci.tail);
	return ci.oldest;
}

void fx_publish_u64(struct shmq_pub *p, uint64_t v, int64_t timeout_ns)
{
	assert_int_equal(shmq_publish(p, &v, sizeof(v), timeout_ns, NULL), 0);
}

uint64_t fx_msg_u64(const struct shmq_msg *m)
{
	uint64_t v;

	assert_int_equal(m->len, sizeof(v));
	memcpy(&v, m->data, sizeof(v));
	return v;
}

uint64_t fx_recv_u64(struct shmq_sub *s, struct shmq_msg *m)
{
	assert_int_equal(shmq_recv(s, m, FX_HANG_NS), 0);
	return fx_msg_u64(m);
}

void fx_assert_daemon_serves(struct daemon *d)
{
	struct shmq_sub_opts so = {.create = 1};
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_sub *s;
	struct shmq_msg m;

	assert_true(daemon_running(d));
	assert_int_equal(shmq_connect(d->sock, &c), 0);
	assert_true(shmq_channel_list(c, NULL, 0) >= 0);
	assert_int_equal(shmq_sub_open(c, "probe", &so, &s), 0);
	assert_int_equal(shmq_pub_open(c, "probe", NULL, &p), 0);
	assert_int_equal(shmq_publish(p, "ok", 2, 0, NULL), 0);
	assert_int_equal(shmq_recv(s, &m, FX_HANG_NS), 0);
	assert_int_equal(m.len, 2);
	shmq_pub_close(p);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

void fx_raw_hello(struct raw *r, const struct daemon *d)
{
	assert_int_equal(raw_connect(r, d->sock), 0);
	assert_int_equal(raw_hello(r), 0);
}

void fx_raw_open(struct raw *r, const struct daemon *d, const char *name, uint32_t role,
		 struct raw_chan *rc)
{
	fx_raw_hello(r, d);
	assert_int_equal(raw_open(r, name, role, rc), 0);
}

/* Poll shmqd's descriptor count until it is want (at_most: no more than want). */
static int wait_fd_count(const struct daemon *d, int want, bool at_most)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	int n;

	for (;;) {
		n = daemon_fd_count(d);
		if (n == want || (at_most && n < want) || fx_now_ns() >= deadline)
			break;
		fx_nap_ms(2);
	}
	if (n == want || (at_most && n < want))
		return 0;
	fprintf(stderr, "shmqd holds %d descriptors, expected %s%d\n", n, at_most ? "at most " : "",
		want);
	return -1;
}

int fx_wait_fd_count(const struct daemon *d, int want)
{
	return wait_fd_count(d, want, false);
}

int fx_wait_fd_count_at_most(const struct daemon *d, int want)
{
	return wait_fd_count(d, want, true);
}

int fx_wait_log(const struct daemon *d, const char *text)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	char line[512];
	bool found = false;
	FILE *f;

	while (!found && fx_now_ns() < deadline) {
		f = fopen(d->log, "r");
		while (f && !found && fgets(line, sizeof(line), f))
			found = strstr(line, text) != NULL;
		if (f)
			fclose(f);
		if (!found)
			fx_nap_ms(5);
	}
	if (!found)
		fprintf(stderr, "shmqd logged no line with \"%s\"\n", text);
	return found ? 0 : -1;
}

int fx_run_publisher(void *arg)
{
	const struct pub_job *j = arg;
	struct shmq_client *c;
	struct shmq_pub *p;

	if (shmq_connect(j->sock, &c) || shmq_pub_open(c, j->chan, NULL, &p))
		return 10;
	if (j->go_fd >= 0 && pipe_wait_line(j->go_fd))
		return 11;
	for (uint64_t v = j->first; v < j->last; v++) {
		int err = shmq_publish(p, &v, sizeof(v), j->timeout_ns, NULL);

		if (err) {
			fprintf(stderr, "publisher: %s at %llu\n", shmq_errname(err),
				(unsigned long long)v);
			return 12;
		}
	}
	shmq_pub_close(p);
	shmq_disconnect(c);
	return 0;
}

/* ---- a second uid, configured daemons, the daemon's memory (test_hostile.c) ----
 * Includes of this section only. */
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

int fx_become_nobody(void)
{
	if (setgroups(0, NULL) || setgid(FX_NOBODY) || setuid(FX_NOBODY))
		return -1;
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		return -1;
	return getuid() == FX_NOBODY && geteuid() == FX_NOBODY && getegid() == FX_NOBODY ? 0 : -1;
}

int fx_daemon_setup_conf(void **state)
{
	const char *conf = *state;
	struct daemon *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	if (daemon_start(d, conf) || chmod(d->dir, 0711)) {
		daemon_remove(d);
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

long fx_daemon_rss_kb(const struct daemon *d)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (kb < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) != 1)
			kb = -1;
	fclose(f);
	return kb;
}

static bool line_has_all(const char *line, const char *const *needles)
{
	for (; *needles; needles++)
		if (!strstr(line, *needles))
			return false;
	return true;
}

int fx_wait_log_line(const struct daemon *d, const char *const *needles, char *out, size_t len)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	char line[1024];
	bool found = false;
	FILE *f;

	while (!found && fx_now_ns() < deadline) {
		f = fopen(d->log, "r");
		while (f && !found && fgets(line, sizeof(line), f))
			found = line_has_all(line, needles);
		if (f)
			fclose(f);
		if (!found)
			fx_nap_ms(5);
	}
	if (!found) {
		fprintf(stderr, "shmqd logged no line with all of:");
		for (const char *const *n = needles; *n; n++)
			fprintf(stderr, " \"%s\"", *n);
		fprintf(stderr, "\n");
		return -1;
	}
	line[strcspn(line, "\n")] = 0;
	if (out && len)
		snprintf(out, len, "%s", line);
	return 0;
}

void *fx_shared_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void fx_shared_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

pid_t fx_child_ready(int (*fn)(void *arg), void *job, int *say_fd)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	*say_fd = p[1];
	pid = child_start(fn, job);
	assert_true(pid > 0);
	close(p[1]);
	*say_fd = -1;
	assert_int_equal(pipe_expect(p[0], "ready"), 0);
	close(p[0]);
	return pid;
}
