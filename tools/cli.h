/*
 * cli.h - what the files of the shmq command share: the parsed command
 * line, exit codes, and the entry points of each command. One thread;
 * only main() exits, and only commands print.
 */
#ifndef TOOLS_CLI_H
#define TOOLS_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "shmq.h"

/* Exit status of the shmq command (docs/CLI.md). */
enum cli_exit {
	CLI_OK = 0,	 /* done as asked */
	CLI_FAILED = 1,	 /* an operation failed; stderr names the SHMQ_E… code */
	CLI_USAGE = 2,	 /* the command line is wrong */
	CLI_TIMEOUT = 3, /* --timeout ran out first */
};

/* Channel settings given on the command line (opts.given). */
#define GIVEN_CAPACITY 0x01u
#define GIVEN_MAX_MESSAGE 0x02u
#define GIVEN_POLICY 0x04u
#define GIVEN_PUBLISHERS 0x08u
#define GIVEN_NUMA 0x10u
#define GIVEN_NO_TIMESTAMPS 0x20u

/* How shmq sub prints messages. */
enum out_mode {
	OUT_PLAIN,  /* payload, newline */
	OUT_FORMAT, /* --format */
	OUT_JSON,   /* --json: one object a line */
	OUT_RAW,    /* --raw: payload bytes only */
	OUT_LENGTH, /* --length-prefixed: 4-byte big-endian length, payload */
};

/* How shmq pub reads messages when none are given as arguments. */
enum in_mode {
	IN_LINES,  /* a message a line */
	IN_NUL,	   /* -0: NUL-terminated */
	IN_LENGTH, /* --length-prefixed, as sub writes it */
	IN_FILES,  /* --file: a message a file */
};

#define PUB_HEADERS_MAX 16
#define PUB_FILES_MAX 64

struct opts {
	const char *socket;
	struct shmq_channel_opts chan;
	uint32_t given; /* GIVEN_* */
	int create;
	/* sub */
	uint64_t count;	  /* stop after this many, 0 = no limit (pub: publish this many) */
	double timeout_s; /* < 0 = never */
	uint32_t start;
	uint64_t offset;
	const char *from; /* as written, for messages */
	int from_last;	  /* --last N, --from last, --from -N: start N before the tail */
	uint64_t last;
	uint32_t wait_mode; /* --wait: enum shmq_wait */
	int wait;	    /* -w, --wait-channel: wait for the channel to be created */
	int exit_at_end;
	const char *group; /* --group: take messages as a member of this consumer group */
	int ack_none;	   /* --ack none: acked as taken, not after the output */
	enum out_mode out;
	const char *format;
	int json;		/* --json: sub, ls and info write JSON, pub reads JSON lines */
	const char *key_prefix; /* sub --key-prefix */
	/* pub */
	enum in_mode in;
	double rate;		  /* messages a second, 0 = as fast as possible */
	struct shmq_msg_opts msg; /* sub: --key, -H and --content-type are its filter */
	double ttl_s; /* --ttl: each message expires this long after it is published; 0 none */
	struct shmq_header headers[PUB_HEADERS_MAX];
	const char *files[PUB_FILES_MAX];
	unsigned nfiles;
	int expired; /* sub --expired: deliver messages whose expiry passed too */
	int confirm; /* pub --confirm: exit once every message is durable */
	/* reply */
	int echo;	  /* --echo: reply with the request's payload */
	const char *exec; /* --exec CMD: reply with what CMD prints given the request */
};

/* The length-prefixed framing: a 4-byte big-endian payload length, then the payload. */
#define FRAME_HDR_BYTES 4

/* Print "shmq: what name: sentence (SHMQ_E…)" and return CLI_FAILED. */
int cli_fail(const char *what, const char *name, int err, const struct opts *o);

/*
 * Compare the channel settings given with those of name, if it exists: 0,
 * or CLI_FAILED after naming the first that differs (SHMQ_EMISMATCH).
 */
int cli_check_settings(struct shmq_client *c, const char *what, const char *name,
		       const struct opts *o);

int cmd_pub(struct shmq_client *c, const char *name, char **msgs, int nmsgs, const struct opts *o);

/* shmq journal verify DIR (journal.c): offline, no daemon. */
int cmd_journal(char **args);

/* shmq journal NAME: the journal's state, positions and segment. */
int cmd_journal_show(struct shmq_client *c, const char *name, const struct opts *o);
int cmd_sub(struct shmq_client *c, const char *name, const struct opts *o);
int cmd_request(struct shmq_client *c, const char *name, const char *message, const struct opts *o);
int cmd_reply(struct shmq_client *c, const char *name, const struct opts *o);

/* shmq sub --group: the same, as a member of a consumer group (sub_group.c). */
int cmd_sub_group(struct shmq_client *c, const char *name, const struct opts *o);

/* For sub and sub --group (sub.c): the signal that asks the loop to end
 * (SIGINT, SIGTERM; 0: none), its handlers installed, the monotonic clock. */
extern volatile sig_atomic_t stop_signal;
void signals_install(void);
uint64_t now_ns(void);

/* Help: the overview, or one command's (0, or -1 for an unknown command). */
void help_overview(FILE *f);
int help_command(FILE *f, const char *cmd);

/* The command an alias names ("list": "ls", "subscribe": "sub"), else cmd. */
const char *help_command_name(const char *cmd);

#endif
