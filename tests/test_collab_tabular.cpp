// The collaborative-filtering and tabular layers (sigmoid_range, dot_product_bias, collab_nn,
// tabular_embedding): values and parameter gradients against PyTorch (fixtures/collab_tabular.json,
// written by gen_collab_fixtures.py), gradients against finite differences, fastai's init and
// embedding-size rule, embedding dropout in train and eval, a low-rank matrix learnt, and the
// error messages.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../plugins/layers/categorical.h"  // emb_sz_rule itself, for sizes too large to allocate
#include "gom/gom.h"
#include "gom/layer.h"
#include "gom/optimizer.h"
#include "gradcheck.h"

using namespace gom;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {

const json& fixtures() {
  static const json j = [] {
    std::ifstream in(GOM_FIXTURE_DIR "/collab_tabular.json");
    if (!in) throw Error("cannot open " GOM_FIXTURE_DIR "/collab_tabular.json");
    return json::parse(in);
  }();
  return j;
}

const json& fixture(const std::string& name) {
  for (const json& c : fixtures().at("cases"))
    if (c.at("name") == name) return c;
  throw Error("no fixture case " + name);
}

Tensor decode(const json& t) {
  const Shape shape = t.at("shape").get<Shape>();
  if (t.at("dtype") == "i64") return tensor_i64(t.at("data").get<std::vector<int64_t>>(), shape);
  return tensor(t.at("data").get<std::vector<float>>(), shape);
}

Value value_of(const json& v) {
  if (v.is_number_integer()) return Value(v.get<int64_t>());
  if (!v.is_array()) return Value(v.get<double>());
  Value::List l;
  for (const json& e : v) l.push_back(value_of(e));
  return Value(std::move(l));
}

Config config_of(const json& j) {
  Config c;
  for (const auto& [k, v] : j.items()) c.emplace(k, value_of(v));
  return c;
}

// Tolerances of float32 against PyTorch's float32, both in the same order of operations or close.
bool close(const Tensor& a, const Tensor& b) { return allclose(a, b, 1e-5, 1e-6); }

// Loads the case's weights by name into a new layer, runs forward and backward(grad_output), and
// compares the output and every parameter's gradient with PyTorch's.
void check_against_pytorch(const std::string& name) {
  const json& c = fixture(name);
  INFO("fixture " << name);
  auto m = create_layer(c.at("layer"), config_of(c.at("config")));
  std::vector<std::pair<std::string, Tensor>> state;
  for (const auto& [k, v] : c.at("state").items()) state.emplace_back(k, decode(v));
  m->load_state_dict(state);  // strict: the names and shapes are PyTorch's
  Tensor x = decode(c.at("input"));
  const bool input_grad = c.contains("input_grad") && !c.at("input_grad").is_null();
  if (input_grad) x.requires_grad_();
  Tensor out = m->forward(x);
  CHECK(out.shape() == decode(c.at("output")).shape());
  CHECK(close(out, decode(c.at("output"))));
  out.backward(decode(c.at("grad_output")));
  for (const auto& [k, p] : m->named_parameters()) {
    INFO("gradient of " << k);
    REQUIRE(p.grad().defined());
    CHECK(close(p.grad(), decode(c.at("grads").at(k))));
  }
  if (input_grad) {
    // PyTorch's .long() cut the graph at the categorical columns; gom's input gets the
    // continuous columns' gradient only, zeros for the categorical ones.
    Tensor want = decode(c.at("input_grad"));
    REQUIRE(x.grad().defined());
    CHECK(close(x.grad(), want));
  }
}

// Finite differences of every parameter of `m` at input `x`, with gradcheck.h's numerical side:
// the analytical gradient is what backward leaves in each parameter's grad.
void check_param_grads(Module& m, const Tensor& x) {
  auto named = m.named_parameters();
  for (auto& [n, p] : named) p.zero_grad();
  const Tensor out = m.forward(x);
  Generator gen(7);
  const Tensor w = randn(out.shape(), &gen);
  out.backward(w);
  const std::vector<float> wv = w.to_vector<float>();
  for (size_t i = 0; i < named.size(); ++i) {
    Tensor param = named[i].second;
    const Tensor original = param.detach().clone();
    // f(values): the layer's output with this parameter set to values[i].
    auto f = [&](const std::vector<Tensor>& vals) {
      NoGrad ng;
      copy_(param, vals[i]);
      return m.forward(x);
    };
    std::vector<Tensor> values;
    for (auto& [n, p] : named) values.push_back(p.detach().clone());
    gom_test::GradcheckResult r;
    std::ostringstream rep;
    gom_test::gradcheck_detail::check_input(f, values, i, param.grad(), wv, {}, r, rep);
    {
      NoGrad ng;
      copy_(param, original);
    }
    INFO("parameter " << named[i].first << ": " << rep.str());
    CHECK(r.ok);
    CHECK(r.checked_elements == param.numel());
  }
}

// Random (user, item) pairs as f32 [B, 2], as the ratings dataset may give them.
Tensor pairs(int64_t b, int64_t n_users, int64_t n_items, Generator* g) {
  Tensor u = randint(0, n_users, {b, 1}, g), i = randint(0, n_items, {b, 1}, g);
  return cat({u, i}, 1).to(DType::F32);
}

}  // namespace

