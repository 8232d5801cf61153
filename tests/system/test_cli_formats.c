/*
 * test_cli_formats.c - the shmq command as a user meets it, against a real
 * shmqd: channels are only created when asked; settings that differ from
 * an existing channel's are refused by name (in the tool and in shmqd);
 * exit codes for timeouts (3) and -e (0); every size edge; sub's output
 * formats (--format, --json parsed by python3, --raw, --length-prefixed)
 * and pub's inputs round-tripping arbitrary bytes; and, on a
 * pseudo-terminal (term.c), output per message, escaping, and clean ends
 * on SIGINT, SIGTERM and a closed pipe.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "term.h"

/* Run shmq --socket SOCK args...; the result must be freed. */
#define SHMQ(r, d, input, ...) tool_run((r), (input), TOOL_ARGS("--socket", (d)->sock, __VA_ARGS__))

static void expect(struct tool_result *r, int status, const char *out)
{
	if (r->status != status || (out && strcmp(r->out, out)))
		print_error("status %d, stdout:\n%s\nstderr:\n%s\n", r->status, r->out, r->err);
	assert_int_equal(r->status, status);
	if (out)
		assert_string_equal(r->out, out);
}

/* Run a command that must succeed and print out (NULL: anything). */
#define OK(d, out, ...)                                                                            \
	do {                                                                                       \
		struct tool_result r_;                                                             \
		SHMQ(&r_, d, NULL, __VA_ARGS__);                                                   \
		expect(&r_, 0, out);                                                               \
		tool_result_free(&r_);                                                             \
	} while (0)

/* Run a command that must exit with status and say text on stderr. */
#define FAILS(d, status, text, ...)                                                                \
	do {                                                                                       \
		struct tool_result r_;                                                             \
		SHMQ(&r_, d, NULL, __VA_ARGS__);                                                   \
		expect(&r_, status, "");                                                           \
		if (!strstr(r_.err, text))                                                         \
			fail_msg("stderr \"%s\" does not say \"%s\"", r_.err, text);               \
		tool_result_free(&r_);                                                             \
	} while (0)

static bool channel_exists(struct daemon *d, const char *name)
{
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_info ci;
	int err = shmq_channel_info(c, name, &ci);

	shmq_disconnect(c);
	assert_true(err == 0 || err == -SHMQ_ENOENT);
	return err == 0;
}

static uint64_t channel_tail(struct daemon *d, const char *name)
{
	struct shmq_client *c = fx_connect(d);
	struct shmq_channel_info ci;

	assert_int_equal(shmq_channel_info(c, name, &ci), 0);
	shmq_disconnect(c);
	return ci.tail;
}

/* Spawn shmq with argv, write len bytes of binary input, collect the result. */
static void run_binary(struct daemon *d, const void *in, size_t len, struct tool_result *r,
		       const char *const argv[])
{
	const char *args[32] = {"--socket", d->sock};
	struct tool_proc p;
	size_t n = 2, off = 0;

	while (argv[n - 2] && n < 31) {
		args[n] = argv[n - 2];
		n++;
	}
	args[n] = NULL;
	assert_int_equal(tool_spawn(&p, args), 0);
	while (off < len) {
		ssize_t w = write(p.in_fd, (const char *)in + off, len - off);

		assert_true(w > 0);
		off += (size_t)w;
	}
	close(p.in_fd);
	p.in_fd = -1;
	tool_finish(&p, NULL, r);
}

/* ---- creation and settings ---- */

static void test_a_typo_creates_nothing(void **state)
{
	struct daemon *d = *state;

	FAILS(d, 1, "SHMQ_ENOENT", "sub", "nosuch.typo", "--timeout", "0.2");
	FAILS(d, 1, "SHMQ_ENOENT", "pub", "nosuch.typo", "hello");
	FAILS(d, 1, "SHMQ_ENOENT", "sub", "nosuch.typo", "--policy", "block", "-e");
	assert_false(channel_exists(d, "nosuch.typo"));
	OK(d, "", "ls");
	/* asked for, it is created, with the settings given */
	OK(d, "", "pub", "made", "--create", "--max-message", "100", "x");
	OK(d, "x\n", "sub", "made", "-e");
	OK(d, "", "sub", "made.too", "--create", "-e", "--policy", "block");
	OK(d, NULL, "info", "made");
	{
		struct tool_result r;

		SHMQ(&r, d, NULL, "ls");
		expect(&r, 0, NULL);
		assert_non_null(strstr(r.out, "max_message=100 "));
		assert_non_null(strstr(r.out, "made.too"));
		assert_non_null(strstr(r.out, "block"));
		tool_result_free(&r);
	}
}

static void test_settings_that_differ_are_named_with_both_values(void **state)
{
	struct daemon *d = *state;

	OK(d, "", "create", "orders", "--capacity", "64K", "--max-message", "1K", "--policy",
	   "drop");
	FAILS(d, 1, "policy drop, not block as asked (SHMQ_EMISMATCH)", "pub", "orders", "--policy",
	      "block", "--max-message", "16", "longer than sixteen bytes");
	FAILS(d, 1, "max-message 1 KiB, not 16 bytes as asked (SHMQ_EMISMATCH)", "pub", "orders",
	      "--max-message", "16", "x");
	FAILS(d, 1, "capacity 64 KiB, not 4 MiB as asked", "sub", "orders", "--capacity", "4M",
	      "-e");
	FAILS(d, 1, "publishers many, not one as asked", "pub", "orders", "--publishers", "one",
	      "x");
	FAILS(d, 1, "timestamps on, not off as asked", "sub", "orders", "--no-timestamps", "-e");
	FAILS(d, 1, "SHMQ_EMISMATCH", "pub", "orders", "--create", "--policy", "block", "x");
	assert_int_equal(channel_tail(d, "orders"), 0); /* nothing was published */
	/* the same settings, as written or as rounded, are fine */
	OK(d, "", "pub", "orders", "--policy", "drop", "--capacity", "64K", "--max-message", "1K",
	   "a");
	OK(d, "", "pub", "orders", "--capacity", "40000", "--create", "b");
	OK(d, "a\nb\n", "sub", "orders", "--capacity", "65536", "--publishers", "many", "-e");
}

