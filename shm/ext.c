/*
 * ext.c - encode and decode a record's extension area (see ext.h for the
 * layout). The writer trusts what ext_size() validated; the reader trusts
 * nothing: every load from the area goes through a cursor that knows the
 * area's end, each length is copied into a local once and bounded before
 * use, and every loop runs at most EXT_HEADERS_MAX times.
 */
#include "ext.h"

#include <stddef.h>
#include <string.h>

#define EXT_VAR_FIELDS 3 /* key, reply_to, content_type: u16 len + bytes */

/* Reading position in an area: 0 <= off <= end, end <= what may be read. */
struct ext_cur {
	const uint8_t *base;
	uint32_t off;
	uint32_t end;
};

static const uint32_t ext_var_bit[EXT_VAR_FIELDS] = {EXT_KEY, EXT_REPLY_TO, EXT_CONTENT_TYPE};
static const uint32_t ext_var_max[EXT_VAR_FIELDS] = {EXT_KEY_MAX, EXT_REPLY_TO_MAX,
						     EXT_CONTENT_TYPE_MAX};

static uint32_t ext_round8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

uint32_t ext_hash(const void *key, uint32_t len)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261u;

	for (uint32_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h ? h : 1;
}

/* ---- sizing and writing (publisher, trusted input after ext_size) ---- */

/* Add a u16-length field of 1..max bytes to *n. */
static int ext_size_blob(const void *p, uint32_t len, uint32_t max, uint32_t *n)
{
	if (!p || len == 0 || len > max)
		return -SHMQ_EINVAL;
	*n += 2 + len;
	return 0;
}

static int ext_size_headers(const struct ext_kv *h, uint32_t nheaders, uint32_t *n)
{
	if (!h || nheaders == 0 || nheaders > EXT_HEADERS_MAX)
		return -SHMQ_EINVAL;
	*n += 2;
	for (uint32_t i = 0; i < nheaders; i++) {
		if (!h[i].name || h[i].name_len == 0 || h[i].name_len > EXT_HEADER_NAME_MAX)
			return -SHMQ_EINVAL;
		if ((!h[i].value && h[i].value_len) || h[i].value_len > EXT_HEADER_VALUE_MAX)
			return -SHMQ_EINVAL;
		*n += 4 + h[i].name_len + h[i].value_len;
	}
	return 0;
}

/* Bytes used before padding; n stays far below 2^32 as each part is bounded first. */
static int ext_size_fields(const struct ext_in *in, uint32_t *n)
{
	uint32_t present = in->present;
	int err = 0;

	*n = EXT_HEAD_BYTES + 8u * (uint32_t)__builtin_popcount(present & EXT_FIXED_MASK);
	if (present & EXT_KEY)
		err = ext_size_blob(in->key, in->key_len, EXT_KEY_MAX, n);
	if (!err && (present & EXT_REPLY_TO)) {
		err = ext_size_blob(in->reply_to, in->reply_to_len, EXT_REPLY_TO_MAX, n);
		if (!err && memchr(in->reply_to, 0, in->reply_to_len))
			err = -SHMQ_EINVAL;
	}
	if (!err && (present & EXT_CONTENT_TYPE))
		err =
		    ext_size_blob(in->content_type, in->content_type_len, EXT_CONTENT_TYPE_MAX, n);
	if (!err && (present & EXT_HEADERS))
		err = ext_size_headers(in->headers, in->nheaders, n);
	return err;
}

int ext_size(const struct ext_in *in, uint32_t *bytes)
{
	uint32_t n;
	int err;

	if (!in || !bytes || (in->present & ~EXT_KNOWN_MASK))
		return -SHMQ_EINVAL;
	if (in->present == 0) {
		*bytes = 0;
		return 0;
	}
	err = ext_size_fields(in, &n);
	if (err)
		return err;
	n = ext_round8(n);
	if (n > EXT_MAX_BYTES)
		return -SHMQ_ETOOBIG;
	*bytes = n;
	return 0;
}

static uint32_t ext_put(uint8_t *dst, uint32_t off, const void *p, uint32_t len)
{
	if (len)
		memcpy(dst + off, p, len);
	return off + len;
}

static uint32_t ext_put_u16(uint8_t *dst, uint32_t off, uint32_t v)
{
	uint16_t w = (uint16_t)v;

	return ext_put(dst, off, &w, sizeof(w));
}

static uint32_t ext_write_headers(uint8_t *dst, uint32_t off, const struct ext_kv *h,
				  uint32_t nheaders)
{
	off = ext_put_u16(dst, off, nheaders);
	for (uint32_t i = 0; i < nheaders; i++) {
		off = ext_put_u16(dst, off, h[i].name_len);
		off = ext_put_u16(dst, off, h[i].value_len);
		off = ext_put(dst, off, h[i].name, h[i].name_len);
		off = ext_put(dst, off, h[i].value, h[i].value_len);
	}
	return off;
}

