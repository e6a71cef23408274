// The layer plugin (libgom_layers.so) through the registry: creation from configs, values,
// train/eval behaviour, containers and losses.
#include <catch2/catch.hpp>
#include <cmath>

#include "gom/gom.h"
#include "gom/layer.h"

using namespace gom;
using Catch::Matchers::Contains;
using V = std::vector<float>;

TEST_CASE("linear is created from a config, initialised as PyTorch does and computes xW^T+b",
          "[layers]") {
  manual_seed(3);
  auto lin = create_layer("linear", {{"in", 400}, {"out", 30}});
  CHECK(lin->type() == "linear");
  auto named = lin->named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "weight");
  CHECK(named[0].second.shape() == Shape{30, 400});
  CHECK(named[1].first == "bias");
  CHECK(named[0].second.requires_grad());
  // Default init: U(-1/sqrt(400), 1/sqrt(400)) = U(-0.05, 0.05): bounded, and spread out.
  const auto w = named[0].second.to_vector<float>();
  CHECK(*std::max_element(w.begin(), w.end()) <= 0.05f);
  CHECK(*std::min_element(w.begin(), w.end()) >= -0.05f);
  CHECK(*std::max_element(w.begin(), w.end()) > 0.045f);
  Tensor x = randn({5, 400});
  CHECK(allclose(lin->forward(x), linear(x, named[0].second, named[1].second)));
  CHECK(lin->repr() == "linear(bias=true, in=400, init=\"default\", out=30)");

  auto nobias = create_layer("linear", {{"in", 3}, {"out", 2}, {"bias", false}, {"init", "zeros"}});
  CHECK(nobias->named_parameters().size() == 1);
  CHECK(nobias->forward(ones({1, 3})).to_vector<float>() == V{0, 0});
}

TEST_CASE("schema errors name the component, the key and what is accepted", "[layers][schema]") {
  CHECK_THROWS_WITH(create_layer("linear", {{"in", 3}, {"ouf", 2}}),
                    Contains("layer 'linear': unknown parameter 'ouf' (did you mean 'out'?); "
                             "accepted: in, out, bias, init"));
  CHECK_THROWS_WITH(create_layer("linear", {{"in", 3}, {"out", "ten"}}),
                    Contains("layer 'linear': parameter 'out' has the wrong type: string \"ten\"; "
                             "expected an integer >= 1 (output features)"));
  CHECK_THROWS_WITH(create_layer("linear", {{"in", 3}, {"out", 2.5}}),
                    Contains("parameter 'out' = 2.5 is not a whole number"));
  CHECK_THROWS_WITH(create_layer("linear", {{"in", 0}, {"out", 2}}),
                    Contains("layer 'linear': parameter 'in' = 0 is out of range; expected an "
                             "integer >= 1"));
  CHECK_THROWS_WITH(create_layer("linear", {{"in", 3}}),
                    Contains("layer 'linear': missing required parameter 'out' (an integer >= 1: "
                             "output features)"));
  CHECK_THROWS_WITH(create_layer("dropout", {{"p", 1.5}}),
                    Contains("parameter 'p' = 1.5 is out of range; expected a number in [0, "));
  CHECK_THROWS_WITH(create_layer("linear", {{"in", 3}, {"out", 2}, {"init", "xavier"}}),
                    Contains("parameter 'init' = \"xavier\" is not accepted (did you mean "
                             "'xavier_uniform'?); expected one of: default, kaiming_uniform"));
  CHECK_THROWS_WITH(create_layer("linaer"),
                    Contains("unknown layer 'linaer' (did you mean 'linear'?); known layers:"));
  // A whole number given as a float (Lua's 3.0) is an integer.
  CHECK(create_layer("linear", {{"in", 3.0}, {"out", 2}})->named_parameters()[0].second.shape() ==
        Shape{2, 3});
}

TEST_CASE("resolved parameters flatten to key/value pairs with defaults", "[layers][schema]") {
  auto lin = create_layer("linear", {{"in", 784}, {"out", 256}});
  auto flat = lin->params().flatten("model.0");
  std::vector<std::pair<std::string, std::string>> want{{"model.0.bias", "true"},
                                                        {"model.0.in", "784"},
                                                        {"model.0.init", "default"},
                                                        {"model.0.out", "256"}};
  CHECK(flat == want);
}

