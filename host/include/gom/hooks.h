// gom/hooks.h — hooks on modules and on gradients, with handles that remove them (PyTorch's
// register_forward_pre_hook, register_forward_hook, register_full_backward_hook and
// Tensor.register_hook).
//
// A hook is a std::function, so the SDK knows nothing of the language that registered it (the
// Lua binding wraps a Lua function). Registering returns a HookHandle; remove() unregisters the
// hook, and is harmless when the hook, its module or its tensor is already gone. Hooks run in
// registration order, each on what the previous one returned.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace gom {

class Tensor;
class Module;

/// @brief Called before forward with the inputs; a non-empty return (one tensor per input)
/// replaces them.
using ForwardPreHook =
    std::function<std::vector<Tensor>(Module&, const std::vector<Tensor>& inputs)>;
/// @brief Called after forward with the inputs and the output; a defined return replaces the
/// output.
using ForwardHook =
    std::function<Tensor(Module&, const std::vector<Tensor>& inputs, const Tensor& output)>;
/// @brief Called when the gradients w.r.t. the module's inputs are computed: grad_input has one
/// entry per input (undefined where the input needs no gradient), grad_output one per output.
/// A non-empty return (one entry per input) replaces grad_input.
using BackwardHook = std::function<std::vector<Tensor>(
    Module&, const std::vector<Tensor>& grad_input, const std::vector<Tensor>& grad_output)>;
/// @brief Called with the gradient w.r.t. a tensor when it is computed; a defined return
/// replaces it (what flows on, and what .grad receives).
using GradHook = std::function<Tensor(const Tensor& grad)>;

namespace detail {
/// @brief What a HookHandle removes its hook from.
class HookListBase {
 public:
  virtual ~HookListBase() = default;
  virtual void erase(uint64_t id) = 0;
};
}  // namespace detail

/// @brief Removes the hook it was returned for. Copies refer to the same hook.
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<detail::HookListBase> list, uint64_t id)
      : list_(std::move(list)), id_(id) {}
  /// @brief Unregisters the hook; a second call, or one after its owner died, does nothing.
  void remove() {
    if (auto l = list_.lock()) l->erase(id_);
    list_.reset();
  }

 private:
  std::weak_ptr<detail::HookListBase> list_;
  uint64_t id_ = 0;
};

/// @brief Hooks of one kind in registration order. Firing iterates over a copy, so a hook may
/// remove itself or others while they run.
template <class Fn>
class HookList : public detail::HookListBase {
 public:
  /// @brief Appends `fn`; `self` is this list as a weak pointer (for the handle).
  HookHandle add(Fn fn, std::weak_ptr<detail::HookListBase> self) {
    entries_.emplace_back(++last_id_, std::move(fn));
    return HookHandle(std::move(self), last_id_);
  }
  void erase(uint64_t id) override {
    std::erase_if(entries_, [id](const auto& e) { return e.first == id; });
  }
  bool empty() const { return entries_.empty(); }
  std::vector<Fn> snapshot() const {
    std::vector<Fn> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) out.push_back(e.second);
    return out;
  }

 private:
  std::vector<std::pair<uint64_t, Fn>> entries_;
  uint64_t last_id_ = 0;
};

/// @brief A module's hooks (Module keeps one, made at the first registration).
struct ModuleHooks {
  HookList<ForwardPreHook> pre;
  HookList<ForwardHook> post;
  HookList<BackwardHook> backward;
  bool empty() const { return pre.empty() && post.empty() && backward.empty(); }
};

}  // namespace gom
