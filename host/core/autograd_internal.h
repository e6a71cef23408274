// Core-internal autograd pieces: the per-tensor metadata and the node that built-in ops record.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gom/autograd.h"

namespace gom {

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  uint32_t output_nr = 0;
  std::weak_ptr<Node> accumulator;  // the AccumulateGrad of a leaf while a graph holds it
  std::shared_ptr<HookList<GradHook>> hooks;  // a leaf's register_hook (a non-leaf's: its node's)
  bool retains_grad = false;                  // retain_grad() on a non-leaf
};

/// The hooks on a node's outputs: Tensor::register_hook per output slot, and the non-leaf
/// tensors whose .grad receives a slot's gradient (retain_grad), after those hooks ran.
struct NodeHooks {
  std::map<uint32_t, std::shared_ptr<HookList<GradHook>>> by_output;
  std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>> retained;
};

/// Accumulates into the .grad of a leaf. Holds the leaf weakly: a dead leaf needs no gradient.
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::weak_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  std::weak_ptr<TensorImpl> leaf_;
};

using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

/// The node of a built-in op: a name and a closure over what its backward needs.
class LambdaNode : public Node {
 public:
  LambdaNode(std::string name, BackwardFn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override;
  std::string name() const override { return name_; }
  void release() override { fn_ = nullptr; }

 private:
  std::string name_;
  BackwardFn fn_;
};

/// Whether recording is on and any of `inputs` requires grad.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

/// The edge through which a gradient reaches `t` (null fn when t needs none).
Edge gradient_edge(const Tensor& t);

/// Attaches `node` to `outputs` (marking them requires_grad) with edges to `inputs`.
void attach(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs);

/// Records a built-in op when needed: `fn` maps output grads to input grads.
/// Usage: if (needs_grad({&a, &b})) record("add", {a, b}, {out}, [=](auto& g) {...});
void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn fn);

}  // namespace gom
