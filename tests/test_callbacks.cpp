// The callbacks of gom_callbacks (accuracy, early_stopping, progress), made through the registry
// from the real plugin and driven by firing the trainer's events on a LoopState by hand.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>

#include "gom/autograd.h"
#include "gom/callback.h"
#include "gom/layer.h"
#include "gom/ops.h"
#include "gom/optimizer.h"
#include "gom/plugin.h"
#include "temp_files.h"

using namespace gom;
using Catch::Matchers::Contains;
using gom_test::TempDir;

namespace {

using Callbacks = std::vector<std::shared_ptr<Callback>>;

// What happens in a scripted fit: per batch (s.training, s.epoch, s.batch tell which) set
// pred/target/loss; at the end of each phase and epoch, report metrics or change the model.
struct Script {
  int64_t epochs = 1;
  int64_t train_batches = 0, valid_batches = 0;
  int64_t batch_size = 4;
  std::function<void(LoopState&)> batch;        // sets s.pred, s.target, s.loss
  std::function<void(LoopState&)> after_train;  // e.g. s.metrics["train_loss"]
  std::function<void(LoopState&)> after_valid;
  std::function<void(LoopState&)> epoch_end;  // before after_epoch
};

void fire(Callbacks& cbs, Event e, LoopState& s) {
  for (auto& cb : cbs) cb->on(e, s);
}

// The trainer's order of events. Returns the number of epochs run.
int64_t run_fit(Callbacks cbs, LoopState& s, const Script& sc) {
  std::stable_sort(cbs.begin(), cbs.end(),
                   [](auto& a, auto& b) { return a->order() < b->order(); });
  s.epochs = sc.epochs;
  s.stop = false;
  fire(cbs, Event::BeforeFit, s);
  int64_t done = 0;
  for (int64_t e = 0; e < sc.epochs && !s.stop; ++e) {
    s.epoch = e;
    s.metrics.clear();
    fire(cbs, Event::BeforeEpoch, s);
    for (bool training : {true, false}) {
      s.training = training;
      s.batch = 0;
      s.batches = training ? sc.train_batches : sc.valid_batches;
      s.samples = 0;
      fire(cbs, training ? Event::BeforeTrain : Event::BeforeValidate, s);
      for (; s.batch < s.batches; ++s.batch) {
        fire(cbs, Event::BeforeBatch, s);
        std::optional<NoGrad> ng;
        if (!training) ng.emplace();
        if (sc.batch) sc.batch(s);
        s.samples += s.pred.defined() ? s.pred.size(0) : sc.batch_size;
        fire(cbs, Event::AfterForward, s);
        fire(cbs, Event::AfterLoss, s);
        if (training) {
          fire(cbs, Event::AfterBackward, s);
          ++s.step;
          fire(cbs, Event::AfterStep, s);
        }
        fire(cbs, Event::AfterBatch, s);
        s.pred = s.loss = Tensor();
      }
      const auto& hook = training ? sc.after_train : sc.after_valid;
      if (hook) hook(s);
      fire(cbs, training ? Event::AfterTrain : Event::AfterValidate, s);
    }
    if (sc.epoch_end) sc.epoch_end(s);
    fire(cbs, Event::AfterEpoch, s);
    done = e + 1;
  }
  fire(cbs, Event::AfterFit, s);
  return done;
}

// Scores whose arg-max is `cls` (row i peaks at cls[i]).
Tensor scores_for(const std::vector<int>& cls, int classes) {
  std::vector<float> v(cls.size() * classes, -1.0f);
  for (size_t i = 0; i < cls.size(); ++i) v[i * classes + cls[i]] = 2.0f + 0.1f * float(i % 3);
  return tensor(v, {int64_t(cls.size()), classes});
}

Tensor labels(const std::vector<int64_t>& y) {
  return tensor_i64(y, {int64_t(y.size())});
}

// Redirects a file descriptor (1: stdout, 2: stderr) into a temporary file while alive.
class Capture {
 public:
  explicit Capture(int fd) : fd_(fd), file_(std::tmpfile()) {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    saved_ = dup(fd_);
    dup2(fileno(file_), fd_);
  }
  ~Capture() { finish(); }
  std::string finish() {
    if (saved_ >= 0) {
      std::fflush(nullptr);
      dup2(saved_, fd_);
      close(saved_);
      saved_ = -1;
      std::rewind(file_);
      char buf[4096];
      for (size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) text_.append(buf, n);
      std::fclose(file_);
    }
    return text_;
  }

