// The lr schedules of gom_callbacks (step, multistep, exponential, cosine, one_cycle, cyclical,
// linear_warmup, reduce_on_plateau), made through the registry from the real plugin and driven
// event by event, in the trainer's order, over a real sgd/adam optimizer: PyTorch 1.13's
// schedulers step for step (fixtures/schedules.json, from gen_schedule_fixtures.py), the ratios
// of several param groups, composition, and parameter errors.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gom/callback.h"
#include "gom/ops.h"
#include "gom/optimizer.h"

using namespace gom;
using json = nlohmann::json;
using Catch::Matchers::Contains;

namespace {

using Callbacks = std::vector<std::shared_ptr<Callback>>;

struct FitShape {
  int64_t epochs = 1, batches = 1;
  int64_t first_epoch = 0;      // > 0: a resumed fit
  std::vector<double> metrics;  // reported each epoch under `monitor`
  std::string monitor = "valid_loss";
};

// What the optimizer holds while each training batch runs.
struct Trace {
  std::vector<std::vector<double>> lrs;  // [step][group]
  std::vector<double> epoch_lr;          // group 0's lr in the first batch of each epoch
  std::vector<double> momentum;          // group 0's momentum or beta1, per step
  std::vector<double> logged_lr;         // what the trainer logs as "lr" at after_epoch
  double lr(size_t step, size_t group = 0) const { return lrs.at(step).at(group); }
};

double momentum_of(const ParamGroup& g) {
  auto it = g.options.find("momentum");
  if (it == g.options.end()) it = g.options.find("beta1");
  return it == g.options.end() ? std::nan("") : it->second;
}

// The trainer's order of events (callbacks sorted by order()), with an empty validation phase
// that reports shape.metrics[epoch].
Trace drive(Callbacks cbs, Optimizer& opt, const FitShape& shape) {
  std::stable_sort(cbs.begin(), cbs.end(),
                   [](auto& a, auto& b) { return a->order() < b->order(); });
  auto fire = [&](Event e, LoopState& s) {
    for (auto& cb : cbs) cb->on(e, s);
  };
  Trace tr;
  LoopState s;
  s.optimizer = &opt;
  s.epochs = shape.epochs;
  fire(Event::BeforeFit, s);
  for (int64_t e = shape.first_epoch; e < shape.epochs && !s.stop; ++e) {
    s.epoch = e;
    s.metrics.clear();
    fire(Event::BeforeEpoch, s);
    s.training = true;
    s.batches = shape.batches;
    fire(Event::BeforeTrain, s);
    for (s.batch = 0; s.batch < s.batches; ++s.batch) {
      fire(Event::BeforeBatch, s);
      std::vector<double> now;
      for (const auto& g : opt.param_groups()) now.push_back(g.options.at("lr"));
      if (s.batch == 0) tr.epoch_lr.push_back(now[0]);
      tr.lrs.push_back(now);
      tr.momentum.push_back(momentum_of(opt.param_groups()[0]));
      for (Event ev : {Event::AfterForward, Event::AfterLoss, Event::AfterBackward}) fire(ev, s);
      opt.step();
      ++s.step;
      fire(Event::AfterStep, s);
      fire(Event::AfterBatch, s);
    }
    fire(Event::AfterTrain, s);
    s.training = false;
    s.batch = s.batches = 0;
    fire(Event::BeforeValidate, s);
    if (!shape.metrics.empty()) s.metrics[shape.monitor] = shape.metrics.at(size_t(e));
    fire(Event::AfterValidate, s);
    s.metrics["lr"] = opt.lr();
    tr.logged_lr.push_back(opt.lr());
    fire(Event::AfterEpoch, s);
  }
  fire(Event::AfterFit, s);
  return tr;
}

std::shared_ptr<Optimizer> make_opt(const std::string& name = "sgd", Config config = {}) {
  config.try_emplace("lr", 0.1);
  return create_optimizer(name, {zeros({2}).requires_grad_()}, config);
}

// A second group holding `ratio` times the first group's lr.
void add_group(Optimizer& opt, double ratio) {
  ParamGroup g{{zeros({3}).requires_grad_()}, opt.param_groups()[0].options};
  g.options["lr"] = opt.param_groups()[0].options.at("lr") * ratio;
  opt.param_groups().push_back(std::move(g));
}

Config config_of(const json& j) {
  Config c;
  for (const auto& [k, v] : j.items()) {
    if (v.is_boolean()) {
      c[k] = v.get<bool>();
    } else if (v.is_string()) {
      c[k] = v.get<std::string>();
    } else if (v.is_array()) {
      Value::List l;
      for (const json& e : v) l.emplace_back(e.get<double>());
      c[k] = l;
    } else if (v.is_number_integer()) {
      c[k] = v.get<int64_t>();
    } else {
      c[k] = v.get<double>();
    }
  }
  return c;
}

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool close(double got, double want, double rel = 1e-12) {
  return std::abs(got - want) <= rel * std::abs(want) + 1e-15;
}

const json& schedule_fixtures() {
  static const json cases = [] {
    std::ifstream in(GOM_FIXTURE_DIR "/schedules.json");
    if (!in) throw Error("cannot open " GOM_FIXTURE_DIR "/schedules.json");
    return json::parse(in).at("cases");
  }();
  return cases;
}

}  // namespace

