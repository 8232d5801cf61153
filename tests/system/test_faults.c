/*
 * test_faults.c - a real shmqd whose allocations and segments fail on
 * command: libshmq_fault.so (fault.c) LD_PRELOADed into it makes the Nth
 * malloc, memfd_create or mmap fail with ENOMEM, and prlimit(2) gives it a
 * file size limit. Whatever fails, every request of a client ends with 0
 * or an error (never a hang or a crash), a channel opened before goes on
 * carrying messages, the daemon serves again once the fault is gone, and
 * its descriptor count comes back to what it was. Skips (77) under a
 * sanitizer, whose runtime owns malloc. Test process, one thread; each
 * client session runs in a child, bounded by child_wait().
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "fault.h"
#include "helpers.h"
#include "shmq.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* The fixture: a daemon with the fault library, its controls, a channel in use. */
struct fx {
	struct daemon d;
	struct fault_ctl *ctl;
	struct shmq_client *c;
	struct shmq_pub *p;
	struct shmq_sub *s;
	uint64_t next; /* the next value published on "keep" */
	int base_fds;  /* shmqd's descriptors with only the fixture's handles */
};

/* shmqd's descriptors once its count held still for 200 ms (a client it has not seen go yet). */
static int settled_fd_count(const struct daemon *d)
{
	int n = daemon_fd_count(d), same = 0;

	for (int64_t end = fx_now_ns() + FX_HANG_NS; same < 20 && fx_now_ns() < end;) {
		int now;

		fx_nap_ms(10);
		now = daemon_fd_count(d);
		same = now == n ? same + 1 : 0;
		n = now;
	}
	return n;
}

