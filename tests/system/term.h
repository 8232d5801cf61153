/*
 * term.h - run the shmq command ($SHMQ_TOOL) with its stdin, stdout and
 * stderr on a pseudo-terminal, as a user at a terminal would, and read
 * what it prints as it prints it. The terminal is raw (no "\n" to "\r\n"),
 * so the bytes read are the bytes written. Waits are bounded by
 * FX_HANG_NS. Test processes only.
 */
#ifndef TEST_SYSTEM_TERM_H
#define TEST_SYSTEM_TERM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pty_proc {
	pid_t pid;
	int master; /* the terminal's other side: read what the command writes */
	char *seen; /* everything read so far, NUL-terminated */
	size_t len;
};

/* Start $SHMQ_TOOL argv... on a new terminal. 0 or -1. Exits 77 without $SHMQ_TOOL. */
int pty_spawn(struct pty_proc *p, const char *const argv[]);

/* Read until p->seen contains text (0) or FX_HANG_NS passes or the terminal closes (-1). */
int pty_expect(struct pty_proc *p, const char *text);

/* Read for about ms milliseconds; what arrives is appended to p->seen. */
void pty_read_for(struct pty_proc *p, unsigned ms);

/*
 * Read what is left until the command closes the terminal, then reap it:
 * its exit status, 128 + signal, or -1 if it did not end in FX_HANG_S (it
 * is killed). Frees nothing: pty_free() does.
 */
int pty_finish(struct pty_proc *p);

void pty_free(struct pty_proc *p);

#endif
