// CRC-32C with the x86-64 SSE4.2 CRC32 instruction. Swift cannot call the intrinsic, so this
// small C target exists; TOOLCHAIN.md measured 5.9 GB/s against 1.6 GB/s for the Swift table
// version, and readrandom spends most of a block read's CPU in the checksum.
#include "ccrc32c.h"
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

int apus_crc32c_hw_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t apus_crc32c_hw_extend(uint32_t state, const uint8_t *data, size_t n) {
    uint64_t c = state;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, data, 8);
        c = _mm_crc32_u64(c, v);
        data += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n > 0) {
        c32 = _mm_crc32_u8(c32, *data);
        data++;
        n--;
    }
    return c32;
}
#else
int apus_crc32c_hw_available(void) { return 0; }
uint32_t apus_crc32c_hw_extend(uint32_t state, const uint8_t *data, size_t n) { (void)data; (void)n; return state; }
#endif