 private:
  int fd_, saved_ = -1;
  std::FILE* file_;
  std::string text_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A model with two parameters and a buffer (register_* are protected: a subclass may call them).
struct Tiny : Module {
  Tiny() {
    weight = register_parameter("weight", zeros({2, 3}));
    bias = register_parameter("bias", zeros({3}));
    running = register_buffer("running_mean", zeros({3}));
  }
  Tensor weight, bias, running;
  // Stands in for an epoch of training: every value becomes `v` (the buffer 10 v).
  void set_all(double v) {
    NoGrad ng;
    fill_(weight, v);
    fill_(bias, v);
    fill_(running, 10 * v);
  }
};

// A fit whose only news per epoch is `metric` taking the next value of `values`.
Script metric_script(const std::string& metric, std::vector<double> values, Tiny* model = nullptr) {
  Script sc;
  sc.epochs = int64_t(values.size());
  sc.epoch_end = [=](LoopState& s) {
    s.metrics[metric] = values[size_t(s.epoch)];
    if (model) model->set_all(double(s.epoch + 1));
  };
  return sc;
}

}  // namespace

// ---------------------------------------------------------------- accuracy

TEST_CASE("accuracy counts arg-max hits over the validation batches, the last one partial",
          "[callbacks]") {
  auto acc = create_callback("accuracy");
  REQUIRE(acc->type() == "accuracy");
  // Epoch 1: 3 of 4, 2 of 4, 2 of 2 (a partial last batch) = 7/10. Epoch 2: 1 of 4, 0 of 4,
  // 0 of 2 = 1/10, so nothing of epoch 1 may carry over.
  const std::vector<std::vector<std::vector<int>>> guesses = {{{0, 1, 2, 0}, {2, 2, 1, 0}, {1, 0}},
                                                              {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2}}};
  const std::vector<std::vector<std::vector<int64_t>>> truths = {
      {{0, 1, 1, 0}, {2, 0, 1, 1}, {1, 0}}, {{0, 1, 1, 1}, {0, 0, 0, 0}, {0, 1}}};
  std::vector<double> reported;
  Script sc;
  sc.epochs = 2;
  sc.train_batches = 2;
  sc.valid_batches = 3;
  sc.batch = [&](LoopState& s) {
    if (s.training) {  // training predictions must not count towards the validation accuracy
      s.pred = scores_for({0, 0}, 3).requires_grad_();
      s.target = labels({0, 0});
      return;
    }
    const size_t e = size_t(s.epoch), b = size_t(s.batch);
    s.pred = scores_for(guesses[e][b], 3);
    s.target = labels(truths[e][b]);
  };
  sc.epoch_end = [&](LoopState& s) {
    REQUIRE(s.metrics.count("accuracy") == 1);
    CHECK(s.metrics.count("train_accuracy") == 0);  // train=false by default
    reported.push_back(s.metrics["accuracy"]);
  };
  LoopState s;
  REQUIRE(run_fit({acc}, s, sc) == 2);
  REQUIRE(reported.size() == 2);
  CHECK(reported[0] == Approx(0.7));
  CHECK(reported[1] == Approx(0.1));
}

