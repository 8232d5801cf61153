/*
 * main.c - shmqd: parse the command line and configuration, create the
 * declared channels, then run one epoll loop over the control socket,
 * client pidfds, a 10 ms timer (claim repair, HELLO deadlines) and
 * SIGTERM/SIGINT (signalfd). Runs in the foreground (or forks with
 * --background) and logs to stderr. It
 * binds its socket, or serves on one a service manager passed (see
 * activation.h); once it listens it says so (ready.h). A clean stop
 * removes the socket it bound, never a passed one. Channel segments are
 * memfds: they live while any client maps them, and while the keeper
 * (keeper.h) holds them, so that a daemon started after this one died
 * serves them again; --replace takes over from a running daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "activation.h"
#include "adopt.h"
#include "config.h"
#include "ctl.h"
#include "journal.h"
#include "keeper.h"
#include "logmsg.h"
#include "numa_place.h"
#include "proto.h"
#include "ready.h"
#include "registry.h"
#include "wait.h"

#define TAG_SIGNAL (10ull << 56)
#define TAG_TIMER (11ull << 56)
#define TAG_KEEPER (12ull << 56)
#define TICK_NS 10000000

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: shmqd [--socket PATH] [--config FILE] [--ready-fd N | --background]\n"
	    "             [--verbose|--quiet] [--log-format text|json|journal] [--data-dir DIR]\n"
	    "       shmqd --check-config [--config FILE]\n"
	    "  --socket PATH   control socket (default $SHMQ_SOCKET, else\n"
	    "                  $XDG_RUNTIME_DIR/shmq/shmqd.sock, /run/shmq/shmqd.sock for root,\n"
	    "                  /tmp/shmq-UID/shmqd.sock without XDG_RUNTIME_DIR)\n"
	    "  --config FILE   channels and settings (see shmqd(8))\n"
	    "  --check-config  parse the configuration, report, and exit (2 on an error)\n"
	    "  --ready-fd N    once the socket listens, write a line to descriptor N, close it\n"
	    "  --background    return once the socket listens, printing the daemon's pid\n"
	    "  --replace       take over the channels of the shmqd running on the socket\n"
	    "  --data-dir DIR  durable channels' files (as data_dir in the config; exit 2\n"
	    "                  if it cannot be made or written)\n"
	    "  --verbose, --quiet  log debug lines, or warnings and errors only\n"
	    "  --log-format F  text (default), json (an object a line), or journal (<N>\n"
	    "                  priority prefixes; the default when stderr is $JOURNAL_STREAM)\n"
	    "  --version       print the version and exit\n");
}

struct args {
	char socket[108];
	const char *config;
	int check;
	int ready_fd; /* -1: none */
	int background;
	int private_dir;      /* the socket is the default in /tmp/shmq-UID */
	int activated;	      /* serve on the socket a service manager passed */
	int replace;	      /* take over from a running daemon */
	const char *data_dir; /* --data-dir, over the config's */
};

static void default_path(struct args *a)
{
	const char *env = getenv("SHMQ_SOCKET"), *rt = getenv("XDG_RUNTIME_DIR");
	size_t len = sizeof(a->socket);

	if (env && env[0]) {
		snprintf(a->socket, len, "%s", env);
	} else if (geteuid() == 0) {
		snprintf(a->socket, len, "/run/shmq/shmqd.sock");
	} else if (rt && rt[0]) {
		snprintf(a->socket, len, "%s/shmq/shmqd.sock", rt);
	} else {
		snprintf(a->socket, len, "/tmp/shmq-%u/shmqd.sock", (unsigned)geteuid());
		a->private_dir = 1;
	}
}

static int parse_fd(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 1 << 20 || ready_fd_check((int)v)) {
		fprintf(stderr, "shmqd: --ready-fd %s: not a descriptor open for writing\n", s);
		return -SHMQ_EINVAL;
	}
	return (int)v;
}

