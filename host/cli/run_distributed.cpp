// The plan rank 0 sends the other ranks of a data-parallel `gom run`, and how the ranks agree on
// its outcome (run_distributed.h).
#include "run_distributed.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "gom_core/distributed.h"
#include "gom_core/threads.h"

namespace gom::cli {

void share_plan(RunPlan& plan) {
  if (dist::world().size == 1) return;
  std::string text;
  if (dist::world().rank == 0)
    text =
        nlohmann::json{{"refused", plan.refused},     {"run_id", plan.run_id},
                       {"run_dir", plan.run_dir},     {"script_path", plan.script_path},
                       {"source", plan.source},       {"backend", plan.backend},
                       {"seed", plan.seed},           {"threads", plan.threads},
                       {"overrides", plan.overrides}, {"resume_checkpoint", plan.resume_checkpoint},
                       {"db_uid", plan.db_uid},       {"script_sha256", plan.script_sha256}}
            .dump();
  dist::broadcast(text, 0);
  if (dist::world().rank == 0) return;
  const auto j = nlohmann::json::parse(text);
  plan.refused = j.at("refused").get<int>();
  plan.run_id = j.at("run_id").get<int64_t>();
  plan.run_dir = j.at("run_dir").get<std::string>();
  plan.script_path = j.at("script_path").get<std::string>();
  plan.source = j.at("source").get<std::string>();
  plan.backend = j.at("backend").get<std::string>();
  plan.seed = j.at("seed").get<uint64_t>();
  plan.threads = j.at("threads").get<int>();
  plan.overrides = j.at("overrides").get<std::map<std::string, std::string>>();
  plan.resume_checkpoint = j.at("resume_checkpoint").get<std::string>();
  plan.db_uid = j.at("db_uid").get<std::string>();
  plan.script_sha256 = j.at("script_sha256").get<std::string>();
}

// Rank 0 of a job, at the script's end: the other ranks say whether they finished (a barrier
// that a failed rank's message ends), and a failure of theirs becomes the run's.
void agree_on_outcome(lua::ScriptResult& result) {
  if (result.status != lua::ScriptResult::Status::Failed &&
      result.status != lua::ScriptResult::Status::Diverged) {
    try {
      dist::barrier();
    } catch (const dist::RemoteRankError&) {  // kept in remote_failure()
    }
  }
  // Also when the failure surfaced inside the script (a Lua error naming the line of a fit).
  if (const auto failure = dist::remote_failure()) {
    result.status = lua::ScriptResult::Status::Failed;
    result.error = *failure;
  }
}

Device rank_device(const BackendInfo& backend) {
  if (backend.device == DeviceType::CPU) return Device{DeviceType::CPU, 0};
  const int count = std::max(1, backend.device_count ? backend.device_count() : 1);
  return Device{backend.device, dist::world().local_rank % count};
}

int rank_default_threads() {
  return std::max(1, default_num_threads() / std::max(1, dist::world().local_size));
}

}  // namespace gom::cli
