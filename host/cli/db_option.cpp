// What subcommands share about this process: where the run database is (one rule for every
// subcommand that reads or records runs), the --plugin files, and the gom program itself.
#include <cstdlib>
#include <filesystem>

#include "commands.h"

namespace gom::cli {

CLI::Option* db_option(CLI::App& app) {
  if (CLI::Option* o = app.get_option_no_throw("--db")) return o;
  return app.add_option("--db", "The run database (default: $GOM_DB, else ./runs.db)")
      ->type_name("FILE")
      ->allow_extra_args(false);
}

std::string db_path(const CLI::Option* db_opt) {
  if (db_opt != nullptr && db_opt->count() > 0) return db_opt->as<std::string>();
  if (const char* env = std::getenv("GOM_DB"); env != nullptr && *env != '\0') return env;
  return "runs.db";
}

std::vector<std::string>& plugin_files() {
  static std::vector<std::string> files;
  return files;
}

std::string gom_executable() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the gom program (/proc/self/exe) to run trials");
  return exe.string();
}

}  // namespace gom::cli
