// Saving and restoring optimizer state (Optimizer::state, load_state, group_options,
// load_group_options), for checkpoints: what each optimizer keeps, a bit-exact resume on the
// fused path and on the ops fallback, and the exact messages of every load error.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "gom/gom.h"

namespace {

using gom::Config;
using gom::OptimizerState;
using gom::Tensor;

// As in test_optimizers.cpp: strided parameters are views the fused kernels refuse.
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

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const gom::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<std::string> keys(const OptimizerState& s) {
  std::vector<std::string> out;
  for (const auto& [k, t] : s) out.push_back(k);
  return out;
}

struct StateCase {
  const char* name;
  Config config;
  std::vector<std::string> fields;  // the keys of one parameter after a step, in order
};

// Every optimizer with the options that make all of its state.
const std::vector<StateCase> kCases{
    {"sgd",
     {{"lr", 0.05}, {"momentum", 0.9}, {"weight_decay", 0.01}, {"nesterov", true}},
     {"momentum_buffer"}},
    {"adam",
     {{"lr", 0.01}, {"weight_decay", 0.01}, {"amsgrad", true}},
     {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
    {"adamw", {{"lr", 0.01}}, {"step", "exp_avg", "exp_avg_sq"}},
    {"rmsprop",
     {{"weight_decay", 0.01}, {"momentum", 0.9}, {"centered", true}},
     {"step", "square_avg", "momentum_buffer", "grad_avg"}},
    {"adagrad",
     {{"lr", 0.05}, {"lr_decay", 0.1}, {"initial_accumulator_value", 0.1}},
     {"step", "sum"}}};

}  // namespace

TEST_CASE("a restored optimizer continues bit for bit", "[optimizers][state]") {
  const StateCase& k = kCases.at(GENERATE(range(size_t(0), kCases.size())));
  const bool strided = GENERATE(false, true);
  INFO(k.name << (strided ? ", strided (ops)" : ", contiguous (fused)"));
  gom::Generator gen(3);
  const std::vector<gom::Shape> shapes{{3, 4}, {4}, {2}};
  auto make_params = [&](const std::vector<Tensor>* from) {
    std::vector<Tensor> ps;
    for (size_t i = 0; i < shapes.size(); ++i)
      ps.push_back(param(
          from ? (*from)[i].to_vector<float>() : gom::randn(shapes[i], &gen).to_vector<float>(),
          shapes[i], strided));
    return ps;
  };
  // Two groups: {w, b} and {frozen}, which never gets a gradient and so has no state.
  auto make_opt = [&](const std::vector<Tensor>& ps) {
    auto opt = gom::create_optimizer(k.name, {ps[0], ps[1]}, k.config);
    opt->param_groups().push_back(gom::ParamGroup{{ps[2]}, {{"lr", 0.5}}});
    return opt;
  };
  auto step = [&](gom::Optimizer& opt, const std::vector<Tensor>& ps,
                  const std::vector<Tensor>& grads) {
    for (size_t i = 0; i < 2; ++i) ps[i].set_grad(grads[i]);
    opt.step();
  };
  auto grads = [&] { return std::vector<Tensor>{gom::randn({3, 4}, &gen), gom::randn({4}, &gen)}; };

  const std::vector<Tensor> a = make_params(nullptr);
  auto opt_a = make_opt(a);
  for (int t = 0; t < 3; ++t) {
    if (t == 2) opt_a->param_groups()[0].options["lr"] *= 0.5;  // as a schedule would
    step(*opt_a, a, grads());
  }
  const OptimizerState saved = opt_a->state();
  const auto options = opt_a->group_options();

  std::vector<std::string> want;
  for (const char* index : {"0.", "1."})
    for (const std::string& f : k.fields) want.push_back(index + f);
  CHECK(keys(saved) == want);
  for (const auto& [key, t] : saved)
    if (key.ends_with(".step")) {
      CHECK(t.dim() == 0);
      CHECK(t.dtype() == gom::DType::I64);
      CHECK(t.item<int64_t>() == 3);
    }

  // A fresh optimizer, made as the first was, over copies of the parameters.
  const std::vector<Tensor> b = make_params(&a);
  auto opt_b = make_opt(b);
  CHECK(opt_b->state().empty());
  opt_b->load_group_options(options);
  opt_b->load_state(saved);
  CHECK(keys(opt_b->state()) == want);
  CHECK(opt_b->param_groups()[0].options.at("lr") == opt_a->param_groups()[0].options.at("lr"));
  CHECK(opt_b->param_groups()[1].options.at("lr") == 0.5);

  for (int t = 0; t < 2; ++t) {
    const std::vector<Tensor> g = grads();
    step(*opt_a, a, g);
    step(*opt_b, b, g);
  }
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("parameter " << i);
    CHECK(a[i].to_vector<float>() == b[i].to_vector<float>());  // bit for bit
  }
  const OptimizerState sa = opt_a->state(), sb = opt_b->state();
  REQUIRE(keys(sa) == keys(sb));
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    CHECK(sa[i].second.to(gom::DType::F32).to_vector<float>() ==
          sb[i].second.to(gom::DType::F32).to_vector<float>());
    CHECK(sa[i].second.storage() != sb[i].second.storage());  // load_state copies
  }
}

