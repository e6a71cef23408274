// checkpoint: the training state (weights, optimizer, callbacks, random stream, position) as
// safetensors files, "last" after every epoch and "best" by a monitored metric, each written
// atomically and recorded as an artifact of the run. `gom run --resume RUN` continues from
// "last".
//
// "last" for epoch e is written when epoch e+1 begins (or when the fit ends): by then the
// trainer has committed epoch e's metrics, so a checkpoint never runs ahead of the record.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "callbacks.h"
#include "gom/checkpoint.h"

namespace gom::callbacks {
namespace {

class Checkpoint : public Callback {
 public:
  explicit Checkpoint(const Params& p)
      : dir_(p.has("dir") ? p.s("dir") : ""),
        monitor_(p.s("monitor")),
        mode_(p.s("mode")),
        save_best_(p.b("save_best")),
        save_last_(p.b("save_last")) {}

  int order() const override { return 200; }  // after metrics, schedules and early stopping

  void on(Event e, LoopState& s) override {
    switch (e) {
      case Event::BeforeFit:
        max_.reset();
        if (dir_.empty()) dir_ = s.run_dir;
        if (dir_.empty())
          throw Error("no folder for checkpoints: give dir = '...' (gom run gives each run one)");
        if (world_rank() == 0) std::filesystem::create_directories(dir_);
        break;
      case Event::BeforeEpoch:
        if (save_last_ && s.epoch > saved_) save(s, "last", s.epoch);
        break;
      case Event::AfterEpoch:
        completed_ = s.epoch + 1;
        if (save_best_) {
          // A misspelt monitor is an error naming the metrics present (as early_stopping's).
          const double v = monitored_metric(s, monitor_);
          if (!max_) max_ = maximize_metric("checkpoint", mode_, monitor_, s);
          if (std::isfinite(v) && (!has_best_ || (*max_ ? v > best_ : v < best_))) {
            best_ = v;
            has_best_ = true;
            save(s, "best", completed_);
          }
        }
        break;
      case Event::AfterFit:
        // Not after an interrupted epoch: its weights are halfway through it.
        if (save_last_ && completed_ == s.epoch + 1 && completed_ > saved_) save(s, "last", completed_);
        break;
      default:
        break;
    }
  }

  std::string state() const override {
    return nlohmann::json{{"has_best", has_best_}, {"best", has_best_ ? best_ : 0.0}}.dump();
  }
  void load_state(const std::string& text) override {
    try {
      const auto j = nlohmann::json::parse(text);
      has_best_ = j.at("has_best").get<bool>();
      best_ = j.at("best").get<double>();
    } catch (const std::exception& e) {
      throw Error(fmt::format("checkpoint: unreadable state '{}' ({})", text, e.what()));
    }
  }

 private:
  // Rank 0 writes a data-parallel job's checkpoints (every rank holds the same weights); the
  // others keep the same state, so that any of them could.
  void save(LoopState& s, const char* which, int64_t completed) {
    if (world_rank() != 0) return;
    const std::string path = (std::filesystem::path(dir_) / (std::string(which) + ".safetensors")).string();
    save_checkpoint(path, s, completed,
                    {{"checkpoint", which}, {"monitor", monitor_},
                     {"monitor_value", has_best_ ? fmt::format("{}", best_) : ""}});
    s.artifacts.emplace_back("checkpoint", path);
    if (std::string(which) == "last") saved_ = completed;
  }

  std::string dir_, monitor_, mode_;
  bool save_best_, save_last_;
  std::optional<bool> max_;  ///< resolved at the first after_epoch (mode auto reads the state)
  bool has_best_ = false;
  double best_ = 0;
  int64_t saved_ = 0, completed_ = 0;
};

}  // namespace

void register_checkpoint() {
  Schema s;
  s.string("dir", "folder of the checkpoint files (default: the run's folder, "
                  "DB.artifacts/run-ID beside the run database DB)");
  s.boolean("save_last", "write last.safetensors after every epoch (what --resume continues)")
      .def(true);
  s.boolean("save_best", "write best.safetensors whenever the monitored metric improves")
      .def(true);
  s.string("monitor",
           "metric that decides the best epoch, a key of the epoch's metrics (with save_best)")
      .def("valid_loss");
  s.choice("mode", {"auto", "min", "max"}, kModeDoc).def("auto");
  register_callback(
      "checkpoint",
      "saves the training state (weights, optimizer, callbacks, random stream) as safetensors: "
      "last after every epoch and best by a metric; gom run --resume continues from last",
      std::move(s), [](const Params& p) { return std::make_shared<Checkpoint>(p); });
}

}  // namespace gom::callbacks
