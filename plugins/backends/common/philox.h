// philox.h — the counter-based Philox 4x32-10 generator (Salmon et al., SC'11) and its float
// mapping, shared by the CPU and CUDA random kernels so both give the same stream: element i of
// a fill takes counter (offset + i) under key seed, whatever device or thread computes it.
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define GOM_HD __host__ __device__
#else
#define GOM_HD
#endif

namespace gom::philox {

struct U4 {
  uint32_t x[4];
};

/// @brief Ten Philox rounds of `counter` (the high two words 0) under key `seed`.
GOM_HD inline U4 philox(uint64_t counter, uint64_t seed) {
  constexpr uint32_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57, kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t(kM0) * c0, p1 = uint64_t(kM1) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += kW0;
    k1 += kW1;
  }
  return {{c0, c1, c2, c3}};
}

/// @brief Uniform on [0, 1) from the top 24 bits: every value is an exact float.
GOM_HD inline float unit(uint32_t v) {
  return float(v >> 8) * (1.0f / 16777216.0f);
}

/// @brief An integer on [low, low + range) from the first two words of `counter`'s block
/// (range > 0; the modulo bias is below range / 2^64).
GOM_HD inline int64_t integer(uint64_t counter, uint64_t seed, int64_t low, uint64_t range) {
  const U4 r = philox(counter, seed);
  const uint64_t v = (uint64_t(r.x[0]) << 32) | r.x[1];
  return low + static_cast<int64_t>(v % range);
}

}  // namespace gom::philox