TEST_CASE("sigmoid_range is sigmoid(x) * (high - low) + low, as fastai's SigmoidRange",
          "[collab]") {
  const json& c = fixture("sigmoid_range");
  auto m = create_layer("sigmoid_range", config_of(c.at("config")));
  CHECK(close(m->forward(decode(c.at("input"))), decode(c.at("output"))));
  auto f = [&](const std::vector<Tensor>& in) { return m->forward(in[0]); };
  const auto r = gom_test::gradcheck(f, {randn({3, 4}) * 2});
  INFO(r.report);
  CHECK(r.ok);
  CHECK_THROWS_WITH(create_layer("sigmoid_range", {{"low", 5}, {"high", 5}}),
                    Contains("layer 'sigmoid_range': [low, high] must have low < high, got [5, 5]"));
}

TEST_CASE("dot_product_bias matches PyTorch's EmbeddingDotBias, with and without y_range",
          "[collab]") {
  check_against_pytorch("dot_product_bias");          // i64 input
  check_against_pytorch("dot_product_bias_y_range");  // f32 input
}

TEST_CASE("collab_nn matches PyTorch's CollabNN with two hidden layers and y_range", "[collab]") {
  check_against_pytorch("collab_nn");
}

TEST_CASE("tabular_embedding matches PyTorch's embeddings + continuous columns", "[tabular]") {
  check_against_pytorch("tabular_embedding");
  check_against_pytorch("tabular_embedding_default_sizes");  // widths by emb_sz_rule
}

TEST_CASE("collab layers: finite-difference gradients of every parameter", "[collab]") {
  manual_seed(11);
  Generator g(5);
  const Tensor x = pairs(9, 4, 3, &g);  // repeated users and items: index_add must sum
  auto dot = create_layer("dot_product_bias", {{"n_users", 4}, {"n_items", 3}, {"n_factors", 2},
                                                {"init", "normal"}, {"y_range", Value{0.0, 5.5}}});
  check_param_grads(*dot, x);
  auto nn = create_layer("collab_nn", {{"n_users", 4}, {"n_items", 3}, {"user_size", 2},
                                       {"item_size", 3}, {"hidden", Value{4.0, 3.0}},
                                       {"init", "normal"}});
  check_param_grads(*nn, x);
}