/* shmqd itself: OP_OPEN with create refuses an existing channel's other settings. */
static void test_open_with_create_and_other_settings_is_emismatch(void **state)
{
	struct shmq_client *c = fx_connect(*state);
	struct shmq_channel_opts co = {.max_message_bytes = 128, .capacity_bytes = 64 << 10};
	struct shmq_pub_opts po = {.create = 1, .channel = co};
	struct shmq_sub_opts so = {.create = 1, .channel = co};
	struct shmq_pub *p;
	struct shmq_sub *s;

	assert_int_equal(shmq_channel_create(c, "m", &co), 0);
	assert_int_equal(shmq_pub_open(c, "m", &po, &p), 0);
	shmq_pub_close(p);
	assert_int_equal(shmq_sub_open(c, "m", &so, &s), 0);
	shmq_sub_close(s);
	po.channel.max_message_bytes = 256;
	assert_int_equal(shmq_pub_open(c, "m", &po, &p), -SHMQ_EMISMATCH);
	po.channel = co;
	po.channel.policy = SHMQ_POLICY_BLOCK;
	assert_int_equal(shmq_pub_open(c, "m", &po, &p), -SHMQ_EMISMATCH);
	po.channel = co;
	po.channel.publishers = SHMQ_PUBLISHERS_ONE;
	assert_int_equal(shmq_pub_open(c, "m", &po, &p), -SHMQ_EMISMATCH);
	so.channel.capacity_bytes = 1 << 20;
	assert_int_equal(shmq_sub_open(c, "m", &so, &s), -SHMQ_EMISMATCH);
	so.channel.capacity_bytes = 40000; /* rounds to the same ring */
	assert_int_equal(shmq_sub_open(c, "m", &so, &s), 0);
	shmq_sub_close(s);
	so.channel.flags = SHMQ_CHAN_NO_TIMESTAMP;
	assert_int_equal(shmq_sub_open(c, "m", &so, &s), -SHMQ_EMISMATCH);
	/* without create, settings are not compared */
	so.create = 0;
	assert_int_equal(shmq_sub_open(c, "m", &so, &s), 0);
	shmq_sub_close(s);
	shmq_disconnect(c);
}

/* ---- exit codes ---- */

static void test_timeout_exits_3_and_exit_at_end_exits_0(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;
	struct tool_proc sub;

	OK(d, "", "create", "t");
	SHMQ(&r, d, NULL, "sub", "t", "--timeout", "0.2");
	expect(&r, 3, "");
	tool_result_free(&r);
	OK(d, "", "sub", "t", "-e");
	OK(d, "", "pub", "t", "1", "2", "3");
	OK(d, "1\n2\n3\n", "sub", "t", "--exit-at-end");
	OK(d, "2\n3\n", "sub", "t", "-e", "--from", "1");
	OK(d, "", "sub", "t", "-e", "--from", "latest");
	/* -e with --timeout: whichever comes first; here the end */
	OK(d, "1\n2\n3\n", "sub", "t", "-e", "--timeout", "30");
	/* --wait-channel: a channel that never comes is a timeout, named */
	FAILS(d, 3, "SHMQ_ENOENT", "sub", "later", "--wait-channel", "--timeout", "0.3");
	/* and one that comes is read */
	assert_int_equal(tool_spawn(&sub, TOOL_ARGS("--socket", d->sock, "sub", "later", "-w",
						    "--count", "1", "--timeout", "30")),
			 0);
	fx_nap_ms(100);
	OK(d, "", "pub", "later", "--create", "hello");
	tool_finish(&sub, NULL, &r);
	expect(&r, 0, "hello\n");
	tool_result_free(&r);
}

/* ---- sizes ---- */

static void test_every_size_edge(void **state)
{
	static const struct {
		const char *opt, *arg;
		int status;
		const char *says; /* on stderr (status 2) or in info (status 0) */
	} cases[] = {
	    {"--capacity", "1", 2, "--capacity 1: 1 byte is below the minimum of 4 KiB"},
	    {"--capacity", "4095", 2, "4095 bytes is below the minimum of 4 KiB"},
	    {"--capacity", "0", 2, "below the minimum of 4 KiB"},
	    {"--capacity", "4K", 0, "ring=65536 "}, /* 4 records of 4 KiB messages */
	    {"--capacity", "4MB", 0, "ring=4194304 "},
	    {"--capacity", "4MiB", 0, "ring=4194304 "},
	    {"--capacity", "4m", 0, "ring=4194304 "},
	    {"--capacity", "5000000", 0, "ring=8388608 "},
	    {"--capacity", "2T", 2, "--capacity 2T: 2 TiB is above the limit of 1 TiB"},
	    {"--capacity", "1025G", 2, "1025 GiB is above the limit of 1 TiB"},
	    {"--capacity", "17179869184G", 2, "--capacity 17179869184G: too large"},
	    {"--capacity", "18446744073709551616", 2, "does not fit in 64 bits"},
	    {"--capacity", "-1", 2, "not a size"},
	    {"--capacity", "4X", 2, "not a size"},
	    {"--capacity", "4 M", 2, "not a size"},
	    {"--capacity", "1.5M", 2, "not a size"},
	    {"--capacity", "", 2, "not a size"},
	    {"--max-message", "17M", 2, "--max-message 17M: 17 MiB is above the limit of 16 MiB"},
	    {"--max-message", "16777217", 2, "16777217 bytes is above the limit of 16 MiB"},
	    {"--max-message", "0", 2, "0 bytes is below the minimum of 1 byte"},
	    {"--max-message", "1", 0, "max_message=1 "},
	    {"--max-message", "1KiB", 0, "max_message=1024 "},
	    {"--max-message", "16M", 0, "max_message=16777216 "},
	};
	struct daemon *d = *state;
	struct tool_result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		SHMQ(&r, d, NULL, "create", "sized", cases[i].opt, cases[i].arg);
		if (r.status != cases[i].status)
			fail_msg("%s %s: status %d, stderr %s", cases[i].opt, cases[i].arg,
				 r.status, r.err);
		if (cases[i].status && !strstr(r.err, cases[i].says))
			fail_msg("%s %s: stderr \"%s\" does not say \"%s\"", cases[i].opt,
				 cases[i].arg, r.err, cases[i].says);
		tool_result_free(&r);
		if (cases[i].status) {
			assert_false(channel_exists(d, "sized"));
			continue;
		}
		SHMQ(&r, d, NULL, "info", "sized");
		expect(&r, 0, NULL);
		if (!strstr(r.out, cases[i].says))
			fail_msg("%s %s: info \"%s\" lacks \"%s\"", cases[i].opt, cases[i].arg,
				 r.out, cases[i].says);
		tool_result_free(&r);
		OK(d, "", "rm", "sized");
	}
}

