// Module: named parameters, buffers and children; train/eval; Sequential. Optimizer basics and
// event names live here too: the small shared pieces of the component interfaces.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

#include "gom/autograd.h"
#include "gom/ops.h"
#include "gom/callback.h"
#include "gom/kernel.h"
#include "gom/layer.h"
#include "gom/optimizer.h"

namespace gom {

Tensor Module::forward(const Tensor&) {
  throw Error(fmt::format("layer '{}' takes two inputs (prediction, target), got one", type_));
}
Tensor Module::forward(const Tensor&, const Tensor&) {
  throw Error(fmt::format("layer '{}' takes one input, got two", type_));
}

Tensor Module::forward_inputs(const std::vector<Tensor>& inputs) {
  if (inputs.size() == 1) return forward(inputs[0]);
  if (inputs.size() == 2 && arity() == 2) return forward(inputs[0], inputs[1]);
  throw Error(fmt::format("layer '{}' takes {} input{}, got {}", type_,
                          arity() == 1 ? "one" : "two", arity() == 1 ? "" : "s", inputs.size()));
}

Tensor Module::register_parameter(std::string name, Tensor t) {
  if (t.is_leaf() == false) t = t.detach();
  t.requires_grad_(true);
  params_list_.emplace_back(std::move(name), t);
  return t;
}

Tensor Module::register_buffer(std::string name, Tensor t) {
  buffers_.emplace_back(std::move(name), t);
  return t;
}

std::shared_ptr<Module> Module::register_module(std::string name, std::shared_ptr<Module> m) {
  if (!m) throw Error(fmt::format("layer '{}': child '{}' is null", type_, name));
  m->train(training_);
  children_.emplace_back(std::move(name), m);
  return m;
}

namespace {
using Named = std::vector<std::pair<std::string, Tensor>>;
void collect(const Module& m, const std::string& prefix, bool recurse, bool buffers, Named& out,
             const Named& own) {
  for (const auto& [n, t] : own) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (const auto& [n, c] : m.children()) {
    const Named sub = buffers ? c->named_buffers(true) : c->named_parameters(true);
    for (const auto& [sn, t] : sub) out.emplace_back(prefix + n + "." + sn, t);
  }
}
}  // namespace

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  Named out;
  collect(*this, "", recurse, false, out, params_list_);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  Named out;
  collect(*this, "", recurse, true, out, buffers_);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::state_dict() const {
  Named out = named_parameters();
  for (auto& b : named_buffers()) out.push_back(std::move(b));
  return out;
}

std::string Module::LoadReport::str() const {
  std::string s;
  for (const auto& m : missing) s += fmt::format("missing from the source: {}\n", m);
  for (const auto& u : unexpected) s += fmt::format("not in the model: {}\n", u);
  for (const auto& m : mismatched) s += fmt::format("wrong shape: {}\n", m);
  return s;
}

Module::LoadReport Module::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& source,
                                           bool strict) {
  LoadReport r;
  std::map<std::string, Tensor> src(source.begin(), source.end());
  std::vector<std::pair<Tensor, Tensor>> copies;  // (destination, source)
  for (auto& [name, t] : state_dict()) {
    auto it = src.find(name);
    if (it == src.end()) {
      r.missing.push_back(name);
      continue;
    }
    if (it->second.shape() != t.shape())
      r.mismatched.push_back(fmt::format("{}: {} in the source, {} in the model", name,
                                         shape_str(it->second.shape()), shape_str(t.shape())));
    else
      copies.emplace_back(t, it->second);
    src.erase(it);
  }
  for (const auto& [name, t] : src) r.unexpected.push_back(name);
  if (strict && !r.ok())
    throw Error(fmt::format("layer '{}': cannot load the weights:\n{}", type_, r.str()));
  NoGrad ng;
  for (auto& [dst, from] : copies) copy_(dst, from.to(dst.device()));
  return r;
}

