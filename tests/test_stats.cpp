// The statistics of leagues (gom_core/stats.h): every function against scipy 1.10.1's answers
// (fixtures/stats.json, from gen_stats_fixtures.py), cases worked by hand, the league table
// of small constructed leagues (maximized and minimized), and the errors.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gom/error.h"
#include "gom_core/stats.h"

using namespace gom::stats;
using json = nlohmann::json;
using Catch::Matchers::Contains;

namespace {

using V = std::vector<double>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const json& stats_fixtures() {
  static const json cases = [] {
    std::ifstream in(GOM_FIXTURE_DIR "/stats.json");
    if (!in) throw gom::Error("cannot open " GOM_FIXTURE_DIR "/stats.json");
    return json::parse(in).at("cases");
  }();
  return cases;
}

std::vector<double> doubles(const json& j) {
  return j.get<std::vector<double>>();
}

// numpy sums with pairwise summation and trim_mean partitions before summing, so a mean may
// differ from ours in the last bits: "exactly" here is 1e-12 relative.
Approx close(double v) {
  return Approx(v).epsilon(1e-12).margin(1e-15);
}

std::map<int64_t, double> by_seed(const std::vector<double>& v) {
  std::map<int64_t, double> m;
  for (std::size_t i = 0; i < v.size(); ++i) m[int64_t(i)] = v[i];
  return m;
}

const PairStats& pair_of(const LeagueStats& l, const std::string& a, const std::string& b) {
  for (const PairStats& p : l.pairs)
    if (p.a == a && p.b == b) return p;
  throw std::logic_error("no pair " + a + " / " + b);
}

}  // namespace

TEST_CASE("stats: mean, median, IQM and P(X > Y) match scipy", "[stats]") {
  for (const json& c : stats_fixtures()) {
    INFO(c.at("name").get<std::string>());
    for (const char* which : {"x", "y"}) {
      const std::vector<double> v = doubles(c.at(which));
      const json& expected = c.at(std::string(which) + "_stats");
      CHECK(mean(v) == close(expected.at("mean").get<double>()));
      CHECK(median(v) == expected.at("median").get<double>());
      CHECK(iqm(v) == close(expected.at("iqm").get<double>()));
    }
    const std::vector<double> x = doubles(c.at("x")), y = doubles(c.at("y"));
    // U counts halves: exact in a double, as scipy's rank sums are.
    CHECK(probability_of_improvement(x, y) == c.at("p_improvement").get<double>());
  }
}

TEST_CASE("stats: the Wilcoxon signed-rank test matches scipy", "[stats]") {
  int exact = 0, approx = 0;
  for (const json& c : stats_fixtures()) {
    if (!c.contains("wilcoxon")) continue;
    INFO(c.at("name").get<std::string>());
    const json& w = c.at("wilcoxon");
    const SignedRankTest t = wilcoxon_signed_rank(doubles(c.at("x")), doubles(c.at("y")));
    CHECK(t.statistic == w.at("statistic").get<double>());
    CHECK(t.p_value == Approx(w.at("pvalue").get<double>()).epsilon(1e-9));
    CHECK(t.exact == (w.at("method") == "exact"));
    (t.exact ? exact : approx) += 1;
    // Where scipy's default takes the exact distribution despite ties, we do not (stats.h).
    if (c.contains("wilcoxon_scipy_default"))
      CHECK(t.p_value != Approx(c.at("wilcoxon_scipy_default").at("pvalue").get<double>()));
  }
  CHECK(exact >= 4);  // both paths are exercised
  CHECK(approx >= 4);
}

