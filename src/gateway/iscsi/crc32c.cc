// CRC32C (Castagnoli, reflected polynomial 0x82f63b78) for iSCSI digests.
//
// The SSE4.2 crc32 instruction computes the same reflected CRC; it is chosen
// once at start-up when the CPU has it. The fallback is slicing-by-8.

#include <cstring>

#include "gateway/iscsi/pdu.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace vsl::iscsi {
namespace {

constexpr uint32_t kPoly = 0x82f63b78;

struct Tables {
  uint32_t t[8][256];
  Tables() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c >> 1) ^ (kPoly & (0u - (c & 1)));
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
      for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

// `state` is the running (non-inverted) register.
uint32_t UpdateTable(uint32_t state, const uint8_t* p, size_t n) {
  const Tables& tb = GetTables();
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    state = (state >> 8) ^ tb.t[0][(state ^ *p++) & 0xff];
    n--;
  }
  while (n >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    lo = __builtin_bswap32(lo);
    hi = __builtin_bswap32(hi);
#endif
    lo ^= state;
    state = tb.t[7][lo & 0xff] ^ tb.t[6][(lo >> 8) & 0xff] ^ tb.t[5][(lo >> 16) & 0xff] ^
            tb.t[4][lo >> 24] ^ tb.t[3][hi & 0xff] ^ tb.t[2][(hi >> 8) & 0xff] ^
            tb.t[1][(hi >> 16) & 0xff] ^ tb.t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) state = (state >> 8) ^ tb.t[0][(state ^ *p++) & 0xff];
  return state;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t UpdateSse42(uint32_t state, const uint8_t* p, size_t n) {
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    state = _mm_crc32_u8(state, *p++);
    n--;
  }
  uint64_t s64 = state;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    s64 = _mm_crc32_u64(s64, v);
    p += 8;
    n -= 8;
  }
  state = uint32_t(s64);
  while (n-- > 0) state = _mm_crc32_u8(state, *p++);
  return state;
}
#endif

using UpdateFn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

UpdateFn ChooseUpdate() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("sse4.2")) return UpdateSse42;
#endif
  return UpdateTable;
}

}  // namespace

uint32_t Crc32c(std::span<const uint8_t> bytes, uint32_t crc) {
  static const UpdateFn update = ChooseUpdate();
  return ~update(~crc, bytes.data(), bytes.size());
}

// Exposed for tests: both implementations must agree.
uint32_t Crc32cPortable(std::span<const uint8_t> bytes, uint32_t crc) {
  return ~UpdateTable(~crc, bytes.data(), bytes.size());
}

}  // namespace vsl::iscsi
