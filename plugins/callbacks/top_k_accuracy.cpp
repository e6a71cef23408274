// top_k_accuracy: the fraction of samples whose target class is among the k highest-scoring
// classes. Ties count in the target's favour: a sample is a hit when fewer than k classes score
// strictly higher than its target class (so k = 1 with a tied maximum is a hit, where accuracy's
// arg-max takes the lowest index). sklearn's top_k_accuracy_score breaks ties by index instead.
#include <fmt/format.h>

#include "callbacks.h"
#include "gom/ops.h"
#include "metric.h"

namespace gom::callbacks {
namespace {

class TopKAccuracy : public PhaseMetric {
 public:
  explicit TopKAccuracy(const Params& p)
      : PhaseMetric(p, fmt::format("top{}_accuracy", p.i("k"))), k_(p.i("k")) {}

  MetricDirection direction() const override { return MetricDirection::Maximize; }

 private:
  void reset() override {
    hits_.reset();
    total_ = 0;
  }

  // On the device: the target's score, how many classes beat it, and one scalar read.
  void accumulate(const LoopState& s) override {
    const Tensor pred = s.pred.detach();
    if (pred.dim() < 2 || pred.size(1) < 2)
      throw Error(
          fmt::format("the prediction must hold class scores [N, C, ...] with C >= 2 "
                      "classes, got shape {}",
                      shape_str(pred.shape())));
    Tensor truth = s.target.detach();
    if (truth.dtype() == DType::F32 && truth.shape() == pred.shape()) truth = argmax(truth, 1);
    if (truth.dtype() == DType::I32) truth = truth.to(DType::I64);
    Shape want = pred.shape();
    want.erase(want.begin() + 1);
    if (truth.dtype() != DType::I64 || truth.shape() != want)
      throw Error(
          fmt::format("the target must hold class indices (i64) of shape {} for a "
                      "prediction of shape {}, got {} {}",
                      shape_str(want), shape_str(pred.shape()), dtype_name(truth.dtype()),
                      shape_str(truth.shape())));
    const Tensor own = gather(pred, 1, truth.unsqueeze(1));  // [N, 1, ...]
    const Tensor above = sum(gt(pred, own), {1});            // classes scoring higher
    const Tensor k = scalar(double(k_), {DType::F32, pred.device()});
    hits_.add(sum(lt(above, k)));
    total_ += truth.numel();
  }

  void report(LoopState& s, const std::string& key) override {
    double counts[2] = {hits_.value(), double(total_)};
    sum_over_ranks(s, counts);
    if (counts[1] > 0) s.metrics[key] = counts[0] / counts[1];
  }

  int64_t k_;
  DeviceSum hits_;
  int64_t total_ = 0;
};

}  // namespace

void register_top_k_accuracy() {
  Schema s;
  s.integer("k", "how many of the highest-scoring classes may hold the target").def(5).min(1);
  add_metric_params(s, "top<k>_accuracy");
  register_callback("top_k_accuracy",
                    "metric: fraction of samples whose target is among the k highest-scoring "
                    "classes (ties count as hits), reported after validation",
                    std::move(s),
                    [](const Params& p) { return std::make_shared<TopKAccuracy>(p); });
}

}  // namespace gom::callbacks