TEST_CASE("stats: the bootstrap interval agrees with scipy's and is reproducible", "[stats]") {
  for (const json& c : stats_fixtures()) {
    for (const char* which : {"x", "y"}) {
      INFO(c.at("name").get<std::string>() << ", " << which);
      const std::vector<double> v = doubles(c.at(which));
      const json& expected = c.at(std::string(which) + "_stats");
      const Interval ci = bootstrap_mean_ci(v, 0);
      // Both intervals are Monte-Carlo estimates: ours from 10,000 resamples, scipy's from
      // 100,000. The generator measured how much a 10,000-resample end varies between seeds
      // (ci_mc_sd, over 100 scipy runs; near 0 where the few distinct means of a small discrete
      // sample put the percentile on one attainable mean every time). The difference of the two
      // estimates has a standard deviation of about 1.05 ci_mc_sd, so 4 ci_mc_sd is a 3.8-sigma
      // bound; a wrong percentile, a biased draw or an off-by-one resample size is off by far
      // more (about one ci width / 4 for the wrong tail). 1e-12 of the range absorbs rounding.
      const auto values = c.at(which).get<std::vector<double>>();
      const double range = *std::max_element(values.begin(), values.end()) -
                           *std::min_element(values.begin(), values.end());
      const double rounding = 1e-12 * range;
      CHECK(std::abs(ci.low - expected.at("ci")[0].get<double>()) <=
            4 * expected.at("ci_mc_sd")[0].get<double>() + rounding);
      CHECK(std::abs(ci.high - expected.at("ci")[1].get<double>()) <=
            4 * expected.at("ci_mc_sd")[1].get<double>() + rounding);
      // The same seed gives the same interval, bit for bit.
      const Interval again = bootstrap_mean_ci(v, 0);
      CHECK(again.low == ci.low);
      CHECK(again.high == ci.high);
    }
  }
  // Another seed draws other resamples: on a continuous sample the ends move.
  const json& wide = stats_fixtures().at(8);
  REQUIRE(wide.at("name") == "n60, normal approximation");
  const std::vector<double> v = doubles(wide.at("x"));
  const Interval a = bootstrap_mean_ci(v, 0), b = bootstrap_mean_ci(v, 1);
  CHECK(a.low != b.low);
  CHECK(a.high != b.high);
  CHECK(bootstrap_mean_ci(v, 1).low == b.low);
}

