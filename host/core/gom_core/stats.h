// gom_core/stats.h — the statistics of leagues and sweeps ("honest statistics"): the mean with
// a seeded percentile-bootstrap interval, the IQM, the median, the probability of improvement
// (as rliable), the paired Wilcoxon signed-rank test (as scipy 1.10.1), Holm's adjustment, and
// the league table built from them. Pure functions over doubles; host-level API, not the SDK.
//
// NaN values are missing results: every function here leaves them out (a paired function
// leaves out the pairs where either value is NaN).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace gom::stats {

/// @brief A confidence interval [low, high]; both NaN when there are no values.
struct Interval {
  double low = NAN, high = NAN;
};

/// @brief The arithmetic mean; NaN for no values.
double mean(std::span<const double> x);

/// @brief The median: the middle value, or the average of the two middle values for an even
/// count; NaN for no values.
double median(std::span<const double> x);

/// @brief The interquartile mean as rliable computes it, scipy.stats.trim_mean(x, 0.25): the
/// mean of the sorted values left after cutting floor(n / 4) from each end; NaN for no values.
double iqm(std::span<const double> x);

/// @brief The `confidence` percentile-bootstrap interval of the mean, as
/// scipy.stats.bootstrap((x,), np.mean, method='percentile'): `resamples` samples of n values
/// drawn with replacement, the interval ends being the (1 - confidence) / 2 and
/// (1 + confidence) / 2 percentiles of their means (linear interpolation, numpy's default).
/// The draws come from std::mt19937_64 seeded with `seed` and an unbiased rejection draw of
/// the index (not std::uniform_int_distribution, whose algorithm differs between standard
/// libraries), so one seed gives the same interval everywhere. n == 1: [x, x]; n == 0: NaNs.
/// Throws gom::Error for resamples < 1 or confidence outside (0, 1).
Interval bootstrap_mean_ci(std::span<const double> x, uint64_t seed = 0, int resamples = 10000,
                           double confidence = 0.95);

/// @brief The `confidence` percentile-bootstrap interval of mean(x) - mean(y) for unpaired
/// samples, as scipy.stats.bootstrap((x, y), lambda a, b: a.mean() - b.mean(),
/// method='percentile') (which resamples each sample on its own): each of `resamples` draws
/// resamples x then y with replacement (same generator and index draw as bootstrap_mean_ci; a
/// sample of one value is not drawn from). Both of one value: [x - y, x - y]; either empty: NaNs.
/// Throws gom::Error for resamples < 1 or confidence outside (0, 1).
Interval bootstrap_mean_difference_ci(std::span<const double> x, std::span<const double> y,
                                      uint64_t seed = 0, int resamples = 10000,
                                      double confidence = 0.95);

/// @brief The probability of improvement P(X > Y), ties counted half: U / (n_x n_y), U being
/// scipy.stats.mannwhitneyu(x, y).statistic (rliable's probability of improvement). Unpaired:
/// x and y may differ in length. NaN when either is empty.
double probability_of_improvement(std::span<const double> x, std::span<const double> y);

/// @brief The result of wilcoxon_signed_rank.
struct SignedRankTest {
  double statistic = NAN;  ///< min(R+, R-), the smaller rank sum
  double p_value = NAN;    ///< two-sided
  bool exact = false;      ///< the exact null distribution (else the normal approximation)
  int n = 0;               ///< the pairs ranked: those with a nonzero difference
};

