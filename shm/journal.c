/*
 * journal.c - encode and scan journal segments (journal.h). Scanning
 * treats every byte as hostile: lengths are loaded once into locals and
 * bounded by the buffer before anything is read behind them, loops are
 * bounded by the buffer's length, and a bad record never makes the scan
 * read past len or return anything but a classification.
 */
#include "journal.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "crc32c.h"
#include "ext.h"

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The CRC32C of the n-byte record at p, its crc field (offset 28) taken as 0. */
static uint32_t rec_crc(const uint8_t *p, uint64_t n)
{
	static const uint8_t zero[4];
	uint32_t c = crc32c_update(0, p, offsetof(struct rec_hdr, crc));

	c = crc32c_update(c, zero, sizeof(zero));
	return crc32c_update(c, p + REC_HDR_BYTES, n - REC_HDR_BYTES);
}

static void hdr_put(uint8_t *out, uint64_t word, uint64_t pos, uint64_t ts, uint32_t len)
{
	struct rec_hdr h;

	memset(&h, 0, sizeof(h));
	/* a private copy, never shared: plain access */
	memcpy(&h.word, &word, sizeof(word));
	h.pos = pos;
	h.timestamp_ns = ts;
	h.len = len;
	memcpy(out, &h, sizeof(h));
}

static void crc_put(uint8_t *out, uint64_t n)
{
	uint32_t c = rec_crc(out, n);

	memcpy(out + offsetof(struct rec_hdr, crc), &c, sizeof(c));
}

void journal_seg_hdr_make(void *out, uint64_t channel_id, uint64_t base_pos, uint64_t seg_bytes,
			  uint64_t salt)
{
	struct jseg_hdr h = {
	    .magic = JSEG_MAGIC,
	    .version = JSEG_VERSION,
	    .hdr_bytes = JSEG_HDR_BYTES,
	    .channel_id = channel_id,
	    .base_pos = base_pos,
	    .seg_bytes = seg_bytes,
	    .salt = salt,
	};

	h.hdr_crc = crc32c_update(0, &h, sizeof(h));
	memset(out, 0, JSEG_HDR_BYTES);
	memcpy(out, &h, sizeof(h));
}

void journal_seg_name(uint64_t base_pos, char *name)
{
	snprintf(name, JSEG_NAME_BYTES, "%020llu.seg", (unsigned long long)base_pos);
}

int journal_seg_name_parse(const char *name, uint64_t *base_pos)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < 20; i++) {
		unsigned d = (unsigned char)name[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -SHMQ_EINVAL;
		v = v * 10 + d;
	}
	if (strcmp(name + 20, ".seg"))
		return -SHMQ_EINVAL;
	*base_pos = v;
	return 0;
}

uint64_t journal_put_msg(void *out, uint64_t pos, uint64_t timestamp_ns, unsigned flags,
			 const void *ext, uint32_t ext_bytes, const void *data, uint32_t len)
{
	uint8_t *o = out;
	uint64_t n = journal_msg_bytes(len, ext_bytes);

	flags &= REC_F_BATCH;
	if (ext_bytes)
		flags |= REC_F_EXT;
	hdr_put(o, jrec_word(JREC_MSG, flags, n), pos, timestamp_ns, len);
	if (ext_bytes) /* NULL with 0 bytes is no argument memcpy() takes */
		memcpy(o + REC_HDR_BYTES, ext, ext_bytes);
	if (len)
		memcpy(o + REC_HDR_BYTES + ext_bytes, data, len);
	memset(o + REC_HDR_BYTES + ext_bytes + len, 0, n - REC_HDR_BYTES - ext_bytes - len);
	crc_put(o, n);
	return n;
}

uint64_t journal_put_gap(void *out, uint64_t first, uint64_t count)
{
	hdr_put(out, jrec_word(JREC_GAP, 0, JREC_SMALL_BYTES), first, count, 0);
	crc_put(out, JREC_SMALL_BYTES);
	return JREC_SMALL_BYTES;
}

