/*
 * fuzz_routing.c - libFuzzer target: routing's two parsers of untrusted
 * bytes. The first input byte chooses:
 *   even: a pattern and a name, split at the first NUL: pattern_check() and
 *         name_check() on them, and, when both are valid, pattern_match()
 *         against a plain recursive reference of the NATS rules (a
 *         difference aborts);
 *   odd:  the rest is a record's extension area, as a hostile publisher
 *         may write it, copied to a buffer of exactly its size (so that
 *         AddressSanitizer sees a read past it): every kind of filter term
 *         is evaluated on it, alone and together.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ext.h"
#include "filter.h"
#include "name.h"
#include "pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference: token by token, recursively. */
static bool ref_match(const char *p, const char *n)
{
	size_t pl = strcspn(p, "."), nl = strcspn(n, ".");

	if (pl == 1 && p[0] == '>')
		return nl > 0;
	if (!(pl == 1 && p[0] == '*') && (pl != nl || strncmp(p, n, pl)))
		return false;
	if (!p[pl] || !n[nl])
		return !p[pl] && !n[nl];
	return ref_match(p + pl + 1, n + nl + 1);
}

static void fuzz_pattern(const uint8_t *data, size_t size)
{
	char buf[2 * NAME_BYTES + 2] = {0}, *name;
	size_t n = size < sizeof(buf) - 2 ? size : sizeof(buf) - 2;

	memcpy(buf, data, n);
	name = buf + strlen(buf) + 1;
	(void)pattern_why(buf);
	if (pattern_check(buf) || name_check(name))
		return;
	if (pattern_match(buf, name) != ref_match(buf, name))
		abort();
}

static void fuzz_filter(const uint8_t *data, size_t size)
{
	static const struct shmq_filter_term terms[] = {
	    {.kind = SHMQ_FILTER_KEY_EQ, .value = "k1", .value_len = 2},
	    {.kind = SHMQ_FILTER_KEY_PREFIX, .value = "k", .value_len = 1},
	    {.kind = SHMQ_FILTER_KEY_HASH, .buckets = 7, .lo = 1, .hi = 5},
	    {.kind = SHMQ_FILTER_HEADER_EQ, .name = "h", .value = "v", .value_len = 1},
	    {.kind = SHMQ_FILTER_HEADER_HAS, .name = "h"},
	    {.kind = SHMQ_FILTER_CONTENT_TYPE, .value = "t", .value_len = 1},
	};
	uint8_t *area = malloc(size ? size : 1);
	struct filter *f;

	if (!area)
		return;
	memcpy(area, data, size);
	for (uint32_t i = 0; i <= 6; i++) {
		struct shmq_filter in = {i < 6 ? &terms[i] : terms, i < 6 ? 1 : 6, i & 1};

		if (filter_build(&in, &f))
			abort();
		(void)filter_pass(f, area, (uint32_t)size);
		filter_free(f);
	}
	free(area);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size || size > 2 * EXT_MAX_BYTES)
		return 0;
	if (data[0] & 1)
		fuzz_filter(data + 1, size - 1);
	else
		fuzz_pattern(data + 1, size - 1);
	return 0;
}
