// activation_stats: every N optimizer steps, the mean and standard deviation of each child's
// output of a sequential model and of each parameter's gradient, as step metrics
//   act.<child>.mean, act.<child>.std         ("act.0.mean": the output of the first child)
//   grad.<param>.mean, grad.<param>.std       ("grad.0.weight.std")
// (fastai's ActivationStats, for the outputs, plus the gradients). The std is torch.std's, with
// Bessel's correction (n - 1); a single element gives NaN, as there.
// They are taken at after_backward of a batch that steps when 0, N, 2N, ... steps have been
// taken: after gradient_accumulation (whose window's gradients are then its mean) and before
// gradient_clipping. The outputs come from a second forward of the batch, child by child, under
// NoGrad in the model's current mode. It starts from the default generator's position at
// before_batch, so dropout draws the masks the real forward drew (when nothing else drew between
// before_batch and the forward), and the generator and the model's buffers are put back after
// it: the run goes on as it would without this callback.
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

  int order() const override { return 30; }

  void on(Event e, LoopState& s) override {
    if (e == Event::BeforeBatch) rng_offset_ = default_generator().offset();
    if (e != Event::AfterBackward || !s.training || s.accumulate || s.step % every_ != 0) return;
    if (!s.model) throw Error("state.model is not set at after_backward");
    NoGrad ng;
    if (acts_) activations(s);
    if (grads_)
      for (const auto& [name, p] : s.model->named_parameters())
        if (const Tensor g = p.grad(); g.defined()) report(s, "grad." + name, g);
  }

 private:
  void activations(LoopState& s) {
    const auto* seq = dynamic_cast<const Sequential*>(s.model);
    if (!seq)
      throw Error(
          fmt::format("the model '{}' is not a sequential: its children's outputs are "
                      "unknown (set activations=false for the gradients only)",
                      s.model->type()));
    if (!s.input.defined()) throw Error("state.input is not set at after_backward");
    Generator& gen = default_generator();
    const uint64_t now = gen.offset();
    std::vector<Tensor> buffers;  // put back afterwards: a forward in training mode moves them
    for (const auto& [n, b] : s.model->named_buffers()) buffers.push_back(b.clone());
    gen.set_offset(rng_offset_);
    Tensor h = s.input;
    std::vector<std::pair<std::string, Tensor>> outs;
    try {
      for (const auto& [name, child] : seq->children()) {
        h = child->forward(h);
        outs.emplace_back(name, h);
      }
    } catch (...) {
      restore(s, buffers, now);
      throw;
    }
    restore(s, buffers, now);
    for (const auto& [name, out] : outs) report(s, "act." + name, out);
  }

  static void restore(const LoopState& s, const std::vector<Tensor>& buffers, uint64_t offset) {
    default_generator().set_offset(offset);
    size_t i = 0;
    for (auto& [n, b] : s.model->named_buffers()) copy_(b, buffers[i++]);
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
  uint64_t rng_offset_ = 0;
};

}  // namespace

void register_activation_stats() {
  Schema s;
  s.integer("every", "report every N optimizer steps (at steps 0, N, 2N, ...)").def(100).min(1);
  s.boolean("activations", "the mean and std of each child's output (a sequential model)")
      .def(true);
  s.boolean("gradients", "the mean and std of each parameter's gradient").def(true);
  register_callback("activation_stats",
                    "step metrics every N steps: mean and std of each layer's output "
                    "(act.<i>.mean/std) and of each parameter's gradient (grad.<name>.mean/std)",
                    std::move(s),
                    [](const Params& p) { return std::make_shared<ActivationStats>(p); });
}

}  // namespace gom::callbacks
