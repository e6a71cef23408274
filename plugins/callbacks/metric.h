// What the metric callbacks share (accuracy, top_k_accuracy, precision/recall/f1,
// confusion_matrix, perplexity, rmse, mae): accumulate over a phase, report once at its end.
#pragma once

#include <span>
#include <string>

#include "gom/callback.h"
#include "gom/tensor.h"

namespace gom::callbacks {

/// @brief A metric over a phase: reset at before_train/before_validate/before_test, fed each batch
/// that ran a forward (at after_batch, under NoGrad), reported at after_validate as `name`, at
/// after_test as `test_<name>` and, with train=true, at after_train as `train_<name>`. Skipped
/// batches do not count. Each key it reports is declared in state.metric_info with the metric's
/// direction() and the phase.
class PhaseMetric : public Callback {
 public:
  /// @brief Reads the params `name` (empty: `default_name`) and `train`.
  PhaseMetric(const Params& p, std::string default_name);
  // Metrics report before the callbacks that read them (early stopping: 100, progress: 1000).
  int order() const override { return -10; }
  void on(Event e, LoopState& s) final;
  /// @brief Whether a lower or a higher value is better (None: the metric has no order).
  virtual MetricDirection direction() const = 0;

 protected:
  virtual void reset() = 0;
  /// @brief One batch: s.pred and s.target are set (checked), the graph is off.
  virtual void accumulate(const LoopState& s) = 0;
  /// @brief End of the phase; `key` is the name to report under (name, train_<name> or
  /// test_<name>). Reports nothing when nothing was accumulated.
  virtual void report(LoopState& s, const std::string& key) = 0;
  const std::string& name() const { return name_; }
  /// @brief The phase being reported, in report(): Train, Valid or Test.
  MetricPhase phase() const { return phase_; }

 private:
  // report(), then the declaration of the key when it was reported.
  void report_as(LoopState& s, const std::string& key, MetricPhase phase);
  std::string name_;
  bool train_;
  bool forwarded_ = false;
  MetricPhase phase_ = MetricPhase::None;
};

/// @brief A sum over a phase that stays where its terms are computed. CPU terms are read at
/// once into a double (no cost there); a device's terms (defer_host_reads) are summed on the
/// device and read once, at the end of the phase, so a metric does not make the host wait for
/// the device per batch.
class DeviceSum {
 public:
  void reset() {
    host_ = 0;
    pending_ = Tensor();
  }
  /// @brief Adds a one-element tensor.
  void add(const Tensor& term);
  /// @brief The sum so far (reads the device's part back, once).
  double value();

 private:
  double host_ = 0;
  Tensor pending_;
};

/// @brief In a data-parallel fit (LoopState::data_parallel), sums `values` over the ranks in
/// place (gom::all_reduce_sum), so a metric reports over the whole phase's data. Every rank calls
/// it in report(), before deciding whether it has anything to report. Elsewhere it does nothing.
void sum_over_ranks(const LoopState& s, std::span<double> values);

/// @brief Adds the params every metric has: `name` (doc says what the default is) and `train`.
void add_metric_params(Schema& s, const std::string& default_name);

/// @brief Predicted and true class indices of a batch, both i64 of one shape (flat), and the
/// number of classes. The prediction is class scores [N, C, ...] (arg-max over dim 1), or for a
/// binary classifier one logit per sample, [N] or [N, 1] (class 1 when > 0, so C = 2). The target
/// is class indices (i64 or i32), one-hot or soft labels of the prediction's shape (their
/// arg-max), or for a single logit 0/1 floats (class 1 above 0.5).
struct ClassBatch {
  Tensor guess, truth;
  int64_t classes = 0;
};
ClassBatch class_batch(const LoopState& s);

/// @brief pred and target f32 of one shape (regression), or an error naming both shapes.
void check_same_shape(const Tensor& pred, const Tensor& target);

}  // namespace gom::callbacks
