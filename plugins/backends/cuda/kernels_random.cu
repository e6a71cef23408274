// random: counter-based Philox 4x32-10 (common/philox.h, the CPU backend's generator). Element i
// takes counter (offset + i) under key seed, and the values are mapped as on the CPU, so a CUDA
// fill equals the CPU's: bit for bit for uniform, bernoulli and integers. The normal's
// Box-Muller takes float log and cos; here they are evaluated in double and rounded to float
// (the correctly rounded value, which glibc's logf and cosf also return in all but rare cases),
// so an occasional normal value may differ from the CPU's by an ulp.
#include <cstdint>
#include <numbers>
#include <string>

#include "common/philox.h"
#include "elementwise.cuh"

namespace gom::cuda {
namespace {

// a + (b - a) * u in double, rounded as the CPU rounds it (no fused multiply-add).
struct UniformFn {
  float* out;
  uint64_t seed, offset;
  double a, span;  // span = b - a
  __device__ void operator()(int64_t i) const {
    const philox::U4 r = philox::philox(offset + uint64_t(i), seed);
    out[i] = float(__dadd_rn(a, __dmul_rn(span, double(philox::unit(r.x[0])))));
  }
};

// Box-Muller: a + b * sqrt(-2 log(u1)) * cos(2 pi u2), with 1 - u keeping the log finite.
struct NormalFn {
  float* out;
  uint64_t seed, offset;
  double mean, stddev;
  __device__ void operator()(int64_t i) const {
    constexpr float kTwoPi = 2.0f * std::numbers::pi_v<float>;
    const philox::U4 r = philox::philox(offset + uint64_t(i), seed);
    const float u1 = __fsub_rn(1.0f, philox::unit(r.x[0])), u2 = philox::unit(r.x[1]);
    const float log_u1 = float(log(double(u1)));
    const float radius = __fsqrt_rn(__fmul_rn(-2.0f, log_u1));
    const float angle = float(cos(double(__fmul_rn(kTwoPi, u2))));
    out[i] = float(__dadd_rn(mean, __dmul_rn(__dmul_rn(stddev, double(radius)), double(angle))));
  }
};

struct BernoulliFn {
  float* out;
  uint64_t seed, offset;
  double p;
  __device__ void operator()(int64_t i) const {
    const philox::U4 r = philox::philox(offset + uint64_t(i), seed);
    out[i] = philox::unit(r.x[0]) < p ? 1.0f : 0.0f;
  }
};

// Integers on [low, low + range) from 64 random bits.
struct IntegerFn {
  int64_t* out;
  uint64_t seed, offset;
  int64_t low;
  uint64_t range;
  __device__ void operator()(int64_t i) const {
    out[i] = philox::integer(offset + uint64_t(i), seed, low, range);
  }
};

// out[0] (contiguous)  attrs dist (0 uniform [a, b), 1 normal (a, b), 2 bernoulli (a),
// 3 integers [a, b)), a, b, seed, offset.
void random(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& out = c.out[0];
  const int64_t dist = c.attrs.i("dist");
  const double a = c.attrs.f("a"), b = c.attrs.f("b");
  const auto seed = static_cast<uint64_t>(c.attrs.i("seed"));
  const auto offset = static_cast<uint64_t>(c.attrs.i("offset"));
  const int64_t n = out.numel();
  if (dist == 3) {
    int64_t* o = out.data<int64_t>();
    const auto range = static_cast<uint64_t>(b - a);
    if (n > 0 && range == 0)
      throw Error("random: empty integer range [" + std::to_string(a) + ", " + std::to_string(b) +
                  ")");
    return launch_each(n, s, IntegerFn{o, seed, offset, static_cast<int64_t>(a), range});
  }
  float* o = out.data<float>();
  if (dist == 0) return launch_each(n, s, UniformFn{o, seed, offset, a, b - a});
  if (dist == 1) return launch_each(n, s, NormalFn{o, seed, offset, a, b});
  launch_each(n, s, BernoulliFn{o, seed, offset, a});  // any other code, as on the CPU
}

void register_random(const std::string& provider) {
  register_cuda_kernel("random", random, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_random);

}  // namespace gom::cuda
