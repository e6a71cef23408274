// Backend conformance cases (backend_ops.h): elementwise ops (unary, unary_backward, binary,
// where) and creation, copies and random streams (fill, arange, copy, random).
#include <cmath>
#include <functional>
#include <string>

#include "backend_ops.h"

namespace gom_test::backend_ops {

using gom::DType;
using gom::Generator;
using gom::Shape;

namespace {

using UnaryFn = std::function<Tensor(const Tensor&)>;

struct UnarySpec {
  const char* name;
  UnaryFn f;
  double lo, hi;  // the input range (uniform); lo == hi: small integers in [-2, 3) (zeros, ties)
  bool backward;  // its gradient goes through unary_backward (affine has a backward of its own)
  Tol tol;
};

// y = f(x) on a permuted [5, 3, 4] view of x, and the gradient of x for a random upstream.
Case unary_case(const UnarySpec& s) {
  std::vector<std::string> ops{"unary"};
  if (s.backward) ops.push_back("unary_backward");
  return {std::string("unary ") + s.name, ops, s.tol,
          [s](Generator& g) {
            Tensor x =
                s.lo == s.hi ? small_ints({4, 3, 5}, -2, 3, g) : uniform({4, 3, 5}, s.lo, s.hi, g);
            return Tensors{x, normal({5, 3, 4}, g)};
          },
          [f = s.f](const Tensors& in, Run& r) {
            Tensor x = leaf(in[0]);
            Tensor y = f(r.view(gom::permute(x, {2, 1, 0})));
            y.backward(in[1]);
            return Tensors{y, grad_of(x)};
          }};
}

std::vector<UnarySpec> unary_specs() {
  // Exact: one comparison, one product or a copy of the sign; kUlp: two roundings (fma).
  return {
      {"relu", [](const Tensor& x) { return gom::relu(x); }, -3, 3, true, kExact},
      {"sigmoid", [](const Tensor& x) { return gom::sigmoid(x); }, -8, 8, true, kTranscendental},
      {"tanh", [](const Tensor& x) { return gom::tanh(x); }, -4, 4, true, kTranscendental},
      {"exp", [](const Tensor& x) { return gom::exp(x); }, -5, 5, true, kTranscendental},
      {"log", [](const Tensor& x) { return gom::log(x); }, 0.05, 5, true, kTranscendental},
      {"sqrt", [](const Tensor& x) { return gom::sqrt(x); }, 0.05, 5, true, kUlp},
      {"abs", [](const Tensor& x) { return gom::abs(x); }, -3, 3, true, kExact},
      {"affine (linear)", [](const Tensor& x) { return gom::affine(x, 1.5, -0.25); }, -3, 3, false,
       kUlp},
      {"neg (linear)", [](const Tensor& x) { return gom::neg(x); }, -3, 3, false, kExact},
      {"pow 2.5", [](const Tensor& x) { return gom::pow(x, 2.5); }, 0.1, 3, true, kTranscendental},
      {"pow 2 of negatives", [](const Tensor& x) { return gom::pow(x, 2.0); }, -3, 3, true,
       kTranscendental},
      {"gelu", [](const Tensor& x) { return gom::gelu(x); }, -4, 4, true, kTranscendental},
      {"gelu tanh", [](const Tensor& x) { return gom::gelu(x, true); }, -4, 4, true,
       kTranscendental},
      {"leaky_relu", [](const Tensor& x) { return gom::leaky_relu(x, 0.1); }, -3, 3, true, kExact},
      {"log1p", [](const Tensor& x) { return gom::log1p(x); }, -0.9, 3, true, kTranscendental},
      {"expm1", [](const Tensor& x) { return gom::expm1(x); }, -3, 3, true, kTranscendental},
      {"sign", [](const Tensor& x) { return gom::sign(x); }, 0, 0, true, kExact},
      {"clamp", [](const Tensor& x) { return gom::clamp(x, -0.5, 0.7); }, -2, 2, true, kExact},
      {"clamp min only", [](const Tensor& x) { return gom::clamp(x, 0.25, std::nullopt); }, -2, 2,
       true, kExact},
      {"clamp max only", [](const Tensor& x) { return gom::clamp(x, std::nullopt, 0.0); }, 0, 0,
       true, kExact},
      {"elu", [](const Tensor& x) { return gom::elu(x, 0.7); }, -4, 4, true, kTranscendental},
      {"selu", [](const Tensor& x) { return gom::selu(x); }, -4, 4, true, kTranscendental},
      // beta * x passes the threshold 5 in part of the range: both branches.
      {"softplus", [](const Tensor& x) { return gom::softplus(x, 2.0, 5.0); }, -4, 4, true,
       kTranscendental},
      {"mish", [](const Tensor& x) { return gom::mish(x); }, -5, 5, true, kTranscendental},
      {"hardswish", [](const Tensor& x) { return gom::hardswish(x); }, -5, 5, true, kUlp},
      {"silu", [](const Tensor& x) { return gom::silu(x); }, -6, 6, true, kTranscendental},
  };
}

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

struct BinarySpec {
  const char* name;
  BinaryFn f;
};

const BinarySpec kBinary[] = {
    {"add", gom::add},         {"sub", gom::sub},         {"mul", gom::mul}, {"div", gom::div},
    {"maximum", gom::maximum}, {"minimum", gom::minimum}, {"eq", gom::eq},   {"ne", gom::ne},
    {"gt", gom::gt},           {"ge", gom::ge},           {"lt", gom::lt},   {"le", gom::le}};

// A binary op on [3, 4] operands given as a transposed and a step-sliced view. Small integers
// give comparisons and max/min their ties; div gets a divisor in [0.5, 2).
Case binary_strided(const BinarySpec& s) {
  const bool divide = std::string(s.name) == "div";
  // One IEEE operation or comparison per element: both backends round it the same way.
  return {std::string("binary ") + s.name + " on strided views",
          {"binary"},
          kExact,
          [divide](Generator& g) {
            return Tensors{small_ints({4, 3}, -2, 3, g),
                           divide ? uniform({3, 8}, 0.5, 2, g) : small_ints({3, 8}, -2, 3, g)};
          },
          [f = s.f](const Tensors& in, Run& r) {
            return Tensors{f(r.view(in[0].t()), r.view(in[1].slice(1, 0, 8, 2)))};
          }};
}

// A binary op broadcasting two shapes (the core expands them: stride 0 in the kernel).
Case binary_broadcast(const char* name, BinaryFn f, Shape a, Shape b) {
  return {
      std::string("binary ") + name + " broadcast " + gom::shape_str(a) + " x " + gom::shape_str(b),
      {"binary"},
      kExact,  // one operation per element, as above
      [a, b](Generator& g) {
        return Tensors{normal(a, g), uniform(b, 0.5, 2, g)};
      },
      [f](const Tensors& in, Run&) { return Tensors{f(in[0], in[1])}; }};
}

std::vector<Case> binary_cases() {
  std::vector<Case> cases;
  for (const BinarySpec& s : kBinary) cases.push_back(binary_strided(s));
  cases.push_back(binary_broadcast("add", gom::add, {3, 1}, {1, 4}));
  cases.push_back(binary_broadcast("sub", gom::sub, {2, 3, 4}, {4}));
  cases.push_back(binary_broadcast("mul", gom::mul, {1, 3}, {2, 1, 3}));
  cases.push_back(binary_broadcast("div", gom::div, {3, 1}, {1, 4}));
  cases.push_back(binary_broadcast("maximum", gom::maximum, {2, 3, 4}, {3, 1}));
  cases.push_back(binary_broadcast("lt", gom::lt, {3, 1}, {1, 4}));
  cases.push_back(binary_broadcast("add, large", gom::add, {300, 1001}, {1001}));
  cases.push_back(binary_broadcast("mul, large", gom::mul, {100003}, {100003}));
  cases.push_back({"binary with both operands expanded (stride 0)",
                   {"binary"},
                   kExact,
                   [](Generator& g) {
                     return Tensors{normal({1, 4}, g), normal({3, 1}, g)};
                   },
                   [](const Tensors& in, Run& r) {
                     const Tensor a = r.view(in[0].expand({2, 3, 4}));
                     const Tensor b = r.view(in[1].expand({2, 3, 4}));
                     return Tensors{gom::mul(a, b), gom::sub(a, b)};
                   }});
  // Gradients of broadcast operands are reduced back to their shapes (sum_to: reduce).
  cases.push_back(
      {"binary mul and div with gradients of broadcast operands",
       {"binary", "reduce"},
       kSum,
       [](Generator& g) {
         return Tensors{normal({2, 3, 4}, g), uniform({4}, 0.5, 2, g), normal({2, 3, 4}, g)};
       },
       [](const Tensors& in, Run&) {
         Tensor a = leaf(in[0]), b = leaf(in[1]);
         Tensor y = gom::div(gom::mul(a, b), b + 1.0);
         y.backward(in[2]);
         return Tensors{y, grad_of(a), grad_of(b)};
       }});
  // In place: the output is one of the inputs.
  cases.push_back({"binary in place (add_, mul_)",
                   {"binary", "unary"},
                   kUlp,  // add_ with alpha: a product and a sum
                   [](Generator& g) {
                     return Tensors{normal({3, 4}, g), normal({4, 3}, g)};
                   },
                   [](const Tensors& in, Run& r) {
                     Tensor t = in[0];
                     gom::add_(t, r.view(in[1].t()), 0.5);
                     gom::mul_(t, 1.5);
                     gom::mul_(t, r.view(in[1].t()));
                     return Tensors{t};
                   }});
  // Integer dtypes: arithmetic keeps the dtype, comparisons give f32.
  cases.push_back(
      {"binary on i64 and i32",
       {"binary"},
       kExact,
       [](Generator& g) {
         return Tensors{gom::randint(-50, 50, {3, 4}, &g), gom::randint(-5, 5, {4}, &g)};
       },
       [](const Tensors& in, Run& r) {
         const Tensor a = in[0], b = in[1];
         const Tensor a32 = a.to(DType::I32), b32 = b.to(DType::I32);
         return Tensors{gom::add(a, b),
                        gom::mul(r.view(a.t()), r.view(a.t())),
                        gom::maximum(a, b),
                        gom::gt(a, b),
                        gom::sub(a32, b32),
                        gom::mul(a32, b32),
                        gom::le(r.view(a32.t()), r.view(a32.t()))};
       }});
  return cases;
}

std::vector<Case> where_cases() {
  return {
      {"where with broadcast operands and gradients",
       {"where"},
       kExact,  // a selection; the gradients are selections of the upstream too
       [](Generator& g) {
         return Tensors{gom::gt(normal({3, 1}, g), gom::zeros({1})), normal({3, 4}, g),
                        normal({1, 4}, g), normal({3, 4}, g)};
       },
       [](const Tensors& in, Run&) {
         Tensor a = leaf(in[1]), b = leaf(in[2]);
         Tensor y = gom::where(in[0], a, b);
         y.backward(in[3]);
         return Tensors{y, grad_of(a), grad_of(b)};
       }},
      {"where on strided and expanded views, f32 and i64",
       {"where"},
       kExact,
       [](Generator& g) {
         return Tensors{gom::ge(normal({4, 3}, g), gom::zeros({1})), normal({4, 3}, g),
                        normal({1, 4}, g), gom::randint(-9, 9, {4, 3}, &g)};
       },
       [](const Tensors& in, Run& r) {
         const Tensor cond = r.view(in[0].t());
         const Tensor f = gom::where(cond, r.view(in[1].t()), r.view(in[2].expand({3, 4})));
         const Tensor i = gom::where(cond, r.view(in[3].t()), gom::zeros({3, 4}, in[3].options()));
         return Tensors{f, i, gom::masked_fill(in[1], in[0], -1e9)};
       }},
  };
}

}  // namespace

std::vector<Case> elementwise_cases() {
  std::vector<Case> cases;
  for (const UnarySpec& s : unary_specs()) cases.push_back(unary_case(s));
  // Enough elements for many blocks (and not a multiple of 4, for vectorised tails).
  cases.push_back({"unary gelu and exp, large",
                   {"unary", "unary_backward"},
                   kTranscendental,
                   [](Generator& g) {
                     return Tensors{normal({70001}, g), normal({70001}, g)};
                   },
                   [](const Tensors& in, Run&) {
                     Tensor x = leaf(in[0]);
                     Tensor y = gom::gelu(x);
                     y.backward(in[1]);
                     return Tensors{y, grad_of(x), gom::exp(in[0])};
                   }});
  for (Case& c : binary_cases()) cases.push_back(std::move(c));
  for (Case& c : where_cases()) cases.push_back(std::move(c));
  return cases;
}

std::vector<Case> creation_cases() {
  auto none = [](Generator&) { return Tensors{}; };
  std::vector<Case> cases = {
      {"fill f32, i64, i32, large",
       {"fill"},
       kExact,
       none,
       [](const Tensors&, Run& r) {
         const gom::Device d = r.device();
         return Tensors{gom::full({5, 7}, 2.5, {DType::F32, d}),
                        gom::full({4}, -7, {DType::I64, d}), gom::ones({3, 2}, {DType::I32, d}),
                        gom::zeros({100003}, {DType::F32, d})};
       }},
      // start + i * step in double, then rounded once to the dtype: exact on both.
      {"arange f32 and i64",
       {"arange"},
       kExact,
       none,
       [](const Tensors&, Run& r) {
         const gom::Device d = r.device();
         return Tensors{
             gom::arange(0, 10, 1, {DType::F32, d}), gom::arange(-3, 5, 0.5, {DType::F32, d}),
             gom::arange(1, -2, -0.3, {DType::F32, d}), gom::arange(0, 100003, 1, {DType::F32, d}),
             gom::arange(0, 50, 3, {DType::I64, d})};
       }},
      {"copy of permuted, sliced and expanded views",
       {"copy"},
       kExact,
       [](Generator& g) {
         return Tensors{normal({4, 5, 6}, g), normal({10, 8}, g), normal({3, 1}, g)};
       },
       [](const Tensors& in, Run& r) {
         return Tensors{r.view(gom::permute(in[0], {2, 0, 1})).clone(),
                        r.view(in[1].slice(0, 1, 9, 3).slice(1, 0, 8, 2)).clone(),
                        r.view(in[2].expand({3, 5})).clone()};
       }},
      // Casts truncate toward zero (C++ and CUDA alike); values stay well inside i32.
      {"copy with casts between f32, i32 and i64",
       {"copy"},
       kExact,
       [](Generator& g) {
         return Tensors{uniform({4, 6}, -50, 50, g), gom::randint(-1000, 1000, {6, 4}, &g)};
       },
       [](const Tensors& in, Run& r) {
         const Tensor f = r.view(in[0].t()), i = r.view(in[1].t());
         return Tensors{f.to(DType::I64),
                        f.to(DType::I32),
                        i.to(DType::F32),
                        i.to(DType::I32),
                        i.to(DType::I32).to(DType::I64),
                        i.clone()};
       }},
      // Transfers of strided sources in both directions, and cat (copies into slices).
      {"copy across devices from strided views, and cat",
       {"copy"},
       kExact,
       [](Generator& g) {
         return Tensors{normal({6, 4}, g), normal({2, 3}, g), normal({1, 3}, g),
                        gom::randint(0, 9, {2, 1}, &g).to(DType::F32)};
       },
       [](const Tensors& in, Run& r) {
         const Tensor down = r.view(in[0].t()).to(gom::kCPU);
         const Tensor up = r.view(down.slice(0, 0, 4, 2)).to(r.device());
         return Tensors{down, up, gom::cat({in[1], in[2]}, 0), gom::cat({in[1], in[3]}, 1)};
       }},
  };
  // The random streams depend only on (seed, offset, index): both backends give the same bits.
  cases.push_back({"random uniform, bernoulli and integers",
                   {"random"},
                   kExact,
                   none,
                   [](const Tensors&, Run& r) {
                     const gom::Device d = r.device();
                     Generator gen(42);
                     Tensor u = gom::rand({1001}, &gen, {DType::F32, d});  // offset 0
                     Tensor v = Tensor::empty({7, 9}, {DType::F32, d});
                     gom::uniform_(v, -2, 3, &gen);  // offset 1004
                     Tensor b = Tensor::empty({333}, {DType::F32, d});
                     gom::bernoulli_(b, 0.3, &gen);
                     Tensor ints = Tensor::empty({1000}, {DType::I64, d});
                     gom::run_kernel("random", {}, {ints},
                                     {{"dist", int64_t(3)},
                                      {"a", -5.0},
                                      {"b", 7.0},
                                      {"seed", int64_t(123)},
                                      {"offset", int64_t(8)}});
                     return Tensors{u, v, b, ints};
                   }});
  // Box-Muller: logf, cosf and sqrtf of CUDA and glibc differ by an ulp or two; near a root of
  // the cosine that is an absolute error of a few 1e-7 times the radius (up to ~5).
  cases.push_back({"random normal and dropout",
                   {"random"},
                   Tol{1e-5, 1e-5},
                   [](Generator& g) {
                     return Tensors{normal({64, 33}, g)};
                   },
                   [](const Tensors& in, Run& r) {
                     Generator gen(7);
                     gen.set_offset(4000);
                     Tensor n = gom::randn({5001}, &gen, {DType::F32, r.device()});
                     Tensor m = Tensor::empty({3, 5}, {DType::F32, r.device()});
                     gom::normal_(m, 2.0, 0.5, &gen);
                     return Tensors{n, m, gom::dropout(in[0], 0.25, true, &gen)};
                   }});
  return cases;
}

}  // namespace gom_test::backend_ops
