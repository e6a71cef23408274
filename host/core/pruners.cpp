// pruners.cpp — the median pruner (Optuna's MedianPruner, optuna/pruners/_percentile.py) and
// asynchronous successive halving (Ray Tune's AsyncHyperBandScheduler with one bracket,
// python/ray/tune/schedulers/async_hyperband.py), over the study's trials as they are now.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "gom/error.h"
#include "gom_core/search.h"
#include "search_internal.h"

namespace gom::search {

namespace {

using nlohmann::json;

class NoPruner final : public Pruner {
 public:
  bool should_prune(const Trial&, const std::vector<Trial>&) const override { return false; }
};

// Prunes a trial whose best value so far is worse than the median of the Finished trials'
// values at its current step. Steps are epochs (1-based) where Optuna's are often 0-based; the
// warmup and interval rules are Optuna's as written (n_warmup_steps 0 never holds one back).
class MedianPruner final : public Pruner {
 public:
  MedianPruner(bool maximize, int64_t n_startup, int64_t n_warmup, int64_t interval, int64_t n_min)
      : maximize_(maximize),
        n_startup_(n_startup),
        n_warmup_(n_warmup),
        interval_(interval),
        n_min_(n_min) {}

  bool should_prune(const Trial& current, const std::vector<Trial>& others) const override {
    std::vector<const Trial*> finished;
    for (const Trial& t : others)
      if (t.state == TrialState::Finished && t.number != current.number) finished.push_back(&t);
    if (finished.empty() || int64_t(finished.size()) < n_startup_) return false;
    if (current.intermediate.empty()) return false;
    const int64_t step = current.intermediate.rbegin()->first;
    if (step < n_warmup_ || !first_in_interval(current, step)) return false;

    // The best value so far (NaNs left out); all NaN prunes.
    double best = std::nan("");
    for (const auto& [s, v] : current.intermediate)
      if (!std::isnan(v) && (std::isnan(best) || (maximize_ ? v > best : v < best))) best = v;
    if (std::isnan(best)) return true;

    std::vector<double> at_step;
    for (const Trial* t : finished)
      if (const auto it = t->intermediate.find(step); it != t->intermediate.end())
        at_step.push_back(it->second);
    if (int64_t(at_step.size()) < n_min_) return false;
    // Optuna's percentile pruner keeps the top 50 %: percentile 50 for a loss, 100 − 50 for a
    // score; the median either way.
    const double median = detail::nan_percentile(at_step, maximize_ ? 100.0 - 50.0 : 50.0);
    if (std::isnan(median)) return false;
    return maximize_ ? best < median : best > median;
  }

 private:
  // Whether this step is the first reported in its interval since the warmup (Optuna's
  // _is_first_in_interval_step): the previous reported step lies before the interval's start.
  bool first_in_interval(const Trial& current, int64_t step) const {
    const int64_t interval_start = (step - n_warmup_) / interval_ * interval_ + n_warmup_;
    int64_t previous = -1;
    for (const auto& [s, v] : current.intermediate)
      if (s != step) previous = std::max(previous, s);
    return previous < interval_start;
  }

  bool maximize_;
  int64_t n_startup_, n_warmup_, interval_, n_min_;
};

// Rungs at milestones grace·rf^k. A trial is recorded at a rung once, by the first result at or
// past its milestone (Ray's _Bracket.on_result: the highest milestone reached and not yet
// recorded), so with every epoch reported a trial's value at rung m is its value at step m.
// Values are compared as scores: negated for a minimised metric. A result at step >= max_t is
// Ray's "stop at max_t": neither checked nor recorded (the trial's own epochs end it here).
class AshaPruner final : public Pruner {
 public:
  AshaPruner(bool maximize, double rf, int64_t grace, int64_t max_t)
      : maximize_(maximize), rf_(rf), max_t_(max_t) {
    for (double m = double(grace); m <= double(max_t); m *= rf) milestones_.push_back(m);
    std::reverse(milestones_.begin(), milestones_.end());  // highest first, as Ray's rungs
  }

  bool should_prune(const Trial& current, const std::vector<Trial>& others) const override {
    if (current.intermediate.empty()) return false;
    const auto& [step, value] = *current.intermediate.rbegin();
    if (step >= max_t_) return false;
    // The rungs the current trial was recorded at before this step, then the one it reaches
    // now (if any).
    const Records own = records(current, true);
    const auto rung = next_rung(own, step);
    if (!rung) return false;
    std::vector<double> recorded;
    for (const Trial& t : others) {
      if (t.number == current.number) continue;
      if (const std::optional<double> v = records(t, false)[*rung]) recorded.push_back(*v);
    }
    if (recorded.empty()) return false;
    // nanpercentile over what was recorded: with rf 4, the value 3/4 of the way up.
    const double cutoff = detail::nan_percentile(recorded, (1 - 1 / rf_) * 100);
    return score(value) < cutoff;  // false for a NaN value or cutoff, as in Ray
  }

 private:
  using Records = std::vector<std::optional<double>>;  // a score per rung, once set

  double score(double v) const { return maximize_ ? v : -v; }

  // The rung a result at `step` is recorded at: the highest milestone <= step not yet set.
  std::optional<size_t> next_rung(const Records& recorded, int64_t step) const {
    for (size_t r = 0; r < milestones_.size(); ++r)
      if (double(step) >= milestones_[r] && !recorded[r]) return r;
    return std::nullopt;
  }

  // A trial's scores by rung, walking its results in step order as Ray received them.
  Records records(const Trial& t, bool skip_last) const {
    Records recorded(milestones_.size());
    size_t left = t.intermediate.size() - (skip_last ? 1 : 0);
    for (const auto& [step, value] : t.intermediate) {
      if (left-- == 0 || step >= max_t_) break;
      if (const auto r = next_rung(recorded, step)) recorded[*r] = score(value);
    }
    return recorded;
  }

  bool maximize_;
  double rf_;
  int64_t max_t_;
  std::vector<double> milestones_;  // highest first
};

}  // namespace

std::unique_ptr<Pruner> make_pruner(const std::string& name, const json& options, bool maximize) {
  using detail::check_options;
  using detail::int_option;
  if (name == "none") {
    check_options(options, "the pruner none", {});
    return std::make_unique<NoPruner>();
  }
  if (name == "median") {
    const std::string what = "the median pruner";
    check_options(options, what,
                  {"n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"});
    return std::make_unique<MedianPruner>(maximize,
                                          int_option(options, what, "n_startup_trials", 5, 0),
                                          int_option(options, what, "n_warmup_steps", 0, 0),
                                          int_option(options, what, "interval_steps", 1, 1),
                                          int_option(options, what, "n_min_trials", 1, 1));
  }
  if (name == "asha") {
    const std::string what = "the asha pruner";
    check_options(options, what, {"reduction_factor", "grace_period", "max_t"});
    const double rf = detail::number_option(options, what, "reduction_factor", 4, 1);
    const int64_t grace = int_option(options, what, "grace_period", 1, 1);
    const int64_t max_t = int_option(options, what, "max_t", 100, 1);
    if (max_t < grace)
      throw Error(
          fmt::format("{}: max_t ({}) must be at least grace_period ({})", what, max_t, grace));
    return std::make_unique<AshaPruner>(maximize, rf, grace, max_t);
  }
  throw Error(fmt::format("unknown pruner '{}' (accepted: none, median, asha)", name));
}

}  // namespace gom::search
