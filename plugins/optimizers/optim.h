// Shared pieces of the optimizers plugin: the registration functions, a base class holding the
// groups' defaults and per-parameter state, and the choice between a fused kernel and plain ops.
//
// Conventions of every optimizer here:
// - Hyperparameters live in each ParamGroup's `options` as doubles (bools as 0/1, Adam's betas as
//   "beta1"/"beta2") and are read at every step, so a schedule or set_lr() takes effect on the
//   next step. A group added later with only some keys (say {"lr"}) gets the others from the
//   values the optimizer was created with, as torch's add_param_group does.
// - step() runs under NoGrad and skips parameters without a gradient; their state (momentum
//   buffer, Adam's step count) is neither created nor advanced, as in PyTorch.
// - State is per parameter, keyed by the tensor (like torch's optimizer.state).
// - On a device whose backend (or this plugin) registers the fused kernel ("sgd_update",
//   "adam_update"; contracts in kernels.cpp) an update is one pass over memory with no
//   allocation; otherwise it is written with ops, which works on any device and layout.
#pragma once

#include <fmt/format.h>

#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gom/autograd.h"
#include "gom/kernel.h"
#include "gom/ops.h"
#include "gom/optimizer.h"
#include "gom/plugin.h"

namespace gom::optim {

void register_kernels(const PluginContext& ctx);
void register_sgd(const PluginContext& ctx);
void register_adam(const PluginContext& ctx);

using Options = std::map<std::string, double>;

/// Whether the fused kernel `op` can update `ts` in place: it exists for their device and they
/// are f32 tensors of one shape on one device, the first (the parameter) contiguous. Gradients
/// that are strided views are made contiguous by the caller.
inline bool fusable(std::string_view op, std::initializer_list<Tensor> ts) {
  const Tensor& p = *ts.begin();
  if (!p.is_contiguous() || !has_kernel(op, p.device().type)) return false;
  for (const Tensor& t : ts)
    if (t.dtype() != DType::F32 || t.device() != p.device() || t.shape() != p.shape()) return false;
  return true;
}

template <class State>
class OptimizerWithState : public Optimizer {
 protected:
  OptimizerWithState(std::string name, std::vector<Tensor> params, Options defaults)
      : Optimizer({ParamGroup{std::move(params), defaults}}),
        owner_("optimizer '" + name + "'"),
        defaults_(std::move(defaults)) {
    for (size_t i = 0; i < groups_[0].params.size(); ++i) {
      const Tensor& p = groups_[0].params[i];
      if (!p.defined()) throw Error(fmt::format("{}: parameter {} is undefined", owner_, i));
      // A non-leaf never receives a .grad, so it would silently never be updated.
      if (!p.is_leaf())
        throw Error(
            fmt::format("{}: parameter {} is not a leaf (it was computed by {}); pass "
                        "the leaf it came from, or detach() it",
                        owner_, i, p.grad_fn()->name()));
    }
  }

  /// The options of `g`, with the keys it lacks filled from the construction values.
  const Options& options(ParamGroup& g) const {
    for (const auto& [k, v] : defaults_) g.options.try_emplace(k, v);
    return g.options;
  }

  /// The state of `p`, default-constructed on first use. Keyed by the tensor itself (which the
  /// map keeps alive, as torch's state dict does), so a recycled address never inherits state.
  State& state(const Tensor& p) { return state_[p.impl_ptr()]; }

  /// The gradient of `p` (undefined: skip it), checked against the parameter: set_grad()
  /// accepts any tensor, and a fused kernel must not read past the parameter's size.
  Tensor grad_of(const Tensor& p) const {
    Tensor g = p.grad();
    if (g.defined() && (g.shape() != p.shape() || g.device() != p.device()))
      throw Error(fmt::format(
          "{}: a gradient of shape {} on {} does not match its parameter of "
          "shape {} on {}",
          owner_, shape_str(g.shape()), g.device().str(), shape_str(p.shape()), p.device().str()));
    return g;
  }

  std::string owner_;  // "optimizer 'sgd'", for messages
  Options defaults_;
  std::unordered_map<std::shared_ptr<TensorImpl>, State> state_;
};

}  // namespace gom::optim
