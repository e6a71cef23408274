// batch_norm and the batchnorm1d/2d layers: forward, running statistics and gradients against
// PyTorch (fixtures/batchnorm.json, written by gen_batchnorm_fixtures.py), gradients against
// finite differences, train/eval behaviour, state_dict names and the error messages.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "gom/layer.h"
#include "gom/ops_norm.h"
#include "gradcheck.h"

using namespace gom;
using Catch::Matchers::Contains;
using json = nlohmann::json;
using V = std::vector<float>;

namespace {

const json& fixtures() {
  static const json cases = [] {
    std::ifstream in(GOM_FIXTURE_DIR "/batchnorm.json");
    if (!in) throw Error("cannot open " GOM_FIXTURE_DIR "/batchnorm.json");
    return json::parse(in).at("cases");
  }();
  return cases;
}

// {shape, data} -> a tensor; null -> undefined.
Tensor from_json(const json& j) {
  if (j.is_null()) return {};
  return tensor(j.at("data").get<V>(), j.at("shape").get<Shape>());
}

// Every element within atol + rtol*|want|; the first difference is shown.
void check_close(const Tensor& got, const json& want, double rtol, double atol,
                 const std::string& what) {
  INFO(what);
  if (want.is_null()) {
    CHECK(!got.defined());
    return;
  }
  REQUIRE(got.defined());
  REQUIRE(got.shape() == want.at("shape").get<Shape>());
  const V g = got.to_vector<float>(), w = want.at("data").get<V>();
  for (size_t i = 0; i < g.size(); ++i)
    if (!(std::fabs(g[i] - w[i]) <= atol + rtol * std::fabs(w[i]))) {
      FAIL_CHECK("element " << i << ": " << g[i] << " vs PyTorch's " << w[i]);
      return;
    }
}

const json& fixture_case(const std::string& name) {
  for (const json& c : fixtures())
    if (c.at("name") == name) return c;
  throw Error("no batchnorm fixture named " + name);
}

}  // namespace

TEST_CASE("batch_norm matches PyTorch: outputs, running statistics and gradients per step",
          "[norm]") {
  for (const json& c : fixtures()) {
    const std::string name = c.at("name");
    INFO("case " << name);
    const Tensor w0 = from_json(c.at("weight")), b0 = from_json(c.at("bias"));
    Tensor rm = from_json(c.at("running_mean")), rv = from_json(c.at("running_var"));
    int step = 0;
    for (const json& s : c.at("steps")) {
      INFO("step " << step++);
      Tensor x = from_json(s.at("x")).requires_grad_();
      Tensor w = w0.defined() ? w0.clone().requires_grad_() : Tensor();
      Tensor b = b0.defined() ? b0.clone().requires_grad_() : Tensor();
      Tensor y = batch_norm(x, w, b, rm, rv, c.at("training").get<bool>(),
                            c.at("momentum").get<double>(), c.at("eps").get<double>());
      check_close(y, s.at("y"), 1e-4, 1e-5, "y");
      // The running statistics carry over between steps: three steps agree only if each
      // update does (momentum, unbiased variance).
      if (rm.defined()) {
        check_close(rm, s.at("running_mean"), 1e-5, 1e-6, "running_mean");
        check_close(rv, s.at("running_var"), 1e-5, 1e-6, "running_var");
      }
      y.backward(from_json(s.at("grad_output")));
      check_close(x.grad(), s.at("grad_x"), 1e-3, 1e-4, "grad x");
      if (w.defined()) {
        check_close(w.grad(), s.at("grad_weight"), 1e-4, 1e-4, "grad weight");
        check_close(b.grad(), s.at("grad_bias"), 1e-4, 1e-4, "grad bias");
      }
    }
  }
}

