/*
 * fuzz_dedupe.c - libFuzzer target: what a hostile publisher can put in a
 * channel's duplicate table (shm/dedupe.c), read back by honest
 * publishers. A table of 64 slots lives in heap memory, so that
 * AddressSanitizer catches an access past it; each input is a script:
 *   0 poke     [off u16][n u8] n input bytes into the table at off (header
 *              included; attach is tried again after a header poke)
 *   1 reserve  [id u8][owner u8][now u32] and, if reserved, [op u8]: even
 *              commits [pos u32], odd releases
 *   2 alive    [mask u64] which publisher slots live() calls alive
 * Every reserve must return one of its documented codes and a slot index
 * inside the table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dedupe.h"
#include "fuzz_input.h"
#include "shmq_err.h"

#define SLOTS 64u
#define CHAN 7u

static bool live_mask(void *arg, struct dedupe_owner who)
{
	const uint64_t *mask = arg;

	return who.slot < 64 && (*mask >> who.slot & 1) && who.gen == 1;
}

static void step_reserve(const struct dedupe_view *v, struct in *in, const uint64_t *alive)
{
	uint64_t id = take(in, 1), now = take(in, 4) * 1000u, pos = 0;
	struct dedupe_owner who = {(uint32_t)take(in, 1) % 64, 1};
	uint32_t at = 0;
	int err = dedupe_reserve(v, id, who, now, live_mask, (void *)alive, &at, &pos);

	if (err != 0 && err != -SHMQ_EDUPLICATE && err != -SHMQ_EAGAIN && err != -SHMQ_ELIMIT)
		abort();
	if (err)
		return;
	if (at > v->mask)
		abort();
	if (take(in, 1) % 2 == 0)
		dedupe_commit(v, at, id, who, take(in, 4), now);
	else
		dedupe_release(v, at, id, who);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t bytes = dedupe_seg_bytes(SLOTS), alive = ~0ull;
	struct in in = {data, size};
	struct dedupe_view v;
	uint8_t *base = aligned_alloc(64, bytes);
	bool attached;

	if (!base)
		return 0;
	memset(base, 0, bytes);
	if (dedupe_format(base, bytes, CHAN, SLOTS, 1000000000ull))
		abort();
	attached = dedupe_attach(&v, base, bytes, CHAN) == 0;
	for (unsigned steps = 0; in.n && steps < 256; steps++) {
		uint64_t op = take(&in, 1) % 3;

		if (op == 0) {
			uint64_t off = take(&in, 2) % bytes, n = take(&in, 1);

			for (uint64_t i = 0; i < n && off + i < bytes; i++)
				base[off + i] = (uint8_t)take(&in, 1);
			if (off < DEDUPE_HDR_BYTES) /* an honest publisher attaches once; a
						     * new one would see this header */
				attached = dedupe_attach(&v, base, bytes, CHAN) == 0;
		} else if (op == 1 && attached) {
			step_reserve(&v, &in, &alive);
		} else if (op == 2) {
			alive = take(&in, 8);
		}
	}
	free(base);
	return 0;
}
