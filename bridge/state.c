/*
 * state.c - the out route's cursor on disk: DIR/CHANNEL.out holds one line,
 * "next N", the offset of the first message JetStream has not acked yet.
 * Written after every acked batch to a temporary file, fsynced, renamed
 * over the old one and the directory fsynced: after a crash the file says
 * an old offset or the new one, never a torn one. Called by the route's
 * own thread only (one file per channel).
 */
#include "bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void state_path(char *out, size_t len, const char *dir, const char *channel,
		       const char *suffix)
{
	snprintf(out, len, "%s/%s.out%s", dir, channel, suffix);
}

/* 0 and *next; 1 if there is no file yet; -1 (logged) if it cannot be read. */
int state_load(const char *dir, const char *channel, uint64_t *next)
{
	char path[4096];
	FILE *f;
	int n;

	state_path(path, sizeof(path), dir, channel, "");
	f = fopen(path, "re");
	if (!f && errno == ENOENT)
		return 1;
	if (!f) {
		blog("error", "state", "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	n = fscanf(f, "next %" SCNu64, next);
	fclose(f);
	if (n != 1) {
		blog("error", "state", "%s does not hold \"next N\"", path);
		return -1;
	}
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* 0, or -1 (logged). */
int state_store(const char *dir, const char *channel, uint64_t next)
{
	char path[4096], tmp[4096], line[40];
	int fd, n;

	state_path(path, sizeof(path), dir, channel, "");
	state_path(tmp, sizeof(tmp), dir, channel, ".tmp");
	n = snprintf(line, sizeof(line), "next %" PRIu64 "\n", next);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out_fail;
	if (write(fd, line, (size_t)n) != n || fsync(fd)) {
		close(fd);
		goto out_fail;
	}
	close(fd);
	if (rename(tmp, path) || sync_dir(dir))
		goto out_fail;
	return 0;

out_fail:
	blog("error", "state", "cannot write %s: %s", path, strerror(errno));
	return -1;
}