TEST_CASE("stats: small cases worked by hand", "[stats]") {
  // P(X > Y): 1 against 2s: 0; 2: three ties, 1.5; 3: 3. Of 9 pairs.
  CHECK(probability_of_improvement(V{1.0, 2.0, 3.0}, V{2.0, 2.0, 2.0}) == (0 + 0.5 * 3 + 3) / 9);
  CHECK(probability_of_improvement(V{5.0}, V{1.0, kNaN}) == 1.0);
  CHECK(std::isnan(probability_of_improvement(V{}, V{1.0})));

  CHECK(mean(V{1.0, kNaN, 3.0}) == 2.0);  // NaN is a missing value
  CHECK(std::isnan(mean(V{})));
  CHECK(median(V{3.0, 1.0, 2.0, 4.0}) == 2.5);
  CHECK(median(V{3.0, 1.0, 2.0}) == 2.0);
  CHECK(iqm(V{8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0}) == 4.5);  // cut 2: {3, 4, 5, 6}
  CHECK(iqm(V{10.0, 1.0, 2.0, 3.0, 100.0}) == 5.0);              // cut 1: {2, 3, 10}
  CHECK(iqm(V{1.0, 2.0, 6.0}) == 3.0);                           // cut 0

  // Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> 0.06.
  const std::vector<double> holm = holm_adjust(V{0.01, 0.04, 0.03, 0.005});
  REQUIRE(holm.size() == 4);
  CHECK(holm[0] == Approx(0.03).epsilon(1e-15));
  CHECK(holm[1] == Approx(0.06).epsilon(1e-15));
  CHECK(holm[2] == Approx(0.06).epsilon(1e-15));
  CHECK(holm[3] == Approx(0.02).epsilon(1e-15));
  CHECK(holm_adjust(V{0.5, 0.6}) == V{1.0, 1.0});                         // 2 x 0.5, capped
  const std::vector<double> with_nan = holm_adjust(V{kNaN, 0.02, 0.04});  // m = 2
  CHECK(std::isnan(with_nan[0]));
  CHECK(with_nan[1] == 0.04);
  CHECK(with_nan[2] == 0.04);

  // Exact: five positive differences, R- = 0: only the empty sign pattern and its mirror are
  // as extreme, p = 2/32. Six: 2/64.
  SignedRankTest t = wilcoxon_signed_rank(V{2.0, 3.0, 4.0, 5.0, 6.0}, V{1.0, 1.0, 1.0, 1.0, 1.0});
  CHECK(t.statistic == 0);
  CHECK(t.p_value == 0.0625);
  CHECK(t.exact);
  CHECK(t.n == 5);
  CHECK(min_p_value(5) == 0.0625);
  CHECK(min_p_value(6) == 0.03125);
  CHECK(min_p_value(1) == 1.0);
  CHECK(min_p_value(0) == 1.0);
  CHECK(wilcoxon_signed_rank(V{7.0, 2, 3, 4, 5, 6}, V(6, 0.0)).p_value == 0.03125);
  // d = 1, -2, 3, 4, 5: R- = 2; sign patterns with R+ <= 2: {}, {1}, {2}: p = 2 x 3/32.
  t = wilcoxon_signed_rank(V{1.0, -2, 3, 4, 5}, V(5, 0.0));
  CHECK(t.statistic == 2);
  CHECK(t.p_value == 6.0 / 32);
  // A zero difference: dropped, normal approximation. d = 1, -1, 2 (ranks 1.5, 1.5, 3):
  // T = 1.5, mean 3, variance (3 * 4 * 7 - (2^3 - 2) / 2) / 24 = 81 / 24.
  t = wilcoxon_signed_rank(V{0.0, 1, -1, 2}, V(4, 0.0));
  CHECK(!t.exact);
  CHECK(t.n == 3);
  CHECK(t.statistic == 1.5);
  CHECK(t.p_value == Approx(std::erfc(1.5 / std::sqrt(81.0 / 24) / std::sqrt(2.0))).epsilon(1e-12));
  // Rounding decides nothing: 3.03 − 2.03 and 1.03 − 0.03 differ in their last bits but are
  // tied 1s (normal approximation, T = 0 of 7 tied ranks: z = −14 / sqrt(35 − 336 / 48)), and
  // 0.1 + 0.2 against 0.3 is no difference.
  const V seeds = {0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06};
  V hi, lo;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    hi.push_back((i % 2 ? 3.0 : 1.0) + seeds[i]);
    lo.push_back((i % 2 ? 2.0 : 0.0) + seeds[i]);
  }
  t = wilcoxon_signed_rank(hi, lo);
  CHECK(!t.exact);
  CHECK(t.statistic == 0);
  CHECK(t.p_value == Approx(std::erfc(14 / std::sqrt(28.0) / std::sqrt(2.0))).epsilon(1e-12));
  t = wilcoxon_signed_rank(V{0.1 + 0.2, 5.0}, V{0.3, 4.0});
  CHECK(t.n == 1);
  // Pairs with a NaN are left out.
  const SignedRankTest with_gap =
      wilcoxon_signed_rank(V{2.0, kNaN, 4, 5, 6, 7}, V{1.0, 0, 1, 1, kNaN, 1});
  CHECK(with_gap.n == 4);
  CHECK(with_gap.p_value == 0.125);
  // Every difference zero: no evidence (scipy raises); no pairs: nothing to say.
  t = wilcoxon_signed_rank(V{1.0, 2.0}, V{1.0, 2.0});
  CHECK(t.statistic == 0);
  CHECK(t.p_value == 1);
  CHECK(t.n == 0);
  t = wilcoxon_signed_rank(V{}, V{});
  CHECK(std::isnan(t.statistic));
  CHECK(std::isnan(t.p_value));

  // Bootstrap edge cases.
  Interval ci = bootstrap_mean_ci(V{4.5});
  CHECK(ci.low == 4.5);
  CHECK(ci.high == 4.5);
  ci = bootstrap_mean_ci(V{2.0, 2.0, 2.0, kNaN});
  CHECK(ci.low == 2.0);
  CHECK(ci.high == 2.0);
  ci = bootstrap_mean_ci(std::vector<double>{kNaN});
  CHECK(std::isnan(ci.low));
  CHECK(std::isnan(ci.high));
}