void ext_write(uint8_t *dst, const struct ext_in *in, uint32_t bytes)
{
	const uint64_t fixed[4] = {in->msg_id, in->corr_id, in->deliver_at_ns, in->expiry_ns};
	const void *var[EXT_VAR_FIELDS] = {in->key, in->reply_to, in->content_type};
	const uint32_t var_len[EXT_VAR_FIELDS] = {in->key_len, in->reply_to_len,
						  in->content_type_len};
	struct ext_head head = {.ext_bytes = (uint16_t)bytes, .present = (uint16_t)in->present};
	uint32_t off = EXT_HEAD_BYTES;

	if (bytes == 0)
		return;
	if (in->present & EXT_KEY)
		head.key_hash = ext_hash(in->key, in->key_len);
	memcpy(dst, &head, sizeof(head));
	for (unsigned i = 0; i < 4; i++)
		if (in->present & (1u << i))
			off = ext_put(dst, off, &fixed[i], sizeof(fixed[i]));
	for (unsigned i = 0; i < EXT_VAR_FIELDS; i++) {
		if (!(in->present & ext_var_bit[i]))
			continue;
		off = ext_put_u16(dst, off, var_len[i]);
		off = ext_put(dst, off, var[i], var_len[i]);
	}
	if (in->present & EXT_HEADERS)
		off = ext_write_headers(dst, off, in->headers, in->nheaders);
	assert(ext_round8(off) == bytes); /* bytes came from ext_size(in) */
	memset(dst + off, 0, bytes - off);
}

/* ---- parsing (reader, untrusted input) ---- */

static int ext_read_u16(struct ext_cur *c, uint32_t *v)
{
	uint16_t w;

	if (c->end - c->off < sizeof(w))
		return -SHMQ_ECORRUPT;
	memcpy(&w, c->base + c->off, sizeof(w));
	c->off += sizeof(w);
	*v = w;
	return 0;
}

/* A u16 length of min..max, then that many bytes, all inside the area. */
static int ext_read_blob(struct ext_cur *c, uint32_t min, uint32_t max, const uint8_t **p,
			 uint32_t *len)
{
	uint32_t n;

	if (ext_read_u16(c, &n) || n < min || n > max || c->end - c->off < n)
		return -SHMQ_ECORRUPT;
	*p = c->base + c->off;
	*len = n;
	c->off += n;
	return 0;
}

/* One header entry: both lengths loaded once, bounded, then the bytes. */
static int ext_read_kv(struct ext_cur *c, struct ext_kv *kv)
{
	uint32_t name_len, value_len;

	if (ext_read_u16(c, &name_len) || ext_read_u16(c, &value_len))
		return -SHMQ_ECORRUPT;
	if (name_len == 0 || name_len > EXT_HEADER_NAME_MAX || value_len > EXT_HEADER_VALUE_MAX)
		return -SHMQ_ECORRUPT;
	if (c->end - c->off < name_len + value_len)
		return -SHMQ_ECORRUPT;
	kv->name = (const char *)(c->base + c->off);
	kv->name_len = name_len;
	kv->value = c->base + c->off + name_len;
	kv->value_len = value_len;
	c->off += name_len + value_len;
	return 0;
}

static int ext_parse_headers(struct ext_cur *c, struct ext_view *out)
{
	struct ext_kv kv;
	uint32_t count, start;

	if (ext_read_u16(c, &count) || count == 0 || count > EXT_HEADERS_MAX)
		return -SHMQ_ECORRUPT;
	start = c->off;
	for (uint32_t i = 0; i < count; i++)
		if (ext_read_kv(c, &kv))
			return -SHMQ_ECORRUPT;
	out->headers = c->base + start;
	out->headers_bytes = c->off - start;
	out->nheaders = count;
	return 0;
}

static int ext_parse_fixed(struct ext_cur *c, struct ext_view *out)
{
	uint64_t *fixed[4] = {&out->msg_id, &out->corr_id, &out->deliver_at_ns, &out->expiry_ns};

	for (unsigned i = 0; i < 4; i++) {
		if (!(out->present & (1u << i)))
			continue;
		if (c->end - c->off < sizeof(uint64_t))
			return -SHMQ_ECORRUPT;
		memcpy(fixed[i], c->base + c->off, sizeof(uint64_t));
		c->off += sizeof(uint64_t);
	}
	return 0;
}