/// @brief Wilcoxon's signed-rank test of paired x and y (d = x - y), two-sided, as
/// scipy.stats.wilcoxon(x, y) in scipy 1.10.1 with its defaults: zero differences are dropped
/// (zero_method "wilcox"), |d| are ranked with ties given their average rank, and the statistic
/// is min(R+, R-). The p-value is exact (the distribution of R+ over the 2^n sign patterns)
/// for n <= 50 pairs without zero differences and without ties among |d|; otherwise it is the
/// normal approximation with the tie correction and without continuity correction,
/// z = (T - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24 - sum(t^3 - t)/48), p = 2 sf(|z|).
///
/// Where this differs from scipy 1.10.1: with ties among |d| (and no zeros) scipy's default
/// still takes the exact distribution, evaluated at R+ truncated to an integer (scipy issues
/// #13689 and #15856; later versions no longer do); this takes the normal approximation, which
/// is scipy's method='approx'. When every difference is zero scipy raises; this returns
/// statistic 0, p 1 (no evidence of a difference), n 0. No pairs: NaNs, n 0. And scipy
/// compares exactly; here |d| that agree to 9 significant digits are ties and a difference
/// below 1e-9 of its values is zero, so that float rounding (3.03 − 2.03 against 1.03 − 0.03)
/// never decides between the exact test and the approximation.
///
/// The exact two-sided p cannot go below min_p_value(n) = 2 / 2^n, reached when every
/// difference has the same sign: with 5 pairs (5 seeds) it is 2/32 = 0.0625, so no 5-seed
/// comparison can be significant at 0.05; 6 pairs are needed (0.03125).
/// Throws gom::Error when x and y differ in length (saying both lengths).
SignedRankTest wilcoxon_signed_rank(std::span<const double> x, std::span<const double> y);

/// @brief The smallest two-sided p-value the exact signed-rank test can give for n pairs:
/// 2 / 2^n (1 for n <= 1). A CLI warns when it is not below alpha: those seeds can never show
/// a significant difference.
double min_p_value(int n);

/// @brief Holm–Bonferroni adjusted p-values, in the order given: with p sorted ascending,
/// p_adj(i) = min(1, max over j <= i of (m - j) p(j)), 0-based, m being the number of p-values
/// that are not NaN. NaN entries stay NaN and do not count in m.
std::vector<double> holm_adjust(std::span<const double> p);

/// @brief One contender of a league: the statistics of its values over the seeds.
struct ContenderStats {
  std::string name;
  int n = 0;  ///< values (seeds with a result)
  double mean = NAN, iqm = NAN, median = NAN, min = NAN, max = NAN;
  Interval ci;  ///< bootstrap_mean_ci of the values
  /// 1 + the number of contenders significantly better than this one (see league_stats).
  int rank = 1;
  bool rank_shared = false;  ///< another contender has the same rank
};

/// @brief One pair of contenders, `a` ranked above `b` (by mean), compared on the seeds both
/// have results for.
struct PairStats {
  std::string a, b;
  int pairs = 0;  ///< seeds both have
  int wins_a = 0, wins_b = 0, ties = 0;
  /// P(A better than B) over those seeds, ties half: probability_of_improvement(a, b) when
  /// higher is better, of the negated values when lower is.
  double p_improvement = NAN;
  SignedRankTest test;  ///< wilcoxon_signed_rank(a, b) over those seeds
  double p_holm = NAN;  ///< test.p_value adjusted by Holm over all the league's pairs
  /// A relative to B: "better", "worse" or "no significant difference".
  std::string verdict;
};

/// @brief A league's table: contenders ranked by mean, best first (ties by name, contenders
/// without values last), and every pair (a ranked above b, in that order).
struct LeagueStats {
  std::vector<ContenderStats> contenders;
  std::vector<PairStats> pairs;
};

/// @brief The league table of values[contender][seed], the contender's result on that seed
/// (NaN: no result). maximize: higher is better.
///
/// Seeds are paired (seed k gives every contender the same data and random stream), so each
/// pair is compared on the seeds both have: wins, P(A better than B) and the signed-rank test.
/// A pair's verdict is "better" or "worse" when its Holm-adjusted p-value (over all pairs) is
/// below alpha, the direction being the sign of the mean paired difference (respecting
/// maximize); otherwise, or when that mean difference is 0, "no significant difference".
/// A contender's rank is 1 + the number of contenders significantly better than it: ranks
/// need not be consecutive, and need not follow the order of the means (A significantly
/// better than B, C separated from neither: A 1, B 2, C 1). Every contender's interval uses the
/// same bootstrap seed.
LeagueStats league_stats(const std::map<std::string, std::map<int64_t, double>>& values,
                         bool maximize, uint64_t seed = 0, double alpha = 0.05,
                         int resamples = 10000);

}  // namespace gom::stats
