/*
 * journal.h - the on-disk format of a durable channel's journal
 * (docs/ARCHITECTURE.md "Durability"): segment files of a 4 KiB header and
 * records in the ring's 32-byte framing, with a position-free word and a
 * CRC32C per record. The writer encodes its copy of each record here; the
 * daemon's recovery and any later reader scan file bytes here, as
 * untrusted input: every length is bounded by the buffer and by the
 * largest record, every record's checksum, type and offset checked.
 * Pure functions on caller-owned buffers: no I/O, allocation or locks; any
 * thread may call.
 */
#ifndef SHM_JOURNAL_H
#define SHM_JOURNAL_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "shmq_err.h"

#define JSEG_MAGIC 0x5348514d4a534547ull /* "SHQMJSEG" */
#define JSEG_VERSION 1u
#define JSEG_HDR_BYTES 4096u /* records start here */
#define JSEG_COMPAT_KNOWN 0u
#define JSEG_INCOMPAT_KNOWN 0u
#define JSEG_NAME_BYTES 32u	  /* "<20 digits>.seg" and its NUL, with room */
#define JREC_CKPT_BYTES 64u	  /* a CHECKPOINT: header and a 32-byte body */
#define JREC_SMALL_BYTES 32u	  /* a GAP or SEAL: the header alone */
#define JREC_GAP_MAX (1ull << 48) /* messages one GAP may count */

/* Offset 0 of a segment file; the rest of its JSEG_HDR_BYTES are zero. */
struct jseg_hdr {
	uint64_t magic;	  /* JSEG_MAGIC */
	uint32_t version; /* JSEG_VERSION */
	uint32_t hdr_bytes;
	uint32_t compat;
	uint32_t incompat;
	uint64_t channel_id;
	uint64_t base_pos;  /* the first record's offset, the file's name */
	uint64_t seg_bytes; /* the preallocated size */
	uint64_t salt;	    /* random; in each CHECKPOINT of the segment */
	uint32_t reserved;  /* 0 */
	uint32_t hdr_crc;   /* CRC32C of these 64 bytes with hdr_crc 0 */
};
static_assert(sizeof(struct jseg_hdr) == 64, "journal format");
static_assert(offsetof(struct jseg_hdr, channel_id) == 24, "journal format");
static_assert(offsetof(struct jseg_hdr, base_pos) == 32, "journal format");
static_assert(offsetof(struct jseg_hdr, salt) == 48, "journal format");
static_assert(offsetof(struct jseg_hdr, hdr_crc) == 60, "journal format");

/* Record types: bits 7..0 of the word. */
enum jrec_type {
	JREC_MSG = 1,	     /* a message, as published */
	JREC_GAP = 2,	     /* pos: the first lost offset; timestamp_ns: how many */
	JREC_CHECKPOINT = 3, /* pos: durable_pos; body: struct jrec_ckpt */
	JREC_SEAL = 4,	     /* pos: the next offset; the segment ends here */
};

/* The body of a CHECKPOINT, after its record header. */
struct jrec_ckpt {
	uint64_t salt;	   /* the segment's */
	uint64_t file_off; /* this record's own offset in the file */
	uint64_t next_pos; /* the offset of the record that follows */
	uint64_t zero;
};
static_assert(REC_HDR_BYTES + sizeof(struct jrec_ckpt) == JREC_CKPT_BYTES, "journal format");

/* The position-free word: units << 32 | flags << 8 | type. */
static inline uint64_t jrec_word(unsigned type, unsigned flags, uint64_t rec_bytes)
{
	return (rec_bytes / REC_ALIGN) << 32 | (uint64_t)(flags & 0xff) << 8 | (type & 0xff);
}

/* ---- writing ---- */

/* Fill hdr (and zero the rest of its JSEG_HDR_BYTES at out). */
void journal_seg_hdr_make(void *out, uint64_t channel_id, uint64_t base_pos, uint64_t seg_bytes,
			  uint64_t salt);

/* "<base_pos, 20 digits>.seg" into name[JSEG_NAME_BYTES]. */
void journal_seg_name(uint64_t base_pos, char *name);

/* A segment file name's base_pos: 0, or -SHMQ_EINVAL if name is not one. */
int journal_seg_name_parse(const char *name, uint64_t *base_pos);

/* Bytes a MSG record of len payload and ext extension bytes takes. */
static inline uint64_t journal_msg_bytes(uint32_t len, uint32_t ext_bytes)
{
	return rec_bytes_for(len, ext_bytes);
}

/*
 * Encode a MSG at out (journal_msg_bytes() of room): flags are the ring
 * record's REC_F_* (others dropped), ext_bytes (0: none) then len bytes,
 * padding zeroed, crc filled. Returns the record's bytes.
 */
