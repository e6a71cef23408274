// residual, parallel, concat: containers whose children all see the same input (ResNet blocks,
// multi-branch blocks, Inception/DenseNet-style concatenation). Children are added after
// creation (gom.layer("residual", {}, {body, shortcut}) or add_child).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gom/layer.h"
#include "gom/ops.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

namespace {

// What the three share: a child runs on one input (a loss cannot be a branch), and the repr
// shows the container's parameters before its children.
class Branches : public Container {
 protected:
  Tensor run_child(size_t i, const Tensor& x) const {
    const auto& [name, child] = children()[i];
    if (child->arity() != 1)
      throw Error(fmt::format("{}: child {} ('{}') takes {} inputs; a loss cannot be a branch",
                              type(), name, child->type(), child->arity()));
    return forward_child(i, x);
  }

 public:
  std::string repr() const override {
    std::vector<std::string> parts;
    for (const auto& [k, v] : params().values())
      if (!v.is_null()) parts.push_back(k + "=" + v.str());
    for (const auto& [n, c] : children()) parts.push_back(n + ": " + c->repr());
    return fmt::format("{}({})", type(), fmt::join(parts, ", "));
  }
};

// body(x) + shortcut(x) (the identity when there is no shortcut), then the activation.
class Residual : public Branches {
 public:
  explicit Residual(const Params& p) : relu_(p.s("activation") == "relu") {}

  void add_child(std::shared_ptr<Module> m) override {
    if (children().size() == 2)
      throw Error("residual: takes 1 or 2 children (body, then an optional shortcut), got a third");
    Container::add_child(std::move(m));
  }
  void check_children() const override {
    if (children().empty())
      throw Error("residual: has no children; it takes 1 or 2 (body, then an optional shortcut)");
  }

  Tensor forward(const Tensor& x) override {
    check_children();
    const Tensor body = run_child(0, x);
    const bool projected = children().size() == 2;
    const Tensor shortcut = projected ? run_child(1, x) : x;
    if (body.shape() != shortcut.shape()) {
      if (projected)
        throw Error(fmt::format(
            "residual: the body gives shape {} but the shortcut gives {}; they are added, so the "
            "shortcut must project the input to the body's shape",
            shape_str(body.shape()), shape_str(shortcut.shape())));
      throw Error(fmt::format(
          "residual: the body gives shape {} but the input is {}; the identity shortcut only "
          "fits a body that keeps the shape: add a projection shortcut as second child (a "
          "linear, or a conv2d with kernel 1 and the body's stride) mapping the input to {}",
          shape_str(body.shape()), shape_str(x.shape()), shape_str(body.shape())));
    }
    const Tensor sum = add(body, shortcut);
    return relu_ ? relu(sum) : sum;
  }

 private:
  bool relu_;
};

// The outputs of every child on the same input, summed.
class Parallel : public Branches {
 public:
  void check_children() const override {
    if (children().empty())
      throw Error("parallel: has no children; it takes at least 1 (the branches to sum)");
  }
  Tensor forward(const Tensor& x) override {
    check_children();
    Tensor out = run_child(0, x);
    for (size_t i = 1; i < children().size(); ++i) {
      const Tensor y = run_child(i, x);
      if (y.shape() != out.shape())
        throw Error(fmt::format(
            "parallel: branch {} gives shape {} but branch 0 gives {}; the branches' outputs "
            "are summed and must agree in shape",
            i, shape_str(y.shape()), shape_str(out.shape())));
      out = add(out, y);
    }
    return out;
  }
};

// The outputs of every child on the same input, joined along `dim`.
class Concat : public Branches {
 public:
  explicit Concat(const Params& p) : dim_(p.i("dim")) {}
  void check_children() const override {
    if (children().empty())
      throw Error("concat: has no children; it takes at least 1 (the branches to join)");
  }
  Tensor forward(const Tensor& x) override {
    check_children();
    std::vector<Tensor> outs;
    for (size_t i = 0; i < children().size(); ++i) outs.push_back(run_child(i, x));
    const int64_t rank = outs[0].dim();
    if (dim_ < -rank || dim_ >= rank)
      throw Error(
          fmt::format("concat: dim {} is out of range for outputs of shape {} (accepted: "
                      "{} to {})",
                      dim_, shape_str(outs[0].shape()), -rank, rank - 1));
    const int64_t d = dim_ < 0 ? dim_ + rank : dim_;
    for (size_t i = 1; i < outs.size(); ++i) {
      bool fits = outs[i].dim() == rank;
      for (int64_t k = 0; fits && k < rank; ++k)
        fits = k == d || outs[i].shape()[k] == outs[0].shape()[k];
      if (!fits)
        throw Error(fmt::format(
            "concat: branch {} gives shape {} but branch 0 gives {}; they must agree in every "
            "dim but dim {}, along which they are joined",
            i, shape_str(outs[i].shape()), shape_str(outs[0].shape()), dim_));
    }
    return outs.size() == 1 ? outs[0] : cat(outs, d);
  }

 private:
  int64_t dim_;
};

}  // namespace

void register_containers() {
  Schema r;
  r.choice("activation", {"none", "relu"}, "applied after the sum (relu: a ResNet block)")
      .def("none");
  register_layer("residual",
                 "body(x) + shortcut(x), the identity when there is no shortcut; children: body "
                 "[, shortcut]",
                 std::move(r), [](const Params& p) { return std::make_shared<Residual>(p); });
  register_layer("parallel", "runs every child on the same input and sums the outputs", Schema{},
                 [](const Params&) { return std::make_shared<Parallel>(); });
  Schema c;
  c.integer("dim", "the dim along which the outputs are joined (1: channels)").def(1);
  register_layer("concat", "runs every child on the same input and joins the outputs along dim",
                 std::move(c), [](const Params& p) { return std::make_shared<Concat>(p); });
}

}  // namespace gom_layers
