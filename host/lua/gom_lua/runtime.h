// gom_lua/runtime.h — runs a Lua experiment script with the `gom` module loaded, on behalf of
// `gom run` (and of tests). The script composes components, fits or runs its own loop, and
// everything it declares and logs goes to the run the host started in the recorder.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gom/metric.h"
#include "gom/tensor.h"

struct lua_State;

namespace gom {
class RunRecorder;
}

namespace gom::lua {

/// @brief What the host tells a script's run, and what the script leaves behind for the host.
struct RunContext {
  RunRecorder* recorder = nullptr;  ///< null: nothing is recorded
  int64_t run_id = 0;
  /// @brief `--set key=value` overrides, as text; parsed by the type of what they override.
  std::map<std::string, std::string> overrides;
  uint64_t seed = 0;
  std::string backend = "onednn";
  Device device = kCPU;
  /// @brief `gom run --resume`: the checkpoint the script's first gom.fit continues from.
  std::string resume_checkpoint;
  /// @brief The folder for the run's files (checkpoints): LoopState::run_dir. Empty: gom.fit
  /// writes no default checkpoint.
  std::string run_dir;
  /// @brief The run database's uid and the script's sha256: with run_id, the identity written
  /// into the run's checkpoints (LoopState::checkpoint_metadata).
  std::string db_uid, script_sha256;
  /// @brief Set by the host's SIGINT handler: fit stops after the batch, a Lua loop at once.
  std::atomic<bool>* interrupt = nullptr;
  /// @brief A sweep's trial with a pruner: asked after every epoch of every gom.fit with the
  /// epoch (numbered across fits) and its metrics; true stops the fit, and the run ends pruned.
  std::function<bool(int64_t epoch, const std::map<std::string, double>& metrics)> should_prune;
  /// @brief The gom program and the --plugin files it loaded: gom.league and gom.sweep run
  /// their trials with them. Empty: they cannot run trials (tests).
  std::string gom_executable;
  std::vector<std::string> plugin_files;

  // Filled in while the script runs.
  std::set<std::string> used_overrides;
  /// @brief Every hyperparameter declared or resolved so far, flat ("fit.epochs", "lr").
  std::map<std::string, std::string> params;
  std::vector<std::string> declared;  ///< the keys gom.params declared (sorted per call)
  std::map<std::string, double> final_metrics;  ///< the last values logged per key
  int fits = 0;                                 ///< gom.fit calls so far
  int64_t epoch_offset = 0, step_offset = 0;    ///< where the next fit's numbering starts
  bool diverged = false;                        ///< a fit stopped on a non-finite loss
  bool pruned = false;                          ///< should_prune stopped a fit
  int64_t last_log_epoch = 0;                   ///< gom.log commits when the epoch moves on
  /// @brief What gom.log's options and gom.metric declared, by key (recorded once per change;
  /// gom.fit's callbacks see them in state.metric_info).
  std::map<std::string, MetricInfo> metric_info;
  bool write_failing = false;  ///< metric rows could not be committed (warned once; retried)
  /// @brief Non-zero while gom.fit runs: an interrupt then lets the fit finish its batch (its Lua
  /// callbacks get a budget of instructions) instead of stopping Lua at its next instruction.
  std::atomic<int> in_fit{0};
};

/// @brief How a script ended.
struct ScriptResult {
  enum class Status { Finished, Failed, Interrupted, Diverged } status = Status::Finished;
  std::string error;  ///< "file.lua:12: message" and a traceback, when not Finished
};

class Interrupts;

class Runtime {
 public:
  explicit Runtime(RunContext& ctx);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  /// @brief Loads `path` in text mode and runs it with `args` as the global `arg` table. Never
  /// throws for a script's error: it comes back in the result, with file:line and a traceback.
  /// A non-empty `source` is run instead of the file's content, named as the file (a resumed
  /// run runs the script it recorded).
  ScriptResult run_file(const std::string& path, const std::vector<std::string>& args = {},
                        const std::string& source = "");
  /// @brief Runs a chunk of Lua source (tests, `gom run -e`); `name` appears in messages.
  ScriptResult run_string(const std::string& code, const std::string& name = "=(string)");

  /// @brief Async-signal-safe: makes all Lua code of the run (the script, its coroutines, the
  /// callbacks of a fit) raise "interrupted" from its next instruction on, in a way pcall cannot
  /// swallow (the fit loop itself watches RunContext::interrupt).
  void request_interrupt();

  lua_State* state() const { return L_; }

 private:
  ScriptResult finish(int status);
  lua_State* L_;
  RunContext& ctx_;
  std::unique_ptr<Interrupts> interrupts_;  // outlives lua_close: finalizers may run Lua code
};

}  // namespace gom::lua
