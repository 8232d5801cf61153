/*
 * dedupe_seg.c - the duplicate table segment of a channel (see
 * dedupe_seg.h). The daemon formats it and never reads it again: the
 * table is the publishers' (they may scribble on it; only dedupe on that
 * channel suffers).
 */
#include "dedupe_seg.h"

#include <stdio.h>
#include <unistd.h>

#include "dedupe.h"
#include "map.h"
#include "segment.h"
#include "shmq_err.h"

int dedupe_slots_check(uint32_t n)
{
	if (!n)
		return 0;
	if (n < DEDUPE_SLOTS_MIN || n > DEDUPE_SLOTS_MAX || (n & (n - 1)))
		return -SHMQ_EINVAL;
	return 0;
}

int dedupe_seg_create(struct channel *ch, uint32_t window_s)
{
	uint64_t bytes = dedupe_seg_bytes(ch->g.dedupe_slots);
	char name[256];
	int err;

	snprintf(name, sizeof(name), "shmq.%s.u", ch->name);
	err = segment_create(name, bytes, ch->numa_node, &ch->dd_fd, &ch->dd, &bytes);
	if (err)
		return err;
	ch->dd_bytes = bytes;
	err = dedupe_format(ch->dd, bytes, ch->id, ch->g.dedupe_slots,
			    window_s ? window_s * 1000000000ull : DEDUPE_WINDOW_NS);
	if (err)
		return err;
	/* plain: no client holds the data segment yet; libraries that do not
	 * know the table refuse the channel (log_attach()) */
	((struct data_hdr *)ch->data)->incompat |= FEAT_INCOMPAT_DEDUPE;
	return 0;
}

int dedupe_seg_adopt(struct channel *ch, int fd)
{
	struct dedupe_view v;
	uint64_t bytes;

	ch->dd_fd = fd;
	if (!segment_is_ours(fd, dedupe_seg_bytes(ch->g.dedupe_slots)) ||
	    map_fd(fd, true, &ch->dd, &bytes))
		return -SHMQ_ECORRUPT;
	ch->dd_bytes = bytes;
	return dedupe_attach(&v, ch->dd, bytes, ch->id) ? -SHMQ_ECORRUPT : 0;
}

void dedupe_seg_free(struct channel *ch)
{
	if (ch->dd)
		map_release(ch->dd, ch->dd_bytes);
	if (ch->dd_fd >= 0)
		close(ch->dd_fd);
	ch->dd = NULL;
	ch->dd_fd = -1;
}