TEST_CASE("batch_norm gradients match finite differences in training and in eval", "[norm]") {
  manual_seed(11);
  gom_test::GradcheckOptions o;
  o.eps = 1e-2;
  SECTION("training, [N, C, H, W], through the batch statistics") {
    const Tensor x = randn({3, 2, 2, 3}) * 1.5 + 0.5, w = randn({2}), b = randn({2});
    auto r = gom_test::gradcheck(
        [](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], {}, {}, true); },
        {x, w, b}, o);
    INFO(r.report);
    CHECK(r.ok);
    CHECK(r.checked_elements == 36 + 2 + 2);
  }
  SECTION("training, [N, C] without affine, from a transposed view") {
    const Tensor x = randn({3, 5}).t();  // [5, 3], not contiguous
    auto r = gom_test::gradcheck(
        [](const std::vector<Tensor>& in) { return batch_norm(in[0], {}, {}, {}, {}, true); }, {x},
        o);
    INFO(r.report);
    CHECK(r.ok);
  }
  SECTION("eval, [N, C, L], with running statistics as constants") {
    const Tensor x = randn({2, 3, 4}), w = randn({3}), b = randn({3});
    const Tensor rm = randn({3}), rv = rand({3}) + 0.5;
    auto r = gom_test::gradcheck(
        [&](const std::vector<Tensor>& in) {
          return batch_norm(in[0], in[1], in[2], rm, rv, false);
        },
        {x, w, b}, o);
    INFO(r.report);
    CHECK(r.ok);
  }
}

TEST_CASE("batch_norm: training normalises with the batch, eval with the running statistics",
          "[norm]") {
  const Tensor x = tensor({1, 10, 3, 20, 5, 60}, {3, 2});  // channel 0: 1,3,5; channel 1: 10,20,60
  Tensor rm = tensor({2, 0}, {2}), rv = tensor({4, 1}, {2});
  const double eps = 1e-5;
  const Tensor y = batch_norm(x, {}, {}, rm, rv, true, 0.5, eps);
  // Channel 0: mean 3, biased variance 8/3: y = (x - 3) / sqrt(8/3 + eps).
  const double s0 = std::sqrt(8.0 / 3 + eps);
  CHECK(y.to_vector<float>()[0] == Approx(-2 / s0));
  CHECK(y.to_vector<float>()[4] == Approx(2 / s0));
  // Running: mean 0.5*2 + 0.5*3 = 2.5; variance 0.5*4 + 0.5*4 (unbiased 8/2) = 4.
  CHECK(rm.to_vector<float>()[0] == Approx(2.5));
  CHECK(rv.to_vector<float>()[0] == Approx(4.0));
  // Channel 1: mean 30, unbiased variance (400+100+900)/2 = 700: 0.5*0 + 15, 0.5*1 + 350.
  CHECK(rm.to_vector<float>()[1] == Approx(15));
  CHECK(rv.to_vector<float>()[1] == Approx(350.5));
  // Eval: (x - running_mean) / sqrt(running_var + eps), and the statistics stay.
  const Tensor e = batch_norm(x, {}, {}, rm, rv, false, 0.5, eps);
  CHECK(e.to_vector<float>()[0] == Approx((1 - 2.5) / std::sqrt(4 + eps)));
  CHECK(e.to_vector<float>()[5] == Approx((60 - 15) / std::sqrt(350.5 + eps)));
  CHECK(rm.to_vector<float>() == V{2.5f, 15.f});
  // Without running statistics training still works (batch statistics only).
  CHECK(allclose(batch_norm(x, {}, {}, {}, {}, true), y, 1e-5, 1e-6));
}

