// adagrad: torch.optim.Adagrad (PyTorch 1.13), step for step, t counting each parameter's own
// steps (Duchi, Hazan and Singer 2011):
//   clr = lr / (1 + (t - 1) * lr_decay)               (in double)
//   g = grad + weight_decay * p                       (L2 added to the gradient)
//   sum += g * g                                      (from initial_accumulator_value)
//   p -= clr * g / (sqrt(sum) + eps)
// torch makes every parameter's state in its constructor; here it is made at the parameter's
// first step, with the initial_accumulator_value of its group then, which gives the same steps.
// Group options: lr, lr_decay, weight_decay, initial_accumulator_value, eps.
// State per parameter: step, sum (from its first step).
#include "optim.h"

namespace gom::optim {
namespace {

struct AdagradState {
  int64_t step = 0;
  Tensor sum;

  template <class S, class F>
  static void fields(S& s, F&& f) {
    f("step", s.step, kRequired);
    f("sum", s.sum, kRequired);
  }
};

class Adagrad final : public OptimizerWithState<AdagradState> {
 public:
  Adagrad(std::vector<Tensor> params, Options defaults)
      : OptimizerWithState("adagrad", std::move(params), std::move(defaults)) {}

 private:
  void update(Tensor& p, const Tensor& grad, const Options& o) override {
    const double lr = o.at("lr"), lr_decay = o.at("lr_decay"), wd = o.at("weight_decay");
    const double eps = o.at("eps");
    AdagradState& s = state(p);
    if (!s.sum.defined()) s.sum = full(p.shape(), o.at("initial_accumulator_value"), p.options());
    const auto t = static_cast<double>(++s.step);
    const double clr = lr / (1.0 + (t - 1.0) * lr_decay);

    if (fusable("adagrad_update", {p, grad})) {
      run_kernel("adagrad_update", {grad.contiguous()}, {p, s.sum},
                 {{"clr", clr}, {"weight_decay", wd}, {"eps", eps}});
      return;
    }

    // With ops, for any device and layout.
    const Tensor g = wd != 0 ? add(grad, mul(p, wd)) : grad;
    add_(s.sum, mul(g, g));
    add_(p, div(g, add(sqrt(s.sum), eps)), -clr);
  }
};

}  // namespace

void register_adagrad(const PluginContext&) {
  Schema s;
  s.number("lr", "learning rate").def(1e-2).min(0);
  s.number("lr_decay", "learning rate decay: step t uses lr / (1 + (t-1)*lr_decay)")
      .def(0.0)
      .min(0);
  s.number("weight_decay", "L2 penalty: adds weight_decay*p to the gradient").def(0.0).min(0);
  s.number("initial_accumulator_value", "starting value of the running sum of grad^2")
      .def(0.0)
      .min(0);
  s.number("eps", "added to the denominator for numerical stability").def(1e-10).min(0);
  register_optimizer("adagrad",
                     "Adagrad with learning rate decay and L2 weight decay (torch Adagrad)",
                     std::move(s), [](std::vector<Tensor> params, const Params& p) {
                       Options o{{"lr", p.f("lr")},
                                 {"lr_decay", p.f("lr_decay")},
                                 {"weight_decay", p.f("weight_decay")},
                                 {"initial_accumulator_value", p.f("initial_accumulator_value")},
                                 {"eps", p.f("eps")}};
                       return std::make_shared<Adagrad>(std::move(params), std::move(o));
                     });
}

}  // namespace gom::optim
