// Regression checks (gom_core/check.h): the check-line parser (every form, every error), the
// verdicts worked by hand (thresholds, baselines paired and unpaired, minimized), the report
// and the JUnit XML; and stats::bootstrap_mean_difference_ci's exact cases.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "gom/error.h"
#include "gom_core/check.h"
#include "gom_core/stats.h"

using namespace gom::check;
using Catch::Matchers::Contains;

namespace {

using V = std::vector<double>;

Claim claim(const std::string& line) {
  return parse_check_text("-- check: " + line + "\n", "/x/c.lua").claims.at(0);
}

Values seeded(V v) {
  Values out{std::move(v), {}};
  for (size_t i = 0; i < out.values.size(); ++i) out.seeds.push_back(int64_t(i));
  return out;
}

void expect_error(const std::string& text, const std::string& what) {
  try {
    parse_check_text(text, "dir/r.lua");
    FAIL("no error for: " << text);
  } catch (const gom::Error& e) {
    CHECK_THAT(e.what(), Contains(what));
    CHECK_THAT(e.what(), Contains("accepted: '-- check: METRIC >= NUMBER' (or <=, >, <)"));
  }
}

}  // namespace

TEST_CASE("check lines: every form", "[check]") {
  const CheckFile f = parse_check_text(
      "-- A regression check.\n"
      "-- check-script: ../fashion_mlp.lua\n"
      "--check-seeds: 3\n"
      "-- check-set: fit.epochs = 2\n"
      "-- check-set: name=a=b\n"
      "-- checks that nothing else is read; -- check: is not at the start\n"
      "  -- check: test_accuracy >= 0.885\n"
      "-- check: loss<=1e-3\n"
      "-- check: score > -2\n"
      "-- check: rmse < 0.173  -- the RNN's 0.41 / 2.4\n"
      "-- check: accuracy not worse than baseline by 0.01\n"
      "-- check: valid_loss not worse than baseline by 0\n"
      "-- check: score  not  worse than baseline by 0.5 (minimize)\n"
      "-- check: loss not worse than baseline by 0.5 (maximize)\n"
      "print('-- check: not a comment')\n",
      "experiments/regression/mlp.lua");
  CHECK(f.name == "mlp");
  CHECK(f.script == "experiments/regression/../fashion_mlp.lua");
  CHECK(f.seeds == 3);
  REQUIRE(f.sets.size() == 2);
  CHECK((f.sets[0] == gom::Override{"fit.epochs", "2"}));
  CHECK((f.sets[1] == gom::Override{"name", "a=b"}));
  REQUIRE(f.claims.size() == 8);
  const auto& c = f.claims;
  CHECK((c[0].metric == "test_accuracy" && c[0].comparison == Comparison::kAtLeast &&
         c[0].value == 0.885 && c[0].maximize && c[0].line == 7));
  CHECK(c[0].text == "test_accuracy >= 0.885");
  CHECK((c[1].metric == "loss" && c[1].comparison == Comparison::kAtMost && c[1].value == 1e-3 &&
         !c[1].maximize));
  CHECK((c[2].comparison == Comparison::kAbove && c[2].value == -2 && c[2].maximize));
  CHECK((c[3].comparison == Comparison::kBelow && c[3].value == 0.173 && !c[3].maximize));
  CHECK(c[3].text == "rmse < 0.173");
  CHECK((c[4].comparison == Comparison::kNotWorseThanBaseline && c[4].value == 0.01 &&
         c[4].maximize));  // accuracy: by its name
  CHECK((c[5].metric == "valid_loss" && c[5].value == 0 && !c[5].maximize));
  CHECK((c[6].metric == "score" && !c[6].maximize && c[6].line == 13));
  CHECK((c[7].metric == "loss" && c[7].maximize));  // stated, against the name

  const CheckFile self = parse_check_text("-- check: x > 1\n", "/a/b.lua");
  CHECK(self.script == "/a/b.lua");
  CHECK(!self.seeds);
  CHECK(parse_check_text("-- check-script: /abs/s.lua\n-- check: x > 1\n", "r/c.lua").script ==
        "/abs/s.lua");
}

