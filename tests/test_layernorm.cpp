// layer_norm op and layernorm layer: PyTorch fixtures (fixtures/layernorm.json), finite
// differences with and without weight/bias, defaults, and argument errors.
#include <catch2/catch.hpp>

#include "gom/gom.h"
#include "gom_lua/runtime.h"
#include "gradcheck.h"
#include "layer_fixtures.h"

using namespace gom;
using Catch::Matchers::Contains;
using TV = std::vector<Tensor>;

TEST_CASE("layernorm layer matches PyTorch, forward and every gradient", "[layernorm]") {
  const auto& cases = gom_test::layer_fixtures("layernorm.json");
  CHECK(cases.size() == 5);
  for (const auto& [name, c] : cases) gom_test::check_layer_case(c, 1e-4, 1e-5);
}

TEST_CASE("layer_norm gradients match finite differences, affine or not", "[layernorm]") {
  Generator gen(5);
  const Tensor x = randn({3, 2, 4}, &gen), w = randn({2, 4}, &gen), b = randn({2, 4}, &gen);
  const gom_test::GradcheckOptions o{.eps = 1e-3, .atol = 2e-3, .rtol = 2e-3};
  auto check = [&](const gom_test::GradFn& f, const TV& in) {
    const auto r = gom_test::gradcheck(f, in, o);
    INFO(r.report);
    CHECK(r.ok);
  };
  check([](const TV& in) { return layer_norm(in[0], {2, 4}, in[1], in[2], 1e-5); }, {x, w, b});
  check([](const TV& in) { return layer_norm(in[0], {4}, {}, {}, 1e-5); }, {x});
  check([](const TV& in) { return layer_norm(in[0], {2, 4}, in[1], {}, 1e-5); }, {x, w});
  check([](const TV& in) { return layer_norm(in[0], {2, 4}, {}, in[1], 1e-5); }, {x, b});
  // A transposed (non-contiguous) input: same values as its contiguous copy, same gradients.
  check([](const TV& in) { return layer_norm(in[0], {3}, in[1], in[2], 1e-5); },
        {transpose(x, 0, 2), randn({3}, &gen), randn({3}, &gen)});
}

TEST_CASE("layernorm layer: torch's names and init, list shapes, no affine", "[layernorm]") {
  auto ln = create_layer("layernorm", {{"normalized_shape", Value::List{Value(3), Value(4)}}});
  const auto named = ln->named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "weight");
  CHECK(named[1].first == "bias");
  CHECK(named[0].second.shape() == Shape{3, 4});
  CHECK(allclose(named[0].second, ones({3, 4})));
  CHECK(allclose(named[1].second, zeros({3, 4})));
  const Tensor x = randn({2, 3, 4});
  const Tensor y = ln->forward(x);
  // Each [3, 4] block has mean 0 and biased variance 1/(1 + eps/var) ~ 1.
  const Tensor m = mean(y, {1, 2});
  CHECK(allclose(m, zeros({2}), 0, 1e-5));
  CHECK(allclose(mean(mul(y, y), {1, 2}), ones({2}), 0, 1e-3));
  auto plain = create_layer(
      "layernorm", {{"normalized_shape", Value::List{Value(4)}}, {"elementwise_affine", false}});
  CHECK(plain->named_parameters().empty());
  CHECK(allclose(plain->forward(x), layer_norm(x, {4})));
  // A lone integer is torch's LayerNorm(4): the last dim.
  auto scalar = create_layer("layernorm", {{"normalized_shape", 4}});
  CHECK(scalar->named_parameters().at(0).second.shape() == Shape{4});
  CHECK(allclose(scalar->forward(x), layer_norm(x, {4})));
}

TEST_CASE("layer_norm errors name the shapes and what is accepted", "[layernorm]") {
  const Tensor x = randn({2, 3});
  CHECK_THROWS_WITH(layer_norm(x, {4}),
                    Contains("layer_norm: input of shape [2, 3] does not end with "
                             "normalized_shape [4] (expected [..., 4])"));
  CHECK_THROWS_WITH(layer_norm(x, {2, 3, 1}), Contains("does not end with normalized_shape"));
  CHECK_THROWS_WITH(
      layer_norm(x, {3}, ones({4})),
      Contains("layer_norm: weight of shape [4] does not match normalized_shape [3]"));
  CHECK_THROWS_WITH(
      layer_norm(x, {3}, ones({3}), ones({1, 3})),
      Contains("layer_norm: bias of shape [1, 3] does not match normalized_shape [3]"));
  CHECK_THROWS_WITH(layer_norm(x, {}), Contains("layer_norm: normalized_shape is empty"));
  CHECK_THROWS_WITH(create_layer("layernorm", {{"normalized_shape", Value::List{}}}),
                    Contains("layer 'layernorm': parameter 'normalized_shape' is empty"));
  CHECK_THROWS_WITH(
      create_layer("layernorm", {{"normalized_shape", Value::List{Value(0)}}}),
      Contains("layer 'layernorm': parameter 'normalized_shape' = 0 is out of range"));
  CHECK_THROWS_WITH(
      create_layer("layernorm", {{"normalized_shape", Value::List{Value(3)}}})
          ->forward(randn({2, 4})),
      Contains("layer_norm: input of shape [2, 4] does not end with normalized_shape [3]"));
}

TEST_CASE("lua: gom.layer_norm takes an integer or a table shape", "[layernorm][lua]") {
  gom::lua::RunContext ctx;
  gom::lua::Runtime rt(ctx);
  const auto r = rt.run_string(R"(
    local x = gom.tensor({{1, 2, 3, 6}, {0, 0, 1, 1}})
    local y = gom.layer_norm(x, 4)
    assert(gom.allclose(y, gom.layer_norm(x, {4}, nil, nil, 1e-5)))
    assert(math.abs(y:sum():item()) < 1e-5)
    local w, b = gom.tensor({1, 2, 1, 1}), gom.tensor({0, 0, 0, 3})
    local z = gom.layer_norm(x, {4}, w, b):totable()
    assert(math.abs(z[1][2] - 2 * y:totable()[1][2]) < 1e-5 and math.abs(z[2][4] - 4) < 1e-3)
    local ok, err = pcall(function() return gom.layer_norm(x, 3) end)
    assert(not ok and err:find("does not end with normalized_shape [3]", 1, true), err)
  )",
                               "@test.lua");
  INFO(r.error);
  CHECK(r.status == gom::lua::ScriptResult::Status::Finished);
}
