/*
 * natshdr.c - header fields to NATS headers and back (see natshdr.h).
 * Printable means 0x20..0x7e: what a NATS header value may hold safely.
 */
#include "natshdr.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_put(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + len)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -SHMQ_ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){0};
}

static bool printable(const void *p, uint32_t len)
{
	const unsigned char *s = p;

	for (uint32_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* A header name NATS accepts: printable, no space and no colon. */
static bool name_ok(const char *p, uint32_t len)
{
	if (len == 0 || !printable(p, len))
		return false;
	return !memchr(p, ' ', len) && !memchr(p, ':', len);
}

/* Append name and len bytes of value, each NUL-terminated. */
static int pair_put(struct buf *out, const char *name, uint32_t name_len, const void *value,
		    uint32_t len, uint32_t *npairs)
{
	static const char nul;
	int err = buf_put(out, name, name_len);

	err = err ? err : buf_put(out, &nul, 1);
	err = err ? err : buf_put(out, value, len);
	err = err ? err : buf_put(out, &nul, 1);
	*npairs += !err;
	return err;
}

static int pair_str(struct buf *out, const char *name, const char *value, uint32_t *npairs)
{
	return pair_put(out, name, (uint32_t)strlen(name), value, (uint32_t)strlen(value), npairs);
}

static int pair_u64(struct buf *out, const char *name, uint64_t v, uint32_t *npairs)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRIu64, v);
	return pair_str(out, name, s, npairs);
}

static int key_put(struct buf *out, const struct shmq_msg_fields *f, uint32_t *npairs)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *k = f->key;
	char s[2 * 1024];

	if (printable(f->key, f->key_len))
		return pair_put(out, HDR_KEY, sizeof(HDR_KEY) - 1, f->key, f->key_len, npairs);
	for (uint32_t i = 0; i < f->key_len && i < 1024; i++) {
		s[2 * i] = hex[k[i] >> 4];
		s[2 * i + 1] = hex[k[i] & 15];
	}
	return pair_put(out, HDR_KEY_HEX, sizeof(HDR_KEY_HEX) - 1, s, 2 * f->key_len, npairs);
}

static int user_put(const struct shmq_msg *msg, uint32_t n, struct buf *out, uint32_t *npairs,
		    uint32_t *skipped)
{
	struct shmq_header h;
	int err = 0;

	for (uint32_t i = 0; i < n && !err; i++) {
		err = shmq_msg_header(msg, i, &h);
		if (err)
			break;
		if (!name_ok(h.name, h.name_len) || !printable(h.value, h.value_len)) {
			(*skipped)++;
			continue;
		}
		err = pair_put(out, h.name, h.name_len, h.value, h.value_len, npairs);
	}
	return err;
}

static int optional_put(const struct shmq_msg *msg, const struct shmq_msg_fields *f,
			struct buf *out, uint32_t *npairs, uint32_t *skipped)
{
	int err = 0;

	if (f->fields & SHMQ_F_KEY)
		err = key_put(out, f, npairs);
	if (!err && (f->fields & SHMQ_F_CORR_ID))
		err = pair_u64(out, HDR_CORR_ID, f->corr_id, npairs);
	if (!err && (f->fields & SHMQ_F_REPLY_TO))
		err = pair_put(out, HDR_REPLY_TO, sizeof(HDR_REPLY_TO) - 1, f->reply_to,
			       f->reply_to_len, npairs);
	if (!err && (f->fields & SHMQ_F_CONTENT_TYPE)) {
		if (printable(f->content_type, f->content_type_len))
			err = pair_put(out, HDR_CONTENT_TYPE, sizeof(HDR_CONTENT_TYPE) - 1,
				       f->content_type, f->content_type_len, npairs);
		else
			(*skipped)++;
	}
	if (!err && (f->fields & SHMQ_F_HEADERS))
		err = user_put(msg, f->nheaders, out, npairs, skipped);
	return err;
}

