// Hyperparameter search (gom_core/search.h): spaces to and from JSON, --set texts, the grid and
// random samplers, and TPE: its parts against hand-worked and scipy values, and against random
// search on Branin and on a quadratic with a categorical key.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <numbers>
#include <set>

#include "gom/error.h"
#include "gom_core/search.h"
#include "search_internal.h"

using namespace gom::search;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {

Distribution dist(const char* text) {
  return distribution_from_json(json::parse(text));
}

Trial finished(int64_t number, Params params, double value) {
  return {number, TrialState::Finished, std::move(params), value, {}};
}

// The best value of a sequential study: each trial's value is computed at once and joins the
// history before the next trial is sampled.
template <class Objective>
double best_of_study(const std::string& sampler_name, uint64_t seed, int n_trials,
                     const SearchSpace& space, Objective objective, bool maximize) {
  auto sampler = make_sampler(sampler_name, nullptr, seed, maximize);
  std::vector<Trial> history;
  double best = maximize ? -INFINITY : INFINITY;
  for (int n = 0; n < n_trials; ++n) {
    Params p = sampler->sample(space, history, n);
    for (const auto& [key, d] : space) REQUIRE(accepts(d, p.at(key)));
    const double v = objective(p);
    best = maximize ? std::max(best, v) : std::min(best, v);
    history.push_back(finished(n, std::move(p), v));
  }
  return best;
}

}  // namespace

TEST_CASE("search: distributions round-trip through JSON and bad ones say what is wrong",
          "[search]") {
  for (const char* text : {R"({"type":"uniform","low":-1.0,"high":2.5,"grid":5})",
                           R"({"type":"loguniform","low":1e-05,"high":0.1})",
                           R"({"type":"int","low":2,"high":10,"step":4,"log":false})",
                           R"({"type":"int","low":1,"high":1024,"step":1,"log":true})",
                           R"({"type":"choice","choices":["adam",0.5,true,3]})"}) {
    CHECK(to_json(dist(text)) == json::parse(text));
  }
  const auto fails = [](const char* text, const char* message) {
    CHECK_THROWS_WITH(dist(text), Contains(message));
  };
  fails(R"({"type":"uniform","low":2,"high":1})", "'low' must be less than 'high'");
  fails(R"({"type":"loguniform","low":0,"high":1})", "a log scale needs low > 0");
  fails(R"({"type":"int","low":0,"high":9,"log":true})", "a log int needs low >= 1");
  fails(R"({"type":"int","low":1,"high":9,"step":2,"log":true})", "a log int needs step 1");
  fails(R"({"type":"int","low":0.5,"high":9})", "int bounds must be integers");
  fails(R"({"type":"int","low":0,"high":9,"step":0})", "'step' must be >= 1");
  fails(R"({"type":"choice","choices":[]})", "non-empty array");
  fails(R"({"type":"choice","choices":["a",["b"]]})", "not a string, number or boolean");
  fails(R"({"type":"choice","choices":["a","a"]})", "given twice");
  fails(R"({"type":"uniform","low":0,"high":1,"grid":1})", "'grid' must be 0");
  fails(R"({"type":"uniform","low":0,"high":1,"lgo":true})", "unknown field 'lgo'");
  fails(R"({"type":"normal","low":0,"high":1})", "one of uniform, loguniform, int, choice");
  fails(R"({"type":"uniform","high":1})", "'low' is missing");

  const json space_json = json::parse(R"({"optimizer.lr":{"type":"loguniform","low":1e-4,"high":1},
                                          "batch":{"type":"int","low":16,"high":64,"step":16}})");
  const SearchSpace space = space_from_json(space_json);
  REQUIRE(space.size() == 2);
  CHECK(space[0].first == "batch");  // key order
  CHECK(to_json(space) == to_json(space_from_json(to_json(space))));
  CHECK_THROWS_WITH(space_from_json(json::parse(R"({"lr":{"type":"uniform","low":1,"high":0}})")),
                    Contains("search space key 'lr'"));
}

