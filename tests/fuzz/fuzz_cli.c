/*
 * fuzz_cli.c - libFuzzer target: the shmq command's input framings and
 * output templates. tools/pub.c is compiled into this file as it is, its
 * two calls into a publisher handle (shmq_pub_max_message(),
 * shmq_publish_opts()) renamed to this file's, which record each message
 * instead of publishing it; its readers of stdin (lines, -0 records,
 * --length-prefixed frames) then read the input. The records must give the
 * input back: joined by their delimiter, or framed again by
 * format_message() (tools/format.c) in OUT_LENGTH mode. --format templates
 * go through format_check() and format_message() with a message whose
 * header fields are ext_write()'s encoding of fields taken from the input,
 * or the input's raw bytes.
 *
 * Input: [mode u8][max u16 LE] then, modes 0-2, the standard input of pub
 * (0 lines, 1 -0, 2 -L, max: the channel's message limit); mode 3, a
 * template up to a NUL, then a payload (mode byte bit 2: fields encoded by
 * ext_write(); bit 3: the rest as raw header-field bytes).
 */
#define shmq_pub_max_message fuzz_pub_max_message
#define shmq_publish_opts fuzz_publish_opts
#include "../../tools/pub.c"
#undef shmq_pub_max_message
#undef shmq_publish_opts

#include "ext.h"
#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 4096

static struct {
	uint32_t max;
	unsigned n;
	uint8_t *bytes; /* the payloads, one after another */
	size_t len;
	uint32_t lens[MAX_RECORDS];
} rec;

uint32_t fuzz_pub_max_message(const struct shmq_pub *p)
{
	(void)p;
	return rec.max;
}

int fuzz_publish_opts(struct shmq_pub *p, const void *data, uint32_t len,
		      const struct shmq_msg_opts *opts, int64_t timeout_ns, uint64_t *offset)
{
	(void)p;
	(void)opts;
	(void)timeout_ns;
	(void)offset;
	if (len > rec.max || rec.n == MAX_RECORDS)
		return -SHMQ_ETOOBIG;
	memcpy(rec.bytes + rec.len, data, len);
	rec.len += len;
	rec.lens[rec.n++] = len;
	return 0;
}

/* cmd_pub()'s helpers from tools/shmq.c: not reached by this harness. */
int cli_fail(const char *what, const char *name, int err, const struct opts *o)
{
	(void)what, (void)name, (void)err, (void)o;
	abort();
}

int cli_check_settings(struct shmq_client *c, const char *what, const char *name,
		       const struct opts *o)
{
	(void)c, (void)what, (void)name, (void)o;
	abort();
}

/* Lines or -0 records joined by delim give the input (a last delimiter is optional). */
static void check_delimited(const uint8_t *in, size_t size, int delim, int err)
{
	size_t at = 0, off = 0;

	if (err)
		return; /* a record above the limit stopped the run: no round trip */
	for (unsigned i = 0; i < rec.n; i++) {
		if (at + rec.lens[i] > size || memcmp(in + at, rec.bytes + off, rec.lens[i]))
			abort();
		at += rec.lens[i];
		off += rec.lens[i];
		if (at < size && in[at] != delim)
			abort();
		at++;
	}
	if (at < size)
		abort(); /* input left unread */
}

/* Frames written again by format_message() give the input back. */
static void check_frames(const uint8_t *in, size_t size, int err)
{
	char *buf = NULL;
	size_t len = 0, off = 0;
	FILE *f = open_memstream(&buf, &len);
	struct out o = {.f = f, .mode = OUT_LENGTH};

	for (unsigned i = 0; i < rec.n; i++) {
		struct shmq_msg m = {.data = rec.bytes + off, .len = rec.lens[i]};

		off += rec.lens[i];
		if (format_message(&o, &m))
			abort();
	}
	fclose(f);
	if (len > size || memcmp(buf, in, len) || (!err && len != size))
		abort();
	free(buf);
}