/* One option into a: 0 go on, 1 exit 0 (after --help or --version), 2 usage error. */
static int parse_opt(struct args *a, int o)
{
	switch (o) {
	case 's':
		if (snprintf(a->socket, sizeof(a->socket), "%s", optarg) >=
		    (int)sizeof(a->socket)) {
			fprintf(stderr, "shmqd: socket path too long: %s\n", optarg);
			return 2;
		}
		a->private_dir = 0;
		return 0;
	case 'c':
		a->config = optarg;
		return 0;
	case 'v':
		log_threshold = LOG_DEBUG;
		return 0;
	case 'q':
		log_threshold = LOG_WARN;
		return 0;
	case 'V':
		printf("shmqd %s (protocol %u, layout %u)\n", SHMQ_VERSION, PROTO_VERSION,
		       LAYOUT_VERSION);
		return 1;
	case 'C':
		a->check = 1;
		return 0;
	case 'r':
		a->ready_fd = parse_fd(optarg);
		return a->ready_fd < 0 ? 2 : 0;
	case 'b':
		a->background = 1;
		return 0;
	case 'R':
		a->replace = 1;
		return 0;
	case 'L':
		if (log_output_parse(optarg, &log_output) == 0)
			return 0;
		fprintf(stderr,
			"shmqd: --log-format %s: not a valid value (valid: text, json or "
			"journal)\n",
			optarg);
		return 2;
	case 'D':
		a->data_dir = optarg;
		return 0;
	case 'h':
		usage(stdout);
		return 1;
	default:
		usage(stderr);
		return 2;
	}
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {{"socket", required_argument, NULL, 's'},
						 {"config", required_argument, NULL, 'c'},
						 {"verbose", no_argument, NULL, 'v'},
						 {"quiet", no_argument, NULL, 'q'},
						 {"version", no_argument, NULL, 'V'},
						 {"check-config", no_argument, NULL, 'C'},
						 {"ready-fd", required_argument, NULL, 'r'},
						 {"background", no_argument, NULL, 'b'},
						 {"replace", no_argument, NULL, 'R'},
						 {"log-format", required_argument, NULL, 'L'},
						 {"data-dir", required_argument, NULL, 'D'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	int o, rc;

	memset(a, 0, sizeof(*a));
	a->ready_fd = -1;
	log_output = log_output_default();
	default_path(a);
	while ((o = getopt_long(argc, argv, "s:c:vqVCh", longopts, NULL)) != -1) {
		rc = parse_opt(a, o);
		if (rc)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "shmqd: unexpected argument: %s\n", argv[optind]);
		return 2;
	}
	if (a->background && a->ready_fd >= 0) {
		fprintf(stderr, "shmqd: --background and --ready-fd exclude each other\n");
		return 2;
	}
	return 0;
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
		return -SHMQ_ESYS;
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit (RLIMIT_FSIZE) fails a segment's ftruncate() with
	 * EFBIG, an error for the one request, not a stop */
	signal(SIGXFSZ, SIG_IGN);
	*epfd = epoll_create1(EPOLL_CLOEXEC);
	*sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (*epfd < 0 || *sfd < 0 || *tfd < 0 || timerfd_settime(*tfd, 0, &its, NULL))
		return -SHMQ_ESYS;
	ev.data.u64 = TAG_SIGNAL;
	if (epoll_ctl(*epfd, EPOLL_CTL_ADD, *sfd, &ev))
		return -SHMQ_ESYS;
	ev.data.u64 = TAG_TIMER;
	return epoll_ctl(*epfd, EPOLL_CTL_ADD, *tfd, &ev) ? -SHMQ_ESYS : 0;
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

		ch = registry_find(reg, spec.name);
		if (ch) { /* adopted from the daemon before: this configuration's limit */
			ch->max_handles_per_uid = spec.max_handles_per_uid;
			continue;
		}
		if (!err)
			err = registry_create(reg, &spec, (uint32_t)geteuid(), &ch);
		if (err) {
			log_msg(LOG_ERROR, "registry", "cannot create channel=%s err=%d",
				cfg->channels[i].name, err);
			return err;
		}
	}
	return 0;
}

/*
 * After KEEP_STOP: true unless a KEEP_STAY follows it already (the daemon
 * that was to take over gave up waiting for this one: serve on).
 */
static bool keeper_stop_stands(struct registry *reg)
{
	struct keep_msg m;
	int fds[KEEP_FDS_MAX];
	unsigned nfds;
	int got;

	while ((got = keeper_recv(reg->kfd, &m, fds, &nfds, MSG_DONTWAIT)) == 0 ||
	       got == -SHMQ_EPROTO) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (m.h.op == KEEP_STAY) {
			log_msg(LOG_WARN, "daemon",
				"the shmqd that was to take over gave up: "
				"serving on");
			return false;
		}
	}
	return true;
}

/*
 * A message from the keeper: another daemon takes over (true: stop, and
 * leave the channels to it), or the keeper is gone (go on without it).
 */
static bool keeper_event(struct registry *reg, int epfd)
{
	struct keep_msg m;
	int fds[KEEP_FDS_MAX];
	unsigned nfds;
	int got = keeper_recv(reg->kfd, &m, fds, &nfds, MSG_DONTWAIT);

	if (got == -SHMQ_EPROTO || got == -SHMQ_EAGAIN)
		return false; /* not a message of ours: ignored */
	if (got == 0) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (m.h.op != KEEP_STOP || !keeper_stop_stands(reg))
			return false;
		log_msg(LOG_INFO, "daemon", "another shmqd takes over the channels: stopping");
		return true;
	}
	log_msg(LOG_ERROR, "keeper", "the keeper is gone: channels will not survive a restart");
	epoll_ctl(epfd, EPOLL_CTL_DEL, reg->kfd, NULL);
	close(reg->kfd);
	reg->kfd = -1;
	return false;
}