TEST_CASE("search: accepts and the --set text of a value", "[search]") {
  const Distribution ints = dist(R"({"type":"int","low":2,"high":11,"step":3})");
  CHECK(accepts(ints, 2));
  CHECK(accepts(ints, 11));
  CHECK_FALSE(accepts(ints, 3));
  CHECK_FALSE(accepts(ints, 14));
  CHECK_FALSE(accepts(ints, "2"));
  const Distribution choice = dist(R"({"type":"choice","choices":["relu",1,false]})");
  CHECK(accepts(choice, "relu"));
  CHECK(accepts(choice, false));
  CHECK_FALSE(accepts(choice, 0));

  CHECK(override_text(0.001) == "0.001");
  CHECK(override_text(1e-05) == "1e-05");
  CHECK(override_text(3e-3) == "0.003");
  CHECK(override_text(0.1 + 0.2) == "0.30000000000000004");  // round-trips exactly
  CHECK(override_text(3.0) == "3.0");
  CHECK(override_text(1e20) == "1e+20");
  CHECK(override_text(64) == "64");
  CHECK(override_text(-7) == "-7");
  CHECK(override_text("sgd") == "sgd");
  CHECK(override_text(true) == "true");
  CHECK(override_text(false) == "false");
  CHECK_THROWS_AS(override_text(json::array({1})), gom::Error);
}

TEST_CASE("search: the grid covers every point once, the last key fastest", "[search]") {
  const SearchSpace space = {{"a", dist(R"({"type":"int","low":1,"high":5,"step":2})")},
                             {"b", dist(R"({"type":"choice","choices":["x","y"]})")},
                             {"c", dist(R"({"type":"loguniform","low":1e-4,"high":0.1,"grid":4})")},
                             {"d", dist(R"({"type":"uniform","low":0,"high":1,"grid":11})")}};
  auto grid = make_sampler("grid", nullptr, 0, false);
  REQUIRE(grid->size(space) == 3 * 2 * 4 * 11);

  Params first = grid->sample(space, {}, 0);
  CHECK(first == Params{{"a", 1}, {"b", "x"}, {"c", 1e-4}, {"d", 0.0}});
  // 3 = d's fourth point; 11·2 + 3 = 25: c's third point (0.01, exact) and d's fourth (0.3).
  CHECK(grid->sample(space, {}, 3).at("d") == 0.3);
  const Params p25 = grid->sample(space, {}, 25);
  CHECK(p25.at("c") == 0.01);
  CHECK(override_text(p25.at("c")) == "0.01");
  CHECK(grid->sample(space, {}, 44).at("b") == "y");  // 44 = 1·(4·11): b's second value

  std::set<std::string> seen;
  for (int64_t n = 0; n < *grid->size(space); ++n)
    seen.insert(json(grid->sample(space, {}, n)).dump());
  std::set<std::string> expected;
  for (int a : {1, 3, 5})
    for (const char* b : {"x", "y"})
      for (double c : {1e-4, 1e-3, 1e-2, 1e-1})
        for (int k = 0; k <= 10; ++k)
          expected.insert(json(Params{{"a", a}, {"b", b}, {"c", c}, {"d", k / 10.0}}).dump());
  CHECK(seen == expected);

  CHECK_THROWS_WITH(grid->sample(space, {}, 264), Contains("past the grid, which has 264 points"));
  const SearchSpace no_grid = {{"lr", dist(R"({"type":"loguniform","low":1e-4,"high":1})")}};
  CHECK_THROWS_WITH(grid->size(no_grid), Contains("'lr'") && Contains("\"grid\": N"));
  CHECK_THROWS_WITH(make_sampler("grid", json{{"x", 1}}, 0, false), Contains("unknown option 'x'"));
  CHECK_THROWS_WITH(make_sampler("bayes", nullptr, 0, false), Contains("grid, random, tpe"));
}

