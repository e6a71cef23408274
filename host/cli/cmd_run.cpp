// `gom run EXPERIMENT.lua`: starts a run in the database, runs the script with the `gom` Lua
// module, and finishes the run as finished, failed, diverged or interrupted. Ctrl-C (or SIGTERM)
// once: the fit finishes its batch, the run is recorded as interrupted, gom exits 130; twice:
// gom dies at once. Under mpirun every rank runs the script and rank 0 alone records the run
// (run_distributed.h).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "commands.h"
#include "gom/checkpoint.h"
#include "gom/ops.h"
#include "gom/plugin.h"
#include "gom_core/distributed.h"
#include "gom_core/recorder.h"
#include "gom_core/study.h"
#include "gom_core/study_mpi.h"
#include "gom_core/threads.h"
#include "gom_lua/runtime.h"
#include "lookup.h"
#include "run_distributed.h"
#include "run_record.h"
#include "run_resume.h"

namespace gom::cli {
namespace {

struct RunOptions {
  std::string script;
  std::vector<std::string> sets;
  std::vector<std::string> script_args;
  std::string backend = "onednn";
  uint64_t seed = 0;
  int threads = 0;
  std::string name, experiment;
  int64_t resume = 0;
  int64_t trial = 0;  // a league's or sweep's trial this run is (set by the study worker)
  int prune_fd = -1;  // a trial of a worker rank (MPI): its worker answers the pruning question
};

std::atomic<bool> g_interrupt{false};
lua::Runtime* g_runtime = nullptr;

extern "C" void on_signal(int) {
  g_interrupt.store(true);
  if (g_runtime) g_runtime->request_interrupt();
  if (gom::dist::world().rank != 0) return;  // one message for a job (mpirun signals every rank)
  const char msg[] = "\ngom: interrupted; finishing the batch and recording the run (again to "
                     "kill)\n";
  [[maybe_unused]] const auto n = write(STDERR_FILENO, msg, sizeof msg - 1);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND;  // a second signal takes the default action: die
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // Past a file-size limit (ulimit -f) a write then fails with EFBIG, which the writer reports
  // (and cleans up after), instead of the signal killing gom without a word.
  signal(SIGXFSZ, SIG_IGN);
}

RunStatus status_of(lua::ScriptResult::Status s) {
  switch (s) {
    case lua::ScriptResult::Status::Finished: return RunStatus::kFinished;
    case lua::ScriptResult::Status::Interrupted: return RunStatus::kInterrupted;
    case lua::ScriptResult::Status::Diverged: return RunStatus::kDiverged;
    case lua::ScriptResult::Status::Failed: break;
  }
  return RunStatus::kFailed;
}

int exit_code(RunStatus s) {
  switch (s) {
    case RunStatus::kFinished:
    case RunStatus::kPruned: return 0;
    case RunStatus::kInterrupted: return 130;  // 128 + SIGINT, as shells report it
    default: return kExitFailure;
  }
}

const BackendInfo& check_backend(const std::string& name) {
  const BackendInfo* backend = find_backend_named(name);
  if (!backend) {
    std::vector<std::string> names;
    for (const auto& c : components(ComponentKind::Backend)) names.push_back(c.name);
    throw UsageError(fmt::format("--backend {}: no such backend (loaded: {})", name,
                                 fmt::join(names, ", ")));
  }
  if (std::string why = device_unavailable(Device{backend->device, 0}); !why.empty())
    throw UsageError(fmt::format("--backend {}: {}", name, why));
  return *backend;
}

bool failed(RunStatus s) {
  return s != RunStatus::kFinished && s != RunStatus::kInterrupted && s != RunStatus::kPruned;
}

bool in_job() {
  return dist::world().size > 1;
}
bool g_plan_shared = false;  // rank 0 of a job has sent the other ranks the run's plan

// A rank other than 0 of a job: no database and no files; it runs rank 0's plan, and fails the
// whole job with its error when its script fails.
int run_other_rank(const RunOptions& o) {
  RunPlan plan;
  share_plan(plan);
  if (plan.refused) return plan.refused;  // rank 0 said why
  install_signal_handlers();
  lua::RunContext ctx;
  ctx.interrupt = &g_interrupt;
  ctx.run_id = plan.run_id;
  ctx.run_dir = plan.run_dir;
  ctx.overrides = plan.overrides;
  ctx.seed = plan.seed;
  ctx.backend = plan.backend;
  ctx.resume_checkpoint = plan.resume_checkpoint;
  ctx.db_uid = plan.db_uid;
  ctx.script_sha256 = plan.script_sha256;
  ctx.gom_executable = gom_executable();
  ctx.plugin_files = plugin_files();
  lua::ScriptResult result;
  try {
    ctx.device = rank_device(check_backend(plan.backend));
    set_num_threads(plan.threads > 0 ? plan.threads : rank_default_threads());
    manual_seed(plan.seed);
    lua::Runtime rt(ctx);
    g_runtime = &rt;
    if (g_interrupt.load()) rt.request_interrupt();
    result = rt.run_file(plan.script_path, o.script_args, plan.source);
    g_runtime = nullptr;
  } catch (const std::exception& e) {
    g_runtime = nullptr;
    result.status = lua::ScriptResult::Status::Failed;
    result.error = e.what();
  }
  const RunStatus status = status_of(result.status);
  if (failed(status)) dist::fail_job(result.error);  // rank 0 records it and ends the job
  dist::barrier();
  return exit_code(status);
}

int run_script(const RunOptions& o, const CLI::Option* db_opt, const std::string& command_line) {
  if (in_job() && o.trial != 0)
    throw UsageError(
        "--trial runs one process: a league's or sweep's trial is not started by "
        "mpirun");
  if (o.threads > max_num_threads())
    throw UsageError(fmt::format("--threads {}: at most {} (4 per core this process may use, {} "
                                 "cores, and never more than {})",
                                 o.threads, max_num_threads(), usable_cores(), kMaxThreads));
  if (o.resume == 0 && o.script.empty())
    throw UsageError("gom run: give an EXPERIMENT.lua, or --resume RUN");
  if (o.resume != 0 && (!o.script.empty() || !o.sets.empty()))
    throw UsageError("--resume RUN continues the run's own script with its recorded overrides: "
                     "give no EXPERIMENT and no --set");
  install_signal_handlers();  // before the run exists: a Ctrl-C from here on is recorded
  RunRecorder db(db_path(db_opt));
  const auto run_dir = [&](int64_t id) { return run_folder(db.path(), id); };

  lua::RunContext ctx;
  ctx.interrupt = &g_interrupt;
  ctx.recorder = &db;
  ctx.db_uid = db.uid();
  std::string script_path, source, experiment;
  uint64_t seed = o.seed;
  int threads = o.threads;  // 0: a resumed run's recorded count, else default_num_threads()
  std::string backend_name = o.backend;
  if (o.resume != 0) {
    if (db.query("SELECT 1 FROM runs WHERE id = ?", {std::to_string(o.resume)}).empty())
      throw UsageError(fmt::format("--resume {}: no run {} in {}", o.resume, o.resume, db.path()));
    const RunDetails d = db.get_run(o.resume);
    check_resumable(d);
    ctx.run_dir = run_dir(o.resume);
    ctx.resume_checkpoint = find_checkpoint(d, ctx.run_dir);
    ctx.script_sha256 = d.run.script_sha256;
    check_checkpoint_owner(ctx.resume_checkpoint, o.resume, ctx.db_uid, ctx.script_sha256);
    // A finished run may have stopped early (early stopping): it goes on if its checkpoint
    // holds fewer epochs than its fit asked for.
    if (d.run.status == "finished") {
      int64_t epochs = 0;
      for (const auto& [k, v] : d.params)
        if (k == "fit.epochs") epochs = std::stoll(v);
      if (read_checkpoint_info(ctx.resume_checkpoint).epoch >= epochs)
        throw UsageError(fmt::format("--resume {}: the run finished; there is nothing to resume",
                                     o.resume));
    }
    script_path = d.run.script_path;
    source = d.script_text;  // the script as it ran, whatever the file holds now
    experiment = d.run.experiment;
    seed = uint64_t(d.run.seed.value_or(0));
    if (o.threads <= 0 && d.run.threads)  // recorded on another machine, perhaps a larger one
      threads = int(std::min<int64_t>(*d.run.threads, max_num_threads()));
    backend_name = d.run.backend.empty() ? o.backend : d.run.backend;
    ctx.overrides = parse_sets(recorded_overrides(db, d));
    ctx.run_id = o.resume;
    db.resume_run(ctx.run_id);
  }
  const BackendInfo& backend = check_backend(backend_name);
  const int given_threads = threads;  // a job's ranks all take a count that was asked for
  if (threads <= 0)                   // sampled only when it is needed
    threads = in_job() ? rank_default_threads() : default_num_threads();
  set_num_threads(threads);
  manual_seed(seed);
  ctx.seed = seed;
  ctx.backend = backend_name;
  ctx.device = rank_device(backend);

  // A trial of a league or sweep: its run is a child of the study's, and a sweep's pruner is
  // asked after every epoch.
  std::unique_ptr<StudyStore> study_store;
  std::optional<StudyRecord> study;
  TrialCurve trial_curve;
  if (o.trial != 0) {
    if (o.resume != 0) throw UsageError("--trial and --resume do not go together");
    study_store = std::make_unique<StudyStore>(db.path());
    const TrialRecord t = study_store->trial(o.trial);
    if (t.state != TrialState::kRunning)
      throw UsageError(fmt::format("--trial {}: the trial is {}, not claimed by a worker (gom "
                                   "league run / gom sweep run run trials)",
                                   o.trial, trial_state_name(t.state)));
    study = study_store->get(t.study_id);
    if (study->def.pruner != "none")
      ctx.should_prune = [&](int64_t epoch, const std::map<std::string, double>& m) {
        const auto it = m.find(study->def.metric);
        if (it == m.end()) return false;
        trial_curve[epoch] = it->second;
        return study_store->should_prune(o.trial, trial_curve);
      };
  }
  if (o.prune_fd >= 0)
    ctx.should_prune = [fd = o.prune_fd](int64_t epoch, const std::map<std::string, double>& m) {
      return ask_parent_to_prune(fd, epoch, m);
    };
  ctx.gom_executable = gom_executable();
  ctx.plugin_files = plugin_files();

  if (o.resume == 0) {
    script_path = o.script;
    source = read_file(o.script);
    ctx.overrides = parse_sets(o.sets);
    RunInfo info;
    info.experiment = experiment = o.experiment.empty()
                                       ? std::filesystem::path(o.script).stem().string()
                                       : o.experiment;
    info.name = o.name;
    info.script_path = o.script;
    info.script_text = source;
    ctx.script_sha256 = sha256_hex(source);
    info.seed = int64_t(seed);
    info.backend = backend_name;
    info.device = backend.device_name ? backend.device_name(0) : ctx.device.str();
    info.threads = threads;
    info.gom_version = GOM_VERSION;
    info.command_line = command_line;
    if (study) info.parent_run_id = study->run_id;
    ctx.run_id = db.start_run(info);
    ctx.run_dir = run_dir(ctx.run_id);
    record_overrides(db, ctx.run_id, o.sets);
    if (study) {
      study_store->attach_run(o.trial, ctx.run_id);
      db.add_tag(ctx.run_id, study_kind_name(study->def.kind), study->def.name);
    }
  }
  if (in_job()) {
    ctx.params["dist.world_size"] = std::to_string(dist::world().size);
    db.log_params(ctx.run_id, {{"dist.world_size", ctx.params["dist.world_size"]}});
    RunPlan plan;
    plan.run_id = ctx.run_id;
    plan.run_dir = ctx.run_dir;
    plan.script_path = script_path;
    plan.source = source;
    plan.backend = backend_name;
    plan.seed = seed;
    plan.threads = given_threads;
    plan.overrides = ctx.overrides;
    plan.resume_checkpoint = ctx.resume_checkpoint;
    plan.db_uid = ctx.db_uid;
    plan.script_sha256 = ctx.script_sha256;
    share_plan(plan);
    g_plan_shared = true;
  }
  fmt::print(stderr, "gom: run {} ({}) {} {}\n", ctx.run_id, experiment,
             o.resume ? "resumed, recording into" : "recording into", db.path());

  const auto t0 = std::chrono::steady_clock::now();
  lua::ScriptResult result;
  try {
    lua::Runtime rt(ctx);
    g_runtime = &rt;
    if (g_interrupt.load()) rt.request_interrupt();  // a signal before the runtime existed
    result = rt.run_file(script_path, o.script_args, source);
    g_runtime = nullptr;
  } catch (const std::exception& e) {  // the runtime itself failed: still record the run
    g_runtime = nullptr;
    result.status = lua::ScriptResult::Status::Failed;
    result.error = e.what();
  }
  if (in_job()) agree_on_outcome(result);
  // The script's own outcome first: a database that refuses the record must not hide it.
  if (!result.error.empty() && !ctx.pruned) fmt::print(stderr, "gom: {}\n", result.error);
  bool recorded = false;
  RunStatus ending = status_of(result.status);
  if (ctx.pruned && result.status != lua::ScriptResult::Status::Interrupted) {
    ending = RunStatus::kPruned;  // ended by the pruner's error, which is no failure
    result.error.clear();
  }
  const RunStatus status = record_run_end(db, ctx.run_id, ending, result.error, recorded);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::string metrics;
  for (const auto& [k, v] : ctx.final_metrics) metrics += fmt::format(" {}={:.6g}", k, v);
  fmt::print(stderr, "gom: run {} {} in {:.1f} s{}{}\n", ctx.run_id, run_status_name(status), secs,
             metrics.empty() ? "" : ":", metrics);
  // A failed job ends every rank now: some may wait in a collective for one that failed.
  if (in_job() && (failed(status) || !recorded)) dist::abort_job(kExitFailure);
  return recorded ? exit_code(status) : kExitFailure;
}

// Rank 0 of a job: a run refused before it started is refused on every rank (they wait for
// its plan); an error after that ends the job (they may wait in any collective).
int run_rank0(const RunOptions& o, const CLI::Option* db_opt, const std::string& command_line) {
  const auto refuse = [](const std::exception& e, int code) {
    if (!g_plan_shared) {
      RunPlan plan;
      plan.refused = code;
      share_plan(plan);
      return;
    }
    fmt::print(stderr, "gom: {}\n", e.what());
    dist::abort_job(code);
  };
  try {
    return run_script(o, db_opt, command_line);
  } catch (const UsageError& e) {
    refuse(e, kExitUsage);
    throw;
  } catch (const std::exception& e) {
    refuse(e, kExitFailure);
    throw;
  }
}

}  // namespace

void add_run_command(CLI::App& app, Action& action, const std::string& command_line) {
  const CLI::Option* db = db_option(app);
  auto o = std::make_shared<RunOptions>();
  CLI::App* run = app.add_subcommand(
      "run", "Run a Lua experiment and record it (params, metrics, status) in the run database");
  run->add_option("EXPERIMENT", o->script, "the experiment script (.lua)")
      ->check(CLI::ExistingFile);
  run->add_option("--resume", o->resume,
                  "Continue an unfinished run (killed, failed, interrupted) from its last "
                  "checkpoint, with its own script, seed and overrides, into the same record")
      ->type_name("RUN")
      ->check(integer_range(1, INT64_MAX));
  run->add_option("--set", o->sets,
                  "Override a hyperparameter the script declares: KEY=VALUE (repeatable), e.g. "
                  "fit.epochs=1, optimizer.lr=3e-3, or a key of its gom.params{...}")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  run->add_option("--backend", o->backend, "Backend to compute on (default: onednn)")
      ->type_name("NAME");
  run->add_option("--seed", o->seed, "Seed of every random stream (default: 0)")
      ->type_name("N")
      ->check(integer_range(0, INT64_MAX));  // stored as a SQLite integer
  run->add_option("--threads", o->threads,
                  "Compute threads (default: the usable cores less those other processes keep "
                  "busy; at most 4 per usable core, 1024 in all)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  run->add_option("--name", o->name, "A name for the run")->type_name("NAME");
  run->add_option("--experiment", o->experiment,
                  "The experiment it belongs to (default: the script's file name)")
      ->type_name("NAME");
  run->add_option("--trial", o->trial,
                  "Run as this trial of a league or sweep (the study worker passes it)")
      ->type_name("ID")
      ->check(integer_range(1, INT64_MAX))
      ->group("");  // not for users: hidden from --help
  run->add_option("--prune-by-parent", o->prune_fd,
                  "Ask the process at the other end of this socket whether to prune (a study's "
                  "worker rank under mpirun passes it)")
      ->type_name("FD")
      ->check(integer_range(0, INT_MAX))
      ->group("");
  run->add_option("ARGS", o->script_args, "after --: the script's own arguments (its `arg` table)");
  run->callback([&action, o, db, command_line] {
    action = [o, db, command_line] {
      return guarded([&] {
        if (!in_job()) return run_script(*o, db, command_line);
        return dist::world().rank == 0 ? run_rank0(*o, db, command_line) : run_other_rank(*o);
      });
    };
  });
}

}  // namespace gom::cli