/* ---- output formats and inputs ---- */

static void test_format_prints_each_placeholder(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;
	char want[256];
	uint64_t ts;

	OK(d, "", "create", "f");
	OK(d, "", "pub", "f", "--key", "k1", "--header", "a=1", "-H", "b=x=y", "--msg-id", "41",
	   "--corr-id", "9", "--content-type", "text/plain", "--reply-to", "f.replies", "one",
	   "two");
	OK(d, "", "pub", "f", "bare");
	OK(d,
	   "0|3|one|k1|a=1,b=x=y|41|9|text/plain|f.replies|0|100%\t.\n"
	   "1|3|two|k1|a=1,b=x=y|42|9|text/plain|f.replies|0|100%\t.\n"
	   "2|4|bare|||||||0|100%\t.\n",
	   "sub", "f", "-e", "--format", "%o|%l|%s|%k|%h|%m|%c|%y|%r|%L|100%%\\t.\\n");
	/* %t is the publish time in ns, %T the same in ISO 8601 UTC */
	SHMQ(&r, d, NULL, "sub", "f", "-e", "--count", "1", "--format", "%t %T\\n");
	expect(&r, 0, NULL);
	ts = strtoull(r.out, NULL, 10);
	assert_true(ts > 1600000000ull * 1000000000ull);
	snprintf(want, sizeof(want), ".%09lluZ\n", (unsigned long long)(ts % 1000000000u));
	assert_non_null(strstr(r.out, want));
	assert_non_null(strstr(r.out, "T"));
	tool_result_free(&r);
	/* a channel without timestamps: 0, "-" and null */
	OK(d, "", "create", "nots", "--no-timestamps");
	OK(d, "", "pub", "nots", "x");
	OK(d, "0 -\n", "sub", "nots", "-e", "--format", "%t %T\\n");
	OK(d,
	   "{\"schema\":\"shmq-sub\",\"version\":2,\"offset\":0,\"timestamp_ns\":0,\"time\":"
	   "null,\"lost\":0,\"length\":1,\"payload\":\"x\",\"encoding\":\"utf8\"}\n",
	   "sub", "nots", "-e", "--json");
	FAILS(d, 2, "unknown placeholder", "sub", "f", "--format", "%q");
	FAILS(d, 2, "unknown placeholder", "sub", "f", "--format", "trailing %");
	FAILS(d, 2, "does not apply to pub", "pub", "f", "--raw", "x");
	FAILS(d, 2, "does not go with MESSAGE arguments", "pub", "f", "--json", "x");
	FAILS(d, 2, "--json and --length-prefixed conflict", "pub", "f", "--json", "-L");
	FAILS(d, 2, "does not go with header options", "pub", "f", "--json", "--key", "k");
	FAILS(d, 2, "does not apply to sub", "sub", "f", "--msg-id", "1");
}

static void test_pub_inputs_count_and_rate(void **state)
{
	struct daemon *d = *state;
	char path[200];
	FILE *f;

	OK(d, "", "create", "in");
	/* NUL-delimited records may hold newlines; the last needs no NUL */
	{
		struct tool_result r;

		run_binary(d, "a\nb\0c\0last", 11, &r, TOOL_ARGS("pub", "in", "-0"));
		expect(&r, 0, "");
		tool_result_free(&r);
	}
	OK(d, "0 3 a\nb\n1 1 c\n2 4 last\n", "sub", "in", "-e", "--format", "%o %l %s\\n");
	/* arguments are repeated in turn up to --count; --rate paces them */
	OK(d, "", "pub", "in", "--count", "5", "--rate", "200", "x", "y");
	OK(d, "x\ny\nx\ny\nx\n", "sub", "in", "-e", "--from", "3");
	/* stdin stops after --count */
	{
		struct tool_result r;

		SHMQ(&r, d, "1\n2\n3\n4\n", "pub", "in", "-n", "2");
		expect(&r, 0, "");
		tool_result_free(&r);
	}
	OK(d, "1\n2\n", "sub", "in", "-e", "--from", "8");
	/* a file is one message, whatever it holds */
	snprintf(path, sizeof(path), "%s/msg.bin", d->dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite("line 1\nline 2\n", 1, 14, f);
	fclose(f);
	OK(d, "", "pub", "in", "--file", path, "--file", path);
	unlink(path);
	OK(d, "14 14 ", "sub", "in", "-e", "--from", "10", "--format", "%l ");
	FAILS(d, 1, "reading /nonexistent", "pub", "in", "--file", "/nonexistent");
	FAILS(d, 2, "not NAME=VALUE", "pub", "in", "-H", "novalue", "x");
	FAILS(d, 1, "above the channel's limit of 4096 bytes", "pub", "in", "--count", "1",
	      "--file", "/dev/zero"); /* never ends: read as one message, it is too big */
}

/* Payloads that no text format carries: NUL, 0xff, CR, LF, empty, long. */
#define NPAYLOADS 6
static size_t payload(unsigned i, unsigned char *buf)
{
	static const size_t lens[NPAYLOADS] = {0, 1, 3, 256, 1000, 4096};

	for (size_t k = 0; k < lens[i]; k++)
		buf[k] = i == 1 ? 0 : i == 2 ? (unsigned char)"\xff\n\r"[k] : (k * 7 + i) & 0xff;
	return lens[i];
}

/* All payloads as length-prefixed frames into out; the length. */
static size_t frames(unsigned char *out, bool framed)
{
	size_t n = 0;

	for (unsigned i = 0; i < NPAYLOADS; i++) {
		size_t len = payload(i, out + n + (framed ? 4 : 0));

		if (framed) {
			out[n] = (unsigned char)(len >> 24);
			out[n + 1] = (unsigned char)(len >> 16);
			out[n + 2] = (unsigned char)(len >> 8);
			out[n + 3] = (unsigned char)len;
			n += 4;
		}
		n += len;
	}
	return n;
}

static void test_raw_and_length_prefixed_round_trip_arbitrary_bytes(void **state)
{
	struct daemon *d = *state;
	static unsigned char framed[16384], raw[16384];
	size_t framed_len = frames(framed, true), raw_len = frames(raw, false);
	struct tool_result r, r2;

	OK(d, "", "create", "bin");
	OK(d, "", "create", "bin.copy");
	run_binary(d, framed, framed_len, &r, TOOL_ARGS("pub", "bin", "--length-prefixed"));
	expect(&r, 0, "");
	tool_result_free(&r);
	OK(d, "0 1 3 256 1000 4096 ", "sub", "bin", "-e", "--format", "%l ");
	SHMQ(&r, d, NULL, "sub", "bin", "-e", "--raw");
	expect(&r, 0, NULL);
	assert_int_equal(r.out_len, raw_len);
	assert_memory_equal(r.out, raw, raw_len);
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "bin", "-e", "-L");
	expect(&r, 0, NULL);
	assert_int_equal(r.out_len, framed_len);
	assert_memory_equal(r.out, framed, framed_len);
	/* sub --length-prefixed | pub --length-prefixed copies a channel */
	run_binary(d, r.out, r.out_len, &r2, TOOL_ARGS("pub", "bin.copy", "-L"));
	expect(&r2, 0, "");
	tool_result_free(&r2);
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "bin.copy", "-e", "-L");
	expect(&r, 0, NULL);
	assert_int_equal(r.out_len, framed_len);
	assert_memory_equal(r.out, framed, framed_len);
	tool_result_free(&r);
	/* a frame cut short is an error, after the whole frames before it */
	run_binary(d, framed, framed_len - 1, &r, TOOL_ARGS("pub", "bin.copy", "-L"));
	expect(&r, 1, "");
	assert_non_null(strstr(r.err, "inside a length-prefixed frame"));
	tool_result_free(&r);
	assert_int_equal(channel_tail(d, "bin.copy"), 2 * NPAYLOADS - 1);
}

