// sampler_grid_random.cpp — the per-trial generator, the grid and random samplers, and
// make_sampler.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "gom/error.h"
#include "gom_core/search.h"
#include "search_internal.h"

namespace gom::search {

using Kind = Distribution::Kind;
using nlohmann::json;

namespace detail {

std::mt19937_64 trial_generator(uint64_t seed, int64_t number) {
  const auto n = uint64_t(number);
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(n), uint32_t(n >> 32)};
  return std::mt19937_64(seq);
}

double uniform01(std::mt19937_64& rng) {
  return double(rng() >> 11) * 0x1.0p-53;
}

uint64_t uniform_index(std::mt19937_64& rng, uint64_t n) {
  // Draws below 2^64 mod n would make the low residues likelier; skip them.
  const uint64_t skip = (0 - n) % n;
  uint64_t x = rng();
  while (x < skip) x = rng();
  return x % n;
}

json sample_random(const Distribution& d, std::mt19937_64& rng) {
  switch (d.kind) {
    case Kind::Uniform:
      return std::min(d.high, d.low + (d.high - d.low) * uniform01(rng));
    case Kind::LogUniform: {
      const double lo = std::log(d.low), hi = std::log(d.high);
      return std::clamp(std::exp(lo + (hi - lo) * uniform01(rng)), d.low, d.high);
    }
    case Kind::Int: {
      if (!d.log)
        return int64_t(d.low) + int64_t(uniform_index(rng, uint64_t(int_count(d)))) * d.step;
      // Each integer gets the log-width of [v - 1/2, v + 1/2] (step is 1 on a log int).
      const double lo = std::log(d.low - 0.5), hi = std::log(d.high + 0.5);
      const double x = std::nearbyint(std::exp(lo + (hi - lo) * uniform01(rng)));
      return int64_t(std::clamp(x, d.low, double(int_high(d))));
    }
    case Kind::Choice:
      return d.choices[uniform_index(rng, d.choices.size())];
  }
  return nullptr;
}

}  // namespace detail

namespace {

// The points of one key's grid.
int64_t grid_count(const std::string& key, const Distribution& d) {
  switch (d.kind) {
    case Kind::Int:
      return detail::int_count(d);
    case Kind::Choice:
      return int64_t(d.choices.size());
    case Kind::Uniform:
    case Kind::LogUniform:
      if (d.grid < 2)
        throw Error(
            fmt::format("grid search: '{}' is a {} range without grid points; give it "
                        "\"grid\": N (N >= 2 points, both ends included)",
                        key, d.kind == Kind::Uniform ? "uniform" : "loguniform"));
      return d.grid;
  }
  return 0;
}

json grid_point(const Distribution& d, int64_t k) {
  switch (d.kind) {
    case Kind::Int:
      return int64_t(d.low) + k * d.step;
    case Kind::Choice:
      return d.choices[size_t(k)];
    case Kind::Uniform:
    case Kind::LogUniform: {
      const int64_t last = d.grid - 1;
      if (k == 0) return d.low;
      if (k == last) return d.high;
      // Multiply before dividing: 0..1 in 11 points gives 0.3, not 0.30000000000000004.
      if (d.kind == Kind::Uniform) return d.low + (d.high - d.low) * double(k) / double(last);
      // Powers of ten come out exact: 1e-4..1e-1 in 4 points gives 0.001 and 0.01.
      const double lo = std::log10(d.low), hi = std::log10(d.high);
      return std::pow(10.0, lo + (hi - lo) * double(k) / double(last));
    }
  }
  return nullptr;
}

int64_t grid_size(const SearchSpace& space) {
  int64_t size = 1;
  for (const auto& [key, d] : space) {
    const int64_t n = grid_count(key, d);
    if (size > std::numeric_limits<int64_t>::max() / n)
      throw Error("grid search: the grid has more than 2^63 points");
    size *= n;
  }
  return size;
}

class GridSampler final : public Sampler {
 public:
  Params sample(const SearchSpace& space, const std::vector<Trial>&, int64_t number) override {
    const int64_t size = grid_size(space);
    if (number < 0 || number >= size)
      throw Error(
          fmt::format("grid search: trial {} is past the grid, which has {} points "
                      "(trials 0 to {})",
                      number, size, size - 1));
    // Mixed radix, the last key the fastest digit (as itertools.product).
    Params params;
    int64_t rest = number;
    for (auto it = space.rbegin(); it != space.rend(); ++it) {
      const int64_t n = grid_count(it->first, it->second);
      params[it->first] = grid_point(it->second, rest % n);
      rest /= n;
    }
    return params;
  }
  std::optional<int64_t> size(const SearchSpace& space) const override { return grid_size(space); }
};

class RandomSampler final : public Sampler {
 public:
  explicit RandomSampler(uint64_t seed) : seed_(seed) {}
  Params sample(const SearchSpace& space, const std::vector<Trial>&, int64_t number) override {
    std::mt19937_64 rng = detail::trial_generator(seed_, number);
    Params params;
    for (const auto& [key, d] : space) params[key] = detail::sample_random(d, rng);
    return params;
  }

 private:
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<Sampler> make_sampler(const std::string& name, const json& options, uint64_t seed,
                                      bool maximize) {
  if (name == "grid") {
    detail::check_options(options, "the grid sampler", {});
    return std::make_unique<GridSampler>();
  }
  if (name == "random") {
    detail::check_options(options, "the random sampler", {});
    return std::make_unique<RandomSampler>(seed);
  }
  if (name == "tpe") return detail::make_tpe_sampler(options, seed, maximize);
  throw Error(fmt::format("unknown sampler '{}' (accepted: grid, random, tpe)", name));
}

}  // namespace gom::search
