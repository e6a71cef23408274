// The rnn, lstm and gru layers and ops: forward and every gradient against PyTorch
// (fixtures/rnn.json, written by gen_rnn_fixtures.py) and against finite differences, stateful
// truncated BPTT, parameter names and init, dropout between layers, and the error messages.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "gradcheck.h"

using namespace gom;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {

const json& rnn_fixtures() {
  static const json cases = [] {
    std::ifstream in(GOM_FIXTURE_DIR "/rnn.json");
    if (!in) throw Error("cannot open " GOM_FIXTURE_DIR "/rnn.json");
    return json::parse(in);
  }();
  return cases;
}

Tensor from_json(const json& j) {
  return tensor(j.at("data").get<std::vector<float>>(), j.at("shape").get<Shape>());
}

// Element-wise comparison with a message naming what differed.
void check_close(const Tensor& got, const json& want, const std::string& what, double rtol = 1e-4,
                 double atol = 2e-5) {
  INFO(what);
  REQUIRE(got.defined());
  REQUIRE(got.shape() == want.at("shape").get<Shape>());
  const auto g = got.contiguous().to_vector<float>();
  const auto w = want.at("data").get<std::vector<float>>();
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double excess = std::fabs(g[i] - w[i]) - (atol + rtol * std::fabs(w[i]));
    if (excess > worst) worst = excess, at = i;
  }
  INFO("element " << at << ": gom " << g[at] << ", PyTorch " << w[at]);
  CHECK(worst == 0);
}

std::shared_ptr<Recurrent> recurrent(const std::string& type, const Config& c) {
  auto m = std::dynamic_pointer_cast<Recurrent>(create_layer(type, c));
  REQUIRE(m);
  return m;
}

// Runs one fixture case through the layer: forward, then the gradients of
// sum(out*gy) + sum(h_n*gh) (+ sum(c_n*gc)) for the input, the initial state and every parameter.
void run_case(const json& c) {
  INFO("case " << c.at("name").get<std::string>());
  Config cfg;
  for (const auto& [k, v] : c.at("config").items()) {
    if (v.is_boolean())
      cfg[k] = v.get<bool>();
    else if (v.is_number_integer())
      cfg[k] = v.get<int64_t>();
    else
      cfg[k] = v.get<std::string>();
  }
  auto layer = recurrent(c.at("layer"), cfg);
  std::vector<std::pair<std::string, Tensor>> params;
  for (const auto& [k, v] : c.at("params").items()) params.emplace_back(k, from_json(v));
  layer->load_state_dict(params);

  Tensor x = from_json(c.at("x")).requires_grad_();
  std::vector<Tensor> state;
  if (!c.at("h0").is_null()) state.push_back(from_json(c.at("h0")).requires_grad_());
  if (!c.at("c0").is_null()) state.push_back(from_json(c.at("c0")).requires_grad_());
  {
    NoGrad ng;  // the inference primitive (no workspace) gives the same values
    check_close(layer->forward_state(x, state).first, c.at("output"), "output without graph");
  }
  auto [out, fin] = layer->forward_state(x, state);
  check_close(out, c.at("output"), "output");
  check_close(fin.at(0), c.at("h_n"), "h_n");
  Tensor loss =
      sum(out * from_json(c.at("grad_output"))) + sum(fin[0] * from_json(c.at("grad_h_n")));
  if (!c.at("c_n").is_null()) {
    REQUIRE(fin.size() == 2);
    check_close(fin[1], c.at("c_n"), "c_n");
    loss = loss + sum(fin[1] * from_json(c.at("grad_c_n")));
  } else {
    CHECK(fin.size() == 1);
  }
  loss.backward();
  const json& g = c.at("grads");
  check_close(x.grad(), g.at("x"), "grad x");
  if (g.contains("h0")) check_close(state[0].grad(), g.at("h0"), "grad h0");
  if (g.contains("c0")) check_close(state[1].grad(), g.at("c0"), "grad c0");
  const auto named = layer->named_parameters();
  CHECK(named.size() == c.at("params").size());
  for (const auto& [name, p] : named) check_close(p.grad(), g.at(name), "grad " + name);
}

void run_cases(const std::string& layer) {
  int n = 0;
  for (const json& c : rnn_fixtures())
    if (c.at("layer") == layer) {
      run_case(c);
      ++n;
    }
  CHECK(n >= 2);
}

}  // namespace

TEST_CASE("lstm matches PyTorch: outputs, final states and every gradient", "[rnn]") {
  run_cases("lstm");
}

TEST_CASE("gru matches PyTorch: outputs, final state and every gradient", "[rnn]") {
  run_cases("gru");
}

TEST_CASE("rnn (tanh and relu) matches PyTorch: outputs, final state and every gradient", "[rnn]") {
  run_cases("rnn");
}

