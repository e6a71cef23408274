// Module hooks: the call path that runs them (Module::call) and the registration functions.
//
// Backward hooks work as PyTorch's full backward hooks: the inputs that need a gradient pass
// through an identity node before forward and the output through another after it. The output's
// node sees the gradient w.r.t. the output (grad_output) first; the inputs' node then sees the
// gradients w.r.t. the inputs (grad_input), calls the hooks, and passes on what they return.
#include <fmt/format.h>

#include "gom/autograd.h"
#include "gom/layer.h"

namespace gom {
namespace {

// What the two identity nodes of one hooked call share.
struct BackwardCall {
  Module* module = nullptr;
  std::weak_ptr<Module> owner;  // when the module is shared-owned: a dead one calls no hook
  bool owned = false;
  std::shared_ptr<ModuleHooks> hooks;
  size_t inputs = 0;
  std::vector<size_t> hooked;  // which inputs pass through the input node
  std::vector<Tensor> grad_output;

  // Runs the hooks; returns the final grad_input.
  std::vector<Tensor> fire(std::vector<Tensor> grad_input) {
    if (owned && owner.expired()) return grad_input;
    for (const BackwardHook& fn : hooks->backward.snapshot()) {
      std::vector<Tensor> r = fn(*module, grad_input, grad_output);
      if (r.empty()) continue;
      if (r.size() != grad_input.size())
        throw Error(
            fmt::format("layer '{}': a backward hook returned {} gradient(s) for {} "
                        "input(s)",
                        module->type(), r.size(), grad_input.size()));
      grad_input = std::move(r);
    }
    return grad_input;
  }
};

class BackwardHookOutput : public Function {
 public:
  explicit BackwardHookOutput(std::shared_ptr<BackwardCall> c) : call_(std::move(c)) {}
  std::string name() const override { return "BackwardHookOutput"; }
  std::vector<Tensor> forward(FunctionContext&, const std::vector<Tensor>& in) override {
    return in;
  }
  std::vector<Tensor> backward(FunctionContext&, const std::vector<Tensor>& grads) override {
    call_->grad_output = grads;
    // No input needs a gradient: the hooks fire now, with undefined grad_input.
    if (call_->hooked.empty()) call_->fire(std::vector<Tensor>(call_->inputs));
    return grads;
  }

 private:
  std::shared_ptr<BackwardCall> call_;
};

class BackwardHookInput : public Function {
 public:
  explicit BackwardHookInput(std::shared_ptr<BackwardCall> c) : call_(std::move(c)) {}
  std::string name() const override { return "BackwardHookInput"; }
  std::vector<Tensor> forward(FunctionContext&, const std::vector<Tensor>& in) override {
    return in;
  }
  std::vector<Tensor> backward(FunctionContext&, const std::vector<Tensor>& grads) override {
    std::vector<Tensor> grad_input(call_->inputs);
    for (size_t k = 0; k < call_->hooked.size(); ++k) grad_input[call_->hooked[k]] = grads[k];
    grad_input = call_->fire(std::move(grad_input));
    std::vector<Tensor> out;
    for (size_t i : call_->hooked) out.push_back(grad_input[i]);
    return out;
  }

 private:
  std::shared_ptr<BackwardCall> call_;
};

}  // namespace

Tensor Module::call_hooked(std::vector<Tensor> inputs) {
  if (!hooks_ || hooks_->empty()) return forward_inputs(inputs);
  const std::shared_ptr<ModuleHooks> hooks = hooks_;  // a hook may remove every hook
  for (const ForwardPreHook& fn : hooks->pre.snapshot()) {
    std::vector<Tensor> r = fn(*this, inputs);
    if (r.empty()) continue;
    if (r.size() != inputs.size())
      throw Error(fmt::format("layer '{}': a forward pre-hook returned {} input(s) for {}", type_,
                              r.size(), inputs.size()));
    inputs = std::move(r);
  }

  std::shared_ptr<BackwardCall> bw;
  if (!hooks->backward.empty() && grad_enabled()) {
    bw = std::make_shared<BackwardCall>();
    bw->module = this;
    bw->owner = weak_from_this();
    bw->owned = !bw->owner.expired();
    bw->hooks = hooks;
    bw->inputs = inputs.size();
    std::vector<Tensor> through;
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].defined() && inputs[i].requires_grad()) {
        bw->hooked.push_back(i);
        through.push_back(inputs[i]);
      }
    if (!through.empty()) {
      const auto outs = apply_function(std::make_shared<BackwardHookInput>(bw), through);
      for (size_t k = 0; k < bw->hooked.size(); ++k) inputs[bw->hooked[k]] = outs[k];
    }
  }

  Tensor out = forward_inputs(inputs);
  for (const ForwardHook& fn : hooks->post.snapshot())
    if (Tensor r = fn(*this, inputs, out); r.defined()) out = std::move(r);

  if (bw && out.defined() && out.requires_grad())
    out = apply_function(std::make_shared<BackwardHookOutput>(bw), {out})[0];
  return out;
}

namespace {
// The list `member` of a module's hooks as a weak pointer sharing ownership of the whole.
template <class List>
std::weak_ptr<detail::HookListBase> weak_list(const std::shared_ptr<ModuleHooks>& hooks,
                                              List& member) {
  return std::shared_ptr<detail::HookListBase>(hooks, &member);
}
}  // namespace

HookHandle Module::register_forward_pre_hook(ForwardPreHook fn) {
  if (!hooks_) hooks_ = std::make_shared<ModuleHooks>();
  return hooks_->pre.add(std::move(fn), weak_list(hooks_, hooks_->pre));
}

HookHandle Module::register_forward_hook(ForwardHook fn) {
  if (!hooks_) hooks_ = std::make_shared<ModuleHooks>();
  return hooks_->post.add(std::move(fn), weak_list(hooks_, hooks_->post));
}

HookHandle Module::register_full_backward_hook(BackwardHook fn) {
  if (!hooks_) hooks_ = std::make_shared<ModuleHooks>();
  return hooks_->backward.add(std::move(fn), weak_list(hooks_, hooks_->backward));
}

}  // namespace gom
