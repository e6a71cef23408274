// rmse and mae: the root mean squared and the mean absolute error of a regression over a phase,
// taken over every element of every batch (not a mean of per-batch values, so a partial last
// batch weighs what it holds). The prediction and the target are f32 of one shape.
#include <cmath>

#include "callbacks.h"
#include "gom/ops.h"
#include "metric.h"

namespace gom::callbacks {
namespace {

class ErrorMetric : public PhaseMetric {
 public:
  ErrorMetric(const Params& p, bool squared)
      : PhaseMetric(p, squared ? "rmse" : "mae"), squared_(squared) {}

  MetricDirection direction() const override { return MetricDirection::Minimize; }

 private:
  void reset() override {
    sum_.reset();
    n_ = 0;
  }

  // Summed per batch where the prediction is (DeviceSum), read once a phase.
  void accumulate(const LoopState& s) override {
    const Tensor pred = s.pred.detach(), target = s.target.detach();
    check_same_shape(pred, target);
    const Tensor d = sub(pred, target);
    sum_.add(sum(squared_ ? mul(d, d) : abs(d)));
    n_ += pred.numel();
  }

  void report(LoopState& s, const std::string& key) override {
    double sums[2] = {sum_.value(), double(n_)};
    sum_over_ranks(s, sums);
    if (sums[1] == 0) return;
    const double mean = sums[0] / sums[1];
    s.metrics[key] = squared_ ? std::sqrt(mean) : mean;
  }

  bool squared_;
  DeviceSum sum_;
  int64_t n_ = 0;
};

void register_error(const char* name, bool squared, const char* doc) {
  Schema s;
  add_metric_params(s, name);
  register_callback(name, doc, std::move(s), [squared](const Params& p) {
    return std::make_shared<ErrorMetric>(p, squared);
  });
}

}  // namespace

void register_regression_metrics() {
  register_error("rmse", true,
                 "metric: root mean squared error sqrt(mean((pred - target)^2)) over every "
                 "element of a phase (f32 pred and target of one shape), reported after "
                 "validation");
  register_error("mae", false,
                 "metric: mean absolute error mean(|pred - target|) over every element of a "
                 "phase (f32 pred and target of one shape), reported after validation");
}

}  // namespace gom::callbacks
