// Seeded permutations and hold-outs; see split.h for why the generator is hand-written.
#include "split.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace gom::datasets {

namespace {

// splitmix64 (Steele, Lea, Flood 2014): tiny, fully specified, good enough for shuffling.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform on [0, bound) without modulo bias: reject the short top range.
  uint64_t below(uint64_t bound) {
    const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    for (;;) {
      const uint64_t x = next();
      if (x >= threshold) return x % bound;
    }
  }
};

}  // namespace

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(size_t(n > 0 ? n : 0));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  SplitMix64 rng{seed};
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[rng.below(uint64_t(i) + 1)]);
  return p;
}

Holdout holdout(int64_t n, double fraction, uint64_t seed) {
  const auto n_valid = std::min<int64_t>(n, std::llround(double(n) * fraction));
  std::vector<char> held(size_t(n > 0 ? n : 0), 0);
  const std::vector<int64_t> perm = seeded_permutation(n, seed);
  for (int64_t i = 0; i < n_valid; ++i) held[size_t(perm[size_t(i)])] = 1;
  Holdout h;
  h.valid.reserve(size_t(n_valid));
  h.train.reserve(size_t(n - n_valid));
  for (int64_t i = 0; i < n; ++i) (held[size_t(i)] ? h.valid : h.train).push_back(i);
  return h;
}

}  // namespace gom::datasets
