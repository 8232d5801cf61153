/*
 * main.c - shmqd: parse the command line and configuration, create the
 * declared channels, then run one epoll loop over the control socket,
 * client pidfds, a 10 ms repair timer and SIGTERM/SIGINT (signalfd). Runs
 * in the foreground and logs to stderr; a clean stop removes the socket.
 * Channel segments are memfds: they live while any client maps them.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "logmsg.h"
#include "numa_place.h"
#include "proto.h"
#include "registry.h"
#include "wait.h"

#define TAG_SIGNAL (10ull << 56)
#define TAG_TIMER (11ull << 56)
#define TICK_NS 10000000

static void usage(FILE *f)
{
	fprintf(f, "usage: shmqd [--socket PATH] [--config FILE] [--verbose|--quiet]\n"
		   "  --socket PATH   control socket (default $SHMQ_SOCKET, else\n"
		   "                  $XDG_RUNTIME_DIR/shmq/shmqd.sock, /run/shmq/shmqd.sock for root)\n"
		   "  --config FILE   channels and settings (see docs/CONFIG.md)\n"
		   "  --check-config  parse the configuration, report, and exit\n"
		   "  --version       print the version and exit\n");
}

static void default_path(char *buf, size_t len)
{
	const char *env = getenv("SHMQ_SOCKET"), *rt = getenv("XDG_RUNTIME_DIR");

	if (env && env[0])
		snprintf(buf, len, "%s", env);
	else if (geteuid() != 0 && rt && rt[0])
		snprintf(buf, len, "%s/shmq/shmqd.sock", rt);
	else
		snprintf(buf, len, "/run/shmq/shmqd.sock");
}

struct args {
	char socket[108];
	const char *config;
	int check;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},        {"version", no_argument, NULL, 'V'},
		{"check-config", no_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int o;

	memset(a, 0, sizeof(*a));
	default_path(a->socket, sizeof(a->socket));
	while ((o = getopt_long(argc, argv, "s:c:vqVCh", longopts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (snprintf(a->socket, sizeof(a->socket), "%s", optarg) >=
			    (int)sizeof(a->socket)) {
				fprintf(stderr, "shmqd: socket path too long: %s\n", optarg);
				return 2;
			}
			break;
		case 'c':
			a->config = optarg;
			break;
		case 'v':
			log_threshold = LOG_DEBUG;
			break;
		case 'q':
			log_threshold = LOG_WARN;
			break;
		case 'V':
			printf("shmqd 0.1.0 (protocol %u, layout %u)\n", PROTO_VERSION, LAYOUT_VERSION);
			return 1;
		case 'C':
			a->check = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	return optind < argc ? (usage(stderr), 2) : 0;
}

static int setup_fds(int *epfd, int *sfd, int *tfd)
{
	struct itimerspec its = {.it_interval.tv_nsec = TICK_NS, .it_value.tv_nsec = TICK_NS};
	struct epoll_event ev = {.events = EPOLLIN};
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	*epfd = epoll_create1(EPOLL_CLOEXEC);
	*sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (*epfd < 0 || *sfd < 0 || *tfd < 0 || timerfd_settime(*tfd, 0, &its, NULL))
		return -1;
	ev.data.u64 = TAG_SIGNAL;
	if (epoll_ctl(*epfd, EPOLL_CTL_ADD, *sfd, &ev))
		return -1;
	ev.data.u64 = TAG_TIMER;
	return epoll_ctl(*epfd, EPOLL_CTL_ADD, *tfd, &ev);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int create_declared(struct registry *reg, const struct config *cfg)
{
	for (uint32_t i = 0; i < cfg->nchannels; i++) {
		struct channel_spec spec = cfg->channels[i];
		struct channel *ch;
		/* the daemon creates declared channels: numa_node = local is its node */
		int err = numa_spec_resolve(&spec, 0);

		if (!err)
			err = registry_create(reg, &spec, (uint32_t)geteuid(), &ch);
		if (err) {
			log_msg(LOG_ERROR, "registry", "cannot create channel=%s err=%d",
				cfg->channels[i].name, err);
			return -1;
		}
	}
	return 0;
}

static void run(int epfd, int sfd, int tfd, struct ctl *ctl, struct registry *reg)
{
	struct epoll_event evs[64];

	for (;;) {
		int n = epoll_wait(epfd, evs, 64, -1);

		if (n < 0 && errno != EINTR) {
			log_msg(LOG_ERROR, "daemon", "epoll_wait failed: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			uint64_t ticks;
			struct signalfd_siginfo si;

			if (tag == TAG_SIGNAL) {
				if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					log_msg(LOG_INFO, "daemon", "stopping signal=%u", si.ssi_signo);
					return;
				}
			} else if (tag == TAG_TIMER) {
				if (read(tfd, &ticks, sizeof(ticks)) > 0)
					registry_tick(reg, wait_now_ns());
			} else {
				ctl_event(ctl, tag, evs[i].events);
			}
		}
	}
}

int main(int argc, char **argv)
{
	static struct config cfg;
	struct registry reg;
	struct ctl *ctl;
	struct args a;
	char err[4096];
	int epfd, sfd, tfd, rc = parse_args(argc, argv, &a);

	if (rc)
		return rc == 1 ? 0 : 2;
	config_defaults(&cfg);
	if (a.config && config_load(&cfg, a.config, err, sizeof(err))) {
		fprintf(stderr, "shmqd: config: %s\n", err);
		return 2;
	}
	if (a.check) {
		printf("shmqd: config %s ok: %u channel(s)\n", a.config ? a.config : "(defaults)",
		       cfg.nchannels);
		return 0;
	}
	raise_fd_limit();
	if (setup_fds(&epfd, &sfd, &tfd)) {
		fprintf(stderr, "shmqd: setup failed: %s\n", strerror(errno));
		return 1;
	}
	registry_init(&reg, &cfg);
	if (create_declared(&reg, &cfg))
		goto out_registry;
	if (ctl_open(&ctl, a.socket, epfd, &reg, &cfg)) {
		log_msg(LOG_ERROR, "daemon", "cannot listen socket=%s err=%s", a.socket,
			strerror(errno));
		goto out_registry;
	}
	log_msg(LOG_INFO, "daemon", "listening socket=%s pid=%d channels=%u", a.socket,
		(int)getpid(), cfg.nchannels);
	run(epfd, sfd, tfd, ctl, &reg);
	ctl_close(ctl);
	registry_fini(&reg);
	log_msg(LOG_INFO, "daemon", "stopped");
	return 0;

out_registry:
	registry_fini(&reg);
	return 1;
}
