// conv2d, max_pool2d, avg_pool2d and adaptive_avg_pool2d: forward and gradients vs PyTorch
// (fixtures/conv.json, written by fixtures/gen_conv_fixtures.py), gradients vs finite
// differences, the layers (parameters, init, schemas) and the error messages.
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "fixture_file.h"
#include "gradcheck.h"

using namespace gom;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {

const json& fixtures() {
  static const json cases = gom_test::read_fixture("conv.json");
  return cases;
}

Tensor from_json(const json& t) {
  return tensor(t.at("data").get<std::vector<float>>(), t.at("shape").get<Shape>());
}

Pair pair_of(const json& args, const char* key) {
  const auto v = args.at(key).get<std::vector<int64_t>>();
  return {v.at(0), v.at(1)};
}

Tensor run_op(const std::string& op, const std::vector<Tensor>& in, const json& a) {
  if (op == "conv2d")
    return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), pair_of(a, "stride"),
                  pair_of(a, "padding"), pair_of(a, "dilation"), a.at("groups").get<int64_t>());
  if (op == "max_pool2d")
    return max_pool2d(in[0], pair_of(a, "kernel"), pair_of(a, "stride"), pair_of(a, "padding"),
                      pair_of(a, "dilation"), a.at("ceil_mode").get<bool>());
  if (op == "avg_pool2d")
    return avg_pool2d(in[0], pair_of(a, "kernel"), pair_of(a, "stride"), pair_of(a, "padding"),
                      a.at("ceil_mode").get<bool>(), a.at("count_include_pad").get<bool>());
  if (op == "adaptive_avg_pool2d") {
    const Pair s = pair_of(a, "output_size");
    return adaptive_avg_pool2d(in[0], s[0], s[1]);
  }
  throw Error("unknown op in conv.json: " + op);
}

void check_close(const Tensor& got, const json& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.defined());
  REQUIRE(got.shape() == want.at("shape").get<Shape>());
  const auto g = got.to_vector<float>();
  const auto w = want.at("data").get<std::vector<float>>();
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i);
    CHECK(std::fabs(g[i] - w[i]) <= 1e-5 + 1e-4 * std::fabs(w[i]));
  }
}

// Runs every fixture case of `op`; returns how many ran.
int run_fixtures(const std::string& op) {
  int n = 0;
  for (const json& c : fixtures()) {
    if (c.at("op") != op) continue;
    ++n;
    const std::string name = c.at("name");
    std::vector<Tensor> in;
    for (const json& t : c.at("inputs")) in.push_back(from_json(t).requires_grad_());
    Tensor out = run_op(op, in, c.at("args"));
    check_close(out, c.at("output"), name + ": output");
    out.backward(from_json(c.at("grad_output")));
    for (size_t i = 0; i < in.size(); ++i)
      check_close(in[i].grad(), c.at("grads")[i],
                  name + ": gradient of input " + std::to_string(i));
  }
  return n;
}

// Distinct values 0.1 apart, scattered by a fixed permutation (i * step mod n, step coprime
// with n): no two elements of a window are within the finite-difference step, so max pooling
// is differentiable at every point checked.
Tensor distinct(const Shape& s, int64_t step) {
  const int64_t n = shape_numel(s);
  while (std::gcd(step, n) != 1) ++step;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[(i * step) % n] = 0.1f * float(i) - 0.05f * float(n);
  return tensor(v, s);
}

void expect_gradcheck(const gom_test::GradFn& f, const std::vector<Tensor>& in) {
  const auto r = gom_test::gradcheck(f, in);
  INFO(r.report);
  CHECK(r.ok);
  CHECK(r.checked_elements > 0);
}

}  // namespace

TEST_CASE("conv2d matches PyTorch: forward and the gradients of x, w and b", "[conv]") {
  CHECK(run_fixtures("conv2d") >= 10);
}

TEST_CASE("max_pool2d matches PyTorch, with padding, dilation and ceil_mode", "[conv]") {
  CHECK(run_fixtures("max_pool2d") >= 5);
}

TEST_CASE("avg_pool2d matches PyTorch, with ceil_mode and count_include_pad", "[conv]") {
  CHECK(run_fixtures("avg_pool2d") >= 5);
}

TEST_CASE("adaptive_avg_pool2d matches PyTorch for divisible and non-divisible sizes", "[conv]") {
  CHECK(run_fixtures("adaptive_avg_pool2d") >= 4);
}