TEST_CASE("stats: bad input is refused with what was given", "[stats]") {
  CHECK_THROWS_AS(wilcoxon_signed_rank(V{1.0, 2.0, 3.0}, V{1.0, 2.0}), gom::Error);
  CHECK_THROWS_WITH(wilcoxon_signed_rank(V{1.0, 2.0, 3.0}, V{1.0, 2.0}),
                    Contains("x has 3 values and y has 2"));
  CHECK_THROWS_WITH(bootstrap_mean_ci(V{1.0, 2.0}, 0, 0), Contains("resamples is 0"));
  CHECK_THROWS_WITH(bootstrap_mean_ci(V{1.0, 2.0}, 0, 100, 1.0), Contains("confidence is 1"));
}

TEST_CASE("stats: two-contender leagues match scipy", "[stats]") {
  for (const json& c : stats_fixtures()) {
    if (!c.contains("league")) continue;
    INFO(c.at("name").get<std::string>());
    const bool maximize = c.at("maximize");
    const LeagueStats l = league_stats(
        {{"x", by_seed(doubles(c.at("x")))}, {"y", by_seed(doubles(c.at("y")))}}, maximize, 7);
    const json& e = c.at("league");
    const std::string first = e.at("first"), second = first == "x" ? "y" : "x";
    REQUIRE(l.contenders.size() == 2);
    CHECK(l.contenders[0].name == first);
    CHECK(l.contenders[0].ci.low == bootstrap_mean_ci(doubles(c.at(first)), 7).low);
    REQUIRE(l.pairs.size() == 1);
    const PairStats& p = l.pairs[0];
    CHECK(p.a == first);
    CHECK(p.b == second);
    CHECK(p.pairs == int(c.at("x").size()));
    CHECK(p.wins_a == e.at("wins_first").get<int>());
    CHECK(p.wins_b == e.at("wins_second").get<int>());
    CHECK(p.ties == e.at("ties").get<int>());
    CHECK(p.p_improvement == e.at("p_improvement").get<double>());
    CHECK(p.test.statistic == c.at("wilcoxon").at("statistic").get<double>());
    CHECK(p.test.p_value == Approx(c.at("wilcoxon").at("pvalue").get<double>()).epsilon(1e-9));
    CHECK(p.p_holm == p.test.p_value);  // one pair: nothing to adjust
  }
}

