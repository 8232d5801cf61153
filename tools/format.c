/*
 * format.c - how shmq sub prints a message (see format.h). Every printer
 * reads only the caller's verified copy of the message, never the ring.
 * Errors writing are left in the FILE and reported by format_message()
 * through ferror().
 */
#include "format.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

/* Length of the UTF-8 sequence at p (1..4), or 0 if it is not a valid one. */
static size_t utf8_seq(const unsigned char *p, size_t len)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool utf8_valid(const unsigned char *p, size_t len)
{
	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_seq(p + i, len - i);
		if (!n)
			return false;
	}
	return true;
}

/* Bytes as they are, or (escape) with control bytes and invalid UTF-8 made visible. */
static void put_bytes(FILE *f, const void *data, size_t len, bool escape)
{
	const unsigned char *p = data;
	size_t i = 0, n;

	if (!len) /* data may be NULL: a field the message lacks */
		return;
	if (!escape) {
		fwrite(data, 1, len, f);
		return;
	}
	for (; i < len; i += n) {
		n = utf8_seq(p + i, len - i);
		if (n > 1 || (n == 1 && p[i] >= 0x20 && p[i] != 0x7f && p[i] != '\\')) {
			fwrite(p + i, 1, n, f);
			continue;
		}
		n = 1;
		if (p[i] == '\\')
			fputs("\\\\", f);
		else if (p[i] == '\n')
			fputs("\\n", f);
		else if (p[i] == '\r')
			fputs("\\r", f);
		else if (p[i] == '\t')
			fputs("\\t", f);
		else
			fprintf(f, "\\x%02x", p[i]);
	}
}

/* A JSON string of valid UTF-8 bytes, quoted. */
static void json_string(FILE *f, const void *data, size_t len)
{
	const unsigned char *p = data;

	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i]);
		else if (p[i] == '\n')
			fputs("\\n", f);
		else if (p[i] == '\t')
			fputs("\\t", f);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			fprintf(f, "\\u%04x", p[i]);
		else
			fputc(p[i], f);
	}
	fputc('"', f);
}

static void base64(FILE *f, const void *data, size_t len)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t i;

	fputc('"', f);
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		fprintf(f, "%c%c%c%c", abc[v >> 18], abc[v >> 12 & 63], abc[v >> 6 & 63],
			abc[v & 63]);
	}
	if (len - i == 1)
		fprintf(f, "%c%c==", abc[p[i] >> 2], abc[(p[i] & 3) << 4]);
	else if (len - i == 2)
		fprintf(f, "%c%c%c=", abc[p[i] >> 2], abc[(p[i] & 3) << 4 | p[i + 1] >> 4],
			abc[(p[i + 1] & 15) << 2]);
	fputc('"', f);
}

/* sep"name":"text" for valid UTF-8, else sep"name_base64":"..." */
static void json_member(FILE *f, const char *sep, const char *name, const void *data, size_t len)
{
	bool text = utf8_valid(data, len);

	fprintf(f, "%s\"%s%s\":", sep, name, text ? "" : "_base64");
	if (text)
		json_string(f, data, len);
	else
		base64(f, data, len);
}

static void json_bytes(FILE *f, const char *name, const void *data, size_t len)
{
	json_member(f, ",", name, data, len);
}

/* CLOCK_REALTIME ns as 2026-11-30T22:41:31.123456789Z, or "-" for 0 (no timestamp). */
static void put_time(FILE *f, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	char buf[32];

	if (!ns || !gmtime_r(&s, &tm)) {
		fputc('-', f);
		return;
	}
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "%s.%09" PRIu64 "Z", buf, ns % 1000000000u);
}

static void json_headers(FILE *f, const struct shmq_msg *m, uint32_t n)
{
	struct shmq_header h;

	fputs(",\"headers\":[", f);
	for (uint32_t i = 0; i < n; i++) {
		if (shmq_msg_header(m, i, &h))
			break;
		fputs(i ? ",{" : "{", f);
		json_member(f, "", "name", h.name, h.name_len);
		json_bytes(f, "value", h.value, h.value_len);
		fputc('}', f);
	}
	fputc(']', f);
}

static void json_fields(FILE *f, const struct shmq_msg *m, const struct shmq_msg_fields *mf)
{
	if (mf->fields & SHMQ_F_MSG_ID)
		fprintf(f, ",\"msg_id\":%" PRIu64, mf->msg_id);
	if (mf->fields & SHMQ_F_CORR_ID)
		fprintf(f, ",\"corr_id\":%" PRIu64, mf->corr_id);
	if (mf->fields & SHMQ_F_DELIVER_AT)
		fprintf(f, ",\"deliver_at_ns\":%" PRIu64, mf->deliver_at_ns);
	if (mf->fields & SHMQ_F_EXPIRY)
		fprintf(f, ",\"expiry_ns\":%" PRIu64, mf->expiry_ns);
	if (mf->fields & SHMQ_F_KEY)
		json_bytes(f, "key", mf->key, mf->key_len);
	if (mf->fields & SHMQ_F_CONTENT_TYPE)
		json_bytes(f, "content_type", mf->content_type, mf->content_type_len);
	if (mf->fields & SHMQ_F_REPLY_TO)
		json_bytes(f, "reply_to", mf->reply_to, mf->reply_to_len);
	if (mf->fields & SHMQ_F_HEADERS)
		json_headers(f, m, mf->nheaders);
}

