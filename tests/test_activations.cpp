// Activation layers gelu, leaky_relu, softmax and log_softmax: PyTorch fixtures
// (fixtures/activations.json), finite differences, schemas, and the Lua methods.
#include <catch2/catch.hpp>
#include <cmath>

#include "gom/gom.h"
#include "gom_lua/runtime.h"
#include "gradcheck.h"
#include "layer_fixtures.h"

using namespace gom;
using Catch::Matchers::Contains;
using TV = std::vector<Tensor>;

namespace {
void run_fixtures(std::initializer_list<const char*> prefixes) {
  int n = 0;
  for (const auto& [name, c] : gom_test::layer_fixtures("activations.json"))
    for (const char* p : prefixes)
      if (name.rfind(p, 0) == 0) {
        gom_test::check_layer_case(c, 1e-5, 2e-6);
        ++n;
        break;
      }
  CHECK(n >= 2);
}
}  // namespace

TEST_CASE("gelu and leaky_relu layers match PyTorch, forward and backward", "[activations]") {
  run_fixtures({"gelu", "leaky_relu"});
}

TEST_CASE("softmax and log_softmax layers match PyTorch along any dim", "[activations]") {
  run_fixtures({"softmax", "log_softmax"});
}

TEST_CASE("gelu and leaky_relu gradients match finite differences", "[activations]") {
  // Values away from leaky_relu's kink at 0, where a central difference straddles it.
  const Tensor x = tensor({-2.5f, -1.f, -0.3f, 0.2f, 0.7f, 1.5f, 3.f, -4.f}, {2, 4});
  for (bool tanh_form : {false, true}) {
    const auto r = gom_test::gradcheck([=](const TV& in) { return gelu(in[0], tanh_form); }, {x},
                                       {.eps = 1e-3, .atol = 1e-3, .rtol = 1e-3});
    INFO(r.report);
    CHECK(r.ok);
  }
  for (double slope : {0.01, 0.2, -0.5}) {
    const auto r =
        gom_test::gradcheck([=](const TV& in) { return leaky_relu(in[0], slope); }, {x.t()});
    INFO(r.report);
    CHECK(r.ok);
  }
  // A negative slope flips the sign below 0: the backward must read the input, not the output.
  const Tensor y = leaky_relu(tensor({-2.f, 3.f}, {2}), -0.5);
  CHECK(y.to_vector<float>() == std::vector<float>{1.f, 3.f});
}

TEST_CASE("activation layers: defaults, choices and errors name the key", "[activations]") {
  CHECK(create_layer("gelu")->repr() == "gelu(approximate=\"none\")");
  CHECK(create_layer("leaky_relu")->repr() == "leaky_relu(negative_slope=0.01)");
  CHECK(create_layer("softmax")->repr() == "softmax(dim=-1)");
  const Tensor x = tensor({1.f, 2.f, 3.f, 4.f}, {2, 2});
  CHECK(allclose(create_layer("log_softmax", {{"dim", 0}})->forward(x), log_softmax(x, 0)));
  CHECK_THROWS_WITH(create_layer("gelu", {{"approximate", "exact"}}),
                    Contains("layer 'gelu': parameter 'approximate' = \"exact\" is not accepted; "
                             "expected one of: none, tanh"));
  CHECK_THROWS_WITH(
      create_layer("softmax", {{"dim", 2}})->forward(x),
      Contains("softmax: dimension 2 out of range for a 2-d tensor (expected -2 to 1)"));
  CHECK_THROWS_WITH(gelu(tensor_i64({1}, {1})), Contains("gelu"));
}

TEST_CASE("lua: t:gelu(), t:leaky_relu(a) and gom.gelu match the ops", "[activations][lua]") {
  gom::lua::RunContext ctx;
  gom::lua::Runtime rt(ctx);
  const auto r = rt.run_string(R"(
    local x = gom.tensor({{-1.5, 0.5}, {2, -3}})
    assert(gom.allclose(x:gelu(), gom.gelu(x)))
    assert(not gom.allclose(x:gelu("tanh"), x:gelu(), 0, 1e-6))
    assert(gom.allclose(x:gelu("tanh"), gom.gelu(x, "tanh")))
    assert(math.abs(x:leaky_relu(0.1):totable()[1][1] + 0.15) < 1e-6)
    assert(math.abs(x:leaky_relu():totable()[2][2] + 0.03) < 1e-6)
    local ok, err = pcall(function() return x:gelu("exact") end)
    assert(not ok and err:find("approximate = 'exact' is not accepted", 1, true), err)
  )",
                               "@test.lua");
  INFO(r.error);
  CHECK(r.status == gom::lua::ScriptResult::Status::Finished);
}
