/*
 * shmq-stat.c - live statistics of shmq channels, read straight from shared
 * memory through monitor handles (see stat.h): a top-like view refreshed
 * every interval, or one snapshot as text (--once), JSON (--json, JSON lines
 * with --watch; both rate over two samples --interval apart) or the
 * Prometheus text format (--prometheus, or served over
 * HTTP with --listen, on a Unix socket or loopback TCP). Exit status: 0; 1
 * for a memory that no honest daemon wrote or a format newer than this
 * tool (--listen instead reports it per channel and goes on); 2 for bad
 * usage or no listener; 3 when a one-shot output finds no daemon and
 * nothing open. Single-threaded, but for --listen's server threads.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "stat.h"

#ifndef SHMQ_TOOL_VERSION
#define SHMQ_TOOL_VERSION "unknown"
#endif

#define STAT_MAX_ALLOW 64

enum mode { MODE_LIVE, MODE_ONCE, MODE_JSON, MODE_PROM, MODE_LISTEN };

struct opts {
	enum mode mode;
	const char *socket_path;
	const char *pattern;
	const char *listen;
	const char *path; /* --listen: the metrics path */
	bool tcp_exposes_all;
	struct stat_uid allow[STAT_MAX_ALLOW]; /* --allow-uid */
	size_t nallow;
	double interval_s; /* live view refresh; --once, --json: between the two samples */
	double watch_s;	   /* --json --watch: 0 = one snapshot */
	long count;	   /* stop after this many refreshes (0: never) */
	enum stat_sort sort;
	int colour; /* -1 auto */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fputs("Usage: shmq-stat [OPTIONS]\n"
	      "Live statistics of shmq channels, read from shared memory without holding\n"
	      "anyone back. Without an output option: a live view, refreshed every second.\n"
	      "\n"
	      "  --once               print one text snapshot and exit; its rates are\n"
	      "                       measured between two samples --interval apart\n"
	      "  --json               print one snapshot as JSON (schema: docs/STATS.md),\n"
	      "                       rates as --once\n"
	      "  --watch DURATION     with --json: a snapshot every DURATION (JSON lines)\n"
	      "  --prometheus         print the Prometheus text exposition format\n"
	      "  --listen unix:PATH   serve it over HTTP on a Unix socket (GET /metrics),\n"
	      "                       mode 0600: to root and this uid only\n"
	      "  --allow-uid USER     --listen unix: USER (a name or uid; repeat, or list\n"
	      "                       with commas) may scrape too, and sees its own view\n"
	      "  --listen ADDR:PORT   serve it on loopback TCP, with --tcp-exposes-all:\n"
	      "                       any local user then sees every channel this uid sees\n"
	      "  --path PATH          --listen: the metrics path (default /metrics)\n"
	      "  --channel PATTERN    only channels whose name matches the glob PATTERN\n"
	      "  --sort KEY           live view order: name, rate, bytes, depth, drops, lag\n"
	      "                       (default rate)\n"
	      "  --interval DURATION  live view refresh; --once and --json: time between\n"
	      "                       the two samples their rates come from (default 1s;\n"
	      "                       0: one sample, no rates)\n"
	      "                       DURATION: seconds (0.5) or with a unit (500ms, 2s,\n"
	      "                       1m), from 50ms to 24h\n"
	      "  --count N            stop after N refreshes (live view, --watch)\n"
	      "  --color WHEN         always, never or auto (default: when stdout is a\n"
	      "                       terminal and NO_COLOR is unset)\n"
	      "  --socket PATH        shmqd's socket (default: $SHMQ_SOCKET, as shmq)\n"
	      "  -h, --help           this help\n"
	      "  -V, --version        the version\n"
	      "\n"
	      "Live view keys: s next sort key, p pause, q quit.\n"
	      "Exit status: 0 ok, 1 corrupt or newer shared memory, 2 usage, 3 no daemon.\n",
	      f);
}

