/*
 * name.c - channel name rules (see name.h).
 */
#include "name.h"

#include <string.h>

#include "shmq_err.h"

static int name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int name_check(const char *name)
{
	size_t i, token = 0;

	if (!name || !name[0])
		return -SHMQ_ENAME;
	for (i = 0; name[i]; i++) {
		if (i >= NAME_BYTES - 1)
			return -SHMQ_ENAME;
		if (name[i] == '.') {
			if (token == 0)
				return -SHMQ_ENAME;
			token = 0;
			continue;
		}
		if (!name_char_ok(name[i]))
			return -SHMQ_ENAME;
		token++;
	}
	return token ? 0 : -SHMQ_ENAME;
}

int name_from_wire(const char *wire, size_t len, char *out, size_t out_len)
{
	size_t n = strnlen(wire, len);

	if (n == len || n >= out_len)
		return -SHMQ_ENAME;
	memcpy(out, wire, n);
	out[n] = 0;
	return name_check(out);
}
