// gradient_clipping: bounds the gradients before the optimizer steps, at after_backward.
//   mode=norm   torch.nn.utils.clip_grad_norm_ (norm_type 2): the total L2 norm over the
//               gradients of every parameter the optimizer steps, and when it exceeds max_norm
//               each gradient is multiplied by max_norm / (total + 1e-6)
//   mode=value  torch.nn.utils.clip_grad_value_: each element clamped to [-clip_value, clip_value]
// With log_every = N it reports the norm before clipping as the step metric `grad_norm` every N
// optimizer steps (0, N, 2N, ... steps taken). A batch whose gradients are kept for the next one
// (state.accumulate, gradient accumulation) is not clipped: the window's sum is, before its step.
#include <fmt/format.h>

#include <vector>

#include "callbacks.h"
#include "gom/grad_clip.h"
#include "gom/kernel.h"
#include "gom/optimizer.h"

namespace gom::callbacks {
namespace {

class GradientClipping : public Callback {
 public:
  explicit GradientClipping(const Params& p)
      : norm_(p.s("mode") == "norm"),
        max_norm_(p.f("max_norm")),
        clip_value_(p.f("clip_value")),
        log_every_(p.i("log_every")),
        key_(p.s("name")) {}

  // After gradient_accumulation (10), which scales the window's gradients, and terminate_on_nan
  // (15), which should see them unclipped.
  int order() const override { return 20; }

  void on(Event e, LoopState& s) override {
    if (e != Event::AfterBackward || !s.training || s.accumulate) return;
    if (!s.optimizer) throw Error("state.optimizer is not set at after_backward");
    std::vector<Tensor> params;
    for (const ParamGroup& g : s.optimizer->param_groups())
      for (const Tensor& p : g.params)
        if (p.grad().defined()) params.push_back(p);
    if (params.empty()) return;
    const bool log = log_every_ > 0 && s.step % log_every_ == 0;
    // gom/grad_clip.h: the code torch.nn.utils' equivalents from Lua run too.
    double total = 0;
    if (norm_ && defer_host_reads(params.front().device())) {
      // On a device the norm is read back only when it is logged.
      const Tensor t = clip_grad_norm_device_(params, max_norm_);
      if (log) total = t.item();
    } else if (norm_) {
      total = clip_grad_norm_(params, max_norm_);
    } else if (log) {
      total = grad_norm(params);
    }
    if (log) s.step_metrics.emplace_back(key_, total);
    if (!norm_) clip_grad_value_(params, clip_value_);
  }

 private:
  bool norm_;
  double max_norm_, clip_value_;
  int64_t log_every_;
  std::string key_;
};

}  // namespace

void register_gradient_clipping() {
  Schema s;
  s.choice("mode", {"norm", "value"},
           "norm: scale all gradients so that their total L2 norm is at most max_norm "
           "(clip_grad_norm_); value: clamp each element to [-clip_value, clip_value]")
      .def("norm");
  s.number("max_norm", "largest total L2 norm of the gradients (mode=norm)").def(1.0).min(0);
  s.number("clip_value", "largest absolute value of a gradient element (mode=value)")
      .def(1.0)
      .min(0);
  s.integer("log_every",
            "report the norm before clipping as a step metric every N steps (0: never)")
      .def(0)
      .min(0);
  s.string("name", "the step metric's key").def("grad_norm");
  register_callback("gradient_clipping",
                    "clips the gradients at after_backward: by their total L2 norm "
                    "(torch's clip_grad_norm_) or elementwise (clip_grad_value_)",
                    std::move(s),
                    [](const Params& p) { return std::make_shared<GradientClipping>(p); });
}

}  // namespace gom::callbacks