/*
 * sub --json: python3 parses each line, checks its schema and version, and
 * prints offset, lost, the payload in hex (decoded as "encoding" says) and
 * the fields.
 */
static const char json_check_py[] =
    "import sys, json, base64\n"
    "for line in open(sys.argv[1], 'rb'):\n"
    "    o = json.loads(line)\n"
    "    assert o['schema'] == 'shmq-sub' and o['version'] == 2, o\n"
    "    assert o['encoding'] in ('utf8', 'base64') and 'payload_base64' not in o, o\n"
    "    b64 = o['encoding'] == 'base64'\n"
    "    p = base64.b64decode(o['payload'], validate=True) if b64 else o['payload'].encode()\n"
    "    assert o['length'] == len(p) and isinstance(o['timestamp_ns'], int)\n"
    "    h = ';'.join(x['name'] + '=' + x.get('value', '') for x in o.get('headers', []))\n"
    "    print(o['offset'], o['lost'], p.hex(), o.get('key', '-'), o.get('msg_id', '-'),"
    " o.get('corr_id', '-'), o.get('content_type', '-'), o.get('reply_to', '-'), h or '-',"
    " 'b64' if b64 else 'text')\n";

static void test_json_output_parses_and_round_trips_binary_payloads(void **state)
{
	struct daemon *d = *state;
	static unsigned char framed[16384];
	size_t framed_len = frames(framed, true);
	char out_path[200], py_path[200], cmd[700], hex[8200], line[9000];
	struct tool_result r;
	unsigned char buf[4096];
	FILE *f;

	if (system("python3 -c 'import json, base64' 2>/dev/null") != 0)
		skip(); /* scripts/deps.sh installs python3 */
	OK(d, "", "create", "js");
	OK(d, "", "pub", "js", "--key", "k\"1", "-H", "h=v\\", "--msg-id", "7", "--corr-id", "8",
	   "--content-type", "application/json", "--reply-to", "js.r", "h\xc3\xa9llo \"q\" \\ \t");
	run_binary(d, framed, framed_len, &r, TOOL_ARGS("pub", "js", "-L"));
	expect(&r, 0, "");
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "sub", "js", "-e", "--json");
	expect(&r, 0, NULL);
	snprintf(out_path, sizeof(out_path), "%s/sub.json", d->dir);
	snprintf(py_path, sizeof(py_path), "%s/check.py", d->dir);
	f = fopen(out_path, "wb");
	fwrite(r.out, 1, r.out_len, f);
	fclose(f);
	tool_result_free(&r);
	f = fopen(py_path, "w");
	fputs(json_check_py, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 %s %s", py_path, out_path);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "0 0 68c3a96c6c6f20227122205c2009 k\"1 7 8 application/json js.r "
				  "h=v\\ text\n");
	for (unsigned i = 0; i < NPAYLOADS; i++) {
		size_t len = payload(i, buf);

		for (size_t k = 0; k < len; k++)
			sprintf(hex + 2 * k, "%02x", buf[k]);
		hex[2 * len] = 0;
		assert_non_null(fgets(line, sizeof(line), f));
		/* empty and a NUL byte (\u0000) are valid UTF-8; 0xff and the rest are not */
		snprintf(cmd, sizeof(cmd), "%u 0 %.600s", i + 1, hex);
		if (strncmp(line, cmd, strlen(cmd)))
			fail_msg("payload %u: python3 read \"%.200s\"", i, line);
		assert_non_null(strstr(line, i >= 2 ? " b64\n" : " text\n"));
		assert_non_null(strstr(line, hex));
	}
	assert_null(fgets(line, sizeof(line), f));
	assert_int_equal(pclose(f), 0);
	unlink(out_path);
	unlink(py_path);
}

/* ---- pub --json: sub --json's lines back into messages ---- */

