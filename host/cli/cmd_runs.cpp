// `gom runs`, `gom show RUN` and `gom compare RUN RUN...`: read the run database that `gom run`
// records into (global option --db FILE, else $GOM_DB, else ./runs.db).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "gom/error.h"
#include "gom_core/recorder.h"
#include "gom_core/run_query.h"
#include "run_record.h"
#include "gom_core/text_table.h"

namespace gom::cli {

namespace {

/// @brief Opens an existing database (RunRecorder would create a missing one).
std::unique_ptr<RunRecorder> open_db(const CLI::Option* db_opt) {
  const std::string path = db_path(db_opt);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error(
        fmt::format("no run database at {} (runs are recorded by gom run)", path));
  auto db = std::make_unique<RunRecorder>(path, OpenMode::kRead);
  if (db->read_only())
    fmt::print(stderr, "gom: {} cannot be written here: reading it read-only\n", path);
  return db;
}

std::string fmt_value(double v) {
  if (std::isnan(v)) return "nan";
  return fmt::format("{:.6g}", v);
}
std::string fmt_opt(const std::optional<std::string>& v) {
  return v ? *v : "-";
}

/// @brief "2024-05-01T12:34:56.789Z" → "2024-05-01 12:34:56".
std::string fmt_time(const std::string& iso) {
  std::string t = iso.substr(0, std::min<size_t>(iso.size(), 19));
  if (t.size() > 10 && t[10] == 'T') t[10] = ' ';
  return t;
}

std::string fmt_duration(std::optional<double> s) {
  if (!s) return "-";
  const double d = *s;
  if (d < 60) return fmt::format("{:.1f}s", d);
  const auto total = static_cast<int64_t>(d);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m{:02}s", total / 3600, (total % 3600) / 60, total % 60);
}


RunDetails load_run(RunRecorder& db, const std::string& id_text) {
  const int64_t id = parse_run_id(id_text);
  if (db.query("SELECT 1 FROM runs WHERE id = ?", {std::to_string(id)}).empty())
    throw UsageError(fmt::format("no run {} in {}", id, db.path()));
  return db.get_run(id);
}

/// @brief "min", "max" or "-": which way a metric's best goes.
std::string direction_text(MetricDirection d) {
  return d == MetricDirection::Minimize ? "min" : d == MetricDirection::Maximize ? "max" : "-";
}

/// @brief A metric's final value, "-" when nothing was logged.
std::string final_text(const MetricSummaryRow& m) {
  return m.n > 0 ? fmt_value(m.final_value) : "-";
}

// ------------------------------------------------------------------------------ gom runs
struct RunsOptions {
  std::string experiment, status;
  int64_t limit = 0;
  bool all = false;  // league and sweep trials too
  int64_t parent = 0;
  std::vector<std::string> where;  // KEY OP VALUE, all of them
  std::string sort;                // [-]KEY
};

std::string query_value_text(const QueryValue& v) {
  return v.number ? fmt_value(*v.number) : v.text ? *v.text : "-";
}

int run_runs(const RunsOptions& o, const CLI::Option* db_opt) {
  if (!o.status.empty()) {
    try {
      parse_run_status(o.status);
    } catch (const Error& e) {
      throw UsageError(fmt::format("--status: {}", e.what()));
    }
  }
  if (o.limit < 0) throw UsageError("--limit must be >= 0");
  RunQuery query;
  try {
    for (const std::string& w : o.where) query.where.push_back(parse_condition(w));
    if (!o.sort.empty()) query.sort = parse_sort(o.sort);
  } catch (const RunQueryError& e) {
    throw UsageError(e.what());
  }
  auto db = open_db(db_opt);
  RunFilter filter{o.experiment, o.status, o.limit};
  filter.top_level = !o.all && o.parent == 0;
  if (o.parent > 0) filter.parent = o.parent;
  QueryResult result;
  try {
    result = query_runs(*db, query, filter);
  } catch (const RunQueryError& e) {
    throw UsageError(e.what());
  }
  // A study's trials are runs too, one per trial: listed with --all or --parent, else counted.
  int64_t hidden = 0;
  if (filter.top_level)
    if (const auto n = db->query("SELECT COUNT(*) FROM runs WHERE parent_run_id IS NOT NULL");
        !n.empty() && n[0][0])
      hidden = std::stoll(*n[0][0]);
  const std::string note =
      hidden > 0 ? fmt::format("({} trial runs of leagues and sweeps not shown: --all lists "
                               "them, --parent RUN one study's)\n",
                               hidden)
                 : "";
  if (result.rows.empty()) {
    fmt::print("no runs\n{}", note);
    return 0;
  }
  // Final valid_loss / accuracy from the run_summary view, by id.
  std::map<std::string, std::pair<std::optional<std::string>, std::optional<std::string>>> finals;
  for (const auto& row : db->query("SELECT id, final_valid_loss, final_accuracy FROM run_summary"))
    if (row.size() == 3 && row[0]) finals[*row[0]] = {row[1], row[2]};
  auto num = [](const std::optional<std::string>& v) {
    if (!v) return std::string("-");
    try {
      return fmt_value(std::stod(*v));
    } catch (const std::exception&) {
      return *v;
    }
  };
  // The where and sort keys follow, but for those already shown.
  const std::set<std::string> shown = {"experiment", "name", "status", "valid_loss", "accuracy"};
  std::vector<Row> rows{
      {"id", "experiment", "name", "status", "started", "duration", "valid_loss", "accuracy"}};
  for (const std::string& k : result.keys)
    if (!shown.count(k)) rows[0].push_back(k);
  for (const QueryRow& q : result.rows) {
    const RunRecord& r = q.run;
    const auto f = finals[std::to_string(r.id)];
    rows.push_back({std::to_string(r.id), r.experiment, r.name.empty() ? "-" : r.name, r.status,
                    fmt_time(r.started_at), fmt_duration(r.duration_s), num(f.first),
                    num(f.second)});
    for (size_t i = 0; i < result.keys.size(); ++i)
      if (!shown.count(result.keys[i])) rows.back().push_back(query_value_text(q.values[i]));
  }
  fmt::print("{}{}", table(rows, ""), note);
  return 0;
}

// ------------------------------------------------------------------------------ gom show
int run_show(const std::string& id, const CLI::Option* db_opt) {
  auto db = open_db(db_opt);
  const RunDetails d = load_run(*db, id);
  const RunRecord& r = d.run;
  auto text = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  auto num = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "-"; };
  fmt::print("run {}\n", r.id);
  std::vector<Row> head{
      {"status", r.status},
      {"experiment", r.experiment},
      {"name", text(r.name)},
      {"started", fmt_time(r.started_at)},
      {"ended", r.ended_at ? fmt_time(*r.ended_at) : "-"},
      {"duration", fmt_duration(r.duration_s)},
  };
  if (r.parent_run_id) head.push_back({"parent", std::to_string(*r.parent_run_id)});
  if (r.pid && r.host)
    head.push_back({"process", fmt::format("pid {} on {}", *r.pid, *r.host)});
  if (r.heartbeat_at) head.push_back({"heartbeat", fmt_time(*r.heartbeat_at)});
  fmt::print("{}", table(head));
  if (r.error) {
    // Line by line: a traceback keeps its lines, but no control character reaches the terminal.
    std::string error;
    size_t start = 0;
    for (size_t nl; (nl = r.error->find('\n', start)) != std::string::npos; start = nl + 1)
      error += "  " + escape_text(r.error->substr(start, nl - start)) + "\n";
    error += "  " + escape_text(r.error->substr(start)) + "\n";
    fmt::print("\nerror:\n{}", error);
  }