TEST_CASE("stats: a maximized league table worked by hand", "[stats]") {
  // Seed k: A = 90 + k; B = 89 (A better on every seed by k + 1); C swings around both.
  std::map<std::string, std::map<int64_t, double>> values;
  const std::vector<double> c_values{95, 85, 96, 86, 97, 84, 98, 83};
  for (int64_t k = 0; k < 8; ++k) {
    values["A"][k] = 90.0 + double(k);
    values["B"][k] = 89;
    values["C"][k] = c_values[std::size_t(k)];
  }
  const LeagueStats l = league_stats(values, true);
  REQUIRE(l.contenders.size() == 3);
  // Means 93.5, 90.5, 89.
  CHECK(l.contenders[0].name == "A");
  CHECK(l.contenders[1].name == "C");
  CHECK(l.contenders[2].name == "B");
  CHECK(l.contenders[0].mean == 93.5);
  CHECK(l.contenders[1].mean == 90.5);
  CHECK(l.contenders[1].median == 90.5);  // (86 + 95) / 2
  CHECK(l.contenders[1].iqm == 90.5);     // cut 2: 85, 86, 95, 96
  CHECK(l.contenders[1].min == 83);
  CHECK(l.contenders[1].max == 98);
  CHECK(l.contenders[2].ci.low == 89);
  CHECK(l.contenders[2].ci.high == 89);
  REQUIRE(l.pairs.size() == 3);
  CHECK(l.pairs[0].a == "A");
  CHECK(l.pairs[0].b == "C");
  CHECK(l.pairs[1].b == "B");
  CHECK(l.pairs[2].a == "C");

  // A - B = 1 .. 8: exact p = 2/256; Holm over 3 pairs: 3 x 2/256 < 0.05.
  const PairStats& ab = pair_of(l, "A", "B");
  CHECK(ab.wins_a == 8);
  CHECK(ab.wins_b == 0);
  CHECK(ab.p_improvement == 1.0);
  CHECK(ab.test.p_value == 2.0 / 256);
  CHECK(ab.p_holm == 3 * 2.0 / 256);
  CHECK(ab.verdict == "better");
  // C - B = 6, -4, 7, -3, 8, -5, 9, -6: |d| 6 tied, so the normal approximation. Ranks of
  // 3, 4, 5 (negative): 1, 2, 3; the two 6s: 4.5 each (one negative): R- = 10.5. Mean 8 x 9 / 4
  // = 18, variance (8 x 9 x 17 - (2^3 - 2) / 2) / 24 = 1221 / 24. C > B on 4 values of 8.
  const PairStats& cb = pair_of(l, "C", "B");
  CHECK(cb.wins_a == 4);
  CHECK(cb.wins_b == 4);
  CHECK(!cb.test.exact);
  CHECK(cb.test.statistic == 10.5);
  const double p_cb = std::erfc(7.5 / std::sqrt(1221.0 / 24) / std::sqrt(2.0));  // 0.293
  CHECK(cb.test.p_value == Approx(p_cb).epsilon(1e-12));
  CHECK(cb.p_improvement == 0.5);
  // A - C = -5, 6, -4, 7, -3, 11, -2, 14: R- = 4 + 3 + 2 + 1 = 10; 40 of the 256 sign patterns
  // have R+ <= 10: p = 80/256. P(A > C): a = 90..94 beat 4 C values, 95, 96, 97 beat 4, 5, 6
  // and tie one: (20 + 4.5 + 5.5 + 6.5) / 64.
  const PairStats& ac = pair_of(l, "A", "C");
  CHECK(ac.wins_a == 4);
  CHECK(ac.wins_b == 4);
  CHECK(ac.test.statistic == 10);
  CHECK(ac.test.p_value == 80.0 / 256);
  CHECK(ac.p_improvement == 36.5 / 64);
  // Holm, p ascending: A-B 3 x 2/256; C-B 2 x 0.293 = 0.586; A-C max(1 x 0.3125, 0.586).
  CHECK(cb.p_holm == Approx(2 * p_cb).epsilon(1e-12));
  CHECK(ac.p_holm == cb.p_holm);
  CHECK(ac.verdict == "no significant difference");
  CHECK(cb.verdict == "no significant difference");

  // Only A is significantly better than B.
  CHECK(l.contenders[0].rank == 1);
  CHECK(l.contenders[1].rank == 1);
  CHECK(l.contenders[2].rank == 2);
  CHECK(l.contenders[0].rank_shared);
  CHECK(l.contenders[1].rank_shared);
  CHECK(!l.contenders[2].rank_shared);

  // With alpha 0.02 the adjusted 3 x 2/256 = 0.0234 is no longer significant: all rank 1.
  const LeagueStats strict = league_stats(values, true, 0, 0.02);
  CHECK(pair_of(strict, "A", "B").verdict == "no significant difference");
  for (const ContenderStats& c : strict.contenders) CHECK(c.rank == 1);
}

