// The autograd engine: graph recording helpers and the backward pass.
#include <fmt/format.h>

#include <atomic>
#include <queue>
#include <unordered_map>

#include "autograd_internal.h"
#include "gom/ops.h"

namespace gom {
namespace {
thread_local bool t_grad_enabled = true;
std::atomic<uint64_t> g_sequence{0};

AutogradMeta& meta(const Tensor& t) {
  auto& im = t.impl();
  if (!im.autograd) im.autograd = std::make_unique<AutogradMeta>();
  return *im.autograd;
}

// A new handle on the same data, without autograd state.
Tensor alias(const Tensor& t) {
  auto im = std::make_shared<TensorImpl>();
  im->storage = t.storage();
  im->shape = t.shape();
  im->strides = t.strides();
  im->offset = t.offset();
  im->dtype = t.dtype();
  return Tensor(std::move(im));
}

// Adds g into the slot, keeping the first gradient without a copy.
void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
  } else {
    slot = add(slot, g);
  }
}

// Runs the hooks of a tensor on its gradient g, each on what the previous one returned.
Tensor run_grad_hooks(const HookList<GradHook>& hooks, Tensor g, const Shape& shape) {
  for (const GradHook& fn : hooks.snapshot()) {
    Tensor r = fn(g);
    if (!r.defined()) continue;
    if (r.shape() != shape)
      throw Error(fmt::format("a tensor hook returned a gradient of shape {} for a tensor of "
                              "shape {}",
                              shape_str(r.shape()), shape_str(shape)));
    g = std::move(r);
  }
  return g;
}

// The gradients of node n's outputs are complete: its outputs' hooks may replace them, then
// retained non-leaves receive them.
void run_output_hooks(Node& n, std::vector<Tensor>& grads) {
  const std::shared_ptr<NodeHooks> hooks = n.hooks;  // a hook may register or remove others
  for (auto& [slot, list] : hooks->by_output)
    if (slot < grads.size() && grads[slot].defined())
      grads[slot] = run_grad_hooks(*list, grads[slot], n.outputs[slot].shape);
  for (const auto& [slot, weak] : hooks->retained) {
    const auto impl = weak.lock();
    if (!impl || slot >= grads.size() || !grads[slot].defined()) continue;
    AutogradMeta& m = meta(Tensor(impl));
    m.grad = m.grad.defined() ? add(m.grad, grads[slot]) : grads[slot].clone();
  }
}

}  // namespace

bool grad_enabled() {
  return t_grad_enabled;
}
void set_grad_enabled(bool on) {
  t_grad_enabled = on;
}

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

// ---------------------------------------------------------------- nodes

struct LeafAccumulator {
  std::weak_ptr<Node> node;
};

std::vector<Tensor> AccumulateGrad::apply(const std::vector<Tensor>& grads) {
  auto leaf = leaf_.lock();
  if (!leaf || !grads[0].defined()) return {};
  Tensor t(leaf);
  AutogradMeta& m = meta(t);
  Tensor hooked;  // only with hooks: an extra reference would defeat the buffer reuse below
  if (m.hooks && !m.hooks->empty()) hooked = run_grad_hooks(*m.hooks, grads[0], t.shape());
  const Tensor& g = hooked.defined() ? hooked : grads[0];
  if (!m.grad.defined()) {
    // Keep the incoming buffer when nothing else can see it; otherwise a copy, so that two
    // leaves never share one gradient tensor.
    const bool sole = g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 &&
                      g.is_contiguous() && g.shape() == t.shape();
    m.grad = sole ? alias(g) : g.clone();
  } else {
    add_(m.grad, g);
  }
  return {};
}

std::vector<Tensor> LambdaNode::apply(const std::vector<Tensor>& grads) {
  if (!fn_)
    throw Error(
        fmt::format("backward through '{}' a second time: its saved tensors were freed "
                    "after the first backward; pass retain_graph=true to the first",
                    name_));
  return fn_(grads);
}

namespace {
class FunctionNode : public Node {
 public:
  FunctionNode(std::shared_ptr<Function> fn, FunctionContext ctx)
      : fn_(std::move(fn)), ctx_(std::move(ctx)) {}
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override {
    if (released_)
      throw Error("backward through '" + fn_->name() + "' a second time without retain_graph");
    return fn_->backward(ctx_, grads);
  }
  std::string name() const override { return fn_->name(); }
  void release() override {
    ctx_.release();
    released_ = true;
  }

 private:
  std::shared_ptr<Function> fn_;
  FunctionContext ctx_;
  bool released_ = false;
};
}  // namespace

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.impl().autograd || !t.impl().autograd->requires_grad) return {};
  AutogradMeta& m = *t.impl().autograd;
  if (m.grad_fn) return {m.grad_fn, m.output_nr};
  // One accumulator per leaf while a graph holds it, so torch.autograd.grad-style capture can
  // find it and gradients from several uses are summed before touching .grad.
  if (auto n = m.accumulator.lock()) return {n, 0};
  auto n = std::make_shared<AccumulateGrad>(t.impl_ptr());
  n->outputs.push_back({t.shape(), t.options()});
  m.accumulator = n;
  return {n, 0};
}

