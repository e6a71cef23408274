// The subcommands of `gom`. Each cmd_*.cpp adds one to the app; when it is chosen on the command
// line its callback stores what to do in `action`, and main runs that once plugins are loaded.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace gom::cli {

/// @brief A chosen subcommand's work; returns the exit code.
using Action = std::function<int()>;

/// @brief Exit codes: 1 for a failure, 2 for a bad request (unknown kind or name, bad usage).
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

void add_plugins_command(CLI::App& app, Action& action);
void add_describe_command(CLI::App& app, Action& action);
/// @brief `gom runs`, `gom show RUN`, `gom compare RUN RUN...` and the global --db option.
void add_runs_commands(CLI::App& app, Action& action);

}  // namespace gom::cli