uint64_t journal_put_checkpoint(void *out, uint64_t durable_pos, uint64_t next_pos,
				uint64_t file_off, uint64_t salt, uint64_t now_ns)
{
	struct jrec_ckpt b = {.salt = salt, .file_off = file_off, .next_pos = next_pos};
	uint8_t *o = out;

	hdr_put(o, jrec_word(JREC_CHECKPOINT, 0, JREC_CKPT_BYTES), durable_pos, now_ns,
		(uint32_t)sizeof(b));
	memcpy(o + REC_HDR_BYTES, &b, sizeof(b));
	crc_put(o, JREC_CKPT_BYTES);
	return JREC_CKPT_BYTES;
}

uint64_t journal_put_seal(void *out, uint64_t next_pos, uint64_t now_ns)
{
	hdr_put(out, jrec_word(JREC_SEAL, 0, JREC_SMALL_BYTES), next_pos, now_ns, 0);
	crc_put(out, JREC_SMALL_BYTES);
	return JREC_SMALL_BYTES;
}

/* ---- reading ---- */

int journal_seg_hdr_check(const void *buf, uint64_t len, struct jseg_hdr *out)
{
	const uint8_t *b = buf;
	struct jseg_hdr h;
	uint32_t crc;

	if (len < JSEG_HDR_BYTES)
		return -SHMQ_ECORRUPT;
	memcpy(&h, b, sizeof(h));
	*out = h;
	if (h.magic != JSEG_MAGIC)
		return -SHMQ_ECORRUPT;
	crc = h.hdr_crc;
	h.hdr_crc = 0;
	if (crc32c_update(0, &h, sizeof(h)) != crc)
		return -SHMQ_ECORRUPT;
	if (h.version > JSEG_VERSION || (h.incompat & ~JSEG_INCOMPAT_KNOWN))
		return -SHMQ_EVERSION;
	if (h.version != JSEG_VERSION || h.hdr_bytes != JSEG_HDR_BYTES || h.reserved ||
	    h.seg_bytes < JSEG_HDR_BYTES)
		return -SHMQ_ECORRUPT;
	for (uint64_t i = sizeof(h); i < JSEG_HDR_BYTES; i++)
		if (b[i])
			return -SHMQ_ECORRUPT;
	return 0;
}

/* The scanner's state: the buffer, its bounds and where the offsets stand. */
struct scan {
	const uint8_t *b;
	uint64_t len;
	uint64_t max_rec;
	uint64_t ahead; /* how far past a bad record to look */
	uint64_t next;	/* the offset the next record must carry */
	uint64_t ckpt;	/* durable_pos of the last checkpoint */
	struct jseg_hdr h;
};

/* 1 + the offset of the last non-zero byte at or after off; off if none. */
static uint64_t nonzero_end(const struct scan *s, uint64_t off)
{
	uint64_t e = s->len - off > s->ahead ? off + s->ahead : s->len;

	while (e > off && !s->b[e - 1])
		e--;
	return e;
}

/*
 * Is the record at off a CHECKPOINT of this segment (its salt, its own
 * offset) that says what follows no lower than after? *next gets that.
 */
static bool ckpt_valid(const struct scan *s, uint64_t off, uint64_t after, uint64_t *next)
{
	struct jrec_ckpt c;
	struct rec_hdr h;

	if (s->len - off < JREC_CKPT_BYTES ||
	    ld64(s->b + off) != jrec_word(JREC_CHECKPOINT, 0, JREC_CKPT_BYTES))
		return false;
	memcpy(&h, s->b + off, sizeof(h));
	memcpy(&c, s->b + off + REC_HDR_BYTES, sizeof(c));
	if (h.len != sizeof(c) || h.crc != rec_crc(s->b + off, JREC_CKPT_BYTES))
		return false;
	if (c.salt != s->h.salt || c.file_off != off || c.zero || c.next_pos < after ||
	    h.pos > c.next_pos)
		return false;
	*next = c.next_pos;
	return true;
}

