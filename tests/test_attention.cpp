// multihead_attention and transformer_block: PyTorch fixtures (fixtures/attention.json) with the
// same weights, loaded by torch's state_dict names; gradients of the input and every parameter;
// finite differences; torch's init; dropout in train vs eval; argument errors.
#include <catch2/catch.hpp>
#include <cmath>

#include "gom/gom.h"
#include "gradcheck.h"
#include "layer_fixtures.h"

using namespace gom;
using Catch::Matchers::Contains;
using TV = std::vector<Tensor>;

namespace {
int run_fixtures(const char* prefix) {
  return gom_test::check_layer_cases("attention.json", prefix, 1e-4, 1e-5);
}

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.first);
  return out;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_vector<float>()) m = std::max(m, double(std::fabs(v)));
  return m;
}
}  // namespace

TEST_CASE("multihead_attention matches PyTorch: causal or not, batch_first or not, no bias",
          "[attention]") {
  CHECK(run_fixtures("mha") == 5);
}

TEST_CASE("transformer_block matches PyTorch's TransformerEncoderLayer in eval mode",
          "[attention]") {
  CHECK(run_fixtures("block") == 3);  // post-norm relu; pre-norm gelu causal; seq-first causal
}

TEST_CASE("multihead_attention input gradient matches finite differences", "[attention]") {
  manual_seed(11);
  for (bool causal : {false, true}) {
    auto m = create_layer("multihead_attention",
                          {{"embed_dim", 4}, {"num_heads", 2}, {"causal", causal}});
    Generator gen(3);
    const auto r =
        gom_test::gradcheck([&](const TV& in) { return m->forward(in[0]); },
                            {randn({2, 3, 4}, &gen)}, {.eps = 1e-3, .atol = 2e-3, .rtol = 2e-3});
    INFO("causal " << causal << "\n" << r.report);
    CHECK(r.ok);
  }
}

TEST_CASE("causal attention: an output position does not depend on later inputs", "[attention]") {
  manual_seed(2);
  auto m =
      create_layer("multihead_attention", {{"embed_dim", 6}, {"num_heads", 3}, {"causal", true}});
  Tensor x = randn({1, 4, 6});
  const Tensor y = m->forward(x);
  Tensor x2 = x.clone();
  {
    NoGrad ng;
    Tensor last = x2.slice(1, 3, 4);
    fill_(last, 5.0);
  }
  const Tensor y2 = m->forward(x2);
  CHECK(allclose(y.slice(1, 0, 3), y2.slice(1, 0, 3), 1e-6, 1e-6));
  CHECK_FALSE(allclose(y.slice(1, 3, 4), y2.slice(1, 3, 4), 1e-3, 1e-3));
}

