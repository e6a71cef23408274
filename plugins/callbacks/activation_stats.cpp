// activation_stats: every N optimizer steps, the mean and standard deviation of the output of
// every module inside the model (children, their children, ...) and of each parameter's
// gradient, as step metrics
//   act.<path>.mean, act.<path>.std           ("act.0.mean": the output of the first child,
//                                              "act.1.0.std": of the first child of the second)
//   grad.<param>.mean, grad.<param>.std       ("grad.0.weight.std")
// (fastai's ActivationStats, for the outputs, plus the gradients). The std is torch.std's, with
// Bessel's correction (n - 1); a single element gives NaN, as there.
// They are taken at after_backward of a batch that steps when 0, N, 2N, ... steps have been
// taken: after gradient_accumulation (whose window's gradients are then its mean) and before
// gradient_clipping. The outputs are those of the batch's own forward, caught by forward hooks
// that before_batch puts on every module below the model and after_forward takes off again
// (so the loss and any later forward of a callback are not caught); a module that runs twice
// reports its last output.
#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "callbacks.h"
#include "gom/autograd.h"
#include "gom/layer.h"
#include "gom/ops.h"

namespace gom::callbacks {
namespace {

class ActivationStats : public Callback {
 public:
  explicit ActivationStats(const Params& p)
      : every_(p.i("every")), acts_(p.b("activations")), grads_(p.b("gradients")) {}
  ~ActivationStats() override { unhook(); }

  int order() const override { return 30; }

  void on(Event e, LoopState& s) override {
    const bool reporting = s.training && s.step % every_ == 0;
    if (e == Event::BeforeBatch) {
      unhook();
      outputs_.clear();
      if (acts_ && reporting) hook(s);
    }
    if (e == Event::AfterForward || e == Event::AfterFit) unhook();
    if (e != Event::AfterBackward || !reporting || s.accumulate) return;
    if (!s.model) throw Error("state.model is not set at after_backward");
    NoGrad ng;
    if (acts_)
      for (const auto& [name, out] : outputs_)
        if (out.defined()) report(s, "act." + name, out);
    if (grads_)
      for (const auto& [name, p] : s.model->named_parameters())
        if (const Tensor g = p.grad(); g.defined()) report(s, "grad." + name, g);
  }

 private:
  // A forward hook on every module below the model, in the order of named_parameters' names.
  void hook(const LoopState& s) {
    if (!s.model) throw Error("state.model is not set at before_batch");
    if (s.model->children().empty())
      throw Error(fmt::format("the model '{}' has no child modules: there are no layer "
                              "outputs to report (set activations=false for the gradients "
                              "only)",
                              s.model->type()));
    hook_children(*s.model, "");
  }
  void hook_children(Module& m, const std::string& prefix) {
    for (const auto& [name, child] : m.children()) {
      const size_t slot = outputs_.size();
      outputs_.emplace_back(prefix + name, Tensor());
      handles_.push_back(child->register_forward_hook(
          [this, slot](Module&, const std::vector<Tensor>&, const Tensor& out) {
            outputs_[slot].second = out.detach();
            return Tensor();
          }));
      hook_children(*child, prefix + name + ".");
    }
  }
  void unhook() {
    for (auto& h : handles_) h.remove();
    handles_.clear();
  }

  static void report(LoopState& s, const std::string& key, const Tensor& t) {
    const Tensor x = t.dtype() == DType::F32 ? t : t.to(DType::F32);
    const Tensor m = mean(x);
    const Tensor d = sub(x, m);
    const double n = double(x.numel());
    s.step_metrics.emplace_back(key + ".mean", m.item());
    s.step_metrics.emplace_back(key + ".std", std::sqrt(sum(mul(d, d)).item() / (n - 1)));
  }

  int64_t every_;
  bool acts_, grads_;
  std::vector<std::pair<std::string, Tensor>> outputs_;  // by module path, in hook order
  std::vector<HookHandle> handles_;
};

}  // namespace

void register_activation_stats() {
  Schema s;
  s.integer("every", "report every N optimizer steps (at steps 0, N, 2N, ...)").def(100).min(1);
  s.boolean("activations", "the mean and std of the output of every module inside the model")
      .def(true);
  s.boolean("gradients", "the mean and std of each parameter's gradient").def(true);
  register_callback("activation_stats",
                    "step metrics every N steps: mean and std of each layer's output, nested "
                    "ones too (act.<path>.mean/std), and of each parameter's gradient "
                    "(grad.<name>.mean/std)",
                    std::move(s),
                    [](const Params& p) { return std::make_shared<ActivationStats>(p); });
}

}  // namespace gom::callbacks