TEST_CASE("recurrent ops' gradients match finite differences", "[rnn][gradcheck]") {
  manual_seed(11);
  const int64_t T = 3, B = 2, I = 3, H = 4;
  auto w = [](int64_t rows, int64_t cols) { return rand({rows, cols}) * 1.0 - 0.5; };
  auto b = [](int64_t n) { return rand({n}) * 1.0 - 0.5; };
  gom_test::GradcheckOptions o;
  o.eps = 1e-2;
  auto all = [](const RnnOutput& r) {
    std::vector<Tensor> parts{r.output.reshape({-1}), r.h_n.reshape({-1})};
    if (r.c_n.defined()) parts.push_back(r.c_n.reshape({-1}));
    return cat(parts, 0);
  };
  SECTION("lstm, x given as a batch-major view") {
    // x [B, T, I] transposed: the strided layout the batch_first layer hands in.
    const Tensor x = randn({B, T, I}).transpose(0, 1);
    auto f = [&](const std::vector<Tensor>& in) {
      return all(lstm(in[0], in[1], in[2], {{in[3], in[4], in[5], in[6]}}));
    };
    auto r = gom_test::gradcheck(
        f, {x, randn({1, B, H}), randn({1, B, H}), w(4 * H, I), w(4 * H, H), b(4 * H), b(4 * H)},
        o);
    INFO(r.report);
    CHECK(r.ok);
  }
  SECTION("gru, two layers") {
    auto f = [&](const std::vector<Tensor>& in) {
      return all(gru(in[0], in[1], {{in[2], in[3], in[4], in[5]}, {in[6], in[7], in[8], in[9]}}));
    };
    auto r = gom_test::gradcheck(f,
                                 {randn({T, B, I}), randn({2, B, H}), w(3 * H, I), w(3 * H, H),
                                  b(3 * H), b(3 * H), w(3 * H, H), w(3 * H, H), b(3 * H), b(3 * H)},
                                 o);
    INFO(r.report);
    CHECK(r.ok);
  }
  SECTION("rnn relu and tanh") {
    for (bool relu : {true, false}) {
      auto f = [&](const std::vector<Tensor>& in) {
        return all(rnn(in[0], in[1], {{in[2], in[3], in[4], in[5]}}, relu));
      };
      auto r = gom_test::gradcheck(
          f, {randn({T, B, I}), randn({1, B, H}), w(H, I), w(H, H), b(H), b(H)}, o);
      INFO((relu ? "relu: " : "tanh: ") << r.report);
      CHECK(r.ok);
    }
  }
}

TEST_CASE("recurrent layers name their parameters as PyTorch and initialise them as it does",
          "[rnn]") {
  manual_seed(5);
  auto m = create_layer("lstm", {{"input_size", 10}, {"hidden_size", 16}, {"num_layers", 2}});
  const auto named = m->named_parameters();
  REQUIRE(named.size() == 8);
  const std::vector<std::pair<std::string, Shape>> want{
      {"weight_ih_l0", {64, 10}}, {"weight_hh_l0", {64, 16}}, {"bias_ih_l0", {64}},
      {"bias_hh_l0", {64}},       {"weight_ih_l1", {64, 16}}, {"weight_hh_l1", {64, 16}},
      {"bias_ih_l1", {64}},       {"bias_hh_l1", {64}}};
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(named[i].first == want[i].first);
    CHECK(named[i].second.shape() == want[i].second);
    // U(-1/sqrt(16), 1/sqrt(16)) = U(-0.25, 0.25), spread over the range.
    const auto v = named[i].second.to_vector<float>();
    CHECK(*std::max_element(v.begin(), v.end()) <= 0.25f);
    CHECK(*std::min_element(v.begin(), v.end()) >= -0.25f);
    CHECK(*std::max_element(v.begin(), v.end()) > 0.2f);
  }
  auto g = create_layer("gru", {{"input_size", 3}, {"hidden_size", 5}, {"bias", false}});
  REQUIRE(g->named_parameters().size() == 2);
  CHECK(g->named_parameters()[0].second.shape() == Shape{15, 3});
  auto r = create_layer("rnn", {{"input_size", 3}, {"hidden_size", 5}, {"init", "zeros"}});
  CHECK(r->named_parameters()[0].second.shape() == Shape{5, 3});
  CHECK(sum(abs(r->named_parameters()[0].second)).item() == 0.0);
  // forward(x) returns the sequence only: [T, B, H] (or [B, T, H] batch_first).
  auto bf = create_layer("gru", {{"input_size", 3}, {"hidden_size", 5}, {"batch_first", true}});
  CHECK(bf->forward(randn({2, 7, 3})).shape() == Shape{2, 7, 5});
  CHECK(r->forward(randn({7, 2, 3})).shape() == Shape{7, 2, 5});
}