TEST_CASE("lr schedules match PyTorch 1.13 step by step", "[schedules]") {
  REQUIRE(schedule_fixtures().size() >= 20);
  for (const json& c : schedule_fixtures()) {
    const std::string name = c.at("name");
    INFO("case " << name);
    auto opt = make_opt(c.at("optimizer"), config_of(c.at("optimizer_config")));
    Callbacks cbs;
    FitShape shape{c.at("epochs").get<int64_t>(), c.at("batches").get<int64_t>()};
    for (const json& cb : c.at("callbacks")) {
      cbs.push_back(create_callback(cb.at("name"), config_of(cb.at("config"))));
      if (cb.at("config").contains("monitor")) shape.monitor = cb.at("config").at("monitor");
    }
    if (c.contains("metrics")) shape.metrics = c.at("metrics").get<std::vector<double>>();
    const Trace tr = drive(cbs, *opt, shape);
    const bool per_step = c.at("record") == "step";
    const std::vector<double> want = c.at("lrs");
    REQUIRE(want.size() == (per_step ? tr.lrs.size() : tr.epoch_lr.size()));
    for (size_t i = 0; i < want.size(); ++i) {
      const double got = per_step ? tr.lr(i) : tr.epoch_lr[i];
      INFO((per_step ? "step " : "epoch ") << i << ": lr " << got << ", torch " << want[i]);
      CHECK(close(got, want[i]));
    }
    if (c.contains("momentums")) {
      const std::vector<double> m = c.at("momentums");
      for (size_t i = 0; i < m.size(); ++i) {
        const double got = per_step ? tr.momentum.at(i) : tr.momentum.at(i * size_t(shape.batches));
        INFO("momentum " << i << ": " << got << ", torch " << m[i]);
        CHECK(close(got, m[i]));
      }
    }
  }
}

TEST_CASE("lr schedules keep the ratios of discriminative lrs across param groups", "[schedules]") {
  struct Case {
    std::vector<std::pair<const char*, Config>> callbacks;
    std::vector<double> metrics;
  };
  const std::vector<double> loss = {1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9};
  const std::vector<Case> cases = {
      {{{"step", {{"step_size", 2}}}}},
      {{{"multistep", {{"milestones", Value{1.0, 3.0}}, {"gamma", 0.5}}}}},
      {{{"exponential", {{"gamma", 0.7}}}}},
      {{{"cosine", {{"eta_min", 0.01}, {"interval", "step"}}}}},
      {{{"cosine", {{"T_0", 3}, {"T_mult", 2}, {"eta_min", 0.001}}}}},
      {{{"one_cycle", {{"max_lr", 1.0}}}}},
      {{{"cyclical", {{"base_lr", 0.05}, {"max_lr", 0.4}, {"step_size_up", 3}}}}},
      {{{"linear_warmup", {{"warmup", 7}}}}},
      {{{"reduce_on_plateau", {{"patience", 2}, {"min_lr", 0.02}}}}, loss},
      {{{"linear_warmup", {{"warmup", 5}}},
        {"cosine", {}},
        {"reduce_on_plateau", {{"patience", 1}}}},
       loss},
  };
  for (const Case& c : cases) {
    INFO("first callback: " << c.callbacks[0].first << ", " << c.callbacks.size() << " in all");
    FitShape shape{8, 3, 0, c.metrics};
    auto make = [&] {
      Callbacks cbs;
      for (const auto& [n, cfg] : c.callbacks) cbs.push_back(create_callback(n, cfg));
      return cbs;
    };
    auto one = make_opt();
    const Trace alone = drive(make(), *one, shape);
    auto two = make_opt();
    add_group(*two, 0.1);
    add_group(*two, 0.0);  // a frozen group stays frozen
    const Trace both = drive(make(), *two, shape);
    for (size_t i = 0; i < both.lrs.size(); ++i) {
      INFO("step " << i << ": lrs " << both.lr(i, 0) << ", " << both.lr(i, 1));
      CHECK(both.lr(i, 0) == alone.lr(i, 0));
      // min_lr clamps each group at its own (scaled) floor, so the ratio holds there too
      CHECK(close(both.lr(i, 1), 0.1 * both.lr(i, 0), 1e-12));
      CHECK(both.lr(i, 2) == 0.0);
    }
    for (const auto& g : two->param_groups()) CHECK(g.options.count("lr_scale") == 0);
  }
}

