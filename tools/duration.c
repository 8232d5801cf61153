/*
 * duration.c - parse a duration: digits with an optional fraction, then
 * an optional unit. strtod() alone would take a sign, hex, "inf" and
 * leading spaces, so the first byte must be a digit or a dot.
 */
#include <stdlib.h>
#include <string.h>

#include "duration.h"

static const struct {
	const char *unit;
	double seconds;
} units[] = {{"", 1}, {"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};

int duration_parse(const char *s, double *seconds)
{
	char *end;
	double v;

	if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '.') || strpbrk(s, "xX"))
		return -1;
	v = strtod(s, &end);
	if (end == s || !(v >= 0))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		v *= units[i].seconds;
		if (v > 1e9)
			return -1;
		*seconds = v;
		return 0;
	}
	return -1;
}