/* Every field a publisher can set, binary and non-ASCII bytes, ids above 2^63. */
static const struct shmq_header rt_headers[] = {
    {"r\xc3\xa9gion", 7, "\xc3\xa9t\xc3\xa9", 5},
    {"bin\xff", 4, "\x00\xff\xfe", 3},
    {"empty", 5, "", 0},
    {"r\xc3\xa9gion", 7, "2", 1},
};

static const struct rt_msg {
	const char *data;
	uint32_t len;
	struct shmq_msg_opts mo;
} rt_msgs[] = {
    {"\xff\x00\x01\x02binary",
     10,
     {.fields = SHMQ_F_MSG_ID | SHMQ_F_CORR_ID | SHMQ_F_DELIVER_AT | SHMQ_F_EXPIRY | SHMQ_F_KEY |
		SHMQ_F_CONTENT_TYPE | SHMQ_F_REPLY_TO | SHMQ_F_HEADERS,
      .msg_id = UINT64_MAX,
      .corr_id = 42,
      .deliver_at_ns = 1,
      .expiry_ns = (uint64_t)INT64_MAX + 5,
      .key = "\xff\xfek",
      .key_len = 3,
      .content_type = "text/plain; charset=\xc3\xa9",
      .reply_to = "rt.replies",
      .headers = rt_headers,
      .nheaders = 4}},
    {"a\0b\xc3\xa9 \"q\" \\ \t\n", 13, {.fields = SHMQ_F_KEY, .key = "cl\xc3\xa9", .key_len = 4}},
    {"", 0, {0}},
    {"\xc3", 1, {.fields = SHMQ_F_CONTENT_TYPE, .content_type = "\xff\xfe"}},
};

#define RT_N (sizeof(rt_msgs) / sizeof(rt_msgs[0]))

static void assert_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	assert_int_equal(alen, blen);
	if (alen)
		assert_memory_equal(a, b, alen);
}

/* The message m holds rt_msgs[i]: payload, every field and every header, byte for byte. */
static void assert_rt_msg(const struct shmq_msg *m, unsigned i)
{
	const struct shmq_msg_opts *w = &rt_msgs[i].mo;
	struct shmq_msg_fields f;
	struct shmq_header h;

	assert_bytes(m->data, m->len, rt_msgs[i].data, rt_msgs[i].len);
	assert_int_equal(shmq_msg_fields(m, &f), 0);
	assert_int_equal(f.fields, w->fields);
	assert_true(f.msg_id == w->msg_id && f.corr_id == w->corr_id);
	assert_true(f.deliver_at_ns == w->deliver_at_ns && f.expiry_ns == w->expiry_ns);
	if (w->fields & SHMQ_F_KEY)
		assert_bytes(f.key, f.key_len, w->key, w->key_len);
	if (w->fields & SHMQ_F_CONTENT_TYPE)
		assert_bytes(f.content_type, f.content_type_len, w->content_type,
			     strlen(w->content_type));
	if (w->fields & SHMQ_F_REPLY_TO)
		assert_bytes(f.reply_to, f.reply_to_len, w->reply_to, strlen(w->reply_to));
	assert_int_equal(f.nheaders, w->nheaders);
	for (uint32_t k = 0; k < w->nheaders; k++) {
		assert_int_equal(shmq_msg_header(m, k, &h), 0);
		assert_bytes(h.name, h.name_len, w->headers[k].name, w->headers[k].name_len);
		assert_bytes(h.value, h.value_len, w->headers[k].value, w->headers[k].value_len);
	}
}

static void assert_channel_holds_rt(struct shmq_client *c, const char *name)
{
	struct shmq_sub_opts so = {.start = SHMQ_START_EARLIEST};
	struct shmq_sub *s;
	struct shmq_msg m;

	assert_int_equal(shmq_sub_open(c, name, &so, &s), 0);
	for (unsigned i = 0; i < RT_N; i++) {
		assert_int_equal(shmq_recv(s, &m, 5000000000), 0);
		assert_int_equal(m.offset, i);
		assert_rt_msg(&m, i);
	}
	assert_int_equal(shmq_recv(s, &m, 0), -SHMQ_EAGAIN);
	shmq_sub_close(s);
}

static void test_sub_json_into_pub_json_copies_every_field(void **state)
{
	struct daemon *d = *state;
	struct shmq_client *c = fx_connect(d);
	const char *tool = getenv("SHMQ_TOOL");
	char cmd[1200];
	struct shmq_pub *p;

	assert_non_null(tool);
	OK(d, "", "create", "rt.src");
	OK(d, "", "create", "rt.dst");
	assert_int_equal(shmq_pub_open(c, "rt.src", NULL, &p), 0);
	for (unsigned i = 0; i < RT_N; i++)
		assert_int_equal(shmq_publish_opts(p, rt_msgs[i].data, rt_msgs[i].len,
						   rt_msgs[i].mo.fields ? &rt_msgs[i].mo : NULL, -1,
						   NULL),
				 0);
	shmq_pub_close(p);
	snprintf(cmd, sizeof(cmd),
		 "set -e; '%s' --socket '%s' sub rt.src -e --json > '%s/rt.json'; "
		 "'%s' --socket '%s' pub rt.dst --json < '%s/rt.json'",
		 tool, d->sock, d->dir, tool, d->sock, d->dir);
	assert_int_equal(system(cmd), 0);
	assert_channel_holds_rt(c, "rt.src");
	assert_channel_holds_rt(c, "rt.dst");
	/* and once more through a pipe, as a user would copy a channel */
	OK(d, "", "create", "rt.again");
	snprintf(cmd, sizeof(cmd),
		 "'%s' --socket '%s' sub rt.dst -e --json | '%s' --socket '%s' pub rt.again --json",
		 tool, d->sock, tool, d->sock);
	assert_int_equal(system(cmd), 0);
	assert_channel_holds_rt(c, "rt.again");
	shmq_disconnect(c);
}

