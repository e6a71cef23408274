// `gom plot RUN... --metric KEY | --league NAME --metric KEY | --sweep NAME [--intermediate]`:
// a plot drawn by gnuplot (the Debian package gnuplot-nox), in the terminal or to -o FILE.svg or
// FILE.png. The data comes from gom_core/html_report.h (as gom report's), the data blocks and
// script from gom_core/plot_gnuplot.h.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string_view>

#include "commands.h"
#include "gom/error.h"
#include "gom_core/html_report.h"
#include "gom_core/plot_gnuplot.h"

namespace gom::cli {

namespace {

struct PlotCliOptions {
  std::vector<std::string> runs;
  std::string league, sweep, output, data_file, metric, x = "epoch";
  bool intermediate = false, log_y = false;
};

// A positive integer from the environment (COLUMNS, LINES), else the default.
int env_size(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end != v && *end == '\0' && n >= 20 && n <= 1000 ? static_cast<int>(n) : fallback;
}

// The metric asked for, checked against those the data has (exit 2 naming them).
void check_metric(const nlohmann::json& data, const std::string& metric) {
  const std::vector<std::string> keys = plot::metric_keys(data);
  const std::string have = keys.empty() ? "none" : fmt::format("{}", fmt::join(keys, ", "));
  if (metric.empty()) throw UsageError(fmt::format("plot: give --metric KEY (metrics: {})", have));
  if (std::find(keys.begin(), keys.end(), metric) == keys.end())
    throw UsageError(fmt::format("no metric '{}' recorded (metrics: {})", metric, have));
}

int plot(const PlotCliOptions& o, const CLI::Option* db_opt) {
  const int asked =
      (o.runs.empty() ? 0 : 1) + (o.league.empty() ? 0 : 1) + (o.sweep.empty() ? 0 : 1);
  if (asked != 1)
    throw UsageError("plot: give run ids, or --league NAME, or --sweep NAME (one of them)");
  if (o.intermediate && o.sweep.empty()) throw UsageError("plot: --intermediate is for --sweep");
  if (o.x != "epoch" && (!o.league.empty() || !o.sweep.empty()))
    throw UsageError("plot: --x is for runs (a league's curves are by epoch)");
  if (o.x != "epoch" && o.x != "step" && o.x != "time")
    throw UsageError(fmt::format("plot: --x {}: epoch, step or time", o.x));
  plot::PlotOptions po;
  po.metric = o.metric;
  po.x = o.x;
  po.log_y = o.log_y;
  po.intermediate = o.intermediate;
  if (o.output.empty()) {
    po.width = env_size("COLUMNS", 100);
    po.height = env_size("LINES", 30);
  } else {
    try {
      po.terminal = plot::terminal_for_file(o.output);
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
    po.width = 900;
    po.height = 600;
  }
  const std::string path = db_path(db_opt);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw UsageError(fmt::format("no run database at {}", path));
  RunRecorder db(path, OpenMode::kRead);
  plot::GnuplotScript gp;
  if (!o.runs.empty()) {
    const std::vector<int64_t> ids = existing_run_ids(db, o.runs, path);
    const nlohmann::json data = report::runs_data(db, ids);
    check_metric(data, o.metric);
    gp = plot::runs_plot(data, po);
  } else {
    StudyStore store(path);
    if (!o.league.empty()) {
      const nlohmann::json data =
          report::league_data(db, store, study_named(store, o.league, StudyKind::kLeague));
      check_metric(data, o.metric);
      gp = plot::league_plot(data, po);
    } else {
      const nlohmann::json data =
          report::sweep_data(db, store, study_named(store, o.sweep, StudyKind::kSweep));
      const std::string metric = data.at("sweep").at("metric").get<std::string>();
      if (!o.metric.empty() && o.metric != metric)
        throw UsageError(fmt::format("sweep {} optimizes {}, not {}", o.sweep, metric, o.metric));
      gp = plot::sweep_plot(data, po);
    }
  }
  const std::string picture = plot::run_gnuplot(gp.script);
  if (!o.data_file.empty()) report::write_text_atomic(o.data_file, gp.data);
  if (o.output.empty()) {
    // gnuplot's dumb terminal starts its page with a form feed: not wanted in a terminal.
    fmt::print("{}", std::string_view(picture).substr(picture.rfind('\f', 0) == 0 ? 1 : 0));
    return 0;
  }
  report::write_text_atomic(o.output, picture);
  fmt::print("wrote {}\n", o.output);
  return 0;
}

}  // namespace

void add_plot_command(CLI::App& app, Action& action) {
  CLI::Option* db = db_option(app);
  auto o = std::make_shared<PlotCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plot",
      "Plot a metric of runs, a league's mean curves with their confidence bands, or a sweep's "
      "history or intermediate values, with gnuplot: in the terminal, or to -o FILE.svg/.png");
  cmd->add_option("RUN", o->runs, "run ids");
  cmd->add_option("--league", o->league, "a league's contenders (mean over seeds, band)")
      ->type_name("NAME");
  cmd->add_option("--sweep", o->sweep, "a sweep's optimization history")->type_name("NAME");
  cmd->add_option("--metric", o->metric, "the metric key (runs, league)")->type_name("KEY");
  cmd->add_option("--x", o->x, "x axis of runs: epoch, step or time (seconds)")->type_name("AXIS");
  cmd->add_flag("--intermediate", o->intermediate,
                "a sweep's trials' intermediate values (pruned ones dashed)");
  cmd->add_flag("--log-y", o->log_y, "a logarithmic y axis");
  cmd->add_option("-o,--output", o->output, "FILE.svg or FILE.png (else: in the terminal)")
      ->type_name("FILE");
  cmd->add_option("--data", o->data_file, "also write the data blocks given to gnuplot")
      ->type_name("FILE");
  cmd->callback(
      [&action, o, db] { action = [o, db] { return guarded([&] { return plot(*o, db); }); }; });
}

}  // namespace gom::cli