TEST_CASE("accuracy: train=true reports train_<name>, and name renames the metric", "[callbacks]") {
  auto acc = create_callback("accuracy", {{"train", true}, {"name", "acc"}});
  Script sc;
  sc.train_batches = 2;
  sc.valid_batches = 1;
  sc.batch = [&](LoopState& s) {
    if (s.training) {
      // 1 of 2, then 2 of 3: 3/5; the prediction is part of a graph, as in training.
      Tensor w = ones({1}).requires_grad_();
      s.pred = s.batch == 0 ? scores_for({0, 1}, 2) * w : scores_for({1, 1, 0}, 2) * w;
      s.target = s.batch == 0 ? labels({0, 0}) : labels({1, 0, 0});
    } else {
      s.pred = scores_for({1, 0, 1, 1}, 2);
      s.target = tensor_i32({1, 1, 1, 1}, {4});  // i32 labels are accepted too: 3/4
    }
  };
  std::map<std::string, double> m;
  sc.epoch_end = [&](LoopState& s) { m = s.metrics; };
  LoopState s;
  run_fit({acc}, s, sc);
  CHECK(m.at("train_acc") == Approx(0.6));
  CHECK(m.at("acc") == Approx(0.75));
  CHECK(m.count("accuracy") == 0);
}

TEST_CASE("accuracy: skipped batches do not count, one-hot targets do, binary logits are refused",
          "[callbacks]") {
  auto acc = create_callback("accuracy");
  LoopState s;
  s.training = false;
  acc->on(Event::BeforeValidate, s);
  // A batch that ran: one-hot float targets, 2 of 3.
  acc->on(Event::BeforeBatch, s);
  s.pred = scores_for({0, 1, 2}, 3);
  s.target = scores_for({0, 1, 1}, 3);
  acc->on(Event::AfterForward, s);
  acc->on(Event::AfterBatch, s);
  // A batch skipped in before_batch: a stale prediction is still in the state, and ignored.
  acc->on(Event::BeforeBatch, s);
  acc->on(Event::AfterBatch, s);
  acc->on(Event::AfterValidate, s);
  CHECK(s.metrics.at("accuracy") == Approx(2.0 / 3.0));

  acc->on(Event::BeforeValidate, s);
  acc->on(Event::BeforeBatch, s);
  s.pred = tensor({0.3f, -1.0f}, {2, 1});
  s.target = labels({1, 0});
  acc->on(Event::AfterForward, s);
  REQUIRE_THROWS_WITH(acc->on(Event::AfterBatch, s),
                      Contains("C >= 2") && Contains("[2, 1]") && Contains("two logits"));
  s.pred = scores_for({0, 1}, 3);
  s.target = labels({0, 1, 2});
  REQUIRE_THROWS_WITH(acc->on(Event::AfterBatch, s), Contains("target") && Contains("[3]"));
}

// ---------------------------------------------------------------- early_stopping

