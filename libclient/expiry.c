/*
 * expiry.c - the expiry check of a record with header fields (expiry.h).
 * The area comes from a publisher, who is trusted with content: its head
 * and the one field are loaded once and bounded by the record's area; a
 * value out of bounds means "not expired", so that the message reaches
 * the application, whose shmq_msg_fields() says what is wrong with it.
 */
#include "expiry.h"

#include <string.h>

#include "ext.h"

bool expiry_passed(struct expiry *x, const struct log_view *v, const struct log_rec *rec,
		   uint64_t skip_below)
{
	struct ext_head head;
	uint64_t at;
	uint32_t off;

	if (x->deliver || rec->pos < skip_below || rec->ext_bytes < EXT_HEAD_BYTES)
		return false;
	memcpy(&head, rec->ext, sizeof(head));
	if (!(head.present & EXT_EXPIRY) || head.ext_bytes > rec->ext_bytes)
		return false;
	/* the fixed fields before it, in bit order */
	off = EXT_HEAD_BYTES + 8u * (uint32_t)__builtin_popcount(head.present & (EXT_EXPIRY - 1));
	if (off + 8u > head.ext_bytes)
		return false;
	memcpy(&at, rec->ext + off, sizeof(at));
	if (at > log_timestamp(v))
		return false;
	/* drop: a later lap may have written what we read; then the record
	 * is not this message any more, and the reader's own checks say so */
	if (v->policy != SHMQ_POLICY_BLOCK && !log_verify(v, rec))
		return false;
	x->count++;
	return true;
}
