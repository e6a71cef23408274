// Elementwise ops: unary, binary with broadcasting, comparisons and in-place updates.
#include <fmt/format.h>

#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

Tensor run_unary(const Tensor& a, UnaryOp op, double alpha = 0, double beta = 0) {
  Tensor out = empty_as(a.shape(), a);
  run_kernel("unary", {a}, {out}, {{"op", int64_t(op)}, {"alpha", alpha}, {"beta", beta}});
  return out;
}

Tensor unary_backward(const Tensor& g, const Tensor& saved, UnaryOp op, double alpha = 0) {
  Tensor out = empty_as(g.shape(), g);
  run_kernel("unary_backward", {g, saved}, {out}, {{"op", int64_t(op)}, {"alpha", alpha}});
  return out;
}

// A unary op whose backward reads its output (save_out) or its input.
Tensor unary(const Tensor& a, UnaryOp op, const char* name, bool save_out, double alpha = 0) {
  check_float(a, name, "input");
  Tensor out = run_unary(a, op, alpha);
  if (needs_grad({&a})) {
    Tensor saved = save_out ? out.detach() : a;
    record(name, {a}, {out}, [saved, op, alpha](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{unary_backward(g[0], saved, op, alpha)};
    });
  }
  return out;
}

Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op, const char* name) {
  check_same_device(a, b, name);
  if (a.dtype() != b.dtype())
    throw Error(fmt::format("{}: dtypes differ ({} and {}); convert one with .to()", name,
                            dtype_name(a.dtype()), dtype_name(b.dtype())));
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  const bool compare = op >= BinaryOp::Eq;
  Tensor out = Tensor::empty(shape, {compare ? DType::F32 : a.dtype(), a.device()});
  run_kernel("binary", {raw_expand(a, shape), raw_expand(b, shape)}, {out}, {{"op", int64_t(op)}});
  return out;
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(fmt::format("{}: shapes {} and {} do not broadcast (dimension {}: {} vs {})", op,
                              shape_str(a), shape_str(b), i, da, db));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, BinaryOp::Add, "add");
  if (needs_grad({&a, &b}))
    record("add", {a, b}, {out}, [sa = a.shape(), sb = b.shape()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{sum_to(g[0], sa), sum_to(g[0], sb)};
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, BinaryOp::Sub, "sub");
  if (needs_grad({&a, &b}))
    record("sub", {a, b}, {out},
           [sa = a.shape(), sb = b.shape(), rb = b.requires_grad()](const std::vector<Tensor>& g) {
             return std::vector<Tensor>{sum_to(g[0], sa), rb ? sum_to(neg(g[0]), sb) : Tensor()};
           });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, BinaryOp::Mul, "mul");
  if (needs_grad({&a, &b}))
    record("mul", {a, b}, {out},
           [a, b, ra = a.requires_grad(), rb = b.requires_grad()](const std::vector<Tensor>& g) {
             return std::vector<Tensor>{ra ? sum_to(mul(g[0], b), a.shape()) : Tensor(),
                                        rb ? sum_to(mul(g[0], a), b.shape()) : Tensor()};
           });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, BinaryOp::Div, "div");
  if (needs_grad({&a, &b}))
    record("div", {a, b}, {out},
           [sa = a.shape(), b, out = out.detach(),
            rb = b.requires_grad()](const std::vector<Tensor>& g) {
             Tensor ga = div(g[0], b);
             // d(a/b)/db = -a/b^2 = -(a/b)/b
             Tensor gb = rb ? sum_to(neg(mul(g[0], div(out, b))), b.shape()) : Tensor();
             return std::vector<Tensor>{sum_to(ga, sa), gb};
           });
  return out;
}

// Ties send half the gradient each way, as PyTorch does.
static Tensor extremum(const Tensor& a, const Tensor& b, BinaryOp op, const char* name) {
  Tensor out = binary(a, b, op, name);
  if (needs_grad({&a, &b}))
    record(name, {a, b}, {out}, [a, b, op](const std::vector<Tensor>& g) {
      Tensor win = op == BinaryOp::Max ? gt(a, b) : lt(a, b);
      Tensor wa = add(win, mul(eq(a, b), 0.5));
      Tensor ga = mul(g[0], wa);
      Tensor gb = mul(g[0], affine(wa, -1.0, 1.0));
      return std::vector<Tensor>{sum_to(ga, a.shape()), sum_to(gb, b.shape())};
    });
  return out;
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return extremum(a, b, BinaryOp::Max, "maximum");
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return extremum(a, b, BinaryOp::Min, "minimum");
}