TEST_CASE("batch_norm: errors name the shapes and what is accepted", "[norm]") {
  const Tensor x = randn({4, 3, 5});
  CHECK_THROWS_WITH(batch_norm(x, ones({4}), {}, {}, {}, true),
                    Contains("batch_norm: weight of shape [4] does not match the input of shape "
                             "[4, 3, 5] (expected [3]: one value per channel, the input's dim 1)"));
  CHECK_THROWS_WITH(batch_norm(x, {}, {}, zeros({3}), ones({2}), true),
                    Contains("batch_norm: running_var of shape [2] does not match the input of "
                             "shape [4, 3, 5] (expected [3]"));
  CHECK_THROWS_WITH(batch_norm(randn({1, 3}), {}, {}, {}, {}, true),
                    Contains("batch_norm: expected more than 1 value per channel when training, "
                             "got input of shape [1, 3]"));
  CHECK_THROWS_WITH(batch_norm(randn({1, 3, 1, 1}), {}, {}, {}, {}, true),
                    Contains("more than 1 value per channel"));
  // One sample is fine outside training, and with a spatial extent.
  CHECK_NOTHROW(batch_norm(randn({1, 3}), {}, {}, zeros({3}), ones({3}), false));
  CHECK_NOTHROW(batch_norm(randn({1, 3, 2}), {}, {}, {}, {}, true));
  CHECK_THROWS_WITH(batch_norm(x, {}, {}, {}, {}, false),
                    Contains("batch_norm: outside training the running statistics normalise, "
                             "and none were given"));
  CHECK_THROWS_WITH(batch_norm(x, {}, {}, zeros({3}), {}, true),
                    Contains("running_mean and running_var go together"));
  CHECK_THROWS_WITH(batch_norm(randn({3}), {}, {}, {}, {}, true),
                    Contains("batch_norm: input of shape [3] has no channel dim"));
}

TEST_CASE("batchnorm layers: PyTorch's state_dict names, dtypes and initial values", "[norm]") {
  auto bn = create_layer("batchnorm2d", {{"num_features", 3}});
  const auto sd = bn->state_dict();
  REQUIRE(sd.size() == 5);
  const std::vector<std::string> names{"weight", "bias", "running_mean", "running_var",
                                       "num_batches_tracked"};
  for (size_t i = 0; i < 5; ++i) CHECK(sd[i].first == names[i]);
  CHECK(bn->named_parameters().size() == 2);
  CHECK(sd[0].second.to_vector<float>() == V{1, 1, 1});
  CHECK(sd[1].second.to_vector<float>() == V{0, 0, 0});
  CHECK(sd[2].second.to_vector<float>() == V{0, 0, 0});
  CHECK(sd[3].second.to_vector<float>() == V{1, 1, 1});
  CHECK(sd[4].second.dtype() == DType::I64);
  CHECK(sd[4].second.dim() == 0);
  CHECK(bn->repr() ==
        "batchnorm2d(affine=true, eps=1e-05, momentum=0.1, num_features=3, "
        "track_running_stats=true)");

  auto plain = create_layer("batchnorm1d", {{"num_features", 2}, {"affine", false}});
  CHECK(plain->named_parameters().empty());
  CHECK(plain->named_buffers().size() == 3);
  auto untracked =
      create_layer("batchnorm1d", {{"num_features", 2}, {"track_running_stats", false}});
  CHECK(untracked->named_buffers().empty());
  CHECK(untracked->named_parameters().size() == 2);
}

TEST_CASE("batchnorm layers: training updates the statistics as PyTorch, eval uses them",
          "[norm]") {
  // The fixture's case with momentum 0.3, run through the layer: weights loaded by name.
  const json& c = fixture_case("train_2d_affine");
  auto bn = create_layer("batchnorm2d", {{"num_features", 4}, {"momentum", 0.3}});
  bn->load_state_dict({{"weight", from_json(c.at("weight"))},
                       {"bias", from_json(c.at("bias"))},
                       {"running_mean", from_json(c.at("running_mean"))},
                       {"running_var", from_json(c.at("running_var"))},
                       {"num_batches_tracked", tensor_i64({0}, {})}});
  for (const json& s : c.at("steps"))
    check_close(bn->forward(from_json(s.at("x"))), s.at("y"), 1e-4, 1e-5, "y");
  const auto buffers = bn->named_buffers();
  check_close(buffers[0].second, c.at("steps").back().at("running_mean"), 1e-5, 1e-6, "mean");
  check_close(buffers[1].second, c.at("steps").back().at("running_var"), 1e-5, 1e-6, "var");
  CHECK(buffers[2].second.item() == 3);

  // Eval: the running statistics normalise, one sample is fine, nothing is updated.
  bn->eval();
  const Tensor x = randn({1, 4, 2, 2});
  const Tensor y = bn->forward(x);
  const auto p = bn->named_parameters();
  CHECK(allclose(
      y, batch_norm(x, p[0].second, p[1].second, buffers[0].second, buffers[1].second, false), 1e-6,
      1e-7));
  check_close(buffers[0].second, c.at("steps").back().at("running_mean"), 1e-5, 1e-6, "kept");
  CHECK(buffers[2].second.item() == 3);
  // In training the same batch normalises with its own statistics: a different output, whose
  // per-channel mean is the bias.
  bn->train();
  const Tensor t = bn->forward(x);
  CHECK_FALSE(allclose(t, y, 1e-3, 1e-3));
  CHECK(allclose(mean(t, {0, 2, 3}), p[1].second, 0, 1e-5));

  // Without running statistics eval mode normalises with the batch's too (PyTorch's rule).
  auto untracked =
      create_layer("batchnorm1d", {{"num_features", 2}, {"track_running_stats", false}});
  untracked->eval();
  const Tensor m = mean(untracked->forward(randn({6, 2}) * 3.0 + 7.0), {0});
  CHECK(allclose(m, zeros({2}), 0, 1e-5));
}