TEST_CASE("tabular_embedding: finite-difference gradients of the tables and continuous columns",
          "[tabular]") {
  manual_seed(12);
  auto m = create_layer("tabular_embedding", {{"cardinalities", Value{3.0, 4.0}},
                                              {"sizes", Value{2.0, 3.0}},
                                              {"n_cont", 2},
                                              {"init", "normal"}});
  const Tensor cats = tensor({0, 3, 2, 1, 2, 0, 1, 3, 2, 2}, {5, 2});
  const Tensor cont = randn({5, 2});
  check_param_grads(*m, cat({cats, cont}, 1));
  auto f = [&](const std::vector<Tensor>& in) { return m->forward(cat({cats, in[0]}, 1)); };
  const auto r = gom_test::gradcheck(f, {cont});
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("collab and tabular tables: fastai's names, shapes, init and size rule",
          "[collab][tabular]") {
  manual_seed(3);
  auto dot = create_layer("dot_product_bias", {{"n_users", 300}, {"n_items", 200}});
  const auto named = dot->named_parameters();
  REQUIRE(named.size() == 4);
  CHECK(named[0].first == "u_weight.weight");
  CHECK(named[0].second.shape() == Shape{300, 50});
  CHECK(named[1].first == "i_weight.weight");
  CHECK(named[1].second.shape() == Shape{200, 50});
  CHECK(named[2].first == "u_bias.weight");
  CHECK(named[2].second.shape() == Shape{300, 1});
  CHECK(named[3].first == "i_bias.weight");
  // fastai's trunc_normal_(std=0.01): N(0, 1) folded into (-2, 2) by fmod, times 0.01.
  const std::vector<float> w = named[0].second.to_vector<float>();
  double ss = 0;
  float top = 0;
  for (float v : w) {
    ss += double(v) * v;
    top = std::max(top, std::fabs(v));
  }
  CHECK(top < 0.02f);
  CHECK(top > 0.018f);
  CHECK(std::sqrt(ss / double(w.size())) == Approx(0.0088).margin(0.0005));  // folded: std < 0.01

  auto nn = create_layer("collab_nn", {{"n_users", 944}, {"n_items", 1665}});
  const auto nn_named = nn->named_parameters();
  std::vector<std::string> names;
  for (const auto& [n, t] : nn_named) names.push_back(n);
  CHECK(names == std::vector<std::string>{"user_factors.weight", "item_factors.weight",
                                          "layers.0.weight", "layers.0.bias", "layers.2.weight",
                                          "layers.2.bias"});
  // fastai's collab_learner(use_nn=True) on MovieLens 100k: embeddings of 74 and 102.
  CHECK(nn_named[0].second.shape() == Shape{944, 74});
  CHECK(nn_named[1].second.shape() == Shape{1665, 102});
  CHECK(nn_named[2].second.shape() == Shape{100, 176});
  CHECK(nn_named[4].second.shape() == Shape{1, 100});

  for (const auto& [n, size] : fixtures().at("emb_sz_rule").items())
    CHECK(gom_layers::emb_sz_rule(std::stoll(n)) == size.get<int64_t>());
  auto tab = create_layer("tabular_embedding",
                          {{"cardinalities", Value{2.0, 31.0, 1000.0}}, {"n_cont", 3}});
  CHECK(tab->forward(zeros({4, 6})).shape() == Shape{4, 2 + 11 + 77 + 3});
  auto cont_only = create_layer("tabular_embedding", {{"n_cont", 30}});
  CHECK(cont_only->named_parameters().empty());
  const Tensor x = randn({5, 30});
  CHECK(cont_only->forward(x).to_vector<float>() == x.to_vector<float>());
}

TEST_CASE("tabular_embedding drops embedding outputs in training only, never continuous columns",
          "[tabular]") {
  manual_seed(4);
  auto m = create_layer("tabular_embedding", {{"cardinalities", Value{5.0}},
                                              {"sizes", Value{200.0}},
                                              {"n_cont", 3},
                                              {"embed_dropout", 0.5},
                                              {"init", "normal"}});
  const Tensor x = tensor({1, 0.5f, -1, 2, 3, 0.25f, 0.75f, -2}, {2, 4});
  const Tensor table = m->named_parameters()[0].second;
  const std::vector<float> trained = m->forward(x).to_vector<float>();
  const std::vector<float> t1 = table.to_vector<float>();
  int zeros = 0, doubled = 0;
  for (int r = 0; r < 2; ++r) {
    const int64_t row = r == 0 ? 1 : 3;  // the category of each row
    for (int j = 0; j < 200; ++j) {
      const float got = trained[size_t(r * 203 + j)], e = t1[size_t(row * 200 + j)];
      if (got == 0) ++zeros;
      else if (std::fabs(got - 2 * e) < 1e-6f) ++doubled;
    }
    for (int j = 0; j < 3; ++j)
      CHECK(trained[size_t(r * 203 + 200 + j)] == x.to_vector<float>()[size_t(r * 4 + 1 + j)]);
  }
  CHECK(zeros + doubled == 400);
  CHECK(zeros > 150);
  CHECK(zeros < 250);
  m->eval();
  const std::vector<float> evald = m->forward(x).to_vector<float>();
  for (int j = 0; j < 200; ++j) CHECK(evald[size_t(j)] == t1[size_t(200 + j)]);
}

TEST_CASE("dot_product_bias learns a low-rank rating matrix: held-out MSE far below the variance",
          "[collab]") {
  // ratings = 3 + U V^T + user bias + item bias + noise, U [60, 3], V [40, 3]; 80% of the
  // entries to train on, 20% held out.
  manual_seed(21);
  Generator g(99);
  const int64_t nu = 60, ni = 40, rank = 3;
  const std::vector<float> U = randn({nu, rank}, &g).to_vector<float>();
  const std::vector<float> V = randn({ni, rank}, &g).to_vector<float>();
  const std::vector<float> bu = randn({nu}, &g).to_vector<float>();
  const std::vector<float> bi = randn({ni}, &g).to_vector<float>();
  const std::vector<float> keep = rand({nu * ni}, &g).to_vector<float>();
  const std::vector<float> noise = randn({nu * ni}, &g).to_vector<float>();
  std::vector<float> xtr, ytr, xva, yva;
  for (int64_t u = 0; u < nu; ++u)
    for (int64_t i = 0; i < ni; ++i) {
      float r = 3 + 0.5f * bu[size_t(u)] + 0.5f * bi[size_t(i)] + 0.1f * noise[size_t(u * ni + i)];
      for (int64_t k = 0; k < rank; ++k) r += U[size_t(u * rank + k)] * V[size_t(i * rank + k)];
      const bool train = keep[size_t(u * ni + i)] < 0.8f;
      (train ? xtr : xva).insert((train ? xtr : xva).end(), {float(u), float(i)});
      (train ? ytr : yva).push_back(r);
    }
  const auto n_tr = int64_t(ytr.size()), n_va = int64_t(yva.size());
  const Tensor Xtr = tensor(xtr, {n_tr, 2}), Ytr = tensor(ytr, {n_tr, 1});
  const Tensor Xva = tensor(xva, {n_va, 2}), Yva = tensor(yva, {n_va, 1});
  const double var = mse_loss(Yva, full({n_va, 1}, mean(Yva).item())).item();

  auto m = create_layer("dot_product_bias", {{"n_users", nu}, {"n_items", ni}, {"n_factors", 5}});
  auto opt = create_optimizer("adam", m->parameters(), {{"lr", 0.05}});
  for (int step = 0; step < 400; ++step) {
    Tensor loss = mse_loss(m->forward(Xtr), Ytr);
    loss.backward();
    opt->step();
    opt->zero_grad();
  }
  NoGrad ng;
  const double mse = mse_loss(m->forward(Xva), Yva).item();
  INFO("held-out variance " << var << ", MSE " << mse);
  CHECK(var > 2.0);
  CHECK(mse < 0.1 * var);
}

TEST_CASE("collab and tabular layers: bad inputs and parameters are named errors",
          "[collab][tabular]") {
  auto dot = create_layer("dot_product_bias", {{"n_users", 3}, {"n_items", 2}});
  CHECK_THROWS_WITH(dot->forward(tensor_i64({0, 1, 3, 0}, {2, 2})),
                    Contains("layer 'dot_product_bias': user column 0 has index 3 in row 1, out "
                             "of range for n_users = 3 (0 to 2 accepted)"));
  CHECK_THROWS_WITH(dot->forward(tensor({0, 1, 2, -1}, {2, 2})),
                    Contains("layer 'dot_product_bias': item column 1 has index -1 in row 1, out "
                             "of range for n_items = 2 (0 to 1 accepted)"));
  CHECK_THROWS_WITH(dot->forward(tensor({0, 1.5f}, {1, 2})),
                    Contains("layer 'dot_product_bias': item column 1 has 1.5 in row 0, not a "
                             "whole-number index"));
  CHECK_THROWS_WITH(dot->forward(tensor({0, 1, 2}, {1, 3})),
                    Contains("layer 'dot_product_bias': expected input [B, 2] (user index, item "
                             "index) as i64 or f32, got [1, 3] f32"));
  auto nn = create_layer("collab_nn", {{"n_users", 3}, {"n_items", 2}});
  CHECK_THROWS_WITH(nn->forward(tensor_i64({5, 0}, {1, 2})),
                    Contains("layer 'collab_nn': user column 0 has index 5 in row 0, out of range "
                             "for n_users = 3 (0 to 2 accepted)"));
  CHECK_THROWS_WITH(create_layer("collab_nn", {{"n_users", 3}, {"n_items", 2},
                                               {"y_range", Value{5.5}}}),
                    Contains("layer 'collab_nn': y_range must be a list of two numbers [low, "
                             "high], got [5.5]"));
  CHECK_THROWS_WITH(create_layer("dot_product_bias", {{"n_users", 3}, {"n_items", 2},
                                                      {"y_range", Value{5.5, 0.0}}}),
                    Contains("layer 'dot_product_bias': y_range must have low < high, got "
                             "[5.5, 0]"));
  CHECK_THROWS_WITH(create_layer("collab_nn", {{"n_users", 3}, {"n_items", 2},
                                               {"hidden", Value{10.5}}}),
                    Contains("layer 'collab_nn': hidden must list whole numbers >= 1, got "
                             "[10.5]"));

  auto tab = create_layer("tabular_embedding",
                          {{"cardinalities", Value{3.0, 5.0}}, {"n_cont", 1}});
  CHECK_THROWS_WITH(tab->forward(tensor({1, 4, 0.5f, 2, 5, 0.1f}, {2, 3})),
                    Contains("layer 'tabular_embedding': categorical column 1 has index 5 in row "
                             "1, out of range for its cardinality 5 (0 to 4 accepted)"));
  CHECK_THROWS_WITH(tab->forward(zeros({2, 4})),
                    Contains("layer 'tabular_embedding': expected input [B, 3] (2 categorical "
                             "then 1 continuous columns) as f32 or i64, got [2, 4] f32"));
  CHECK_THROWS_WITH(create_layer("tabular_embedding", {{"cardinalities", Value{3.0, 5.0}},
                                                       {"sizes", Value{2.0}}}),
                    Contains("layer 'tabular_embedding': sizes has 1 entries, cardinalities 2; "
                             "give one size per categorical column (or none: fastai's "
                             "emb_sz_rule)"));
  CHECK_THROWS_WITH(create_layer("tabular_embedding", {}),
                    Contains("layer 'tabular_embedding': no columns: give cardinalities, n_cont "
                             "or both"));
  CHECK_THROWS_WITH(create_layer("tabular_embedding", {{"cardinalities", Value{0.0}}}),
                    Contains("layer 'tabular_embedding': parameter 'cardinalities'"));
}
