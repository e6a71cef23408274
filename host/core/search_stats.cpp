// search_stats.cpp — the numerics the samplers and pruners share: numpy's nanpercentile and the
// truncated normal of TPE's kernels, in log space where the tails need it.
#include <algorithm>
#include <boost/math/special_functions/erf.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "search_internal.h"

namespace gom::search::detail {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kHalfLog2Pi = 0.5 * std::log(2 * std::numbers::pi);

// Φ(x) through erfc, which keeps its relative accuracy in the left tail (down to x ≈ −37).
double ndtr(double x) {
  return 0.5 * std::erfc(-x / std::numbers::sqrt2);
}

// log(e^a + e^b).
double log_sum(double a, double b) {
  const double m = std::max(a, b);
  if (m == -kInf) return -kInf;
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

// x with log Φ(x) = y (y <= 0).
double ndtri_exp(double y) {
  if (y >= 0) return kInf;
  if (y > -700) {  // Φ(x) = e^y is a normal double: invert erfc directly
    if (y < -std::numbers::ln2)
      return -std::numbers::sqrt2 * boost::math::erfc_inv(2 * std::exp(y));
    const double upper = -std::expm1(y);  // 1 − Φ(x) = Φ(−x), without cancellation
    return std::numbers::sqrt2 * boost::math::erfc_inv(2 * upper);
  }
  // Far left tail: start from log Φ(x) ≈ −x²/2 − log√(2π) and refine by Newton's method, whose
  // step is (log Φ(x) − y) · Φ(x)/φ(x).
  double x = -std::sqrt(-2 * (y + kHalfLog2Pi));
  for (int i = 0; i < 100; ++i) {
    const double log_cdf = log_ndtr(x), log_pdf = -0.5 * x * x - kHalfLog2Pi;
    const double dx = (log_cdf - y) * std::exp(log_cdf - log_pdf);
    x -= dx;
    if (std::fabs(dx) < 1e-14 * std::fabs(x)) break;
  }
  return x;
}

}  // namespace

double nan_percentile(std::vector<double> values, double q) {
  std::erase_if(values, [](double v) { return std::isnan(v); });
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double pos = q / 100 * double(values.size() - 1);
  const size_t below = std::min(size_t(pos), values.size() - 1);
  const size_t above = std::min(below + 1, values.size() - 1);
  const double t = pos - double(below), a = values[below], b = values[above];
  // numpy's _lerp: from the nearer end, so t = 1 gives b exactly.
  return t < 0.5 ? a + (b - a) * t : b - (b - a) * (1 - t);
}

double log_ndtr(double x) {
  if (x > 6) return std::log1p(-ndtr(-x));
  if (x > -20) return std::log(ndtr(x));
  // Φ(x) = φ(x)/(−x) · (1 − 1/x² + 1·3/x⁴ − 1·3·5/x⁶ + …), an asymptotic series that is
  // accurate to rounding long before its terms start growing at this x.
  const double log_lead = -0.5 * x * x - std::log(-x) - kHalfLog2Pi;
  double sum = 1, term = 1;
  for (int i = 1; i < 100; ++i) {
    term *= -(2.0 * i - 1) / (x * x);
    const double next = sum + term;
    if (next == sum) break;
    sum = next;
  }
  return log_lead + std::log(sum);
}

double log_gauss_mass(double a, double b) {
  if (b <= 0) {  // both in the left tail: log(Φ(b) − Φ(a)) from the two logs
    const double lb = log_ndtr(b), la = log_ndtr(a);
    if (la >= lb) return -kInf;
    return lb + std::log1p(-std::exp(la - lb));
  }
  if (a > 0) return log_gauss_mass(-b, -a);  // the right tail, mirrored
  return std::log1p(-ndtr(a) - ndtr(-b));    // the middle: 1 minus both tails
}

double truncnorm_ppf(double u, double a, double b) {
  if (u <= 0) return a;
  const double log_mass = log_gauss_mass(a, b);
  double x;
  if (a < 0) {
    x = ndtri_exp(log_sum(log_ndtr(a), std::log(u) + log_mass));
  } else {  // mirrored, so that the CDFs stay small where a is far right
    x = -ndtri_exp(log_sum(log_ndtr(-b), std::log1p(-u) + log_mass));
  }
  return std::clamp(x, a, b);
}

double truncnorm_logpdf(double x, double mu, double sigma, double low, double high) {
  if (x < low || x > high) return -kInf;
  const double z = (x - mu) / sigma;
  return -0.5 * z * z - kHalfLog2Pi - std::log(sigma) -
         log_gauss_mass((low - mu) / sigma, (high - mu) / sigma);
}

}  // namespace gom::search::detail
