// tpe_parzen.cpp — TPE's Parzen estimator of one hyperparameter, after Optuna's
// _ParzenEstimator (optuna/samplers/_tpe/parzen_estimator.py) with its defaults: prior weight 1,
// magic clip on, endpoints off. Numeric kinds are mixtures of normals truncated to the range
// (in log space for log scales; ints widened by half a step and rounded back to the step grid);
// a choice is a mixture of categorical distributions that each lean to one observation.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "search_internal.h"

namespace gom::search::detail {

namespace {

using Kind = Distribution::Kind;
constexpr double kPriorWeight = 1.0;
constexpr double kInf = std::numeric_limits<double>::infinity();

// The index drawn from probabilities p (summing to 1) by one uniform draw.
size_t draw_index(const std::vector<double>& p, std::mt19937_64& rng) {
  const double u = uniform01(rng);
  double cumulative = 0;
  for (size_t i = 0; i + 1 < p.size(); ++i) {
    cumulative += p[i];
    if (u < cumulative) return i;
  }
  return p.size() - 1;  // the last takes what rounding left over
}

double log_sum_exp(const std::vector<double>& terms) {
  const double m = *std::max_element(terms.begin(), terms.end());
  if (m == -kInf) return -kInf;
  double sum = 0;
  for (double t : terms) sum += std::exp(t - m);
  return m + std::log(sum);
}

// The kernels' bandwidths: each observation's larger gap to its neighbours in sorted order,
// the range's ends counting as neighbours, except that (endpoints off) the smallest and largest
// observation use their one inner gap. Then clipped to [range / min(100, kernels + 1), range]
// ("magic clip"), kernels counting the prior.
std::vector<double> bandwidths(const std::vector<double>& mus, double low, double high) {
  const size_t n = mus.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return mus[i] < mus[j]; });
  std::vector<double> sorted(n + 2);  // low, the observations in order, high
  sorted.front() = low;
  sorted.back() = high;
  for (size_t i = 0; i < n; ++i) sorted[i + 1] = mus[order[i]];

  std::vector<double> sorted_sigmas(n);
  for (size_t i = 0; i < n; ++i)
    sorted_sigmas[i] = std::max(sorted[i + 1] - sorted[i], sorted[i + 2] - sorted[i + 1]);
  if (n >= 2) {
    sorted_sigmas.front() = sorted[2] - sorted[1];
    sorted_sigmas.back() = sorted[n] - sorted[n - 1];
  }
  const double range = high - low;
  const double min_sigma = range / std::min(100.0, 1.0 + double(n + 1));
  std::vector<double> sigmas(n);
  for (size_t i = 0; i < n; ++i) sigmas[order[i]] = std::clamp(sorted_sigmas[i], min_sigma, range);
  return sigmas;
}

}  // namespace

int64_t tpe_gamma(int64_t n) {
  return std::min(int64_t(std::ceil(0.1 * double(n))), int64_t(25));
}

std::vector<double> tpe_weights(int64_t n) {
  if (n < 25) return std::vector<double>(size_t(std::max<int64_t>(n, 0)), 1.0);
  // numpy.linspace(1/n, 1, n − 25): start + i·step, the last exactly 1.
  const int64_t ramp = n - 25;
  std::vector<double> w;
  w.reserve(size_t(n));
  const double start = 1.0 / double(n);
  const double step = ramp > 1 ? (1.0 - start) / double(ramp - 1) : 0.0;
  for (int64_t i = 0; i < ramp; ++i)
    w.push_back(i + 1 == ramp && ramp > 1 ? 1.0 : start + double(i) * step);
  w.insert(w.end(), 25, 1.0);
  return w;
}

