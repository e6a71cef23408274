// stats.cpp — the statistics of leagues (gom_core/stats.h says what each function computes and
// which scipy function it matches).
#include "gom_core/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <utility>

#include "gom/error.h"

namespace gom::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The values that are not NaN (missing results), in their order.
std::vector<double> present(std::span<const double> x) {
  std::vector<double> out;
  out.reserve(x.size());
  for (double v : x)
    if (!std::isnan(v)) out.push_back(v);
  return out;
}

double mean_of(const std::vector<double>& v, std::size_t begin, std::size_t end) {
  if (begin >= end) return kNaN;
  return std::accumulate(v.begin() + std::ptrdiff_t(begin), v.begin() + std::ptrdiff_t(end), 0.0) /
         double(end - begin);
}

// An index in [0, n), uniform: the draws below 2^64 mod n are rejected so that every
// remainder is equally likely (the rejection of OpenBSD's arc4random_uniform). Written out
// because std::uniform_int_distribution's algorithm is left to the standard library.
std::size_t uniform_index(std::mt19937_64& gen, std::size_t n) {
  const uint64_t bound = n;
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  for (;;) {
    const uint64_t r = gen();
    if (r >= threshold) return std::size_t(r % bound);
  }
}

// numpy.percentile(sorted, 100 q) with its default 'linear' method: the value at the virtual
// index q (m - 1), interpolated as numpy's _lerp does (from the upper end when t >= 0.5).
double percentile_linear(const std::vector<double>& sorted, double q) {
  const double h = q * double(sorted.size() - 1);
  const auto below = std::size_t(std::floor(h));
  if (below + 1 >= sorted.size()) return sorted.back();
  const double t = h - double(below), a = sorted[below], b = sorted[below + 1];
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

// The null distribution of R+ for n pairs without ties: P(R+ = r), r = 0 .. n(n+1)/2, built as
// scipy's _get_wilcoxon_distr (each rank k is in R+ with probability 1/2). Every entry is
// count / 2^n, exact in a double for the n <= 50 it is used for.
std::vector<double> signed_rank_distribution(int n) {
  std::vector<double> c{1.0};
  for (int k = 1; k <= n; ++k) {
    std::vector<double> next(std::size_t(k) * std::size_t(k + 1) / 2 + 1, 0.0);
    for (std::size_t r = 0; r < c.size(); ++r) {
      next[r] += 0.5 * c[r];
      next[r + std::size_t(k)] += 0.5 * c[r];
    }
    c = std::move(next);
  }
  return c;
}

constexpr int kExactMaxPairs = 50;  // scipy 1.10.1's mode "auto" threshold

}  // namespace

double mean(std::span<const double> x) {
  const std::vector<double> v = present(x);
  return mean_of(v, 0, v.size());
}

