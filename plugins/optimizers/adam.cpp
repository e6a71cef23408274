// adam: torch.optim.Adam (PyTorch 1.13), step for step, t counting each parameter's own steps:
//   g = grad + weight_decay * p                      (L2 added to the gradient, not AdamW)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g              (amsgrad: vmax = max(vmax, v), used for v)
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The bias corrections are computed in double, the elementwise part in float, as torch does.
// The same class is adamw (adamw.cpp) when `decoupled`: weight decay then scales p by
// (1 - lr * weight_decay) before the update, and the gradient is left alone.
// Group options: lr, beta1, beta2, eps, weight_decay, amsgrad (0 or 1).
// State per parameter: step, exp_avg, exp_avg_sq (from its first step), max_exp_avg_sq (amsgrad).
#include <cmath>

#include "optim.h"

namespace gom::optim {
namespace {

struct AdamState {
  int64_t step = 0;
  Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;  // m, v, and vmax (amsgrad only)

  template <class S, class F>
  static void fields(S& s, F&& f) {
    f("step", s.step, kRequired);
    f("exp_avg", s.exp_avg, kRequired);
    f("exp_avg_sq", s.exp_avg_sq, kRequired);
    f("max_exp_avg_sq", s.max_exp_avg_sq, kOptional);
  }
};

class Adam final : public OptimizerWithState<AdamState> {
 public:
  Adam(std::string name, std::vector<Tensor> params, Options defaults, bool decoupled)
      : OptimizerWithState(std::move(name), std::move(params), std::move(defaults)),
        decoupled_(decoupled),
        kernel_(decoupled ? "adamw_update" : "adam_update") {}

 private:
  void update(Tensor& p, const Tensor& grad, const Options& o) override {
    const double lr = o.at("lr"), b1 = o.at("beta1"), b2 = o.at("beta2"), eps = o.at("eps");
    const double wd = o.at("weight_decay");
    const bool amsgrad = o.at("amsgrad") != 0;
    AdamState& s = state(p);
    if (!s.exp_avg.defined()) {
      s.exp_avg = zeros(p.shape(), p.options());
      s.exp_avg_sq = zeros(p.shape(), p.options());
    }
    if (amsgrad && !s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = zeros(p.shape(), p.options());
    const auto t = static_cast<double>(++s.step);
    const double step_size = lr / (1.0 - std::pow(b1, t));
    const double bc2_sqrt = std::sqrt(1.0 - std::pow(b2, t));
    const double decay = 1.0 - lr * wd;  // adamw's factor on p
    Tensor &m = s.exp_avg, &v = s.exp_avg_sq, &vmax = s.max_exp_avg_sq;

    if (fusable(kernel_, {p, grad})) {
      const Tensor g = grad.contiguous();
      Attrs attrs{{"step_size", step_size},
                  {"bias_correction2_sqrt", bc2_sqrt},
                  {"beta1", b1},
                  {"beta2", b2},
                  {"eps", eps}};
      attrs.set(decoupled_ ? "decay" : "weight_decay", decoupled_ ? decay : wd);
      if (amsgrad)
        run_kernel(kernel_, {g}, {p, m, v, vmax}, attrs);
      else
        run_kernel(kernel_, {g}, {p, m, v}, attrs);
      return;
    }

    // With ops, for any device and layout; the temporaries come from the caching allocator.
    if (decoupled_ && wd != 0) mul_(p, decay);
    const Tensor g = !decoupled_ && wd != 0 ? add(grad, mul(p, wd)) : grad;
    mul_(m, b1);
    add_(m, g, 1.0 - b1);
    mul_(v, b2);
    add_(v, mul(g, g), 1.0 - b2);
    if (amsgrad) copy_(vmax, maximum(vmax, v));
    const Tensor denom = affine(sqrt(amsgrad ? vmax : v), 1.0 / bc2_sqrt, eps);
    add_(p, div(m, denom), -step_size);
  }

  bool decoupled_;
  std::string kernel_;
};

}  // namespace

std::shared_ptr<Optimizer> make_adam(const std::string& name, std::vector<Tensor> params,
                                     const Params& p, bool decoupled) {
  const std::vector<double> betas = p.list_f("betas");
  // The schema checks each element is in [0, 1]; 1 would divide by zero at step 1.
  if (betas.size() != 2 || betas[0] >= 1 || betas[1] >= 1)
    throw Error(fmt::format(
        "optimizer '{}': parameter 'betas' = {} is not accepted; expected a list of 2 numbers in "
        "[0, 1) (beta1, beta2)",
        name, p.get("betas").str()));
  Options o{{"lr", p.f("lr")},
            {"beta1", betas[0]},
            {"beta2", betas[1]},
            {"eps", p.f("eps")},
            {"weight_decay", p.f("weight_decay")},
            {"amsgrad", p.b("amsgrad") ? 1.0 : 0.0}};
  return std::make_shared<Adam>(name, std::move(params), std::move(o), decoupled);
}

Schema adam_schema(double weight_decay, const char* weight_decay_doc) {
  Schema s;
  s.number("lr", "learning rate").def(1e-3).min(0);
  s.list("betas",
         "decay rates [beta1, beta2] of the moving averages of grad and grad^2, each in "
         "[0, 1)")
      .def(Value{0.9, 0.999})
      .range(0, 1);
  s.number("eps", "added to the denominator for numerical stability").def(1e-8).min(0);
  s.number("weight_decay", weight_decay_doc).def(weight_decay).min(0);
  s.boolean("amsgrad", "use the running maximum of v (AMSGrad, Reddi et al. 2018)").def(false);
  return s;
}

void register_adam(const PluginContext&) {
  Schema s = adam_schema(0.0, "L2 penalty: adds weight_decay*p to the gradient (not AdamW)");
  register_optimizer("adam", "Adam with bias correction, L2 weight decay and AMSGrad (torch Adam)",
                     std::move(s), [](std::vector<Tensor> params, const Params& p) {
                       return make_adam("adam", std::move(params), p, false);
                     });
}

}  // namespace gom::optim