TEST_CASE("lr schedules: the reference group is the first whose lr is not 0", "[schedules]") {
  auto opt = make_opt("sgd", {{"lr", 0.0}});
  add_group(*opt, 1.0);
  opt->param_groups()[1].options["lr"] = 0.2;
  add_group(*opt, 1.0);
  opt->param_groups()[2].options["lr"] = 0.02;
  const Trace tr = drive({create_callback("one_cycle", {{"max_lr", 1.0}, {"interval", "epoch"}})},
                         *opt, FitShape{10, 1});
  for (size_t i = 0; i < tr.lrs.size(); ++i) {
    CHECK(tr.lr(i, 0) == 0.0);
    CHECK(close(tr.lr(i, 2), 0.1 * tr.lr(i, 1), 1e-12));
  }
  CHECK(tr.lr(2, 1) == 1.0);  // the peak (pct_start 0.3 of 10 epochs): max_lr for group 1
}

TEST_CASE("linear_warmup multiplies another schedule, whichever comes first in the list",
          "[schedules]") {
  // warmup per step over the first 4 steps, step decay per epoch: the product of the two.
  const FitShape shape{4, 3};
  auto factor = [](size_t i) { return std::min(1.0, 0.2 + 0.8 * double(i) / 4); };
  for (bool warmup_first : {true, false}) {
    INFO("warmup listed " << (warmup_first ? "first" : "second"));
    auto w = create_callback("linear_warmup", {{"warmup", 4}, {"start_factor", 0.2}});
    auto d = create_callback("step", {{"step_size", 1}, {"gamma", 0.5}});
    auto opt = make_opt();
    const Trace tr = drive(warmup_first ? Callbacks{w, d} : Callbacks{d, w}, *opt, shape);
    for (size_t i = 0; i < tr.lrs.size(); ++i) {
      INFO("step " << i);
      CHECK(close(tr.lr(i), 0.1 * std::pow(0.5, double(i / 3)) * factor(i), 1e-12));
    }
    CHECK(opt->param_groups()[0].options.at("initial_lr") == 0.1);
    CHECK(opt->param_groups()[0].options.count("lr_scale") == 0);  // taken back out at after_fit
  }
}

TEST_CASE("reduce_on_plateau multiplies a curve; a second fit restarts from the initial lr",
          "[schedules]") {
  auto opt = make_opt();
  auto cosine = create_callback("cosine", {{"T_max", 10}});
  auto plateau = create_callback("reduce_on_plateau", {{"patience", 1}, {"factor", 0.5}});
  // epoch 0 sets the best; epochs 1 to 3 are bad -> reductions after epochs 1, 2 and 3
  FitShape shape{5, 1, 0, {1.0, 2.0, 2.0, 2.0, 0.5}};
  const Trace tr = drive({cosine, plateau}, *opt, shape);
  auto cos_lr = [](double t) { return 0.1 * (1 + std::cos(3.141592653589793 * t / 10)) / 2; };
  const double want[] = {cos_lr(0), cos_lr(1), cos_lr(2) / 2, cos_lr(3) / 4, cos_lr(4) / 8};
  for (size_t e = 0; e < 5; ++e) {
    INFO("epoch " << e);
    CHECK(close(tr.epoch_lr[e], want[e], 1e-12));
    CHECK(tr.logged_lr[e] == tr.epoch_lr[e]);  // the trainer logs the lr the epoch ran with
  }
  // The reduction of after epoch 4 is in the optimizer; the next fit's curve drops it.
  const Trace again = drive({cosine, plateau}, *opt, FitShape{1, 1, 0, {1.0}});
  CHECK(again.epoch_lr[0] == 0.1);
}

