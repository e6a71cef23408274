// The optimizers of the gom_optimizers plugin (sgd, adam, adamw, rmsprop, adagrad), created
// through the registry as a user would: steps worked by hand, PyTorch 1.13 step for step
// (fixtures/optimizers.json, from gen_optimizer_fixtures.py), schema errors, lr changes,
// parameters without gradients. Saving and restoring state: test_optimizer_state.cpp.
//
// Most tests run twice: on contiguous parameters (the plugin's fused CPU kernels) and on strided
// views (the fallback written with ops, which other devices use).
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gom/gom.h"

namespace {

using gom::Config;
using gom::Tensor;
using json = nlohmann::json;

// A parameter holding `values`. Strided: a view with every other element of a bigger buffer,
// which the fused kernels refuse, so the update runs through ops.
Tensor param(const std::vector<float>& values, const gom::Shape& shape, bool strided) {
  Tensor t = gom::tensor(values, shape);
  if (strided) {
    gom::Shape wide = shape;
    wide.push_back(2);
    const auto last = static_cast<int64_t>(shape.size());
    Tensor view = gom::zeros(wide).slice(last, 0, 1).squeeze(last);
    gom::copy_(view, t);
    t = view;
  }
  return t.detach().requires_grad_();
}

void set_grad(const Tensor& p, const std::vector<float>& g) {
  p.set_grad(gom::tensor(g, p.shape()));
}

float value(const Tensor& p, size_t i = 0) {
  return p.to_vector<float>().at(i);
}

const char* layout_name(bool strided) {
  return strided ? "strided (ops)" : "contiguous (fused)";
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const gom::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

// ---------------------------------------------------------------- steps worked by hand

TEST_CASE("sgd weight decay by hand: torch's weight_decay vs a penalty in the loss",
          "[optimizers]") {
  const bool strided = GENERATE(false, true);
  INFO(layout_name(strided));
  // PyTorch's weight_decay adds wd*w to the gradient: 5 - 0.1 * (4 + 0.01*5) = 4.595.
  Tensor w = param({5, 5}, {2}, strided);
  auto sgd = gom::create_optimizer("sgd", {w}, Config{{"lr", 0.1}, {"weight_decay", 0.01}});
  set_grad(w, {4, 4});
  sgd->step();
  CHECK(value(w, 0) == Approx(4.595).epsilon(1e-6));
  CHECK(value(w, 1) == Approx(4.595).epsilon(1e-6));

  // Writing wd*w^2 into the loss doubles that: its gradient is 2*wd*w, so 5 - 0.1*(4 + 0.1) =
  // 4.59. weight_decay = wd is the penalty (wd/2)*w^2, which is why the two conventions differ.
  Tensor v = param({5, 5}, {2}, strided);
  auto plain = gom::create_optimizer("sgd", {v}, Config{{"lr", 0.1}});
  gom::sum(v * 4.0 + v * v * 0.01).backward();
  CHECK(value(v.grad()) == Approx(4.1).epsilon(1e-6));
  plain->step();
  CHECK(value(v, 0) == Approx(4.59).epsilon(1e-6));
  CHECK(value(v, 1) == Approx(4.59).epsilon(1e-6));
}

TEST_CASE("sgd momentum by hand over three steps", "[optimizers]") {
  const bool strided = GENERATE(false, true);
  INFO(layout_name(strided));
  Tensor w = param({1, -1}, {2}, strided);
  auto sgd = gom::create_optimizer("sgd", {w}, Config{{"lr", 0.1}, {"momentum", 0.9}});
  // buf = g on the first step (no dampening then), then 0.9*buf + g.
  const float expected[] = {0.9f, 0.61f, 0.049f};  // bufs 1, 2.9, 5.61
  for (int t = 0; t < 3; ++t) {
    const float g = float(t + 1);
    set_grad(w, {g, -g});
    sgd->step();
    CHECK(value(w, 0) == Approx(expected[t]).margin(1e-6));
    CHECK(value(w, 1) == Approx(-expected[t]).margin(1e-6));
  }
}

TEST_CASE("sgd nesterov by hand over two steps", "[optimizers]") {
  const bool strided = GENERATE(false, true);
  INFO(layout_name(strided));
  Tensor w = param({1, 1}, {2}, strided);
  auto sgd =
      gom::create_optimizer("sgd", {w}, Config{{"lr", 0.1}, {"momentum", 0.9}, {"nesterov", true}});
  set_grad(w, {1, 1});  // buf = 1, d = 1 + 0.9*1 = 1.9
  sgd->step();
  CHECK(value(w) == Approx(0.81).margin(1e-6));
  set_grad(w, {2, 2});  // buf = 0.9 + 2 = 2.9, d = 2 + 0.9*2.9 = 4.61
  sgd->step();
  CHECK(value(w) == Approx(0.349).margin(1e-6));
}

TEST_CASE("adam's first steps by hand", "[optimizers]") {
  const bool strided = GENERATE(false, true);
  INFO(layout_name(strided));
  // After bias correction m = g and sqrt(v) = |g| on step 1 (and at every step while g stays
  // the same), so each step moves p by lr * g / (|g| + eps): about lr against the gradient's sign.
  const double lr = 0.1, eps = GENERATE(1e-8, 0.5);
  INFO("eps = " << eps);
  const std::vector<float> g = {0.5f, -2.0f, 1e-3f};
  Tensor w = param({1, 1, 1}, {3}, strided);
  auto adam = gom::create_optimizer("adam", {w}, Config{{"lr", lr}, {"eps", eps}});
  for (int t = 1; t <= 2; ++t) {
    set_grad(w, g);
    adam->step();
    for (size_t i = 0; i < g.size(); ++i)
      CHECK(value(w, i) == Approx(1.0 - t * lr * g[i] / (std::fabs(g[i]) + eps)).margin(1e-6));
  }
}

TEST_CASE("adamw by hand: the decay scales p, it does not go through the gradient",
          "[optimizers]") {
  const bool strided = GENERATE(false, true);
  INFO(layout_name(strided));
  // lr 0.1, weight_decay 0.5, w = 4, g = 1. AdamW: p = 4 * (1 - 0.1*0.5) = 3.8, then Adam's
  // first step (m/sqrt(v) = g/|g|) takes 0.1 more: 3.7. Step 2, same g: 3.7 * 0.95 - 0.1 = 3.415.
  Tensor w = param({4}, {1}, strided);
  auto adamw = gom::create_optimizer("adamw", {w}, Config{{"lr", 0.1}, {"weight_decay", 0.5}});
  set_grad(w, {1});
  adamw->step();
  CHECK(value(w) == Approx(3.7).margin(1e-6));
  adamw->step();
  CHECK(value(w) == Approx(3.415).margin(1e-6));
  // Adam's L2 makes g = 1 + 0.5*4 = 3, and the normalised step is still 0.1: 3.9.
  Tensor v = param({4}, {1}, strided);
  auto adam = gom::create_optimizer("adam", {v}, Config{{"lr", 0.1}, {"weight_decay", 0.5}});
  set_grad(v, {1});
  adam->step();
  CHECK(value(v) == Approx(3.9).margin(1e-6));
  // A zero gradient leaves only the decay (m = 0): 4 * 0.95 = 3.8.
  Tensor z = param({4}, {1}, strided);
  auto decay = gom::create_optimizer("adamw", {z}, Config{{"lr", 0.1}, {"weight_decay", 0.5}});
  set_grad(z, {0});
  decay->step();
  CHECK(value(z) == Approx(3.8).margin(1e-6));
}

TEST_CASE("rmsprop by hand: plain, centered and with momentum", "[optimizers]") {
  const bool strided = GENERATE(false, true);
  INFO(layout_name(strided));
  auto run = [&](const Config& c, const std::vector<float>& grads) {
    Tensor w = param({1}, {1}, strided);
    auto opt = gom::create_optimizer("rmsprop", {w}, c);
    std::vector<float> out;
    for (float g : grads) {
      set_grad(w, {g});
      opt->step();
      out.push_back(value(w));
    }
    return out;
  };
  // lr 0.01, alpha 0.99, w = 1. g = 2: v = 0.01*4 = 0.04, p = 1 - 0.01*2/0.2 = 0.9 (10 lr: no
  // bias correction). g = 1: v = 0.99*0.04 + 0.01 = 0.0496, p = 0.9 - 0.01/0.222711 = 0.855099.
  const auto plain = run({{"lr", 0.01}}, {2, 1});
  CHECK(plain[0] == Approx(0.9).margin(1e-6));
  CHECK(plain[1] == Approx(0.855099).margin(1e-6));
  // Centered: a = 0.01*2 = 0.02, avg = sqrt(0.04 - 0.0004) = 0.198997, p = 1 - 0.02/0.198997
  // = 0.899496.
  CHECK(run({{"lr", 0.01}, {"centered", true}}, {2})[0] == Approx(0.899496).margin(1e-6));
  // Momentum 0.9: buf = 2/0.2 = 10, p = 0.9; g = 2 again: v = 0.0796, buf = 9 + 2/0.282135 =
  // 16.08882, p = 0.9 - 0.1608882 = 0.739112.
  const auto momentum = run({{"lr", 0.01}, {"momentum", 0.9}}, {2, 2});
  CHECK(momentum[0] == Approx(0.9).margin(1e-6));
  CHECK(momentum[1] == Approx(0.739112).margin(1e-6));
}

TEST_CASE("adagrad by hand: lr_decay, initial accumulator, weight decay", "[optimizers]") {
  const bool strided = GENERATE(false, true);
  INFO(layout_name(strided));
  // lr 0.1, lr_decay 0.5, w = 1. g = 3: sum = 9, p = 1 - 0.1*3/3 = 0.9 (the first step is lr
  // against the gradient's sign). g = 4: sum = 25, clr = 0.1/(1 + 0.5) = 0.0666667,
  // p = 0.9 - 0.0666667*4/5 = 0.846667.
  Tensor w = param({1}, {1}, strided);
  auto opt = gom::create_optimizer("adagrad", {w}, Config{{"lr", 0.1}, {"lr_decay", 0.5}});
  set_grad(w, {3});
  opt->step();
  CHECK(value(w) == Approx(0.9).margin(1e-6));
  set_grad(w, {4});
  opt->step();
  CHECK(value(w) == Approx(0.846667).margin(1e-6));
  // initial_accumulator_value 16: sum = 16 + 9 = 25, p = 1 - 0.1*3/5 = 0.94.
  Tensor u = param({1}, {1}, strided);
  auto acc = gom::create_optimizer("adagrad", {u},
                                   Config{{"lr", 0.1}, {"initial_accumulator_value", 16.0}});
  set_grad(u, {3});
  acc->step();
  CHECK(value(u) == Approx(0.94).margin(1e-6));
  // weight_decay 0.1: g = 3 + 0.1*1 = 3.1, sum = 9.61, p = 1 - 0.1*3.1/3.1 = 0.9 again.
  Tensor d = param({1}, {1}, strided);
  auto wd = gom::create_optimizer("adagrad", {d}, Config{{"lr", 0.1}, {"weight_decay", 0.1}});
  set_grad(d, {3});
  wd->step();
  CHECK(value(d) == Approx(0.9).margin(1e-6));
}

// ---------------------------------------------------------------- PyTorch parity

namespace {

const json& optimizer_fixtures() {
  static const json cases = [] {
    std::ifstream in(GOM_FIXTURE_DIR "/optimizers.json");
    if (!in) throw gom::Error("cannot open " GOM_FIXTURE_DIR "/optimizers.json");
    return json::parse(in).at("cases");
  }();
  return cases;
}

Config config_of(const json& j) {
  Config c;
  for (const auto& [k, v] : j.items()) {
    if (v.is_boolean()) {
      c[k] = v.get<bool>();
    } else if (v.is_array()) {
      gom::Value::List l;
      for (const json& e : v) l.emplace_back(e.get<double>());
      c[k] = l;
    } else {
      c[k] = v.get<double>();
    }
  }
  return c;
}

}  // namespace

TEST_CASE("optimizers match PyTorch 1.13 step by step", "[optimizers]") {
  const bool strided = GENERATE(false, true);
  INFO(layout_name(strided));
  REQUIRE(optimizer_fixtures().size() == 34);
  std::map<std::string, int> cases;  // per optimizer
  for (const json& c : optimizer_fixtures()) ++cases[c.at("optimizer")];
  CHECK(cases == std::map<std::string, int>{
                     {"sgd", 8}, {"adam", 7}, {"adamw", 6}, {"rmsprop", 7}, {"adagrad", 6}});
  for (const json& c : optimizer_fixtures()) {
    const std::string name = c.at("name");
    INFO("case " << name << " (" << c.at("config").dump() << ")");
    std::vector<Tensor> params;
    for (const json& p : c.at("init"))
      params.push_back(param(p.at("data"), p.at("shape").get<gom::Shape>(), strided));
    auto opt = gom::create_optimizer(c.at("optimizer"), params, config_of(c.at("config")));
    int step = 0;
    for (const json& s : c.at("steps")) {
      INFO("step " << ++step);
      if (!s.at("lr").is_null()) opt->set_lr(s.at("lr").get<double>());
      for (size_t i = 0; i < params.size(); ++i) {
        params[i].zero_grad();
        if (!s.at("grads")[i].is_null()) set_grad(params[i], s.at("grads")[i]);
      }
      opt->step();
      for (size_t i = 0; i < params.size(); ++i) {
        const std::vector<float> want = s.at("params")[i], got = params[i].to_vector<float>();
        REQUIRE(got.size() == want.size());
        for (size_t k = 0; k < want.size(); ++k) {
          INFO("parameter " << i << " element " << k);
          REQUIRE(got[k] == Approx(want[k]).epsilon(1e-5).margin(1e-6));
        }
      }
    }
  }
}

// ---------------------------------------------------------------- schema errors

TEST_CASE("optimizer configs are validated with useful messages", "[optimizers]") {
  auto create = [](const char* name, Config c) {
    return error_of([&] { gom::create_optimizer(name, {param({1}, {1}, false)}, c); });
  };
  using Catch::Contains;
  // Nesterov needs an undamped momentum buffer; the message gives both values.
  const std::string no_momentum = create("sgd", {{"nesterov", true}});
  CHECK_THAT(no_momentum, Contains("optimizer 'sgd': nesterov requires momentum > 0 and "
                                   "dampening = 0; got momentum = 0 and dampening = 0"));
  CHECK_THAT(create("sgd", {{"nesterov", true}, {"momentum", 0.9}, {"dampening", 0.1}}),
             Contains("got momentum = 0.9 and dampening = 0.1"));
  CHECK(create("sgd", {{"nesterov", true}, {"momentum", 0.9}}) == "(no error)");

  CHECK_THAT(create("sgd", {{"lr", -0.1}}),
             Contains("optimizer 'sgd': parameter 'lr' = -0.1 is out of range; expected a "
                      "number >= 0"));
  CHECK_THAT(create("adam", {{"lr", -1}}), Contains("parameter 'lr' = -1 is out of range"));
  CHECK_THAT(create("sgd", {{"momentum", -0.5}}), Contains("'momentum' = -0.5 is out of range"));

  for (const gom::Value& betas :
       {gom::Value{0.9}, gom::Value{0.9, 0.99, 0.999}, gom::Value{0.9, 1.0}}) {
    INFO("betas = " << betas.str());
    CHECK_THAT(create("adam", {{"betas", betas}}),
               Contains("optimizer 'adam': parameter 'betas' = " + betas.str() +
                        " is not accepted; expected a list of 2 numbers in [0, 1)"));
  }
  CHECK_THAT(create("adam", {{"betas", gom::Value{0.9, -0.1}}}),
             Contains("parameter 'betas' = -0.1 is out of range"));
  CHECK_THAT(create("adam", {{"amsgrad", 1}}), Contains("'amsgrad' has the wrong type"));
  CHECK_THAT(create("adamw", {{"betas", gom::Value{0.9, 1.0}}}),
             Contains("optimizer 'adamw': parameter 'betas' = [0.9, 1] is not accepted; "
                      "expected a list of 2 numbers in [0, 1)"));
  CHECK_THAT(create("adamw", {{"weight_decay", -0.1}}),
             Contains("optimizer 'adamw': parameter 'weight_decay' = -0.1 is out of range"));
  CHECK_THAT(create("rmsprop", {{"alpha", 1.5}}),
             Contains("optimizer 'rmsprop': parameter 'alpha' = 1.5 is out of range; expected a "
                      "number in [0, 1]"));
  CHECK_THAT(create("rmsprop", {{"centered", 1}}), Contains("'centered' has the wrong type"));
  CHECK_THAT(create("adagrad", {{"lr_decay", -1}}),
             Contains("optimizer 'adagrad': parameter 'lr_decay' = -1 is out of range"));
  CHECK_THAT(create("adagrad", {{"initial_accumulator", 0.1}}),
             Contains("did you mean 'initial_accumulator_value'?"));

  // "learning_rate" is too far from "lr" by edit distance for a "did you mean"; the message
  // lists the accepted keys instead. A typo gets the suggestion.
  const std::string unknown = create("sgd", {{"learning_rate", 0.1}});
  CHECK_THAT(unknown, Contains("optimizer 'sgd': unknown parameter 'learning_rate'; accepted: "
                               "lr, momentum, dampening, weight_decay, nesterov"));
  CHECK_THAT(create("sgd", {{"wieght_decay", 0.1}}), Contains("did you mean 'weight_decay'?"));
  CHECK_THAT(create("adam", {{"amsgrd", true}}), Contains("did you mean 'amsgrad'?"));

  // Parameters must be leaves: a computed tensor never gets a .grad.
  Tensor leaf = param({1, 2}, {2}, false);
  CHECK_THAT(error_of([&] { gom::create_optimizer("sgd", {leaf * 2.0}); }),
             Contains("optimizer 'sgd': parameter 0 is not a leaf"));
}

// A mismatched gradient cannot reach an optimizer: set_grad (the one way to place a gradient by
// hand) refuses it, and backward checks every gradient's shape. The optimizers' own check stays
// as a guard for gradients placed by future code paths.
TEST_CASE("a gradient that does not match its parameter is refused before any step",
          "[optimizers]") {
  const char* name = GENERATE("sgd", "adam", "adamw", "rmsprop", "adagrad");
  Tensor w = param({1, 2, 3}, {3}, false);
  auto opt = gom::create_optimizer(name, {w});
  CHECK_THAT(error_of([&] { w.set_grad(gom::ones({4})); }),
             Catch::Contains("set_grad: a gradient of shape [4] (f32, cpu) for a tensor of "
                             "shape [3] (f32, cpu)"));
  opt->step();  // no gradient: nothing changes
  CHECK(w.to_vector<float>() == std::vector<float>{1, 2, 3});
}

TEST_CASE("optimizers describe themselves", "[optimizers]") {
  for (const char* name : {"sgd", "adam", "adamw", "rmsprop", "adagrad"}) {
    INFO(name);
    const auto& info = gom::find_component(gom::ComponentKind::Optimizer, name);
    CHECK_THAT(info.library, Catch::Contains("gom_optimizers"));
    CHECK(!info.doc.empty());
    for (const auto& spec : info.schema.specs()) CHECK(!spec.doc.empty());
  }
  auto schema = [](const char* name) -> const gom::Schema& {
    return gom::find_component(gom::ComponentKind::Optimizer, name).schema;
  };
  CHECK(schema("adam").find("betas")->default_value == gom::Value({0.9, 0.999}));
  // PyTorch's defaults.
  CHECK(schema("adamw").find("weight_decay")->default_value == gom::Value(1e-2));
  CHECK(schema("adamw").find("lr")->default_value == gom::Value(1e-3));
  CHECK(schema("rmsprop").find("lr")->default_value == gom::Value(1e-2));
  CHECK(schema("rmsprop").find("alpha")->default_value == gom::Value(0.99));
  CHECK(schema("rmsprop").find("eps")->default_value == gom::Value(1e-8));
  CHECK(schema("adagrad").find("lr")->default_value == gom::Value(1e-2));
  CHECK(schema("adagrad").find("eps")->default_value == gom::Value(1e-10));
  CHECK(schema("adagrad").find("initial_accumulator_value")->default_value == gom::Value(0.0));
  for (const char* op :
       {"sgd_update", "adam_update", "adamw_update", "rmsprop_update", "adagrad_update"})
    CHECK(gom::kernel_provider(op, gom::DeviceType::CPU) == "gom_optimizers");
}

// ---------------------------------------------------------------- lr, groups, missing grads

TEST_CASE("set_lr and group options take effect on the next step", "[optimizers]") {
  const bool strided = GENERATE(false, true);
  INFO(layout_name(strided));
  Tensor w = param({1, 1}, {2}, strided);
  auto sgd = gom::create_optimizer("sgd", {w}, Config{{"lr", 0.1}});
  CHECK(sgd->lr() == 0.1);
  set_grad(w, {1, 1});
  sgd->step();
  CHECK(value(w) == Approx(0.9).margin(1e-6));
  sgd->set_lr(0.01);
  CHECK(sgd->lr() == 0.01);
  sgd->step();  // the gradient is still there: it accumulates until zero_grad
  CHECK(value(w) == Approx(0.89).margin(1e-6));
  sgd->param_groups()[0].options["lr"] = 0.5;  // as a schedule does
  sgd->step();
  CHECK(value(w) == Approx(0.39).margin(1e-6));

  // Adam's update scales with lr too: a constant gradient moves p by lr per step.
  Tensor a = param({0, 0}, {2}, strided);
  auto adam = gom::create_optimizer("adam", {a}, Config{{"lr", 0.1}});
  set_grad(a, {3, 3});
  adam->step();
  adam->set_lr(0.02);
  adam->step();
  CHECK(value(a) == Approx(-0.12).margin(1e-6));
}

TEST_CASE("a group added later takes its missing options from the optimizer's", "[optimizers]") {
  Tensor w = param({1, 1}, {2}, false), b = param({1, 1}, {2}, false);
  auto sgd = gom::create_optimizer("sgd", {w}, Config{{"lr", 0.1}, {"momentum", 0.9}});
  // A discriminative learning rate: b learns 5x faster, with the same momentum.
  sgd->param_groups().push_back(gom::ParamGroup{{b}, {{"lr", 0.5}}});
  for (int t = 0; t < 2; ++t) {
    set_grad(w, {1, 1});
    set_grad(b, {1, 1});
    sgd->step();
  }
  // bufs 1 then 1.9: w = 1 - 0.1*2.9, b = 1 - 0.5*2.9
  CHECK(value(w) == Approx(0.71).margin(1e-6));
  CHECK(value(b) == Approx(-0.45).margin(1e-6));
  CHECK(sgd->param_groups()[1].options.at("momentum") == 0.9);
}

TEST_CASE("parameters without a gradient are skipped; zero_grad drops gradients", "[optimizers]") {
  const char* name = GENERATE("sgd", "adam", "adamw", "rmsprop", "adagrad");
  const bool strided = GENERATE(false, true);
  INFO(name << ", " << layout_name(strided));
  Tensor w = param({1, 1}, {2}, strided), frozen = param({2, 2}, {2}, strided);
  // Dampening applies from a buffer's second step on, so a buffer made while the parameter was
  // skipped would show (1.95 instead of 1.9 below); so would an Adam step count advanced then,
  // or Adagrad's (its lr decays with the count). Every first step below moves p by 0.1:
  // sgd lr*g, adam(w) lr*sign(g), rmsprop lr*g/sqrt(0.01 g^2), adagrad lr*g/|g|.
  const std::map<std::string, Config> configs{
      {"sgd", {{"lr", 0.1}, {"momentum", 0.9}, {"dampening", 0.5}}},
      {"adam", {{"lr", 0.1}}},
      {"adamw", {{"lr", 0.1}, {"weight_decay", 0.0}}},
      {"rmsprop", {{"lr", 0.01}, {"momentum", 0.5}}},
      {"adagrad", {{"lr", 0.1}, {"lr_decay", 0.5}}}};
  const Config& c = configs.at(name);
  auto opt = gom::create_optimizer(name, {w, frozen}, c);
  set_grad(w, {1, 1});
  opt->step();
  CHECK(value(w) == Approx(0.9).margin(1e-6));  // sgd: lr*g; adam: lr*sign(g)
  CHECK(value(frozen) == 2.0f);
  CHECK(!frozen.grad().defined());

  opt->zero_grad();
  CHECK(!w.grad().defined());
  opt->step();  // nothing has a gradient: nothing moves
  CHECK(value(w) == Approx(0.9).margin(1e-6));
  CHECK(value(frozen) == 2.0f);

  // The skipped parameter's first step is a first step: buf = g, Adam's t = 1.
  set_grad(frozen, {1, 1});
  opt->step();
  CHECK(value(frozen) == Approx(1.9).margin(1e-6));
  CHECK(value(w) == Approx(0.9).margin(1e-6));
}

// ---------------------------------------------------------------- the fused kernels

namespace {

// Every flag of every fused kernel, each on at least once.
std::string config_str(const Config& c) {
  std::string out;
  for (const auto& [k, v] : c) out += (out.empty() ? "" : ", ") + k + " = " + v.str();
  return "{" + out + "}";
}

const std::vector<std::pair<const char*, Config>> kFusedCases{
    {"sgd", {{"lr", 0.05}, {"momentum", 0.9}, {"dampening", 0.1}, {"weight_decay", 0.01}}},
    {"sgd", {{"momentum", 0.9}, {"weight_decay", 1e-4}, {"nesterov", true}}},
    {"adam", {{"lr", 0.01}, {"weight_decay", 0.01}, {"amsgrad", true}}},
    {"adamw", {{"lr", 0.01}, {"weight_decay", 0.1}, {"amsgrad", true}}},
    {"adamw", {{"lr", 0.01}}},
    {"rmsprop", {{"weight_decay", 0.01}, {"momentum", 0.9}, {"centered", true}}},
    {"rmsprop", {{"lr", 0.001}, {"centered", true}}},
    {"rmsprop", {{"alpha", 0.9}, {"momentum", 0.5}}},
    {"adagrad", {{"lr", 0.05}, {"lr_decay", 0.01}, {"weight_decay", 0.01}}},
    {"adagrad", {{"initial_accumulator_value", 0.1}}}};

}  // namespace

TEST_CASE("fused steps allocate nothing once the state exists", "[optimizers]") {
  const auto& [name, c] = kFusedCases.at(GENERATE(range(size_t(0), kFusedCases.size())));
  INFO(name << " " << config_str(c));
  gom::Generator gen(7);
  Tensor w = gom::randn({64, 32}, &gen).requires_grad_(), b = gom::zeros({32}).requires_grad_();
  auto opt = gom::create_optimizer(name, {w, b}, c);
  w.set_grad(gom::randn({64, 32}, &gen));
  b.set_grad(gom::randn({32}, &gen));
  opt->step();  // creates the state
  const auto before = gom::allocator_stats(gom::DeviceType::CPU);
  for (int t = 0; t < 3; ++t) opt->step();
  const auto after = gom::allocator_stats(gom::DeviceType::CPU);
  CHECK(after.device_allocs == before.device_allocs);
  CHECK(after.cache_hits == before.cache_hits);
  CHECK(after.bytes_in_use == before.bytes_in_use);
}

TEST_CASE("fused kernels agree with ops on large tensors, threaded", "[optimizers]") {
  const auto& [name, c] = kFusedCases.at(GENERATE(range(size_t(0), kFusedCases.size())));
  INFO(name << " " << config_str(c));
  // Several threads and a size that is no multiple of the blocks, so the split is exercised.
  gom::set_num_threads(3);
  const int64_t n = 100003;
  gom::Generator gen(11);
  const std::vector<float> init = gom::randn({n}, &gen).to_vector<float>();
  Tensor fused = param(init, {n}, false), ops = param(init, {n}, true);
  auto a = gom::create_optimizer(name, {fused}, c), b = gom::create_optimizer(name, {ops}, c);
  for (int t = 0; t < 4; ++t) {
    const std::vector<float> g = gom::randn({n}, &gen).to_vector<float>();
    set_grad(fused, g);
    set_grad(ops, g);
    a->step();
    b->step();
  }
  const char* threads = std::getenv("GOM_TEST_THREADS");
  gom::set_num_threads(threads ? std::atoi(threads) : 1);
  const std::vector<float> x = fused.to_vector<float>(), y = ops.to_vector<float>();
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i)
    if (std::fabs(x[i] - y[i]) > 1e-6 + 1e-5 * std::fabs(y[i])) ++bad;
  CHECK(bad == 0);
  CHECK(x != init);
}