/* Lines pub --json refuses, each with the words of its error. */
static const struct {
	const char *line, *says;
} bad_lines[] = {
    {"not json", "not JSON"},
    {"[1, 2]", "not a JSON object"},
    {"{}", "no \"payload\""},
    {"{\"payload\": \"x\", \"paylod\": \"y\"}", "unknown key \"paylod\""},
    {"{\"payload\": 1}", "\"payload\" is not a string"},
    {"{\"payload\": \"x\", \"encoding\": \"hex\"}", "neither \"utf8\" nor \"base64\""},
    {"{\"payload\": \"!!!!\", \"encoding\": \"base64\"}", "not valid base64"},
    {"{\"payload\": \"x\", \"length\": 2}", "\"length\" is not the payload's 1 bytes"},
    {"{\"payload\": \"x\", \"schema\": \"shmq-stat\"}", "\"schema\" is not \"shmq-sub\""},
    {"{\"payload\": \"x\", \"version\": 3}", "\"version\" is not 2"},
    {"{\"payload\": \"x\", \"msg_id\": -1}", "\"msg_id\" is not a whole number"},
    {"{\"payload\": \"x\", \"corr_id\": \"12a\"}", "\"corr_id\" is not a whole number"},
    {"{\"payload\": \"x\", \"content_type\": \"a\\u0000b\"}", "holds a NUL byte"},
    {"{\"payload\": \"x\", \"key_encoding\": \"base64\"}", "\"key_encoding\" without \"key\""},
    {"{\"payload\": \"x\", \"headers\": {}}", "\"headers\" is not an array"},
    {"{\"payload\": \"x\", \"headers\": [{\"value\": \"v\"}]}", "headers[0] has no \"name\""},
    {"{\"payload\": \"x\", \"headers\": [{\"name\": \"n\", \"x\": 1}]}", "unknown key \"x\""},
    {"{\"payload\": \"x\", \"payload\": \"y\"}", "duplicate"},
    {"", "an empty line"},
};

static void test_pub_json_stops_at_a_bad_line_and_names_it(void **state)
{
	struct daemon *d = *state;
	char in[600], says[300];
	struct tool_result r;

	OK(d, "", "create", "bad.json");
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		uint64_t tail = channel_tail(d, "bad.json");

		snprintf(in, sizeof(in),
			 "{\"payload\": \"one\"}\n{\"payload\": \"two\"}\n%s\n"
			 "{\"payload\": \"after\"}\n",
			 bad_lines[i].line);
		SHMQ(&r, d, in, "pub", "bad.json", "--json");
		snprintf(says, sizeof(says), "line 3: ");
		if (r.status != 1 || !strstr(r.err, says) || !strstr(r.err, bad_lines[i].says) ||
		    !strstr(r.err, "2 message(s) published before it, none after"))
			fail_msg("line %s: status %d, stderr \"%s\"", bad_lines[i].line, r.status,
				 r.err);
		tool_result_free(&r);
		assert_int_equal(channel_tail(d, "bad.json"), tail + 2);
	}
	/* a message the channel refuses stops it the same way */
	OK(d, "", "create", "small.json", "--max-message", "4");
	SHMQ(&r, d, "{\"payload\": \"ok\"}\n{\"payload\": \"too long\"}\n{\"payload\": \"x\"}\n",
	     "pub", "small.json", "--json");
	expect(&r, 1, "");
	assert_non_null(strstr(r.err, "SHMQ_ETOOBIG"));
	assert_non_null(strstr(r.err, "stopped at line 2 of the input; 1 message(s) published"));
	tool_result_free(&r);
	assert_int_equal(channel_tail(d, "small.json"), 1);
	/* ids as strings above 2^63 - 1, --count and a missing final newline */
	SHMQ(&r, d, "{\"payload\":\"a\",\"msg_id\":\"18446744073709551615\"}\n{\"payload\":\"b\"}",
	     "pub", "small.json", "--json", "--count", "1");
	expect(&r, 0, "");
	tool_result_free(&r);
	OK(d, "1 18446744073709551615 a\n", "sub", "small.json", "-e", "--from", "1", "--format",
	   "%o %m %s\\n");
}

/* ---- on a terminal ---- */

static void test_sub_on_a_terminal_prints_each_message_before_the_next(void **state)
{
	struct daemon *d = *state;
	struct pty_proc p;
	char msg[32], want[40];

	OK(d, "", "create", "tty");
	assert_int_equal(pty_spawn(&p, TOOL_ARGS("--socket", d->sock, "sub", "tty")), 0);
	for (int i = 1; i <= 5; i++) {
		snprintf(msg, sizeof(msg), "message %d", i);
		snprintf(want, sizeof(want), "message %d\n", i);
		OK(d, "", "pub", "tty", msg);
		if (pty_expect(&p, want))
			fail_msg("\"%s\" did not appear; the terminal shows \"%s\"", msg, p.seen);
	}
	kill(p.pid, SIGINT);
	assert_int_equal(pty_finish(&p), 0);
	assert_string_equal(p.seen, "message 1\nmessage 2\nmessage 3\nmessage 4\nmessage 5\n");
	pty_free(&p);
}

static void test_sub_on_a_terminal_escapes_non_printable_bytes(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;
	struct pty_proc p;

	OK(d, "", "create", "esc");
	run_binary(d,
		   "a\x01"
		   "b\\c\xff\td\r\ne\x7f \xc3\xa9\0z",
		   17, &r, TOOL_ARGS("pub", "esc", "-0"));
	expect(&r, 0, "");
	tool_result_free(&r);
	run_binary(d, "\0", 1, &r, TOOL_ARGS("pub", "esc", "-0")); /* an empty message */
	tool_result_free(&r);
	assert_int_equal(pty_spawn(&p, TOOL_ARGS("--socket", d->sock, "sub", "esc", "-e")), 0);
	assert_int_equal(pty_finish(&p), 0);
	assert_string_equal(p.seen, "a\\x01b\\\\c\\xff\\td\\r\\ne\\x7f \xc3\xa9\nz\n\n");
	pty_free(&p);
	/* into a pipe, bytes go out as they are */
	SHMQ(&r, d, NULL, "sub", "esc", "-e", "--count", "1");
	expect(&r, 0, NULL);
	assert_int_equal(r.out_len, 16);
	assert_memory_equal(r.out,
			    "a\x01"
			    "b\\c\xff\td\r\ne\x7f \xc3\xa9\n",
			    16);
	tool_result_free(&r);
}