void attach(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs) {
  node->sequence = g_sequence++;
  node->next.reserve(inputs.size());
  for (const Tensor& in : inputs) node->next.push_back(gradient_edge(in));
  node->outputs.reserve(outputs.size());
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    if (!out.defined()) {
      node->outputs.push_back({});
      continue;
    }
    node->outputs.push_back({out.shape(), out.options()});
    if (out.dtype() != DType::F32) continue;  // indices carry no gradient
    AutogradMeta& m = meta(out);
    m.requires_grad = true;
    m.grad_fn = node;
    m.output_nr = i;
  }
}

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn fn) {
  attach(std::make_shared<LambdaNode>(name, std::move(fn)), inputs, outputs);
}

std::vector<Tensor> apply_function(std::shared_ptr<Function> fn,
                                   const std::vector<Tensor>& inputs) {
  FunctionContext ctx;
  const bool record_graph = needs_grad(inputs);
  for (const Tensor& in : inputs)
    ctx.needs_.push_back(record_graph && in.defined() && in.requires_grad());
  std::vector<Tensor> outs;
  {
    NoGrad ng;
    outs = fn->forward(ctx, inputs);
  }
  // An output that is an input as-is gets its own handle, so attaching does not rewrite the input.
  for (Tensor& o : outs)
    for (const Tensor& in : inputs)
      if (o.defined() && o.same(in)) o = alias(o);
  if (record_graph) attach(std::make_shared<FunctionNode>(fn, std::move(ctx)), inputs, outs);
  return outs;
}

// ---------------------------------------------------------------- engine

namespace {

struct Task {
  Node* node;
  bool operator<(const Task& o) const { return node->sequence < o.node->sequence; }
};

// Runs the graph below `roots`. With `capture`, the gradients arriving at those (node, slot)
// pairs are returned instead of being accumulated into leaves.
std::vector<Tensor> run_backward(const std::vector<Edge>& roots,
                                 const std::vector<Tensor>& root_grads, bool retain_graph,
                                 const std::vector<Edge>* capture) {
  NoGrad ng;  // backward is not itself recorded (no higher-order gradients yet)
  std::unordered_map<Node*, int> deps;
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::vector<Node*> stack;
  for (const Edge& e : roots)
    if (e.fn && deps.emplace(e.fn.get(), 0).second) stack.push_back(e.fn.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (!e.fn) continue;
      auto [it, fresh] = deps.emplace(e.fn.get(), 0);
      ++it->second;
      if (fresh) stack.push_back(e.fn.get());
    }
  }
  auto add_grad = [&](Node* n, uint32_t slot, const Tensor& g, const std::string& from) {
    const auto& om = n->outputs.at(slot);
    if (g.shape() != om.shape)
      throw Error(
          fmt::format("backward of '{}' returned a gradient of shape {} for an input of "
                      "shape {}",
                      from, shape_str(g.shape()), shape_str(om.shape)));
    auto& buf = buffers[n];
    if (buf.empty()) buf.resize(n->outputs.size());
    accumulate(buf[slot], g);
  };
  for (size_t i = 0; i < roots.size(); ++i)
    if (roots[i].fn) add_grad(roots[i].fn.get(), roots[i].input_nr, root_grads[i], "the root");

  std::vector<Tensor> captured(capture ? capture->size() : 0);
  std::priority_queue<Task> ready;
  for (auto& [n, d] : deps)
    if (d == 0) ready.push({n});
  while (!ready.empty()) {
    Node* n = ready.top().node;
    ready.pop();
    std::vector<Tensor> grads = std::move(buffers[n]);
    buffers.erase(n);
    grads.resize(n->outputs.size());
    if (n->hooks) run_output_hooks(*n, grads);
    if (capture)
      for (size_t i = 0; i < capture->size(); ++i)
        if ((*capture)[i].fn.get() == n) {
          captured[i] = grads[(*capture)[i].input_nr];
        }
    const bool is_leaf_acc = dynamic_cast<AccumulateGrad*>(n) != nullptr;
    if (capture && is_leaf_acc) continue;  // grad() leaves every .grad alone
    for (size_t i = 0; i < grads.size(); ++i)
      if (!grads[i].defined() && !is_leaf_acc)
        grads[i] = zeros(n->outputs[i].shape, n->outputs[i].options);
    std::vector<Tensor> in_grads = n->apply(grads);
    grads.clear();
    if (!retain_graph) n->release();
    if (!is_leaf_acc && in_grads.size() != n->next.size())
      throw Error(fmt::format("backward of '{}' returned {} gradients for {} inputs", n->name(),
                              in_grads.size(), n->next.size()));
    for (size_t i = 0; i < n->next.size() && i < in_grads.size(); ++i) {
      const Edge& e = n->next[i];
      if (!e.fn) continue;
      if (in_grads[i].defined()) add_grad(e.fn.get(), e.input_nr, in_grads[i], n->name());
      if (--deps[e.fn.get()] == 0) ready.push({e.fn.get()});
    }
  }
  return captured;
}

