// gom/layer.h — modules (layers, containers, losses) and the layer registry.
//
// A Module holds named parameters, buffers and child modules, and has a train/eval mode, like
// torch.nn.Module. Its forward is written with ops, so autograd derives the backward. A loss is
// a module whose forward takes (prediction, target).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gom/hooks.h"
#include "gom/params.h"
#include "gom/tensor.h"

namespace gom {

class BOOST_SYMBOL_VISIBLE Module : public std::enable_shared_from_this<Module> {
 public:
  virtual ~Module() = default;

  /// @brief One input -> one output. The default throws: the module takes two inputs.
  virtual Tensor forward(const Tensor& x);
  /// @brief Two inputs (a loss: prediction, target). The default throws: it takes one.
  virtual Tensor forward(const Tensor& a, const Tensor& b);
  /// @brief Several inputs (a model fed a batch with Batch::more_inputs: a wide-and-deep net's
  /// two tensors), in order. The default calls forward(x) for one input and throws for more:
  /// a module that takes several overrides it (a Lua module passes them to its Lua forward).
  virtual Tensor forward_inputs(const std::vector<Tensor>& inputs);
  /// @brief Calls the module: forward pre-hooks, forward, forward hooks, and (when backward
  /// hooks are registered and the graph is recorded) the nodes that call the backward hooks.
  /// Containers, fit and Lua call modules this way, so hooks fire wherever a module runs;
  /// forward() itself runs no hook. Without hooks it costs one pointer test over forward().
  Tensor call(const Tensor& x) { return hooks_ ? call_hooked({x}) : forward(x); }
  Tensor call(const Tensor& a, const Tensor& b) {
    return hooks_ ? call_hooked({a, b}) : forward(a, b);
  }
  Tensor call(const std::vector<Tensor>& inputs) {
    return hooks_ ? call_hooked(inputs) : forward_inputs(inputs);
  }
  /// @brief Whether a hook was ever registered on it (call() then runs the hooked path).
  bool has_hooks() const { return hooks_ != nullptr; }
  Tensor operator()(const Tensor& x) { return call(x); }
  Tensor operator()(const Tensor& a, const Tensor& b) { return call(a, b); }

  /// @brief Hooks, as PyTorch's register_forward_pre_hook, register_forward_hook and
  /// register_full_backward_hook (gom/hooks.h has their signatures). A backward hook fires for
  /// the calls made while one is registered, when the gradients w.r.t. the call's inputs are
  /// computed (at once after grad_output when no input needs a gradient).
  HookHandle register_forward_pre_hook(ForwardPreHook fn);
  HookHandle register_forward_hook(ForwardHook fn);
  HookHandle register_full_backward_hook(BackwardHook fn);

  /// @brief Number of inputs forward takes (1, or 2 for losses).
  virtual int arity() const { return 1; }

  /// @brief Registered component name ("linear"), set by the registry.
  const std::string& type() const { return type_; }
  /// @brief The validated parameters it was created with.
  const Params& params() const { return params_; }
  void set_identity(std::string type, Params params) {
    type_ = std::move(type);
    params_ = std::move(params);
  }

  /// @brief Parameters (trainable) and buffers (state such as running statistics), named
  /// "weight" or, from a container, "0.weight" — PyTorch's state_dict names.
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }

  /// @brief Parameters then buffers by name: PyTorch's state_dict, what a weights file holds.
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  /// @brief What load_state_dict found: names the model has but the source lacks, names the
  /// source has but the model lacks, and tensors of the wrong shape ("0.weight: [10, 784] in the
  /// source, [256, 784] in the model").
  struct LoadReport {
    std::vector<std::string> missing, unexpected, mismatched;
    bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
    std::string str() const;  ///< one line per problem; empty when ok()
  };
  /// @brief Copies the source's tensors into the parameters and buffers of the same name (cast
  /// to their dtype, without recording a graph). strict: any problem is a gom::Error listing
  /// every one, and nothing is copied; otherwise what matches is copied and the report returned.
  LoadReport load_state_dict(const std::vector<std::pair<std::string, Tensor>>& source,
                             bool strict = true);

