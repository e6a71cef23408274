// gom report's data (gom_core/html_report.h): the JSON of runs (values as recorded, the params
// that differ, confusion matrices), a sweep's importance (η² worked by hand) and parallel
// coordinates, and the page's escaping. The page drawn in a browser: tests/cli/report_test.sh.
#include <catch2/catch.hpp>
#include <cmath>

#include "gom/error.h"
#include "gom_core/html_report.h"
#include "temp_files.h"

using nlohmann::json;

namespace {

int64_t start(gom::RunRecorder& db, const std::string& name) {
  gom::RunInfo info;
  info.experiment = "e";
  info.name = name;
  info.script_text = "-- nothing";
  info.detect_git = false;
  return db.start_run(info);
}

gom::TrialRecord trial(int64_t number, gom::TrialState state, std::optional<double> value,
                       json params) {
  gom::TrialRecord t;
  t.number = number;
  t.state = state;
  t.value = value;
  t.params = std::move(params);
  return t;
}

// Six finished trials y = 2, 4, 3, 7, 5, 9 (mean 5, total sum of squares 34), a pruned one and
// a failed one (neither counts for importance).
gom::SweepReport tiny_sweep() {
  gom::SweepReport r;
  r.study.def.kind = gom::StudyKind::kSweep;
  r.study.def.metric = "score";
  r.study.def.space = json::parse(R"({"a": {"type": "choice", "choices": ["p", "q"]},
      "b": {"type": "uniform", "low": 0, "high": 10},
      "d": {"type": "uniform", "low": 1, "high": 5}})");
  const double y[] = {2, 4, 3, 7, 5, 9};
  const char* a[] = {"p", "p", "p", "q", "q", "q"};
  const double b[] = {1, 2, 3, 4, 5, 6};
  const double d[] = {5, 4, 2, 1, 2, 3};
  for (int i = 0; i < 6; ++i)
    r.trials.emplace_back(
        trial(i, gom::TrialState::kFinished, y[i], {{"a", a[i]}, {"b", b[i]}, {"d", d[i]}}),
        gom::TrialCurve{{1, y[i] / 2}, {2, y[i]}});
  r.trials.emplace_back(
      trial(6, gom::TrialState::kPruned, std::nullopt, {{"a", "q"}, {"b", 10.0}, {"d", 1.0}}),
      gom::TrialCurve{{1, 0.5}, {2, 1.0}});
  r.trials.emplace_back(
      trial(7, gom::TrialState::kFailed, std::nullopt, {{"a", "p"}, {"b", 0.0}, {"d", 1.0}}),
      gom::TrialCurve{});
  return r;
}

}  // namespace

TEST_CASE("report data of runs: values as recorded, the params that differ, confusion",
          "[report]") {
  gom_test::TempDir dir;
  gom::RunRecorder db(dir / "runs.db");
  const int64_t r1 = start(db, "one"), r2 = start(db, "");
  db.log_params(r1, {{"lr", "0.1"}, {"hidden", "4"}});
  db.log_params(r2, {{"lr", "0.5"}, {"hidden", "4"}, {"extra", "x"}});
  db.log_metric(r1, "valid_loss", 10, 1, 0.75);
  db.log_metric(r1, "valid_loss", 20, 2, NAN);
  db.log_metric(r1, "valid_loss", 30, 3, 0.25);
  db.log_metric(r2, "valid_loss", 10, 1, 0.5);
  db.log_metric(r2, "lr", 1, 1, 0.01);  // twice in epoch 1: drawn by step
  db.log_metric(r2, "lr", 2, 1, 0.02);
  db.add_tag(r1, "confusion_matrix",
             R"({"epoch":3,"phase":"valid","classes":2,"matrix":[[5,1],[2,8]]})");
  db.add_tag(r1, "confusion_matrix.epoch_3", "{}");  // every_epoch's copy: left out
  db.add_tag(r1, "overrides", "lr=0.1");             // not a matrix
  db.finish_run(r1, gom::RunStatus::kFinished);
  db.finish_run(r2, gom::RunStatus::kFinished);

  const json d = gom::report::runs_data(db, {r1, r2});
  CHECK(d["kind"] == "runs");
  CHECK(d["title"] == "gom report: 2 runs");
  REQUIRE(d["runs"].size() == 2);
  CHECK(d["runs"][0]["id"] == r1);
  CHECK(d["runs"][0]["name"] == "one");
  CHECK(d["runs"][0]["status"] == "finished");
  CHECK(d["runs"][1]["params"] == json{{"lr", "0.5"}, {"hidden", "4"}, {"extra", "x"}});
  CHECK(d["params_differ"] == json{"extra", "lr"});
  REQUIRE(d["metrics"].size() == 2);
  const json& lr = d["metrics"][0];
  CHECK(lr["key"] == "lr");
  CHECK(lr["x"] == "step");
  CHECK(lr["series"].size() == 1);
  CHECK(lr["series"][0]["points"] == json::parse("[[1, 0.01], [2, 0.02]]"));
  const json& loss = d["metrics"][1];
  CHECK(loss["key"] == "valid_loss");
  CHECK(loss["direction"] == "minimize");
  CHECK(loss["phase"] == "valid");
  CHECK(loss["x"] == "epoch");
  CHECK(loss["series"][0]["label"] == "run 1 (one)");
  CHECK(loss["series"][0]["points"] == json::parse("[[1, 0.75], [2, null], [3, 0.25]]"));
  CHECK(loss["series"][1]["label"] == "run 2");
  CHECK(loss["series"][1]["points"] == json::parse("[[1, 0.5]]"));
  REQUIRE(d["confusion"].size() == 1);
  CHECK(d["confusion"][0]["run_id"] == r1);
  CHECK(d["confusion"][0]["matrix"] == json::parse("[[5, 1], [2, 8]]"));

  CHECK_THROWS_WITH(gom::report::runs_data(db, {r1, 99}), Catch::Contains("no run 99"));
}

