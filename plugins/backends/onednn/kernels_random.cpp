// random: counter-based Philox 4x32-10 (Salmon et al., SC'11). Element i of a fill takes
// counter (offset + i) under key seed, so values do not depend on the number of threads.
#include <cmath>
#include <numbers>

#include "dnnl_util.h"

namespace gom::onednn {
namespace {

struct U4 {
  uint32_t x[4];
};

U4 philox(uint64_t counter, uint64_t seed) {
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

// Uniform on [0, 1) from the top 24 bits: every value is an exact float.
float unit(uint32_t v) {
  return float(v >> 8) * (1.0f / 16777216.0f);
}

void random(const KernelCall& c) {
  const Tensor& out = c.out[0];
  const int64_t dist = c.attrs.i("dist");
  const double a = c.attrs.f("a"), b = c.attrs.f("b");
  const auto seed = static_cast<uint64_t>(c.attrs.i("seed"));
  const auto offset = static_cast<uint64_t>(c.attrs.i("offset"));
  const int64_t n = out.numel();
  if (dist == 3) {  // integers on [a, b)
    int64_t* o = out.data<int64_t>();
    const auto range = static_cast<uint64_t>(b - a);
    parallel_for(n, n >= kParallelGrain, [&](int64_t i) {
      const U4 r = philox(offset + i, seed);
      const uint64_t v = (uint64_t(r.x[0]) << 32) | r.x[1];
      o[i] = static_cast<int64_t>(a) + static_cast<int64_t>(v % range);
    });
    return;
  }
  float* o = out.data<float>();
  parallel_for(n, n >= kParallelGrain, [&](int64_t i) {
    const U4 r = philox(offset + i, seed);
    float v;
    if (dist == 0) {
      v = float(a + (b - a) * unit(r.x[0]));
    } else if (dist == 1) {  // Box-Muller; 1 - u keeps the log finite
      const float u1 = 1.0f - unit(r.x[0]), u2 = unit(r.x[1]);
      v = float(a + b * std::sqrt(-2.0f * std::log(u1)) *
                        std::cos(2.0f * std::numbers::pi_v<float> * u2));
    } else {  // bernoulli(a)
      v = unit(r.x[0]) < a ? 1.0f : 0.0f;
    }
    o[i] = v;
  });
}

}  // namespace

void register_random(const std::string& provider) {
  register_cpu_kernel("random", random, provider);
}

}  // namespace gom::onednn
