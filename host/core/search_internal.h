// search_internal.h — what the search sources share (and the tests check): the per-trial
// generator, options checks, percentiles, the truncated normal and TPE's Parzen estimator.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gom_core/search.h"

namespace gom::search::detail {

// ---------------------------------------------------------------- generator

/// @brief The generator of trial `number`: mt19937_64 over a seed_seq of (seed, number), both
/// specified by the standard, so the draws are the same on every platform.
std::mt19937_64 trial_generator(uint64_t seed, int64_t number);
/// @brief A uniform double in [0, 1) from the top 53 bits (std's distributions differ by
/// library).
double uniform01(std::mt19937_64& rng);
/// @brief A uniform integer in [0, n), n >= 1 (rejection sampling, no modulo bias).
uint64_t uniform_index(std::mt19937_64& rng, uint64_t n);

// ---------------------------------------------------------------- distributions

/// @brief The largest value of an Int distribution: low + k·step <= high.
int64_t int_high(const Distribution& d);
/// @brief How many values an Int distribution has.
int64_t int_count(const Distribution& d);
/// @brief The index of v among a Choice's choices; nullopt when it is none of them.
std::optional<size_t> choice_index(const Distribution& d, const nlohmann::json& v);
/// @brief One value drawn as the random sampler draws it.
nlohmann::json sample_random(const Distribution& d, std::mt19937_64& rng);

// ---------------------------------------------------------------- options

/// @brief gom::Error unless options is null or an object whose keys are all in `accepted`.
void check_options(const nlohmann::json& options, const std::string& what,
                   std::initializer_list<const char*> accepted);
/// @brief options[key] as an integer >= min (fallback when absent); gom::Error otherwise.
int64_t int_option(const nlohmann::json& options, const std::string& what, const char* key,
                   int64_t fallback, int64_t min);
/// @brief options[key] as a finite number > min (fallback when absent); gom::Error otherwise.
double number_option(const nlohmann::json& options, const std::string& what, const char* key,
                     double fallback, double min);

// ---------------------------------------------------------------- statistics

/// @brief numpy.nanpercentile(values, q) with linear interpolation: NaNs are left out; NaN when
/// nothing is left. q in [0, 100].
double nan_percentile(std::vector<double> values, double q);

/// @brief log Φ(x), the standard normal CDF, accurate in the far left tail (asymptotic series
/// below -20) and near 1 (log1p).
double log_ndtr(double x);
/// @brief log(Φ(b) − Φ(a)) for a <= b, accurate when both are deep in one tail.
double log_gauss_mass(double a, double b);
/// @brief The u-quantile (u in [0, 1)) of the standard normal truncated to [a, b], a <= b.
double truncnorm_ppf(double u, double a, double b);
/// @brief log density at x of N(mu, sigma²) truncated to [low, high]; -inf outside.
double truncnorm_logpdf(double x, double mu, double sigma, double low, double high);

// ---------------------------------------------------------------- TPE

/// @brief The TPE sampler (sampler_tpe.cpp) with its options checked.
std::unique_ptr<Sampler> make_tpe_sampler(const nlohmann::json& options, uint64_t seed,
                                          bool maximize);

/// @brief Optuna's default_gamma: how many of n trials are "below" (good), min(⌈n/10⌉, 25).
int64_t tpe_gamma(int64_t n);
/// @brief Optuna's default_weights: ones for n < 25; else linspace(1/n, 1, n − 25) then 25
/// ones (older observations weigh less).
std::vector<double> tpe_weights(int64_t n);

/// @brief The done trials (Finished with a non-NaN value, and Pruned) split as Optuna's
/// _split_trials does: the best tpe_gamma(n) Finished ones below, Pruned ones filling up when
/// too few are Finished (furthest step first, then the better value there, NaN worst, none
/// last); each set in trial-number order.
struct TpeSplit {
  std::vector<const Trial*> below, above;
};
TpeSplit tpe_split(const std::vector<Trial>& history, bool maximize);

/// @brief The Parzen estimator of one hyperparameter (Optuna's _ParzenEstimator with
/// prior_weight 1, consider_magic_clip on, consider_endpoints off): a mixture of one kernel per
/// observation plus the prior, last.
struct ParzenEstimator {
  Distribution dist;
  std::vector<double> weights;  ///< mixture weights, normalised; the prior's last
  // Numeric kinds: truncated normals in the internal space (log for LogUniform and log ints).
  std::vector<double> mus, sigmas;
  double low = 0, high = 0;  ///< the truncation bounds (ints widened by half a step)
  bool is_log = false;
  // Choice: one categorical distribution over the choices per kernel.
  std::vector<std::vector<double>> choice_probs;

  /// @brief From observations in internal form (numbers as they are, a choice by its index),
  /// in trial-number order (the weights favour later ones).
  static ParzenEstimator build(const Distribution& d, const std::vector<double>& observations);
  /// @brief One draw, in internal form (ints on their step grid, a choice by its index).
  double sample(std::mt19937_64& rng) const;
  /// @brief The log density (log probability for Int and Choice) at x in internal form.
  double log_pdf(double x) const;
};

}  // namespace gom::search::detail
