// sgd: torch.optim.SGD (PyTorch 1.13), step for step:
//   d = grad + weight_decay * p                      (L2 penalty added to the gradient)
//   if momentum > 0:  buf = d on a parameter's first step, else momentum * buf + (1 - dampening) *
//   d
//                     d = nesterov ? d + momentum * buf : buf
//   p -= lr * d
// One difference: torch requires lr; here it defaults to 0.01 so a config may leave it out.
// Group options: lr, momentum, dampening, weight_decay, nesterov (0 or 1).
#include "optim.h"

namespace gom::optim {
namespace {

struct SgdState {
  Tensor momentum_buffer;  // undefined until the first step with momentum

  template <class S, class F>
  static void fields(S& s, F&& f) {
    f("momentum_buffer", s.momentum_buffer, kOptional);
  }
};

// Nesterov looks ahead along the momentum buffer, so it needs one that is not damped.
void check_nesterov(const Options& o) {
  const double momentum = o.at("momentum"), dampening = o.at("dampening");
  if (o.at("nesterov") != 0 && (momentum <= 0 || dampening != 0))
    throw Error(
        fmt::format("optimizer 'sgd': nesterov requires momentum > 0 and dampening = 0; "
                    "got momentum = {} and dampening = {}",
                    momentum, dampening));
}

class Sgd final : public OptimizerWithState<SgdState> {
 public:
  Sgd(std::vector<Tensor> params, Options defaults)
      : OptimizerWithState("sgd", std::move(params), std::move(defaults)) {}

 private:
  void check_group(const Options& o) const override { check_nesterov(o); }
  void update(Tensor& p, const Tensor& grad, const Options& o) override {
    const double lr = o.at("lr"), wd = o.at("weight_decay"), momentum = o.at("momentum");
    const double dampening = o.at("dampening");
    const bool nesterov = o.at("nesterov") != 0;
    Tensor& buf = state(p).momentum_buffer;
    const bool first = momentum != 0 && !buf.defined();

    if (fusable("sgd_update", {p, grad})) {
      const Tensor g = grad.contiguous();
      if (first) buf = Tensor::empty(p.shape(), p.options());  // the kernel sets it to d
      const Attrs attrs{{"lr", lr},
                        {"weight_decay", wd},
                        {"momentum", momentum},
                        {"dampening", dampening},
                        {"nesterov", int64_t(nesterov)},
                        {"init", int64_t(first)}};
      if (momentum != 0)
        run_kernel("sgd_update", {g}, {p, buf}, attrs);
      else
        run_kernel("sgd_update", {g}, {p}, attrs);
      return;
    }

    // With ops, for any device and layout: each line is a pass (or two) over the tensors.
    Tensor d = wd != 0 ? add(grad, mul(p, wd)) : grad;
    if (momentum != 0) {
      if (first) {
        buf = d.clone();  // never an alias of the gradient, which the user may modify
      } else {
        mul_(buf, momentum);
        add_(buf, d, 1.0 - dampening);
      }
      d = nesterov ? add(d, mul(buf, momentum)) : buf;
    }
    add_(p, d, -lr);
  }
};

}  // namespace

void register_sgd(const PluginContext&) {
  Schema s;
  s.number("lr", "learning rate (torch.optim.SGD requires it; here it defaults to 0.01)")
      .def(0.01)
      .min(0);
  s.number("momentum", "momentum factor; 0 turns momentum off").def(0.0).min(0);
  s.number("dampening", "dampening of momentum: buf = momentum*buf + (1-dampening)*grad").def(0.0);
  s.number("weight_decay", "L2 penalty: adds weight_decay*p to the gradient (as torch does)")
      .def(0.0)
      .min(0);
  s.boolean("nesterov", "Nesterov momentum; needs momentum > 0 and dampening = 0").def(false);
  register_optimizer(
      "sgd", "stochastic gradient descent with momentum, Nesterov and weight decay (torch SGD)",
      std::move(s), [](std::vector<Tensor> params, const Params& p) {
        Options o{{"lr", p.f("lr")},
                  {"momentum", p.f("momentum")},
                  {"dampening", p.f("dampening")},
                  {"weight_decay", p.f("weight_decay")},
                  {"nesterov", p.b("nesterov") ? 1.0 : 0.0}};
        check_nesterov(o);
        return std::make_shared<Sgd>(std::move(params), std::move(o));
      });
}

}  // namespace gom::optim
