/*
 * crc32c.h - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of journal records: with SSE4.2's crc32 instruction where the
 * CPU has it (chosen once, at the first call), a table otherwise. Pure
 * functions, any thread.
 */
#ifndef SHM_CRC32C_H
#define SHM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Continue a CRC-32C over len bytes at data: crc32c_update(0, ...) starts
 * one, and feeding a buffer in pieces gives the checksum of the whole
 * (crc32c_update(crc32c_update(0, a, n), b, m) is the checksum of a then b).
 * The pre- and post-inversion are inside: "123456789" gives 0xE3069283.
 */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

/* The table implementation alone, whatever the CPU: for tests and benches. */
uint32_t crc32c_update_table(uint32_t crc, const void *data, size_t len);

#endif
