// Backend conformance cases (backend_ops.h): softmax, log_softmax and nll_loss (with their
// backwards), and the indexing ops (gather, scatter_add, index_select, index_add).
#include <cmath>
#include <string>
#include <utility>

#include "backend_ops.h"

namespace gom_test::backend_ops {

using gom::DType;
using gom::Generator;
using gom::Shape;

namespace {

using SoftmaxFn = Tensor (*)(const Tensor&, int64_t);

// y = f(x, dim) and the gradient of x for a random upstream (the backward kernel).
Case softmax_case(const char* op, SoftmaxFn f, Shape shape, int64_t dim, bool transposed,
                  bool masked) {
  std::string name = std::string(op) + " over dim " + std::to_string(dim) + " of " +
                     gom::shape_str(shape) + (transposed ? ", transposed view" : "") +
                     (masked ? ", with -inf entries" : "");
  return {std::move(name),
          {op, std::string(op) + "_backward"},
          kSum,  // an exp and a sum over the line (up to 3000 terms of magnitude < 1)
          [=](Generator& g) {
            Shape stored = shape;
            if (transposed) std::swap(stored[0], stored[1]);
            Tensor x = normal(stored, g, 2.0);
            if (masked)  // attention masks: -inf at some entries, never a whole line
              x = gom::masked_fill(x, gom::gt(uniform(stored, 0, 1, g), gom::full({1}, 0.7)),
                                   -INFINITY);
            return Tensors{x, normal(shape, g)};
          },
          [=](const Tensors& in, Run& r) {
            Tensor x = leaf(in[0]);
            Tensor y = f(transposed ? r.view(x.transpose(0, 1)) : x, dim);
            y.backward(in[1]);
            return Tensors{y, grad_of(x)};
          }};
}

// cross_entropy (log_softmax + nll_loss) and nll_loss itself, with gradients.
Case nll_case(std::string name, Shape logits, int64_t ignore_index, gom::Reduction red,
              bool ignore_all = false) {
  return {"nll_loss " + std::move(name),
          {"log_softmax", "log_softmax_backward", "nll_loss", "nll_loss_backward"},
          kSum,
          [=](Generator& g) {
            const int64_t c = logits.back();
            Shape t(logits.begin(), logits.end() - 1);
            Tensor target = indices(t, c, g);
            // Some targets equal ignore_index (all of them when ignore_all).
            int64_t* p = target.data<int64_t>();
            for (int64_t i = 0; i < target.numel(); ++i)
              if (ignore_all || i % 3 == 1) p[i] = ignore_index;
            return Tensors{normal(logits, g, 2.0), target};
          },
          [=](const Tensors& in, Run&) {
            Tensor x = leaf(in[0]);
            Tensor loss = gom::cross_entropy(x, in[1], red, ignore_index);
            Tensor l = loss.dim() == 0 ? loss : gom::sum(gom::mul(loss, loss));
            l.backward();
            Tensor logp = gom::log_softmax(in[0].detach(), -1);
            return Tensors{loss, grad_of(x), gom::nll_loss(logp, in[1], red, ignore_index)};
          }};
}

}  // namespace

std::vector<Case> softmax_loss_cases() {
  std::vector<Case> cases;
  for (auto [op, f] : {std::pair<const char*, SoftmaxFn>{"softmax", gom::softmax},
                       {"log_softmax", gom::log_softmax}}) {
    cases.push_back(softmax_case(op, f, {3, 5}, -1, false, false));
    cases.push_back(softmax_case(op, f, {3, 5}, 0, false, false));
    cases.push_back(softmax_case(op, f, {2, 3, 4}, 1, false, false));
    cases.push_back(softmax_case(op, f, {4, 6, 5}, 2, true, false));
    cases.push_back(softmax_case(op, f, {6, 7}, 1, false, true));
    cases.push_back(softmax_case(op, f, {4, 3000}, 1, false, false));
    cases.push_back(softmax_case(op, f, {2000, 3}, 0, false, false));
  }
  using gom::Reduction;
  cases.push_back(nll_case("mean", {5, 4}, -100, Reduction::Mean));
  cases.push_back(nll_case("sum", {5, 4}, -100, Reduction::Sum));
  cases.push_back(nll_case("none", {5, 4}, -100, Reduction::None));
  cases.push_back(nll_case("mean, ignore_index 2", {6, 4}, 2, Reduction::Mean));
  cases.push_back(nll_case("class dim last [2, 3, 4]", {2, 3, 4}, -100, Reduction::Mean));
  cases.push_back(nll_case("none, class dim last", {2, 3, 4}, -100, Reduction::None));
  // 0 / 0: NaN, as in PyTorch.
  cases.push_back(nll_case("mean, every target ignored", {4, 3}, -100, Reduction::Mean, true));
  cases.push_back(nll_case("large", {512, 1000}, -100, Reduction::Mean));
  return cases;
}

std::vector<Case> index_cases() {
  // Selections and copies are exact; scatter_add and index_add sum duplicates in any order
  // (atomics on a GPU), and the gradients of gather and index_select are those sums.
  return {
      {"gather along each dim with gradients (scatter_add)",
       {"gather", "scatter_add"},
       kSum,
       [](Generator& g) {
         return Tensors{normal({3, 4}, g),    indices({2, 4}, 3, g),    normal({2, 4}, g),
                        normal({2, 3, 4}, g), indices({2, 1, 2}, 4, g), indices({3, 2}, 4, g)};
       },
       [](const Tensors& in, Run&) {
         Tensor src = leaf(in[0]);
         Tensor y = gom::gather(src, 0, in[1]);
         y.backward(in[2]);
         return Tensors{y, grad_of(src), gom::gather(in[3], 2, in[4]),
                        gom::gather(in[0], 1, in[5])};
       }},
      {"gather from a transposed source with a strided index",
       {"gather"},
       kExact,
       [](Generator& g) {
         return Tensors{normal({5, 3}, g), indices({4, 6}, 5, g)};
       },
       [](const Tensors& in, Run& r) {
         const Tensor src = r.view(in[0].t());                    // [3, 5]
         const Tensor idx = r.view(in[1].slice(1, 0, 6, 2).t());  // [3, 4]
         return Tensors{gom::gather(src, 1, idx)};
       }},
      {"scatter_add with many duplicate indices, strided src, gradients",
       {"scatter_add", "gather"},
       kSum,
       [](Generator& g) {
         return Tensors{normal({4, 6}, g), indices({8, 6}, 4, g), normal({6, 8}, g),
                        normal({4, 6}, g)};
       },
       [](const Tensors& in, Run& r) {
         Tensor t = leaf(in[0]), src = leaf(in[2]);
         Tensor y = gom::scatter_add(t, 0, in[1], r.view(src.t()));
         y.backward(in[3]);
         return Tensors{y, grad_of(t), grad_of(src)};
       }},
      {"scatter_add along dim 1 and large (heavy contention)",
       {"scatter_add"},
       kSum,
       [](Generator& g) {
         return Tensors{normal({3, 5}, g),           indices({3, 4}, 5, g),
                        normal({3, 4}, g),           gom::zeros({100, 64}),
                        indices({5000, 64}, 100, g), uniform({5000, 64}, -1, 1, g)};
       },
       [](const Tensors& in, Run&) {
         return Tensors{gom::scatter_add(in[0], 1, in[1], in[2]),
                        gom::scatter_add(in[3], 0, in[4], in[5])};
       }},
      {"index_select along dims 0 and 1 with duplicates, gradients (index_add)",
       {"index_select", "index_add"},
       kSum,
       [](Generator& g) {
         return Tensors{normal({5, 3}, g),  gom::tensor_i64({4, 0, 4, 2}, {4}),
                        normal({4, 3}, g),  normal({3, 4}, g),
                        indices({3}, 4, g), normal({6}, g)};
       },
       [](const Tensors& in, Run&) {
         Tensor src = leaf(in[0]);
         Tensor y = gom::index_select(src, 0, in[1]);
         y.backward(in[2]);
         return Tensors{y, grad_of(src), gom::index_select(in[3], 1, in[4]),
                        gom::index_select(in[5], 0, in[4])};
       }},
      {"index_select from a transposed source, and a large embedding lookup",
       {"index_select"},
       kExact,
       [](Generator& g) {
         return Tensors{normal({4, 6}, g), indices({5}, 6, g), normal({1000, 64}, g),
                        indices({512}, 1000, g)};
       },
       [](const Tensors& in, Run& r) {
         return Tensors{gom::index_select(r.view(in[0].t()), 0, in[1]),
                        gom::index_select(in[2], 0, in[3])};
       }},
      {"index_add along dims 0 and 1 with duplicates, strided src, gradients",
       {"index_add", "index_select"},
       kSum,
       [](Generator& g) {
         return Tensors{normal({5, 3}, g), gom::tensor_i64({1, 3, 1, 1}, {4}),
                        normal({3, 4}, g), normal({5, 3}, g),
                        normal({3, 4}, g), indices({6}, 4, g),
                        normal({3, 6}, g)};
       },
       [](const Tensors& in, Run& r) {
         Tensor t = leaf(in[0]), src = leaf(in[2]);
         Tensor y = gom::index_add(t, 0, in[1], r.view(src.t()));
         y.backward(in[3]);
         return Tensors{y, grad_of(t), grad_of(src), gom::index_add(in[4], 1, in[5], in[6])};
       }},
  };
}

}  // namespace gom_test::backend_ops
