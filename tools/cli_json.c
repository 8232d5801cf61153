/*
 * cli_json.c - the JSON of the shmq command (see cli_json.h), built and
 * parsed with jansson. Bytes that are valid UTF-8 are JSON strings; other
 * bytes are base64 (standard alphabet, padded) and say so: "encoding" for
 * the payload (always present), "<field>_encoding" for the key, content
 * type, reply-to and a header's name and value (present only for base64).
 * An id above 2^63 - 1 is a string of decimal digits, since jansson and
 * most JSON readers keep integers to 64 signed bits.
 */
#include "cli_json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "utf8.h"

static const char b64_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* len bytes as base64, malloc'd and NUL-terminated; NULL when out of memory. */
static char *base64_encode(const unsigned char *p, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		*o++ = b64_abc[v >> 18];
		*o++ = b64_abc[v >> 12 & 63];
		*o++ = b64_abc[v >> 6 & 63];
		*o++ = b64_abc[v & 63];
	}
	if (len - i) {
		uint32_t v = (uint32_t)p[i] << 16 | (len - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);

		*o++ = b64_abc[v >> 18];
		*o++ = b64_abc[v >> 12 & 63];
		*o++ = len - i == 2 ? b64_abc[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = 0;
	return out;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64_abc, c) : NULL;

	return p ? (int)(p - b64_abc) : -1;
}

/*
 * Strict base64 (padded, no spaces) into a malloc'd buffer with a NUL
 * after the bytes. 0, -1 for text that is not base64, -2 out of memory.
 */
static int base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	size_t pad = len && in[len - 1] == '=' ? (len > 1 && in[len - 2] == '=' ? 2 : 1) : 0;
	unsigned char *buf, *o;

	if (len % 4)
		return -1;
	buf = malloc(len / 4 * 3 + 1);
	if (!buf)
		return -2;
	o = buf;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		uint32_t w = 0;

		for (int k = 0; k < 4; k++) {
			v[k] = i + k >= len - pad ? 0 : b64_val(in[i + k]);
			if (v[k] < 0) {
				free(buf);
				return -1;
			}
			w = w << 6 | (uint32_t)v[k];
		}
		*o++ = (unsigned char)(w >> 16);
		*o++ = (unsigned char)(w >> 8);
		*o++ = (unsigned char)w;
	}
	*outlen = (size_t)(o - buf) - pad;
	buf[*outlen] = 0;
	*out = buf;
	return 0;
}

/* ---- writing ------------------------------------------------------------ */

const char *json_line(const json_t *o)
{
	static char *buf;
	static size_t cap;
	size_t n = json_dumpb(o, buf, cap, CLI_JSON_FLAGS);

	if (n + 2 > cap) { /* did not fit: grow, then dump again */
		char *bigger = realloc(buf, n + 2 > 2 * cap ? n + 2 : 2 * cap);

		if (!n || !bigger)
			return NULL;
		buf = bigger;
		cap = n + 2 > 2 * cap ? n + 2 : 2 * cap;
		n = json_dumpb(o, buf, cap, CLI_JSON_FLAGS);
	}
	buf[n] = '\n';
	buf[n + 1] = 0;
	return buf;
}

