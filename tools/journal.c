/*
 * journal.c - shmq journal NAME: a durable channel's journal as shmqd
 * shows it in the channel's control segment (state, written, durable, the
 * segment being written), through a monitor handle.
 * shmq journal verify DIR: read a durable channel's segment
 * files offline, with the parser shmqd's recovery uses (shm/journal.c), and
 * say what recovery would find: per segment its first and next offset, the
 * messages and losses it holds, and how it ends (clean, sealed, a torn tail
 * and its bytes, corruption below a checkpoint). DIR is a channel's
 * directory (DATA_DIR/NAME/ID) or any directory above one; it is never
 * written. Needs no daemon, and shmqd never needs it to start. Exit 0 if
 * every segment is usable (a torn tail is: recovery cuts it), 1 if one is
 * corrupt or unreadable, 2 for usage.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "journal.h"

#define DEPTH_MAX 3
#define SEGS_MAX 65536u

/* The stop of a scan, as printed. */
static const char *stop_text(const struct journal_scan *r, char *buf, size_t len)
{
	if (r->stop == JSTOP_SEALED)
		return "sealed";
	if (r->stop == JSTOP_END)
		return "clean";
	snprintf(buf, len, "torn tail: %" PRIu64 " bytes at %" PRIu64 " (%s)",
		 r->torn_end - r->good_bytes, r->good_bytes, journal_why_name(r->why));
	return buf;
}

/* One segment file: print its line; 0 usable, 1 not. */
static int verify_seg(int dirfd, const char *path, const char *name)
{
	struct journal_scan r;
	char buf[128];
	struct stat st;
	void *m;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0 || fstat(fd, &st) || st.st_size < JSEG_HDR_BYTES) {
		printf("%s/%s: unreadable or too short\n", path, name);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		printf("%s/%s: cannot map it\n", path, name);
		return 1;
	}
	err = journal_scan(m, (uint64_t)st.st_size, 0, 0, &r);
	munmap(m, (size_t)st.st_size);
	if (err) {
		printf("%s/%s: %s\n", path, name,
		       err == -SHMQ_EVERSION
			   ? "a newer format or an unknown incompat bit: not served"
			   : "bad header: not served");
		return 1;
	}
	printf("%s/%s: offsets %" PRIu64 "..%" PRIu64 " messages %" PRIu64 " lost %" PRIu64
	       " checkpointed %" PRIu64 ", %s\n",
	       path, name, r.hdr.base_pos, r.next_pos, r.msgs, r.lost, r.ckpt_pos,
	       stop_text(&r, buf, sizeof(buf)));
	if (r.corrupt)
		printf("%s/%s: CORRUPT below a checkpoint: bytes %" PRIu64 "..%" PRIu64
		       " from offset %" PRIu64 " (%s), %" PRIu64 " span(s)\n",
		       path, name, r.corrupt_off, r.corrupt_end, r.corrupt_pos,
		       journal_why_name(r.corrupt_why), r.corrupt);
	return r.corrupt ? 1 : 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every segment in path, in order (names sort as offsets), then every subdirectory. */
static int verify_dir(const char *path, int depth, unsigned *nseg)
{
	char **names = NULL, sub[4096];
	unsigned n = 0, cap = 0;
	struct dirent *e;
	int bad = 0, fd;
	DIR *d = opendir(path);

	if (!d) {
		printf("%s: cannot open it\n", path);
		return 1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || n == SEGS_MAX)
			continue;
		if (n == cap) {
			char **g = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));

			if (!g)
				break;
			names = g;
		}
		names[n] = strdup(e->d_name);
		n += names[n] != NULL;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_name);
	fd = dirfd(d);
	for (unsigned i = 0; i < n; i++) {
		uint64_t base;
		struct stat st;

		if (!journal_seg_name_parse(names[i], &base)) {
			bad |= verify_seg(fd, path, names[i]);
			++*nseg;
		} else if (depth < DEPTH_MAX && !fstatat(fd, names[i], &st, 0) &&
			   S_ISDIR(st.st_mode) &&
			   snprintf(sub, sizeof(sub), "%s/%s", path, names[i]) < (int)sizeof(sub)) {
			bad |= verify_dir(sub, depth + 1, nseg);
		}
		free(names[i]);
	}
	free(names);
	closedir(d);
	return bad;
}

static const char *sync_name(uint32_t s)
{
	return s == SHMQ_SYNC_OS ? "os" : s == SHMQ_SYNC_BATCH ? "batch" : "always";
}

static const char *state_name(uint32_t s)
{
	return s == SHMQ_JOURNAL_OK	   ? "ok"
	       : s == SHMQ_JOURNAL_FAILED  ? "failed"
	       : s == SHMQ_JOURNAL_NOSPACE ? "nospace"
					   : "starting";
}

int cmd_journal_show(struct shmq_client *c, const char *name, const struct opts *o)
{
	struct shmq_channel_info ci;
	struct shmq_journal_info ji;
	struct shmq_mon *m = NULL;
	int err = shmq_channel_info(c, name, &ci);

	if (!err && !SHMQ_CHAN_DURABILITY(ci.flags))
		err = -SHMQ_ESTATE;
	if (err == -SHMQ_ESTATE) {
		fprintf(stderr, "shmq: journal %s: not a durable channel (SHMQ_ESTATE)\n", name);
		return CLI_FAILED;
	}
	if (!err)
		err = shmq_mon_open(c, name, &m);
	if (!err)
		err = shmq_mon_journal(m, &ji);
	shmq_mon_close(m);
	if (err)
		return cli_fail("journal", name, err, o);
	printf("%s: durability %s, state %s%s%s, written %" PRIu64 ", durable %" PRIu64
	       ", segment from %" PRIu64 " (%" PRIu64 " started)\n",
	       name, sync_name(SHMQ_CHAN_DURABILITY(ci.flags)), state_name(ji.state),
	       ji.error ? ": " : "", ji.error ? strerror(ji.error) : "", ji.written, ji.durable,
	       ji.seg_base, ji.segments);
	return ji.state == SHMQ_JOURNAL_FAILED ? CLI_FAILED : CLI_OK;
}

int cmd_journal(char **args)
{
	unsigned nseg = 0;
	int bad;

	if (strcmp(args[0], "verify")) {
		fprintf(stderr, "shmq: journal: unknown subcommand: %s (shmq help journal)\n",
			args[0]);
		return CLI_USAGE;
	}
	bad = verify_dir(args[1], 0, &nseg);
	printf("%u segment(s): %s\n", nseg, bad ? "NOT all usable" : "all usable");
	return bad ? CLI_FAILED : CLI_OK;
}
