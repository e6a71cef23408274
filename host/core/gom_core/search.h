// gom_core/search.h — hyperparameter search: search spaces, samplers (grid, random, TPE) and
// pruners (median, ASHA). Pure functions over in-memory trial histories: the study store and
// the process runner call them. Host-level API, not part of the SDK.
//
// Conventions:
// - A trial's number is 0-based; its intermediate values are keyed by step (epoch), 1-based.
// - Random and TPE draw from a generator seeded by (seed, trial number) alone, so parallel
//   workers get the same params for a trial whatever order they ask in: the same space,
//   history, number and seed give the same params.
// - Values in Params are JSON: doubles for Uniform/LogUniform, integers for Int, the choice
//   itself (string, number or boolean) for Choice.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gom::search {

/// @brief The values one hyperparameter may take.
struct Distribution {
  enum class Kind { Uniform, LogUniform, Int, Choice } kind = Kind::Uniform;
  double low = 0, high = 0;  ///< Uniform/LogUniform/Int bounds, inclusive (low < high)
  bool log = false;          ///< Int only: sampled uniformly in log space (then step must be 1)
  int64_t step = 1;          ///< Int only: the values are low, low + step, ... <= high
  std::vector<nlohmann::json> choices;  ///< Choice: strings, numbers or booleans
  int grid = 0;  ///< Uniform/LogUniform: points for a grid search (>= 2; 0: not griddable)
};

/// @brief key (such as "optimizer.lr") → distribution, in key order.
using SearchSpace = std::vector<std::pair<std::string, Distribution>>;
/// @brief A trial's values, by key.
using Params = std::map<std::string, nlohmann::json>;

/// @brief {"type": "uniform"|"loguniform"|"int"|"choice", ...}: low/high (and grid when set)
/// for uniform and loguniform; low/high/step/log for int; choices for choice.
nlohmann::json to_json(const Distribution& d);
/// @brief The inverse of to_json, validated: known type and fields only, finite low < high,
/// low > 0 for a log scale, integral int bounds, step >= 1, step 1 on a log int, grid 0 or
/// >= 2, choices non-empty, distinct and each a string, number or boolean. gom::Error saying
/// what is wrong and what is accepted otherwise.
Distribution distribution_from_json(const nlohmann::json& j);
/// @brief A space as a JSON object {key: distribution}; its keys come back in key order.
nlohmann::json to_json(const SearchSpace& space);
/// @brief The inverse of to_json(SearchSpace): an object of distributions; gom::Error naming
/// the key of a bad one.
SearchSpace space_from_json(const nlohmann::json& j);

/// @brief Whether v is a value d can give: a number within the bounds (an integer on the step
/// grid for Int), or one of the choices.
bool accepts(const Distribution& d, const nlohmann::json& v);

/// @brief The text for `gom run --set key=TEXT`: strings raw, true/false, integers as
/// integers, doubles as their shortest round-trip text with a ".0" on whole numbers (0.001 →
/// "0.001", 1e-05 → "1e-05", 3.0 → "3.0"). gom::Error for null, arrays and objects.
std::string override_text(const nlohmann::json& v);

enum class TrialState { Running, Finished, Pruned, Failed };

/// @brief One trial of a study as it stands.
struct Trial {
  int64_t number = 0;  ///< 0-based, unique in the study
  TrialState state = TrialState::Running;
  Params params;
  std::optional<double> value;             ///< the objective of a Finished trial
  std::map<int64_t, double> intermediate;  ///< step (epoch, 1-based) → value
};

/// @brief Proposes the params of trial `number` given the study's other trials (any order;
/// Running and Failed ones are ignored).
class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual Params sample(const SearchSpace& space, const std::vector<Trial>& history,
                        int64_t number) = 0;
  /// @brief How many trials the sampler can propose (the grid's size); nullopt: no limit.
  virtual std::optional<int64_t> size(const SearchSpace&) const { return std::nullopt; }
};

/// @brief "grid", "random" or "tpe" with its options (null or an object):
/// - grid: trial n is the n-th point of the Cartesian product of the keys' grids, the last key
///   varying fastest (Int: every value; Choice: every choice; Uniform/LogUniform: `grid`
///   points evenly in linear/log space, both ends included). n >= size() is an error.
/// - random: uniform, log-uniform, ints uniform over the steps (log ints: uniform in log
///   space over [low - 1/2, high + 1/2], rounded), choices uniform.
/// - tpe: Optuna's TPESampler with its defaults (independent, univariate; see
///   sampler_tpe.cpp); options n_startup_trials (10) and n_ei_candidates (24).
/// `maximize` is the study's direction (TPE ranks trials by it).
std::unique_ptr<Sampler> make_sampler(const std::string& name, const nlohmann::json& options,
                                      uint64_t seed, bool maximize);

/// @brief Decides whether a trial should stop early.
class Pruner {
 public:
  virtual ~Pruner() = default;
  /// @brief Whether `current` (its intermediate values so far; its last step is the step now)
  /// should stop, given the other trials of the study as they are now.
  virtual bool should_prune(const Trial& current, const std::vector<Trial>& others) const = 0;
};

/// @brief "none", "median" or "asha" with its options (null or an object):
/// - median: Optuna's MedianPruner (options n_startup_trials 5, n_warmup_steps 0,
///   interval_steps 1, n_min_trials 1).
/// - asha: Ray Tune's AsyncHyperBandScheduler, one bracket (options reduction_factor 4,
///   grace_period 1, max_t 100; max_t only bounds the rungs, it stops nothing itself).
std::unique_ptr<Pruner> make_pruner(const std::string& name, const nlohmann::json& options,
                                    bool maximize);

}  // namespace gom::search