void Module::reset_state() {
  for (auto& [name, child] : children_) child->reset_state();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

namespace {
// Points `t`'s own TensorImpl at a copy of its data on `device`, so every handle sees the move.
void move_in_place(const Tensor& t, Device device) {
  if (!t.defined() || t.device() == device) return;
  NoGrad ng;
  const Tensor moved = t.detach().contiguous().to(device);
  TensorImpl& im = t.impl();
  im.storage = moved.storage();
  im.strides = moved.strides();
  im.offset = moved.offset();
}
}  // namespace

void Module::to(Device device) {
  if (device.type != DeviceType::CPU)
    if (std::string why = device_unavailable(device); !why.empty())
      throw Error(fmt::format("cannot move {} to {}: {}", type_.empty() ? "the model" : type_,
                              device.str(), why));
  for (auto& [name, p] : params_list_) {
    move_in_place(p, device);
    if (p.grad().defined()) move_in_place(p.grad(), device);
  }
  for (auto& [name, b] : buffers_) move_in_place(b, device);
  for (auto& [name, c] : children_) c->to(device);
}

Device Module::device() const {
  if (!params_list_.empty()) return params_list_.front().second.device();
  if (!buffers_.empty()) return buffers_.front().second.device();
  for (const auto& [name, c] : children_)
    if (!c->named_parameters().empty() || !c->named_buffers().empty()) return c->device();
  return kCPU;
}

std::string Module::repr() const {
  std::vector<std::string> parts;
  for (const auto& [k, v] : params_.values())
    if (!v.is_null()) parts.push_back(k + "=" + v.str());
  return fmt::format("{}({})", type_.empty() ? "module" : type_, fmt::join(parts, ", "));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (size_t i = 0; i < children().size(); ++i) {
    const auto& [n, c] = children()[i];
    if (c->arity() != 1)
      throw Error(
          fmt::format("sequential: child {} ('{}') takes {} inputs; a loss cannot sit "
                      "inside a sequential",
                      n, c->type(), c->arity()));
    h = forward_child(i, h);
  }
  return h;
}

std::shared_ptr<Sequential> Sequential::add(std::shared_ptr<Module> m) {
  add_child(std::move(m));
  return std::static_pointer_cast<Sequential>(shared_from_this());
}

void Container::add_child(std::shared_ptr<Module> m) {
  register_module(std::to_string(children().size()), std::move(m));
}

Tensor Container::forward_child(size_t i, const Tensor& x) const {
  const auto& [name, child] = children().at(i);
  try {
    return child->call(x);
  } catch (const LayerError& e) {  // from a container inside: its path continues ours
    throw LayerError(name + "." + e.path(), e.type(), e.detail());
  } catch (const DivergedError&) {
    throw;
  } catch (const Error& e) {
    // "linear: input of shape ..." reads "model.2 (linear): input of shape ...".
    std::string detail = e.what();
    const std::string own = child->type() + ": ";
    if (!child->type().empty() && detail.rfind(own, 0) == 0) detail.erase(0, own.size());
    throw LayerError(name, child->type().empty() ? "module" : child->type(), detail);
  }
}

std::string Container::repr() const {
  std::vector<std::string> parts;
  for (const auto& [n, c] : children()) parts.push_back(n + ": " + c->repr());
  return fmt::format("{}({})", type().empty() ? "sequential" : type(), fmt::join(parts, ", "));
}

// ---------------------------------------------------------------- optimizer basics

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.zero_grad();
}

double Optimizer::lr() const {
  if (groups_.empty()) throw Error(fmt::format("optimizer '{}' has no parameter groups", type_));
  auto it = groups_[0].options.find("lr");
  if (it == groups_[0].options.end())
    throw Error(fmt::format("optimizer '{}': parameter group 0 has no 'lr' option", type_));
  return it->second;
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_) g.options["lr"] = lr;
}

void Optimizer::load_state(const OptimizerState& state) {
  if (!state.empty())
    throw Error(
        fmt::format("optimizer '{}': load_state: unexpected key '{}' (this optimizer keeps "
                    "no state)",
                    type_, state.front().first));
}

std::vector<std::map<std::string, double>> Optimizer::group_options() const {
  std::vector<std::map<std::string, double>> out;
  for (const auto& g : groups_) out.push_back(g.options);
  return out;
}

void Optimizer::load_group_options(const std::vector<std::map<std::string, double>>& options) {
  if (options.size() != groups_.size())
    throw Error(
        fmt::format("optimizer '{}': load_group_options: got options for {} group(s), "
                    "the optimizer has {}",
                    type_, options.size(), groups_.size()));
  for (size_t i = 0; i < groups_.size(); ++i) groups_[i].options = options[i];
}

const char* event_name(Event e) {
  switch (e) {
    case Event::BeforeFit:
      return "before_fit";
    case Event::AfterFit:
      return "after_fit";
    case Event::BeforeEpoch:
      return "before_epoch";
    case Event::AfterEpoch:
      return "after_epoch";
    case Event::BeforeTrain:
      return "before_train";
    case Event::AfterTrain:
      return "after_train";
    case Event::BeforeValidate:
      return "before_validate";
    case Event::AfterValidate:
      return "after_validate";
    case Event::BeforeTest:
      return "before_test";
    case Event::AfterTest:
      return "after_test";
    case Event::BeforeBatch:
      return "before_batch";
    case Event::AfterBatch:
      return "after_batch";
    case Event::AfterForward:
      return "after_forward";
    case Event::AfterLoss:
      return "after_loss";
    case Event::AfterBackward:
      return "after_backward";
    case Event::AfterStep:
      return "after_step";
  }
  return "?";
}

}  // namespace gom
