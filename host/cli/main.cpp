// gom — the command-line host. It joins the MPI job it was started in (mpirun, srun: a world of
// one otherwise), parses the command line, loads the plugins (the default folders, then each
// --plugin FILE), and runs the chosen subcommand.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "gom/plugin.h"
#include "gom_core/distributed.h"

namespace {

// The default plugins first (as every gom program does), then the user's extra libraries.
bool load_plugins(const std::vector<std::string>& files) {
  try {
    gom::init();
  } catch (const std::exception& e) {
    fmt::print(stderr, "gom: {}\n", e.what());
    return false;
  }
  bool ok = true;
  for (const std::string& f : files) {
    try {
      gom::load_plugin(f);
    } catch (const std::exception& e) {
      fmt::print(stderr, "gom: --plugin: {}\n", e.what());
      ok = false;  // report every bad file, not just the first
    }
  }
  return ok;
}

int run_command(int argc, char** argv) {
  CLI::App app{
      "gom: a deep-learning sandbox. Plugins provide backends, layers, optimizers, "
      "datasets and callbacks.",
      "gom"};
  app.set_version_flag("--version", "gom " GOM_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  std::vector<std::string>& plugin_files = gom::cli::plugin_files();
  app.add_option("--plugin", plugin_files, "Also load this plugin library (repeatable)")
      ->type_name("FILE")
      ->allow_extra_args(false);  // one file per --plugin, so a subcommand may follow

  gom::cli::Action action;
  gom::cli::add_plugins_command(app, action);
  gom::cli::add_describe_command(app, action);
  gom::cli::add_runs_commands(app, action);
  std::string command_line = "gom";
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
  gom::cli::add_run_command(app, action, command_line);
  gom::cli::add_study_commands(app, action, command_line);
  gom::cli::add_check_command(app, action, command_line);
  gom::cli::add_report_command(app, action);
  gom::cli::add_plot_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every rank of a job parses the same line: rank 0 alone says what is wrong (or --help).
    const int code = gom::dist::world().rank == 0 ? app.exit(e) : e.get_exit_code();
    return code == 0 ? 0 : gom::cli::kExitUsage;
  }
  if (!load_plugins(plugin_files)) return gom::cli::kExitFailure;
  try {
    const int code = action ? action() : 0;
    gom::dist::finalize();
    return code;
  } catch (const std::exception& e) {
    fmt::print(stderr, "gom: {}\n", e.what());
    return gom::cli::kExitFailure;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // First, for every command: a process started by mpirun or srun joins its job (the
  // subcommands ask gom::dist::world() for their rank), every other one is a world of one.
  try {
    gom::dist::init();
  } catch (const std::exception& e) {
    fmt::print(stderr, "gom: {}\n", e.what());
    return gom::cli::kExitFailure;
  }
  const int code = run_command(argc, argv);
  gom::dist::finalize();
  return code;
}
