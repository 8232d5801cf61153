/*
 * fuzz_journal.c - libFuzzer target: the journal segment scanner
 * (shm/journal.c) on file bytes nobody vouches for. The first input byte
 * picks the form:
 *   even  the rest is a whole segment file, header included, as read
 *   odd   a valid header (base_pos 100) is made, then the rest is a script
 *         of steps that write honest records and then damage them:
 *           0 msg   [len u16 (mod 600)][flags u8]
 *           1 gap   [count u8]
 *           2 ckpt  [durable back u8]
 *           3 seal
 *           4 poke  [off u16][n u8] n input bytes at off (past the header)
 *           5 cut   [len u16] the file ends there
 * The scan must return 0 or a header error, and what it reports must lie
 * inside the file: a record boundary, offsets from base_pos on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "journal.h"

#define FILE_BYTES (JSEG_HDR_BYTES + 16384u)
#define SALT 0x5a17u

struct build {
	uint8_t *b;
	uint64_t off, next, len;
};

static void step(struct build *w, struct in *in)
{
	static const uint8_t payload[600];
	uint64_t op = take(in, 1) % 6, a, n;

	switch (op) {
	case 0:
		a = take(in, 2) % 600;
		n = take(in, 1);
		if (w->off + journal_msg_bytes((uint32_t)a, 0) <= w->len)
			w->off += journal_put_msg(w->b + w->off, w->next++, 1, (unsigned)n, NULL, 0,
						  payload, (uint32_t)a);
		break;
	case 1:
		a = take(in, 1) + 1;
		if (w->off + JREC_SMALL_BYTES <= w->len) {
			w->off += journal_put_gap(w->b + w->off, w->next, a);
			w->next += a;
		}
		break;
	case 2:
		a = take(in, 1);
		if (w->off + JREC_CKPT_BYTES <= w->len)
			w->off +=
			    journal_put_checkpoint(w->b + w->off, w->next - (a < w->next ? a : 0),
						   w->next, w->off, SALT, 1);
		break;
	case 3:
		if (w->off + JREC_SMALL_BYTES <= w->len)
			w->off += journal_put_seal(w->b + w->off, w->next, 1);
		break;
	case 4:
		a = JSEG_HDR_BYTES + take(in, 2) % (FILE_BYTES - JSEG_HDR_BYTES);
		n = take(in, 1);
		for (uint64_t i = 0; i < n && a + i < FILE_BYTES; i++)
			w->b[a + i] = (uint8_t)take(in, 1);
		break;
	default:
		a = take(in, 2);
		if (a < w->len)
			w->len = a;
		break;
	}
}

static void check(const void *buf, uint64_t len)
{
	struct journal_scan r;
	int err = journal_scan(buf, len, 0, 0, &r);

	if (err) {
		if (err != -SHMQ_ECORRUPT && err != -SHMQ_EVERSION)
			abort();
		return;
	}
	if (r.good_bytes < JSEG_HDR_BYTES || r.good_bytes > len || r.good_bytes % REC_ALIGN ||
	    r.next_pos < r.hdr.base_pos || r.stop < JSTOP_END || r.stop > JSTOP_TORN)
		abort();
	if (r.stop == JSTOP_TORN && (r.torn_end <= r.good_bytes || r.torn_end > len))
		abort();
	if (r.corrupt && (r.corrupt_off >= r.corrupt_end || r.corrupt_end > len))
		abort();
	(void)journal_why_name(r.why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	struct build w;
	uint8_t *file;

	if (!size)
		return 0;
	if (!(take(&in, 1) & 1)) {
		/* a private copy of the exact size: reads past it are ASan's to catch */
		file = malloc(in.n ? in.n : 1);
		if (!file)
			return 0;
		memcpy(file, in.p, in.n);
		check(file, in.n);
		free(file);
		return 0;
	}
	file = calloc(1, FILE_BYTES);
	if (!file)
		return 0;
	journal_seg_hdr_make(file, 1, 100, FILE_BYTES, SALT);
	w = (struct build){file, JSEG_HDR_BYTES, 100, FILE_BYTES};
	for (unsigned i = 0; i < 256 && in.n; i++)
		step(&w, &in);
	check(file, w.len);
	free(file);
	return 0;
}