  /// @brief Training mode (dropout active, batch statistics) for it and every child.
  virtual void train(bool on = true);
  void eval() { train(false); }
  /// @brief Forgets state carried between batches (a stateful recurrent layer's hidden state),
  /// here and in every child. fit calls it at the start of each training and validation pass.
  virtual void reset_state();
  bool is_training() const { return training_; }

  /// @brief One line: "linear(in=784, out=256, bias=true)"; containers list their children.
  virtual std::string repr() const;

  /// @brief Moves every parameter and buffer (and a parameter's gradient), here and in every
  /// child, to `device`, in place: each Tensor handle a layer holds sees the new memory, as
  /// PyTorch's Module.to. Throws gom::Error naming the device when it cannot run here.
  void to(Device device);
  /// @brief The device of its first parameter or buffer (the CPU when it has none).
  Device device() const;

 protected:
  /// @brief Registers a trainable tensor (marked requires_grad) and returns it.
  Tensor register_parameter(std::string name, Tensor t);
  Tensor register_buffer(std::string name, Tensor t);
  std::shared_ptr<Module> register_module(std::string name, std::shared_ptr<Module> m);

 private:
  // host/core/module_hooks.cpp: the hooks around forward_inputs.
  Tensor call_hooked(std::vector<Tensor> inputs);
  std::string type_;
  Params params_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> params_list_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::shared_ptr<ModuleHooks> hooks_;  // null until a hook is registered
};

/// @brief A module made of children given after creation (sequential, residual, parallel,
/// concat): children are named "0", "1", ... in the order added. From Lua:
/// gom.layer("residual", {}, {body, shortcut}) or container:add(m).
class BOOST_SYMBOL_VISIBLE Container : public Module {
 public:
  /// @brief Adds a child. A container that takes a fixed number of children throws a gom::Error
  /// saying how many it takes when given one too many.
  virtual void add_child(std::shared_ptr<Module> m);
  /// @brief Throws a gom::Error naming the container when it has too few children to run.
  virtual void check_children() const {}
  std::string repr() const override;  ///< "type(0: child, 1: child)"

 protected:
  /// @brief Child i called on x (with its hooks). A gom::Error in it comes out as a LayerError
  /// naming the child's path ("model.1.0 (linear): ..."), so a shape error deep in a model says
  /// where.
  Tensor forward_child(size_t i, const Tensor& x) const;
};

/// @brief A container whose children run one after another. add() returns itself for chaining:
/// seq->add(a)->add(b).
class BOOST_SYMBOL_VISIBLE Sequential : public Container {
 public:
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Sequential> add(std::shared_ptr<Module> m);
};

/// @brief A recurrent layer (rnn, lstm, gru). forward(x) runs from a zero state, or, when the
/// layer is stateful, from the final state of the previous batch with its graph cut (truncated
/// backpropagation through time); reset_state() goes back to zeros.
class BOOST_SYMBOL_VISIBLE Recurrent : public Module {
 public:
  /// @brief Runs the sequence from `state` ({h0} for rnn and gru, {h0, c0} for lstm, each
  /// [layers, B, hidden]; empty: zeros) and returns the output sequence and the final state in
  /// the same form. Gradients flow into `state` and out of the returned state.
  virtual std::pair<Tensor, std::vector<Tensor>> forward_state(const Tensor& x,
                                                               const std::vector<Tensor>& state) = 0;
};

using LayerFactory = std::function<std::shared_ptr<Module>(const Params&)>;

/// @brief Registers a layer (or loss, or container) component. Call it from a plugin's
/// registration entry; a name already registered is an error naming both libraries.
void register_layer(const std::string& name, const std::string& doc, Schema schema,
                    LayerFactory factory);

/// @brief Creates a registered layer from a config (validated against its schema).
std::shared_ptr<Module> create_layer(const std::string& name, const Config& config = {});

}  // namespace gom