TEST_CASE("search: random draws depend on seed and number only and fill their ranges", "[search]") {
  const SearchSpace space = {
      {"u", dist(R"({"type":"uniform","low":-2,"high":3})")},
      {"lr", dist(R"({"type":"loguniform","low":1e-4,"high":1})")},
      {"width", dist(R"({"type":"int","low":0,"high":10,"step":5})")},
      {"units", dist(R"({"type":"int","low":1,"high":1000,"log":true})")},
      {"act", dist(R"({"type":"choice","choices":["relu","tanh","gelu","silu"]})")}};
  auto random = make_sampler("random", nullptr, 7, false);
  std::vector<Trial> history = {finished(0, {}, 1.0), finished(1, {}, 2.0)};
  const Params p = random->sample(space, history, 5);
  std::reverse(history.begin(), history.end());
  CHECK(random->sample(space, history, 5) == p);
  CHECK(random->sample(space, {}, 5) == p);
  CHECK(make_sampler("random", nullptr, 7, true)->sample(space, {}, 5) == p);
  CHECK(make_sampler("random", nullptr, 8, false)->sample(space, {}, 5) != p);
  CHECK(random->sample(space, {}, 6) != p);

  const int n = 4000;
  std::vector<double> log_lrs, log_units;
  std::map<int64_t, int> widths;
  std::map<std::string, int> acts;
  for (int i = 0; i < n; ++i) {
    const Params q = random->sample(space, {}, i);
    for (const auto& [key, d] : space) REQUIRE(accepts(d, q.at(key)));
    log_lrs.push_back(std::log10(q.at("lr").get<double>()));
    log_units.push_back(std::log10(q.at("units").get<double>()));
    ++widths[q.at("width").get<int64_t>()];
    ++acts[q.at("act").get<std::string>()];
  }
  // Log-uniform: the median is near the geometric mean 1e-2 (a uniform draw's would be 0.5);
  // the standard error of the median of 4000 uniform log10-values over 4 decades is ~0.03.
  CHECK(detail::nan_percentile(log_lrs, 50) == Approx(-2).margin(0.15));
  // The log int over [0.5, 1000.5] in log space: median near sqrt(0.5 · 1000.5) ≈ 22.4.
  CHECK(detail::nan_percentile(log_units, 50) == Approx(std::log10(22.4)).margin(0.15));
  REQUIRE(widths.size() == 3);  // only 0, 5 and 10
  for (const auto& [w, count] : widths) CHECK(count == Approx(n / 3.0).margin(150));
  REQUIRE(acts.size() == 4);
  for (const auto& [a, count] : acts) CHECK(count == Approx(n / 4.0).margin(150));
}

TEST_CASE("search: TPE's gamma and weights are Optuna's defaults", "[search]") {
  using detail::tpe_gamma;
  using detail::tpe_weights;
  CHECK(tpe_gamma(1) == 1);
  CHECK(tpe_gamma(10) == 1);
  CHECK(tpe_gamma(11) == 2);
  CHECK(tpe_gamma(60) == 6);
  CHECK(tpe_gamma(249) == 25);
  CHECK(tpe_gamma(1000) == 25);
  CHECK(tpe_weights(0).empty());
  CHECK(tpe_weights(24) == std::vector<double>(24, 1.0));
  std::vector<double> w26 = tpe_weights(26);  // linspace(1/26, 1, 1) is just 1/26
  REQUIRE(w26.size() == 26);
  CHECK(w26[0] == 1.0 / 26);
  CHECK(w26[1] == 1.0);
  // numpy.linspace(1/30, 1, 5) = [0.0333, 0.275, 0.5167, 0.7583, 1], then 25 ones.
  const std::vector<double> w30 = tpe_weights(30);
  REQUIRE(w30.size() == 30);
  CHECK(w30[0] == Approx(1.0 / 30));
  CHECK(w30[1] == Approx(0.275));
  CHECK(w30[2] == Approx(0.51666666666666667));
  CHECK(w30[3] == Approx(0.75833333333333333));
  for (size_t i = 4; i < 30; ++i) CHECK(w30[i] == 1.0);
}