Tensor eq(const Tensor& a, const Tensor& b) {
  return binary(a, b, BinaryOp::Eq, "eq");
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return binary(a, b, BinaryOp::Ne, "ne");
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return binary(a, b, BinaryOp::Gt, "gt");
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return binary(a, b, BinaryOp::Ge, "ge");
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return binary(a, b, BinaryOp::Lt, "lt");
}
Tensor le(const Tensor& a, const Tensor& b) {
  return binary(a, b, BinaryOp::Le, "le");
}

Tensor affine(const Tensor& a, double alpha, double beta) {
  check_float(a, "affine", "input");
  Tensor out = run_unary(a, UnaryOp::Linear, alpha, beta);
  if (needs_grad({&a}))
    record("affine", {a}, {out}, [alpha](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{affine(g[0], alpha, 0.0)};
    });
  return out;
}
Tensor add(const Tensor& a, double b) {
  return affine(a, 1.0, b);
}
Tensor mul(const Tensor& a, double b) {
  return affine(a, b, 0.0);
}
Tensor neg(const Tensor& a) {
  return affine(a, -1.0, 0.0);
}

Tensor pow(const Tensor& a, double e) {
  return unary(a, UnaryOp::Pow, "pow", false, e);
}
Tensor relu(const Tensor& a) {
  return unary(a, UnaryOp::Relu, "relu", true);
}
Tensor sigmoid(const Tensor& a) {
  return unary(a, UnaryOp::Sigmoid, "sigmoid", true);
}
Tensor tanh(const Tensor& a) {
  return unary(a, UnaryOp::Tanh, "tanh", true);
}
Tensor exp(const Tensor& a) {
  return unary(a, UnaryOp::Exp, "exp", true);
}
Tensor log(const Tensor& a) {
  return unary(a, UnaryOp::Log, "log", false);
}
Tensor sqrt(const Tensor& a) {
  return unary(a, UnaryOp::Sqrt, "sqrt", true);
}
Tensor abs(const Tensor& a) {
  return unary(a, UnaryOp::Abs, "abs", false);
}
// Both backward passes read the input: gelu's derivative needs x, and a negative slope would
// flip the sign of the output that leaky_relu's could otherwise read.
Tensor gelu(const Tensor& a, bool approximate_tanh) {
  return unary(a, approximate_tanh ? UnaryOp::GeluTanh : UnaryOp::Gelu, "gelu", false);
}
Tensor leaky_relu(const Tensor& a, double negative_slope) {
  return unary(a, UnaryOp::LeakyRelu, "leaky_relu", false, negative_slope);
}

// ---------------------------------------------------------------- in place

static void check_inplace(const Tensor& t, const Tensor* other, const char* op) {
  if (other) {
    check_same_device(t, *other, op);
    if (broadcast_shapes(t.shape(), other->shape(), op) != t.shape())
      throw Error(
          fmt::format("{}: a tensor of shape {} cannot be updated in place with one of "
                      "shape {} (the result would be larger)",
                      op, shape_str(t.shape()), shape_str(other->shape())));
  }
  if (grad_enabled() && t.requires_grad())
    throw Error(
        fmt::format("{}: in-place update of a tensor that requires grad while the graph "
                    "is recorded; do it under NoGrad (as optimizers do)",
                    op));
}

Tensor& add_(Tensor& t, const Tensor& other, double alpha) {
  check_inplace(t, &other, "add_");
  const Tensor o = alpha == 1.0 ? other : affine(other, alpha, 0.0);
  run_kernel("binary", {t, raw_expand(o, t.shape())}, {t}, {{"op", int64_t(BinaryOp::Add)}});
  return t;
}

Tensor& mul_(Tensor& t, double s) {
  check_inplace(t, nullptr, "mul_");
  run_kernel("unary", {t}, {t}, {{"op", int64_t(UnaryOp::Linear)}, {"alpha", s}, {"beta", 0.0}});
  return t;
}

Tensor& mul_(Tensor& t, const Tensor& other) {
  check_inplace(t, &other, "mul_");
  run_kernel("binary", {t, raw_expand(other, t.shape())}, {t}, {{"op", int64_t(BinaryOp::Mul)}});
  return t;
}

}  // namespace gom
