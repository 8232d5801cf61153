/*
 * fields.c - the optional header fields of received messages: decoded in
 * place from the record's extension area (shm/ext.h), never copied. The
 * area is in shared memory that a publisher may be rewriting (drop
 * channels) or may have written wrongly: every call checks it again and
 * returns -SHMQ_ECORRUPT rather than trusting it. Any thread.
 */
#include <string.h>

#include "ext.h"
#include "internal.h"

static int view_of(const struct shmq_msg *msg, struct ext_view *v)
{
	if (!msg->ext_bytes) {
		*v = (struct ext_view){0};
		return 0;
	}
	if (!msg->ext)
		return -SHMQ_EINVAL;
	return ext_parse(msg->ext, msg->ext_bytes, v);
}

SHMQ_EXPORT int shmq_msg_fields(const struct shmq_msg *msg, struct shmq_msg_fields *out)
{
	struct ext_view v;
	int err;

	if (!msg || !out)
		return -SHMQ_EINVAL;
	err = view_of(msg, &v);
	if (err)
		return err;
	*out = (struct shmq_msg_fields){
	    .fields = v.present,
	    .key_hash = v.key_hash,
	    .msg_id = v.msg_id,
	    .corr_id = v.corr_id,
	    .deliver_at_ns = v.deliver_at_ns,
	    .expiry_ns = v.expiry_ns,
	    .key = v.key,
	    .key_len = v.key_len,
	    .reply_to = v.reply_to,
	    .reply_to_len = v.reply_to_len,
	    .content_type = v.content_type,
	    .content_type_len = v.content_type_len,
	    .nheaders = v.nheaders,
	};
	return 0;
}

SHMQ_EXPORT int shmq_msg_header(const struct shmq_msg *msg, uint32_t i, struct shmq_header *out)
{
	struct ext_view v;
	struct ext_kv kv;
	int err;

	if (!msg || !out)
		return -SHMQ_EINVAL;
	err = view_of(msg, &v);
	if (!err)
		err = ext_header_at(&v, i, &kv);
	if (err)
		return err;
	*out = (struct shmq_header){kv.name, kv.name_len, kv.value, kv.value_len};
	return 0;
}

SHMQ_EXPORT int shmq_msg_header_find(const struct shmq_msg *msg, const char *name,
				     struct shmq_header *out)
{
	struct ext_view v;
	struct ext_kv kv;
	int err;

	if (!msg || !name || !out)
		return -SHMQ_EINVAL;
	err = view_of(msg, &v);
	if (err)
		return err;
	if (!(v.present & EXT_HEADERS))
		return -SHMQ_ENOENT;
	err = ext_header_find(&v, name, (uint32_t)strnlen(name, EXT_HEADER_NAME_MAX + 1), &kv);
	if (err)
		return err;
	*out = (struct shmq_header){kv.name, kv.name_len, kv.value, kv.value_len};
	return 0;
}

SHMQ_EXPORT uint32_t shmq_key_hash(const void *key, uint32_t len)
{
	return key || !len ? ext_hash(key, len) : 0;
}