TEST_CASE("search: the truncated normal matches scipy, deep in the tails too", "[search]") {
  using namespace detail;
  // scipy.special.log_ndtr and scipy.stats.truncnorm (scipy 1.10.1).
  CHECK(log_ndtr(0) == Approx(-0.6931471805599453));
  CHECK(log_ndtr(-5) == Approx(-15.064998393988727));
  CHECK(log_ndtr(-30) == Approx(-454.32124395634327));
  CHECK(log_ndtr(-100) == Approx(-5005.524208694205));
  CHECK(log_ndtr(8) == Approx(-6.220960574271743e-16));
  CHECK(log_gauss_mass(-1, 2) == Approx(-0.20016629432446262));
  CHECK(log_gauss_mass(-40, -39) == Approx(-765.0831565643776));
  CHECK(log_gauss_mass(39, 40) == Approx(-765.0831565643776));
  CHECK(truncnorm_ppf(0.3, 0.5, 3) == Approx(0.7844732142890245));
  CHECK(truncnorm_ppf(0.3, -2, 1) == Approx(-0.6178760730114088));
  CHECK(truncnorm_ppf(0.9, -50, -45) == Approx(-45.00234012949466));
  CHECK(truncnorm_ppf(0.5, -1, 1) == Approx(0).margin(1e-15));
  CHECK(truncnorm_logpdf(1.0, 2, 0.5, 0, 10) == Approx(-2.2257596809013496));
  CHECK(truncnorm_logpdf(-0.1, 2, 0.5, 0, 10) == -INFINITY);
}