/* An id or a count: a number up to 2^63 - 1, else a string of its digits. */
static json_t *json_u64(uint64_t v)
{
	char buf[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

/*
 * o[key] = the bytes as text, or as base64 with o[enc_key] = "base64";
 * always says o[enc_key] = "utf8" for text too. 0 or -1 (no memory).
 */
static int set_bytes(json_t *o, const char *key, const char *enc_key, bool always, const void *p,
		     size_t len)
{
	bool text = utf8_valid(p, len);
	char *b64 = NULL;
	json_t *v;
	int err;

	if (text) {
		v = json_stringn(len ? p : "", len);
	} else {
		b64 = base64_encode(p, len);
		v = b64 ? json_string(b64) : NULL;
	}
	free(b64);
	err = json_object_set_new(o, key, v);
	if (!text || always)
		err |= json_object_set_new(o, enc_key, json_string(text ? "utf8" : "base64"));
	return err;
}

static json_t *json_headers(const struct shmq_msg *m, uint32_t n)
{
	json_t *a = json_array(), *h;
	struct shmq_header hd;
	int err = !a;

	for (uint32_t i = 0; !err && i < n; i++) {
		if (shmq_msg_header(m, i, &hd))
			break;
		h = json_object();
		err = !h;
		err = err || set_bytes(h, "name", "name_encoding", false, hd.name, hd.name_len);
		err = err || set_bytes(h, "value", "value_encoding", false, hd.value, hd.value_len);
		err = json_array_append_new(a, h) || err;
	}
	if (err) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static int json_fields(json_t *o, const struct shmq_msg *m, const struct shmq_msg_fields *mf)
{
	int err = 0;

	if (mf->fields & SHMQ_F_MSG_ID)
		err |= json_object_set_new(o, "msg_id", json_u64(mf->msg_id));
	if (mf->fields & SHMQ_F_CORR_ID)
		err |= json_object_set_new(o, "corr_id", json_u64(mf->corr_id));
	if (mf->fields & SHMQ_F_DELIVER_AT)
		err |= json_object_set_new(o, "deliver_at_ns", json_u64(mf->deliver_at_ns));
	if (mf->fields & SHMQ_F_EXPIRY)
		err |= json_object_set_new(o, "expiry_ns", json_u64(mf->expiry_ns));
	if (mf->fields & SHMQ_F_KEY)
		err |= set_bytes(o, "key", "key_encoding", false, mf->key, mf->key_len);
	if (mf->fields & SHMQ_F_CONTENT_TYPE)
		err |= set_bytes(o, "content_type", "content_type_encoding", false,
				 mf->content_type, mf->content_type_len);
	if (mf->fields & SHMQ_F_REPLY_TO)
		err |= set_bytes(o, "reply_to", "reply_to_encoding", false, mf->reply_to,
				 mf->reply_to_len);
	if (mf->fields & SHMQ_F_HEADERS)
		err |= json_object_set_new(o, "headers", json_headers(m, mf->nheaders));
	return err;
}

json_t *json_from_msg(const struct shmq_msg *m, const struct shmq_msg_fields *mf)
{
	json_t *o = json_object();
	char t[48];
	int err = !o;

	format_time(m->timestamp_ns, t, sizeof(t));
	err = err || json_object_set_new(o, "schema", json_string(SUB_JSON_SCHEMA));
	err = err || json_object_set_new(o, "version", json_integer(SUB_JSON_VERSION));
	err = err || json_object_set_new(o, "offset", json_u64(m->offset));
	err = err || json_object_set_new(o, "timestamp_ns", json_u64(m->timestamp_ns));
	err = err || json_object_set_new(o, "time", m->timestamp_ns ? json_string(t) : json_null());
	err = err || json_object_set_new(o, "lost", json_u64(m->lost));
	err = err || json_object_set_new(o, "length", json_integer(m->len));
	err = err || json_fields(o, m, mf);
	err = err || set_bytes(o, "payload", "encoding", true, m->data, m->len);
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- reading ------------------------------------------------------------ */

static int say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

static bool key_in(const char *key, const char *const *keys)
{
	for (; *keys; keys++)
		if (!strcmp(key, *keys))
			return true;
	return false;
}

/* Every key of o is one of keys: 0, or -1 naming the first that is not. */
static int known_keys(const json_t *o, const char *const *keys, const char *where, char *why,
		      size_t wl)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v)
	{
		if (!key_in(key, keys))
			return say(why, wl, "unknown key \"%s\"%s", key, where);
	}
	return 0;
}

/* A number 0..2^64-1 or a string of its digits: 0, -1. */
static int get_u64(const json_t *v, uint64_t *out)
{
	const char *s = json_string_value(v);
	char *end;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!s || *s < '0' || *s > '9' || strlen(s) > 20)
		return -1;
	*out = strtoull(s, &end, 10);
	return *end || (*out == UINT64_MAX && strcmp(s, "18446744073709551615")) ? -1 : 0;
}

/* The field and its bit in shmq_msg_opts, for the ids and times. */
static const struct {
	const char *key;
	uint32_t bit;
	size_t off;
} u64_fields[] = {
    {"msg_id", SHMQ_F_MSG_ID, offsetof(struct shmq_msg_opts, msg_id)},
    {"corr_id", SHMQ_F_CORR_ID, offsetof(struct shmq_msg_opts, corr_id)},
    {"deliver_at_ns", SHMQ_F_DELIVER_AT, offsetof(struct shmq_msg_opts, deliver_at_ns)},
    {"expiry_ns", SHMQ_F_EXPIRY, offsetof(struct shmq_msg_opts, expiry_ns)},
};

static int decode_u64s(const json_t *obj, struct shmq_msg_opts *mo, char *why, size_t wl)
{
	for (size_t i = 0; i < sizeof(u64_fields) / sizeof(u64_fields[0]); i++) {
		const json_t *v = json_object_get(obj, u64_fields[i].key);

		if (!v)
			continue;
		if (get_u64(v, (uint64_t *)((char *)mo + u64_fields[i].off)))
			return say(why, wl,
				   "\"%s\" is not a whole number from 0 to 18446744073709551615 "
				   "(a number, or its digits as a string)",
				   u64_fields[i].key);
		mo->fields |= u64_fields[i].bit;
	}
	return 0;
}

/*
 * The bytes of string o[key], as o[enc_key] says ("utf8", the default, or
 * "base64"); base64 is decoded into m->owned with a NUL after it. 1 if
 * there, 0 if absent, -1 with why.
 */
static int get_bytes(struct json_msg *m, const json_t *o, const char *key, const char *enc_key,
		     const void **p, size_t *len, char *why, size_t wl)
{
	const json_t *v = json_object_get(o, key), *e = json_object_get(o, enc_key);
	const char *enc = e ? json_string_value(e) : "utf8";
	unsigned char *buf;
	int err;

	if (!v)
		return e ? say(why, wl, "\"%s\" without \"%s\"", enc_key, key) : 0;
	if (!json_is_string(v))
		return say(why, wl, "\"%s\" is not a string", key);
	if (!enc || (strcmp(enc, "utf8") && strcmp(enc, "base64")))
		return say(why, wl, "\"%s\" is neither \"utf8\" nor \"base64\"", enc_key);
	if (!strcmp(enc, "utf8")) {
		*p = json_string_value(v);
		*len = json_string_length(v);
		return 1;
	}
	err = base64_decode(json_string_value(v), json_string_length(v), &buf, len);
	if (err)
		return say(why, wl, err == -2 ? "out of memory" : "\"%s\" is not valid base64",
			   key);
	m->owned[m->nowned++] = buf;
	*p = buf;
	return 1;
}

/* A string field the library takes NUL-terminated: content type, reply-to. */
static int get_cstr(struct json_msg *m, const json_t *o, const char *key, const char *enc_key,
		    const char **out, char *why, size_t wl)
{
	const void *p;
	size_t len;
	int have = get_bytes(m, o, key, enc_key, &p, &len, why, wl);

	if (have > 0 && memchr(p, 0, len))
		return say(why, wl, "\"%s\" holds a NUL byte", key);
	if (have > 0)
		*out = p;
	return have;
}

static int decode_header(struct json_msg *m, const json_t *h, uint32_t i, char *why, size_t wl)
{
	static const char *const keys[] = {"name", "value", "name_encoding", "value_encoding",
					   NULL};
	struct shmq_header *hd = &m->headers[i];
	const void *name = NULL, *value = NULL;
	size_t nlen = 0, vlen = 0;
	int have;

	if (!json_is_object(h))
		return say(why, wl, "headers[%u] is not an object", i);
	if (known_keys(h, keys, " in a header", why, wl))
		return -1;
	have = get_bytes(m, h, "name", "name_encoding", &name, &nlen, why, wl);
	if (have == 0)
		return say(why, wl, "headers[%u] has no \"name\"", i);
	if (have < 0 || get_bytes(m, h, "value", "value_encoding", &value, &vlen, why, wl) < 0)
		return -1;
	if (nlen > UINT32_MAX || vlen > UINT32_MAX)
		return say(why, wl, "headers[%u] is too long", i);
	*hd = (struct shmq_header){name, (uint32_t)nlen, value ? value : "", (uint32_t)vlen};
	return 0;
}

static int decode_headers(struct json_msg *m, const json_t *obj, char *why, size_t wl)
{
	const json_t *a = json_object_get(obj, "headers");
	size_t n = json_array_size(a);

	if (!a)
		return 0;
	if (!json_is_array(a))
		return say(why, wl, "\"headers\" is not an array");
	if (n > PUB_HEADERS_MAX)
		return say(why, wl, "%zu headers: at most %d", n, PUB_HEADERS_MAX);
	for (size_t i = 0; i < n; i++)
		if (decode_header(m, json_array_get(a, i), (uint32_t)i, why, wl))
			return -1;
	m->mo.nheaders = (uint32_t)n;
	m->mo.headers = m->headers;
	if (n)
		m->mo.fields |= SHMQ_F_HEADERS;
	return 0;
}

/* "schema" and "version", if given, are ours; "length", if given, matches the payload. */
static int check_meta(const json_t *obj, size_t len, char *why, size_t wl)
{
	const json_t *s = json_object_get(obj, "schema"), *v = json_object_get(obj, "version"),
		     *l = json_object_get(obj, "length");

	if (s && (!json_is_string(s) || strcmp(json_string_value(s), SUB_JSON_SCHEMA)))
		return say(why, wl, "\"schema\" is not \"%s\"", SUB_JSON_SCHEMA);
	if (v && (!json_is_integer(v) || json_integer_value(v) != SUB_JSON_VERSION))
		return say(why, wl, "\"version\" is not %d (this shmq reads version %d)",
			   SUB_JSON_VERSION, SUB_JSON_VERSION);
	if (l && (!json_is_integer(l) || (uint64_t)json_integer_value(l) != len))
		return say(why, wl, "\"length\" is not the payload's %zu bytes", len);
	return 0;
}

static int decode_text_fields(struct json_msg *m, const json_t *obj, char *why, size_t wl)
{
	const void *key;
	size_t klen;
	int have = get_bytes(m, obj, "key", "key_encoding", &key, &klen, why, wl);

	if (have < 0)
		return -1;
	if (have && klen > UINT32_MAX)
		return say(why, wl, "\"key\" is too long");
	if (have) {
		m->mo.key = key;
		m->mo.key_len = (uint32_t)klen;
		m->mo.fields |= SHMQ_F_KEY;
	}
	have =
	    get_cstr(m, obj, "content_type", "content_type_encoding", &m->mo.content_type, why, wl);
	if (have < 0)
		return -1;
	m->mo.fields |= have ? SHMQ_F_CONTENT_TYPE : 0;
	have = get_cstr(m, obj, "reply_to", "reply_to_encoding", &m->mo.reply_to, why, wl);
	if (have < 0)
		return -1;
	m->mo.fields |= have ? SHMQ_F_REPLY_TO : 0;
	return 0;
}

int json_msg_decode(const json_t *obj, struct json_msg *m, char *why, size_t wl)
{
	static const char *const keys[] = {"schema",
					   "version",
					   "offset",
					   "timestamp_ns",
					   "time",
					   "lost",
					   "length",
					   "msg_id",
					   "corr_id",
					   "deliver_at_ns",
					   "expiry_ns",
					   "key",
					   "key_encoding",
					   "content_type",
					   "content_type_encoding",
					   "reply_to",
					   "reply_to_encoding",
					   "headers",
					   "payload",
					   "encoding",
					   NULL};
	int have;

	memset(m, 0, sizeof(*m));
	if (!json_is_object(obj))
		return say(why, wl, "not a JSON object");
	if (known_keys(obj, keys, "", why, wl))
		return -1;
	have = get_bytes(m, obj, "payload", "encoding", &m->payload, &m->len, why, wl);
	if (have == 0)
		return say(why, wl, "no \"payload\"");
	if (have < 0 || check_meta(obj, m->len, why, wl) || decode_u64s(obj, &m->mo, why, wl) ||
	    decode_text_fields(m, obj, why, wl) || decode_headers(m, obj, why, wl))
		return -1;
	return 0;
}

void json_msg_free(struct json_msg *m)
{
	for (unsigned i = 0; i < m->nowned; i++)
		free(m->owned[i]);
	m->nowned = 0;
}

/* ---- channels ----------------------------------------------------------- */

json_t *json_from_channel(const struct shmq_channel_info *ci)
{
	char numa[16];

	if (ci->numa_node == SHMQ_NUMA_NONE)
		snprintf(numa, sizeof(numa), "none");
	else if (ci->numa_node == SHMQ_NUMA_LOCAL)
		snprintf(numa, sizeof(numa), "local");
	else
		snprintf(numa, sizeof(numa), "%" PRId32, ci->numa_node - 1);
	return json_pack("{s:s, s:s, s:o, s:i, s:i, s:s, s:i, s:s, s:o, s:b, s:o, s:o}", "name",
			 ci->name, "policy", ci->policy ? "block" : "drop", "capacity_bytes",
			 json_u64(ci->capacity_bytes), "max_message_bytes",
			 (int)ci->max_message_bytes, "readers", (int)ci->readers, "publishers",
			 ci->publishers == SHMQ_PUBLISHERS_ONE ? "one" : "many", "publishers_open",
			 (int)ci->publishers_open, "numa", numa, "pages_node",
			 ci->numa_pages_node >= 0 ? json_integer(ci->numa_pages_node) : json_null(),
			 "timestamps", !(ci->flags & SHMQ_CHAN_NO_TIMESTAMP), "oldest",
			 json_u64(ci->oldest), "tail", json_u64(ci->tail));
}

/* Print o as one line and drop it: 0, or -1 (o NULL: no memory; a write error). */
static int print_line(FILE *f, json_t *o)
{
	const char *line = o ? json_line(o) : NULL;
	int err = !line || fputs(line, f) == EOF;

	json_decref(o);
	return err ? -1 : 0;
}

int json_print_ls(FILE *f, const struct shmq_channel_info *rows, int n)
{
	json_t *a = json_array();
	int err = !a;

	for (int i = 0; !err && i < n; i++)
		err = json_array_append_new(a, json_from_channel(&rows[i]));
	if (err) {
		json_decref(a);
		return -1;
	}
	return print_line(f, json_pack("{s:s, s:i, s:o}", "schema", LS_JSON_SCHEMA, "version",
				       CHAN_JSON_VERSION, "channels", a));
}

int json_print_info(FILE *f, const struct shmq_channel_info *ci)
{
	json_t *o = json_pack("{s:s, s:i}", "schema", INFO_JSON_SCHEMA, "version",
			      CHAN_JSON_VERSION),
	       *c = json_from_channel(ci);
	int err = !o || !c || json_object_update(o, c);

	json_decref(c);
	if (err) {
		json_decref(o);
		return -1;
	}
	return print_line(f, o);
}
