/*
 * base_iox.c - the Eclipse iceoryx baseline through its C binding: zero-copy
 * publish/subscribe in shared memory with RouDi, its broker, on the control
 * path. Built only when the binding was found (HAVE_IOX); the first iceoryx
 * scenario starts an iox-roudi of our own and base_iox_cleanup() stops it.
 *
 * iox-spin: ping-pong, each side busy-polls iox_sub_take_chunk().
 * iox-waitset: ping-pong, each side sleeps in a WaitSet on "has data".
 * iox: streaming; the publisher waits for a slow consumer (no loss, a window
 * of IOX_WINDOW messages), the consumer busy-polls. Each message is loaned, copied in and
 * published; the receiver copies it out and releases the chunk, as the other transports do.
 *
 * An iceoryx runtime is a per-process singleton that cannot cross fork(), so
 * each run happens in a fresh process: the runner forks a measuring process,
 * which forks its peer (proc_run) before either makes a runtime; figures come
 * back through a shared mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#pragma GCC diagnostic push /* runtime.h declares f() for f(void) */
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <iceoryx_binding_c/enums.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/wait_set.h>
#pragma GCC diagnostic pop

#include "bench.h"
#include "drive.h"

/* Publisher and subscriber must match by then, and a loan succeed: bounds for a
 * machine whose CPUs are busy with something else, where RouDi answers slowly. */
#define IOX_CONNECT_NS 30000000000ull
#define IOX_LOAN_NS 30000000000ull
/*
 * Streaming keeps fewer messages in flight than the subscriber queue holds
 * (256), so iceoryx's blocking publisher path never runs: with 2 M messages
 * it hung here now and then (iceoryx 2.0.3, WAIT_FOR_CONSUMER).
 */
#define IOX_WINDOW 192
#define IOX_RUN_S 90 /* below the runner's default deadline, 300 s */

enum iox_mode {
	IOX_SPIN = 0,
	IOX_WAITSET = 1,
	IOX_STREAM = 2,
};

/* What the measuring process hands back to the runner. */
struct iox_shared {
	struct proc_sync sync;
	alignas(64) _Atomic uint64_t taken; /* streaming: messages the consumer took */
	alignas(64) uint64_t pad;
	struct hist lat;
	double msgs_per_s;
	char reason[BENCH_REASON_LEN];
};

struct iox_peer {
	struct iox_shared *sh;
	uint64_t sent; /* streaming: producer's count */
	uint64_t got;  /* streaming: consumer's count */
	const struct bench_cfg *cfg;
	enum iox_mode mode;
	char instance[64];
	iox_pub_storage_t pub_st;
	iox_sub_storage_t sub_st;
	iox_ws_storage_t ws_st;
	iox_pub_t pub;
	iox_sub_t sub;
	iox_ws_t ws;
	void *buf;
};

static pid_t roudi_pid;
static char roudi_why[BENCH_REASON_LEN];

