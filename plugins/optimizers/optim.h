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
// - State is per parameter, keyed by the tensor (like torch's optimizer.state). Each State type
//   lists its fields in a static `fields(state, f)`, which calls f(name, member, required) for
//   each; state() and load_state() are written once, here, from that list. A required field
//   exists as soon as a parameter has state; an optional one only under some options (made
//   lazily, as zeros, when they turn on: a checkpoint without it resumes the same way).
// - On a device whose backend (or this plugin) registers the fused kernel ("sgd_update",
//   "adam_update", "rmsprop_update", "adagrad_update"; contracts in kernels.cpp) an update is one
//   pass over memory with no allocation; otherwise it is written with ops, which works on any
//   device and layout.
#pragma once

#include <fmt/format.h>

#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
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
void register_adamw(const PluginContext& ctx);
void register_rmsprop(const PluginContext& ctx);
void register_adagrad(const PluginContext& ctx);

using Options = std::map<std::string, double>;

/// Adam, or AdamW when `decoupled` (adam.cpp), over `params` with the validated config `p` of
/// the component `name` (lr, betas, eps, weight_decay, amsgrad).
std::shared_ptr<Optimizer> make_adam(const std::string& name, std::vector<Tensor> params,
                                     const Params& p, bool decoupled);
/// The schema adam and adamw share; they differ in weight decay's default and meaning.
Schema adam_schema(double weight_decay, const char* weight_decay_doc);

/// The third argument of the callback of State::fields.
inline constexpr bool kRequired = true, kOptional = false;

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
 public:
  /// One update of every parameter that has a gradient, group by group, under NoGrad.
  void step() final {
    NoGrad no_grad;
    for (ParamGroup& group : groups_) {
      const Options& o = options(group);
      check_group(o);  // again at every step: a group's options may have changed since
      for (Tensor& p : group.params) {
        const Tensor g = grad_of(p);
        if (g.defined()) update(p, g, o);
      }
    }
  }

 protected:
  /// The update of one parameter with its group's options.
  virtual void update(Tensor& p, const Tensor& grad, const Options& o) = 0;
  /// Refuses a group's options that cannot work together; by default every combination can.
  virtual void check_group(const Options& /*o*/) const {}

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

  /// Keys "<i>.<field>" for the parameters with state, in parameter order; a step count is a
  /// 0-d i64 tensor.
  OptimizerState state() const override {
    OptimizerState out;
    const std::vector<Tensor> params = flat_params();
    for (size_t i = 0; i < params.size(); ++i) {
      auto it = state_.find(params[i].impl_ptr());
      if (it == state_.end() || !has_state(it->second)) continue;
      State::fields(it->second, [&](const char* name, const auto& v, bool) {
        const std::string key = fmt::format("{}.{}", i, name);
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, int64_t>)
          out.emplace_back(key, tensor_i64({v}, {}));
        else if (v.defined())
          out.emplace_back(key, v);
      });
    }
    return out;
  }

  void load_state(const OptimizerState& saved) override {
    NoGrad no_grad;
    const std::vector<Tensor> params = flat_params();
    std::vector<std::optional<State>> loaded(params.size());
    std::set<std::string> seen;
    for (const auto& [key, t] : saved) {
      const auto [index, field] = parse_key(key, params.size());
      if (!seen.insert(key).second) throw Error(msg("duplicate key '{}'", key));
      if (!t.defined()) throw Error(msg("'{}' is an undefined tensor", key));
      if (!loaded[index]) loaded[index].emplace();
      State::fields(*loaded[index], [&](const char* name, auto& v, bool) {
        if (field == name) assign(key, params[index], index, t, v);
      });
    }
    for (size_t i = 0; i < params.size(); ++i) {
      if (!loaded[i]) continue;
      State::fields(*loaded[i], [&](const char* name, const auto&, bool required) {
        const std::string key = fmt::format("{}.{}", i, name);
        if (required && !seen.count(key))
          throw Error(msg("missing key '{}' (parameter {} has state, so it needs {})", key, i,
                          field_names(/*required_only=*/true)));
      });
    }
    state_.clear();
    for (size_t i = 0; i < params.size(); ++i)
      if (loaded[i]) state_[params[i].impl_ptr()] = std::move(*loaded[i]);
  }

  std::string owner_;  // "optimizer 'sgd'", for messages
  Options defaults_;
  std::unordered_map<std::shared_ptr<TensorImpl>, State> state_;

 private:
  std::vector<Tensor> flat_params() const {
    std::vector<Tensor> out;
    for (const ParamGroup& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
    return out;
  }

  static bool has_state(const State& s) {
    bool any = false;
    State::fields(s, [&](const char*, const auto& v, bool) {
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, Tensor>) any = any || v.defined();
    });
    return any;
  }

  /// "step, exp_avg, exp_avg_sq" (the required fields) or every field's name.
  static std::string field_names(bool required_only) {
    std::string out;
    const State none{};
    State::fields(none, [&](const char* name, const auto&, bool required) {
      if (required || !required_only) out += (out.empty() ? "" : ", ") + std::string(name);
    });
    return out;
  }

  template <class... Args>
  std::string msg(fmt::format_string<Args...> f, Args&&... args) const {
    return owner_ + ": load_state: " + fmt::format(f, std::forward<Args>(args)...);
  }

  /// "3.exp_avg" -> {3, "exp_avg"}, checking the index and the field's name.
  std::pair<size_t, std::string> parse_key(const std::string& key, size_t n) const {
    const size_t dot = key.find('.');
    const std::string digits = key.substr(0, dot),
                      field = dot == key.npos ? "" : key.substr(dot + 1);
    // Canonical indices only ("01" is not 1), so that one field has one key.
    const bool ok = !digits.empty() && digits.size() < 10 &&
                    digits.find_first_not_of("0123456789") == digits.npos &&
                    (digits.size() == 1 || digits[0] != '0') && std::stoul(digits) < n;
    bool known = false;
    const State none{};
    State::fields(none,
                  [&](const char* name, const auto&, bool) { known = known || field == name; });
    if (!ok || !known)
      throw Error(
          msg("unexpected key '{}' (keys are '<parameter index>.<name>' with an index "
              "below {} and a name among: {})",
              key, n, field_names(/*required_only=*/false)));
    return {std::stoul(digits), field};
  }

  void assign(const std::string& key, const Tensor& p, size_t i, const Tensor& t, Tensor& v) const {
    if (t.shape() != p.shape())
      throw Error(msg("'{}' has shape {}, expected {} (the shape of parameter {})", key,
                      shape_str(t.shape()), shape_str(p.shape()), i));
    if (t.dtype() != p.dtype())
      throw Error(msg("'{}' is {}, expected {} (the dtype of parameter {})", key,
                      dtype_name(t.dtype()), dtype_name(p.dtype()), i));
    v = Tensor::empty(p.shape(), p.options());  // a copy of its own, on the parameter's device
    copy_(v, t.to(p.device()));
  }

  void assign(const std::string& key, const Tensor&, size_t, const Tensor& t, int64_t& v) const {
    if (t.dim() != 0)
      throw Error(msg("'{}' has shape {}, expected [] (a step count)", key, shape_str(t.shape())));
    if (t.dtype() != DType::I64)
      throw Error(msg("'{}' is {}, expected i64 (a step count)", key, dtype_name(t.dtype())));
    v = t.to(kCPU).to_vector<int64_t>().at(0);
    if (v < 0) throw Error(msg("'{}' is {}, expected a step count >= 0", key, v));
  }
};

}  // namespace gom::optim