Edge root_edge(const Tensor& t, const char* what) {
  Edge e = gradient_edge(t);
  if (!e.fn)
    throw Error(
        fmt::format("{}: the tensor does not require grad and has no grad_fn (was it "
                    "computed under NoGrad, or from tensors without requires_grad?)",
                    what));
  return e;
}

Tensor root_grad(const Tensor& t, const Tensor& g, const char* what) {
  if (g.defined()) {
    if (g.shape() != t.shape())
      throw Error(fmt::format("{}: gradient of shape {} given for a tensor of shape {}", what,
                              shape_str(g.shape()), shape_str(t.shape())));
    return g;
  }
  if (t.numel() != 1)
    throw Error(
        fmt::format("{}: a gradient can be implied only for a one-element tensor; this "
                    "one has shape {}, so pass the gradient explicitly",
                    what, shape_str(t.shape())));
  return ones(t.shape(), t.options());
}

}  // namespace

void Tensor::backward(const Tensor& g, bool retain_graph) const {
  Edge e = root_edge(*this, "backward");
  run_backward({e}, {root_grad(*this, g, "backward")}, retain_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph) {
  std::vector<Edge> roots;
  std::vector<Tensor> gs;
  for (size_t i = 0; i < outputs.size(); ++i) {
    roots.push_back(root_edge(outputs[i], "grad"));
    gs.push_back(
        root_grad(outputs[i], i < grad_outputs.size() ? grad_outputs[i] : Tensor(), "grad"));
  }
  std::vector<Edge> capture;
  for (const Tensor& in : inputs) {
    Edge e = gradient_edge(in);
    if (!e.fn) throw Error("grad: one of the inputs does not require grad");
    capture.push_back(e);
  }
  return run_backward(roots, gs, retain_graph, &capture);
}

// ---------------------------------------------------------------- Tensor's autograd methods

bool Tensor::requires_grad() const {
  return impl().autograd && impl().autograd->requires_grad;
}

Tensor& Tensor::requires_grad_(bool on) {
  if (!is_leaf())
    throw Error("requires_grad_: only leaf tensors can change it; this one was computed by '" +
                grad_fn()->name() + "' (use detach() to get a leaf)");
  if (on && dtype() != DType::F32)
    throw Error(std::string("requires_grad_: only floating-point tensors can require gradients, "
                            "this one is ") +
                dtype_name(dtype()));
  meta(*this).requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  return impl().autograd ? impl().autograd->grad : Tensor();
}
void Tensor::set_grad(const Tensor& g) const {
  if (g.defined() && (g.shape() != shape() || g.dtype() != dtype() || g.device() != device()))
    throw Error(
        fmt::format("set_grad: a gradient of shape {} ({}, {}) for a tensor of shape {} "
                    "({}, {})",
                    shape_str(g.shape()), dtype_name(g.dtype()), g.device().str(),
                    shape_str(shape()), dtype_name(dtype()), device().str()));
  meta(*this).grad = g;
}
void Tensor::zero_grad() const {
  if (impl().autograd) impl().autograd->grad = Tensor();
}
bool Tensor::is_leaf() const {
  return !impl().autograd || !impl().autograd->grad_fn;
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return impl().autograd ? impl().autograd->grad_fn : none;
}

Tensor Tensor::detach() const {
  return alias(*this);
}

namespace {
void check_hookable(const Tensor& t, const char* what) {
  if (!t.requires_grad())
    throw Error(fmt::format("{}: the tensor does not require grad, so no gradient is computed "
                            "for it (call requires_grad_() on a leaf, or use a tensor computed "
                            "from one)",
                            what));
}
}  // namespace

void Tensor::retain_grad() const {
  check_hookable(*this, "retain_grad");
  AutogradMeta& m = meta(*this);
  if (!m.grad_fn || m.retains_grad) return;
  if (!m.grad_fn->hooks) m.grad_fn->hooks = std::make_shared<NodeHooks>();
  m.grad_fn->hooks->retained.emplace_back(m.output_nr, impl_ptr());
  m.retains_grad = true;
}

bool Tensor::retains_grad() const {
  return impl().autograd && impl().autograd->retains_grad;
}

HookHandle Tensor::register_hook(GradHook fn) const {
  check_hookable(*this, "register_hook");
  AutogradMeta& m = meta(*this);
  std::shared_ptr<HookList<GradHook>>* list = &m.hooks;
  if (m.grad_fn) {
    if (!m.grad_fn->hooks) m.grad_fn->hooks = std::make_shared<NodeHooks>();
    list = &m.grad_fn->hooks->by_output[m.output_nr];
  }
  if (!*list) *list = std::make_shared<HookList<GradHook>>();
  return (*list)->add(std::move(fn), *list);
}

}  // namespace gom
