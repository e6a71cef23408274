// terminate_on_nan: ends the fit as diverged at the first non-finite loss (at after_loss, in both
// phases) or gradient (a NaN or infinite element, which makes the gradient norm non-finite; at
// after_backward), before the optimizer steps on it
// (Keras' TerminateOnNaN, extended to the gradients). It records where, as the run record
// "diverged_at_step" (the optimizer steps taken before the bad batch: the step its metrics would
// carry), and throws gom::DivergedError, which the fit passes on, so the run's status is
// "diverged" and its error names the epoch, the batch and what was not finite.
// The trainer itself stops on a non-finite loss; this adds the gradients (a loss can be finite
// while its gradient overflows) and the record.
#include <fmt/format.h>

#include <cmath>

#include "callbacks.h"
#include "gom/autograd.h"
#include "gom/layer.h"
#include "gom/ops.h"
#include "gom/optimizer.h"

namespace gom::callbacks {
namespace {

class TerminateOnNan : public Callback {
 public:
  explicit TerminateOnNan(const Params& p) : loss_(p.b("loss")), grads_(p.b("grads")) {}

  // After gradient_accumulation (10), before gradient_clipping (20), which would turn an
  // infinite gradient into NaNs and then zeros.
  int order() const override { return 15; }

  void on(Event e, LoopState& s) override {
    if (e == Event::AfterLoss && loss_ && s.loss.defined()) {
      NoGrad ng;
      const double l = s.loss.numel() == 1 ? s.loss.item() : sum(s.loss.detach()).item();
      if (!std::isfinite(l)) diverged(s, fmt::format("the loss is {}", l));
    }
    if (e == Event::AfterBackward && grads_ && s.training && s.optimizer) {
      NoGrad ng;
      Tensor bad;  // the sum of grad * 0 over every gradient: 0, or NaN when an element is not
                   // finite (a sum of squares could overflow where the norm itself would not)
      for (const ParamGroup& g : s.optimizer->param_groups())
        for (const Tensor& p : g.params)
          if (const Tensor grad = p.grad(); grad.defined()) {
            const Tensor part = sum(mul(grad, 0.0));
            bad = bad.defined() ? add(bad, part) : part;
          }
      if (bad.defined() && !std::isfinite(bad.item()))
        diverged(s, fmt::format("the gradient of {} is not finite", culprit(s)));
    }
  }

 private:
  [[noreturn]] void diverged(LoopState& s, const std::string& what) {
    s.records["diverged_at_step"] = std::to_string(s.step);
    s.stop = true;
    throw DivergedError(fmt::format("{} at epoch {}, {} batch {} (step {}): training diverged",
                                    what, s.epoch + 1, s.training ? "training" : "validation",
                                    s.batch + 1, s.step));
  }

  // The first parameter (by its name in the model) with a NaN or infinite gradient element.
  static std::string culprit(const LoopState& s) {
    if (s.model)
      for (const auto& [name, p] : s.model->named_parameters())
        if (const Tensor grad = p.grad();
            grad.defined() && !std::isfinite(sum(mul(grad, 0.0)).item()))
          return "'" + name + "'";
    return "a parameter";
  }

  bool loss_, grads_;
};

}  // namespace

void register_terminate_on_nan() {
  Schema s;
  s.boolean("loss", "check the loss at after_loss (training and validation)").def(true);
  s.boolean("grads", "check the gradients at after_backward (any NaN or infinite element)")
      .def(true);
  register_callback("terminate_on_nan",
                    "ends the fit as diverged at the first non-finite loss or gradient, "
                    "recording the step as diverged_at_step",
                    std::move(s),
                    [](const Params& p) { return std::make_shared<TerminateOnNan>(p); });
}

}  // namespace gom::callbacks