TEST_CASE("check lines: every error names the file, the line and the accepted forms", "[check]") {
  expect_error("-- check: accuracy => 0.9\n", "dir/r.lua:1: 'accuracy => 0.9' is not a claim");
  expect_error("\n-- check: accuracy >= high\n", "dir/r.lua:2: the threshold 'high' is not a");
  expect_error("-- check: accuracy >= 0.9x\n", "the threshold '0.9x' is not a number");
  expect_error("-- check: accuracy not worse than baseline by -1\n",
               "dir/r.lua:1: the tolerance '-1' is not a number at least 0");
  expect_error("-- check: speed not worse than baseline by 1\n",
               "dir/r.lua:1: gom cannot tell from the name speed whether higher or lower is "
               "better; end the line with (maximize) or (minimize)");
  expect_error("-- check: accuracy not worse than baseline by 1 (max)\n", "is not a claim");
  expect_error("-- check:\n", "dir/r.lua:1: '' is not a claim");
  expect_error("-- check-seeds: 0\n", "check-seeds '0' is not a whole number at least 1");
  expect_error("-- check-seeds: 2.5\n", "check-seeds '2.5' is not a whole number");
  expect_error("-- check-seeds: 2\n-- check-seeds: 3\n", "dir/r.lua:2: check-seeds is given twice");
  expect_error("-- check-set: epochs\n", "dir/r.lua:1: check-set 'epochs' is not KEY=VALUE");
  expect_error("-- check-set: =1\n", "check-set '=1' is not KEY=VALUE");
  expect_error("-- check-script:\n", "check-script needs a PATH");
  expect_error("-- check-script: a\n-- check-script: b\n", "check-script is given twice");
  expect_error("-- check-seed: 3\n", "dir/r.lua:1: check-seed is not a check line");
  expect_error("-- nothing\n", "dir/r.lua: no '-- check:' line states a claim");
}

TEST_CASE("check: threshold verdicts from the mean's interval", "[check]") {
  // One value: the interval is the value itself.
  CHECK(judge(claim("acc >= 0.885"), seeded({0.9})).verdict == Verdict::kPass);
  CHECK(judge(claim("acc >= 0.885"), seeded({0.88})).verdict == Verdict::kFail);
  CHECK(judge(claim("acc >= 0.9"), seeded({0.9})).verdict == Verdict::kPass);
  CHECK(judge(claim("acc > 0.9"), seeded({0.9})).verdict == Verdict::kFail);
  CHECK(judge(claim("rmse <= 0.2"), seeded({0.2})).verdict == Verdict::kPass);
  CHECK(judge(claim("rmse < 0.2"), seeded({0.2})).verdict == Verdict::kFail);
  // {1, 2, 3}: every resampled mean lies in [1, 3], and 1 and 3 are each drawn with probability
  // 1/27 > 2.5%, so the interval is [1, 3] exactly.
  const Values v = seeded({1, 2, 3});
  const Judgement j = judge(claim("x >= 2"), v);
  CHECK(j.verdict == Verdict::kInconclusive);
  CHECK((j.n == 3 && j.mean == 2 && j.ci.low == 1 && j.ci.high == 3));
  CHECK((j.reference == 2 && j.change == 0 && j.relative == 0));
  CHECK(judge(claim("x <= 2"), v).verdict == Verdict::kInconclusive);
  CHECK(judge(claim("x >= 1"), v).verdict == Verdict::kPass);
  CHECK(judge(claim("x > 1"), v).verdict == Verdict::kInconclusive);
  CHECK(judge(claim("x < 1"), v).verdict == Verdict::kFail);
  CHECK(judge(claim("x <= 3"), v).verdict == Verdict::kPass);
  CHECK(judge(claim("x > 3"), v).verdict == Verdict::kFail);
  const Judgement k = judge(claim("x >= 4"), v);
  CHECK((k.verdict == Verdict::kFail && k.change == -2 && k.relative == -0.5));
  // A seed without a value (its run failed) fails the claim, as does no value at all.
  const Judgement m = judge(claim("x >= 0"), seeded({1, NAN}));
  CHECK(m.verdict == Verdict::kFail);
  CHECK(m.note == "1 of 2 seeds have no value (their runs failed or did not log it)");
  CHECK(judge(claim("x >= 0"), seeded({})).verdict == Verdict::kFail);
}