TEST_CASE(
    "early_stopping stops after `patience` epochs without improvement and restores the "
    "best epoch's parameters and buffers in place",
    "[callbacks]") {
  auto model = std::make_shared<Tiny>();
  const Tensor weight = model->weight;  // what an optimizer holds
  const void* weight_data = weight.raw_data();
  auto es = create_callback("early_stopping", {{"patience", 2}});
  LoopState s;
  s.model = model.get();
  // valid_loss improves at epochs 1 and 2 (best 0.5 at epoch 2); epochs 3 and 4 do not.
  Capture err(2);
  const int64_t ran =
      run_fit({es}, s, metric_script("valid_loss", {1.0, 0.5, 0.7, 0.6, 0.4, 0.3}, model.get()));
  const std::string log = err.finish();
  CHECK(ran == 4);
  CHECK(s.stop);
  // Epoch 2's values are back (the last epoch left 4 and 40), in the same tensors.
  CHECK(model->weight.to_vector<float>() == std::vector<float>(6, 2.0f));
  CHECK(model->bias.to_vector<float>() == std::vector<float>(3, 2.0f));
  CHECK(model->running.to_vector<float>() == std::vector<float>(3, 20.0f));
  CHECK(s.weights_epoch == 1);  // told to the fit (0-based): its result is epoch 2's
  CHECK(model->named_parameters()[0].second.same(weight));
  CHECK(weight.raw_data() == weight_data);
  CHECK(weight.requires_grad());
  CHECK(weight.to_vector<float>() == std::vector<float>(6, 2.0f));
  // One line that says why, when, and which epoch was best.
  CHECK(lines_of(log).size() == 1);
  CHECK_THAT(log, Contains("stopped after epoch 4/6") && Contains("valid_loss") &&
                      Contains("2 epochs") && Contains("best 0.5 at epoch 2") &&
                      Contains("restored the weights of epoch 2"));

  SECTION("restore_best=false leaves the last epoch's values") {
    auto keep = create_callback("early_stopping", {{"patience", 2}, {"restore_best", false}});
    Capture quiet(2);
    CHECK(run_fit({keep}, s, metric_script("valid_loss", {1.0, 0.5, 0.7, 0.6}, model.get())) == 4);
    CHECK_THAT(quiet.finish(), !Contains("restored"));
    CHECK(model->weight.to_vector<float>() == std::vector<float>(6, 4.0f));
  }
  SECTION("a fit that is not stopped still ends with the best epoch's values") {
    auto es2 = create_callback("early_stopping", {{"patience", 5}});
    Capture out(2);
    CHECK(run_fit({es2}, s, metric_script("valid_loss", {1.0, 0.5, 0.7}, model.get())) == 3);
    CHECK_THAT(out.finish(), Contains("best valid_loss 0.5 at epoch 2"));
    CHECK_FALSE(s.stop);
    CHECK(model->weight.to_vector<float>() == std::vector<float>(6, 2.0f));
  }
  SECTION("the same callback serves a second fit from a fresh start") {
    Capture out(2);
    CHECK(run_fit({es}, s, metric_script("valid_loss", {3.0, 2.0, 1.0}, model.get())) == 3);
    CHECK(out.finish().empty());  // the best is the last epoch: nothing to say
    CHECK(model->weight.to_vector<float>() == std::vector<float>(6, 3.0f));
  }
}

TEST_CASE("early_stopping: min_delta, patience 0 and NaN", "[callbacks]") {
  LoopState s;
  Capture quiet(2);  // the stop lines
  const std::vector<double> slow = {1.0, 0.95, 0.92, 0.85, 0.8};
  // Improvements of less than 0.1 do not count: epochs 2 and 3 are waits.
  CHECK(run_fit({create_callback("early_stopping", {{"patience", 2}, {"min_delta", 0.1}})}, s,
                metric_script("valid_loss", slow)) == 3);
  CHECK(s.stop);
  // Without min_delta every epoch improves.
  CHECK(run_fit({create_callback("early_stopping", {{"patience", 2}})}, s,
                metric_script("valid_loss", slow)) == 5);
  CHECK_FALSE(s.stop);
  // patience 0 stops at the first epoch that does not improve.
  CHECK(run_fit({create_callback("early_stopping", {{"patience", 0}})}, s,
                metric_script("valid_loss", {1.0, 0.9, 0.9, 0.5})) == 3);
  // A NaN is never an improvement.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(run_fit({create_callback("early_stopping", {{"patience", 1}})}, s,
                metric_script("valid_loss", {1.0, nan, 0.5})) == 2);
}

TEST_CASE("accuracy: language-model logits [B, T, C] with targets [B, T] count every position",
          "[callbacks]") {
  auto acc = create_callback("accuracy");
  LoopState s;
  s.training = false;
  acc->on(Event::BeforeValidate, s);
  acc->on(Event::BeforeBatch, s);
  // B = 2, T = 3, C = 4 (class dim last): arg-max per position {1, 3, 0 | 2, 2, 1}.
  s.pred = scores_for({1, 3, 0, 2, 2, 1}, 4).reshape({2, 3, 4});
  s.target = tensor_i64({1, 3, 3, 2, 0, 1}, {2, 3});  // 4 of 6 right
  acc->on(Event::AfterForward, s);
  acc->on(Event::AfterBatch, s);
  acc->on(Event::AfterValidate, s);
  CHECK(s.metrics.at("accuracy") == Approx(4.0 / 6.0));
  // Class dim 1 still wins where the target drops dim 1: [N, C, L] scores, [N, L] targets.
  acc->on(Event::BeforeValidate, s);
  acc->on(Event::BeforeBatch, s);
  s.pred = scores_for({1, 0, 2, 2}, 3).reshape({2, 2, 3}).transpose(1, 2).contiguous();
  s.target = tensor_i64({1, 0, 2, 0}, {2, 2});  // class-dim-1 arg-max {1, 0 | 2, 2}: 3 of 4
  acc->on(Event::AfterForward, s);
  acc->on(Event::AfterBatch, s);
  acc->on(Event::AfterValidate, s);
  CHECK(s.metrics.at("accuracy") == Approx(3.0 / 4.0));
}

