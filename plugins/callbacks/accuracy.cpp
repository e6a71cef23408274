// accuracy: the fraction of samples whose highest-scoring class is the target class, accumulated
// over a phase and reported once at its end (fastai's accuracy metric). A language model's
// logits [B, T, C] with targets [B, T] count every position (class dim last).
#include <fmt/format.h>

#include "callbacks.h"
#include "gom/ops.h"
#include "metric.h"

namespace gom::callbacks {
namespace {

class Accuracy : public PhaseMetric {
 public:
  explicit Accuracy(const Params& p) : PhaseMetric(p, "accuracy") {
    if (p.s("name").empty()) throw Error("parameter 'name' must not be empty");
  }

  MetricDirection direction() const override { return MetricDirection::Maximize; }

 private:
  void reset() override {
    correct_.reset();
    total_ = 0;
  }

  void report(LoopState& s, const std::string& key) override {
    double counts[2] = {correct_.value(), double(total_)};
    sum_over_ranks(s, counts);
    if (counts[1] > 0) s.metrics[key] = counts[0] / counts[1];
  }

  void accumulate(const LoopState& s) override {
    const Tensor pred = s.pred.detach();
    if (pred.dim() < 2 || pred.size(1) < 2)
      throw Error(fmt::format(
          "the prediction must hold class scores [N, C, ...] with C >= 2 classes, got shape "
          "{}; a single-logit (binary) output is not supported: emit two logits, one per class",
          shape_str(pred.shape())));
    Tensor truth = s.target.detach();
    // Class scores [N, C, ...] (PyTorch), or [B, T, C] with targets [B, T]: a language model's
    // logits, class dim last (fastai's flattened loss).
    Shape class_last(pred.shape().begin(), pred.shape().end() - 1);
    Shape class_second = pred.shape();
    class_second.erase(class_second.begin() + 1);
    const bool last = pred.dim() >= 3 && truth.dim() == pred.dim() - 1 &&
                      truth.shape() == class_last && truth.shape() != class_second;
    const Tensor guess = argmax(pred, last ? -1 : 1);
    if (truth.dtype() == DType::F32 && truth.shape() == pred.shape())
      truth = argmax(truth, 1);  // one-hot or soft labels: the most likely class is the target
    else if (truth.dtype() == DType::I32)
      truth = truth.to(DType::I64);
    if (truth.dtype() != DType::I64 || truth.shape() != guess.shape())
      throw Error(
          fmt::format("the target must hold class indices (i64) of shape {} for a "
                      "prediction of shape {}, got {} {}",
                      shape_str(guess.shape()), shape_str(pred.shape()), dtype_name(truth.dtype()),
                      shape_str(truth.shape())));
    // One reduction on the device, read once a phase, not a copy of the batch to the host.
    correct_.add(sum(eq(guess, truth)));
    total_ += guess.numel();
  }

  DeviceSum correct_;
  int64_t total_ = 0;
};

}  // namespace

void register_accuracy() {
  Schema s;
  s.boolean("train", "also report the accuracy over the training phase, as train_<name>")
      .def(false);
  s.string("name", "metric key for the validation accuracy (the training one is train_<name>)")
      .def("accuracy");
  register_callback("accuracy",
                    "metric: fraction of samples whose arg-max class (pred over dim 1) is the "
                    "target (class indices or one-hot), reported after validation",
                    std::move(s), [](const Params& p) { return std::make_shared<Accuracy>(p); });
}

}  // namespace gom::callbacks
