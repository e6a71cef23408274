// `gom check PATH... [--junit FILE] [--seeds N] [--baseline SPEC] [--jobs N] [--threads N]`:
// regression checks. Each check file (gom_core/check.h: its `-- check:` lines) runs its script
// over seeds 0..N-1 as a league of one contender ("candidate"), every seed a child run of a
// parent run named "check NAME", into the run database (--db), so the runs stay there to be
// inspected and to serve as a later check's baseline. Each claim is judged from the seeds'
// values (RunRecorder::result_value, as a league's trial) and the report printed; the exit
// status is 1 when a claim fails, 0 otherwise (inconclusive passes), 2 for a usage error.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "check_baseline.h"
#include "commands.h"
#include "gom/error.h"
#include "gom_core/check.h"
#include "gom_core/recorder.h"
#include "gom_core/study.h"
#include "gom_core/study_worker.h"
#include "gom_core/threads.h"

namespace gom::cli {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_check_signal(int) {
  g_stop.store(true);
  const char msg[] = "\ngom: interrupted; the running seeds finish their batch (again to kill)\n";
  [[maybe_unused]] const auto n = write(STDERR_FILENO, msg, sizeof msg - 1);
}

struct CheckOptions {
  std::vector<std::string> paths;
  std::string junit, baseline;
  int64_t seeds = 0;  // 0: each file's check-seeds, else 1
  int jobs = 1, threads = 0;
};

// The parent run of one check file's seeds: its claims and overrides as params.
int64_t start_parent(RunRecorder& db, const check::CheckFile& f, int64_t seeds,
                     const std::string& command_line) {
  RunInfo info;
  info.experiment = "check";
  info.name = "check " + f.name;
  info.script_path = f.path;
  info.gom_version = GOM_VERSION;
  info.command_line = command_line;
  const int64_t id = db.start_run(info);
  std::vector<std::pair<std::string, std::string>> params{{"check.script", f.script},
                                                          {"check.seeds", std::to_string(seeds)}};
  for (const auto& [k, v] : f.sets) params.emplace_back("set." + k, v);
  for (size_t i = 0; i < f.claims.size(); ++i)
    params.emplace_back(fmt::format("claim.{}", i + 1), f.claims[i].text);
  db.log_params(id, params);
  db.add_tag(id, "check", f.name);
  return id;
}

struct Context {
  RunRecorder& db;
  StudyStore& store;
  const CheckOptions& o;
  const std::string& command_line;
  std::map<std::string, std::pair<check::Values, std::string>> baselines;  // metric → values
};

// Runs one check file's seeds and judges its claims.
check::FileResult run_file(Context& ctx, const check::CheckFile& f) {
  check::FileResult result;
  result.file = f;
  result.seeds = ctx.o.seeds > 0 ? ctx.o.seeds : f.seeds.value_or(1);
  const int64_t parent = start_parent(ctx.db, f, result.seeds, ctx.command_line);
  result.run_id = parent;

  StudyDefinition def;
  def.kind = StudyKind::kLeague;
  def.name = fmt::format("check {} run {}", f.name, parent);  // a new league every time
  std::error_code ec;
  def.script = std::filesystem::absolute(f.script, ec).lexically_normal().string();
  def.script_sha256 = sha256_file_hex(def.script);
  def.metric = f.claims.front().metric;
  def.maximize = f.claims.front().maximize;
  def.common = f.sets;
  def.contenders = {{"candidate", {}}};
  for (int64_t s = 0; s < result.seeds; ++s) def.seeds.push_back(s);

  WorkerOptions w;
  w.gom_executable = gom_executable();
  w.plugin_files = plugin_files();
  w.jobs = int(std::min<int64_t>(ctx.o.jobs, result.seeds));
  w.threads = ctx.o.threads > 0 ? ctx.o.threads : std::max(1, default_num_threads() / w.jobs);
  w.interrupt = &g_stop;
  w.say = [](const std::string& s) { fmt::print(stderr, "gom: {}\n", s); };
  fmt::print(stderr, "gom: check {}: {} on seeds 0..{} (run {}), {} at a time\n", f.name,
             def.script, result.seeds - 1, parent, w.jobs);

  const auto t0 = std::chrono::steady_clock::now();
  std::optional<StudyRecord> study;
  std::string error;
  bool interrupted = false;
  try {
    auto done = run_study(ctx.store, ctx.db, def, parent, w);
    study = done.first;
    interrupted = done.second.interrupted;
  } catch (const std::exception& e) {
    error = e.what();  // every claim fails: its seeds have no values
    fmt::print(stderr, "gom: check {}: {}\n", f.name, error);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<TrialRecord> trials;
  if (study) trials = ctx.store.trials(study->id);
  // Why seeds have no value: the first failed run's error, first line (the rest is in the run).
  std::string trial_error;
  for (const TrialRecord& t : trials)
    if (trial_error.empty() && t.run_id &&
        (t.state == TrialState::kFailed || t.state == TrialState::kCrashed)) {
      const std::string e = ctx.db.get_run(*t.run_id).run.error.value_or(trial_state_name(t.state));
      trial_error = fmt::format("seed {} (run {}): {}", t.seed, *t.run_id,
                                e.substr(0, std::min<size_t>(e.find('\n'), 200)));
    }
  bool any_fail = false;
  for (const check::Claim& c : f.claims) {
    check::Values values;
    for (int64_t s = 0; s < result.seeds; ++s) {
      double v = NAN;
      for (const TrialRecord& t : trials)
        if (t.seed == s && t.state == TrialState::kFinished && t.run_id)
          v = ctx.db.result_value(*t.run_id, c.metric).value_or(NAN);
      values.values.push_back(v);
      values.seeds.push_back(s);
    }
    check::ClaimResult r;
    r.claim = c;
    const check::Values* base = nullptr;
    if (c.comparison == check::Comparison::kNotWorseThanBaseline) {
      const auto& b = ctx.baselines.at(c.metric);
      base = &b.first;
      r.baseline = b.second;
    }
    r.judgement = check::judge(c, values, base);
    if (!error.empty())
      r.judgement.note = error;
    else if (!r.judgement.note.empty() && !trial_error.empty())
      r.judgement.note += "; " + trial_error;
    any_fail = any_fail || r.judgement.verdict == check::Verdict::kFail;
    ctx.db.add_tag(parent, fmt::format("check.{}", c.line),
                   fmt::format("{}: {}", check::verdict_name(r.judgement.verdict), c.text));
    result.claims.push_back(std::move(r));
  }
  ctx.db.finish_run(parent,
                    interrupted      ? RunStatus::kInterrupted
                    : !error.empty() ? RunStatus::kFailed
                                     : RunStatus::kFinished,
                    error);
  ctx.db.add_tag(parent, "check.verdict", any_fail ? "fail" : "pass");
  if (interrupted) g_stop.store(true);
  return result;
}

int run_check(const CheckOptions& o, const CLI::Option* db_opt, const std::string& command_line) {
  if (o.jobs < 1) throw UsageError("--jobs must be at least 1");
  if (o.seeds < 0) throw UsageError("--seeds must be at least 1");
  // Every file is read, and every baseline found, before anything runs.
  std::vector<check::CheckFile> files;
  try {
    for (const std::string& p : o.paths)
      for (const std::string& f : check::check_files(p))
        files.push_back(check::parse_check_file(f));
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  std::error_code ec;
  for (const check::CheckFile& f : files)
    if (!std::filesystem::is_regular_file(f.script, ec))
      throw UsageError(fmt::format("{}: the script {} does not exist", f.path, f.script));

  RunRecorder db(db_path(db_opt));
  StudyStore store(db.path());
  Context ctx{db, store, o, command_line, {}};
  for (const check::CheckFile& f : files)
    for (const check::Claim& c : f.claims) {
      if (c.comparison != check::Comparison::kNotWorseThanBaseline || ctx.baselines.count(c.metric))
        continue;
      if (o.baseline.empty())
        throw UsageError(fmt::format("{}:{}: '{}' needs --baseline RUN, league:NAME or FILE.json",
                                     f.path, c.line, c.text));
      std::string label;
      check::Values v = baseline_values(db, o.baseline, c.metric, label);
      ctx.baselines.emplace(c.metric, std::make_pair(std::move(v), label));
    }

  struct sigaction sa {};
  sa.sa_handler = on_check_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<check::FileResult> results;
  for (const check::CheckFile& f : files) {
    if (g_stop.load()) break;
    results.push_back(run_file(ctx, f));
  }
  fmt::print("{}", check::report_text(results));
  if (!o.junit.empty()) {
    const std::filesystem::path junit(o.junit);
    if (junit.has_parent_path()) std::filesystem::create_directories(junit.parent_path(), ec);
    std::ofstream out(o.junit, std::ios::binary);
    out << check::junit_xml(results);
    if (!out.flush()) throw Error(fmt::format("--junit {}: cannot write the file", o.junit));
  }
  if (g_stop.load()) return 130;
  for (const check::FileResult& f : results)
    for (const check::ClaimResult& c : f.claims)
      if (c.judgement.verdict == check::Verdict::kFail) return kExitFailure;
  return 0;
}

}  // namespace

void add_check_command(CLI::App& app, Action& action, const std::string& command_line) {
  const CLI::Option* db = db_option(app);
  auto o = std::make_shared<CheckOptions>();
  CLI::App* cmd = app.add_subcommand(
      "check",
      "Regression checks: run each check file's script over seeds and judge its '-- check:' "
      "claims (exit 1 when one fails)");
  cmd->add_option("PATH", o->paths, "check files, or folders of them (*.lua)")->required();
  cmd->add_option("--junit", o->junit, "also write the results as JUnit XML")->type_name("FILE");
  cmd->add_option("--seeds", o->seeds,
                  "seeds 0..N-1 for every file (default: its '-- check-seeds:', else 1)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--baseline", o->baseline,
                  "for 'not worse than baseline' claims: a run id, league:NAME[/CONTENDER] or a "
                  "JSON file {\"METRIC\": [values]}")
      ->type_name("SPEC");
  cmd->add_option("--jobs", o->jobs, "seeds at once (default 1)")->type_name("N");
  cmd->add_option("--threads", o->threads,
                  "compute threads of each run (default: the free cores divided by --jobs)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  cmd->callback([&action, o, db, command_line] {
    action = [o, db, command_line] {
      return guarded([&] { return run_check(*o, db, command_line); });
    };
  });
}

}  // namespace gom::cli