TEST_CASE("report importance: eta squared of the objective by choice and by rank bin", "[report]") {
  const std::vector<gom::report::ParamImportance> imp = gom::report::param_importance(tiny_sweep());
  REQUIRE(imp.size() == 3);
  // b: 6 distinct values, 4 bins by rank (i * 4 / 6: 0, 0, 1, 2, 2, 3): y {2, 4}, {3}, {7, 5},
  // {9}; between 2 (3-5)^2 + (3-5)^2 + 2 (6-5)^2 + (9-5)^2 = 30 of 34.
  CHECK(imp[0].param == "b");
  CHECK(imp[0].eta2 == Approx(30.0 / 34));
  CHECK(imp[0].groups == 4);
  CHECK(imp[0].trials == 6);
  // a: p {2, 4, 3} (mean 3), q {7, 5, 9} (mean 7): 3 (3-5)^2 + 3 (7-5)^2 = 24 of 34.
  CHECK(imp[1].param == "a");
  CHECK(imp[1].eta2 == Approx(24.0 / 34));
  CHECK(imp[1].groups == 2);
  // d sorted: 1 (y 7), 2 (3), 2 (5), 3 (9), 4 (4), 5 (2); the second 2 stays in the first's
  // bin 0: {7, 3, 5} (mean 5), {9, 4} (6.5), {2}: 0 + 2 (1.5)^2 + (2-5)^2 = 13.5 of 34.
  CHECK(imp[2].param == "d");
  CHECK(imp[2].eta2 == Approx(13.5 / 34));
  CHECK(imp[2].groups == 3);
}

TEST_CASE("report parallel coordinates place each trial on its axes", "[report]") {
  const json p = gom::report::parallel_coordinates(tiny_sweep());
  REQUIRE(p["axes"].size() == 4);
  CHECK(p["axes"][0] == json{{"name", "a"}, {"kind", "choice"}, {"choices", {"p", "q"}}});
  CHECK(p["axes"][1]["kind"] == "number");
  CHECK(p["axes"][1]["max"] == 10.0);
  // The objective's axis: from the pruned trial's last value (1) to the best (9).
  CHECK(p["axes"][3] == json{{"name", "score"}, {"kind", "number"}, {"min", 1.0}, {"max", 9.0}});
  REQUIRE(p["rows"].size() == 7);  // 6 finished, 1 pruned; the failed one has no value
  const json& first = p["rows"][0];
  CHECK(first["number"] == 1);
  CHECK(first["values"] == json{"p", 1.0, 5.0, 2.0});
  CHECK(first["y"][0] == 0.0);
  CHECK(first["y"][1].get<double>() == Approx(0.1));
  CHECK(first["y"][2] == 1.0);
  CHECK(first["y"][3].get<double>() == Approx(1.0 / 8));
  CHECK(p["rows"][6]["state"] == "pruned");
  CHECK(p["rows"][6]["y"] == json{1.0, 1.0, 0.0, 0.0});
}

TEST_CASE("report page: the JSON cannot close its script element", "[report]") {
  const json data{{"title", "a <b> & c"}, {"s", "</script><!-- x \u2028"}};
  const std::string js = gom::report::script_json(data);
  CHECK(js.find("</") == std::string::npos);
  CHECK(js.find("<!--") == std::string::npos);
  CHECK(js.find("\u2028") == std::string::npos);
  CHECK(json::parse(js) == data);
  const std::string page = gom::report::html_page(data, "var chart;", "draw();", "b {}");
  CHECK(page.find("<title>a &lt;b&gt; &amp; c</title>") != std::string::npos);
  CHECK(page.find("<script type=\"application/json\" id=\"gom-data\">" + js + "</script>") !=
        std::string::npos);
  CHECK_THROWS_AS(gom::report::html_page(data, "x = '</SCRIPT>'", "", ""), gom::Error);

  gom_test::TempDir dir;
  gom::report::write_text_atomic(dir / "r.html", page);
  std::ifstream in(dir / "r.html");
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == page);
  CHECK_THROWS_WITH(gom::report::write_text_atomic(dir / "no/such/r.html", page),
                    Catch::Contains("cannot write"));
}
