// PhaseMetric and the input checks the metric callbacks share (metric.h).
#include "metric.h"

#include <fmt/format.h>

#include "gom/autograd.h"
#include "gom/distributed.h"
#include "gom/kernel.h"
#include "gom/ops.h"

namespace gom::callbacks {

PhaseMetric::PhaseMetric(const Params& p, std::string default_name)
    : name_(p.s("name").empty() ? std::move(default_name) : p.s("name")), train_(p.b("train")) {}

void PhaseMetric::on(Event e, LoopState& s) {
  switch (e) {
    case Event::BeforeTrain:
    case Event::BeforeValidate:
    case Event::BeforeTest:
      reset();
      break;
    case Event::BeforeBatch:
      forwarded_ = false;
      break;
    // Counted at after_batch, but only when this batch ran a forward: a batch skipped in
    // before_batch leaves the previous batch's prediction in state.pred.
    case Event::AfterForward:
      forwarded_ = true;
      break;
    case Event::AfterBatch:
      if (forwarded_ && (train_ || !s.training)) {
        if (!s.pred.defined() || !s.target.defined())
          throw Error(fmt::format("state.{} is not set at after_batch",
                                  s.pred.defined() ? "target" : "pred"));
        NoGrad ng;  // nothing here belongs in the graph
        accumulate(s);
      }
      break;
    case Event::AfterTrain:
      if (train_) report_as(s, "train_" + name_, MetricPhase::Train);
      break;
    case Event::AfterValidate:
      report_as(s, name_, MetricPhase::Valid);
      break;
    case Event::AfterTest:
      report_as(s, "test_" + name_, MetricPhase::Test);
      break;
    default:
      break;
  }
}

void PhaseMetric::report_as(LoopState& s, const std::string& key, MetricPhase phase) {
  phase_ = phase;
  report(s, key);
  if (s.metrics.count(key)) s.metric_info[key] = {direction(), phase};
}

void DeviceSum::add(const Tensor& term) {
  if (!defer_host_reads(term.device())) {
    host_ += term.item();
    return;
  }
  NoGrad ng;
  const Tensor t = term.to(DType::F32).reshape({});
  pending_ = pending_.defined() ? gom::add(pending_, t) : t;
}

double DeviceSum::value() {
  if (pending_.defined()) {
    host_ += pending_.item();
    pending_ = Tensor();
  }
  return host_;
}

void sum_over_ranks(const LoopState& s, std::span<double> values) {
  if (s.data_parallel) all_reduce_sum(values);
}

void add_metric_params(Schema& s, const std::string& default_name) {
  s.boolean("train", "also report the metric over the training phase, as train_<name>").def(false);
  s.string("name", fmt::format("metric key for the validation phase (the training one is "
                               "train_<name>); empty: {}",
                               default_name))
      .def("");
}

ClassBatch class_batch(const LoopState& s) {
  const Tensor pred = s.pred.detach();
  Tensor truth = s.target.detach();
  ClassBatch b;
  const bool single = pred.dim() == 1 || (pred.dim() == 2 && pred.size(1) == 1);
  if (single) {  // one logit per sample: class 1 when it is > 0 (probability > 0.5)
    b.classes = 2;
    b.guess =
        gt(pred.reshape({pred.numel()}), scalar(0.0, {pred.dtype(), pred.device()})).to(DType::I64);
    if (truth.numel() == pred.numel()) truth = truth.reshape({truth.numel()});
    if (truth.dtype() == DType::F32)  // 0/1 labels (or probabilities: class 1 above 0.5)
      truth = gt(truth, scalar(0.5, {DType::F32, truth.device()})).to(DType::I64);
  } else {
    if (pred.dim() < 2)
      throw Error(
          fmt::format("the prediction must hold class scores [N, C, ...] or one logit "
                      "per sample, got shape {}",
                      shape_str(pred.shape())));
    b.classes = pred.size(1);
    b.guess = argmax(pred, 1);
    if (truth.dtype() == DType::F32 && truth.shape() == pred.shape())
      truth = argmax(truth, 1);  // one-hot or soft labels: the most likely class is the target
  }
  if (truth.dtype() == DType::I32) truth = truth.to(DType::I64);
  if (truth.dtype() != DType::I64 || truth.shape() != b.guess.shape())
    throw Error(
        fmt::format("the target must hold class indices (i64) of shape {} for a "
                    "prediction of shape {}, got {} {}",
                    shape_str(b.guess.shape()), shape_str(pred.shape()), dtype_name(truth.dtype()),
                    shape_str(truth.shape())));
  b.guess = b.guess.reshape({b.guess.numel()});
  b.truth = truth.reshape({truth.numel()});
  return b;
}

void check_same_shape(const Tensor& pred, const Tensor& target) {
  if (pred.dtype() != DType::F32 || target.dtype() != DType::F32 || pred.shape() != target.shape())
    throw Error(
        fmt::format("the prediction and the target must be f32 of one shape, got {} {} "
                    "and {} {} (reshape one of them)",
                    dtype_name(pred.dtype()), shape_str(pred.shape()), dtype_name(target.dtype()),
                    shape_str(target.shape())));
}

}  // namespace gom::callbacks
