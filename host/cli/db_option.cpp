// Where the run database is: one rule for every subcommand that reads or records runs.
#include <cstdlib>

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

}  // namespace gom::cli
