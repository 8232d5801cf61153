/*
 * cli_json.h - the JSON of the shmq command, built and parsed with jansson:
 * a message as shmq sub --json writes it and shmq pub --json reads it
 * (schema "shmq-sub"), and a channel as shmq ls --json and shmq info
 * --json write it ("shmq-ls", "shmq-info"). The schemas and their
 * versions are in docs/CLI.md; change them together. One thread.
 */
#ifndef TOOLS_CLI_JSON_H
#define TOOLS_CLI_JSON_H

#include <jansson.h>
#include <stdio.h>

#include "cli.h"

#define SUB_JSON_SCHEMA "shmq-sub"
#define SUB_JSON_VERSION 2 /* 2: "payload" + "encoding" (1 had "payload_base64") */
#define LS_JSON_SCHEMA "shmq-ls"
#define INFO_JSON_SCHEMA "shmq-info"
#define CHAN_JSON_VERSION 1

/* How every object of the shmq command is written: one line, UTF-8. */
#define CLI_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/*
 * o as one line of text with its newline, in a buffer of this file's that
 * the next call reuses (one thread); NULL when out of memory.
 */
const char *json_line(const json_t *o);

/*
 * The object of message m (a verified copy) with its parsed header fields
 * mf; NULL when out of memory or the headers do not parse.
 */
json_t *json_from_msg(const struct shmq_msg *m, const struct shmq_msg_fields *mf);

/* A message to publish, decoded from one object of schema shmq-sub. */
struct json_msg {
	const void *payload;
	size_t len;
	struct shmq_msg_opts mo;
	struct shmq_header headers[PUB_HEADERS_MAX];
	void *owned[4 + 2 * PUB_HEADERS_MAX]; /* decoded base64, freed by json_msg_free() */
	unsigned nowned;
};

/*
 * Decode obj into out (pointers into obj and out->owned: keep obj until
 * json_msg_free()). 0, or -1 with why (a sentence) filled: not an object,
 * an unknown key, a wrong type, bad base64, another schema or a newer
 * version, a length that does not match the payload, too many headers.
 */
int json_msg_decode(const json_t *obj, struct json_msg *out, char *why, size_t whylen);
void json_msg_free(struct json_msg *m);

/* The object of one channel (ls --json's array entries, info --json's keys); NULL: no memory. */
json_t *json_from_channel(const struct shmq_channel_info *ci);

/* Print ls --json (the n rows) or info --json (one) as one line: 0, or -1 (no memory, I/O). */
int json_print_ls(FILE *f, const struct shmq_channel_info *rows, int n);
int json_print_info(FILE *f, const struct shmq_channel_info *ci);

#endif
