// gom/autograd.h — tape-based reverse-mode automatic differentiation.
//
// Differentiable ops record a Node that holds what its backward needs; backward() walks the
// graph from a tensor in reverse topological order, summing the gradients that reach each node
// and accumulating into the .grad of leaves that require it. Backward functions are written with
// ops, so they run on whatever backend ran the forward. By default the graph's saved tensors are
// released after one backward (retain_graph keeps them), as in PyTorch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gom/tensor.h"

namespace gom {

/// @brief Whether ops record the graph on this thread (true by default).
bool grad_enabled();
void set_grad_enabled(bool on);

/// @brief RAII guard: no graph is recorded in its scope (inference, optimizer updates).
class NoGrad {
 public:
  NoGrad() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGrad() { set_grad_enabled(prev_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};

/// @brief An input slot of a Node: the node that produced it and which of its outputs it was.
struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
};

struct NodeHooks;  // core-internal: the hooks on a node's outputs

/// @brief One recorded operation. apply() maps the gradients of its outputs to the gradients of
/// its inputs (an undefined Tensor where an input needs none).
class BOOST_SYMBOL_VISIBLE Node {
 public:
  virtual ~Node() = default;
  virtual std::vector<Tensor> apply(const std::vector<Tensor>& grad_outputs) = 0;
  virtual std::string name() const = 0;
  /// @brief Frees saved tensors after a backward without retain_graph.
  virtual void release() {}
  /// @brief Shape and options of each forward output: zeros stand in for a gradient that never
  /// arrives, and gradients are checked against them.
  struct OutputMeta {
    Shape shape;
    TensorOptions options;
  };
  std::vector<OutputMeta> outputs;
  /// @brief One edge per forward input (fn null where the input needs no gradient).
  std::vector<Edge> next;
  /// @brief Creation order; later nodes run first among those ready.
  uint64_t sequence = 0;
  /// @brief Tensor::register_hook and retain_grad of its outputs (null when none).
  std::shared_ptr<NodeHooks> hooks;
};

/// @brief Gradients of `outputs` with respect to `inputs`, without touching any .grad
/// (torch.autograd.grad). `grad_outputs` may be empty for scalar outputs.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false);

/// @brief Saved state of a custom Function between its forward and backward.
class FunctionContext {
 public:
  void save_for_backward(std::vector<Tensor> tensors) { saved_ = std::move(tensors); }
  const std::vector<Tensor>& saved() const { return saved_; }
  /// @brief Whether input `i` of the forward needs a gradient (skip work when not).
  bool needs_input_grad(size_t i) const { return i < needs_.size() && needs_[i]; }
  void release() { saved_.clear(); }
  std::vector<bool> needs_;

 private:
  std::vector<Tensor> saved_;
};

/// @brief A differentiable operation with a hand-written backward, for fused primitives
/// (oneDNN's LSTM, a fused kernel of a layer plugin). forward() runs with the graph off;
/// backward() gets one gradient per output (zeros where an output got none) and returns one per
/// input (undefined where not needed).
class BOOST_SYMBOL_VISIBLE Function {
 public:
  virtual ~Function() = default;
  virtual std::string name() const = 0;
  virtual std::vector<Tensor> forward(FunctionContext& ctx, const std::vector<Tensor>& inputs) = 0;
  virtual std::vector<Tensor> backward(FunctionContext& ctx,
                                       const std::vector<Tensor>& grad_outputs) = 0;
};

/// @brief Runs `fn` on `inputs` and records it in the graph when any input requires grad.
std::vector<Tensor> apply_function(std::shared_ptr<Function> fn, const std::vector<Tensor>& inputs);

}  // namespace gom