  std::string git = fmt_opt(r.git_commit);
  if (r.git_commit && r.git_dirty) git += *r.git_dirty ? " (dirty)" : " (clean)";
  fmt::print("\nprovenance:\n{}", table({{"script", text(r.script_path)},
                                         {"sha256", text(r.script_sha256)},
                                         {"seed", num(r.seed)},
                                         {"backend", text(r.backend)},
                                         {"device", text(r.device)},
                                         {"threads", num(r.threads)},
                                         {"gom", text(r.gom_version)},
                                         {"git", git},
                                         {"command", text(r.command_line)}}));

  auto params = d.params;
  std::sort(params.begin(), params.end());
  if (params.empty()) {
    fmt::print("\nparams: none\n");
  } else {
    std::vector<Row> rows;
    for (const auto& [k, v] : params) rows.push_back({k, "=", v});
    fmt::print("\nparams ({}):\n{}", params.size(), table(rows));
  }

  // Final and best as the metric_summary view has them: best by each metric's direction.
  const auto metrics = db->metric_summary(r.id);
  if (metrics.empty()) {
    fmt::print("\nmetrics: none\n");
  } else {
    std::vector<Row> rows{{"metric", "final", "epoch", "best", "epoch", "direction"}};
    for (const MetricSummaryRow& m : metrics)
      rows.push_back({m.key, final_text(m), m.n > 0 ? std::to_string(m.final_epoch) : "-",
                      m.best_value ? fmt_value(*m.best_value) : "-",
                      m.best_value ? std::to_string(m.best_epoch) : "-",
                      direction_text(m.info.direction)});
    fmt::print("\nmetrics (best: the lowest of a metric to minimize, the highest of one to "
               "maximize):\n{}",
               table(rows));
  }
  if (!d.tags.empty()) {
    std::vector<Row> rows;
    for (const auto& [k, v] : d.tags) rows.push_back({k, "=", v});
    fmt::print("\ntags:\n{}", table(rows));
  }
  if (!d.artifacts.empty()) {
    std::vector<Row> rows;
    for (const ArtifactRecord& a : d.artifacts) rows.push_back({a.kind, a.path});
    fmt::print("\nartifacts:\n{}", table(rows));
  }
  return 0;
}

// ------------------------------------------------------------------------------ gom compare
/// @brief Whether a's best is better than b's by the metric's direction.
bool better(const MetricSummaryRow& a, const MetricSummaryRow& b) {
  if (!a.best_value) return false;
  if (!b.best_value) return true;
  return a.info.direction == MetricDirection::Minimize ? *a.best_value < *b.best_value
                                                       : *a.best_value > *b.best_value;
}

// With diff: only the params that differ, only the metrics whose final or best values differ,
// and the run with the best best of each metric (by its direction) marked '*'.
int run_compare(const std::vector<std::string>& ids, bool diff, const CLI::Option* db_opt) {
  if (ids.size() < 2) throw UsageError("compare needs at least two run ids");
  auto db = open_db(db_opt);
  std::vector<RunDetails> runs;
  for (const std::string& id : ids) runs.push_back(load_run(*db, id));

  Row header{""};
  for (const RunDetails& d : runs) header.push_back(fmt::format("run {}", d.run.id));

  std::vector<std::map<std::string, std::string>> params;
  std::set<std::string> keys;
  for (const RunDetails& d : runs) {
    params.emplace_back(d.params.begin(), d.params.end());
    for (const auto& kv : d.params) keys.insert(kv.first);
  }
  {
    std::vector<Row> rows{header};
    rows.front().insert(rows.front().begin(), "");
    rows.push_back({"", "experiment"});
    rows.push_back({"", "name"});
    rows.push_back({"", "status"});
    for (const RunDetails& d : runs) {
      rows[1].push_back(d.run.experiment);
      rows[2].push_back(d.run.name.empty() ? "-" : d.run.name);
      rows[3].push_back(d.run.status);
    }
    fmt::print("{}", table(rows));
  }
  size_t differing = 0;
  for (const std::string& k : keys) {
    std::set<std::optional<std::string>> distinct;
    for (const auto& p : params) {
      const auto it = p.find(k);
      distinct.insert(it == p.end() ? std::nullopt : std::optional<std::string>(it->second));
    }
    differing += distinct.size() > 1;
  }
  if (keys.empty()) {
    fmt::print("\nparams: none\n");
  } else if (diff && differing == 0) {
    fmt::print("\nparams: all {} equal\n", keys.size());
  } else {
    std::vector<Row> rows{header};
    rows.front().insert(rows.front().begin(), "");
    for (const std::string& k : keys) {
      Row row{"", k};
      std::set<std::optional<std::string>> distinct;
      for (const auto& p : params) {
        const auto it = p.find(k);
        distinct.insert(it == p.end() ? std::nullopt : std::optional<std::string>(it->second));
        row.push_back(it == p.end() ? "-" : it->second);
      }
      if (distinct.size() > 1) row[0] = "*";
      if (diff && distinct.size() < 2) continue;
      rows.push_back(std::move(row));
    }
    if (diff)
      fmt::print("\nparams that differ ({} of {}):\n{}", differing, keys.size(), table(rows));
    else
      fmt::print("\nparams ('*': differs):\n{}", table(rows));
  }

  // By run, the metric_summary rows by key.
  std::vector<std::map<std::string, MetricSummaryRow>> sums;
  std::set<std::string> mkeys;
  for (const RunDetails& d : runs) {
    auto& by_key = sums.emplace_back();
    for (MetricSummaryRow& m : db->metric_summary(d.run.id)) {
      mkeys.insert(m.key);
      by_key.emplace(m.key, std::move(m));
    }
  }
  if (diff)  // the metrics whose final or best values all agree say nothing about the runs
    for (auto k = mkeys.begin(); k != mkeys.end();) {
      std::set<std::string> finals, bests;
      for (const auto& s : sums) {
        const auto it = s.find(*k);
        finals.insert(it == s.end() ? "none" : final_text(it->second));
        bests.insert(it == s.end() || !it->second.best_value ? "-"
                                                              : fmt_value(*it->second.best_value));
      }
      k = finals.size() > 1 || bests.size() > 1 ? std::next(k) : mkeys.erase(k);
    }
  if (mkeys.empty()) {
    fmt::print("{}", diff ? "\nmetrics: none that differ\n" : "\nmetrics: none\n");
    return 0;
  }
  for (const bool best : {false, true}) {
    std::vector<Row> rows{header};
    if (best) rows.front().insert(rows.front().begin() + 1, "direction");
    for (const std::string& k : mkeys) {
      Row row{k};
      std::set<std::string> directions;  // one, unless the runs declared it differently
      const MetricSummaryRow* top = nullptr;  // the best best, for --diff's '*'
      for (const auto& s : sums)
        if (const auto it = s.find(k); it != s.end() && it->second.info.direction !=
                                                            MetricDirection::None)
          if (!top || better(it->second, *top)) top = &it->second;
      for (const auto& s : sums) {
        const auto it = s.find(k);
        if (it == s.end()) {
          row.push_back("-");
          continue;
        }
        const MetricSummaryRow& m = it->second;
        directions.insert(direction_text(m.info.direction));
        if (!best)
          row.push_back(final_text(m));
        else if (m.best_value)
          row.push_back(fmt::format("{} (epoch {}){}", fmt_value(*m.best_value), m.best_epoch,
                                    diff && top && *top->best_value == *m.best_value ? " *" : ""));
        else
          row.push_back("-");
      }
      if (best) row.insert(row.begin() + 1, fmt::format("{}", fmt::join(directions, "/")));
      rows.push_back(std::move(row));
    }
    fmt::print("\n{}:\n{}",
               best ? fmt::format("best metrics (the lowest of a metric to minimize, the highest "
                                  "of one to maximize{})",
                                  diff ? "; '*': the best of the runs" : "")
                    : diff ? "final metrics that differ" : "final metrics",
               table(rows));
  }
  return 0;
}

}  // namespace

