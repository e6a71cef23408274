// The median and ASHA pruners (gom_core/search.h) on synthetic learning curves, each trial's
// fate worked out by hand. Trials run one after another: after each step the trial asks
// should_prune against the trials before it as they ended, and stops when told to.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>

#include "gom/error.h"
#include "gom_core/search.h"

using namespace gom::search;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {

using Curves = std::vector<std::vector<double>>;  // trial → its value at steps 1, 2, ...
using PrunedAt = std::map<int64_t, int64_t>;      // pruned trial → the step it was pruned at

PrunedAt simulate(const Pruner& pruner, const Curves& curves) {
  std::vector<Trial> done;
  PrunedAt pruned;
  for (size_t i = 0; i < curves.size(); ++i) {
    Trial t{int64_t(i), TrialState::Running, {}, std::nullopt, {}};
    for (size_t s = 1; s <= curves[i].size(); ++s) {
      t.intermediate[int64_t(s)] = curves[i][s - 1];
      if (pruner.should_prune(t, done)) {
        t.state = TrialState::Pruned;
        pruned[t.number] = int64_t(s);
        break;
      }
    }
    if (t.state == TrialState::Running) {
      t.state = TrialState::Finished;
      t.value = curves[i].back();
    }
    done.push_back(t);
  }
  return pruned;
}

Curves negated(Curves curves) {
  for (auto& curve : curves)
    for (double& v : curve) v = -v;
  return curves;
}

constexpr int kSteps = 16;
const double kNaN = std::nan("");

// m(s) = 10 − s/2 plus an offset: a loss curve that keeps falling.
std::vector<double> shifted(double offset) {
  std::vector<double> c;
  for (int s = 1; s <= kSteps; ++s) c.push_back(10 - 0.5 * s + offset);
  return c;
}

// The median pruner's curves (minimise). The reasoning, with the default n_startup_trials 5:
// - T0..T4 (offsets −2, +1, −1, 0, +2) run while fewer than 5 trials are finished: never
//   pruned (T4 would be at step 1 otherwise: the median of T0..T3 there is m − 0.5).
// - T5 (m − 1): the finished offsets −2, +1, −1, 0, +2 have median m; T5 stays below. Finished.
// - Now the median is that of −2, −1, −1, 0, +1, +2: m − 0.5 = 9.5 − s/2.
// - T6 follows m − 1 to 7 at step 4, then stays at 7: its best is 7 from step 4; at step 5 the
//   median is 7 (not worse), at step 6 it is 6.5: pruned at step 6.
// - T7 (m + 2): 11.5 against 9 at step 1: pruned at step 1.
// - T8 is all NaN: its best is NaN, which Optuna prunes: step 1.
// - T9 reports 0 then NaNs: its best ignores NaNs and stays 0: finished.
Curves median_curves() {
  Curves c = {shifted(-2), shifted(+1), shifted(-1), shifted(0), shifted(+2), shifted(-1)};
  std::vector<double> t6 = shifted(-1);
  for (int s = 5; s <= kSteps; ++s) t6[size_t(s - 1)] = 7;
  c.push_back(t6);
  c.push_back(shifted(+2));
  c.push_back(std::vector<double>(kSteps, kNaN));
  std::vector<double> t9(kSteps, kNaN);
  t9[0] = 0;
  c.push_back(t9);
  return c;
}

// ASHA's curves (maximise): value a at steps 1-3, b at steps 4-15, c at step 16. With
// reduction factor 4 and grace period 1 the rungs are 1, 4, 16 (64 > 16 steps); the cutoff
// is the 75th percentile (numpy, linear) of the others' values recorded at the rung.
// - T0 (5, 6, 7): nothing recorded anywhere yet. Finished.
// - T1 (3): rung 1 has {5}: cutoff 5, 3 < 5: pruned at step 1.
// - T2 (6, 5): rung 1 {5, 3}: 3 + 0.75·2 = 4.5, passes; rung 4 {6}: 5 < 6, pruned at step 4.
// - T3 (7, 8, 6): rung 1 {3, 5, 6}: 5.5, passes; rung 4 {5, 6}: 5.75, passes; rung 16 {7}:
//   6 < 7, pruned at step 16 (its 6 is still recorded there, as in Ray).
// - T4 (4): rung 1 {3, 5, 6, 7}: 6 + 0.25 = 6.25: pruned at step 1.
// - T5 (9, 7, 9): rung 1 {3, 4, 5, 6, 7}: 6; rung 4 {5, 6, 8}: 6 + 0.5·2 = 7 and 7 is not
//   below 7; rung 16 {6, 7}: 6.75. Finished.
// - T6 (6.5): rung 1 {3, 4, 5, 6, 7, 9}: 6 + 0.75 = 6.75: pruned at step 1.
// - T7 (10, 9, 8): rung 1 {…, 6.5, …}: 6.75; rung 4 {5, 6, 7, 8}: 7.25; rung 16 {6, 7, 9}:
//   7 + 0.5·2 = 8, not below. Finished.
Curves asha_curves() {
  const auto curve = [](double a, double b, double c) {
    std::vector<double> v;
    for (int s = 1; s <= kSteps; ++s) v.push_back(s < 4 ? a : s < 16 ? b : c);
    return v;
  };
  return {curve(5, 6, 7), curve(3, 3, 3), curve(6, 5, 5),       curve(7, 8, 6),
          curve(4, 4, 4), curve(9, 7, 9), curve(6.5, 6.5, 6.5), curve(10, 9, 8)};
}

}  // namespace