TEST_CASE("check: baseline verdicts, paired and unpaired, maximized and minimized", "[check]") {
  const Values cand = seeded({1, 2, 3});
  // Paired on seeds 0..2: every difference is -0.5, so the interval is [-0.5, -0.5].
  const Values base = seeded({1.5, 2.5, 3.5});
  const Judgement j = judge(claim("x not worse than baseline by 1 (maximize)"), cand, &base);
  CHECK((j.verdict == Verdict::kPass && j.paired));
  CHECK((j.reference == 2.5 && j.change == -0.5 && j.relative == -0.2 && j.baseline_n == 3));
  CHECK((j.difference_ci.low == -0.5 && j.difference_ci.high == -0.5));
  CHECK(judge(claim("x not worse than baseline by 0.25 (maximize)"), cand, &base).verdict ==
        Verdict::kFail);
  // Exactly at the tolerance: neither above nor below it.
  CHECK(judge(claim("x not worse than baseline by 0.5 (maximize)"), cand, &base).verdict ==
        Verdict::kInconclusive);
  // Lower is better: the candidate is 0.5 better on every seed.
  const Judgement lo = judge(claim("x not worse than baseline by 0 (minimize)"), cand, &base);
  CHECK((lo.verdict == Verdict::kPass && lo.difference_ci.low == 0.5 && lo.change == -0.5));
  CHECK(judge(claim("loss not worse than baseline by 0"), base, &cand).verdict == Verdict::kFail);
  // Paired differences -0.5, 0.5, -0.5: each end is drawn three times alike with probability
  // 8/27 and 1/27 (> 2.5%), so the interval is [-0.5, 0.5], across -0.25: inconclusive.
  const Values noisy = seeded({1.5, 1.5, 3.5});
  const Judgement n = judge(claim("x not worse than baseline by 0.25 (maximize)"), cand, &noisy);
  CHECK((n.verdict == Verdict::kInconclusive && n.paired));
  CHECK((n.difference_ci.low == -0.5 && n.difference_ci.high == 0.5));
  // Unpaired (a list without seeds, or other seeds): the difference of the means, whose
  // interval lies within [1 - 3.5, 3 - 1.5] and is wide here.
  const Values list{{1.5, 2.5, 3.5}, {}};
  const Judgement u = judge(claim("x not worse than baseline by 0.25 (maximize)"), cand, &list);
  CHECK((u.verdict == Verdict::kInconclusive && !u.paired && u.change == -0.5));
  CHECK((u.difference_ci.low >= -2.5 && u.difference_ci.low < -0.5));
  CHECK((u.difference_ci.high <= 1.5 && u.difference_ci.high > -0.5));
  CHECK(judge(claim("x not worse than baseline by 5 (maximize)"), cand, &list).verdict ==
        Verdict::kPass);
  const Values far{{10, 10, 10}, {0, 1, 5}};
  const Judgement f = judge(claim("x not worse than baseline by 1 (maximize)"), cand, &far);
  CHECK((f.verdict == Verdict::kFail && !f.paired && f.difference_ci.high <= -7));
  // Minimized and unpaired: the interval is turned to the good side.
  const Judgement fm = judge(claim("x not worse than baseline by 1 (minimize)"), cand, &far);
  CHECK((fm.verdict == Verdict::kPass && fm.difference_ci.low >= 7));
  // No baseline values: inconclusive; no baseline at all: an error.
  const Values none{{NAN}, {0}};
  CHECK(judge(claim("x not worse than baseline by 1 (maximize)"), cand, &none).verdict ==
        Verdict::kInconclusive);
  CHECK_THROWS_WITH(judge(claim("x not worse than baseline by 1 (maximize)"), cand),
                    Contains("needs a baseline"));
}

