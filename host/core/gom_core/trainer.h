// gom_core/trainer.h — the fit loop: epochs of training then validation, then (optionally) one
// test phase; callbacks on every event, metrics per epoch to a sink (the run recorder).
// Host-level API, not part of the SDK.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gom/callback.h"
#include "gom/layer.h"
#include "gom/optimizer.h"
#include "gom_core/data_loader.h"

namespace gom {

/// @brief Receives every metric the loop logs (the run recorder implements it).
class MetricSink {
 public:
  virtual ~MetricSink() = default;
  /// @brief One value: key ("train_loss"), optimizer step, epoch (1-based), value.
  virtual void log(const std::string& key, int64_t step, int64_t epoch, double value) = 0;
  /// @brief What a key means, as its reporter declared it (LoopState::metric_info): called
  /// before the key's first log, and again should the declaration change. Keys nobody declared
  /// are not described (the run recorder then applies metric_info_by_name).
  virtual void describe(const std::string& /*key*/, const MetricInfo& /*info*/) {}
  /// @brief End of an epoch: a good moment to commit.
  virtual void flush() {}
  /// @brief A text record of the run (LoopState::records).
  virtual void record(const std::string& /*key*/, const std::string& /*value*/) {}
  /// @brief A file written for the run (LoopState::artifacts).
  virtual void artifact(const std::string& /*kind*/, const std::string& /*path*/) {}
};

// DivergedError, what fit throws when the loss stops being finite (the run recorder's
// "diverged"), is in the SDK (gom/error.h) so that a callback plugin can throw it too.

struct FitArgs {
  std::shared_ptr<Module> model;
  std::shared_ptr<Module> loss;  ///< a loss module: forward(pred, target)
  std::shared_ptr<Optimizer> optimizer;
  DataLoader* train = nullptr;
  DataLoader* valid = nullptr;  ///< optional
  /// @brief Optional: evaluated once after the last epoch (after early stopping has put back
  /// the best weights), in eval mode under NoGrad, with the fit's callbacks (Event::BeforeTest,
  /// AfterTest); its metrics (test_loss, test_<metric>) are logged at the last epoch.
  DataLoader* test = nullptr;
  std::vector<std::shared_ptr<Callback>> callbacks;
  int64_t epochs = 1;
  int64_t first_epoch = 0;  ///< >0 when resuming
  int64_t first_step = 0;   ///< optimizer steps already taken, when resuming
  std::string run_dir;      ///< LoopState::run_dir
  std::map<std::string, std::string> checkpoint_metadata;  ///< LoopState::checkpoint_metadata
  MetricSink* sink = nullptr;
  /// @brief Declarations known before the fit (LoopState::metric_info; over the loop's own).
  std::map<std::string, MetricInfo> metric_info;
  /// @brief Set (by a SIGINT handler) to stop after the current batch.
  const std::atomic<bool>* interrupt = nullptr;
  /// @brief On a device that queues work (CUDA), the loop reads the summed loss back, and
  /// checks that it is finite, every this many batches and at the end of each pass, so that the
  /// host does not wait for the device every batch. The CPU reads every batch.
  int64_t sync_every = 50;
};

struct FitResult {
  /// @brief The metrics of the epoch whose weights the model holds (weights_epoch: the last one
  /// unless early stopping put back an earlier one), with the test metrics.
  std::map<std::string, double> final_metrics;
  int64_t epochs_done = 0;
  /// @brief The epoch (1-based) whose weights the model holds at the end: the last epoch, or the
  /// one a callback put back (LoopState::weights_epoch). 0 when no epoch completed.
  int64_t weights_epoch = 0;
  bool stopped_early = false;  ///< a callback set stop
  bool interrupted = false;
};

/// @brief Runs the loop. A non-finite loss throws DivergedError naming the epoch and batch. A
/// failing callback throws gom::Error with its name and the event (a DivergedError when it threw
/// one). Metrics, records and artifacts handed over before any failure, including those the
/// failing event added, are already in the sink.
FitResult fit(FitArgs& args);

/// @brief What evaluate and predict run: the model over `data` once, in eval mode under NoGrad,
/// as fit's validation phase (its events, before_validate to after_validate, reach `callbacks`).
struct EvalArgs {
  std::shared_ptr<Module> model;
  std::shared_ptr<Module> loss;  ///< optional: without it no loss is computed
  DataLoader* data = nullptr;
  std::vector<std::shared_ptr<Callback>> callbacks;  ///< metrics (and any other callback)
  const std::atomic<bool>* interrupt = nullptr;
};

/// @brief Keras' model.evaluate: one validation pass; returns what the metric callbacks reported
/// under their names, and the mean loss per example as "loss" (when a loss is given). The model's
/// mode (train or eval) is put back as it was.
std::map<std::string, double> evaluate(const EvalArgs& args);

/// @brief The model's outputs over the data, concatenated along dim 0, and the targets alike.
struct Predictions {
  Tensor pred, target;  ///< undefined when there was no batch (target: when the data has none)
};
/// @brief evaluate's pass, keeping each batch's prediction and target.
Predictions predict(const EvalArgs& args);

}  // namespace gom
