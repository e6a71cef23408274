// gradient_accumulation: one optimizer step per `steps` batches, on the mean of their
// gradients, so that k batches of B act as one batch of k*B (for a loss that is a mean over the
// batch, with batches of one size). At after_backward it sets state.accumulate on the first k-1
// batches of a window, so the trainer keeps their gradients (no step, no zero_grad), and on the
// last it divides the summed gradients by the window's batch count: PyTorch's recipe
// (loss / k).backward() for k batches, scaled once per window instead of once per batch.
// A window does not cross the end of the training phase: its last batch steps, with the mean over
// the batches the window got (so 10 batches with steps=4 step after 4, 8 and 10).
// `state.step` counts optimizer steps, so schedules with interval=step that read the batch index
// still move every batch.
#include "callbacks.h"
#include "gom/autograd.h"
#include "gom/ops.h"
#include "gom/optimizer.h"

namespace gom::callbacks {
namespace {

class GradientAccumulation : public Callback {
 public:
  explicit GradientAccumulation(const Params& p) : steps_(p.i("steps")) {}

  // Before the callbacks that read the window's gradients at after_backward (terminate_on_nan 15,
  // gradient_clipping 20, activation_stats 30).
  int order() const override { return 10; }

  void on(Event e, LoopState& s) override {
    if (e == Event::BeforeTrain) kept_ = 0;
    if (e != Event::AfterBackward || !s.training) return;
    ++kept_;
    const bool phase_ends = s.batches > 0 && s.batch + 1 >= s.batches;
    if (kept_ < steps_ && !phase_ends) {
      s.accumulate = true;
      return;
    }
    if (kept_ > 1) {
      if (!s.optimizer) throw Error("state.optimizer is not set at after_backward");
      NoGrad ng;
      const double scale = 1.0 / double(kept_);
      for (const ParamGroup& g : s.optimizer->param_groups())
        for (const Tensor& p : g.params)
          if (Tensor grad = p.grad(); grad.defined()) mul_(grad, scale);
    }
    kept_ = 0;
  }

 private:
  int64_t steps_;
  int64_t kept_ = 0;  // batches whose gradients are summed in .grad, this one included
};

}  // namespace

void register_gradient_accumulation() {
  Schema s;
  s.integer("steps", "batches per optimizer step: the effective batch is batch_size * steps")
      .required()
      .min(1);
  register_callback("gradient_accumulation",
                    "steps the optimizer once per `steps` batches on the mean of their "
                    "gradients (an effective batch of batch_size * steps)",
                    std::move(s),
                    [](const Params& p) { return std::make_shared<GradientAccumulation>(p); });
}

}  // namespace gom::callbacks