/* Read a spawned command's stdout until it holds text; what was read goes to seen. */
static void read_until(struct tool_proc *p, const char *text, char *seen, size_t cap)
{
	int64_t deadline = fx_now_ns() + FX_HANG_NS;
	size_t len = 0;
	ssize_t n;

	seen[0] = 0;
	while (!strstr(seen, text) && fx_now_ns() < deadline && len + 1 < cap) {
		n = read(p->out_fd, seen + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		seen[len] = 0;
	}
	if (!strstr(seen, text))
		fail_msg("no \"%s\" in \"%s\"", text, seen);
}

/* SIGINT or SIGTERM to a sub that has printed 3 lines: it exits 0 with all of them out. */
static void signal_ends_sub_cleanly(struct daemon *d, int sig)
{
	struct tool_result r;
	struct tool_proc sub;
	struct pty_proc p;
	char seen[64];

	assert_int_equal(pty_spawn(&p, TOOL_ARGS("--socket", d->sock, "sub", "sig")), 0);
	assert_int_equal(pty_expect(&p, "3\n"), 0);
	kill(p.pid, sig);
	assert_int_equal(pty_finish(&p), 0);
	assert_string_equal(p.seen, "1\n2\n3\n");
	pty_free(&p);
	/* into a pipe */
	assert_int_equal(tool_spawn(&sub, TOOL_ARGS("--socket", d->sock, "sub", "sig")), 0);
	read_until(&sub, "3\n", seen, sizeof(seen));
	kill(sub.pid, sig);
	tool_finish(&sub, NULL, &r);
	expect(&r, 0, "");
	assert_string_equal(seen, "1\n2\n3\n");
	tool_result_free(&r);
}

static void test_sigint_and_sigterm_flush_and_exit_cleanly(void **state)
{
	struct daemon *d = *state;

	OK(d, "", "pub", "sig", "--create", "1", "2", "3");
	signal_ends_sub_cleanly(d, SIGINT);
	signal_ends_sub_cleanly(d, SIGTERM);
}

/* shmq sub ... | head -n 3 ends once head has gone, though no message comes. */
static void test_sub_into_head_ends_promptly(void **state)
{
	struct daemon *d = *state;
	const char *bin = getenv("SHMQ_TOOL");
	char script[600], out_path[200], status_path[200], text[64] = "";
	int64_t started;
	FILE *f;
	pid_t pid;

	assert_non_null(bin);
	OK(d, "", "create", "many");
	for (int i = 1; i <= 10; i++) {
		snprintf(text, sizeof(text), "%d", i);
		OK(d, "", "pub", "many", text);
	}
	snprintf(out_path, sizeof(out_path), "%s/head.out", d->dir);
	snprintf(status_path, sizeof(status_path), "%s/sub.status", d->dir);
	snprintf(script, sizeof(script),
		 "{ '%s' --socket '%s' sub many; echo $? >'%s'; } | head -n 3 >'%s'", bin, d->sock,
		 status_path, out_path);
	started = fx_now_ns();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	/* bounded: it fails (-1) only if the pipeline hangs for FX_HANG_S */
	assert_int_equal(child_wait(pid, FX_HANG_S), 0);
	print_message("the pipeline ended after %lld ms\n",
		      (long long)((fx_now_ns() - started) / 1000000));
	f = fopen(out_path, "r");
	assert_non_null(f);
	assert_int_equal(fread(text, 1, sizeof(text) - 1, f), 6);
	fclose(f);
	unlink(out_path);
	assert_memory_equal(text, "1\n2\n3\n", 6);
	f = fopen(status_path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	unlink(status_path);
	assert_string_equal(text, "0\n");
}

/* ---- first guesses ---- */

/*
 * What a newcomer types first works: command aliases (also in help),
 * durations with units, the last messages (--from last, --from -N,
 * --last N), values in any case; and each "not a valid value" error lists
 * the valid ones.
 */
static void test_first_guesses_are_accepted(void **state)
{
	struct daemon *d = *state;
	struct tool_result r, r2;

	OK(d, "", "create", "g", "--policy", "Block", "--publishers", "MANY", "--numa", "None");
	OK(d, "", "publish", "g", "1", "2", "3", "4", "5");
	SHMQ(&r, d, NULL, "list");
	expect(&r, 0, NULL);
	assert_non_null(strstr(r.out, "g "));
	assert_non_null(strstr(r.out, " block "));
	tool_result_free(&r);
	OK(d, "1\n2\n", "subscribe", "g", "-n", "2");
	/* help knows the aliases: the same text as the command's own */
	SHMQ(&r, d, NULL, "help", "subscribe");
	SHMQ(&r2, d, NULL, "help", "sub");
	expect(&r, 0, r2.out);
	tool_result_free(&r);
	tool_result_free(&r2);
	SHMQ(&r, d, NULL, "help", "list");
	expect(&r, 0, NULL);
	assert_non_null(strstr(r.out, "usage: shmq ls"));
	tool_result_free(&r);
	SHMQ(&r, d, NULL, "remove", "--help");
	expect(&r, 0, NULL);
	assert_non_null(strstr(r.out, "usage: shmq rm"));
	tool_result_free(&r);
	/* the last messages */
	OK(d, "5\n", "sub", "g", "-e", "--from", "last");
	OK(d, "5\n", "sub", "g", "-e", "--from", "-1");
	OK(d, "3\n4\n5\n", "sub", "g", "-e", "--from", "-3");
	OK(d, "4\n5\n", "sub", "g", "-e", "--last", "2");
	OK(d, "1\n2\n3\n4\n5\n", "sub", "g", "-e", "--last", "99");
	OK(d, "", "sub", "g", "-e", "--last", "0");
	OK(d, "", "sub", "g", "-e", "--from", "LATEST");
	OK(d, "1\n", "sub", "g", "-n", "1", "--from", "Earliest");
	/* durations: seconds by default, or with a unit */
	SHMQ(&r, d, NULL, "sub", "g", "--from", "latest", "--timeout", "200ms");
	expect(&r, 3, "");
	tool_result_free(&r);
	OK(d, "1\n", "sub", "g", "-n", "1", "--timeout", "1.5s");
	OK(d, "1\n", "sub", "g", "-n", "1", "--timeout", "2m");
	OK(d, "1\n", "sub", "g", "-n", "1", "--timeout", "1h");
	OK(d, "1\n", "sub", "g", "-n", "1", "--timeout", "30");
	FAILS(d, 2, "--timeout 1x: not a valid value (valid: a duration: seconds, or", "sub", "g",
	      "--timeout", "1x");
	FAILS(d, 2, "500ms", "sub", "g", "--timeout", "-1s");
	FAILS(d, 2, "500ms", "sub", "g", "--timeout", "0x10");
	FAILS(d, 2, "500ms", "sub", "g", "--timeout", "1 s");
	/* every "not a valid value" lists the valid ones */
	FAILS(d, 2, "--policy sometimes: not a valid value (valid: block or drop)", "create", "p",
	      "--policy", "sometimes");
	FAILS(d, 2, "(valid: one or many)", "create", "p", "--publishers", "few");
	FAILS(d, 2, "(valid: none, local or a node number)", "create", "p", "--numa", "far");
	FAILS(d, 2, "(valid: earliest, latest, last, -N", "sub", "g", "--from", "yesterday");
	FAILS(d, 2, "(valid: spin, spin-sleep, sleep or event", "sub", "g", "--wait", "often");
	FAILS(d, 2, "(valid: a whole number, 0 or more)", "sub", "g", "--count", "many");
	FAILS(d, 2, "(valid: a whole number, 0 or more)", "sub", "g", "--last", "-2");
	FAILS(d, 2, "(valid: messages a second, above 0", "pub", "g", "--rate", "0", "x");
	assert_false(channel_exists(d, "p"));
}

/* Options that choose the same thing are an error naming both, not a silent winner. */
static void test_conflicting_options_are_named(void **state)
{
	struct daemon *d = *state;
	struct tool_result r;

	OK(d, "", "create", "c");
	FAILS(d, 2, "--json and --raw conflict", "sub", "c", "--json", "--raw");
	FAILS(d, 2, "--raw and --json conflict", "sub", "c", "-r", "-j");
	FAILS(d, 2, "--format and --length-prefixed conflict", "sub", "c", "-f", "%s", "-L");
	FAILS(d, 2, "--from and --last conflict", "sub", "c", "--from", "3", "--last", "2");
	FAILS(d, 2, "--null and --file conflict", "pub", "c", "-0", "--file", "/dev/null");
	FAILS(d, 2, "--length-prefixed and --null conflict", "pub", "c", "-L", "-0");
	FAILS(d, 2, "--json and --null conflict", "pub", "c", "--json", "-0");
	FAILS(d, 2, "--file and --json conflict", "pub", "c", "--file", "/dev/null", "-j");
	FAILS(d, 2, "--json and --format conflict", "sub", "c", "--json", "-f", "%s");
	/* other names take the options of their command */
	SHMQ(&r, d, NULL, "list", "--json");
	expect(&r, 0, NULL);
	assert_non_null(strstr(r.out, "{\"schema\":\"shmq-ls\",\"version\":1,"));
	assert_non_null(strstr(r.out, "\"name\":\"c\""));
	tool_result_free(&r);
	/* an option given twice is no conflict; nothing was published above */
	OK(d, "", "sub", "c", "--json", "--json", "-e");
	OK(d, "", "sub", "c", "-e");
}

/* ---- help and version ---- */

static void test_version_and_help_for_each_command(void **state)
{
	struct daemon *d = *state;
	const char *cmds[] = {"ls", "create", "rm", "info", "pub", "sub"};
	struct tool_result r, r2;

	tool_run(&r, NULL, TOOL_ARGS("--version"));
	expect(&r, 0, NULL);
	assert_int_equal(strncmp(r.out, "shmq ", 5), 0);
	assert_true(r.out[5] >= '0' && r.out[5] <= '9');
	tool_result_free(&r);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		tool_run(&r, NULL, TOOL_ARGS("help", cmds[i]));
		tool_run(&r2, NULL, TOOL_ARGS(cmds[i], "--help"));
		expect(&r, 0, NULL);
		expect(&r2, 0, r.out);
		assert_non_null(strstr(r.out, "usage: shmq "));
		assert_non_null(strstr(r.out, cmds[i]));
		tool_result_free(&r);
		tool_result_free(&r2);
	}
	tool_run(&r, NULL, TOOL_ARGS("help", "sub"));
	assert_non_null(strstr(r.out, "from the earliest"));
	assert_non_null(strstr(r.out, "default is the latest"));
	tool_result_free(&r);
	tool_run(&r, NULL, TOOL_ARGS("help"));
	expect(&r, 0, NULL);
	assert_non_null(strstr(r.out, "Exit status"));
	tool_result_free(&r);
	FAILS(d, 2, "unknown command: nope", "help", "nope");
	FAILS(d, 2, "", "-q", "ls"); /* -q did nothing and is gone */
}

#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_a_typo_creates_nothing),
	    T(test_settings_that_differ_are_named_with_both_values),
	    T(test_open_with_create_and_other_settings_is_emismatch),
	    T(test_timeout_exits_3_and_exit_at_end_exits_0),
	    T(test_every_size_edge),
	    T(test_format_prints_each_placeholder),
	    T(test_pub_inputs_count_and_rate),
	    T(test_raw_and_length_prefixed_round_trip_arbitrary_bytes),
	    T(test_json_output_parses_and_round_trips_binary_payloads),
	    T(test_sub_json_into_pub_json_copies_every_field),
	    T(test_pub_json_stops_at_a_bad_line_and_names_it),
	    T(test_sub_on_a_terminal_prints_each_message_before_the_next),
	    T(test_sub_on_a_terminal_escapes_non_printable_bytes),
	    T(test_sigint_and_sigterm_flush_and_exit_cleanly),
	    T(test_sub_into_head_ends_promptly),
	    T(test_version_and_help_for_each_command),
	    T(test_first_guesses_are_accepted),
	    T(test_conflicting_options_are_named),
	};

	unsetenv("SHMQ_SOCKET");
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