/* Returns true when stopping for another daemon (--replace), false on a signal. */
static bool run(int epfd, int sfd, int tfd, struct ctl *ctl, struct registry *reg)
{
	struct epoll_event evs[64];

	for (;;) {
		int n = epoll_wait(epfd, evs, 64, -1);

		if (n < 0 && errno != EINTR) {
			log_msg(LOG_ERROR, "daemon", "epoll_wait failed: %s", strerror(errno));
			return false;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			uint64_t ticks;
			struct signalfd_siginfo si;

			if (tag == TAG_SIGNAL) {
				if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					log_msg(LOG_INFO, "daemon", "stopping signal=%u",
						si.ssi_signo);
					return false;
				}
			} else if (tag == TAG_KEEPER) {
				if (keeper_event(reg, epfd))
					return true;
			} else if (tag == TAG_TIMER) {
				if (read(tfd, &ticks, sizeof(ticks)) > 0) {
					registry_tick(reg, wait_now_ns());
					ctl_tick(ctl, wait_now_ns());
				}
			} else {
				ctl_event(ctl, tag, evs[i].events);
			}
		}
	}
}

/*
 * Without $XDG_RUNTIME_DIR a non-root user's socket lives in /tmp/shmq-UID,
 * a directory made 0700 here and used only while it is a directory of ours
 * that nobody else may enter (libshmq checks the same before it connects):
 * in /tmp, anyone could have made it first.
 */
static int private_dir_make(const char *socket_path)
{
	char dir[108];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", socket_path);
	*strrchr(dir, '/') = 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_msg(LOG_ERROR, "daemon", "cannot create dir=%s err=%s", dir, strerror(errno));
		return -SHMQ_ESYS;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		log_msg(LOG_ERROR, "daemon",
			"refusing socket dir=%s: not a directory of uid=%u with mode 0700", dir,
			(unsigned)geteuid());
		return -SHMQ_EPERM;
	}
	return 0;
}

/* Listen on the socket a service manager passed, else on a->socket. */
static int open_ctl(const struct args *a, int epfd, struct registry *reg, const struct config *cfg,
		    struct ctl **ctl)
{
	int err;

	if (a->activated) {
		err = ctl_open_fd(ctl, ACTIVATION_FD, epfd, reg, cfg);
		if (err == 0)
			return 0;
		log_msg(LOG_ERROR, "daemon", "cannot serve the passed socket=%s err=%s", a->socket,
			strerror(errno));
		return err;
	}
	err = a->private_dir ? private_dir_make(a->socket) : 0;
	if (err)
		return err;
	err = ctl_open(ctl, a->socket, epfd, reg, cfg);
	if (err == 0)
		return 0;
	log_msg(LOG_ERROR, "daemon", "cannot listen socket=%s err=%s", a->socket, strerror(errno));
	return err;
}

/*
 * --background: fork. The child serves in a new session, with stdin and
 * stdout on /dev/null (stderr, the log, stays), and writes its ready line
 * into a pipe; it returns here. The parent prints the child's pid and exits
 * 0 once that line arrives, or exits 1 if the pipe closes without it (the
 * child stopped; its log says why).
 */
static void background(int *ready_fd)
{
	char line[200];
	ssize_t n;
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) || (pid = fork()) < 0) {
		fprintf(stderr, "shmqd: cannot start in the background: %s\n", strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		close(p[0]);
		setsid();
		if (null >= 0 && (dup2(null, 0) < 0 || dup2(null, 1) < 0))
			_exit(1);
		if (null > 1)
			close(null);
		*ready_fd = p[1];
		return;
	}
	close(p[1]);
	do /* one write() of less than PIPE_BUF bytes: one read() */
		n = read(p[0], line, sizeof(line) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 5 || strncmp(line, "ready", 5))
		exit(1);
	printf("%d\n", (int)pid);
	exit(0);
}

/* Does the keeper's answer (within its KEEP_TAKE_WAIT_S) hand channels over? */
static bool keeper_hands_over(int kfd)
{
	struct pollfd p = {.fd = kfd, .events = POLLIN};
	struct keep_hdr h;

	return poll(&p, 1, KEEP_TAKE_WAIT_S * 1000) == 1 &&
	       recv(kfd, &h, sizeof(h), MSG_PEEK | MSG_DONTWAIT) == sizeof(h) && h.op != KEEP_END;
}

/*
 * Connect to the keeper next to the socket (starting one if none answers)
 * and adopt what it kept of an earlier daemon. Without a keeper the daemon
 * runs on, its channels ending with it.
 */