TEST_CASE("early_stopping: mode auto maximises accuracy-like metrics", "[callbacks]") {
  LoopState s;
  Capture out(2);
  const std::vector<double> acc = {0.5, 0.6, 0.55, 0.58, 0.9};
  // auto -> max for "accuracy": best 0.6 at epoch 2, then two epochs below it.
  CHECK(run_fit({create_callback("early_stopping", {{"monitor", "accuracy"}, {"patience", 2}})}, s,
                metric_script("accuracy", acc)) == 4);
  CHECK_THAT(out.finish(), Contains("best 0.6 at epoch 2"));
  // Forced to min, 0.5 at epoch 1 stays the best.
  Capture out2(2);
  CHECK(run_fit({create_callback("early_stopping",
                                 {{"monitor", "accuracy"}, {"patience", 2}, {"mode", "min"}})},
                s, metric_script("accuracy", acc)) == 3);
  CHECK_THAT(out2.finish(), Contains("best 0.5 at epoch 1"));
  // A rising loss named like a score is still a loss.
  Capture out3(2);
  CHECK(run_fit({create_callback("early_stopping", {{"monitor", "acc_loss"}, {"patience", 1}})}, s,
                metric_script("acc_loss", {1.0, 2.0, 3.0})) == 2);
  CHECK_THAT(out3.finish(), Contains("best 1 at epoch 1"));
}

TEST_CASE("mode auto: the direction the metric declared, else its name's, else an error",
          "[callbacks]") {
  LoopState s;
  // error_budget is declared to rise, though its name says it falls.
  Script up = metric_script("error_budget", {0.2, 0.5, 0.3, 0.4, 0.1});
  const auto report = up.epoch_end;
  up.epoch_end = [report](LoopState& st) {
    report(st);
    st.metric_info["error_budget"] = {MetricDirection::Maximize, MetricPhase::Valid};
  };
  Capture out(2);
  CHECK(run_fit({create_callback("early_stopping", {{"monitor", "error_budget"}, {"patience", 2}})},
                s, up) == 4);
  CHECK_THAT(out.finish(), Contains("best 0.5 at epoch 2"));
  // Undeclared, the name decides: min, best 0.2 at epoch 1.
  s = LoopState{};
  Capture out2(2);
  CHECK(run_fit({create_callback("early_stopping", {{"monitor", "error_budget"}, {"patience", 2}})},
                s, metric_script("error_budget", {0.2, 0.5, 0.3, 0.4, 0.1})) == 3);
  CHECK_THAT(out2.finish(), Contains("best 0.2 at epoch 1"));
  // A rate rises, though its name has the word "sec".
  Capture out3(2);
  CHECK(run_fit({create_callback("early_stopping", {{"monitor", "samples_per_sec"}, {"patience", 1}})},
                s, metric_script("samples_per_sec", {100, 300, 200})) == 3);
  CHECK_THAT(out3.finish(), Contains("best 300 at epoch 2"));

  // No direction (declared or by name) and mode auto: each monitoring callback says what to do.
  TempDir tmp;
  for (const char* name : {"early_stopping", "reduce_on_plateau", "checkpoint"}) {
    INFO(name);
    auto cb = create_callback(name, {{"monitor", "lr"}});
    LoopState st;
    st.run_dir = tmp.path.string();
    Tiny model;
    st.model = &model;
    auto opt = create_optimizer("sgd", model.parameters(), {{"lr", 0.1}});
    st.optimizer = opt.get();
    st.metrics = {{"lr", 0.1}};
    cb->on(Event::BeforeFit, st);
    CHECK_THROWS_WITH(cb->on(Event::AfterEpoch, st),
                      Contains(std::string(name) + ": the monitored metric 'lr' has no direction") &&
                          Contains("give mode = \"min\" or mode = \"max\""));
    // A declaration, or a mode, settles it.
    st.metric_info["lr"] = {MetricDirection::Minimize, MetricPhase::None};
    cb->on(Event::BeforeFit, st);
    CHECK_NOTHROW(cb->on(Event::AfterEpoch, st));
    auto moded = create_callback(name, {{"monitor", "lr"}, {"mode", "max"}});
    st.metric_info.clear();
    moded->on(Event::BeforeFit, st);
    CHECK_NOTHROW(moded->on(Event::AfterEpoch, st));
  }
}

