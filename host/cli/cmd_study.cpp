// `gom league run/show` and `gom sweep run/show`: define (or join) a league or a sweep of a
// script's trials, run them as `gom run` processes (--jobs at a time), and print the league's
// table with its statistics or the sweep's trials. The study's parent run records the
// invocation that made it; each trial is a child run. Under mpirun rank 0 does all of this but
// run the trials, which the other ranks run (study_ranks.h).
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>

#include "commands.h"
#include "gom_core/distributed.h"
#include "gom_core/recorder.h"
#include "gom_core/study.h"
#include "gom_core/study_report.h"
#include "gom_core/study_worker.h"
#include "gom_core/text_table.h"
#include "gom_core/threads.h"
#include "run_record.h"
#include "study_define.h"
#include "study_ranks.h"

namespace gom::cli {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_study_signal(int) {
  g_stop.store(true);
  const char msg[] =
      "\ngom: interrupted; the running trials finish their batch and are handed "
      "back (again to kill)\n";
  [[maybe_unused]] const auto n = write(STDERR_FILENO, msg, sizeof msg - 1);
}

std::unique_ptr<RunRecorder> open_existing(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw UsageError(fmt::format("no run database at {}", path));
  return std::make_unique<RunRecorder>(path);
}

StudyRecord find_study(StudyStore& store, const std::string& name, StudyKind kind) {
  auto s = store.find(name);
  if (!s || s->def.kind != kind) {
    std::vector<std::string> names;
    for (const StudyRecord& r : store.list())
      if (r.def.kind == kind) names.push_back(r.def.name);
    throw UsageError(
        fmt::format("no {} named '{}' in {} ({}: {})", study_kind_name(kind), name, store.path(),
                    kind == StudyKind::kLeague ? "leagues" : "sweeps",
                    names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
  }
  return *s;
}

// An exclusive flock on <db>.artifacts/studies.lock while held (not on the database file: a
// second descriptor of it would drop SQLite's own locks when closed).
class StudyCreationLock {
 public:
  explicit StudyCreationLock(const std::string& db_path) {
    const std::string dir = db_path + ".artifacts";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    fd_ = ::open((dir + "/studies.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0 || flock(fd_, LOCK_EX) != 0)
      throw std::runtime_error(fmt::format("cannot lock {}/studies.lock", dir));
  }
  ~StudyCreationLock() { release(); }
  StudyCreationLock(const StudyCreationLock&) = delete;
  StudyCreationLock& operator=(const StudyCreationLock&) = delete;
  void release() const {
    if (fd_ >= 0) ::close(fd_);  // closing drops the flock
    fd_ = -1;
  }

 private:
  mutable int fd_ = -1;
};

// The parent run of a new study: the invocation, its definition as params.
int64_t start_parent(RunRecorder& db, const StudyDefinition& d, const std::string& command_line) {
  RunInfo info;
  info.experiment = d.name;
  info.name = fmt::format("{} {}", study_kind_name(d.kind), d.name);
  info.script_path = d.script;
  info.gom_version = GOM_VERSION;
  info.command_line = command_line;
  const int64_t id = db.start_run(info);
  std::vector<std::pair<std::string, std::string>> params{
      {"study.kind", study_kind_name(d.kind)},
      {"study.metric", d.metric},
      {"study.direction", d.maximize ? "maximize" : "minimize"}};
  for (const auto& [k, v] : d.common) params.emplace_back("set." + k, v);
  if (d.kind == StudyKind::kLeague) {
    params.emplace_back("study.seeds", std::to_string(d.seeds.size()));
    for (const Contender& c : d.contenders)
      for (const auto& [k, v] : c.overrides)
        params.emplace_back("contender." + c.name + "." + k, v);
  } else {
    params.emplace_back("study.sampler", d.sampler);
    params.emplace_back("study.pruner", d.pruner);
    params.emplace_back("study.trials", std::to_string(d.trials));
    params.emplace_back("study.seed", std::to_string(d.seed));
    for (const auto& [k, v] : d.sampler_options.items())
      params.emplace_back("study.sampler_options." + k, v.dump());
    for (const auto& [k, v] : d.pruner_options.items())
      params.emplace_back("study.pruner_options." + k, v.dump());
    for (const auto& [k, v] : d.space.items()) params.emplace_back("space." + k, v.dump());
  }
  db.log_params(id, params);
  db.add_tag(id, study_kind_name(d.kind), d.name);
  return id;
}

void install_study_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_study_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// This process's part of a study: all of it, or under mpirun rank 0's (the database, the
// schedule) or a worker rank's (trials).
int run_study_here(const StudyOptions& o, StudyKind kind, const CLI::Option* db_opt,
                   const std::string& command_line);

int run_study_command(const StudyOptions& o, StudyKind kind, const CLI::Option* db_opt,
                      const std::string& command_line) {
  if (!in_mpi_job()) return run_study_here(o, kind, db_opt, command_line);
  install_study_signal_handlers();
  if (const auto worker_exit = run_study_rank(o.jobs, o.threads, &g_stop)) return *worker_exit;
  try {
    return run_study_here(o, kind, db_opt, command_line);
  } catch (...) {
    stop_worker_ranks();
    throw;
  }
}

int run_study_here(const StudyOptions& o, StudyKind kind, const CLI::Option* db_opt,
                   const std::string& command_line) {
  const std::string path = db_path(db_opt);
  if (o.jobs < 1) throw UsageError("--jobs must be at least 1");
  RunRecorder db(path);
  StudyStore store(db.path());
  // Workers started at once must not each make a parent run for one new study: finding the
  // study, making its parent run and the study itself happen under a lock of this database's.
  const StudyCreationLock creation(db.path());
  std::optional<StudyRecord> existing = store.find(o.name);
  StudyDefinition def;
  if (o.script.empty()) {  // join: the study must exist
    if (!existing)
      throw UsageError(
          fmt::format("no {} named '{}' in {}: give its SCRIPT (and "
                      "definition) to make it",
                      study_kind_name(kind), o.name, path));
    def = find_study(store, o.name, kind).def;
  } else {
    def = define_study(o, kind);
    if (existing && existing->def.kind != kind)
      throw UsageError(fmt::format("'{}' is a {} in {}, not a {}", o.name,
                                   study_kind_name(existing->def.kind), path,
                                   study_kind_name(kind)));
  }

  // The parent run: made with the study; a study whose parent is not running any more (an
  // interrupted league) is resumed under it by the worker that continues it.
  std::optional<int64_t> parent;
  bool own_parent = false;
  if (!existing) {
    parent = start_parent(db, def, command_line);
    own_parent = true;
  } else if (existing->run_id) {
    const RunDetails d = db.get_run(*existing->run_id);  // reads a dead process's run as crashed
    if (d.run.status != "running") {
      db.resume_run(*existing->run_id);
      parent = existing->run_id;
      own_parent = true;
    }
  }

  StudyRecord study = store.create_or_join(def, parent);
  if (!study.run_id && parent) store.set_run(study.id, *parent);
  creation.release();

  install_study_signal_handlers();

  WorkerOptions w;
  w.gom_executable = gom_executable();
  w.plugin_files = plugin_files();
  w.jobs = o.jobs;
  w.threads = o.threads > 0 ? o.threads : std::max(1, default_num_threads() / o.jobs);
  w.interrupt = &g_stop;
  w.say = [](const std::string& s) { fmt::print(stderr, "gom: {}\n", s); };
  if (in_mpi_job())
    fmt::print(stderr, "gom: {} '{}' in {}: {} worker ranks, one trial each at a time\n",
               study_kind_name(kind), def.name, path, dist::world().size - 1);
  else
    fmt::print(stderr, "gom: {} '{}' in {}: {} at a time, {} thread{} each\n",
               study_kind_name(kind), def.name, path, w.jobs, w.threads, w.threads == 1 ? "" : "s");
  std::pair<StudyRecord, WorkerReport> done;
  try {
    done = in_mpi_job() ? run_study_on_ranks(store, db, study, w)
                        : run_study(store, db, def, parent, w);
  } catch (const std::exception& e) {
    if (own_parent) db.finish_run(*parent, RunStatus::kFailed, e.what());
    throw;
  }
  const auto trials = store.trials(done.first.id);
  const bool complete = std::none_of(trials.begin(), trials.end(), [](const TrialRecord& t) {
    return t.state == TrialState::kWaiting || t.state == TrialState::kRunning;
  });
  if (own_parent)
    db.finish_run(*parent, done.second.interrupted ? RunStatus::kInterrupted
                           : complete              ? RunStatus::kFinished
                                                   : RunStatus::kInterrupted);
  if (kind == StudyKind::kLeague)
    fmt::print("{}", league_text(league_report(store, done.first)));
  else
    fmt::print("{}", sweep_text(sweep_report(store, done.first)));
  return done.second.interrupted ? 130 : 0;
}

int show_study(const StudyOptions& o, StudyKind kind, const CLI::Option* db_opt) {
  auto db = open_existing(db_path(db_opt));
  StudyStore store(db->path());
  if (o.name.empty()) {  // the list
    std::vector<Row> rows{{"name", "metric", "trials", "run", "created"}};
    for (const StudyRecord& s : store.list())
      if (s.def.kind == kind)
        rows.push_back({s.def.name, s.def.metric, trial_counts(store.trials(s.id)),
                        s.run_id ? std::to_string(*s.run_id) : "-", s.created_at.substr(0, 19)});
    if (rows.size() == 1)
      fmt::print("no {}s\n", study_kind_name(kind));
    else
      fmt::print("{}", table(rows, ""));
    return 0;
  }
  const StudyRecord s = find_study(store, o.name, kind);
  if (kind == StudyKind::kLeague) {
    const LeagueReport r = league_report(store, s);
    if (o.json_out)
      fmt::print("{}\n", league_json(r).dump(2));
    else if (o.csv_out)
      fmt::print("{}", league_csv(r, o.pairwise));
    else
      fmt::print("{}", league_text(r));
  } else {
    const SweepReport r = sweep_report(store, s);
    if (o.json_out)
      fmt::print("{}\n", sweep_json(r).dump(2));
    else if (o.csv_out)
      fmt::print("{}", sweep_csv(r));
    else
      fmt::print("{}", sweep_text(r));
  }
  return 0;
}

void add_kind(CLI::App& app, Action& action, const std::string& command_line, StudyKind kind) {
  const CLI::Option* db = db_option(app);
  const bool league = kind == StudyKind::kLeague;
  CLI::App* top = app.add_subcommand(
      study_kind_name(kind),
      league ? "Leagues: contenders over paired seeds, ranked with bootstrap intervals and paired "
               "tests"
             : "Sweeps: a search over a script's parameters (grid, random, TPE) with pruning");
  top->require_subcommand(1);

  auto o = std::make_shared<StudyOptions>();
  CLI::App* run = top->add_subcommand(
      "run", league ? "Run (or join, or resume) a league: every contender on every seed"
                    : "Run (or join, or resume) a sweep: trials up to its budget");
  run->add_option("NAME", o->name, "its name (one per database; run again to resume or join)")
      ->required();
  run->add_option("SCRIPT", o->script, "the experiment every trial runs (omit to join)")
      ->check(CLI::ExistingFile);
  run->add_option("--metric", o->metric, "the metric to rank by (a key the script logs)")
      ->type_name("KEY");
  run->add_option("--direction", o->direction,
                  "maximize or minimize (default: known from the metric's name)")
      ->type_name("D");
  run->add_option("--set", o->sets, "an override for every trial (repeatable), e.g. fit.epochs=2")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  run->add_option("--jobs", o->jobs, "trials at once (default 1)")->type_name("N");
  run->add_option("--threads", o->threads,
                  "compute threads of each trial (default: the free cores divided by --jobs)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  if (league) {
    run->add_option("--contender", o->contenders,
                    "NAME:KEY=VALUE[,KEY=VALUE...] (repeatable, at least two)")
        ->type_name("SPEC")
        ->allow_extra_args(false);
    run->add_option("--seeds", o->seeds, "seeds 0..N-1, each run by every contender (default 10)")
        ->type_name("N");
  } else {
    run->add_option("--param", o->params,
                    "KEY=uniform:LO:HI | loguniform:LO:HI (:grid=N) | int:LO:HI[:STEP] | "
                    "logint:LO:HI | choice:A,B,... (repeatable)")
        ->type_name("SPEC")
        ->allow_extra_args(false);
    run->add_option("--trials", o->trials, "the budget (default: a grid's size)")->type_name("N");
    run->add_option("--sampler", o->sampler, "grid, random or tpe (default tpe)")->type_name("S");
    run->add_option("--pruner", o->pruner, "none, median or asha (default none)")->type_name("P");
    run->add_option("--sampler-option", o->sampler_options,
                    "KEY=VALUE for the sampler (repeatable): tpe's n_startup_trials (10), "
                    "n_ei_candidates (24)")
        ->type_name("KEY=VALUE");
    run->add_option("--pruner-option", o->pruner_options,
                    "KEY=VALUE for the pruner (repeatable): median's n_startup_trials (5), "
                    "n_warmup_steps (0), interval_steps (1), n_min_trials (1); asha's "
                    "reduction_factor (4), grace_period (1), max_t (100)")
        ->type_name("KEY=VALUE");
    run->add_option("--seed", o->seed, "the sampler's seed and every trial's --seed (default 0)")
        ->type_name("N");
  }
  run->callback([&action, o, db, command_line, kind] {
    action = [o, db, command_line, kind] {
      return guarded([&] { return run_study_command(*o, kind, db, command_line); });
    };
  });

  auto so = std::make_shared<StudyOptions>();
  CLI::App* show = top->add_subcommand(
      "show", league ? "A league's table: mean, 95% bootstrap CI, IQM, median; pairwise wins, "
                       "P(better), Wilcoxon p and verdicts"
                     : "A sweep's trials, best first marked, with their parameters");
  show->add_option("NAME", so->name, "its name (none: list them)");
  show->add_flag("--json", so->json_out, "as JSON");
  show->add_flag("--csv", so->csv_out, "as CSV");
  if (league) show->add_flag("--pairwise", so->pairwise, "with --csv: the pairwise table");
  show->callback([&action, so, db, kind] {
    action = [so, db, kind] { return guarded([&] { return show_study(*so, kind, db); }); };
  });
}

}  // namespace

void add_study_commands(CLI::App& app, Action& action, const std::string& command_line) {
  add_kind(app, action, command_line, StudyKind::kLeague);
  add_kind(app, action, command_line, StudyKind::kSweep);
}

}  // namespace gom::cli