void add_runs_commands(CLI::App& app, Action& action) {
  const CLI::Option* db = db_option(app);

  auto ro = std::make_shared<RunsOptions>();
  CLI::App* runs = app.add_subcommand("runs", "List recorded runs, newest first");
  runs->add_option("--experiment", ro->experiment, "Only this experiment's runs")
      ->type_name("NAME");
  runs->add_option("--status", ro->status,
                   "Only runs with this status: running, finished, failed, interrupted, diverged, "
                   "crashed, pruned")
      ->type_name("S");
  runs->add_option("--limit", ro->limit, "At most N runs")
      ->type_name("N")
      ->check(integer_range(0, INT64_MAX));
  runs->add_flag("--all", ro->all, "Also the trial runs of leagues and sweeps");
  runs->add_option("--parent", ro->parent, "Only the trial runs of this league or sweep run")
      ->type_name("RUN")
      ->check(integer_range(1, INT64_MAX));
  runs->add_option("--where", ro->where,
                   "Only runs where KEY OP VALUE holds (repeatable: all must): OP one of = != < "
                   "<= > >= ~ (a glob on text); KEY a metric (its final value), best:METRIC, a "
                   "param, param:KEY, or status, experiment, name, seed, duration_s")
      ->type_name("EXPR");
  runs->add_option("--sort", ro->sort,
                   "Order by KEY's value (as --where), -KEY descending; runs without it last "
                   "(default: newest first)")
      ->type_name("[-]KEY");
  runs->callback([&action, ro, db] {
    action = [ro, db] { return guarded([&] { return run_runs(*ro, db); }); };
  });

  auto show_id = std::make_shared<std::string>();
  CLI::App* show = app.add_subcommand(
      "show", "Show one run: status, provenance, params, final and best metrics");
  show->add_option("RUN", *show_id, "the run id")->required();
  show->callback([&action, show_id, db] {
    action = [show_id, db] { return guarded([&] { return run_show(*show_id, db); }); };
  });

  auto cmp_ids = std::make_shared<std::vector<std::string>>();
  CLI::App* compare = app.add_subcommand(
      "compare",
      "Compare runs side by side: params (differences marked '*'), final and best "
      "metrics");
  compare->add_option("RUN", *cmp_ids, "two or more run ids")->required()->expected(2, -1);
  auto cmp_diff = std::make_shared<bool>(false);
  compare->add_flag("--diff", *cmp_diff,
                    "Only the params and metrics that differ; the best run of each metric "
                    "marked '*'");
  compare->callback([&action, cmp_ids, cmp_diff, db] {
    action = [cmp_ids, cmp_diff, db] {
      return guarded([&] { return run_compare(*cmp_ids, *cmp_diff, db); });
    };
  });
}

}  // namespace gom::cli