TEST_CASE("search: the median pruner prunes the trials worked out by hand", "[search]") {
  const PrunedAt expected = {{6, 6}, {7, 1}, {8, 1}};
  CHECK(simulate(*make_pruner("median", nullptr, false), median_curves()) == expected);
  CHECK(simulate(*make_pruner("median", nullptr, true), negated(median_curves())) == expected);

  // No checks before step 7: T6's best 7 is then worse than 9.5 − 3.5 = 6, and T7 and T8 go
  // on until then too.
  const json warmup = {{"n_warmup_steps", 7}};
  CHECK(simulate(*make_pruner("median", warmup, false), median_curves()) ==
        PrunedAt{{6, 7}, {7, 7}, {8, 7}});
  // Checks at the first step of each interval of 4: steps 1, 4, 8, 12, 16. At step 4 T6's 7
  // beats the median 7.5; at step 8 it is worse than 5.5.
  CHECK(simulate(*make_pruner("median", {{"interval_steps", 4}}, true), negated(median_curves())) ==
        PrunedAt{{6, 8}, {7, 1}, {8, 1}});
  // One finished trial is enough: everything worse than T0 (m − 2) at step 1 goes, all but T9.
  CHECK(simulate(*make_pruner("median", {{"n_startup_trials", 1}}, false), median_curves()) ==
        PrunedAt{{1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}, {6, 1}, {7, 1}, {8, 1}});
  CHECK(simulate(*make_pruner("none", nullptr, false), median_curves()).empty());
  CHECK_THROWS_WITH(make_pruner("median", {{"interval_steps", 0}}, false),
                    Contains("'interval_steps' must be an integer >= 1"));
  CHECK_THROWS_WITH(make_pruner("median", {{"percentile", 25}}, false),
                    Contains("unknown option 'percentile'"));
  CHECK_THROWS_WITH(make_pruner("hyperband", nullptr, false), Contains("none, median, asha"));
}

TEST_CASE("search: ASHA prunes the trials worked out by hand", "[search]") {
  const PrunedAt expected = {{1, 1}, {2, 4}, {3, 16}, {4, 1}, {6, 1}};
  CHECK(simulate(*make_pruner("asha", nullptr, true), asha_curves()) == expected);
  CHECK(simulate(*make_pruner("asha", nullptr, false), negated(asha_curves())) == expected);
  // With max_t 16 a result at step 16 is Ray's stop at max_t: not checked, so T3 finishes.
  CHECK(simulate(*make_pruner("asha", {{"max_t", 16}}, true), asha_curves()) ==
        PrunedAt{{1, 1}, {2, 4}, {4, 1}, {6, 1}});

  // A trial that skips steps is recorded at a rung by its first result past it (Ray): after
  // steps 1 and 5, step 5's value is checked at rung 4 against T0's 6 there.
  const std::vector<Trial> others = {{0, TrialState::Finished, {}, 6.0, {{1, 6}, {4, 6}, {5, 6}}}};
  const auto asha = make_pruner("asha", nullptr, true);
  CHECK(asha->should_prune({1, TrialState::Running, {}, std::nullopt, {{1, 9}, {5, 5}}}, others));
  CHECK_FALSE(
      asha->should_prune({1, TrialState::Running, {}, std::nullopt, {{1, 9}, {5, 7}}}, others));
  // Recorded at rung 4 already (step 4): step 5 reaches no new rung.
  CHECK_FALSE(asha->should_prune(
      {1, TrialState::Running, {}, std::nullopt, {{1, 9}, {4, 7}, {5, 5}}}, others));

  CHECK_THROWS_WITH(make_pruner("asha", {{"reduction_factor", 1}}, true),
                    Contains("'reduction_factor' must be a number > 1"));
  CHECK_THROWS_WITH(make_pruner("asha", {{"grace_period", 8}, {"max_t", 4}}, true),
                    Contains("max_t (4) must be at least grace_period (8)"));
}