uint64_t journal_put_msg(void *out, uint64_t pos, uint64_t timestamp_ns, unsigned flags,
			 const void *ext, uint32_t ext_bytes, const void *data, uint32_t len);

/* A GAP of count messages from first (1 <= count <= JREC_GAP_MAX). Returns 32. */
uint64_t journal_put_gap(void *out, uint64_t first, uint64_t count);

/* A CHECKPOINT written at file_off of a segment with salt. Returns JREC_CKPT_BYTES. */
uint64_t journal_put_checkpoint(void *out, uint64_t durable_pos, uint64_t next_pos,
				uint64_t file_off, uint64_t salt, uint64_t now_ns);

/* A SEAL: the next segment starts at next_pos. Returns 32. */
uint64_t journal_put_seal(void *out, uint64_t next_pos, uint64_t now_ns);

/* ---- reading (untrusted bytes) ---- */

/*
 * Validate a segment header (len bytes at buf, at least JSEG_HDR_BYTES) and
 * copy it to *out: 0; -SHMQ_EVERSION for a newer version or an incompat
 * bit this code does not know (*out filled: the caller may say which);
 * -SHMQ_ECORRUPT for anything else (magic, size, checksum, geometry,
 * non-zero reserved bytes).
 */
int journal_seg_hdr_check(const void *buf, uint64_t len, struct jseg_hdr *out);

/* How a scan ended. */
enum journal_stop {
	JSTOP_END = 1,	  /* the data ends at a record boundary (zeros or the buffer's end) */
	JSTOP_SEALED = 2, /* at a SEAL */
	JSTOP_TORN = 3,	  /* at a bad record no checkpoint follows: a torn tail */
};

/* What the first bad record (of a tail or a corrupt span) failed. */
enum journal_why {
	JWHY_NONE = 0,
	JWHY_SHORT = 1,	 /* runs past the data */
	JWHY_WORD = 2,	 /* unknown type or flags, reserved bits set */
	JWHY_LENGTH = 3, /* a length out of bounds or not what the type needs */
	JWHY_CRC = 4,	 /* checksum mismatch */
	JWHY_POS = 5,	 /* an offset that does not follow the last */
	JWHY_EXT = 6,	 /* an extension area that does not parse */
	JWHY_HOLE = 7,	 /* zeros where a record should be, data after them */
	JWHY_CKPT = 8,	 /* a checkpoint that does not match its segment or place */
};

/* What journal_scan() found. */
struct journal_scan {
	struct jseg_hdr hdr;
	uint64_t next_pos;    /* the offset after the last good record */
	uint64_t good_bytes;  /* the file offset after it: where a torn tail is cut */
	uint64_t torn_end;    /* JSTOP_TORN: 1 + the last non-zero byte (bytes cut: - good_bytes) */
	uint64_t ckpt_pos;    /* durable_pos of the last checkpoint (0: none) */
	uint64_t ckpt_off;    /* its file offset (0: none) */
	uint64_t msgs;	      /* MSG records read */
	uint64_t lost;	      /* messages the GAP records count */
	uint64_t corrupt;     /* corrupt spans (below a checkpoint) */
	uint64_t corrupt_off; /* the first: its bytes [off, end) */
	uint64_t corrupt_end; /* (where the checkpoint that follows it starts) */
	uint64_t corrupt_pos; /* the offset where damage starts */
	uint64_t corrupt_next; /* the offset the checkpoint after it names */
	uint32_t stop;	       /* enum journal_stop */
	uint32_t why;	       /* enum journal_why of the torn tail */
	uint32_t corrupt_why;  /* enum journal_why of the first corrupt span */
	uint32_t pad;
};

/*
 * Scan the len bytes of a segment file at buf (header included); records
 * larger than max_record_bytes (0: the largest any channel has) are bad.
 * Past a bad record it looks ahead_bytes (0: to the end) for a checkpoint
 * or any data: the writer puts a checkpoint at least every sync window,
 * so a window that covers the most a crash can leave unsynced is enough,
 * and a preallocated segment's zeros are not all read.
 * 0 and *out (a bad record ends the scan as a torn tail, or, if a valid
 * checkpoint of this segment follows it, counts as corruption and the scan
 * goes on from that checkpoint); or journal_seg_hdr_check()'s error.
 */
int journal_scan(const void *buf, uint64_t len, uint64_t max_record_bytes, uint64_t ahead_bytes,
		 struct journal_scan *out);

/* A word for a why: "crc", "torn", ... */
const char *journal_why_name(uint32_t why);

#endif
