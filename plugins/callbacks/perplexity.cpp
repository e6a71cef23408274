// perplexity: exp of the mean cross-entropy per token over a phase (a language model's
// perplexity). Computed from the logits and the targets, not from state.loss: the loss module may
// be another one (label smoothing), and a batch's mean would weigh batches, not tokens.
//   logits [N, C] and targets [N]; or logits [B, T, C] (class dim last, as a language model
//   emits) and targets [B, T], flattened to [B*T, C] and [B*T].
// Targets equal to ignore_index (padding) count neither in the sum nor in the token count.
#include <fmt/format.h>

#include <cmath>

#include "callbacks.h"
#include "gom/ops.h"
#include "metric.h"

namespace gom::callbacks {
namespace {

class Perplexity : public PhaseMetric {
 public:
  explicit Perplexity(const Params& p)
      : PhaseMetric(p, "perplexity"), ignore_index_(p.i("ignore_index")) {}

  MetricDirection direction() const override { return MetricDirection::Minimize; }

 private:
  void reset() override {
    nll_.reset();
    tokens_.reset();
  }

  void accumulate(const LoopState& s) override {
    Tensor logits = s.pred.detach(), target = s.target.detach();
    if (target.dtype() == DType::I32) target = target.to(DType::I64);
    Shape lead = logits.shape();
    if (!lead.empty()) lead.pop_back();
    if (logits.dim() < 2 || target.dtype() != DType::I64 || target.shape() != lead)
      throw Error(
          fmt::format("perplexity takes logits [N, C] (or [B, T, C]) and i64 targets "
                      "[N] (or [B, T]), got {} {} and {} {}",
                      dtype_name(logits.dtype()), shape_str(logits.shape()),
                      dtype_name(target.dtype()), shape_str(target.shape())));
    const int64_t c = logits.size(logits.dim() - 1);
    logits = logits.reshape({logits.numel() / c, c});
    target = target.reshape({target.numel()});
    nll_.add(cross_entropy(logits, target, Reduction::Sum, ignore_index_));
    const Tensor ignored = full({}, double(ignore_index_), {DType::I64, target.device()});
    tokens_.add(sum(ne(target, ignored)));
  }

  void report(LoopState& s, const std::string& key) override {
    double sums[2] = {nll_.value(), tokens_.value()};
    sum_over_ranks(s, sums);
    if (sums[1] > 0) s.metrics[key] = std::exp(sums[0] / sums[1]);
  }

  int64_t ignore_index_;
  DeviceSum nll_, tokens_;
};

}  // namespace

void register_perplexity() {
  Schema s;
  s.integer("ignore_index", "targets with this value (padding) are not counted").def(-100);
  add_metric_params(s, "perplexity");
  register_callback("perplexity",
                    "metric: exp of the mean cross-entropy per token over a phase, from logits "
                    "[N, C] or [B, T, C] and i64 targets, reported after validation",
                    std::move(s), [](const Params& p) { return std::make_shared<Perplexity>(p); });
}

}  // namespace gom::callbacks
