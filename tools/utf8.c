/*
 * utf8.c - UTF-8 checks for the tools (see utf8.h).
 */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

size_t utf8_seq(const unsigned char *p, size_t len)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool utf8_valid(const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_seq(p + i, len - i);
		if (!n)
			return false;
	}
	return true;
}

char *utf8_lossy(const char *in, char *out, size_t outlen)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)in;
	size_t len = strlen(in), o = 0, n;

	for (size_t i = 0; i < len; i += n) {
		n = utf8_seq(p + i, len - i);
		if (n && o + n < outlen) {
			memcpy(out + o, p + i, n);
			o += n;
		} else if (!n && o + 3 < outlen) {
			memcpy(out + o, fffd, 3);
			o += 3;
			n = 1;
		} else {
			break;
		}
	}
	if (outlen)
		out[o] = 0;
	return out;
}