TEST_CASE("state is empty before the first step, and sgd without momentum keeps none",
          "[optimizers][state]") {
  const char* name = GENERATE("sgd", "adam", "adamw", "rmsprop", "adagrad");
  Tensor w = param({1, 2}, {2}, false);
  auto opt = gom::create_optimizer(name, {w});
  CHECK(opt->state().empty());
  w.set_grad(gom::ones({2}));
  opt->step();
  CHECK(opt->state().empty() == (std::string(name) == "sgd"));
  // Loading nothing clears the state: the next step is a first step again.
  opt->load_state({});
  CHECK(opt->state().empty());
}

TEST_CASE("load_state refuses bad state with messages naming the key", "[optimizers][state]") {
  Tensor w = param(std::vector<float>(12, 1.0f), {3, 4}, false), b = param({1, 2}, {2}, false);
  auto adam = gom::create_optimizer("adam", {w, b});
  w.set_grad(gom::ones({3, 4}));
  b.set_grad(gom::ones({2}));
  adam->step();
  const OptimizerState good = adam->state();
  REQUIRE(keys(good) == std::vector<std::string>{"0.step", "0.exp_avg", "0.exp_avg_sq", "1.step",
                                                 "1.exp_avg", "1.exp_avg_sq"});
  auto with = [&](const std::string& key, const Tensor& t) {
    OptimizerState s = good;
    bool found = false;
    for (auto& [k, v] : s) {
      if (k != key) continue;
      v = t;
      found = true;
    }
    if (!found) s.emplace_back(key, t);
    return error_of([&] { adam->load_state(s); });
  };
  auto without = [&](const std::string& key) {
    OptimizerState s;
    for (const auto& kv : good)
      if (kv.first != key) s.push_back(kv);
    return error_of([&] { adam->load_state(s); });
  };
  const std::string unexpected_tail =
      "(keys are '<parameter index>.<name>' with an index below 2 and a name among: step, "
      "exp_avg, exp_avg_sq, max_exp_avg_sq)";
  CHECK(with("2.exp_avg", gom::zeros({2})) ==
        "optimizer 'adam': load_state: unexpected key '2.exp_avg' " + unexpected_tail);
  CHECK(with("0.momentum_buffer", gom::zeros({3, 4})) ==
        "optimizer 'adam': load_state: unexpected key '0.momentum_buffer' " + unexpected_tail);
  CHECK(with("exp_avg", gom::zeros({3, 4})) ==
        "optimizer 'adam': load_state: unexpected key 'exp_avg' " + unexpected_tail);
  CHECK(with("-1.step", gom::tensor_i64({1}, {})) ==
        "optimizer 'adam': load_state: unexpected key '-1.step' " + unexpected_tail);
  CHECK(with("01.step", gom::tensor_i64({1}, {})) ==
        "optimizer 'adam': load_state: unexpected key '01.step' " + unexpected_tail);
  CHECK(without("1.exp_avg_sq") ==
        "optimizer 'adam': load_state: missing key '1.exp_avg_sq' (parameter 1 has state, so it "
        "needs step, exp_avg, exp_avg_sq)");
  CHECK(without("0.step") ==
        "optimizer 'adam': load_state: missing key '0.step' (parameter 0 has state, so it needs "
        "step, exp_avg, exp_avg_sq)");
  CHECK(with("0.exp_avg", gom::zeros({4, 3})) ==
        "optimizer 'adam': load_state: '0.exp_avg' has shape [4, 3], expected [3, 4] (the shape "
        "of parameter 0)");
  CHECK(with("1.exp_avg_sq", gom::tensor_i64({0, 0}, {2})) ==
        "optimizer 'adam': load_state: '1.exp_avg_sq' is i64, expected f32 (the dtype of "
        "parameter 1)");
  CHECK(with("0.step", gom::tensor_i64({1}, {1})) ==
        "optimizer 'adam': load_state: '0.step' has shape [1], expected [] (a step count)");
  CHECK(with("0.step", gom::scalar(1.0)) ==
        "optimizer 'adam': load_state: '0.step' is f32, expected i64 (a step count)");
  CHECK(with("0.step", gom::tensor_i64({-2}, {})) ==
        "optimizer 'adam': load_state: '0.step' is -2, expected a step count >= 0");
  CHECK(with("0.step", Tensor()) ==
        "optimizer 'adam': load_state: '0.step' is an undefined tensor");
  OptimizerState twice = good;
  twice.push_back(good[0]);
  CHECK(error_of([&] { adam->load_state(twice); }) ==
        "optimizer 'adam': load_state: duplicate key '0.step'");

  // A refused load changes nothing.
  const OptimizerState after = adam->state();
  REQUIRE(after.size() == good.size());
  for (size_t i = 0; i < good.size(); ++i) {
    INFO(good[i].first);
    CHECK(after[i].first == good[i].first);
    if (good[i].first.ends_with(".step"))
      CHECK(after[i].second.item<int64_t>() == 1);  // a count, made afresh by each state()
    else
      CHECK(after[i].second.same(good[i].second));
  }

  // Optional state may be left out (max_exp_avg_sq is made, as zeros, when amsgrad turns on),
  // and a parameter may have none at all.
  CHECK(error_of([&] { adam->load_state({good[0], good[1], good[2]}); }) == "(no error)");
  CHECK(keys(adam->state()) == std::vector<std::string>{"0.step", "0.exp_avg", "0.exp_avg_sq"});
}