static int ext_parse_var(struct ext_cur *c, struct ext_view *out)
{
	const uint8_t *p[EXT_VAR_FIELDS] = {NULL};
	uint32_t len[EXT_VAR_FIELDS] = {0};

	for (unsigned i = 0; i < EXT_VAR_FIELDS; i++) {
		if (!(out->present & ext_var_bit[i]))
			continue;
		if (ext_read_blob(c, 1, ext_var_max[i], &p[i], &len[i]))
			return -SHMQ_ECORRUPT;
	}
	out->key = p[0];
	out->key_len = len[0];
	out->reply_to = (const char *)p[1];
	out->reply_to_len = len[1];
	out->content_type = (const char *)p[2];
	out->content_type_len = len[2];
	if (out->present & EXT_HEADERS)
		return ext_parse_headers(c, out);
	return 0;
}

/* What follows the fields, and what no field could check alone. */
static int ext_parse_check(const struct ext_cur *c, const struct ext_view *out)
{
	uint32_t hash = 0;

	if (ext_round8(c->off) != c->end)
		return -SHMQ_ECORRUPT;
	for (uint32_t i = c->off; i < c->end; i++)
		if (c->base[i])
			return -SHMQ_ECORRUPT;
	if (out->reply_to && memchr(out->reply_to, 0, out->reply_to_len))
		return -SHMQ_ECORRUPT;
	if (out->present & EXT_KEY)
		hash = ext_hash(out->key, out->key_len);
	return hash == out->key_hash ? 0 : -SHMQ_ECORRUPT;
}

int ext_parse(const uint8_t *src, uint32_t avail, struct ext_view *out)
{
	struct ext_head head;
	struct ext_cur c;
	int err;

	*out = (struct ext_view){0};
	if (!src || avail < EXT_HEAD_BYTES)
		return -SHMQ_ECORRUPT;
	memcpy(&head, src, sizeof(head)); /* the one load of ext_bytes and present */
	if (head.ext_bytes <= EXT_HEAD_BYTES || head.ext_bytes % 8 ||
	    head.ext_bytes > EXT_MAX_BYTES || head.ext_bytes > avail)
		return -SHMQ_ECORRUPT;
	if (head.present == 0 || (head.present & ~EXT_KNOWN_MASK))
		return -SHMQ_ECORRUPT;
	out->present = head.present;
	out->ext_bytes = head.ext_bytes;
	out->key_hash = head.key_hash;
	c = (struct ext_cur){.base = src, .off = EXT_HEAD_BYTES, .end = head.ext_bytes};
	err = ext_parse_fixed(&c, out);
	if (!err)
		err = ext_parse_var(&c, out);
	if (!err)
		err = ext_parse_check(&c, out);
	if (err)
		*out = (struct ext_view){0};
	return err;
}

/* ---- user headers of a parsed view (re-checked: the record may change) ---- */

/* A cursor over the view's entries; -SHMQ_ECORRUPT if the view is not one ext_parse() makes. */
static int ext_headers_cur(const struct ext_view *v, struct ext_cur *c)
{
	if (!v->headers || v->nheaders > EXT_HEADERS_MAX || v->headers_bytes > EXT_MAX_BYTES)
		return -SHMQ_ECORRUPT;
	*c = (struct ext_cur){.base = v->headers, .off = 0, .end = v->headers_bytes};
	return 0;
}

int ext_header_at(const struct ext_view *v, uint32_t i, struct ext_kv *out)
{
	struct ext_cur c;
	struct ext_kv kv = {0};

	if (!v || !out || i >= v->nheaders)
		return -SHMQ_EINVAL;
	if (ext_headers_cur(v, &c))
		return -SHMQ_ECORRUPT;
	for (uint32_t k = 0; k <= i; k++)
		if (ext_read_kv(&c, &kv))
			return -SHMQ_ECORRUPT;
	*out = kv;
	return 0;
}

int ext_header_find(const struct ext_view *v, const char *name, uint32_t name_len,
		    struct ext_kv *out)
{
	struct ext_cur c;
	struct ext_kv kv;

	if (!v || !out || !name || name_len == 0 || name_len > EXT_HEADER_NAME_MAX)
		return -SHMQ_EINVAL;
	if (v->nheaders == 0)
		return -SHMQ_ENOENT;
	if (ext_headers_cur(v, &c))
		return -SHMQ_ECORRUPT;
	for (uint32_t k = 0; k < v->nheaders; k++) {
		if (ext_read_kv(&c, &kv))
			return -SHMQ_ECORRUPT;
		if (kv.name_len == name_len && memcmp(kv.name, name, name_len) == 0) {
			*out = kv;
			return 0;
		}
	}
	return -SHMQ_ENOENT;
}