/* A duration (tools/duration.h: seconds, or 500ms, 2m) from 50 ms to a day. */
#define DURATION_RANGE "seconds, or with a unit: 500ms, 1.5s, 2m; 50ms to 24h"
static int parse_seconds(const char *s, double *out)
{
	double v;

	if (duration_parse(s, &v) || !(v >= 0.05 && v <= 86400))
		return -1;
	*out = v;
	return 0;
}

static int bad_usage(const char *fmt, const char *arg)
{
	fputs("shmq-stat: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'shmq-stat --help'.\n", stderr);
	return 2;
}

/* One user of --allow-uid: its uid and the gid its snapshots run with. */
static int parse_user(const char *name, struct stat_uid *out)
{
	const struct passwd *pw = getpwnam(name);
	unsigned long v;
	char *end;

	if (pw) {
		*out = (struct stat_uid){.uid = pw->pw_uid, .gid = pw->pw_gid};
		return 0;
	}
	errno = 0;
	v = strtoul(name, &end, 10);
	if (errno || end == name || *end || v >= (uid_t)-1)
		return -1;
	pw = getpwuid((uid_t)v);
	*out = (struct stat_uid){.uid = (uid_t)v, .gid = pw ? pw->pw_gid : (gid_t)65534};
	return 0;
}

/* --allow-uid A,B,...: another uid's view needs root to take it as that uid. */
static int parse_allow(struct opts *o, const char *arg)
{
	char list[256], *save, *name;

	if (snprintf(list, sizeof(list), "%s", arg) >= (int)sizeof(list))
		return bad_usage("--allow-uid list too long: %s", arg);
	for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		struct stat_uid *u = &o->allow[o->nallow];

		if (o->nallow == STAT_MAX_ALLOW)
			return bad_usage("%s", "--allow-uid: too many users");
		if (parse_user(name, u))
			return bad_usage("--allow-uid: no such user: %s", name);
		if (geteuid() != 0 && u->uid != geteuid())
			return bad_usage("--allow-uid %s: serving another uid its own view "
					 "needs root",
					 name);
		o->nallow++;
	}
	return 0;
}