TEST_CASE("curves are closed forms of the position: a resumed fit continues the curve",
          "[schedules]") {
  for (const char* name : {"cosine", "one_cycle", "cyclical"}) {
    INFO(name);
    Config cfg = {{"interval", "step"}};
    if (std::string(name) != "cosine") cfg["max_lr"] = 0.5;
    if (std::string(name) == "cyclical") cfg["step_size_up"] = 4;
    auto full_opt = make_opt("sgd", {{"momentum", 0.9}});
    const Trace full = drive({create_callback(name, cfg)}, *full_opt, FitShape{5, 3});
    auto opt = make_opt("sgd", {{"momentum", 0.9}});
    const Trace tail = drive({create_callback(name, cfg)}, *opt, FitShape{5, 3, 2});
    REQUIRE(tail.lrs.size() == 9);
    for (size_t i = 0; i < tail.lrs.size(); ++i) {
      CHECK(tail.lr(i) == full.lr(i + 6));
      CHECK(tail.momentum[i] == full.momentum[i + 6]);
    }
  }
}

TEST_CASE("one_cycle cycles sgd's momentum and adam's beta1, and leaves beta2 alone",
          "[schedules]") {
  auto adam = make_opt("adam", {{"betas", Value{0.9, 0.98}}});
  const Trace tr =
      drive({create_callback("one_cycle", {{"max_lr", 0.01}})}, *adam, FitShape{2, 10});
  CHECK(tr.momentum.front() == 0.95);  // max_momentum at the start
  CHECK(*std::min_element(tr.momentum.begin(), tr.momentum.end()) == Approx(0.85));
  CHECK(adam->param_groups()[0].options.at("beta2") == 0.98);
  CHECK(close(tr.lr(0), 0.01 / 25));
  CHECK(close(tr.lrs.back()[0], 0.01 / 25 / 1e4, 1e-3));  // the last step is near the minimum

  auto sgd = make_opt("sgd", {{"momentum", 0.0}});  // sgd's momentum option exists even at 0
  const Trace ts = drive({create_callback("one_cycle", {{"max_lr", 0.01}})}, *sgd, FitShape{1, 10});
  CHECK(ts.momentum.front() == 0.95);
}

TEST_CASE("reduce_on_plateau: NaN is never an improvement, patience 0 acts as 1, min_delta",
          "[schedules]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto run = [](Config cfg, std::vector<double> m) {
    auto opt = make_opt();
    return drive({create_callback("reduce_on_plateau", cfg)}, *opt,
                 FitShape{int64_t(m.size()), 1, 0, m})
        .logged_lr;
  };
  // NaN at epochs 1 and 2: two bad epochs -> reduced after epoch 2
  auto a = run({{"patience", 2}}, {1.0, nan, nan, 0.5});
  CHECK(a[2] == 0.1);
  CHECK(close(a[3], 0.01));
  // patience 0: reduced after every epoch that does not improve, not after one that does
  auto b = run({{"patience", 0}}, {1.0, 0.5, 0.6, 0.4, 0.4});
  CHECK(b[1] == 0.1);
  CHECK(b[2] == 0.1);
  CHECK(close(b[3], 0.01));
  CHECK(close(b[4], 0.01));
  // 0.95 improves on 1.0 by less than min_delta 0.1: not an improvement
  auto c = run({{"patience", 1}, {"min_delta", 0.1}}, {1.0, 0.95, 0.95});
  CHECK(close(c[2], 0.01));
}

