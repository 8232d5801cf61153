/*
 * pattern.c - subject patterns (see pattern.h). The check and the match
 * walk the strings left to right, token by token, in linear time; nothing
 * is copied.
 */
#include "pattern.h"

#include <string.h>

#include "name.h"
#include "shmq_err.h"

static bool token_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* The length of the token starting at p (up to the next dot or the end). */
static size_t token_len(const char *p)
{
	size_t n = 0;

	while (p[n] && p[n] != '.')
		n++;
	return n;
}

const char *pattern_why(const char *p)
{
	size_t i = 0, n;

	if (!p || !p[0])
		return "empty pattern";
	if (strnlen(p, NAME_BYTES) >= NAME_BYTES)
		return "pattern longer than a channel name";
	for (;;) {
		n = token_len(p + i);
		if (n == 0)
			return "empty token (two dots, or a dot at either end)";
		if (n == 1 && p[i] == '>') {
			if (p[i + 1])
				return "'>' is not the last token";
		} else if (!(n == 1 && p[i] == '*')) {
			for (size_t k = 0; k < n; k++)
				if (!token_char_ok(p[i + k]))
					return p[i + k] == '*' || p[i + k] == '>'
						   ? "'*' or '>' inside a token"
						   : "a character outside [A-Za-z0-9_-]";
		}
		i += n;
		if (!p[i])
			return "ok";
		i++; /* the dot */
	}
}

int pattern_check(const char *p)
{
	const char *why = pattern_why(p);

	return why[0] == 'o' && why[1] == 'k' && !why[2] ? 0 : -SHMQ_EPATTERN;
}

bool pattern_match(const char *p, const char *name)
{
	size_t pn, nn;

	for (;;) {
		pn = token_len(p);
		nn = token_len(name);
		if (pn == 1 && p[0] == '>')
			return nn > 0;
		if (nn == 0)
			return false;
		if (!(pn == 1 && p[0] == '*') && (pn != nn || memcmp(p, name, pn)))
			return false;
		p += pn;
		name += nn;
		if (!*p || !*name)
			return !*p && !*name;
		p++;
		name++;
	}
}

int pattern_from_wire(const char *wire, size_t len, char *out, size_t out_len)
{
	size_t n = strnlen(wire, len);

	if (n == len || n >= out_len)
		return -SHMQ_EPATTERN;
	memcpy(out, wire, n);
	out[n] = 0;
	return pattern_check(out);
}