static int parse_opt(struct opts *o, int c, const char *arg)
{
	char *end;
	double v;

	switch (c) {
	case 'o':
		o->mode = MODE_ONCE;
		return 0;
	case 'j':
		o->mode = MODE_JSON;
		return 0;
	case 'P':
		o->mode = MODE_PROM;
		return 0;
	case 'l':
		o->mode = MODE_LISTEN;
		o->listen = arg;
		return 0;
	case 'w':
		return parse_seconds(arg, &o->watch_s)
			   ? bad_usage("--watch %s: not a valid value (valid: " DURATION_RANGE ")",
				       arg)
			   : 0;
	case 'i':
		if (!duration_parse(arg, &v) && v == 0) { /* --once, --json: one sample, no rates */
			o->interval_s = 0;
			return 0;
		}
		return parse_seconds(arg, &o->interval_s)
			   ? bad_usage("--interval %s: not a valid value (valid: " DURATION_RANGE
				       "; 0 with --once or --json)",
				       arg)
			   : 0;
	case 'n':
		o->count = strtol(arg, &end, 10);
		return *end || end == arg || o->count <= 0
			   ? bad_usage(
				 "--count %s: not a valid value (valid: a whole number, 1 or more)",
				 arg)
			   : 0;
	case 'c':
		o->pattern = arg;
		return 0;
	case 's':
		return stat_sort_parse(arg, &o->sort)
			   ? bad_usage("--sort %s: not a valid value (valid: name, rate, bytes, "
				       "depth, drops or lag)",
				       arg)
			   : 0;
	case 'S':
		o->socket_path = arg;
		return 0;
	case 'a':
		return parse_allow(o, arg);
	case 'T':
		o->tcp_exposes_all = true;
		return 0;
	case 'p':
		o->path = arg;
		return arg[0] == '/' ? 0 : bad_usage("--path must start with '/': %s", arg);
	case 'C':
		o->colour = !strcasecmp(arg, "always") ? 1 : !strcasecmp(arg, "never") ? 0 : -1;
		return strcasecmp(arg, "always") && strcasecmp(arg, "never") &&
			       strcasecmp(arg, "auto")
			   ? bad_usage(
				 "--color %s: not a valid value (valid: always, never or auto)",
				 arg)
			   : 0;
	default:
		return 2;
	}
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"once", no_argument, NULL, 'o'},
	    {"json", no_argument, NULL, 'j'},
	    {"prometheus", no_argument, NULL, 'P'},
	    {"listen", required_argument, NULL, 'l'},
	    {"watch", required_argument, NULL, 'w'},
	    {"interval", required_argument, NULL, 'i'},
	    {"count", required_argument, NULL, 'n'},
	    {"channel", required_argument, NULL, 'c'},
	    {"sort", required_argument, NULL, 's'},
	    {"socket", required_argument, NULL, 'S'},
	    {"path", required_argument, NULL, 'p'},
	    {"color", required_argument, NULL, 'C'},
	    {"colour", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"allow-uid", required_argument, NULL, 'a'},
	    {"tcp-exposes-all", no_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	int c, err;

	*o = (struct opts){.interval_s = 1, .sort = SORT_RATE, .colour = -1, .path = "/metrics"};
	while ((c = getopt_long(argc, argv, "hV", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == 'V') {
			printf("shmq-stat %s\n", SHMQ_TOOL_VERSION);
			exit(0);
		}
		if (c == '?')
			return 2;
		err = parse_opt(o, c, optarg);
		if (err)
			return err;
	}
	if (optind < argc)
		return bad_usage("unexpected argument: %s", argv[optind]);
	if (o->watch_s > 0 && o->mode != MODE_JSON)
		return bad_usage("%s", "--watch goes with --json");
	if (o->interval_s == 0 && o->mode != MODE_ONCE && o->mode != MODE_JSON)
		return bad_usage("%s", "--interval 0 goes with --once or --json");
	if ((o->nallow || o->tcp_exposes_all) && o->mode != MODE_LISTEN)
		return bad_usage("%s", "--allow-uid and --tcp-exposes-all go with --listen");
	if (o->nallow && o->listen && strncmp(o->listen, "unix:", 5))
		return bad_usage("%s", "--allow-uid needs --listen unix:PATH (TCP cannot tell who "
				       "connects)");
	return 0;
}

/* A channel's memory is not what an honest daemon wrote: say so, exit 1. */
static int fatal(const struct stat_state *s)
{
	fprintf(stderr, "shmq-stat: channel %s: %s (%s)%s\n", s->fatal_chan,
		shmq_strerror(s->fatal_err), shmq_errname(s->fatal_err),
		s->fatal_err == -SHMQ_EVERSION ? "; a newer shmq-stat may read it" : "");
	return 1;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s,
			      .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

	while (!stop && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * One refresh; --once and --json take a first sample --interval before
 * it, so that their rates are measured. 0, or an exit code.
 */
static int snapshot(const struct opts *o, struct stat_state *s, bool first)
{
	bool rates = first && o->interval_s > 0 && o->mode != MODE_PROM;

	for (int k = rates ? 0 : 1; k < 2 && !stop; k++) {
		if (k == 1 && rates)
			sleep_s(o->interval_s);
		stat_refresh(s);
		if (s->fatal_err)
			return fatal(s);
		if (!s->daemon_up && !s->n && o->watch_s <= 0) {
			fprintf(stderr, "shmq-stat: daemon unreachable: %s\n",
				shmq_strerror(s->daemon_err));
			return 3;
		}
	}
	return 0;
}

/* One-shot outputs and --watch. */
static int run_snapshots(const struct opts *o, struct stat_state *s)
{
	int err;

	for (long i = 0; !stop; i++) {
		err = snapshot(o, s, i == 0);
		if (err || stop)
			return err;
		stat_sort(s, SORT_NAME);
		if (o->mode == MODE_ONCE)
			stat_print_text(stdout, s);
		else if (o->mode == MODE_PROM)
			stat_print_prometheus(stdout, s);
		else if (stat_print_json(stdout, s))
			return fputs("shmq-stat: could not write the JSON snapshot (out of memory "
				     "or output)\n",
				     stderr),
			       1;
		if (fflush(stdout) || ferror(stdout))
			return 1;
		if (o->watch_s <= 0 || (o->count && i + 1 >= o->count))
			break;
		sleep_s(o->watch_s);
	}
	return 0;
}

/* ---- --listen ---- */

/* Serve until SIGINT or SIGTERM, which only this thread takes; cut overdue connections. */
static int run_listen(const struct opts *o)
{
	const struct http_cfg cfg = {.listen = o->listen,
				     .path = o->path,
				     .socket_path = o->socket_path,
				     .pattern = o->pattern,
				     .tcp_exposes_all = o->tcp_exposes_all,
				     .allow = o->allow,
				     .nallow = o->nallow};
	struct http_server *h;
	sigset_t set;
	const struct timespec tick = {.tv_sec = 1};
	char err[256];

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before the server's threads exist */
	if (http_start(&cfg, &h, err, sizeof(err))) {
		fprintf(stderr, "shmq-stat: %s\n", err);
		return 2;
	}
	fprintf(stderr, "shmq-stat: serving %s%s\n", o->listen, o->path);
	while (sigtimedwait(&set, NULL, &tick) < 0)
		http_expire(h);
	http_stop(h);
	return 0;
}

/* ---- the live view ---- */

static struct termios saved_tio;
static bool tio_saved;

static void tty_restore(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	tio_saved = false;
}

/* Keys without Enter, no echo; restored at exit. */
static void tty_keys(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio))
		return;
	t = saved_tio;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (!tcsetattr(STDIN_FILENO, TCSANOW, &t))
		tio_saved = true;
}

static unsigned tty_rows(void)
{
	struct winsize ws;

	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row >= 8)
		return ws.ws_row;
	return 24;
}