static void put_json(FILE *f, const struct shmq_msg *m, const struct shmq_msg_fields *mf)
{
	fprintf(f, "{\"offset\":%" PRIu64 ",\"timestamp_ns\":%" PRIu64 ",\"time\":", m->offset,
		m->timestamp_ns);
	if (m->timestamp_ns) { /* else null: a channel without timestamps */
		fputc('"', f);
		put_time(f, m->timestamp_ns);
		fputc('"', f);
	} else {
		fputs("null", f);
	}
	fprintf(f, ",\"lost\":%" PRIu64 ",\"length\":%" PRIu32, m->lost, m->len);
	json_fields(f, m, mf);
	json_bytes(f, "payload", m->data, m->len);
	fputs("}\n", f);
}

/* %h: name=value,name=value */
static void put_headers(const struct out *o, const struct shmq_msg *m, uint32_t n)
{
	struct shmq_header h;

	for (uint32_t i = 0; i < n && !shmq_msg_header(m, i, &h); i++) {
		if (i)
			fputc(',', o->f);
		put_bytes(o->f, h.name, h.name_len, o->escape);
		fputc('=', o->f);
		put_bytes(o->f, h.value, h.value_len, o->escape);
	}
}

/* One %x placeholder; 0, or -1 if x is none. */
static int put_placeholder(const struct out *o, char x, const struct shmq_msg *m,
			   const struct shmq_msg_fields *mf)
{
	FILE *f = o->f;

	switch (x) {
	case 'o':
		fprintf(f, "%" PRIu64, m->offset);
		break;
	case 't':
		fprintf(f, "%" PRIu64, m->timestamp_ns);
		break;
	case 'T':
		put_time(f, m->timestamp_ns);
		break;
	case 'l':
		fprintf(f, "%" PRIu32, m->len);
		break;
	case 'L':
		fprintf(f, "%" PRIu64, m->lost);
		break;
	case 's':
		put_bytes(f, m->data, m->len, o->escape);
		break;
	case 'k':
		put_bytes(f, mf->key, mf->key_len, o->escape);
		break;
	case 'h':
		put_headers(o, m, mf->nheaders);
		break;
	case 'm':
		if (mf->fields & SHMQ_F_MSG_ID)
			fprintf(f, "%" PRIu64, mf->msg_id);
		break;
	case 'c':
		if (mf->fields & SHMQ_F_CORR_ID)
			fprintf(f, "%" PRIu64, mf->corr_id);
		break;
	case 'y':
		put_bytes(f, mf->content_type, mf->content_type_len, o->escape);
		break;
	case 'r':
		put_bytes(f, mf->reply_to, mf->reply_to_len, o->escape);
		break;
	case '%':
		fputc('%', f);
		break;
	default:
		return -1;
	}
	return 0;
}

/* The character \x stands for in a template, or -1. */
static int escape_char(char x)
{
	switch (x) {
	case 'n':
		return '\n';
	case 't':
		return '\t';
	case 'r':
		return '\r';
	case '0':
		return 0;
	case '\\':
		return '\\';
	default:
		return -1;
	}
}

/* Print the template; with f NULL only check it. 0, or -1 and *bad. */
static int put_format(const struct out *o, const char *fmt, const struct shmq_msg *m,
		      const struct shmq_msg_fields *mf, const char **bad)
{
	static const char placeholders[] = "otTlLskhmcyr%";

	for (const char *p = fmt; *p; p++) {
		int c = *p;

		if ((*p == '%' || *p == '\\') && !p[1])
			return *bad = p, -1;
		if (*p == '\\')
			c = escape_char(*++p);
		if (c < 0 || (*p == '%' && !strchr(placeholders, p[1])))
			return *bad = p, -1;
		if (o && *p == '%')
			put_placeholder(o, *++p, m, mf);
		else if (o)
			fputc(c, o->f);
		else if (*p == '%')
			p++;
	}
	return 0;
}

int format_check(const char *fmt, const char **bad)
{
	return put_format(NULL, fmt, NULL, NULL, bad);
}

static void put_frame(FILE *f, const struct shmq_msg *m)
{
	unsigned char hdr[FRAME_HDR_BYTES] = {m->len >> 24, m->len >> 16 & 0xff, m->len >> 8 & 0xff,
					      m->len & 0xff};

	fwrite(hdr, 1, sizeof(hdr), f);
	fwrite(m->data, 1, m->len, f);
}

int format_message(const struct out *o, const struct shmq_msg *m)
{
	struct shmq_msg_fields mf;
	const char *bad;

	if (shmq_msg_fields(m, &mf))
		return -1;
	switch (o->mode) {
	case OUT_PLAIN:
		put_bytes(o->f, m->data, m->len, o->escape);
		fputc('\n', o->f);
		break;
	case OUT_FORMAT:
		put_format(o, o->format, m, &mf, &bad);
		break;
	case OUT_JSON:
		put_json(o->f, m, &mf);
		break;
	case OUT_RAW:
		fwrite(m->data, 1, m->len, o->f);
		break;
	case OUT_LENGTH:
		put_frame(o->f, m);
		break;
	}
	return ferror(o->f) ? -1 : 0;
}