static int roudi_start(char *reason)
{
	int fd, status, i;

	if (roudi_pid > 0)
		return 0;
	if (roudi_why[0])
		return bench_fail(reason, BENCH_SKIP, "%s", roudi_why);
	fflush(NULL);
	roudi_pid = fork();
	if (roudi_pid < 0) {
		roudi_pid = 0;
		return bench_fail(reason, -errno, "fork: %s", strerror(errno));
	}
	if (roudi_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execlp("iox-roudi", "iox-roudi", "--log-level", "off", (char *)NULL);
		_exit(127);
	}
	/* RouDi has no readiness signal: give it time to set up its shared memory;
	 * the runtimes below then wait for it themselves. */
	for (i = 0; i < 50; i++) {
		usleep(10000);
		if (waitpid(roudi_pid, &status, WNOHANG) == roudi_pid) {
			roudi_pid = 0;
			snprintf(
			    roudi_why, sizeof(roudi_why),
			    WIFEXITED(status) && WEXITSTATUS(status) == 127
				? "iox-roudi not found on PATH (install the iceoryx package)"
				: "iox-roudi exited at start (exit %d; another RouDi running?)",
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			return bench_fail(reason, BENCH_SKIP, "%s", roudi_why);
		}
	}
	return 0;
}

void base_iox_cleanup(void)
{
	int status;

	if (roudi_pid <= 0)
		return;
	kill(roudi_pid, SIGTERM);
	while (waitpid(roudi_pid, &status, 0) < 0 && errno == EINTR)
		;
	roudi_pid = 0;
}

static int iox_send(void *t, void *buf, uint32_t len)
{
	struct iox_peer *p = t;
	uint64_t deadline = 0;
	void *chunk;

	/* Acquire; pairs with the release in iox_recv(): the window has room. */
	while (p->mode == IOX_STREAM &&
	       p->sent - atomic_load_explicit(&p->sh->taken, memory_order_acquire) >= IOX_WINDOW)
		cpu_relax();
	p->sent++;
	while (iox_pub_loan_chunk(p->pub, &chunk, len) != AllocationResult_SUCCESS) {
		/* the pool is out of chunks while a slow consumer holds them */
		if (!deadline)
			deadline = now_ns() + IOX_LOAN_NS;
		if (now_ns() > deadline)
			return -ENOBUFS;
		cpu_relax();
	}
	memcpy(chunk, buf, len);
	iox_pub_publish_chunk(p->pub, chunk);
	return 0;
}

static int iox_recv(void *t, void *buf, uint32_t len)
{
	struct iox_peer *p = t;
	iox_notification_info_t info[1];
	const void *chunk;
	uint64_t missed;

	while (iox_sub_take_chunk(p->sub, &chunk) != ChunkReceiveResult_SUCCESS) {
		if (p->mode == IOX_WAITSET)
			iox_ws_wait(p->ws, info, 1, &missed);
		else
			cpu_relax();
	}
	memcpy(buf, chunk, len);
	iox_sub_release_chunk(p->sub, chunk);
	/* Once per 32, so the count's cache line does not bounce per message.
	 * Release: our copies are done; pairs with the acquire in iox_send(). */
	if (p->mode == IOX_STREAM && ++p->got % 32 == 0)
		atomic_store_explicit(&p->sh->taken, p->got, memory_order_release);
	return 0;
}

/* Make this process's runtime and its endpoints; wait until both are matched. */
static int iox_open(struct iox_peer *p, const char *pub_event, const char *sub_event)
{
	iox_pub_options_t po;
	iox_sub_options_t so;
	char name[64];
	uint64_t deadline = now_ns() + IOX_CONNECT_NS;

	iox_set_loglevel(getenv("SHMQ_BENCH_IOX_LOG") ? Iceoryx_LogLevel_Warn
						      : Iceoryx_LogLevel_Off);
	snprintf(name, sizeof(name), "shmq-bench-%d", (int)getpid());
	iox_runtime_init(name);
	if (pub_event) {
		iox_pub_options_init(&po);
		po.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
		p->pub = iox_pub_init(&p->pub_st, "shmqbench", p->instance, pub_event, &po);
	}
	if (sub_event) {
		iox_sub_options_init(&so);
		so.queueCapacity = 256;
		so.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
		p->sub = iox_sub_init(&p->sub_st, "shmqbench", p->instance, sub_event, &so);
	}
	if (sub_event && p->mode == IOX_WAITSET) {
		p->ws = iox_ws_init(&p->ws_st);
		if (iox_ws_attach_subscriber_state(p->ws, p->sub, SubscriberState_HAS_DATA, 0,
						   NULL) != WaitSetResult_SUCCESS)
			return -EINVAL;
	}
	while ((pub_event && !iox_pub_has_subscribers(p->pub)) ||
	       (sub_event && iox_sub_get_subscription_state(p->sub) != SubscribeState_SUBSCRIBED)) {
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

static void iox_close(struct iox_peer *p)
{
	if (p->ws)
		iox_ws_deinit(p->ws);
	if (p->sub)
		iox_sub_deinit(p->sub);
	if (p->pub)
		iox_pub_deinit(p->pub);
	iox_runtime_shutdown();
}

static int iox_child(void *arg, unsigned idx)
{
	struct iox_peer *p = arg;
	int err;

	(void)idx;
	if (p->mode == IOX_STREAM)
		err = iox_open(p, "stream", NULL);
	else
		err = iox_open(p, "pong", "ping");
	if (err) {
		fprintf(stderr, "shmq-bench: iceoryx peer could not connect: %s\n", strerror(-err));
		return err;
	}
	proc_child_ready(&p->sh->sync);
	if (p->mode == IOX_STREAM)
		err = st_producer(p, p->cfg, p->buf, iox_send);
	else
		err = pp_server(p, p->cfg, p->buf, iox_recv, iox_send);
	iox_close(p);
	return err;
}

static int iox_parent(void *arg)
{
	struct iox_peer *p = arg;
	int err;

	if (p->mode == IOX_STREAM)
		err = iox_open(p, NULL, "stream");
	else
		err = iox_open(p, "ping", "pong");
	if (err)
		return bench_fail(p->sh->reason, err, "iceoryx could not connect: %s",
				  strerror(-err));
	proc_parent_go(&p->sh->sync, 1);
	if (p->mode == IOX_STREAM)
		err = st_consumer(p, p->cfg, p->buf, iox_recv, &p->sh->msgs_per_s);
	else
		err = pp_client(p, p->cfg, &p->sh->lat, p->buf, iox_send, iox_recv);
	iox_close(p);
	if (err)
		bench_fail(p->sh->reason, err, "iceoryx: %s", strerror(-err));
	return err;
}

/*
 * Wait for the measuring process, at most IOX_RUN_S: iceoryx 2.0.3 sometimes
 * hangs here after many runs, and one hung baseline must not end the whole
 * scenario (the runner's deadline would). Its peer dies with it (PDEATHSIG).
 */
static int iox_wait(pid_t pid, int *status)
{
	uint64_t deadline = now_ns() + IOX_RUN_S * 1000000000ull;
	pid_t r;

	while ((r = waitpid(pid, status, WNOHANG)) == 0 && now_ns() < deadline)
		usleep(10000);
	if (r == pid)
		return 0;
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return -ETIMEDOUT;
}

/* In the measuring process: run the scenario and leave. */
static void iox_measure(struct iox_peer *p)
{
	int err;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	err = proc_run(p->cfg, 1, iox_child, iox_parent, p, p->sh->reason);
	fflush(stderr);
	_exit(err ? 1 : 0);
}

static int iox_run(const struct bench_cfg *cfg, struct bench_out *out, enum iox_mode mode)
{
	static unsigned run;
	struct iox_peer p = {.cfg = cfg, .mode = mode};
	int err, status;
	pid_t pid;

	err = roudi_start(out->reason);
	if (err)
		return err;
	p.sh = shm_anon(sizeof(*p.sh));
	p.buf = calloc(1, cfg->size_bytes);
	if (!p.sh || !p.buf) {
		err = bench_fail(out->reason, -ENOMEM, "out of memory");
		goto out_free;
	}
	hist_reset(&p.sh->lat);
	snprintf(p.instance, sizeof(p.instance), "r%d-%u", (int)getpid(), ++run);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = bench_fail(out->reason, -errno, "fork: %s", strerror(errno));
		goto out_free;
	}
	if (pid == 0)
		iox_measure(&p);
	err = iox_wait(pid, &status);
	if (err) {
		err = bench_fail(out->reason, err, "iceoryx run hung for %d s (killed)", IOX_RUN_S);
		goto out_free;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		err = bench_fail(out->reason, -ECHILD, "%s",
				 p.sh->reason[0] ? p.sh->reason : "iceoryx run failed");
		goto out_free;
	}
	hist_merge(out->lat, &p.sh->lat);
	out->msgs_per_s = p.sh->msgs_per_s;
out_free:
	free(p.buf);
	shm_anon_free(p.sh, sizeof(*p.sh));
	return err;
}

int base_iox_pingpong_spin(const struct bench_cfg *cfg, struct bench_out *out)
{
	return iox_run(cfg, out, IOX_SPIN);
}

int base_iox_pingpong_waitset(const struct bench_cfg *cfg, struct bench_out *out)
{
	return iox_run(cfg, out, IOX_WAITSET);
}

int base_iox_stream(const struct bench_cfg *cfg, struct bench_out *out)
{
	return iox_run(cfg, out, IOX_STREAM);
}