/* Wait up to ms for a key; act on it. */
static void live_keys(int ms, enum stat_sort *sort, bool *paused)
{
	struct pollfd pf = {.fd = STDIN_FILENO, .events = POLLIN};
	char k;

	if (!tio_saved) {
		sleep_s(ms / 1000.0);
		return;
	}
	if (poll(&pf, 1, ms) <= 0 || read(STDIN_FILENO, &k, 1) != 1)
		return;
	if (k == 'q' || k == 'Q')
		stop = 1;
	else if (k == 's')
		*sort = (enum stat_sort)((*sort + 1) % SORT_COUNT);
	else if (k == 'p')
		*paused = !*paused;
}

static int run_live(const struct opts *o, struct stat_state *s)
{
	bool colour = o->colour >= 0 ? o->colour : isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	enum stat_sort sort = o->sort;
	bool paused = false;
	long n = 0;

	tty_keys();
	atexit(tty_restore);
	while (!stop) {
		if (!paused) {
			stat_refresh(s);
			n++;
		}
		if (s->fatal_err)
			break;
		stat_sort(s, sort);
		stat_print_live(stdout, s, sort, colour, tty_rows(), paused);
		if (o->count && n >= o->count)
			break;
		for (int t = 0; t < (int)(o->interval_s * 10) && !stop; t++)
			live_keys(100, &sort, &paused);
	}
	tty_restore();
	return s->fatal_err ? fatal(s) : 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct stat_state s;
	struct opts o;
	int err = parse_args(argc, argv, &o);

	if (err)
		return err;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (stat_init(&s, o.socket_path, o.pattern)) {
		fputs("shmq-stat: out of memory\n", stderr);
		return 1;
	}
	if (o.mode == MODE_LIVE)
		err = run_live(&o, &s);
	else if (o.mode == MODE_LISTEN)
		err = run_listen(&o);
	else
		err = run_snapshots(&o, &s);
	stat_fini(&s);
	return err;
}
