// stats_league.cpp — a league's table from its contenders' per-seed values (league_stats in
// gom_core/stats.h says what it holds).
#include <algorithm>
#include <cstddef>
#include <utility>

#include "gom_core/stats.h"

namespace gom::stats {
namespace {

using SeedValues = std::map<int64_t, double>;

// The values of the seeds both contenders have results for, paired by seed.
std::pair<std::vector<double>, std::vector<double>> common_seeds(const SeedValues& a,
                                                                 const SeedValues& b) {
  std::pair<std::vector<double>, std::vector<double>> out;
  for (const auto& [seed, value] : a) {
    const auto it = b.find(seed);
    if (std::isnan(value) || it == b.end() || std::isnan(it->second)) continue;
    out.first.push_back(value);
    out.second.push_back(it->second);
  }
  return out;
}

ContenderStats contender_stats(const std::string& name, const SeedValues& by_seed, uint64_t seed,
                               int resamples) {
  std::vector<double> v;
  for (const auto& [s, value] : by_seed)
    if (!std::isnan(value)) v.push_back(value);
  ContenderStats c;
  c.name = name;
  c.n = int(v.size());
  c.mean = mean(v);
  c.iqm = iqm(v);
  c.median = median(v);
  if (!v.empty()) {
    c.min = *std::min_element(v.begin(), v.end());
    c.max = *std::max_element(v.begin(), v.end());
  }
  c.ci = bootstrap_mean_ci(v, seed, resamples);
  return c;
}

// a and b compared on their common seeds; p_holm and the verdict come once all pairs are known.
// Returns the pair and the mean paired difference a - b in the better direction (> 0: a better).
std::pair<PairStats, double> compare(const ContenderStats& a, const SeedValues& a_values,
                                     const ContenderStats& b, const SeedValues& b_values,
                                     bool maximize) {
  auto [xa, xb] = common_seeds(a_values, b_values);
  PairStats p;
  p.a = a.name;
  p.b = b.name;
  p.pairs = int(xa.size());
  double advantage = 0;  // sum of the differences, oriented so that > 0 means a is better
  for (std::size_t i = 0; i < xa.size(); ++i) {
    const double d = maximize ? xa[i] - xb[i] : xb[i] - xa[i];
    advantage += d;
    (d > 0 ? p.wins_a : d < 0 ? p.wins_b : p.ties) += 1;
  }
  p.test = wilcoxon_signed_rank(xa, xb);
  if (!maximize) {  // P(A better) = P(-A > -B)
    for (double& v : xa) v = -v;
    for (double& v : xb) v = -v;
  }
  p.p_improvement = probability_of_improvement(xa, xb);
  return {std::move(p), xa.empty() ? 0.0 : advantage / double(xa.size())};
}

}  // namespace

LeagueStats league_stats(const std::map<std::string, std::map<int64_t, double>>& values,
                         bool maximize, uint64_t seed, double alpha, int resamples) {
  LeagueStats league;
  for (const auto& [name, by_seed] : values)
    league.contenders.push_back(contender_stats(name, by_seed, seed, resamples));
  // Best mean first; the map gave name order, which stable_sort keeps for equal means.
  std::stable_sort(league.contenders.begin(), league.contenders.end(),
                   [&](const ContenderStats& a, const ContenderStats& b) {
                     if (a.n == 0 || b.n == 0) return a.n > 0 && b.n == 0;
                     return maximize ? a.mean > b.mean : a.mean < b.mean;
                   });

  std::vector<double> advantages, p_values;
  const auto& cs = league.contenders;
  for (std::size_t i = 0; i < cs.size(); ++i)
    for (std::size_t j = i + 1; j < cs.size(); ++j) {
      auto [pair, advantage] =
          compare(cs[i], values.at(cs[i].name), cs[j], values.at(cs[j].name), maximize);
      p_values.push_back(pair.test.p_value);
      advantages.push_back(advantage);
      league.pairs.push_back(std::move(pair));
    }

  const std::vector<double> holm = holm_adjust(p_values);
  std::map<std::string, int> better_than_me;  // contenders significantly better, by name
  for (std::size_t k = 0; k < league.pairs.size(); ++k) {
    PairStats& p = league.pairs[k];
    p.p_holm = holm[k];
    const bool significant = p.p_holm < alpha && advantages[k] != 0;
    p.verdict = !significant ? "no significant difference" : advantages[k] > 0 ? "better" : "worse";
    if (significant) ++better_than_me[advantages[k] > 0 ? p.b : p.a];
  }
  std::map<int, int> with_rank;
  for (ContenderStats& c : league.contenders) {
    c.rank = 1 + better_than_me[c.name];
    ++with_rank[c.rank];
  }
  for (ContenderStats& c : league.contenders) c.rank_shared = with_rank[c.rank] > 1;
  return league;
}

}  // namespace gom::stats
