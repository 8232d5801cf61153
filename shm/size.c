/*
 * size.c - byte sizes as people write them (see size.h). Digits are read
 * by hand, not with strtoull(), which would accept leading space and a
 * minus sign that wraps around.
 */
#include "size.h"

#include <stddef.h>
#include <string.h>

#include "shmq_err.h"

/* The shift of unit letter c (K 10, M 20, G 30, T 40), 0 if c is none of them. */
static int size_unit_shift(char c)
{
	static const char units[] = "KMGT";

	for (int i = 0; units[i]; i++)
		if (c == units[i] || c == units[i] + ('a' - 'A'))
			return 10 * (i + 1);
	return 0;
}

static int is_b(char c)
{
	return c == 'B' || c == 'b';
}

/* What may follow the number: "", "B", or a unit letter with "", "B" or "iB". */
static int size_suffix_shift(const char *s)
{
	int shift = size_unit_shift(s[0]);

	if (!shift) /* no unit: nothing, or one B */
		return s[0] == 0 || (is_b(s[0]) && s[1] == 0) ? 0 : -1;
	s++;
	if (s[0] == 'i' || s[0] == 'I')
		return is_b(s[1]) && s[2] == 0 ? shift : -1;
	return s[0] == 0 || (is_b(s[0]) && s[1] == 0) ? shift : -1;
}

int size_parse(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i, n;
	int shift;

	if (!s)
		return -SHMQ_EINVAL;
	n = strspn(s, "0123456789");
	shift = size_suffix_shift(s + n);
	if (n == 0 || shift < 0)
		return -SHMQ_EINVAL;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -SHMQ_ELIMIT;
		v = v * 10 + d;
	}
	if (v > UINT64_MAX >> shift)
		return -SHMQ_ELIMIT;
	*out = v << shift;
	return 0;
}
