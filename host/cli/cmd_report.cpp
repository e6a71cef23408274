// `gom report RUN... | --league NAME | --sweep NAME -o FILE.html`: one self-contained HTML file
// (it opens offline) with the runs' curves, params and provenance, a league's table, a sweep's
// plots. The data is assembled by gom_core/html_report.h; the page's script and style sheet
// (host/cli/report/) are compiled in, and Chart.js is read from the Debian package
// libjs-chart.js and inlined.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "commands.h"
#include "gom/error.h"
#include "gom_core/html_report.h"
#include "report_assets.h"

namespace gom::cli {

namespace {

struct ReportOptions {
  std::vector<std::string> runs;
  std::string league, sweep, output;
};

// Chart.js: $GOM_CHARTJS, else the file CMake found in libjs-chart.js.
std::string read_chart_js() {
  const char* env = std::getenv("GOM_CHARTJS");
  const std::string path = env != nullptr && *env != '\0' ? env : GOM_CHARTJS_FILE;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(fmt::format(
        "gom report needs Chart.js, and {} cannot be read: install the Debian package "
        "libjs-chart.js (apt-get install libjs-chart.js), or set GOM_CHARTJS to its chart.min.js",
        path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string now_iso() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int write_report(const ReportOptions& o, const CLI::Option* db_opt) {
  const int asked =
      (o.runs.empty() ? 0 : 1) + (o.league.empty() ? 0 : 1) + (o.sweep.empty() ? 0 : 1);
  if (asked != 1)
    throw UsageError("report: give run ids, or --league NAME, or --sweep NAME (one of them)");
  const std::string path = db_path(db_opt);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw UsageError(fmt::format("no run database at {}", path));
  const std::string chart_js = read_chart_js();  // before the work: a missing package fails fast
  RunRecorder db(path, OpenMode::kRead);
  nlohmann::json data;
  if (!o.runs.empty()) {
    const std::vector<int64_t> ids = existing_run_ids(db, o.runs, path);
    data = report::runs_data(db, ids);
  } else {
    StudyStore store(path);
    if (!o.league.empty())
      data = report::league_data(db, store, study_named(store, o.league, StudyKind::kLeague));
    else
      data = report::sweep_data(db, store, study_named(store, o.sweep, StudyKind::kSweep));
  }
  data["gom_version"] = GOM_VERSION;
  data["generated_at"] = now_iso();
  report::write_text_atomic(o.output,
                            report::html_page(data, chart_js, kReportScript, kReportStyle));
  fmt::print("wrote {}\n", o.output);
  return 0;
}

}  // namespace

int64_t parse_run_id(const std::string& s) {
  size_t used = 0;
  int64_t id = 0;
  try {
    id = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size() || id <= 0)
    throw UsageError(fmt::format("'{}' is not a run id (a positive integer)", s));
  return id;
}

std::vector<int64_t> existing_run_ids(RunRecorder& db, const std::vector<std::string>& given,
                                      const std::string& path) {
  std::vector<int64_t> ids;
  for (const std::string& s : given) {
    ids.push_back(parse_run_id(s));
    if (db.query("SELECT 1 FROM runs WHERE id = ?", {std::to_string(ids.back())}).empty())
      throw UsageError(fmt::format("no run {} in {}", ids.back(), path));
  }
  return ids;
}

StudyRecord study_named(StudyStore& store, const std::string& name, StudyKind kind) {
  auto s = store.find(name);
  if (s && s->def.kind == kind) return *s;
  std::vector<std::string> names;
  for (const StudyRecord& r : store.list())
    if (r.def.kind == kind) names.push_back(r.def.name);
  throw UsageError(fmt::format("no {} named '{}' in {} ({}s: {})", study_kind_name(kind), name,
                               store.path(), study_kind_name(kind),
                               names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
}

void add_report_command(CLI::App& app, Action& action) {
  CLI::Option* db = db_option(app);
  auto o = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Write one self-contained HTML file (opens offline) of runs, a league or a sweep: "
      "learning curves, params, provenance, league table, sweep plots, confusion matrices");
  cmd->add_option("RUN", o->runs, "run ids");
  cmd->add_option("--league", o->league, "a league's report")->type_name("NAME");
  cmd->add_option("--sweep", o->sweep, "a sweep's report")->type_name("NAME");
  cmd->add_option("-o,--output", o->output, "the HTML file to write")
      ->type_name("FILE")
      ->required();
  cmd->callback([&action, o, db] {
    action = [o, db] { return guarded([&] { return write_report(*o, db); }); };
  });
}

}  // namespace gom::cli
