// Losses nll, l1 and cross_entropy with the class dim last ([B, T, C] logits, [B, T] targets):
// PyTorch fixtures (fixtures/activations.json), finite differences and shape errors.
#include <catch2/catch.hpp>

#include "gom/gom.h"
#include "gradcheck.h"
#include "layer_fixtures.h"

using namespace gom;
using Catch::Matchers::Contains;
using TV = std::vector<Tensor>;

namespace {
int run_fixtures(const char* prefix) {
  return gom_test::check_layer_cases("activations.json", prefix, 1e-5, 2e-6);
}
}  // namespace

TEST_CASE("nll layer matches PyTorch: reductions and ignore_index", "[losses]") {
  CHECK(run_fixtures("nll_") == 8);  // 5 on [N, C], 3 on [B, T, C]
}

TEST_CASE("cross_entropy and nll take [B, T, C] logits with [B, T] targets (class dim last)",
          "[losses]") {
  CHECK(run_fixtures("cross_entropy_b") == 4);
  // reduction none keeps the targets' shape; the mean skips ignored targets.
  const Tensor logits = randn({2, 3, 4});
  const Tensor t = tensor_i64({0, 1, 2, 3, -100, 1}, {2, 3});
  CHECK(cross_entropy(logits, t, Reduction::None).shape() == Shape{2, 3});
  const Tensor flat = cross_entropy(reshape(logits, {6, 4}), reshape(t, {6}), Reduction::Mean);
  CHECK(cross_entropy(logits, t).item() == Approx(flat.item()));
  const auto r = gom_test::gradcheck(
      [&](const TV& in) { return cross_entropy(in[0], t, Reduction::None); }, {logits});
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("l1 layer matches PyTorch and its gradient finite differences", "[losses]") {
  CHECK(run_fixtures("l1_") == 3);
  const Tensor a = tensor({0.5f, -1.f, 2.f, 3.f}, {2, 2}), b = tensor({0.f, 1.f, 1.f, 5.f}, {2, 2});
  CHECK(l1_loss(a, b).item() == Approx((0.5 + 2 + 1 + 2) / 4.0));
  const auto r = gom_test::gradcheck(
      [](const TV& in) { return l1_loss(in[0], in[1], Reduction::Sum); }, {a, b});
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("loss shape errors name both shapes and what is accepted", "[losses]") {
  const Tensor t = tensor_i64({0, 1}, {2});
  CHECK_THROWS_WITH(
      cross_entropy(randn({2, 3, 4}), tensor_i64({0, 1, 2}, {3})),
      Contains("cross_entropy: input [2, 3, 4] and target [3] do not fit; expected input "
               "[N, C] with target [N], or input [..., C] of rank >= 3 with target [...] of the "
               "same leading shape (the class dim last, unlike torch's class dim 1)"));
  // torch's class-dim-1 layout [N, C, L] with [N, L] is not accepted: it reads as class last.
  CHECK_THROWS_WITH(nll_loss(randn({2, 5, 3}), tensor_i64({0, 1, 2, 0, 1, 2}, {2, 3})),
                    Contains("nll_loss: input [2, 5, 3] and target [2, 3] do not fit"));
  CHECK_THROWS_WITH(create_layer("nll")->forward(randn({3, 4}), t),
                    Contains("nll_loss: input [3, 4] and target [2] do not fit"));
  CHECK_THROWS_WITH(create_layer("l1")->forward(randn({2, 3}), randn({3, 2})),
                    Contains("l1_loss: prediction [2, 3] and target [3, 2] must have the same "
                             "shape"));
  CHECK_THROWS_WITH(create_layer("nll", {{"reduction", "avg"}}),
                    Contains("layer 'nll': parameter 'reduction' = \"avg\" is not accepted"));
}