static void run_pub(unsigned mode, const uint8_t *in, size_t size)
{
	struct opts o = {.in = mode == 1 ? IN_NUL : mode == 2 ? IN_LENGTH : IN_LINES};
	struct pub_run r = {.p = (struct shmq_pub *)&rec, .o = &o};
	FILE *saved = stdin;
	int err;

	rec.n = 0;
	rec.len = 0;
	rec.bytes = malloc(size + 1);
	stdin = fmemopen((void *)in, size, "r");
	if (!rec.bytes || !stdin)
		abort();
	err = pub_input(&r, NULL, 0);
	fclose(stdin);
	stdin = saved;
	if (mode == 2)
		check_frames(in, size, err);
	else
		check_delimited(in, size, mode == 1 ? 0 : '\n', err);
	free(rec.bytes);
}

/* Header fields encoded as a publisher would, from the bytes at p. */
static uint32_t fields_encode(const uint8_t *p, size_t n, uint8_t *out)
{
	struct ext_kv kv[2] = {{"h", 1, p, n > 3 ? 3 : (uint32_t)n}, {"k2", 2, "", 0}};
	struct ext_in e = {.present = EXT_MSG_ID | EXT_CORR_ID | EXT_HEADERS,
			   .msg_id = 42,
			   .corr_id = 7,
			   .headers = kv,
			   .nheaders = 2};
	uint32_t bytes = 0;

	if (n) {
		e.present |= EXT_KEY | EXT_CONTENT_TYPE;
		e.key = p;
		e.key_len = n > 16 ? 16 : (uint32_t)n;
		e.content_type = (const char *)p;
		e.content_type_len = n > 8 ? 8 : (uint32_t)n;
	}
	if (ext_size(&e, &bytes))
		abort();
	ext_write(out, &e, bytes);
	return bytes;
}

static void run_format(unsigned mode, const uint8_t *in, size_t size)
{
	const uint8_t *nul = memchr(in, 0, size);
	size_t tlen = nul ? (size_t)(nul - in) : size;
	char *tmpl = strndup((const char *)in, tlen);
	const uint8_t *rest = nul ? nul + 1 : in + size;
	size_t nrest = size - (size_t)(rest - in);
	uint8_t *ext = calloc(1, EXT_MAX_BYTES + nrest);
	struct shmq_msg m = {.data = rest, .len = (uint32_t)nrest, .offset = 1, .timestamp_ns = 2};
	struct out o = {.f = fopen("/dev/null", "w"), .mode = OUT_FORMAT, .format = tmpl};
	const char *bad;

	if (!tmpl || !ext || !o.f)
		abort();
	if (mode & 8) {
		memcpy(ext, rest, nrest);
		m.ext = ext;
		m.ext_bytes = (uint32_t)nrest;
	} else if (mode & 4) {
		m.ext = ext;
		m.ext_bytes = fields_encode(rest, nrest, ext);
	}
	o.escape = mode & 16;
	if (format_check(tmpl, &bad) == 0) {
		format_message(&o, &m);
		o.mode = OUT_JSON;
		format_message(&o, &m);
	} else if (bad < tmpl || bad >= tmpl + tlen) {
		abort(); /* the bad placeholder is in the template */
	}
	fclose(o.f);
	free(ext);
	free(tmpl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *quiet;
	unsigned mode;

	if (size < 3)
		return 0;
	if (!quiet) /* pub.c's messages; sanitizer reports still reach descriptor 2 */
		stderr = quiet = fopen("/dev/null", "w");
	mode = data[0];
	rec.max = ((uint32_t)data[1] | (uint32_t)data[2] << 8) % 4097;
	if ((mode & 3) == 3)
		run_format(mode, data + 3, size - 3);
	else if (size > 3)
		run_pub(mode & 3, data + 3, size - 3);
	return 0;
}