TEST_CASE("bootstrap_mean_difference_ci: exact cases", "[check][stats]") {
  using gom::stats::bootstrap_mean_ci;
  using gom::stats::bootstrap_mean_difference_ci;
  const gom::stats::Interval one = bootstrap_mean_difference_ci(V{5}, V{2});
  CHECK((one.low == 3 && one.high == 3));
  // A single y value draws nothing, so x's draws are bootstrap_mean_ci's, shifted.
  const auto a = bootstrap_mean_difference_ci(V{1, 2, 4, 8}, V{1}, 7);
  const auto b = bootstrap_mean_ci(V{1, 2, 4, 8}, 7);
  CHECK(a.low == Approx(b.low - 1));
  CHECK(a.high == Approx(b.high - 1));
  CHECK(std::isnan(bootstrap_mean_difference_ci(V{}, V{1}).low));
  CHECK(std::isnan(bootstrap_mean_difference_ci(V{NAN}, V{1}).high));
  CHECK_THROWS_WITH(bootstrap_mean_difference_ci(V{1}, V{1}, 0, 0), Contains("resamples is 0"));
  CHECK_THROWS_WITH(bootstrap_mean_difference_ci(V{1}, V{1}, 0, 10, 1.0),
                    Contains("confidence is 1"));
}

TEST_CASE("check: report text and JUnit XML", "[check]") {
  FileResult f;
  f.file = parse_check_text(
      "-- check: acc >= 0.9\n-- check: x <= 2\n-- check: loss not worse than baseline by 0.25\n",
      "reg/m<1>.lua");
  f.run_id = 4;
  f.seeds = 3;
  f.seconds = 6;
  const Values base = seeded({1.5, 2.5, 3.5});
  for (const Claim& c : f.file.claims) {
    ClaimResult r{c, {}, ""};
    if (c.comparison == Comparison::kNotWorseThanBaseline) {
      r.baseline = "run 2";
      r.judgement = judge(c, seeded({1, 2, 3}), &base);
    } else {
      r.judgement = judge(c, seeded(c.metric == "acc" ? V{0.5, 0.5, 0.5} : V{1, 2, 3}));
    }
    f.claims.push_back(r);
  }
  const std::string text = report_text({f});
  CHECK_THAT(text, Contains("m<1>    acc     >= 0.9"));
  CHECK_THAT(text, Contains("0.5 ± 0 (n=3)"));
  CHECK_THAT(text, Contains("-0.4    -44.44%   -          fail"));
  CHECK_THAT(text, Contains("run 2: 2.5 ± 1 (n=3)"));
  CHECK_THAT(text, Contains("m<1>:3 loss: difference in the good direction +0.5 95% CI [+0.5, "
                            "+0.5] (paired by seed), tolerance 0.25"));
  CHECK_THAT(text, Contains("\n3 claims: 1 pass, 1 inconclusive, 1 fail\n"));

  const std::string xml = junit_xml({f});
  CHECK_THAT(xml, Contains("<testsuites name=\"gom check\" tests=\"3\" failures=\"1\" "
                           "errors=\"0\" skipped=\"0\" time=\"6.000\">"));
  CHECK_THAT(xml, Contains("<testsuite name=\"m&lt;1&gt;\" tests=\"3\" failures=\"1\""));
  CHECK_THAT(xml, Contains("<property name=\"run\" value=\"4\"/>"));
  CHECK_THAT(xml, Contains("<testcase name=\"acc &gt;= 0.9\" classname=\"check.m&lt;1&gt;\" "
                           "time=\"2.000\">"));
  CHECK_THAT(xml, Contains("<failure message=\"reg/m&lt;1&gt;.lua:1: fail: candidate 0.5 ± 0 "
                           "(n=3), baseline 0.9\" type=\"regression\">"));
  CHECK_THAT(xml, Contains("<system-out>inconclusive: candidate 2 ± 1 (n=3), baseline "
                           "2</system-out>"));
  CHECK_THAT(xml, Contains("<property name=\"verdict\" value=\"pass\"/>"));
  CHECK_THAT(xml, Contains("<property name=\"baseline\" value=\"run 2\"/>"));
  CHECK(xml.find("<failure") == xml.rfind("<failure"));  // one failure only
  CHECK(xml_escape("a&b<c>\"d'\x01\t") == "a&amp;b&lt;c&gt;&quot;d&apos;\\x01\t");
}