static void keeper_start(const struct args *a, int epfd, struct registry *reg)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_KEEPER};
	char path[108];
	bool found;

	if ((a->private_dir && private_dir_make(a->socket)) ||
	    keeper_path(a->socket, path, sizeof(path)) ||
	    keeper_open(path, a->replace, &reg->kfd, &found)) {
		log_msg(LOG_WARN, "keeper",
			"no keeper for socket=%s: channels end with this daemon", a->socket);
		return;
	}
	/* --replace: the running daemon gives the socket up before the keeper
	 * hands its channels over (its first message); one that still serves
	 * it then lost its keeper (which serves nobody): its channels are
	 * live, not ours */
	if (found && a->replace && !a->activated && keeper_hands_over(reg->kfd) &&
	    ctl_path_served(a->socket)) {
		log_msg(LOG_ERROR, "daemon",
			"a shmqd still serves socket=%s, without its keeper: not adopting its "
			"channels (stop it, then start shmqd to adopt them)",
			a->socket);
		close(reg->kfd);
		reg->kfd = -1;
		return;
	}
	if (found)
		log_msg(LOG_INFO, "daemon", "adopted channels=%u from the keeper", adopt_all(reg));
	else
		adopt_all(reg); /* a new keeper: its empty answer */
	if (reg->kfd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, reg->kfd, &ev))
		log_msg(LOG_WARN, "keeper", "cannot watch the keeper: %s", strerror(errno));
}

static int serve(const struct args *a, const struct config *cfg)
{
	const char *data_dir, *why = "";
	struct registry reg;
	struct ctl *ctl;
	int epfd, sfd, tfd;
	bool replaced;

	raise_fd_limit();
	if (setup_fds(&epfd, &sfd, &tfd)) {
		fprintf(stderr, "shmqd: setup failed: %s\n", strerror(errno));
		return 1;
	}
	registry_init(&reg, cfg);
	data_dir = a->data_dir ? a->data_dir : cfg->data_dir;
	if (journal_open(data_dir, &reg.journal, &why)) {
		fprintf(stderr, "shmqd: data dir %s: %s\n", data_dir, why);
		registry_fini(&reg);
		return 2;
	}
	/* the socket path first, so that a daemon refused there leaves no
	 * keeper behind; requests wait in its backlog until run() serves them,
	 * after the adoption. --replace: the running daemon gives the path up
	 * once the keeper told it to go. */
	if (a->replace)
		keeper_start(a, epfd, &reg);
	if (open_ctl(a, epfd, &reg, cfg, &ctl)) {
		journal_close(reg.journal);
		registry_fini(&reg);
		return 1;
	}
	if (!a->replace)
		keeper_start(a, epfd, &reg);
	registry_journal_adopted(&reg);
	if (reg.journal)
		log_msg(LOG_INFO, "journal", "recovered channels=%u",
			journal_recover(reg.journal, &reg));
	if (create_declared(&reg, cfg)) {
		ctl_close(ctl, false);
		registry_keeper_quit(&reg);
		journal_close(reg.journal);
		registry_fini(&reg);
		return 1;
	}
	log_msg(LOG_INFO, "daemon", "listening socket=%s pid=%d channels=%u%s", a->socket,
		(int)getpid(), reg.n, a->activated ? " activated=1" : "");
	ready_announce(a->ready_fd, a->socket);
	replaced = run(epfd, sfd, tfd, ctl, &reg);
	ready_stopping();
	if (!replaced)
		registry_close_all(&reg);
	ctl_close(ctl, replaced);
	/* before the keeper hands the channels over: one journal writer at a time */
	journal_close(reg.journal);
	reg.journal = NULL;
	if (replaced)
		registry_keeper_stopped(&reg); /* the next daemon may bind the socket now */
	else
		registry_keeper_quit(&reg); /* a clean stop: the channels end here */
	registry_fini(&reg);
	log_msg(LOG_INFO, "daemon", "stopped");
	return 0;
}

int main(int argc, char **argv)
{
	static struct config cfg;
	struct args a;
	char err[4096];
	int rc;

	if (argc == 3 && !strcmp(argv[1], "--keeper"))
		return keeper_main(argv[2]);
	rc = parse_args(argc, argv, &a);
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
	rc = activation_take(a.socket, sizeof(a.socket), err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "shmqd: %s\n", err);
		return 1;
	}
	a.activated = rc;
	if (a.activated && a.ready_fd == ACTIVATION_FD) {
		fprintf(stderr, "shmqd: --ready-fd %d is the passed socket\n", ACTIVATION_FD);
		return 2;
	}
	if (a.background)
		background(&a.ready_fd);
	return serve(&a, &cfg);
}