TEST_CASE("conv2d gradients agree with finite differences for x, w and b", "[conv]") {
  manual_seed(11);
  SECTION("stride 2, padding 1, bias") {
    expect_gradcheck(
        [](const std::vector<Tensor>& t) {
          return conv2d(t[0], t[1], t[2], {2, 2}, {1, 1});
        },
        {randn({2, 3, 6, 5}), randn({4, 3, 3, 3}), randn({4})});
  }
  SECTION("groups 2, dilation 2, non-square kernel") {
    expect_gradcheck(
        [](const std::vector<Tensor>& t) {
          return conv2d(t[0], t[1], t[2], {1, 2}, {2, 1}, {2, 1}, 2);
        },
        {randn({1, 4, 7, 6}), randn({2, 2, 3, 2}), randn({2})});
  }
  SECTION("depthwise, no bias, a transposed (non-contiguous) input") {
    expect_gradcheck(
        [](const std::vector<Tensor>& t) {
          return conv2d(t[0], t[1], {}, {1, 1}, {1, 1}, {1, 1}, 3);
        },
        {randn({2, 3, 5, 4}).transpose(2, 3), randn({3, 1, 3, 3})});
  }
  SECTION("only the weight requires grad") {
    gom_test::GradcheckOptions o;
    o.check = {false, true};
    const auto r =
        gom_test::gradcheck([](const std::vector<Tensor>& t) { return conv2d(t[0], t[1]); },
                            {randn({2, 1, 5, 5}), randn({2, 1, 3, 3})}, o);
    INFO(r.report);
    CHECK(r.ok);
  }
}

TEST_CASE("pooling gradients agree with finite differences", "[conv]") {
  expect_gradcheck(
      [](const std::vector<Tensor>& t) {
        return max_pool2d(t[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, true);
      },
      {distinct({2, 2, 6, 6}, 7)});
  expect_gradcheck(
      [](const std::vector<Tensor>& t) {
        return max_pool2d(t[0], {2, 2}, {1, 1}, {0, 0}, {2, 2});
      },
      {distinct({1, 2, 6, 5}, 11)});
  expect_gradcheck(
      [](const std::vector<Tensor>& t) {
        return avg_pool2d(t[0], {3, 2}, {2, 1}, {1, 1}, true, false);
      },
      {randn({2, 2, 6, 5})});
  expect_gradcheck([](const std::vector<Tensor>& t) { return adaptive_avg_pool2d(t[0], 3, 4); },
                   {randn({2, 2, 7, 5})});
}

TEST_CASE("conv2d layer: PyTorch's parameter names, shapes, init bounds and forward", "[conv]") {
  manual_seed(5);
  auto conv = create_layer("conv2d", {{"in", 4}, {"out", 6}, {"kernel", 3}, {"groups", 2}});
  const auto named = conv->named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "weight");
  CHECK(named[0].second.shape() == Shape{6, 2, 3, 3});
  CHECK(named[1].first == "bias");
  CHECK(named[1].second.shape() == Shape{6});
  // fan_in = in/groups * kh * kw = 18: weight and bias in U(-1/sqrt(18), 1/sqrt(18)).
  const float bound = 1.0f / std::sqrt(18.0f);
  for (const auto& [name, t] : named) {
    const auto v = t.to_vector<float>();
    INFO(name);
    CHECK(*std::max_element(v.begin(), v.end()) <= bound);
    CHECK(*std::min_element(v.begin(), v.end()) >= -bound);
  }
  const auto w = named[0].second.to_vector<float>();
  CHECK(*std::max_element(w.begin(), w.end()) > 0.8f * bound);  // spread over the range
  Tensor x = randn({2, 4, 5, 5});
  CHECK(allclose(conv->forward(x),
                 conv2d(x, named[0].second, named[1].second, {1, 1}, {0, 0}, {1, 1}, 2)));

  auto rect = create_layer("conv2d", {{"in", 1},
                                      {"out", 2},
                                      {"kernel", Value::List{3, 5}},
                                      {"stride", Value::List{2, 1}},
                                      {"padding", Value::List{1, 2}},
                                      {"bias", false}});
  CHECK(rect->named_parameters().size() == 1);
  CHECK(rect->named_parameters()[0].second.shape() == Shape{2, 1, 3, 5});
  CHECK(rect->forward(randn({3, 1, 8, 8})).shape() == Shape{3, 2, 4, 8});
}

TEST_CASE("pooling layers: shapes, values and PyTorch's defaults", "[conv]") {
  Tensor x = randn({2, 3, 7, 7});
  auto mp = create_layer("maxpool2d", {{"kernel", 2}});  // stride defaults to the kernel
  CHECK(mp->named_parameters().empty());
  CHECK(allclose(mp->forward(x), max_pool2d(x, {2, 2})));
  CHECK(mp->forward(x).shape() == Shape{2, 3, 3, 3});
  CHECK(create_layer("maxpool2d", {{"kernel", 2}, {"ceil_mode", true}})->forward(x).shape() ==
        Shape{2, 3, 4, 4});
  auto ap = create_layer(
      "avgpool2d", {{"kernel", 3}, {"stride", 2}, {"padding", 1}, {"count_include_pad", false}});
  CHECK(allclose(ap->forward(x), avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false, false)));
  auto gap = create_layer("adaptive_avgpool2d", {{"output_size", 1}});
  const Tensor g = gap->forward(x);
  CHECK(g.shape() == Shape{2, 3, 1, 1});
  CHECK(allclose(g.flatten(1), mean(x, {2, 3}), 1e-5, 1e-6));
  CHECK(create_layer("adaptive_avgpool2d", {{"output_size", Value::List{3, 2}}})
            ->forward(x)
            .shape() == Shape{2, 3, 3, 2});
}

