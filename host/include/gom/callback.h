// gom/callback.h — callbacks on the training loop's events, and their registry.
//
// The trainer fires fastai's events; a callback reads and may change the loop's state: the lr
// (through the optimizer), stop the fit, skip a batch, report metrics. Metrics are callbacks that
// accumulate over an epoch and report a value into state.metrics, declaring what it means
// (direction and phase, gom/metric.h) in state.metric_info.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gom/metric.h"
#include "gom/params.h"
#include "gom/tensor.h"

namespace gom {

class Module;
class Optimizer;
class Callback;

enum class Event {
  BeforeFit,
  AfterFit,
  BeforeEpoch,
  AfterEpoch,
  BeforeTrain,
  AfterTrain,  ///< the training phase of an epoch
  BeforeValidate,
  AfterValidate,  ///< the validation phase (eval mode, NoGrad)
  BeforeTest,
  /// @brief The test phase: once, after the last epoch (and after early stopping has put back
  /// the best weights), on the fit's test data, in eval mode under NoGrad. Only when the fit has
  /// test data; metrics report test_<name>.
  AfterTest,
  BeforeBatch,
  AfterBatch,
  AfterForward,   ///< state.pred is set
  AfterLoss,      ///< state.loss is set
  AfterBackward,  ///< gradients are in .grad
  AfterStep,      ///< the optimizer has stepped
};
/// @brief "before_fit", "after_batch", ... (the names Lua callbacks use).
const char* event_name(Event e);

/// @brief What the training loop exposes to callbacks.
struct LoopState {
  Module* model = nullptr;
  Optimizer* optimizer = nullptr;
  int64_t epoch = 0;  ///< 0-based
  int64_t epochs = 0;
  int64_t batch = 0;     ///< index within the current phase
  int64_t batches = 0;   ///< batches in the current phase
  int64_t step = 0;      ///< optimizer steps so far
  int64_t samples = 0;   ///< samples seen in the current phase
  bool training = true;  ///< train phase (true) or validation/test (false)
  /// @brief The phase that runs: Train, Valid or Test (None outside the phases).
  MetricPhase phase = MetricPhase::None;
  Tensor input, target, pred, loss;
  /// @brief The batch's inputs after `input` (Batch::more_inputs); empty for one input.
  std::vector<Tensor> more_inputs;
  bool stop = false;        ///< set to end the fit after this epoch (or batch)
  bool skip_batch = false;  ///< set in before_batch/after_forward/after_loss to skip the update
  /// @brief Set at after_backward to keep the gradients for the next batch: no optimizer step
  /// (so no after_step, and `step` does not count it) and no zero_grad (gradient accumulation).
  /// Reset before each batch; gradients still kept when the training phase ends are dropped.
  bool accumulate = false;
  /// @brief Values reported this epoch ("train_loss", "valid_loss", "accuracy", ...); the trainer
  /// records them and clears them at the start of each epoch.
  std::map<std::string, double> metrics;
  /// @brief What the keys of `metrics` mean, declared by whoever reports them (a metric callback,
  /// the trainer): kept across epochs and passed on to the run record. A key without an entry
  /// gets metric_info_by_name's.
  std::map<std::string, MetricInfo> metric_info;
  /// @brief The epoch (0-based, as `epoch`) whose weights the model holds, set by a callback that
  /// puts back an earlier epoch's weights (early stopping); -1: the latest epoch's. Reset at the
  /// start of each fit; the fit's result reports that epoch's metrics.
  int64_t weights_epoch = -1;

  // What callbacks hand to the run record; the trainer passes each on after the event that
  // added it, and clears it.
  /// @brief Values at the current step (per-batch curves: an lr sweep, activation statistics).
  std::vector<std::pair<std::string, double>> step_metrics;
  /// @brief Text records of the run by key (a confusion matrix as JSON), kept as run tags.
  std::map<std::string, std::string> records;
  /// @brief Files written for the run, as (kind, path): "checkpoint", "csv", ...
  std::vector<std::pair<std::string, std::string>> artifacts;
  /// @brief The folder for the run's files (checkpoints), given by the host; a callback creates
  /// it when it first writes there. Empty when the run has none (a callback that writes files
  /// then needs a folder parameter).
  std::string run_dir;
  /// @brief The fit's callbacks in the order they run (a checkpoint saves their state()).
  const std::vector<std::shared_ptr<Callback>>* callbacks = nullptr;
  /// @brief Added by save_checkpoint to every checkpoint's metadata: the host's identity of the
  /// run ("run.id", "run.database", "run.script_sha256", "run.fit"), which `gom run --resume`
  /// checks so that it never continues from another run's file.
  std::map<std::string, std::string> checkpoint_metadata;
  /// @brief The fit is data-parallel (`mpirun -np N gom run`): each rank sees its share of every
  /// batch, and a metric sums what it counted over the ranks (gom::all_reduce_sum, every rank
  /// at the same event) before it reports. False outside a job, and in evaluate and predict,
  /// which each rank runs over all the data.
  bool data_parallel = false;
};

class BOOST_SYMBOL_VISIBLE Callback {
 public:
  virtual ~Callback() = default;
  virtual void on(Event e, LoopState& state) = 0;
  /// @brief Callbacks run in increasing order; metrics (0) before early stopping (100), say.
  virtual int order() const { return 0; }
  /// @brief What a checkpoint keeps of the callback (its counters, as JSON text) so a resumed
  /// fit continues exactly; empty for a callback without state.
  virtual std::string state() const { return {}; }
  /// @brief Restores what state() returned; gom::Error for text it cannot use.
  virtual void load_state(const std::string& /*state*/) {}
  const std::string& type() const { return type_; }
  void set_type(std::string t) { type_ = std::move(t); }

 private:
  std::string type_;
};

using CallbackFactory = std::function<std::shared_ptr<Callback>(const Params&)>;

void register_callback(const std::string& name, const std::string& doc, Schema schema,
                       CallbackFactory factory);
std::shared_ptr<Callback> create_callback(const std::string& name, const Config& config = {});

}  // namespace gom
