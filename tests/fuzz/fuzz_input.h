/*
 * fuzz_input.h - a fuzz target's input read as a stream of little-endian
 * integers: each take() consumes up to 8 bytes, and an input that ran out
 * reads as zeros. Shared by the targets that steer steps from their input.
 */
#ifndef TESTS_FUZZ_INPUT_H
#define TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct in {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t take(struct in *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)in->p[0] << (8 * i);
	return v;
}

#endif