TEST_CASE("conv and pooling errors name the op or layer, the shapes and what is accepted",
          "[conv]") {
  const Tensor x = randn({2, 3, 8, 8});
  CHECK_THROWS_WITH(conv2d(x, randn({32, 1, 3, 3})),
                    Contains("conv2d: input has 3 channels but the weight expects 1 (weight "
                             "[32, 1, 3, 3], groups 1)"));
  CHECK_THROWS_WITH(conv2d(randn({3, 8, 8}), randn({4, 3, 3, 3})),
                    Contains("conv2d: input must be 4-d [N, C, H, W], got [3, 8, 8]"));
  CHECK_THROWS_WITH(conv2d(x, randn({4, 3, 3})),
                    Contains("conv2d: weight must be 4-d [out, in/groups, kh, kw], got [4, 3, 3]"));
  CHECK_THROWS_WITH(conv2d(x, randn({4, 3, 3, 3}), randn({5})),
                    Contains("conv2d: bias of shape [5] does not match 4 output channels "
                             "(expected [4])"));
  CHECK_THROWS_WITH(conv2d(x, randn({4, 1, 3, 3}), {}, {1, 1}, {0, 0}, {1, 1}, 2),
                    Contains("conv2d: groups = 2 must be >= 1 and divide both the input channels "
                             "(3) and the output channels (4)"));
  CHECK_THROWS_WITH(conv2d(x, randn({4, 3, 3, 3}), {}, {0, 1}),
                    Contains("conv2d: stride must be >= 1, got [0, 1]"));
  CHECK_THROWS_WITH(conv2d(randn({1, 3, 2, 2}), randn({4, 3, 3, 3})),
                    Contains("conv2d: the output would be 0 x 0: input [1, 3, 2, 2] with padding "
                             "[0, 0] is smaller than the kernel [3, 3]"));
  CHECK_THROWS_WITH(max_pool2d(x, {2, 2}, {2, 2}, {2, 0}),
                    Contains("max_pool2d: padding [2, 0] must be at most half the kernel [2, 2]"));
  CHECK_THROWS_WITH(avg_pool2d(randn({1, 1, 2, 2}), {3, 3}),
                    Contains("avg_pool2d: the output would be 0 x 0: input [1, 1, 2, 2]"));
  CHECK_THROWS_WITH(adaptive_avg_pool2d(x, 0, 2),
                    Contains("adaptive_avg_pool2d: output size 0 x 2 must be at least 1 x 1 "
                             "(input [2, 3, 8, 8])"));

  auto conv = create_layer("conv2d", {{"in", 1}, {"out", 32}, {"kernel", 3}});
  CHECK_THROWS_WITH(conv->forward(x),
                    Contains("layer 'conv2d' (in = 1): expected input [N, 1, H, W], got "
                             "[2, 3, 8, 8]"));
  CHECK_THROWS_WITH(create_layer("conv2d", {{"in", 1}, {"out", 2}, {"kernel", 0}}),
                    Contains("layer 'conv2d': parameter 'kernel' = 0 is out of range; expected a "
                             "number or a list of numbers (each) >= 1"));
  CHECK_THROWS_WITH(create_layer("conv2d", {{"in", 1}, {"out", 2}, {"kernel", "3"}}),
                    Contains("layer 'conv2d': parameter 'kernel' has the wrong type: string"));
  CHECK_THROWS_WITH(
      create_layer("conv2d", {{"in", 1}, {"out", 2}, {"kernel", Value::List{3, 3, 3}}}),
      Contains("layer 'conv2d': parameter 'kernel' = [3, 3, 3] needs one number or two "
               "([height, width])"));
  CHECK_THROWS_WITH(create_layer("conv2d", {{"in", 3}, {"out", 4}, {"kernel", 3}, {"groups", 2}}),
                    Contains("layer 'conv2d': groups = 2 must divide both in = 3 and out = 4"));
  CHECK_THROWS_WITH(create_layer("maxpool2d", {{"kernel", 2}, {"strde", 2}}),
                    Contains("layer 'maxpool2d': unknown parameter 'strde' (did you mean "
                             "'stride'?)"));
  CHECK_THROWS_WITH(create_layer("adaptive_avgpool2d"),
                    Contains("layer 'adaptive_avgpool2d': missing required parameter "
                             "'output_size'"));
}
