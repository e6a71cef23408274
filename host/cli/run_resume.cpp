// The run's folder, its checkpoint's ownership and the recording of its end (run_resume.h).
#include "run_resume.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <vector>

#include "commands.h"
#include "gom/checkpoint.h"

namespace gom::cli {

namespace fs = std::filesystem;

std::string run_folder(const std::string& db_path, int64_t run_id) {
  const fs::path db = fs::absolute(db_path);
  return (db.parent_path() / (db.filename().string() + ".artifacts") /
          fmt::format("run-{}", run_id))
      .string();
}

std::string find_checkpoint(const RunDetails& d, const std::string& run_dir) {
  // Not a later gom.fit's (run_dir/fitN/): --resume continues the first, and a later fit runs
  // again from its start after it.
  const auto later_fit = [&](const fs::path& p) {
    return p.parent_path().parent_path() == fs::path(run_dir);
  };
  for (auto it = d.artifacts.rbegin(); it != d.artifacts.rend(); ++it)
    if (it->kind == "checkpoint" && fs::path(it->path).filename() == "last.safetensors" &&
        !later_fit(it->path) && fs::is_regular_file(it->path))
      return it->path;
  const auto fallback = fs::path(run_dir) / "last.safetensors";
  if (fs::is_regular_file(fallback)) return fallback.string();
  throw UsageError(fmt::format("run {} has no checkpoint to resume from in {} (its gom.fit ran "
                               "with checkpoint = false, or was killed in its first epoch)",
                               d.run.id, run_dir));
}

void check_checkpoint_owner(const std::string& path, int64_t run_id, const std::string& db_uid,
                            const std::string& script_sha256) {
  CheckpointInfo info;
  try {
    info = read_checkpoint_info(path);
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("--resume {}: {}", run_id, e.what()));
  }
  const auto meta = [&](const char* key) {
    auto it = info.metadata.find(key);
    return it == info.metadata.end() ? std::string("(none)") : it->second;
  };
  const struct {
    const char* what;
    const char* key;
    std::string want;
  } fields[] = {{"run id", "run.id", std::to_string(run_id)},
                {"database uid", "run.database", db_uid},
                {"script sha256", "run.script_sha256", script_sha256},
                {"gom.fit number", "run.fit", "1"}};
  std::vector<std::string> differ;
  for (const auto& f : fields)
    if (meta(f.key) != f.want)
      differ.push_back(fmt::format("{} {} (this run's: {})", f.what, meta(f.key), f.want));
  if (!differ.empty())
    throw UsageError(fmt::format("--resume {}: {} is not this run's checkpoint: {}", run_id, path,
                                 fmt::join(differ, "; ")));
}

RunStatus record_run_end(RunRecorder& db, int64_t run_id, RunStatus status,
                         const std::string& error, bool& recorded) {
  recorded = false;
  try {
    const RunStatus got = db.finish_run(run_id, status, error);
    recorded = true;
    if (got != status)
      fmt::print(stderr, "gom: {}; run {} is recorded as {}\n", db.last_write_error(), run_id,
                 run_status_name(got));
    return got;
  } catch (const std::exception& e) {
    fmt::print(stderr, "gom: {}\ngom: the end of run {} could not be recorded: it stays '{}' in {}\n",
               e.what(), run_id, run_status_name(RunStatus::kRunning), db.path());
    return status;
  }
}

}  // namespace gom::cli