TEST_CASE("early_stopping: a missing metric names it and the metrics present", "[callbacks]") {
  auto es = create_callback("early_stopping", {{"monitor", "val_loss"}});
  LoopState s;
  s.metrics = {{"train_loss", 0.5}, {"valid_loss", 0.4}};
  es->on(Event::BeforeFit, s);
  REQUIRE_THROWS_WITH(es->on(Event::AfterEpoch, s),
                      Contains("'val_loss'") && Contains("did you mean 'valid_loss'") &&
                          Contains("present: train_loss, valid_loss"));
  s.metrics.clear();
  REQUIRE_THROWS_WITH(es->on(Event::AfterEpoch, s), Contains("present: none"));
}

TEST_CASE("early_stopping: its schema refuses bad values with what is accepted", "[callbacks]") {
  REQUIRE_THROWS_WITH(create_callback("early_stopping", {{"mode", "up"}}),
                      Contains("early_stopping") && Contains("'mode'") && Contains("\"up\"") &&
                          Contains("min") && Contains("max") && Contains("auto"));
  REQUIRE_THROWS_WITH(create_callback("early_stopping", {{"patience", -1}}),
                      Contains("'patience'") && Contains("out of range") && Contains(">= 0"));
  REQUIRE_THROWS_WITH(create_callback("early_stopping", {{"min_delta", -0.1}}),
                      Contains("'min_delta'") && Contains(">= 0"));
  REQUIRE_THROWS_WITH(create_callback("early_stopping", {{"patiense", 2}}),
                      Contains("did you mean 'patience'"));
  REQUIRE_THROWS_WITH(create_callback("early_stopping", {{"patience", 1.5}}),
                      Contains("not a whole number"));
  // What `gom describe callback early_stopping` shows: a doc for the component and each key.
  const ComponentInfo& info = find_component(ComponentKind::Callback, "early_stopping");
  CHECK_FALSE(info.doc.empty());
  for (const ParamSpec& p : info.schema.specs()) CHECK_FALSE(p.doc.empty());
}

// ---------------------------------------------------------------- progress

namespace {

// Two epochs of 3 training batches (loss 0.6, 0.4, 0.2) and 2 validation batches of 4 samples.
Script progress_script() {
  Script sc;
  sc.epochs = 2;
  sc.train_batches = 3;
  sc.valid_batches = 2;
  sc.batch = [](LoopState& s) {
    s.pred = scores_for({0, 1, 0, 1}, 2);
    s.target = labels({0, 1, 1, 1});
    s.loss = scalar(s.training ? 0.6 - 0.2 * double(s.batch) : 0.3);
  };
  sc.after_train = [](LoopState& s) { s.metrics["train_loss"] = 0.4; };
  sc.after_valid = [](LoopState& s) { s.metrics["valid_loss"] = 0.3; };
  return sc;
}

}  // namespace

