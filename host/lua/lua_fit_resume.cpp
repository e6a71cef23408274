// gom.fit's resume (lua_fit_resume.h): the checkpoint and the recorded history, on rank 0 from
// the run's folder and database, on the other ranks of a data-parallel job from rank 0.
#include "lua_fit_resume.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "gom/distributed.h"
#include "gom_core/distributed.h"
#include "gom_core/recorder.h"

namespace gom::lua {
namespace {

namespace fs = std::filesystem;

// A private copy of rank 0's checkpoint on another rank, removed when the load is done.
class SharedCheckpoint {
 public:
  // Every rank calls it: rank 0 sends the file at `path`, the others write what it sent.
  explicit SharedCheckpoint(const std::string& path) {
    std::string bytes;
    if (world_rank() == 0) {
      path_ = path;
      std::ifstream in(path, std::ios::binary);
      std::ostringstream all;
      all << in.rdbuf();
      if (!in) throw Error(fmt::format("cannot read the checkpoint {}", path));
      bytes = std::move(all).str();
    }
    dist::broadcast(bytes, 0);
    if (world_rank() == 0) return;
    std::string name = (fs::temp_directory_path() / "gom-resume-XXXXXX").string();
    const int fd = mkstemp(name.data());
    if (fd < 0)
      throw Error(fmt::format("rank {}: cannot make a file for the checkpoint in {}: {}",
                              world_rank(), fs::temp_directory_path().string(),
                              std::strerror(errno)));
    path_ = temp_ = name;
    for (size_t at = 0; at < bytes.size();) {
      const ssize_t n = write(fd, bytes.data() + at, bytes.size() - at);
      if (n <= 0) {
        const int err = errno;
        close(fd);
        throw Error(
            fmt::format("rank {}: cannot write {}: {}", world_rank(), temp_, std::strerror(err)));
      }
      at += size_t(n);
    }
    close(fd);
  }
  ~SharedCheckpoint() {
    if (temp_.empty()) return;
    std::error_code ec;
    fs::remove(temp_, ec);
  }
  SharedCheckpoint(const SharedCheckpoint&) = delete;
  SharedCheckpoint& operator=(const SharedCheckpoint&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_, temp_;
};

}  // namespace

CheckpointInfo resume_fit(RunContext& ctx, FitArgs& args, int fit_index) {
  const std::string path = std::exchange(ctx.resume_checkpoint, "");
  if (fit_index != 1) throw Error("gom run --resume continues a script's first gom.fit only");
  // The trainer runs callbacks in this order; the checkpoint saved them in it.
  auto cbs = args.callbacks;
  std::stable_sort(cbs.begin(), cbs.end(),
                   [](auto& x, auto& y) { return x->order() < y->order(); });
  const SharedCheckpoint file(path);
  const CheckpointInfo info = load_checkpoint(file.path(), *args.model, *args.optimizer, cbs);
  if (info.epoch > args.epochs)
    throw Error(
        fmt::format("{}: holds {} epochs, but this fit has {}", path, info.epoch, args.epochs));
  args.first_epoch = info.epoch;
  args.first_step = info.step;
  if (ctx.recorder) ctx.recorder->delete_metrics_after(ctx.run_id, ctx.epoch_offset + info.epoch);
  if (world_rank() == 0)
    fmt::print(stderr, "gom: resuming from {} after epoch {} (step {})\n", path, info.epoch,
               info.step);
  return info;
}

std::vector<std::map<std::string, double>> resumed_history(RunContext& ctx,
                                                           const CheckpointInfo& info) {
  std::vector<std::map<std::string, double>> history;
  if (info.epoch <= 0) return history;
  if (ctx.recorder) {
    history.resize(size_t(info.epoch));
    for (const MetricRecord& m : ctx.recorder->run_metrics(ctx.run_id)) {  // by key, then step
      const int64_t e = m.epoch - ctx.epoch_offset;
      if (e >= 1 && e <= info.epoch) history[size_t(e - 1)][m.key] = m.value;
    }
  }
  if (world_size() == 1) return history;
  // The other ranks have no database: rank 0's record, as JSON (NaN as null).
  std::string text;
  if (world_rank() == 0) {
    nlohmann::json epochs = nlohmann::json::array();
    for (const auto& metrics : history) {
      nlohmann::json row = nlohmann::json::object();
      for (const auto& [k, v] : metrics)
        row[k] = std::isnan(v) ? nlohmann::json() : nlohmann::json(v);
      epochs.push_back(std::move(row));
    }
    text = epochs.dump();
  }
  dist::broadcast(text, 0);
  if (world_rank() == 0) return history;
  history.clear();
  for (const auto& row : nlohmann::json::parse(text)) {
    auto& metrics = history.emplace_back();
    for (const auto& [k, v] : row.items())
      metrics[k] = v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
  }
  return history;
}

}  // namespace gom::lua