TEST_CASE("batchnorm layers: wrong rank or channel count names the layer and what it accepts",
          "[norm]") {
  auto bn1 = create_layer("batchnorm1d", {{"num_features", 3}});
  CHECK(bn1->forward(randn({4, 3})).shape() == Shape{4, 3});
  CHECK(bn1->forward(randn({4, 3, 7})).shape() == Shape{4, 3, 7});
  CHECK_THROWS_WITH(bn1->forward(randn({2, 3, 4, 4})),
                    Contains("batchnorm1d: expected a [N, C] or [N, C, L] input, got shape "
                             "[2, 3, 4, 4]"));
  CHECK_THROWS_WITH(bn1->forward(randn({4, 5})),
                    Contains("batchnorm1d: input of shape [4, 5] has 5 channels in dim 1, the "
                             "layer has num_features = 3"));
  auto bn2 = create_layer("batchnorm2d", {{"num_features", 3}});
  CHECK_THROWS_WITH(bn2->forward(randn({4, 3})),
                    Contains("batchnorm2d: expected an [N, C, H, W] input, got shape [4, 3]"));
  CHECK_THROWS_WITH(bn1->forward(randn({1, 3})),
                    Contains("expected more than 1 value per channel when training"));
  CHECK_THROWS_WITH(create_layer("batchnorm2d", {{"num_features", 0}}),
                    Contains("layer 'batchnorm2d': parameter 'num_features' = 0 is out of range"));
}

TEST_CASE("batch_norm equals the same formula written with ops, at sizes past the fast paths",
          "[norm]") {
  // [600, 70]: whole blocks of channels plus a tail in the [N, C] loop, and past the size at
  // which the loops split across threads; [16, 5, 9, 50] likewise for the spatial loop.
  manual_seed(4);
  for (const Shape& s : {Shape{600, 70}, Shape{16, 5, 9, 50}}) {
    INFO(shape_str(s));
    const int64_t c = s[1];
    std::vector<int64_t> dims{0};
    for (size_t d = 2; d < s.size(); ++d) dims.push_back(int64_t(d));
    Shape cs(s.size(), 1);
    cs[1] = c;
    const Tensor x0 = randn(s) * 2.0 + 3.0, w0 = randn({c}), b0 = randn({c}), g = randn(s);
    auto run = [&](bool fused) {
      Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_(),
             b = b0.detach().requires_grad_();
      Tensor y;
      if (fused) {
        y = batch_norm(x, w, b, {}, {}, true);
      } else {
        const Tensor mu = mean(x, dims, true), xc = x - mu;
        const Tensor var = mean(xc * xc, dims, true);
        y = xc / sqrt(var + 1e-5) * reshape(w, cs) + reshape(b, cs);
      }
      y.backward(g);
      return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad()};
    };
    const auto fused = run(true), ref = run(false);
    CHECK(allclose(fused[0], ref[0], 1e-4, 1e-4));
    CHECK(allclose(fused[1], ref[1], 1e-3, 1e-4));
    CHECK(allclose(fused[2], ref[2], 1e-3, 1e-3));
    CHECK(allclose(fused[3], ref[3], 1e-3, 1e-3));
  }
}
