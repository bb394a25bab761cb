#ifndef CCRC32C_H
#define CCRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has the SSE4.2 CRC32 instruction (x86-64); 0 elsewhere.
int apus_crc32c_hw_available(void);

/// Extends a raw (not inverted) CRC-32C state over `n` bytes with the SSE4.2 instruction.
/// Call only when apus_crc32c_hw_available() returns 1.
uint32_t apus_crc32c_hw_extend(uint32_t state, const uint8_t *data, size_t n);

#endif
