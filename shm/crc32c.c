/*
 * crc32c.c - CRC-32C by instruction or by table (see crc32c.h). The
 * slicing-by-8 table is built once when the library is loaded (a
 * constructor, before any thread of the program can call in), so no call
 * ever races to build it.
 */
#include "crc32c.h"

#include <string.h>

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];

__attribute__((constructor)) static void table_build(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
		crc_table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int t = 1; t < 8; t++)
			crc_table[t][b] =
			    (crc_table[t - 1][b] >> 8) ^ crc_table[0][crc_table[t - 1][b] & 0xff];
}

uint32_t crc32c_update_table(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	crc = ~crc;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		w ^= crc;
		crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		      crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
		      crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
		      crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc32c_update_sse42(uint32_t crc,
								      const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t c = ~crc;

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = _mm_crc32_u8(c32, *p++);
	return ~c32;
}

uint32_t crc32c_update(uint32_t crc, const void *data, size_t len)
{
	/* the CPU does not change under us: the builtin reads cpuid once */
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_update_sse42(crc, data, len);
	return crc32c_update_table(crc, data, len);
}
#else
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len)
{
	return crc32c_update_table(crc, data, len);
}
#endif