TEST_CASE("multihead_attention and transformer_block: torch's parameter names and init",
          "[attention]") {
  manual_seed(7);
  auto m = create_layer("multihead_attention", {{"embed_dim", 16}, {"num_heads", 4}});
  CHECK(names_of(m->named_parameters()) ==
        std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight",
                                 "out_proj.bias"});
  const auto ps = m->named_parameters();
  CHECK(ps[0].second.shape() == Shape{48, 16});
  // xavier_uniform on [3E, E]: bound sqrt(6 / (E + 3E)) = sqrt(6 / 64) ~ 0.306.
  CHECK(max_abs(ps[0].second) <= std::sqrt(6.0 / 64.0));
  CHECK(max_abs(ps[0].second) > 0.9 * std::sqrt(6.0 / 64.0));
  CHECK(max_abs(ps[1].second) == 0.0);
  CHECK(max_abs(ps[2].second) <= 0.25);  // nn.Linear's U(-1/sqrt(16), 1/sqrt(16))
  CHECK(max_abs(ps[2].second) > 0.2);
  CHECK(max_abs(ps[3].second) == 0.0);
  auto nobias =
      create_layer("multihead_attention", {{"embed_dim", 4}, {"num_heads", 2}, {"bias", false}});
  CHECK(names_of(nobias->named_parameters()) ==
        std::vector<std::string>{"in_proj_weight", "out_proj.weight"});

  auto b =
      create_layer("transformer_block", {{"d_model", 8}, {"nhead", 2}, {"dim_feedforward", 16}});
  CHECK(names_of(b->named_parameters()) ==
        std::vector<std::string>{"self_attn.in_proj_weight", "self_attn.in_proj_bias",
                                 "self_attn.out_proj.weight", "self_attn.out_proj.bias",
                                 "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                                 "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"});
  auto defaults = create_layer("transformer_block", {{"d_model", 8}, {"nhead", 2}});
  CHECK(defaults->named_parameters()[4].second.shape() == Shape{2048, 8});
}

TEST_CASE("transformer_block: dropout acts in train mode only, reproducibly per seed",
          "[attention]") {
  const auto& c = gom_test::layer_fixtures("attention.json").at("block");
  auto m = gom_test::fixture_layer(c);  // eval mode, PyTorch's weights
  const Tensor x = gom_test::decode(c.at("inputs")[0]);
  const Tensor expected = gom_test::decode(c.at("output"));
  CHECK(gom_test::close(m->forward(x), expected, 1e-4, 1e-5, "eval output"));
  m->train();
  manual_seed(42);
  const Tensor t1 = m->forward(x);
  manual_seed(42);
  const Tensor t2 = m->forward(x);
  manual_seed(43);
  const Tensor t3 = m->forward(x);
  CHECK_FALSE(allclose(t1, expected, 1e-3, 1e-3));
  CHECK(allclose(t1, t2, 0, 0));
  CHECK_FALSE(allclose(t1, t3, 1e-3, 1e-3));
  m->eval();
  CHECK(gom_test::close(m->forward(x), expected, 1e-4, 1e-5, "eval output again"));

  // The attention weights' own dropout: multihead_attention with dropout > 0.
  manual_seed(1);
  auto a =
      create_layer("multihead_attention", {{"embed_dim", 4}, {"num_heads", 2}, {"dropout", 0.5}});
  const Tensor y = randn({2, 5, 4});
  a->eval();
  const Tensor e1 = a->forward(y);
  CHECK(allclose(e1, a->forward(y), 0, 0));
  a->train();
  CHECK_FALSE(allclose(e1, a->forward(y), 1e-3, 1e-3));
}

TEST_CASE("attention errors name the layer, the values and what is accepted", "[attention]") {
  CHECK_THROWS_WITH(
      create_layer("multihead_attention", {{"embed_dim", 10}, {"num_heads", 4}}),
      Contains("layer 'multihead_attention': embed_dim = 10 is not divisible by num_heads = 4; "
               "expected embed_dim to be a multiple of num_heads"));
  auto m = create_layer("multihead_attention", {{"embed_dim", 8}, {"num_heads", 2}});
  CHECK_THROWS_WITH(m->forward(randn({5, 8})),
                    Contains("layer 'multihead_attention': input of shape [5, 8] does not fit; "
                             "expected [B, T, E] (batch_first = true) with E = embed_dim = 8"));
  CHECK_THROWS_WITH(m->forward(randn({2, 5, 6})),
                    Contains("input of shape [2, 5, 6] does not fit"));
  auto s = create_layer("multihead_attention",
                        {{"embed_dim", 8}, {"num_heads", 2}, {"batch_first", false}});
  CHECK_THROWS_WITH(s->forward(randn({2, 8})),
                    Contains("expected [T, B, E] (batch_first = false) with E = embed_dim = 8"));
  CHECK_THROWS_WITH(
      create_layer("multihead_attention", {{"embed_dim", 8}}),
      Contains("layer 'multihead_attention': missing required parameter 'num_heads'"));
  CHECK_THROWS_WITH(
      create_layer("transformer_block", {{"d_model", 6}, {"nhead", 4}}),
      Contains("layer 'transformer_block': d_model = 6 is not divisible by nhead = 4; expected "
               "d_model to be a multiple of nhead"));
  CHECK_THROWS_WITH(
      create_layer("transformer_block", {{"d_model", 8}, {"nhead", 2}, {"activation", "tanh"}}),
      Contains("layer 'transformer_block': parameter 'activation' = \"tanh\" is not "
               "accepted; expected one of: relu, gelu"));
  auto b =
      create_layer("transformer_block", {{"d_model", 8}, {"nhead", 2}, {"dim_feedforward", 8}});
  CHECK_THROWS_WITH(b->forward(randn({2, 3, 4})),
                    Contains("layer 'transformer_block': input of shape [2, 3, 4] does not fit; "
                             "expected [B, T, 8] (or [T, B, 8] with batch_first = false)"));
}
