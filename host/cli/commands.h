// The subcommands of `gom`. Each cmd_*.cpp adds one to the app; when it is chosen on the command
// line its callback stores what to do in `action`, and main runs that once plugins are loaded.
#pragma once

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gom_core/recorder.h"
#include "gom_core/study.h"

namespace gom::cli {

/// @brief A chosen subcommand's work; returns the exit code.
using Action = std::function<int()>;

/// @brief Exit codes: 1 for a failure, 2 for a bad request (unknown kind or name, bad usage).
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

/// @brief A request the user got wrong (unknown run id, bad status): exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// @brief Runs an action, mapping UsageError to exit code 2 (other errors reach main: exit 1).
template <typename F>
int guarded(F&& f) {
  try {
    return f();
  } catch (const UsageError& e) {
    fmt::print(stderr, "gom: {}\n", e.what());
    return kExitUsage;
  }
}

/// @brief The --plugin files given on the command line (main fills it): a league's or sweep's
/// trials load them too.
std::vector<std::string>& plugin_files();
/// @brief This gom program's path (/proc/self/exe), to run trials with.
std::string gom_executable();

/// @brief The global --db option, added once (the first subcommand that needs it adds it).
CLI::Option* db_option(CLI::App& app);
/// @brief The run database: --db FILE, else $GOM_DB, else ./runs.db.
std::string db_path(const CLI::Option* db_opt);

void add_plugins_command(CLI::App& app, Action& action);
void add_describe_command(CLI::App& app, Action& action);
/// @brief `gom runs`, `gom show RUN`, `gom compare RUN RUN...` and the global --db option.
void add_runs_commands(CLI::App& app, Action& action);
/// @brief `gom run EXPERIMENT.lua [--set k=v]... [--backend] [--seed] [--threads] [--name]`.
void add_run_command(CLI::App& app, Action& action, const std::string& command_line);
/// @brief `gom league run/show` and `gom sweep run/show`.
void add_study_commands(CLI::App& app, Action& action, const std::string& command_line);
/// @brief `gom check PATH... [--junit FILE] [--seeds N] [--baseline SPEC]`: regression checks.
void add_check_command(CLI::App& app, Action& action, const std::string& command_line);
/// @brief `gom report RUN... | --league NAME | --sweep NAME -o FILE.html`.
void add_report_command(CLI::App& app, Action& action);
/// @brief A run id given on the command line (a positive integer); UsageError otherwise.
int64_t parse_run_id(const std::string& s);
/// @brief The run ids given (parse_run_id each), checked to exist in db; UsageError naming the
/// first missing one and the database at path.
std::vector<int64_t> existing_run_ids(RunRecorder& db, const std::vector<std::string>& given,
                                      const std::string& path);
/// @brief The league or sweep of that name; UsageError naming those there are otherwise.
StudyRecord study_named(StudyStore& store, const std::string& name, StudyKind kind);
/// @brief `gom plot RUN... | --league NAME | --sweep NAME [--metric KEY] [-o FILE.svg|.png]`.
void add_plot_command(CLI::App& app, Action& action);

}  // namespace gom::cli
