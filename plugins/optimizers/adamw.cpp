// adamw: torch.optim.AdamW (PyTorch 1.13), Adam with decoupled weight decay (Loshchilov and
// Hutter, "Decoupled Weight Decay Regularization", 2019). Each step first shrinks the parameter,
//   p *= 1 - lr * weight_decay                       (not through the gradient, unlike adam's)
// and then makes Adam's update with the raw gradient (adam.cpp, where the class lives):
//   m = beta1 * m + (1 - beta1) * g,  v = beta2 * v + (1 - beta2) * g * g   (amsgrad: vmax)
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Because the decay is not divided by sqrt(v), every weight shrinks by the same factor whatever
// its gradient's scale. Defaults are torch's, weight_decay = 0.01 included.
// Group options and state are adam's.
#include "optim.h"

namespace gom::optim {

void register_adamw(const PluginContext&) {
  Schema s = adam_schema(
      1e-2, "decoupled weight decay: p *= 1 - lr*weight_decay at each step, before the update");
  register_optimizer("adamw",
                     "Adam with decoupled weight decay, bias correction and AMSGrad (torch AdamW)",
                     std::move(s), [](std::vector<Tensor> params, const Params& p) {
                       return make_adam("adamw", std::move(params), p, true);
                     });
}

}  // namespace gom::optim