TEST_CASE("progress in lines mode prints one line per epoch with its metrics", "[callbacks]") {
  auto progress = create_callback("progress", {{"mode", "lines"}, {"stream", "stdout"}});
  auto acc = create_callback("accuracy");
  LoopState s;
  Capture out(1);
  run_fit({progress, acc}, s, progress_script());  // progress is ordered after the metric
  const std::string text = out.finish();
  const auto lines = lines_of(text);
  CHECK(text.find('\r') == std::string::npos);
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[0], Contains("epoch 1/2") && Contains("train_loss 0.4000") &&
                           Contains("valid_loss 0.3000") && Contains("accuracy 0.7500") &&
                           Contains(" samples/s"));
  CHECK_THAT(lines[1], Contains("epoch 2/2") && Contains("accuracy 0.7500"));
  // The losses come first, in that order.
  CHECK(lines[0].find("train_loss") < lines[0].find("valid_loss"));
  CHECK(lines[0].find("valid_loss") < lines[0].find("accuracy"));
}

TEST_CASE("progress: every=N adds a line every N batches with the running mean loss",
          "[callbacks]") {
  auto progress =
      create_callback("progress", {{"mode", "lines"}, {"stream", "stdout"}, {"every", 2}});
  LoopState s;
  Capture out(1);
  run_fit({progress}, s, progress_script());
  const auto lines = lines_of(out.finish());
  // Per epoch: training batch 2 of 3, validation batch 2 of 2, and the epoch line.
  REQUIRE(lines.size() == 6);
  CHECK_THAT(lines[0], Contains("epoch 1/2 train 2/3 loss 0.5000") && Contains("samples/s") &&
                           Contains("ETA"));
  CHECK_THAT(lines[1], Contains("epoch 1/2 valid 2/2 loss 0.3000") && !Contains("ETA"));
  CHECK_THAT(lines[2], Contains("epoch 1/2 train_loss 0.4000 valid_loss 0.3000"));
  CHECK_THAT(lines[3], Contains("epoch 2/2 train 2/3"));
}

TEST_CASE("progress in bar mode redraws in place with carriage returns", "[callbacks]") {
  auto progress = create_callback("progress", {{"mode", "bar"}, {"stream", "stdout"}});
  setenv("COLUMNS", "120", 1);  // the width of a stream that is not a terminal: room for 30 cells
  LoopState s;
  Capture out(1);
  run_fit({progress}, s, progress_script());
  const std::string text = out.finish();
  CHECK(text.find('\r') != std::string::npos);
  // The first batch of each phase is drawn at once: a third of the bar is full.
  CHECK_THAT(text, Contains("\repoch 1/2 [##########....................] 1/3 loss 0.6000") &&
                       Contains("ETA 0:00") && Contains("\repoch 1/2 valid [") &&
                       Contains("] 1/2 loss 0.3000"));
  // Each epoch ends on a line of its own, after the bar was wiped.
  const auto lines = lines_of(text);
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[0], Contains("\r") && Contains("\repoch 1/2 train_loss 0.4000"));
  CHECK_THAT(lines[1], Contains("\repoch 2/2 train_loss 0.4000"));
}

TEST_CASE("progress: auto is plain lines off a terminal, and bad params are refused",
          "[callbacks]") {
  auto progress = create_callback("progress", {{"stream", "stdout"}});
  LoopState s;
  Capture out(1);
  run_fit({progress}, s, progress_script());
  const std::string text = out.finish();
  CHECK(text.find('\r') == std::string::npos);
  CHECK(lines_of(text).size() == 2);

  REQUIRE_THROWS_WITH(create_callback("progress", {{"mode", "fancy"}}),
                      Contains("auto") && Contains("bar") && Contains("lines"));
  REQUIRE_THROWS_WITH(create_callback("progress", {{"every", -1}}), Contains(">= 0"));
  REQUIRE_THROWS_WITH(create_callback("progress", {{"stream", "stdin"}}),
                      Contains("stderr") && Contains("stdout"));
}