/* The first valid checkpoint after off, 0 if none. */
static uint64_t ckpt_find(const struct scan *s, uint64_t off, uint64_t *next)
{
	uint64_t end = s->len - off > s->ahead ? off + s->ahead : s->len;

	for (uint64_t o = off + REC_ALIGN; o + JREC_CKPT_BYTES <= end; o += REC_ALIGN)
		if (ckpt_valid(s, o, s->next, next))
			return o;
	return 0;
}

static uint32_t msg_check(const struct scan *s, const uint8_t *p, const struct rec_hdr *h,
			  unsigned flags, uint64_t n)
{
	uint32_t ext = 0;

	if (flags & ~(REC_F_EXT | REC_F_BATCH))
		return JWHY_WORD;
	if (h->pos != s->next)
		return JWHY_POS;
	if (flags & REC_F_EXT) {
		struct ext_view v;
		uint16_t e;

		memcpy(&e, p + REC_HDR_BYTES, sizeof(e));
		ext = e;
		if (ext < 8 || ext > REC_EXT_MAX || ext % 8 || REC_HDR_BYTES + ext > n)
			return JWHY_EXT;
		if (ext_parse(p + REC_HDR_BYTES, ext, &v))
			return JWHY_EXT;
	}
	if (h->len > MAX_MESSAGE_BYTES || journal_msg_bytes(h->len, ext) != n)
		return JWHY_LENGTH;
	return JWHY_NONE;
}

/*
 * Check the record at off (n bytes, within the buffer, checksum good):
 * JWHY_NONE and the effects on s, or what is wrong. *seal says it ends the
 * segment.
 */
static uint32_t rec_apply(struct scan *s, uint64_t off, uint64_t word, uint64_t n, bool *seal,
			  struct journal_scan *out)
{
	const uint8_t *p = s->b + off;
	unsigned type = word & 0xff, flags = (word >> 8) & 0xff;
	uint64_t next;
	struct rec_hdr h;
	uint32_t why;

	memcpy(&h, p, sizeof(h));
	switch (type) {
	case JREC_MSG:
		why = msg_check(s, p, &h, flags, n);
		if (why)
			return why;
		s->next++;
		out->msgs++;
		return JWHY_NONE;
	case JREC_GAP:
		if (flags || n != JREC_SMALL_BYTES || h.len)
			return JWHY_LENGTH;
		if (h.pos != s->next || !h.timestamp_ns || h.timestamp_ns > JREC_GAP_MAX ||
		    h.timestamp_ns > UINT64_MAX - s->next)
			return JWHY_POS;
		s->next += h.timestamp_ns;
		out->lost += h.timestamp_ns;
		return JWHY_NONE;
	case JREC_CHECKPOINT:
		if (!ckpt_valid(s, off, s->next, &next) || next != s->next || h.pos < s->ckpt)
			return JWHY_CKPT;
		s->ckpt = h.pos;
		out->ckpt_pos = h.pos;
		out->ckpt_off = off;
		return JWHY_NONE;
	case JREC_SEAL:
		if (flags || n != JREC_SMALL_BYTES || h.len)
			return JWHY_LENGTH;
		if (h.pos != s->next)
			return JWHY_POS;
		*seal = true;
		return JWHY_NONE;
	default:
		return JWHY_WORD;
	}
}

/* The record at off: JWHY_NONE and its size, or what is wrong with it. */
static uint32_t rec_frame(const struct scan *s, uint64_t off, uint64_t *word, uint64_t *n)
{
	uint64_t w = ld64(s->b + off), units = w >> 32;
	struct rec_hdr h;

	*word = w;
	if ((w & 0xffff0000u) || (w & 0xff) < JREC_MSG || (w & 0xff) > JREC_SEAL)
		return JWHY_WORD;
	if (!units || units > s->max_rec / REC_ALIGN)
		return JWHY_LENGTH;
	*n = units * REC_ALIGN;
	if (*n > s->len - off)
		return JWHY_SHORT;
	memcpy(&h, s->b + off, sizeof(h));
	if (h.crc != rec_crc(s->b + off, *n))
		return JWHY_CRC;
	return JWHY_NONE;
}

