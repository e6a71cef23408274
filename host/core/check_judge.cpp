// check_judge.cpp — the verdict on a claim from the candidate's values (and the baseline's):
// gom_core/check.h says how each kind of claim is judged.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "gom/error.h"
#include "gom_core/check.h"

namespace gom::check {
namespace {

std::vector<double> present(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v)
    if (!std::isnan(x)) out.push_back(x);
  return out;
}

// Seed → value of the values that are not NaN; empty when the values have no seeds.
std::map<int64_t, double> by_seed(const Values& v) {
  std::map<int64_t, double> out;
  if (v.seeds.size() != v.values.size()) return out;
  for (size_t i = 0; i < v.values.size(); ++i)
    if (!std::isnan(v.values[i])) out[v.seeds[i]] = v.values[i];
  return out;
}

bool same_keys(const std::map<int64_t, double>& a, const std::map<int64_t, double>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](const auto& x, const auto& y) { return x.first == y.first; });
}

Verdict threshold_verdict(const Claim& c, const stats::Interval& ci) {
  const double t = c.value;
  switch (c.comparison) {
    case Comparison::kAtLeast:
      return ci.low >= t ? Verdict::kPass : ci.high < t ? Verdict::kFail : Verdict::kInconclusive;
    case Comparison::kAbove:
      return ci.low > t ? Verdict::kPass : ci.high <= t ? Verdict::kFail : Verdict::kInconclusive;
    case Comparison::kAtMost:
      return ci.high <= t ? Verdict::kPass : ci.low > t ? Verdict::kFail : Verdict::kInconclusive;
    case Comparison::kBelow:
      return ci.high < t ? Verdict::kPass : ci.low >= t ? Verdict::kFail : Verdict::kInconclusive;
    case Comparison::kNotWorseThanBaseline:
      break;
  }
  return Verdict::kInconclusive;
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "pass";
    case Verdict::kFail:
      return "fail";
    case Verdict::kInconclusive:
      return "inconclusive";
  }
  return "?";
}

Judgement judge(const Claim& claim, const Values& candidate, const Values* baseline, uint64_t seed,
                int resamples) {
  Judgement j;
  const std::vector<double> c = present(candidate.values);
  j.n = int(c.size());
  j.mean = stats::mean(c);
  j.ci = stats::bootstrap_mean_ci(c, seed, resamples);
  const bool baseline_claim = claim.comparison == Comparison::kNotWorseThanBaseline;
  if (baseline_claim) {
    if (!baseline) throw Error(fmt::format("the claim '{}' needs a baseline", claim.text));
    const std::vector<double> b = present(baseline->values);
    j.baseline_n = int(b.size());
    j.reference = stats::mean(b);
    j.baseline_ci = stats::bootstrap_mean_ci(b, seed, resamples);
  } else {
    j.reference = claim.value;
  }
  j.change = j.mean - j.reference;
  j.relative = j.reference != 0 ? j.change / std::abs(j.reference) : NAN;

  const size_t missing = candidate.values.size() - c.size();
  if (c.empty()) {
    j.verdict = Verdict::kFail;
    j.note = "no value: the runs failed or did not log the metric";
    return j;
  }
  if (missing > 0) {
    j.verdict = Verdict::kFail;
    j.note = fmt::format("{} of {} seeds have no value (their runs failed or did not log it)",
                         missing, candidate.values.size());
    return j;
  }
  if (!baseline_claim) {
    j.verdict = threshold_verdict(claim, j.ci);
    return j;
  }
  if (j.baseline_n == 0) {
    j.verdict = Verdict::kInconclusive;
    j.note = "the baseline has no value";
    return j;
  }
  const double sign = claim.maximize ? 1 : -1;
  const auto cs = by_seed(candidate), bs = by_seed(*baseline);
  if (!cs.empty() && same_keys(cs, bs)) {
    j.paired = true;
    std::vector<double> d;
    for (const auto& [s, v] : cs) d.push_back(sign * (v - bs.at(s)));
    j.difference_ci = stats::bootstrap_mean_ci(d, seed, resamples);
  } else {
    const stats::Interval raw =
        stats::bootstrap_mean_difference_ci(c, present(baseline->values), seed, resamples);
    j.difference_ci = sign > 0 ? raw : stats::Interval{-raw.high, -raw.low};
  }
  const double tol = claim.value;
  j.verdict = j.difference_ci.low > -tol    ? Verdict::kPass
              : j.difference_ci.high < -tol ? Verdict::kFail
                                            : Verdict::kInconclusive;
  return j;
}

}  // namespace gom::check