TEST_CASE("group options are saved and restored with the group count checked",
          "[optimizers][state]") {
  Tensor w = param({1}, {1}, false), b = param({1}, {1}, false);
  auto sgd = gom::create_optimizer("sgd", {w}, Config{{"lr", 0.1}, {"momentum", 0.9}});
  sgd->param_groups().push_back(gom::ParamGroup{{b}, {{"lr", 0.5}}});
  w.set_grad(gom::ones({1}));
  sgd->step();  // fills group 1's missing options from the optimizer's
  const auto options = sgd->group_options();
  REQUIRE(options.size() == 2);
  CHECK(options[1] == std::map<std::string, double>{{"lr", 0.5},
                                                    {"momentum", 0.9},
                                                    {"dampening", 0.0},
                                                    {"weight_decay", 0.0},
                                                    {"nesterov", 0.0}});
  auto one_group = gom::create_optimizer("sgd", {param({1}, {1}, false)});
  CHECK(error_of([&] { one_group->load_group_options(options); }) ==
        "optimizer 'sgd': load_group_options: got options for 2 group(s), the optimizer has 1");
  one_group->load_group_options({options[1]});
  CHECK(one_group->lr() == 0.5);
}

namespace {

// An optimizer written outside the plugin, without state: the SDK's defaults apply.
class Plain final : public gom::Optimizer {
 public:
  explicit Plain(std::vector<Tensor> ps) : Optimizer({gom::ParamGroup{std::move(ps), {}}}) {
    set_type("plain");
  }
  void step() override {}
};

}  // namespace

TEST_CASE("an optimizer without state saves none and refuses any", "[optimizers][state]") {
  Plain plain({param({1}, {1}, false)});
  CHECK(plain.state().empty());
  plain.load_state({});
  const OptimizerState one{{"0.step", gom::tensor_i64({1}, {})}};
  CHECK(error_of([&] { plain.load_state(one); }) ==
        "optimizer 'plain': load_state: unexpected key '0.step' (this optimizer keeps no state)");
}