double median(std::span<const double> x) {
  std::vector<double> v = present(x);
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double iqm(std::span<const double> x) {
  std::vector<double> v = present(x);
  std::sort(v.begin(), v.end());
  const std::size_t cut = v.size() / 4;  // int(0.25 n)
  return mean_of(v, cut, v.size() - cut);
}

Interval bootstrap_mean_ci(std::span<const double> x, uint64_t seed, int resamples,
                           double confidence) {
  if (resamples < 1)
    throw Error(
        fmt::format("bootstrap_mean_ci: resamples is {}; it must be at least 1", resamples));
  if (!(confidence > 0 && confidence < 1))
    throw Error(
        fmt::format("bootstrap_mean_ci: confidence is {}; it must lie in (0, 1)", confidence));
  const std::vector<double> v = present(x);
  if (v.empty()) return {};
  if (v.size() == 1) return {v[0], v[0]};
  std::mt19937_64 gen(seed);
  std::vector<double> means(static_cast<std::size_t>(resamples));
  for (double& m : means) {
    double sum = 0;
    for (std::size_t i = 0; i < v.size(); ++i) sum += v[uniform_index(gen, v.size())];
    m = sum / double(v.size());
  }
  std::sort(means.begin(), means.end());
  const double tail = (1 - confidence) / 2;
  return {percentile_linear(means, tail), percentile_linear(means, 1 - tail)};
}

Interval bootstrap_mean_difference_ci(std::span<const double> x, std::span<const double> y,
                                      uint64_t seed, int resamples, double confidence) {
  if (resamples < 1)
    throw Error(fmt::format("bootstrap_mean_difference_ci: resamples is {}; it must be at least 1",
                            resamples));
  if (!(confidence > 0 && confidence < 1))
    throw Error(fmt::format(
        "bootstrap_mean_difference_ci: confidence is {}; it must lie in (0, 1)", confidence));
  const std::vector<double> a = present(x), b = present(y);
  if (a.empty() || b.empty()) return {};
  std::mt19937_64 gen(seed);
  auto resampled_mean = [&gen](const std::vector<double>& v) {
    if (v.size() == 1) return v[0];  // no draws: one value resamples to itself
    double sum = 0;
    for (std::size_t i = 0; i < v.size(); ++i) sum += v[uniform_index(gen, v.size())];
    return sum / double(v.size());
  };
  std::vector<double> diffs(static_cast<std::size_t>(resamples));
  for (double& d : diffs) {
    const double ma = resampled_mean(a);
    d = ma - resampled_mean(b);
  }
  std::sort(diffs.begin(), diffs.end());
  const double tail = (1 - confidence) / 2;
  return {percentile_linear(diffs, tail), percentile_linear(diffs, 1 - tail)};
}

double probability_of_improvement(std::span<const double> x, std::span<const double> y) {
  const std::vector<double> xs = present(x);
  std::vector<double> ys = present(y);
  if (xs.empty() || ys.empty()) return kNaN;
  std::sort(ys.begin(), ys.end());
  double u = 0;  // pairs with x > y, plus half the ties: Mann-Whitney's U of x
  for (double v : xs) {
    const auto [lo, hi] = std::equal_range(ys.begin(), ys.end(), v);
    u += double(lo - ys.begin()) + 0.5 * double(hi - lo);
  }
  return u / (double(xs.size()) * double(ys.size()));
}

// Differences that agree to 9 significant digits are ties, and a difference below 1e-9 of its
// values is zero: 3.03 − 2.03 and 1.03 − 0.03 differ in their last bits, and whether a test is
// exact must not hang on float rounding.
constexpr double kSameRelative = 1e-9;

SignedRankTest wilcoxon_signed_rank(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size())
    throw Error(
        fmt::format("wilcoxon_signed_rank: x has {} values and y has {}; the samples "
                    "are paired and must have the same length",
                    x.size(), y.size()));
  std::vector<double> d;  // the nonzero differences of the pairs without a NaN
  std::size_t pairs = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) continue;
    ++pairs;
    // A difference lost in the rounding of x and y counts as zero.
    const double scale = std::max(std::abs(x[i]), std::abs(y[i]));
    if (std::abs(x[i] - y[i]) > kSameRelative * scale) d.push_back(x[i] - y[i]);
  }
  SignedRankTest result;
  if (pairs == 0) return result;
  if (d.empty()) return {0.0, 1.0, false, 0};  // every difference zero: no evidence
  const bool zeros = d.size() < pairs;

  // Rank |d|, ties taking their average rank; the tie correction sums t^3 - t over the groups.
  std::vector<std::size_t> order(d.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return std::abs(d[a]) < std::abs(d[b]); });
  double r_plus = 0, r_minus = 0, tie_term = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i + 1;
    while (j < order.size() &&
           std::abs(d[order[j]]) - std::abs(d[order[i]]) <= kSameRelative * std::abs(d[order[j]]))
      ++j;
    const double rank = double(i + 1 + j) / 2;  // average of ranks i + 1 .. j
    for (std::size_t k = i; k < j; ++k) (d[order[k]] > 0 ? r_plus : r_minus) += rank;
    const double t = double(j - i);
    tie_term += t * (t * t - 1);
    i = j;
  }
  const int n = int(d.size());
  result.n = n;
  result.statistic = std::min(r_plus, r_minus);
  result.exact = int(pairs) <= kExactMaxPairs && !zeros && tie_term == 0;
  if (result.exact) {
    const std::vector<double> pmf = signed_rank_distribution(n);
    const auto r = std::size_t(r_plus);  // an integer: no ties
    if (r == (pmf.size() - 1) / 2) {
      result.p_value = 1.0;  // the centre, as scipy
    } else {
      const double p_less = std::accumulate(pmf.begin(), pmf.begin() + std::ptrdiff_t(r) + 1, 0.0);
      const double p_greater = std::accumulate(pmf.begin() + std::ptrdiff_t(r), pmf.end(), 0.0);
      result.p_value = std::min(1.0, 2 * std::min(p_less, p_greater));
    }
  } else {
    const double nn = n;
    const double mean_t = nn * (nn + 1) / 4;
    const double sd_t = std::sqrt((nn * (nn + 1) * (2 * nn + 1) - tie_term / 2) / 24);
    const double z = (result.statistic - mean_t) / sd_t;
    const boost::math::normal standard;
    result.p_value =
        std::min(1.0, 2 * boost::math::cdf(boost::math::complement(standard, std::abs(z))));
  }
  return result;
}

double min_p_value(int n) {
  return n <= 1 ? 1.0 : std::ldexp(1.0, 1 - n);
}

std::vector<double> holm_adjust(std::span<const double> p) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(p.size(), kNaN);
  double running = 0;  // the running maximum keeps the adjusted values monotone
  for (std::size_t k = 0; k < order.size(); ++k) {
    running = std::max(running, std::min(1.0, double(order.size() - k) * p[order[k]]));
    adjusted[order[k]] = running;
  }
  return adjusted;
}

}  // namespace gom::stats