TEST_CASE("stats: a minimized league table worked by hand", "[stats]") {
  // Lower is better. Seed k: P = 10 + k; Q = 11 + 2k (P better on every seed); R = P on seeds
  // 0..7 plus a bad seed 8 (100), so R's mean is the worst but it beats Q on every common seed;
  // S has no result at all.
  std::map<std::string, std::map<int64_t, double>> values;
  for (int64_t k = 0; k < 8; ++k) {
    values["P"][k] = 10.0 + double(k);
    values["Q"][k] = 11.0 + 2.0 * double(k);
    values["R"][k] = 10.0 + double(k);
  }
  values["R"][8] = 100;
  values["S"][0] = kNaN;
  const LeagueStats l = league_stats(values, false);
  REQUIRE(l.contenders.size() == 4);
  // Means 13.5, 18, 208/9; S last.
  CHECK(l.contenders[0].name == "P");
  CHECK(l.contenders[1].name == "Q");
  CHECK(l.contenders[2].name == "R");
  CHECK(l.contenders[3].name == "S");
  const ContenderStats& r = l.contenders[2];
  CHECK(r.n == 9);
  CHECK(r.mean == Approx(208.0 / 9).epsilon(1e-15));
  CHECK(r.median == 14);
  CHECK(r.iqm == 14);  // cut 2 of 9: 12 .. 16
  CHECK(r.min == 10);
  CHECK(r.max == 100);
  CHECK(l.contenders[3].n == 0);
  CHECK(std::isnan(l.contenders[3].mean));
  CHECK(std::isnan(l.contenders[3].ci.low));
  REQUIRE(l.pairs.size() == 6);

  // P < Q on all 8 seeds: exact p = 2/256; 3 tested pairs (those with S have none).
  const PairStats& pq = pair_of(l, "P", "Q");
  CHECK(pq.pairs == 8);
  CHECK(pq.wins_a == 8);
  CHECK(pq.test.p_value == 2.0 / 256);
  CHECK(pq.p_holm == 3 * 2.0 / 256);
  CHECK(pq.verdict == "better");
  // P(P lower than Q): each q = 11, 13, 15, 17 is above 1, 3, 5, 7 P values and ties one;
  // 19 .. 25 are above all 8: (16 + 32 + 2) / 64.
  CHECK(pq.p_improvement == 50.0 / 64);
  // Q ranked above R by mean, but R is lower on every common seed: "worse", seed 8 unpaired.
  const PairStats& qr = pair_of(l, "Q", "R");
  CHECK(qr.pairs == 8);
  CHECK(qr.wins_a == 0);
  CHECK(qr.wins_b == 8);
  CHECK(qr.p_holm == 3 * 2.0 / 256);  // max(2 x 2/256, the 3 x 2/256 before it)
  CHECK(qr.verdict == "worse");
  CHECK(qr.p_improvement == 14.0 / 64);  // Q lower: 6 + 4 + 2 pairs, 4 ties
  // P and R are equal on every common seed: all differences zero, p = 1.
  const PairStats& pr = pair_of(l, "P", "R");
  CHECK(pr.ties == 8);
  CHECK(pr.test.p_value == 1);
  CHECK(pr.p_improvement == 0.5);
  CHECK(pr.verdict == "no significant difference");
  // No common seed with S: nothing to test.
  const PairStats& ps = pair_of(l, "P", "S");
  CHECK(ps.pairs == 0);
  CHECK(std::isnan(ps.test.p_value));
  CHECK(std::isnan(ps.p_holm));
  CHECK(ps.verdict == "no significant difference");

  // P and R are better than Q; nothing is better than P, R or S.
  CHECK(l.contenders[0].rank == 1);
  CHECK(l.contenders[1].rank == 3);
  CHECK(l.contenders[2].rank == 1);
  CHECK(l.contenders[3].rank == 1);
  CHECK(l.contenders[0].rank_shared);
  CHECK(!l.contenders[1].rank_shared);
}
