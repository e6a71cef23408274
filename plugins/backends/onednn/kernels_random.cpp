// random: counter-based Philox 4x32-10 (common/philox.h, shared with the CUDA backend). Element i
// of a fill takes counter (offset + i) under key seed, so values do not depend on the number of
// threads or the device.
#include <cmath>
#include <numbers>

#include "common/philox.h"
#include "dnnl_util.h"

namespace gom::onednn {
namespace {

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
      o[i] = philox::integer(offset + uint64_t(i), seed, static_cast<int64_t>(a), range);
    });
    return;
  }
  float* o = out.data<float>();
  parallel_for(n, n >= kParallelGrain, [&](int64_t i) {
    const philox::U4 r = philox::philox(offset + i, seed);
    float v;
    if (dist == 0) {
      v = float(a + (b - a) * philox::unit(r.x[0]));
    } else if (dist == 1) {  // Box-Muller; 1 - u keeps the log finite
      const float u1 = 1.0f - philox::unit(r.x[0]), u2 = philox::unit(r.x[1]);
      v = float(a + b * std::sqrt(-2.0f * std::log(u1)) *
                        std::cos(2.0f * std::numbers::pi_v<float> * u2));
    } else {  // bernoulli(a)
      v = philox::unit(r.x[0]) < a ? 1.0f : 0.0f;
    }
    o[i] = v;
  });
}

}  // namespace

void register_random(const std::string& provider) {
  register_cpu_kernel("random", random, provider);
}

}  // namespace gom::onednn