TEST_CASE("a stateful lstm carries its state across calls, cut from the graph", "[rnn]") {
  manual_seed(8);
  const Config cfg{{"input_size", 3}, {"hidden_size", 4}, {"batch_first", true}, {"num_layers", 2}};
  Config scfg = cfg;
  scfg["stateful"] = true;
  auto stateful = create_layer("lstm", scfg);
  auto plain = create_layer("lstm", cfg);
  plain->load_state_dict(stateful->state_dict());
  const Tensor x = randn({2, 6, 3});
  Tensor x1 = x.slice(1, 0, 3).contiguous().requires_grad_();
  Tensor x2 = x.slice(1, 3, 6).contiguous().requires_grad_();

  // Two calls give what one call on the whole sequence gives.
  Tensor o1 = stateful->forward(x1);
  Tensor o2 = stateful->forward(x2);
  const Tensor whole = plain->forward(x);
  CHECK(allclose(cat({o1, o2}, 1), whole, 1e-5, 1e-6));

  // The second call's graph stops at the carried state: nothing reaches x1.
  sum(o2).backward();
  CHECK(!x1.grad().defined());
  REQUIRE(x2.grad().defined());
  CHECK(sum(abs(x2.grad())).item() > 0);

  // reset_state goes back to zeros; so does a batch of another size.
  stateful->reset_state();
  CHECK(allclose(stateful->forward(x2), plain->forward(x2), 1e-5, 1e-6));
  const Tensor one = randn({1, 3, 3});
  CHECK(allclose(stateful->forward(one), plain->forward(one), 1e-5, 1e-6));
  // A container's reset_state reaches the layer (fit calls it on the model).
  auto seq = std::dynamic_pointer_cast<Sequential>(create_layer("sequential"));
  seq->add(stateful);
  stateful->forward(x1.detach());
  seq->reset_state();
  CHECK(allclose(seq->forward(x2.detach()), plain->forward(x2.detach()), 1e-5, 1e-6));
  // Not stateful: every call starts from zeros.
  CHECK(allclose(plain->forward(x2), plain->forward(x2)));
  CHECK(!allclose(stateful->forward(x2.detach()), plain->forward(x2), 1e-3, 1e-4));
}

TEST_CASE("dropout between stacked layers acts in training only", "[rnn]") {
  manual_seed(9);
  const Config cfg{{"input_size", 4}, {"hidden_size", 8}, {"num_layers", 2}};
  Config dcfg = cfg;
  dcfg["dropout"] = 0.5;
  auto dropped = create_layer("gru", dcfg);
  auto plain = create_layer("gru", cfg);
  plain->load_state_dict(dropped->state_dict());
  const Tensor x = randn({5, 3, 4});
  CHECK(!allclose(dropped->forward(x), plain->forward(x), 1e-3, 1e-4));
  dropped->eval();
  CHECK(allclose(dropped->forward(x), plain->forward(x), 1e-6, 1e-7));
}

TEST_CASE("recurrent layers' errors name the layer and the shapes", "[rnn]") {
  auto m = std::dynamic_pointer_cast<Recurrent>(
      create_layer("lstm", {{"input_size", 64}, {"hidden_size", 8}, {"batch_first", true}}));
  REQUIRE(m);
  CHECK_THROWS_WITH(m->forward(randn({32, 64, 10})),
                    Contains("lstm: input [32, 64, 10] has 10 features, the layer expects 64"));
  CHECK_THROWS_WITH(m->forward(randn({32, 64})),
                    Contains("lstm: input [32, 64] must have 3 dims, [batch, time, features] "
                             "(batch_first)"));
  CHECK_THROWS_WITH(m->forward_state(randn({2, 5, 64}), {zeros({1, 2, 8})}),
                    Contains("lstm: the state is 1 tensor(s); expected 2 (h0, c0)"));
  CHECK_THROWS_WITH(m->forward_state(randn({2, 5, 64}), {zeros({1, 3, 8}), zeros({1, 2, 8})}),
                    Contains("lstm: h0 has shape [1, 3, 8]; expected [1, 2, 8] (num_layers, "
                             "batch, hidden)"));
  auto g = create_layer("gru", {{"input_size", 2}, {"hidden_size", 3}});
  CHECK_THROWS_WITH(g->forward(randn({4, 2, 5})),
                    Contains("gru: input [4, 2, 5] has 5 features, the layer expects 2"));
  CHECK_THROWS_WITH(
      create_layer("rnn", {{"input_size", 2}, {"hidden_size", 3}, {"nonlinearity", "sigmoid"}}),
      Contains("parameter 'nonlinearity' = \"sigmoid\" is not accepted"));
  // The op checks its weights.
  CHECK_THROWS_WITH(lstm(randn({3, 2, 4}), {}, {}, {{randn({12, 4}), randn({16, 4})}}),
                    Contains("lstm: weight_ih_l0 has shape [12, 4], expected [16, 4]"));
  CHECK_THROWS_WITH(gru(randn({3, 2, 4}), zeros({2, 2, 3}), {{randn({9, 4}), randn({9, 3})}}),
                    Contains("gru: h0 has shape [2, 2, 3], expected [1, 2, 3] (layers, batch, "
                             "hidden)"));
}