TEST_CASE("search: TPE's Parzen estimator, worked by hand", "[search]") {
  using detail::ParzenEstimator;
  // Uniform [0, 100], observations 60, 20, 22, 70. Sorted with the ends: 0 |20 22 60 70| 100.
  // Larger gap to a neighbour: 20 → 20, 22 → 38, 60 → 38, 70 → 30; endpoints off, the smallest
  // and largest take their inner gap: 20 → 2, 70 → 10. Magic clip: at least 100 / (1 + 5)
  // (4 kernels and the prior), so 2 and 10 become 16.67. The prior: mu 50, sigma 100.
  const ParzenEstimator u =
      ParzenEstimator::build(dist(R"({"type":"uniform","low":0,"high":100})"), {60, 20, 22, 70});
  const double clip = 100.0 / 6;
  CHECK(u.sigmas == std::vector<double>{38, clip, 38, clip, 100});
  CHECK(u.mus == std::vector<double>{60, 20, 22, 70, 50});
  CHECK(u.weights == std::vector<double>(5, 0.2));

  // Log-uniform [1, 1e4], observations 10 and 100: in log space 0 |L 2L| 4L (L = ln 10); both
  // take their inner gap L, and the clip is 4L / 4 = L.
  const double L = std::log(10.0);
  const ParzenEstimator lu =
      ParzenEstimator::build(dist(R"({"type":"loguniform","low":1,"high":1e4})"), {10, 100});
  REQUIRE(lu.sigmas.size() == 3);
  CHECK(lu.sigmas[0] == Approx(L));
  CHECK(lu.sigmas[1] == Approx(L));
  CHECK(lu.sigmas[2] == Approx(4 * L));
  CHECK(lu.mus[2] == Approx(2 * L));

  // Int [1, 5], one observation 2: the range widens to [0.5, 5.5]; its gaps are 1.5 and 3.5,
  // so sigma 3.5 (the clip is 5 / 3). The probabilities of 1..5 sum to 1.
  const Distribution ints = dist(R"({"type":"int","low":1,"high":5})");
  const ParzenEstimator pi = ParzenEstimator::build(ints, {2});
  CHECK(pi.sigmas == std::vector<double>{3.5, 5});
  CHECK(pi.low == 0.5);
  CHECK(pi.high == 5.5);
  double total = 0;
  for (int v = 1; v <= 5; ++v) total += std::exp(pi.log_pdf(v));
  CHECK(total == Approx(1).epsilon(1e-12));

  // Choice of 3, observations 0, 0, 2: each of the 3 kernels puts 1/4 (prior weight over 4
  // kernels) on every choice and 1 more on its own, out of 1.75; the prior's kernel is uniform;
  // all weigh 1/4. P(0) = (2·1.25/1.75 + 0.25/1.75 + 1/3) / 4 = 0.476190...
  const ParzenEstimator pc =
      ParzenEstimator::build(dist(R"({"type":"choice","choices":["a","b","c"]})"), {0, 0, 2});
  CHECK(std::exp(pc.log_pdf(0)) == Approx((2.5 / 1.75 + 0.25 / 1.75 + 1.0 / 3) / 4));
  CHECK(std::exp(pc.log_pdf(0)) + std::exp(pc.log_pdf(1)) + std::exp(pc.log_pdf(2)) ==
        Approx(1).epsilon(1e-12));

  // The continuous density integrates to 1 over its range (midpoint rule).
  double integral = 0;
  for (int i = 0; i < 100000; ++i) integral += std::exp(u.log_pdf((i + 0.5) / 1000)) / 1000;
  CHECK(integral == Approx(1).epsilon(1e-6));

  // Draws follow the density: P(x < 30) and the ints' and choices' frequencies, from 20000
  // draws (standard error < 0.004).
  std::mt19937_64 rng = detail::trial_generator(1, 2);
  const int n = 20000;
  double below_30 = 0, p_below_30 = 0;
  std::vector<double> int_freq(6), choice_freq(3);
  for (int i = 0; i < n; ++i) {
    below_30 += u.sample(rng) < 30 ? 1.0 / n : 0;
    int_freq[size_t(pi.sample(rng))] += 1.0 / n;
    choice_freq[size_t(pc.sample(rng))] += 1.0 / n;
  }
  for (int i = 0; i < 30000; ++i) p_below_30 += std::exp(u.log_pdf((i + 0.5) / 1000)) / 1000;
  CHECK(below_30 == Approx(p_below_30).margin(0.015));
  CHECK(int_freq[0] == 0);
  for (int v = 1; v <= 5; ++v)
    CHECK(int_freq[size_t(v)] == Approx(std::exp(pi.log_pdf(v))).margin(0.015));
  for (int c = 0; c < 3; ++c)
    CHECK(choice_freq[size_t(c)] == Approx(std::exp(pc.log_pdf(c))).margin(0.015));
}

TEST_CASE("search: TPE splits trials as Optuna does, pruned ones after finished ones", "[search]") {
  // 20 done trials: gamma = 2. One finished (value 5) and pruned ones; the second below slot
  // goes to the pruned trial that got furthest, then the better value at its last step.
  std::vector<Trial> history = {finished(0, {}, 5.0)};
  const auto pruned = [](int64_t number, std::map<int64_t, double> curve) {
    return Trial{number, TrialState::Pruned, {}, std::nullopt, std::move(curve)};
  };
  history.push_back(pruned(1, {{1, 1.0}, {2, 0.5}}));
  history.push_back(pruned(2, {{1, 9.0}, {2, 9.0}, {3, 9.0}}));  // furthest, worst (minimise)
  history.push_back(pruned(3, {{1, 4.0}, {2, 3.0}, {3, 7.0}}));  // furthest, better
  history.push_back(pruned(4, {}));
  for (int64_t n = 5; n < 20; ++n) history.push_back(pruned(n, {{1, 0.1}}));
  history.push_back({20, TrialState::Running, {}, std::nullopt, {}});
  history.push_back({21, TrialState::Failed, {}, std::nullopt, {}});
  std::swap(history[0], history[7]);  // any order

  const auto numbers = [](const std::vector<const Trial*>& trials) {
    std::vector<int64_t> out;
    for (const Trial* t : trials) out.push_back(t->number);
    return out;
  };
  const detail::TpeSplit min_split = detail::tpe_split(history, false);
  CHECK(numbers(min_split.below) == std::vector<int64_t>{0, 3});
  CHECK(min_split.above.size() == 18);
  CHECK(numbers(detail::tpe_split(history, true).below) == std::vector<int64_t>{0, 2});
}