TEST_CASE("a second component of the same name is refused, naming both", "[layers][schema]") {
  CHECK_THROWS_WITH(register_layer("linear", "again", Schema{},
                                   [](const Params&) { return std::make_shared<Sequential>(); }),
                    Contains("layer 'linear' is registered twice: by ") &&
                        Contains("libgom_layers.so and by (host)"));
}

TEST_CASE("sequential chains children and names their parameters by position", "[layers]") {
  auto seq = std::static_pointer_cast<Sequential>(create_layer("sequential"));
  seq->add(create_layer("flatten"))
      ->add(create_layer("linear", {{"in", 4}, {"out", 3}}))
      ->add(create_layer("relu"))
      ->add(create_layer("linear", {{"in", 3}, {"out", 2}}));
  std::vector<std::string> names;
  for (auto& [n, t] : seq->named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"1.weight", "1.bias", "3.weight", "3.bias"});
  Tensor y = seq->forward(randn({5, 2, 2}));
  CHECK(y.shape() == Shape{5, 2});
  sum(y).backward();
  for (auto& p : seq->parameters()) CHECK(p.grad().defined());
  CHECK_THAT(seq->repr(), Contains("sequential(0: flatten(end_dim=-1, start_dim=1), 1: linear("));
  seq->add(create_layer("mse"));
  CHECK_THROWS_WITH(seq->forward(randn({5, 2, 2})),
                    Contains("a loss cannot sit inside a sequential"));
}

TEST_CASE("dropout drops in training and is the identity in eval", "[layers]") {
  manual_seed(11);
  auto drop = create_layer("dropout", {{"p", 0.25}});
  Tensor x = ones({100000});
  const auto y = drop->forward(x).to_vector<float>();
  const auto zeros_n = std::count(y.begin(), y.end(), 0.f);
  CHECK(std::abs(double(zeros_n) / 1e5 - 0.25) < 0.01);
  const auto kept_scaled =
      std::count_if(y.begin(), y.end(), [](float v) { return std::abs(v - 1.f / 0.75f) < 1e-6f; });
  CHECK(zeros_n + kept_scaled == 100000);  // every element is 0 or 1/(1-p)
  drop->eval();
  CHECK_FALSE(drop->is_training());
  CHECK(drop->forward(x).same(x));
}

TEST_CASE("losses take (prediction, target) and match their formulas", "[layers]") {
  auto ce = create_layer("cross_entropy");
  CHECK(ce->arity() == 2);
  Tensor logits = tensor({2, 0, 0, 0, 3, 0}, {2, 3});
  Tensor t = tensor_i64({0, 1}, {2});
  const double l0 = -2 + std::log(std::exp(2.0) + 2), l1 = -3 + std::log(std::exp(3.0) + 2);
  CHECK(ce->forward(logits, t).item() == Approx((l0 + l1) / 2));
  CHECK_THROWS_WITH(ce->forward(logits), Contains("takes two inputs"));

  auto mse = create_layer("mse", {{"reduction", "sum"}});
  CHECK(mse->forward(tensor({1, 2}, {2}), tensor({3, 5}, {2})).item() == 13.0);

  auto bce = create_layer("bce_with_logits");
  Tensor x = tensor({0.5f, -1.f, 100.f, -100.f}, {4}), y = tensor({1, 0, 0, 1}, {4});
  auto ref = [](double x, double y) {  // -(y log s(x) + (1-y) log(1-s(x))), in double
    const double s = 1 / (1 + std::exp(-x));
    return -(y * std::log(s) + (1 - y) * std::log(1 - s));
  };
  const double want = (ref(0.5, 1) + ref(-1, 0) + 100 + 100) / 4;  // large logits: exactly |x|
  CHECK(bce->forward(x, y).item() == Approx(want).epsilon(1e-6));
  CHECK(std::isfinite(bce->forward(x, y).item()));
}