int hdr_from_shmq(const struct shmq_msg *msg, const char *channel, struct buf *out,
		  uint32_t *npairs, uint32_t *skipped)
{
	struct shmq_msg_fields f = {0};
	char id[SHMQ_NAME_MAX + 24];
	int err = 0;

	*npairs = 0;
	*skipped = 0;
	if (msg->ext_bytes)
		err = shmq_msg_fields(msg, &f);
	if (err)
		return err;
	if (f.fields & SHMQ_F_MSG_ID)
		snprintf(id, sizeof(id), "%" PRIu64, f.msg_id);
	else
		snprintf(id, sizeof(id), "%s@%" PRIu64, channel, msg->offset);
	err = pair_str(out, HDR_MSG_ID, id, npairs);
	err = err ? err : pair_str(out, HDR_CHANNEL, channel, npairs);
	err = err ? err : pair_u64(out, HDR_OFFSET, msg->offset, npairs);
	if (!err && msg->timestamp_ns)
		err = pair_u64(out, HDR_TIMESTAMP, msg->timestamp_ns, npairs);
	return err ? err : optional_put(msg, &f, out, npairs, skipped);
}

/* A decimal uint64 with nothing else; false for anything more. */
static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	*out = strtoull(s, &end, 10);
	return *end == 0;
}

static bool key_from_hex(const char *s, struct hdr_in *in)
{
	size_t n = strlen(s);
	unsigned v;

	if (n == 0 || n % 2 || n / 2 > sizeof(in->key))
		return false;
	for (size_t i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return false;
		in->key[i] = (uint8_t)v;
	}
	in->o.key = in->key;
	in->o.key_len = (uint32_t)(n / 2);
	return true;
}

/* One NATS header: a field of its own, a user header, or left out. */
static void hdr_one(const char *name, const char *value, struct hdr_in *in)
{
	struct shmq_msg_opts *o = &in->o;
	size_t len = strlen(value);

	if (!strcasecmp(name, HDR_MSG_ID) && parse_u64(value, &o->msg_id)) {
		o->fields |= SHMQ_F_MSG_ID;
	} else if (!strcasecmp(name, HDR_CORR_ID) && parse_u64(value, &o->corr_id)) {
		o->fields |= SHMQ_F_CORR_ID;
	} else if (!strcasecmp(name, HDR_KEY) && len > 0 && len <= sizeof(in->key)) {
		o->fields |= SHMQ_F_KEY;
		o->key = value;
		o->key_len = (uint32_t)len;
	} else if (!strcasecmp(name, HDR_KEY_HEX) && key_from_hex(value, in)) {
		o->fields |= SHMQ_F_KEY;
	} else if (!strcasecmp(name, HDR_REPLY_TO) && len > 0 && len <= SHMQ_NAME_MAX) {
		o->fields |= SHMQ_F_REPLY_TO;
		o->reply_to = value;
	} else if (!strcasecmp(name, HDR_CONTENT_TYPE) && len > 0 && len <= 255) {
		o->fields |= SHMQ_F_CONTENT_TYPE;
		o->content_type = value;
	} else if (o->nheaders < HDR_USER_MAX && strlen(name) <= 255 && len <= 1024) {
		in->h[o->nheaders++] = (struct shmq_header){.name = name,
							    .name_len = (uint32_t)strlen(name),
							    .value = value,
							    .value_len = (uint32_t)len};
		o->fields |= SHMQ_F_HEADERS;
	} else {
		in->skipped++;
	}
}

void hdr_to_shmq(natsMsg *msg, struct hdr_in *in)
{
	const char **keys = NULL, **values;
	int nkeys = 0, nvalues;

	in->o = (struct shmq_msg_opts){.headers = in->h};
	in->skipped = 0;
	if (natsMsgHeader_Keys(msg, &keys, &nkeys) != NATS_OK)
		return;
	for (int i = 0; i < nkeys; i++) {
		if (natsMsgHeader_Values(msg, keys[i], &values, &nvalues) != NATS_OK)
			continue;
		for (int v = 0; v < nvalues; v++)
			hdr_one(keys[i], values[v], in);
		free((void *)values);
	}
	free((void *)keys);
}
