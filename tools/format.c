/*
 * format.c - how shmq sub prints a message (see format.h). Every printer
 * reads only the caller's verified copy of the message, never the ring;
 * --json objects are built by cli_json.c.
 * Errors writing are left in the FILE and reported by format_message()
 * through ferror().
 */
#include "format.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cli_json.h"
#include "utf8.h"

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

/* CLOCK_REALTIME ns as 2026-11-30T22:41:31.123456789Z, or "-" for 0 (no timestamp). */
const char *format_time(uint64_t ns, char *buf, size_t len)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	char day[32];

	if (!ns || !gmtime_r(&s, &tm)) {
		snprintf(buf, len, "-");
		return buf;
	}
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09" PRIu64 "Z", day, ns % 1000000000u);
	return buf;
}

/* --json: the object of cli_json.c on one line. 0, or -1 with errno (ENOMEM). */
static int put_json(const struct out *out, const struct shmq_msg *m,
		    const struct shmq_msg_fields *mf)
{
	json_t *o = json_from_msg(m, mf);
	const char *line;

	if (o && out->json_channel && out->channel &&
	    json_object_set_new(o, "channel", json_string(out->channel))) {
		json_decref(o);
		o = NULL;
	}
	line = o ? json_line(o) : NULL;

	json_decref(o);
	if (!line) {
		errno = ENOMEM;
		return -1;
	}
	fputs(line, out->f); /* a write error stays in f */
	return 0;
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
	char tbuf[48];

	switch (x) {
	case 'o':
		fprintf(f, "%" PRIu64, m->offset);
		break;
	case 't':
		fprintf(f, "%" PRIu64, m->timestamp_ns);
		break;
	case 'T':
		fputs(format_time(m->timestamp_ns, tbuf, sizeof(tbuf)), f);
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
	case 'n':
		if (o->channel)
			fputs(o->channel, f); /* a channel name: [A-Za-z0-9_.-] only */
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
	static const char placeholders[] = "otTlLskhmcyrn%";

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
		if (put_json(o, m, &mf))
			return -1;
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