TEST_CASE("lr schedules refuse bad parameters with what is accepted", "[schedules]") {
  auto make = [](const char* name, Config c) {
    return error_text([&] { create_callback(name, c); });
  };
  CHECK(make("one_cycle", {}) ==
        "callback 'one_cycle': missing required parameter 'max_lr' (a number >= 0: the peak lr "
        "(of the first group; the others keep their ratio))");
  CHECK(make("one_cycle", {{"max_lr", 0.1}, {"pct_start", 1.5}}) ==
        "callback 'one_cycle': parameter 'pct_start' = 1.5 is out of range; expected a number in "
        "[0, 1] (fraction of the steps spent raising the lr)");
  CHECK(make("one_cycle", {{"max_lr", 0.1}, {"div_factor", 0}}) ==
        "callback 'one_cycle': parameters 'div_factor' (0) and 'final_div_factor' (10000) must "
        "be > 0");
  CHECK(make("step", {{"step_size", 2}, {"interval", "batch"}}) ==
        "callback 'step': parameter 'interval' = \"batch\" is not accepted; expected one of: "
        "epoch, step (when the schedule moves: each epoch (its counts are epochs) or each "
        "training batch (its counts are optimizer steps; the fit's length is epochs x batches "
        "per epoch))");
  CHECK(make("step", {}) ==
        "callback 'step': missing required parameter 'step_size' (an integer >= 1: epochs (or "
        "steps) between two decays)");
  CHECK(make("multistep", {{"milestones", Value{2.5, 4.0}}}) ==
        "callback 'multistep': parameter 'milestones' = [2.5, 4] must hold whole numbers of "
        "epochs");
  CHECK(make("multistep", {{"milestones", Value::List{}}}) ==
        "callback 'multistep': parameter 'milestones' must not be empty");
  CHECK(make("cosine", {{"T_max", 10}, {"T_0", 5}}) ==
        "callback 'cosine': parameters 'T_max' and 'T_0' exclude each other: T_max anneals once "
        "(cosine annealing), T_0 restarts every T_0 * T_mult^i (warm restarts)");
  CHECK(make("cosine", {{"T_mult", 2}}) ==
        "callback 'cosine': parameter 'T_mult' needs 'T_0' (the length of the first cycle of "
        "warm restarts)");
  CHECK(make("cyclical", {{"base_lr", 0.01}}) ==
        "callback 'cyclical': missing required parameter 'max_lr' (a number >= 0: the highest "
        "lr of the cycle (before mode scales it))");
  CHECK(make("cyclical", {{"max_lr", 0.1}, {"gamma", 0.9}}) ==
        "callback 'cyclical': parameter 'gamma' = 0.9 only applies to mode \"exp_range\", not "
        "\"triangular\"");
  CHECK(make("linear_warmup", {{"warmup", 10}, {"start_factor", 0.0}}) ==
        "callback 'linear_warmup': parameter 'start_factor' = 0 must be in (0, 1]: the lr starts "
        "at start_factor times its value (a tiny factor such as 1e-3 starts from almost 0)");
  CHECK(make("linear_warmup", {{"start_factor", 0.1}}) ==
        "callback 'linear_warmup': missing required parameter 'warmup' (an integer >= 1: steps "
        "(or epochs) over which the factor rises to 1)");
  CHECK(make("reduce_on_plateau", {{"factor", 1.0}}) ==
        "callback 'reduce_on_plateau': parameter 'factor' = 1 must be in (0, 1): it multiplies "
        "the lr");
  CHECK(make("reduce_on_plateau", {{"patiense", 3}}) ==
        "callback 'reduce_on_plateau': unknown parameter 'patiense' (did you mean 'patience'?); "
        "accepted: monitor, factor, patience, min_delta, cooldown, min_lr, mode");
}

TEST_CASE("lr schedules: errors that depend on the fit name what is wrong", "[schedules]") {
  auto fit_error = [](std::shared_ptr<Callback> cb, Optimizer* opt, FitShape shape = {2, 2}) {
    return error_text([&] {
      if (opt) {
        drive({cb}, *opt, shape);
      } else {
        LoopState s;
        cb->on(Event::BeforeFit, s);
      }
    });
  };
  auto sgd = make_opt();
  sgd->param_groups()[0].options.erase("momentum");
  CHECK(fit_error(create_callback("one_cycle", {{"max_lr", 0.1}}), sgd.get()) ==
        "optimizer 'sgd' has no momentum to cycle (no 'momentum' or 'beta1' option); set "
        "cycle_momentum = false");
  CHECK(fit_error(create_callback("one_cycle", {{"max_lr", 0.1}, {"cycle_momentum", false}}),
                  sgd.get()) == "(no error)");
  CHECK(fit_error(create_callback("cosine", {}), nullptr) ==
        "the loop state has no optimizer to schedule");
  auto opt = make_opt();
  CHECK(fit_error(create_callback("reduce_on_plateau", {}), opt.get()) ==
        "the monitored metric 'valid_loss' (parameter 'monitor') is not among the metrics of "
        "epoch 1; present: lr. Add the callback that reports it, or monitor another metric");
}
