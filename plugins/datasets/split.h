// split.h — seeded permutations and train/validation hold-outs.
//
// The generator is spelled out here (splitmix64, Fisher-Yates with unbiased bounded draws)
// rather than taken from <random>: std::shuffle and the std distributions differ between
// standard libraries, and a held-out set must be the same everywhere and in every gom version,
// or validation metrics of old and new runs stop being comparable.
#pragma once

#include <cstdint>
#include <vector>

namespace gom::datasets {

/// @brief A permutation of [0, n) determined by `seed`.
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

/// @brief The two parts of a hold-out split, each in ascending index order.
struct Holdout {
  std::vector<int64_t> train, valid;
};

/// @brief Holds out round(n * fraction) of [0, n): the first entries of seeded_permutation(n,
/// seed). The same (n, fraction, seed) always gives the same disjoint, covering parts.
Holdout holdout(int64_t n, double fraction, uint64_t seed);

}  // namespace gom::datasets
