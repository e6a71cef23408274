// sampler_tpe.cpp — the Tree-structured Parzen Estimator sampler, after Optuna's TPESampler
// (optuna/samplers/_tpe/sampler.py) with its defaults: independent (one key at a time),
// univariate, no constant liar.
//
// - Until n_startup_trials trials are done (Finished with a value, or Pruned: Optuna counts
//   both), params are drawn as the random sampler draws them.
// - Then the done trials are split: the best gamma(n) Finished ones by value are "below"
//   (good); if there are fewer Finished trials than that, Pruned ones fill up the rest, ranked
//   as Optuna ranks them: the furthest step first, then the better value at that step (NaN
//   worst), those with no intermediate value last. All others are "above". Both sets are in
//   trial-number order (later trials weigh more once a set has 25 or more).
// - For each key, a Parzen estimator l(x) over the below set's values and g(x) over the above
//   set's; n_ei_candidates values are drawn from l and the one with the largest
//   log l(x) − log g(x) is taken.
// A trial whose value for a key is missing or outside the key's distribution (the space was
// changed) is left out of that key's estimators, as Optuna leaves out trials without the param.
// Finished trials without a value or with a NaN value count as failed (Optuna fails them).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "gom/error.h"
#include "gom_core/search.h"
#include "search_internal.h"

namespace gom::search::detail {

namespace {

using Kind = Distribution::Kind;
using nlohmann::json;

bool by_number(const Trial* a, const Trial* b) {
  return a->number < b->number;
}

// Optuna's _get_pruned_trial_score, smaller first: (−last step, the value there as a loss).
std::pair<double, double> pruned_rank(const Trial& t, bool maximize) {
  if (t.intermediate.empty()) return {1, 0};
  const auto& [step, value] = *t.intermediate.rbegin();
  if (std::isnan(value)) return {-double(step), std::numeric_limits<double>::infinity()};
  return {-double(step), maximize ? -value : value};
}

}  // namespace

TpeSplit tpe_split(const std::vector<Trial>& history, bool maximize) {
  std::vector<const Trial*> finished, pruned;
  for (const Trial& t : history) {
    if (t.state == TrialState::Finished && t.value && !std::isnan(*t.value)) finished.push_back(&t);
    if (t.state == TrialState::Pruned) pruned.push_back(&t);
  }
  // In trial-number order first (the history may come in any order), so that the stable sorts
  // break ties by number as Optuna's do.
  std::sort(finished.begin(), finished.end(), by_number);
  std::sort(pruned.begin(), pruned.end(), by_number);
  std::stable_sort(finished.begin(), finished.end(), [&](const Trial* a, const Trial* b) {
    return maximize ? *a->value > *b->value : *a->value < *b->value;
  });
  std::stable_sort(pruned.begin(), pruned.end(), [&](const Trial* a, const Trial* b) {
    return pruned_rank(*a, maximize) < pruned_rank(*b, maximize);
  });
  const auto n_below = size_t(tpe_gamma(int64_t(finished.size() + pruned.size())));
  const size_t from_finished = std::min(n_below, finished.size());
  const size_t from_pruned = std::min(n_below - from_finished, pruned.size());
  TpeSplit split;
  for (size_t i = 0; i < finished.size(); ++i)
    (i < from_finished ? split.below : split.above).push_back(finished[i]);
  for (size_t i = 0; i < pruned.size(); ++i)
    (i < from_pruned ? split.below : split.above).push_back(pruned[i]);
  std::sort(split.below.begin(), split.below.end(), by_number);
  std::sort(split.above.begin(), split.above.end(), by_number);
  return split;
}

namespace {

// The trials' values for one key in internal form (a choice by its index).
std::vector<double> observations(const std::vector<const Trial*>& trials, const std::string& key,
                                 const Distribution& d) {
  std::vector<double> out;
  for (const Trial* t : trials) {
    const auto it = t->params.find(key);
    if (it == t->params.end() || !accepts(d, it->second)) continue;
    out.push_back(d.kind == Kind::Choice ? double(*choice_index(d, it->second))
                                         : it->second.get<double>());
  }
  return out;
}

json external(const Distribution& d, double x) {
  switch (d.kind) {
    case Kind::Int:
      return int64_t(x);
    case Kind::Choice:
      return d.choices[size_t(x)];
    default:
      return x;
  }
}

class TpeSampler final : public Sampler {
 public:
  TpeSampler(uint64_t seed, bool maximize, int64_t n_startup, int64_t n_candidates)
      : seed_(seed), maximize_(maximize), n_startup_(n_startup), n_candidates_(n_candidates) {}

  Params sample(const SearchSpace& space, const std::vector<Trial>& history,
                int64_t number) override {
    std::mt19937_64 rng = trial_generator(seed_, number);
    const TpeSplit split = tpe_split(history, maximize_);
    Params params;
    if (int64_t(split.below.size() + split.above.size()) < n_startup_) {
      for (const auto& [key, d] : space) params[key] = sample_random(d, rng);
      return params;
    }
    for (const auto& [key, d] : space) {
      const ParzenEstimator below = ParzenEstimator::build(d, observations(split.below, key, d));
      const ParzenEstimator above = ParzenEstimator::build(d, observations(split.above, key, d));
      double best = 0, best_score = -std::numeric_limits<double>::infinity();
      for (int64_t i = 0; i < n_candidates_; ++i) {
        const double x = below.sample(rng);
        const double score = below.log_pdf(x) - above.log_pdf(x);
        if (i == 0 || score > best_score) best = x, best_score = score;  // the first on ties
      }
      params[key] = external(d, best);
    }
    return params;
  }

 private:
  uint64_t seed_;
  bool maximize_;
  int64_t n_startup_, n_candidates_;
};

}  // namespace

std::unique_ptr<Sampler> make_tpe_sampler(const json& options, uint64_t seed, bool maximize) {
  const std::string what = "the tpe sampler";
  check_options(options, what, {"n_startup_trials", "n_ei_candidates"});
  return std::make_unique<TpeSampler>(seed, maximize,
                                      int_option(options, what, "n_startup_trials", 10, 0),
                                      int_option(options, what, "n_ei_candidates", 24, 1));
}

}  // namespace gom::search::detail