static int fx_setup(void **state)
{
	const char *lib = getenv("SHMQ_FAULT_LIB");
	struct shmq_channel_opts o = {.capacity_bytes = 65536, .max_message_bytes = 64};
	static struct fx f;
	char path[160];
	int fd;

#ifdef UNDER_SANITIZER
	fprintf(stderr, "skip: a sanitizer's runtime owns malloc\n");
	exit(77);
#endif
	if (!lib) {
		fprintf(stderr, "skip: no $SHMQ_FAULT_LIB\n");
		exit(77);
	}
	memset(&f, 0, sizeof(f));
	snprintf(path, sizeof(path), "/tmp/shmq-fault-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, sizeof(*f.ctl)), 0);
	f.ctl = mmap(NULL, sizeof(*f.ctl), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(f.ctl != MAP_FAILED);
	for (int k = 0; k < FAULT_KINDS; k++)
		f.ctl->after[k] = -1;
	/* shmqd (and its keeper, which the library leaves alone) inherit these */
	setenv("LD_PRELOAD", lib, 1);
	setenv("SHMQ_FAULT_CTL", path, 1);
	assert_int_equal(daemon_start(&f.d, NULL), 0);
	unsetenv("LD_PRELOAD");
	unsetenv("SHMQ_FAULT_CTL");
	unlink(path);
	f.c = fx_connect(&f.d);
	assert_int_equal(shmq_channel_create(f.c, "keep", &o), 0);
	assert_int_equal(shmq_pub_open(f.c, "keep", NULL, &f.p), 0);
	assert_int_equal(shmq_sub_open(f.c, "keep", NULL, &f.s), 0);
	fx_assert_daemon_serves(&f.d); /* its channel "probe" stays: counted in */
	f.base_fds = settled_fd_count(&f.d);
	*state = &f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	for (int k = 0; k < FAULT_KINDS; k++)
		f->ctl->after[k] = -1;
	shmq_sub_close(f->s);
	shmq_pub_close(f->p);
	shmq_disconnect(f->c);
	munmap(f->ctl, sizeof(*f->ctl));
	return daemon_stop(&f->d) ? -1 : 0;
}

/* Fail calls of kind k: after `after` more succeed, `times` in a row. */
static void arm(struct fx *f, enum fault_kind k, int64_t after, int64_t times)
{
	f->ctl->times[k] = times;
	f->ctl->after[k] = after;
}

static void disarm(struct fx *f)
{
	for (int k = 0; k < FAULT_KINDS; k++)
		f->ctl->after[k] = -1;
}

/* The channel opened before the fault carries a message, in order. */
static void assert_keep_flows(struct fx *f)
{
	struct shmq_msg m;

	fx_publish_u64(f->p, f->next, FX_HANG_NS);
	assert_int_equal(fx_recv_u64(f->s, &m), f->next);
	f->next++;
}

/* What shmqd holds, on stderr: the link of each descriptor. */
static void print_fds(const struct daemon *d)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ls -l /proc/%d/fd >&2", (int)d->pid);
	if (system(cmd))
		fprintf(stderr, "cannot list shmqd's descriptors\n");
}

/* Back to normal: faults off, "f" gone, descriptors as before, serving. */
static void assert_recovered(struct fx *f)
{
	struct shmq_client *c;
	int err;

	disarm(f);
	assert_true(daemon_running(&f->d));
	c = fx_connect(&f->d);
	err = shmq_channel_delete(c, "f");
	assert_true(err == 0 || err == -SHMQ_ENOENT);
	shmq_disconnect(c);
	assert_keep_flows(f);
	if (fx_wait_fd_count(&f->d, f->base_fds)) {
		print_fds(&f->d);
		fail_msg("shmqd's descriptors did not come back to %d", f->base_fds);
	}
	fx_assert_daemon_serves(&f->d);
}

/* A result a request may give: success or a SHMQ error, nothing else. */
static bool ok_or_err(const char *what, int x)
{
	if (x == 0 || (x < 0 && x > -1000))
		return true;
	fprintf(stderr, "session: %s gave %d\n", what, x);
	return false;
}

#define OK_OR_ERR(call) ok_or_err(#call, (call))

/*
 * One client's session of every kind of request, in a child: exits 0 if
 * each ended in 0 or an error, 1 at the first other result. A step that
 * failed skips those that need it.
 */
static int session(void *arg)
{
	const struct daemon *d = arg;
	struct shmq_channel_opts o = {.capacity_bytes = 4096, .max_message_bytes = 64};
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST, .wait = SHMQ_WAIT_EVENTFD};
	struct shmq_channel_info info[4];
	struct shmq_daemon_stats st;
	struct shmq_client *c;
	struct shmq_pub *p = NULL;
	struct shmq_sub *s = NULL;
	struct shmq_mon *m = NULL;
	struct shmq_msg msg;
	uint64_t v = 7;
	int err = shmq_connect(d->sock, &c), n;

	if (err)
		return OK_OR_ERR(err) ? 0 : 1;
	if (!OK_OR_ERR(shmq_channel_create(c, "f", &o)) ||
	    !OK_OR_ERR(shmq_pub_open(c, "f", NULL, &p)) ||
	    !OK_OR_ERR(shmq_sub_open(c, "f", &so, &s)) || !OK_OR_ERR(shmq_mon_open(c, "f", &m)) ||
	    !OK_OR_ERR(shmq_channel_info(c, "f", &info[0])))
		return 1;
	n = shmq_channel_list(c, info, 4);
	if (n < 0 && !OK_OR_ERR(n))
		return 1;
	n = shmq_daemon_stats(c, &st, NULL, 0);
	if (n < 0 && !OK_OR_ERR(n))
		return 1;
	if (p && !OK_OR_ERR(shmq_publish(p, &v, sizeof(v), FX_HANG_NS, NULL)))
		return 1;
	if (p && s && shmq_recv(s, &msg, FX_HANG_NS) == 0 &&
	    (msg.len != sizeof(v) || memcmp(msg.data, &v, sizeof(v)))) {
		fprintf(stderr, "session: received another message\n");
		return 1;
	}
	shmq_mon_close(m);
	shmq_sub_close(s);
	shmq_pub_close(p);
	if (!OK_OR_ERR(shmq_channel_delete(c, "f")))
		return 1;
	shmq_disconnect(c);
	return 0;
}

static void run_session(struct fx *f)
{
	pid_t pid = child_start(session, &f->d);

	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
}

/*
 * The Nth allocation shmqd makes while serving a session fails, for every
 * N until the session needs fewer: each time the session sees only
 * results and errors, and the daemon recovers fully.
 */
static void test_allocation_failure_at_every_step(void **state)
{
	struct fx *f = *state;
	unsigned quiet = 0, n;

	for (n = 0; n < 2000 && quiet < 3; n++) {
		uint64_t before = f->ctl->injected[FAULT_MALLOC];

		arm(f, FAULT_MALLOC, n, 1);
		run_session(f);
		quiet = f->ctl->injected[FAULT_MALLOC] == before ? quiet + 1 : 0;
		assert_recovered(f);
	}
	print_message("allocation failures injected: %llu over %u steps\n",
		      (unsigned long long)f->ctl->injected[FAULT_MALLOC], n);
	assert_true(f->ctl->injected[FAULT_MALLOC] > 0);
}

