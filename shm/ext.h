/*
 * ext.h - a record's optional header fields ("extensions"): message id,
 * correlation id, delivery and expiry times, partition key, reply-to channel,
 * content type and user headers. The area sits between the 32-byte record
 * header and the payload, only when the record carries REC_F_EXT, so a
 * message without extensions pays nothing.
 * Publishers size the area with ext_size() and fill their claimed record with
 * ext_write(). Readers call ext_parse() on bytes a hostile or dying peer may
 * have written: it reads only inside [src, src + avail), loads each length
 * once, bounds every loop and answers 0 or -SHMQ_ECORRUPT, never asserts.
 * A view points into the record and is only as good as the record: callers
 * that may be lapped re-check the record before trusting what they copied.
 * Pure functions: no system calls, allocation or locks; any thread may call.
 */
#ifndef SHM_EXT_H
#define SHM_EXT_H

#include <assert.h>
#include <stdint.h>

#include "name.h"
#include "shmq_err.h"

/*
 * Wire layout, host byte order, starting 8-byte aligned (after the record
 * header). F is the number of fixed fields present.
 *
 *   Offset  Size  Field
 *   0       2     ext_bytes: the whole area with this head; a multiple of 8,
 *                 8 < ext_bytes <= EXT_MAX_BYTES
 *   2       2     present: EXT_* bits, never zero; bits >= 8 are corrupt
 *   4       4     key_hash: ext_hash() of the key if EXT_KEY, else 0
 *   8       8*F   u64 fixed fields present, in bit order: EXT_MSG_ID,
 *                 EXT_CORR_ID, EXT_DELIVER_AT, EXT_EXPIRY
 *   8+8*F   var   variable fields present, in bit order, no padding between:
 *                   EXT_KEY           u16 len (1..1024), len bytes
 *                   EXT_REPLY_TO      u16 len (1..200), channel name, no NUL
 *                   EXT_CONTENT_TYPE  u16 len (1..255), len bytes
 *                   EXT_HEADERS       u16 count (1..16), then count entries:
 *                                     u16 name_len (1..255), u16 value_len
 *                                     (0..1024), name bytes, value bytes
 *   end     0..7  zero padding; ext_bytes is end rounded up to 8, exactly
 */
#define EXT_MSG_ID 0x01u       /* u64 message id, for duplicate detection */
#define EXT_CORR_ID 0x02u      /* u64 correlation id */
#define EXT_DELIVER_AT 0x04u   /* u64 ns, CLOCK_REALTIME: not before */
#define EXT_EXPIRY 0x08u       /* u64 ns, CLOCK_REALTIME: not after */
#define EXT_KEY 0x10u	       /* partition key, hashed into key_hash */
#define EXT_REPLY_TO 0x20u     /* channel name to reply on */
#define EXT_CONTENT_TYPE 0x40u /* e.g. "application/json" */
#define EXT_HEADERS 0x80u      /* user (name, value) pairs */
#define EXT_FIXED_MASK 0x0fu
#define EXT_KNOWN_MASK 0xffu

#define EXT_HEAD_BYTES 8u
#define EXT_MAX_BYTES 4096u /* equals REC_EXT_MAX of layout.h */
#define EXT_KEY_MAX 1024u
#define EXT_REPLY_TO_MAX (NAME_BYTES - 1u) /* a channel name */
#define EXT_CONTENT_TYPE_MAX 255u
#define EXT_HEADERS_MAX 16u
#define EXT_HEADER_NAME_MAX 255u
#define EXT_HEADER_VALUE_MAX 1024u

/* The head, offset 0 of the area; read and written with memcpy. */
struct ext_head {
	uint16_t ext_bytes;
	uint16_t present;
	uint32_t key_hash;
};
static_assert(sizeof(struct ext_head) == EXT_HEAD_BYTES, "shm ABI");

/* One user header; name and value point into caller memory or the record. */
struct ext_kv {
	const char *name;
	uint32_t name_len;
	const void *value;
	uint32_t value_len;
};

/* What a publisher supplies; fields whose bit is clear are ignored. */
struct ext_in {
	uint32_t present; /* EXT_* bits */
	uint64_t msg_id, corr_id, deliver_at_ns, expiry_ns;
	const void *key;
	uint32_t key_len;
	const char *reply_to;
	uint32_t reply_to_len;
	const char *content_type;
	uint32_t content_type_len;
	const struct ext_kv *headers;
	uint32_t nheaders;
};

/* What a reader gets; pointers into the record, valid as long as the record. */
struct ext_view {
	uint32_t present;
	uint32_t ext_bytes;
	uint32_t key_hash;
	uint64_t msg_id, corr_id, deliver_at_ns, expiry_ns;
	const uint8_t *key;
	uint32_t key_len;
	const char *reply_to;
	uint32_t reply_to_len;
	const char *content_type;
	uint32_t content_type_len;
	const uint8_t *headers; /* the entries after the count, for ext_header_at() */
	uint32_t headers_bytes;
	uint32_t nheaders;
};

/*
 * Size of the area that encodes in: 0 with *bytes set (0 when present is 0).
 * -SHMQ_EINVAL for a bad field: an unknown bit, a NULL pointer with a
 * non-zero length, a length out of its range, a NUL inside reply_to.
 * -SHMQ_ETOOBIG if the area would exceed EXT_MAX_BYTES.
 */
int ext_size(const struct ext_in *in, uint32_t *bytes);

/* Write the area of in, exactly bytes (from ext_size()), padding included. */
void ext_write(uint8_t *dst, const struct ext_in *in, uint32_t bytes);

/*
 * Decode the area at src, of which avail bytes may be read. 0 and *out, or
 * -SHMQ_ECORRUPT (and *out zeroed) unless: ext_bytes <= avail and exactly as
 * an honest writer sizes it, present non-zero with known bits only, every
 * length in range and inside the area, padding zero, key_hash right.
 */
int ext_parse(const uint8_t *src, uint32_t avail, struct ext_view *out);

/*
 * The i-th user header of a view from ext_parse(). Re-checks the entries up
 * to i, as the record may have changed since: -SHMQ_EINVAL if i >= nheaders,
 * -SHMQ_ECORRUPT if malformed.
 */
int ext_header_at(const struct ext_view *v, uint32_t i, struct ext_kv *out);

/* First user header named name: 0, -SHMQ_ENOENT, -SHMQ_EINVAL or -SHMQ_ECORRUPT. */
int ext_header_find(const struct ext_view *v, const char *name, uint32_t name_len,
		    struct ext_kv *out);

/*
 * 32-bit FNV-1a of key (offset basis 2166136261, prime 16777619), except
 * that 0 becomes 1 so that a stored key_hash of 0 always means "no key".
 * Publishers and readers pick partitions with it: never change it.
 */
uint32_t ext_hash(const void *key, uint32_t len);

#endif
