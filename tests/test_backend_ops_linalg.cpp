// Backend conformance cases (backend_ops.h): reductions (reduce, argmax, argmin, cumsum),
// matmul, and sort, svd and triangle.
#include <cmath>
#include <string>
#include <utility>

#include "backend_ops.h"

namespace gom_test::backend_ops {

using gom::DType;
using gom::Generator;
using gom::Shape;

namespace {

// Max and min are reachable only through the reduce kernel itself (gom::max is argmax +
// gather): called with an output of the keepdim shape, prepared here as the core would.
Tensor reduce_kernel(const Tensor& x, gom::ReduceOp op, const Shape& keep) {
  Tensor out = Tensor::empty(keep, x.options());
  gom::run_kernel("reduce", {x}, {out}, {{"op", int64_t(op)}});
  return out;
}

// NaN at a few places of an input, for the ops that define what NaN does.
Tensor with_nans(Tensor x) {
  float* p = x.data<float>();
  for (int64_t i = 3; i < x.numel(); i += 17) p[i] = NAN;
  return x;
}

// U diag(S) Vh (the first K columns of U and rows of Vh), U^T U and Vh Vh^T: what an svd must
// give whatever the signs of its singular vectors.
Tensors svd_checks(const Tensors& out) {
  const Tensor &U = out[0], &S = out[1], &Vh = out[2];
  const int64_t k = S.size(-1);
  const Tensor Uk = U.slice(-1, 0, k), Vk = Vh.slice(-2, 0, k);
  const Tensor recon = gom::matmul(gom::mul(Uk, S.unsqueeze(-2)), Vk);
  return {recon, S, gom::matmul(gom::transpose(U, -1, -2), U),
          gom::matmul(Vh, gom::transpose(Vh, -1, -2))};
}

// The sorted values, and the input at the returned indices (which must be those values).
Tensors sort_checks(const Tensors& out, int64_t dim) {
  return {out[0], gom::gather(out[2], dim, out[1])};
}

Case sort_case(std::string name, Shape shape, int64_t dim, bool descending, int64_t k, bool nans,
               bool transposed) {
  return {std::move(name),
          {"sort"},
          kExact,  // a permutation of the input: no arithmetic
          [=](Generator& g) {
            Tensor x = small_ints(shape, -20, 20, g);  // ties
            return Tensors{nans ? with_nans(x) : x};
          },
          [=](const Tensors& in, Run& r) {
            const Tensor x = transposed ? r.view(in[0].transpose(0, 1)) : in[0];
            const gom::ValuesIndices v =
                k < 0 ? gom::sort(x, dim, descending) : gom::topk(x, k, dim, !descending);
            return Tensors{v.values, v.indices, x};
          },
          [dim](const Tensors& out) { return sort_checks(out, dim); }};
}

}  // namespace

std::vector<Case> reduction_cases() {
  using gom::ReduceOp;
  // Sums of 1000+ terms (order of summation differs: sequential loop, tree, atomics).
  constexpr Tol kLongSum{1e-4, 1e-4};
  return {
      {"reduce sum and mean over dims, keepdim or not",
       {"reduce"},
       kSum,
       [](Generator& g) {
         return Tensors{normal({2, 3, 4}, g)};
       },
       [](const Tensors& in, Run&) {
         const Tensor& x = in[0];
         return Tensors{gom::sum(x, {1}), gom::sum(x, {0, 2}, true), gom::sum(x), gom::mean(x, {0}),
                        gom::mean(x),     gom::mean(x, {-1}, true)};
       }},
      {"reduce sum and mean of permuted and expanded views",
       {"reduce"},
       kSum,
       [](Generator& g) {
         return Tensors{normal({2, 3, 4}, g), normal({1, 4}, g)};
       },
       [](const Tensors& in, Run& r) {
         const Tensor p = r.view(gom::permute(in[0], {2, 0, 1}));  // [4, 2, 3]
         const Tensor e = r.view(in[1].expand({3, 4}));            // stride 0 in dim 0
         return Tensors{gom::sum(p, {0}), gom::mean(p, {1, 2}), gom::sum(e, {1}), gom::sum(e, {0}),
                        gom::mean(e)};
       }},
      {"reduce sum and mean, large",
       {"reduce"},
       kLongSum,
       [](Generator& g) {
         // and a bias gradient's shape: few long columns (a block per column on CUDA)
         return Tensors{uniform({300, 1001}, -1, 1, g), uniform({5000, 10}, -1, 1, g)};
       },
       [](const Tensors& in, Run&) {
         return Tensors{gom::sum(in[0], {1}), gom::sum(in[0], {0}), gom::mean(in[0]),
                        gom::sum(in[1], {0}), gom::mean(in[1], {0}, true)};
       }},
      {"reduce max and min (the kernel, with strided inputs and ties)",
       {"reduce"},
       kExact,  // a selection
       [](Generator& g) {
         return Tensors{small_ints({5, 4, 3}, -3, 4, g), normal({40, 300}, g)};
       },
       [](const Tensors& in, Run& r) {
         const Tensor x = r.view(gom::permute(in[0], {2, 1, 0}));  // [3, 4, 5]
         return Tensors{reduce_kernel(x, ReduceOp::Max, {3, 1, 5}),
                        reduce_kernel(x, ReduceOp::Min, {1, 4, 1}),
                        reduce_kernel(x, ReduceOp::Max, {1, 1, 1}),
                        reduce_kernel(in[1], ReduceOp::Min, {40, 1}),
                        reduce_kernel(in[1], ReduceOp::Max, {1, 300})};
       }},
      // Ties: the first extremum wins; NaN beats everything.
      {"argmax, argmin and max with ties, NaN and strided inputs",
       {"argmax", "argmin", "gather", "scatter_add"},
       kExact,
       [](Generator& g) {
         return Tensors{small_ints({4, 5, 6}, -2, 3, g), with_nans(normal({6, 7}, g)),
                        normal({3, 5000}, g), normal({4, 6}, g), normal({5000, 3}, g)};
       },
       [](const Tensors& in, Run& r) {
         const Tensor t = r.view(gom::permute(in[0], {1, 2, 0}));  // [5, 6, 4]
         Tensor x = leaf(in[0]);
         Tensor m = gom::max(x, 1);
         m.backward(in[3]);
         return Tensors{gom::argmax(t, 0),
                        gom::argmax(t, 1, true),
                        gom::argmin(t, 2),
                        gom::argmin(t, 0, true),
                        gom::argmax(in[1], 1),
                        gom::argmin(in[1], 0),
                        gom::argmax(in[2], 1),
                        gom::argmin(in[2], 1),
                        gom::argmax(in[4], 0),  // few long columns
                        gom::argmin(in[4], 0),
                        m,
                        grad_of(x)};
       }},
      {"cumsum over each dim with gradients (reverse), and of i64",
       {"cumsum"},
       kSum,
       [](Generator& g) {
         return Tensors{normal({3, 4, 5}, g), normal({3, 4, 5}, g),
                        gom::randint(-100, 100, {4, 6}, &g)};
       },
       [](const Tensors& in, Run& r) {
         Tensor x = leaf(in[0]);
         Tensor y = gom::cumsum(x, 1);
         y.backward(in[1]);
         return Tensors{y, grad_of(x), gom::cumsum(r.view(gom::permute(in[0], {2, 0, 1})), 0),
                        gom::cumsum(in[0], 2), gom::cumsum(r.view(in[2].t()), 1)};
       }},
      // Partial sums up to ~50 whose sequential rounding errors (~1e-4 after 3000 terms) a
      // parallel scan does not repeat.
      {"cumsum, long lines",
       {"cumsum"},
       Tol{1e-4, 1e-3},
       [](Generator& g) {
         return Tensors{uniform({2, 3000}, -1, 1, g)};
       },
       [](const Tensors& in, Run&) {
         return Tensors{gom::cumsum(in[0], 1), gom::cumsum(in[0], 0)};
       }},
  };
}

std::vector<Case> matmul_cases() {
  const Tol tol = matmul_tol();
  auto mm = [tol](std::string name, Shape a, Shape b) {
    return Case{"matmul " + name + " " + gom::shape_str(a) + " x " + gom::shape_str(b),
                {"matmul"},
                tol,
                [a, b](Generator& g) {
                  return Tensors{normal(a, g), normal(b, g)};
                },
                [](const Tensors& in, Run&) { return Tensors{gom::matmul(in[0], in[1])}; }};
  };
  std::vector<Case> cases = {
      mm("2-d", {3, 4}, {4, 5}),
      mm("batched", {2, 3, 4}, {2, 4, 5}),
      mm("broadcast batch (stride 0)", {2, 3, 4}, {4, 5}),
      mm("broadcast left batch", {3, 4}, {2, 4, 2}),
      mm("vector x matrix", {4}, {4, 5}),
      mm("matrix x vector", {3, 4}, {4}),
      mm("large", {64, 96}, {96, 80}),
      mm("large batched", {4, 33, 65}, {4, 65, 17}),
      mm("long K", {16, 150}, {150, 24}),
  };
  cases.push_back(
      {"matmul of transposed, sliced and expanded operands",
       {"matmul"},
       tol,
       [](Generator& g) {
         return Tensors{normal({4, 3}, g), normal({5, 4}, g), normal({8, 4}, g), normal({4, 5}, g)};
       },
       [](const Tensors& in, Run& r) {
         const Tensor at = r.view(in[0].t()), bt = r.view(in[1].t());
         const Tensor rows = r.view(in[2].slice(0, 0, 8, 3));  // [3, 4], row stride 12
         const Tensor be = r.view(in[3].expand({2, 4, 5}));
         return Tensors{gom::matmul(at, in[3]), gom::matmul(at, bt), gom::matmul(rows, bt),
                        gom::matmul(at, be)};
       }});
  cases.push_back({"matmul and linear (bias) with gradients",
                   {"matmul", "reduce"},
                   tol,
                   [](Generator& g) {
                     return Tensors{normal({2, 3, 4}, g), normal({4, 5}, g), normal({2, 3, 5}, g),
                                    normal({4, 3}, g),    normal({5, 3}, g), normal({5}, g),
                                    normal({5, 4}, g)};
                   },
                   [](const Tensors& in, Run&) {
                     Tensor a = leaf(in[0]), b = leaf(in[1]);
                     Tensor y = gom::matmul(a, b);
                     y.backward(in[2]);
                     Tensor x = leaf(in[3]), w = leaf(in[4]), bias = leaf(in[5]);
                     Tensor z = gom::linear(x, w, bias);
                     Tensor w4 = leaf(in[6]);
                     Tensor z3 = gom::linear(in[0], w4, bias);  // [2, 3, 4] input: flattened
                     (gom::sum(z) + gom::sum(gom::mul(z3, z3))).backward();
                     return Tensors{y,          grad_of(a), grad_of(b),    z,          z3,
                                    grad_of(x), grad_of(w), grad_of(bias), grad_of(w4)};
                   }});
  return cases;
}

std::vector<Case> sort_linalg_cases() {
  std::vector<Case> cases = {
      sort_case("sort ascending along the last dim, ties", {4, 9}, -1, false, -1, false, false),
      sort_case("sort descending along dim 0, ties", {7, 5}, 0, true, -1, false, false),
      sort_case("sort with NaN (largest)", {3, 40}, 1, false, -1, true, false),
      sort_case("sort descending with NaN", {3, 40}, 1, true, -1, true, false),
      sort_case("sort of a transposed view", {6, 5}, 1, false, -1, false, true),
      sort_case("topk largest 3", {5, 12}, 1, true, 3, false, false),
      sort_case("topk smallest 4 along dim 0", {10, 6}, 0, false, 4, false, false),
      sort_case("sort, long lines", {3, 3000}, 1, false, -1, false, false),
  };
  // Singular vectors are unique only up to sign: compare U diag(S) Vh, S, U^T U and Vh Vh^T. Both
  // sides are within ~1e-6 of exact (an SVD's backward error), so 1e-4 leaves room.
  // `shape` is the svd's input, a transposed view of the stored tensor.
  auto svd_case = [](std::string name, Shape shape, bool full) {
    Shape stored = shape;
    std::swap(stored[stored.size() - 1], stored[stored.size() - 2]);
    return Case{"svd " + name + " " + gom::shape_str(shape),
                {"svd"},
                Tol{1e-4, 1e-4},
                [stored](Generator& g) { return Tensors{normal(stored, g)}; },
                [full](const Tensors& in, Run& r) {
                  const gom::Svd s = gom::svd(r.view(in[0].transpose(-1, -2)), full);
                  return Tensors{s.U, s.S, s.Vh};
                },
                svd_checks};
  };
  cases.push_back(svd_case("tall", {5, 3}, false));
  cases.push_back(svd_case("wide", {3, 5}, false));
  cases.push_back(svd_case("batched square", {2, 4, 4}, false));
  cases.push_back(svd_case("full matrices, tall", {6, 3}, true));
  cases.push_back(svd_case("full matrices, wide", {3, 6}, true));
  cases.push_back(svd_case("larger", {40, 24}, false));
  cases.push_back({"triangle: tril and triu with diagonals, batched and strided, -inf and NaN",
                   {"triangle"},
                   kExact,  // a selection
                   [](Generator& g) {
                     Tensor x = with_nans(normal({2, 5, 4}, g));
                     x.data<float>()[1] = -INFINITY;
                     return Tensors{x};
                   },
                   [](const Tensors& in, Run& r) {
                     const Tensor t = r.view(in[0].transpose(1, 2));  // [2, 4, 5]
                     return Tensors{gom::tril(t),         gom::triu(t),
                                    gom::tril(t, -1),     gom::triu(t, 2),
                                    gom::triu(in[0], -2), gom::tril(gom::select(in[0], 0, 1), 1)};
                   }});
  return cases;
}

}  // namespace gom_test::backend_ops