TEST_CASE("search: TPE is reproducible and random until its startup trials are done", "[search]") {
  const SearchSpace space = {{"x", dist(R"({"type":"uniform","low":-5,"high":5})")},
                             {"n", dist(R"({"type":"int","low":1,"high":64,"log":true})")},
                             {"c", dist(R"({"type":"choice","choices":["a","b","c"]})")}};
  auto tpe = make_sampler("tpe", nullptr, 3, false);
  auto random = make_sampler("random", nullptr, 3, false);
  std::vector<Trial> history;
  for (int64_t n = 0; n < 9; ++n) {
    Params p = random->sample(space, {}, n);
    const double v = std::pow(p.at("x").get<double>(), 2);
    history.push_back(finished(n, std::move(p), v));
  }
  CHECK(tpe->sample(space, history, 9) == random->sample(space, {}, 9));  // 9 < 10 done
  history.push_back(finished(9, random->sample(space, {}, 9), 0.5));
  const Params p = tpe->sample(space, history, 10);
  CHECK(p != random->sample(space, {}, 10));
  std::reverse(history.begin(), history.end());
  CHECK(make_sampler("tpe", nullptr, 3, false)->sample(space, history, 10) == p);
  CHECK(make_sampler("tpe", nullptr, 4, false)->sample(space, history, 10) != p);
  // Fewer startup trials: TPE from the third trial on.
  auto early = make_sampler("tpe", json{{"n_startup_trials", 2}, {"n_ei_candidates", 5}}, 3, false);
  CHECK(early->sample(space, {history.end() - 2, history.end()}, 2) !=
        random->sample(space, {}, 2));
  CHECK_THROWS_WITH(make_sampler("tpe", json{{"n_ei_candidates", 0}}, 0, false),
                    Contains("'n_ei_candidates' must be an integer >= 1"));
}

TEST_CASE("search: TPE beats random search on Branin and on a quadratic with a choice",
          "[search]") {
  // Branin (minimum 0.397887 at three points).
  const SearchSpace branin_space = {{"x1", dist(R"({"type":"uniform","low":-5,"high":10})")},
                                    {"x2", dist(R"({"type":"uniform","low":0,"high":15})")}};
  const auto branin = [](const Params& p) {
    const double x1 = p.at("x1"), x2 = p.at("x2"), pi = std::numbers::pi;
    const double b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
    return std::pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
  };
  double tpe = 0, random = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    tpe += best_of_study("tpe", seed, 60, branin_space, branin, false) / 20;
    random += best_of_study("random", seed, 60, branin_space, branin, false) / 20;
  }
  INFO("Branin, mean best of 60 trials over 20 studies: TPE " << tpe << ", random " << random);
  CHECK(tpe < random);
  CHECK(tpe > 0.397887);

  // Maximise −((x − 2)² + offset[c]) with x in [−10, 10] and c's offsets a 1, b 0, c 2.
  const SearchSpace quad_space = {{"c", dist(R"({"type":"choice","choices":["a","b","c"]})")},
                                  {"x", dist(R"({"type":"uniform","low":-10,"high":10})")}};
  const auto quad = [](const Params& p) {
    const std::string c = p.at("c");
    const double x = p.at("x");
    return -((x - 2) * (x - 2) + (c == "a" ? 1.0 : c == "b" ? 0.0 : 2.0));
  };
  double tpe_q = 0, random_q = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    tpe_q += best_of_study("tpe", seed, 40, quad_space, quad, true) / 20;
    random_q += best_of_study("random", seed, 40, quad_space, quad, true) / 20;
  }
  INFO("quadratic, mean best of 40 trials: TPE " << tpe_q << ", random " << random_q);
  CHECK(tpe_q > random_q);
  CHECK(tpe_q <= 0);
}