ParzenEstimator ParzenEstimator::build(const Distribution& d,
                                       const std::vector<double>& observations) {
  ParzenEstimator pe;
  pe.dist = d;
  const size_t n = observations.size();
  if (n == 0) {
    pe.weights = {1.0};
  } else {
    pe.weights = tpe_weights(int64_t(n));
    pe.weights.push_back(kPriorWeight);
    const double total = std::accumulate(pe.weights.begin(), pe.weights.end(), 0.0);
    for (double& w : pe.weights) w /= total;
  }

  if (d.kind == Kind::Choice) {
    const size_t k = d.choices.size();
    if (n == 0) {
      pe.choice_probs = {std::vector<double>(k, 1.0 / double(k))};
      return pe;
    }
    // Every kernel spreads the prior weight over the choices and adds 1 at its observation;
    // the prior's own kernel (last) is uniform.
    const double spread = kPriorWeight / double(n + 1);
    pe.choice_probs.assign(n + 1, std::vector<double>(k, spread));
    for (size_t i = 0; i < n; ++i) pe.choice_probs[i][size_t(observations[i])] += 1;
    for (auto& row : pe.choice_probs) {
      const double sum = std::accumulate(row.begin(), row.end(), 0.0);
      for (double& p : row) p /= sum;
    }
    return pe;
  }

  pe.is_log = d.kind == Kind::LogUniform || d.log;
  pe.low = d.low;
  pe.high = d.kind == Kind::Int ? double(int_high(d)) : d.high;
  if (d.kind == Kind::Int) {  // each integer owns [v − step/2, v + step/2]
    pe.low -= double(d.step) / 2;
    pe.high += double(d.step) / 2;
  }
  pe.mus = observations;
  if (pe.is_log) {
    pe.low = std::log(pe.low);
    pe.high = std::log(pe.high);
    for (double& mu : pe.mus) mu = std::log(mu);
  }
  pe.sigmas = bandwidths(pe.mus, pe.low, pe.high);
  // The prior: one broad kernel over the whole range.
  pe.mus.push_back(0.5 * (pe.low + pe.high));
  pe.sigmas.push_back(pe.high - pe.low);
  return pe;
}

double ParzenEstimator::sample(std::mt19937_64& rng) const {
  const size_t k = draw_index(weights, rng);
  if (dist.kind == Kind::Choice) return double(draw_index(choice_probs[k], rng));
  const double mu = mus[k], sigma = sigmas[k];
  double x = mu + sigma * truncnorm_ppf(uniform01(rng), (low - mu) / sigma, (high - mu) / sigma);
  if (is_log) x = std::exp(x);
  if (dist.kind != Kind::Int) return std::clamp(x, dist.low, dist.high);
  const double first = dist.low, step = double(dist.step);
  return std::clamp(first + std::nearbyint((x - first) / step) * step, first,
                    double(int_high(dist)));
}

double ParzenEstimator::log_pdf(double x) const {
  std::vector<double> terms(weights.size());
  if (dist.kind == Kind::Choice) {
    for (size_t k = 0; k < weights.size(); ++k)
      terms[k] = std::log(weights[k]) + std::log(choice_probs[k][size_t(x)]);
    return log_sum_exp(terms);
  }
  if (dist.kind != Kind::Int) {
    const double xt = is_log ? std::log(x) : x;
    for (size_t k = 0; k < weights.size(); ++k)
      terms[k] = std::log(weights[k]) + truncnorm_logpdf(xt, mus[k], sigmas[k], low, high);
    return log_sum_exp(terms);
  }
  // An int's probability: its cell's mass under each kernel, over the kernel's mass in range.
  const double half = double(dist.step) / 2;
  const double left = is_log ? std::log(x - half) : x - half;
  const double right = is_log ? std::log(x + half) : x + half;
  for (size_t k = 0; k < weights.size(); ++k) {
    const double mu = mus[k], sigma = sigmas[k];
    terms[k] = std::log(weights[k]) + log_gauss_mass((left - mu) / sigma, (right - mu) / sigma) -
               log_gauss_mass((low - mu) / sigma, (high - mu) / sigma);
  }
  return log_sum_exp(terms);
}

}  // namespace gom::search::detail