/* With no allocation succeeding, every request ends, and so does the outage. */
static void test_allocation_failing_throughout(void **state)
{
	struct fx *f = *state;

	arm(f, FAULT_MALLOC, 0, INT64_MAX);
	run_session(f);
	run_session(f);
	assert_true(f->ctl->injected[FAULT_MALLOC] > 0);
	assert_recovered(f);
}

/* Every memfd_create, then every mmap, fails at each step in turn. */
static void test_segment_failure_at_every_step(void **state)
{
	struct fx *f = *state;
	const enum fault_kind kinds[] = {FAULT_MEMFD, FAULT_MMAP};

	for (unsigned k = 0; k < 2; k++) {
		unsigned quiet = 0;

		for (unsigned n = 0; n < 200 && quiet < 3; n++) {
			uint64_t before = f->ctl->injected[kinds[k]];

			arm(f, kinds[k], n, 1);
			run_session(f);
			quiet = f->ctl->injected[kinds[k]] == before ? quiet + 1 : 0;
			assert_recovered(f);
		}
		assert_true(f->ctl->injected[kinds[k]] > 0);
	}
}

/*
 * Out of memory for segments: creating a channel and opening a handle
 * (whose entry segment is new) fail with SHMQ_ENOMEM, a clear error; the
 * channel in use is unaffected, and both work again afterwards.
 */
static void test_out_of_segment_memory_is_enomem_on_create_and_open(void **state)
{
	struct fx *f = *state;
	struct shmq_channel_opts o = {.capacity_bytes = 4096, .max_message_bytes = 64};
	const enum fault_kind kinds[] = {FAULT_MEMFD, FAULT_MMAP};
	struct shmq_pub *p;
	struct shmq_sub *s;

	for (unsigned k = 0; k < 2; k++) {
		arm(f, kinds[k], 0, INT64_MAX);
		assert_int_equal(shmq_channel_create(f->c, "f", &o), -SHMQ_ENOMEM);
		assert_int_equal(shmq_pub_open(f->c, "keep", NULL, &p), -SHMQ_ENOMEM);
		assert_int_equal(shmq_sub_open(f->c, "keep", NULL, &s), -SHMQ_ENOMEM);
		assert_keep_flows(f);
		assert_recovered(f);
		assert_int_equal(shmq_channel_create(f->c, "f", &o), 0);
		assert_int_equal(shmq_sub_open(f->c, "f", NULL, &s), 0);
		shmq_sub_close(s);
		assert_int_equal(shmq_channel_delete(f->c, "f"), 0);
		assert_int_equal(fx_wait_fd_count(&f->d, f->base_fds), 0);
	}
}

/*
 * A file size limit on shmqd (RLIMIT_FSIZE, as a full tmpfs would be): a
 * channel larger than it is refused with an error, smaller ones are
 * made, the daemon lives on (SIGXFSZ does not stop it).
 */
static void test_file_size_limit_refuses_large_channels(void **state)
{
	struct fx *f = *state;
	struct shmq_channel_opts big = {.capacity_bytes = 4u << 20, .max_message_bytes = 64};
	struct shmq_channel_opts small = {.capacity_bytes = 4096, .max_message_bytes = 64};
	struct rlimit lim = {1u << 20, RLIM_INFINITY}, old;
	int err;

	assert_int_equal(prlimit(f->d.pid, RLIMIT_FSIZE, NULL, &old), 0);
	lim.rlim_max = old.rlim_max;
	assert_int_equal(prlimit(f->d.pid, RLIMIT_FSIZE, &lim, NULL), 0);
	err = shmq_channel_create(f->c, "f", &big);
	assert_true(err < 0 && err > -1000);
	assert_true(daemon_running(&f->d));
	assert_int_equal(shmq_channel_create(f->c, "g", &small), 0);
	assert_keep_flows(f);
	assert_int_equal(shmq_channel_delete(f->c, "g"), 0);
	assert_int_equal(prlimit(f->d.pid, RLIMIT_FSIZE, &old, NULL), 0);
	assert_int_equal(shmq_channel_create(f->c, "f", &big), 0);
	assert_recovered(f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_allocation_failure_at_every_step),
	    T(test_allocation_failing_throughout),
	    T(test_segment_failure_at_every_step),
	    T(test_out_of_segment_memory_is_enomem_on_create_and_open),
	    T(test_file_size_limit_refuses_large_channels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