/*
 * The bytes at off are no good record (why): corruption if a checkpoint
 * follows (then *off moves to it), else the torn tail. True to go on.
 */
static bool rec_bad(struct scan *s, uint64_t *off, uint32_t why, struct journal_scan *out)
{
	uint64_t next = 0, at = ckpt_find(s, *off, &next);

	if (!at) {
		out->stop = JSTOP_TORN;
		out->why = why;
		out->torn_end = nonzero_end(s, *off);
		return false;
	}
	if (!out->corrupt++) {
		out->corrupt_off = *off;
		out->corrupt_end = at;
		out->corrupt_pos = s->next;
		out->corrupt_next = next;
		out->corrupt_why = why;
	}
	s->next = next;
	*off = at;
	return true;
}

/* One step at *off: true to go on. */
static bool scan_step(struct scan *s, uint64_t *off, struct journal_scan *out)
{
	uint64_t word = 0, n = 0;
	bool seal = false;
	uint32_t why;

	if (s->len - *off < REC_HDR_BYTES || !ld64(s->b + *off)) {
		if (nonzero_end(s, *off) == *off) {
			out->stop = JSTOP_END;
			return false;
		}
		return rec_bad(s, off, s->len - *off < REC_HDR_BYTES ? JWHY_SHORT : JWHY_HOLE, out);
	}
	why = rec_frame(s, *off, &word, &n);
	if (!why)
		why = rec_apply(s, *off, word, n, &seal, out);
	if (why)
		return rec_bad(s, off, why, out);
	*off += n;
	out->next_pos = s->next;
	out->good_bytes = *off;
	if (seal)
		out->stop = JSTOP_SEALED;
	return !seal;
}

int journal_scan(const void *buf, uint64_t len, uint64_t max_record_bytes, uint64_t ahead_bytes,
		 struct journal_scan *out)
{
	struct scan s = {.b = buf, .len = len, .ahead = ahead_bytes ? ahead_bytes : UINT64_MAX};
	uint64_t off = JSEG_HDR_BYTES;
	int err;

	memset(out, 0, sizeof(*out));
	err = journal_seg_hdr_check(buf, len, &s.h);
	out->hdr = s.h;
	if (err)
		return err;
	if (len > s.h.seg_bytes) /* bytes past the segment's size are not its own */
		s.len = len = s.h.seg_bytes;
	s.max_rec = rec_bytes_for(MAX_MESSAGE_BYTES, REC_EXT_MAX);
	if (max_record_bytes && max_record_bytes < s.max_rec)
		s.max_rec = max_record_bytes;
	if (s.max_rec < JREC_CKPT_BYTES)
		s.max_rec = JREC_CKPT_BYTES;
	s.next = s.h.base_pos;
	out->next_pos = s.next;
	out->good_bytes = off;
	/* each step moves off forward by at least REC_ALIGN or stops */
	while (scan_step(&s, &off, out))
		;
	return 0;
}

const char *journal_why_name(uint32_t why)
{
	static const char *const names[] = {
	    [JWHY_NONE] = "none",	  [JWHY_SHORT] = "short", [JWHY_WORD] = "bad_word",
	    [JWHY_LENGTH] = "bad_length", [JWHY_CRC] = "crc",	  [JWHY_POS] = "bad_offset",
	    [JWHY_EXT] = "bad_fields",	  [JWHY_HOLE] = "hole",	  [JWHY_CKPT] = "bad_checkpoint",
	};

	return why < sizeof(names) / sizeof(names[0]) ? names[why] : "unknown";
}
