// gom plot's data blocks and gnuplot scripts (gom_core/plot_gnuplot.h), from hand-written JSON
// shaped as gom_core/html_report.h's.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gom/error.h"
#include "gom_core/plot_gnuplot.h"

using nlohmann::json;
using namespace gom::plot;

namespace {

json two_runs() {
  return json::parse(R"J({"runs": [{"id": 1}, {"id": 2}], "metrics": [
    {"key": "loss", "direction": "minimize", "series": [
      {"label": "run 1", "points": [[1, 0.5], [2, null]],
       "xs": {"epoch": [1, 2], "step": [10, 20], "time": [0.0, 1.25]}},
      {"label": "run 2 (b\"x)", "points": [[1, 0.25]],
       "xs": {"epoch": [1], "step": [7], "time": [0.0]}}]},
    {"key": "acc", "direction": "maximize", "series": []}]})J");
}

}  // namespace

TEST_CASE("runs_plot writes one block per run, x as asked, NaN for a missing value", "[plot]") {
  PlotOptions o;
  o.metric = "loss";
  o.x = "time";
  const GnuplotScript gp = runs_plot(two_runs(), o);
  CHECK(gp.data ==
        "$d1 << EOD\n# run 1\n0 0.5\n1.25 NaN\nEOD\n"
        "$d2 << EOD\n# run 2 (b\"x)\n0 0.25\nEOD\n");
  CHECK(gp.script.rfind(gp.data, 0) == 0);
  CHECK(gp.script.find("set terminal dumb size 100,30 noenhanced\n") != std::string::npos);
  CHECK(gp.script.find("set title \"loss: 2 runs\" . \"\\n\" . \"loss (lower is better)\"\n") !=
        std::string::npos);
  CHECK(gp.script.find("set xlabel \"time (s)\"\n") != std::string::npos);
  CHECK(gp.script.find("title \"run 2 (b\\\"x)\"") != std::string::npos);
  CHECK(gp.script.find("logscale") == std::string::npos);
  o.x = "step";
  o.log_y = true;
  o.terminal = "svg";
  const GnuplotScript by_step = runs_plot(two_runs(), o);
  CHECK(by_step.data.find("# run 1\n10 0.5\n20 NaN\n") != std::string::npos);
  CHECK(by_step.script.find("set logscale y\n") != std::string::npos);
  CHECK(by_step.script.find("set terminal svg size 100,30") != std::string::npos);
  CHECK(by_step.script.find("set ylabel \"loss (lower is better)\"\n") != std::string::npos);
  o.metric = "nope";
  CHECK_THROWS_AS(runs_plot(two_runs(), o), gom::Error);
  CHECK(metric_keys(two_runs()) == std::vector<std::string>{"acc", "loss"});
}

TEST_CASE("league_plot draws each contender's mean over its band", "[plot]") {
  const json data = json::parse(R"({"league": {"league": "L"}, "metrics": [
    {"key": "score", "direction": "maximize", "series": [
      {"label": "a", "band": true, "points": [[1, 0.5, 0.25, 0.75], [2, 1, 1, 1]]}]}]})");
  PlotOptions o;
  o.metric = "score";
  const GnuplotScript gp = league_plot(data, o);
  CHECK(gp.data == "$d1 << EOD\n# a\n1 0.5 0.25 0.75\n2 1 1 1\nEOD\n");
  CHECK(gp.script.find("$d1 using 1:3:4 with filledcurves lt 1") != std::string::npos);
  CHECK(gp.script.find("$d1 using 1:2 with linespoints lt 1 pt 7 ps 0.5 title \"a\"") !=
        std::string::npos);
  CHECK(gp.script.find("(higher is better)") != std::string::npos);
}

TEST_CASE("sweep_plot: history with pruned trials and the best so far; intermediate curves",
          "[plot]") {
  const json data = json::parse(R"({"sweep": {"sweep": "S", "metric": "loss",
    "direction": "minimize", "trials": [
      {"number": 1, "state": "finished", "value": 3, "intermediate": {"1": 4, "2": 3}},
      {"number": 2, "state": "pruned", "value": null, "intermediate": {"1": 5, "10": 4.5,
                                                                       "2": 6}},
      {"number": 3, "state": "finished", "value": 1.5, "intermediate": {"1": 1.5}},
      {"number": 4, "state": "finished", "value": 2, "intermediate": {}},
      {"number": 5, "state": "failed", "value": null, "intermediate": {}}]}})");
  PlotOptions o;
  GnuplotScript gp = sweep_plot(data, o);
  CHECK(gp.data ==
        "$d1 << EOD\n# finished trials: number, value\n1 3\n3 1.5\n4 2\nEOD\n"
        "$d2 << EOD\n# pruned trials: number, last intermediate value\n2 4.5\nEOD\n"
        "$d3 << EOD\n# best so far: number, value\n1 3\n3 1.5\n4 1.5\nEOD\n");
  CHECK(gp.script.find("$d2 using 1:2 with points pt 2") != std::string::npos);
  CHECK(gp.script.find("$d3 using 1:2 with steps") != std::string::npos);
  o.intermediate = true;
  gp = sweep_plot(data, o);
  // Epochs in numeric order (10 after 2), pruned curves dashed.
  CHECK(gp.data ==
        "$d1 << EOD\n# trial 1\n1 4\n2 3\nEOD\n"
        "$d2 << EOD\n# trial 2 (pruned)\n1 5\n2 6\n10 4.5\nEOD\n"
        "$d3 << EOD\n# trial 3\n1 1.5\nEOD\n");
  CHECK(gp.script.find("$d2 using 1:2 with linespoints dt 2") != std::string::npos);
  CHECK(gp.script.find("$d1 using 1:2 with linespoints dt 1") != std::string::npos);
}

TEST_CASE("terminal_for_file knows .svg and .png", "[plot]") {
  CHECK(terminal_for_file("a/b.svg") == "svg");
  CHECK(terminal_for_file("b.png") == "pngcairo");
  CHECK_THROWS_AS(terminal_for_file("b.pdf"), gom::Error);
}
