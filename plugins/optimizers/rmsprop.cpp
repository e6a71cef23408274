// rmsprop: torch.optim.RMSprop (PyTorch 1.13), step for step:
//   g = grad + weight_decay * p                      (L2 added to the gradient)
//   v = alpha * v + (1 - alpha) * g * g              (square_avg, from 0)
//   centered:  a = alpha * a + (1 - alpha) * g,  avg = sqrt(v - a * a) + eps   (grad_avg)
//   else:      avg = sqrt(v) + eps
//   momentum > 0:  buf = momentum * buf + g / avg,  p -= lr * buf
//   else:          p -= lr * g / avg
// There is no bias correction: v starts at 0, so the first step moves p by lr / sqrt(1 - alpha)
// (10 lr with alpha = 0.99) against the gradient's sign.
// Group options: lr, alpha, eps, weight_decay, momentum, centered (0 or 1).
// State per parameter: step, square_avg (from its first step), momentum_buffer (momentum > 0),
// grad_avg (centered). The step count is kept, as torch does, though no formula uses it.
#include "optim.h"

namespace gom::optim {
namespace {

struct RmspropState {
  int64_t step = 0;
  Tensor square_avg, momentum_buffer, grad_avg;

  template <class S, class F>
  static void fields(S& s, F&& f) {
    f("step", s.step, kRequired);
    f("square_avg", s.square_avg, kRequired);
    f("momentum_buffer", s.momentum_buffer, kOptional);
    f("grad_avg", s.grad_avg, kOptional);
  }
};

class Rmsprop final : public OptimizerWithState<RmspropState> {
 public:
  Rmsprop(std::vector<Tensor> params, Options defaults)
      : OptimizerWithState("rmsprop", std::move(params), std::move(defaults)) {}

 private:
  void update(Tensor& p, const Tensor& grad, const Options& o) override {
    const double lr = o.at("lr"), alpha = o.at("alpha"), eps = o.at("eps");
    const double wd = o.at("weight_decay"), momentum = o.at("momentum");
    const bool centered = o.at("centered") != 0;
    RmspropState& s = state(p);
    // Made when first needed: a momentum or centering turned on later starts from zeros.
    for (Tensor* t : {&s.square_avg, momentum > 0 ? &s.momentum_buffer : nullptr,
                      centered ? &s.grad_avg : nullptr})
      if (t && !t->defined()) *t = zeros(p.shape(), p.options());
    ++s.step;
    Tensor &v = s.square_avg, &buf = s.momentum_buffer, &a = s.grad_avg;

    if (fusable("rmsprop_update", {p, grad})) {
      const Tensor g = grad.contiguous();
      const Attrs attrs{
          {"lr", lr},           {"alpha", alpha},       {"eps", eps},
          {"weight_decay", wd}, {"momentum", momentum}, {"centered", int64_t(centered)}};
      if (momentum > 0 && centered)
        run_kernel("rmsprop_update", {g}, {p, v, buf, a}, attrs);
      else if (momentum > 0)
        run_kernel("rmsprop_update", {g}, {p, v, buf}, attrs);
      else if (centered)
        run_kernel("rmsprop_update", {g}, {p, v, a}, attrs);
      else
        run_kernel("rmsprop_update", {g}, {p, v}, attrs);
      return;
    }

    // With ops, for any device and layout.
    const Tensor g = wd != 0 ? add(grad, mul(p, wd)) : grad;
    mul_(v, alpha);
    add_(v, mul(g, g), 1.0 - alpha);
    Tensor avg;
    if (centered) {
      mul_(a, alpha);
      add_(a, g, 1.0 - alpha);
      avg = add(sqrt(sub(v, mul(a, a))), eps);
    } else {
      avg = add(sqrt(v), eps);
    }
    if (momentum > 0) {
      mul_(buf, momentum);
      add_(buf, div(g, avg));
      add_(p, buf, -lr);
    } else {
      add_(p, div(g, avg), -lr);
    }
  }
};

}  // namespace

void register_rmsprop(const PluginContext&) {
  Schema s;
  s.number("lr", "learning rate").def(1e-2).min(0);
  s.number("alpha",
           "smoothing constant of the moving average of grad^2 (torch accepts any alpha >= 0; "
           "above 1 that average turns negative)")
      .def(0.99)
      .range(0, 1);
  s.number("eps", "added to the denominator for numerical stability").def(1e-8).min(0);
  s.number("weight_decay", "L2 penalty: adds weight_decay*p to the gradient").def(0.0).min(0);
  s.number("momentum", "momentum factor; 0 turns momentum off").def(0.0).min(0);
  s.boolean("centered",
            "divide by an estimate of the gradient's variance instead of its second "
            "moment (Graves 2013)")
      .def(false);
  register_optimizer("rmsprop",
                     "RMSprop with momentum, centering and L2 weight decay (torch RMSprop)",
                     std::move(s), [](std::vector<Tensor> params, const Params& p) {
                       Options o{{"lr", p.f("lr")},
                                 {"alpha", p.f("alpha")},
                                 {"eps", p.f("eps")},
                                 {"weight_decay", p.f("weight_decay")},
                                 {"momentum", p.f("momentum")},
                                 {"centered", p.b("centered") ? 1.0 : 0.0}};
                       return std::make_shared<Rmsprop>(std::move(params), std::move(o));
                     });
}

}  // namespace gom::optim
