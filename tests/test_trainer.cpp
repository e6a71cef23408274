// The data loader and the fit loop, with a dataset and an optimizer defined here so that only
// the loop itself is under test.
#include <catch2/catch.hpp>
#include <cmath>
#include <set>

#include "gom/gom.h"
#include "gom_core/trainer.h"

using namespace gom;
using Catch::Matchers::Contains;

namespace {

// y = 3x - 1 + noise-free, as [n,1] f32; example i has x = i / n. `poison` makes one index fail.
class LineData : public Dataset {
 public:
  explicit LineData(int64_t n, int64_t poison = -1) : n_(n), poison_(poison) {}
  int64_t size() const override { return n_; }
  Batch get_batch(const std::vector<int64_t>& idx) const override {
    std::vector<float> x, y;
    for (int64_t i : idx) {
      if (i == poison_) throw Error("example " + std::to_string(i) + " is corrupt");
      x.push_back(float(i) / float(n_));
      y.push_back(3.f * x.back() - 1.f);
    }
    const int64_t b = static_cast<int64_t>(idx.size());
    return {tensor(x, {b, 1}), tensor(y, {b, 1})};
  }
  Shape input_shape() const override { return {1}; }
  std::string describe() const override { return "line"; }

 private:
  int64_t n_, poison_;
};

// x = 1, y = 0: a linear model's mse on it is (w + b)^2, so a loss says which weights made it.
class OnesData : public Dataset {
 public:
  explicit OnesData(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  Batch get_batch(const std::vector<int64_t>& idx) const override {
    const int64_t b = static_cast<int64_t>(idx.size());
    return {full({b, 1}, 1.0), zeros({b, 1})};
  }
  Shape input_shape() const override { return {1}; }
  std::string describe() const override { return "ones"; }

 private:
  int64_t n_;
};

class PlainSgd : public Optimizer {
 public:
  PlainSgd(std::vector<Tensor> ps, double lr)
      : Optimizer({ParamGroup{std::move(ps), {{"lr", lr}}}}) {}
  void step() override {
    NoGrad ng;
    for (auto& g : groups_)
      for (auto& p : g.params)
        if (p.grad().defined()) add_(p, p.grad(), -g.options["lr"]);
  }
};

struct Recorder : Callback {
  std::vector<std::string> events;
  std::function<void(Event, LoopState&)> hook;
  void on(Event e, LoopState& s) override {
    events.push_back(event_name(e));
    if (hook) hook(e, s);
  }
};

struct Sink : MetricSink {
  std::vector<std::tuple<std::string, int64_t, int64_t, double>> rows;
  int flushes = 0;
  void log(const std::string& k, int64_t step, int64_t epoch, double v) override {
    rows.emplace_back(k, step, epoch, v);
  }
  void flush() override { ++flushes; }
  std::map<std::string, MetricInfo> described;
  void describe(const std::string& k, const MetricInfo& info) override { described[k] = info; }
  std::vector<double> values(const std::string& k) const {
    std::vector<double> out;
    for (auto& [key, s, e, v] : rows)
      if (key == k) out.push_back(v);
    return out;
  }
};

struct Setup {
  std::shared_ptr<Dataset> data = std::make_shared<LineData>(64);
  DataLoader train{data, {.batch_size = 16, .shuffle = true, .seed = 1}};
  DataLoader valid{data, {.batch_size = 32, .shuffle = false}};
  std::shared_ptr<Module> model = create_layer("linear", {{"in", 1}, {"out", 1}});
  std::shared_ptr<Recorder> rec = std::make_shared<Recorder>();
  Sink sink;
  FitArgs args() {
    FitArgs a;
    a.model = model;
    a.loss = create_layer("mse");
    a.optimizer = std::make_shared<PlainSgd>(model->parameters(), 0.5);
    a.train = &train;
    a.valid = &valid;
    a.callbacks = {rec};
    a.sink = &sink;
    return a;
  }
};

}  // namespace

TEST_CASE("the loader covers every example once per epoch in a seeded order", "[loader]") {
  auto data = std::make_shared<LineData>(50);
  DataLoader a(data, {.batch_size = 16, .seed = 9}),
      b(data, {.batch_size = 16, .seed = 9, .prefetch = 0});
  CHECK(a.num_batches() == 4);
  CHECK(a.epoch_order(0) == b.epoch_order(0));
  CHECK(a.epoch_order(0) != a.epoch_order(1));
  a.begin_epoch(3);
  b.begin_epoch(3);
  std::multiset<float> seen;
  Batch ba, bb;
  std::vector<int64_t> sizes;
  while (a.next(ba)) {
    REQUIRE(b.next(bb));
    CHECK(ba.input.to_vector<float>() == bb.input.to_vector<float>());  // prefetch changes nothing
    sizes.push_back(ba.input.shape()[0]);
    for (float x : ba.input.to_vector<float>()) seen.insert(x);
  }
  CHECK_FALSE(b.next(bb));
  CHECK(sizes == std::vector<int64_t>{16, 16, 16, 2});
  CHECK(seen.size() == 50);
  CHECK(std::set<float>(seen.begin(), seen.end()).size() == 50);
  DataLoader d(data, {.batch_size = 16, .drop_last = true});
  CHECK(d.num_batches() == 3);
  CHECK_THROWS_WITH(DataLoader(data, {.batch_size = 0}), Contains("batch_size must be >= 1"));
}

TEST_CASE("an error in the prefetch thread surfaces on the training thread", "[loader]") {
  DataLoader dl(std::make_shared<LineData>(40, 7), {.batch_size = 8, .shuffle = false});
  dl.begin_epoch(0);
  Batch b;
  CHECK_THROWS_WITH(
      [&] {
        while (dl.next(b)) {
        }
      }(),
      Contains("example 7 is corrupt"));
}

TEST_CASE("fit fires the events in order and learns", "[trainer]") {
  manual_seed(5);
  Setup s;
  FitArgs a = s.args();
  a.epochs = 30;
  FitResult r = fit(a);
  const auto& ev = s.rec->events;
  REQUIRE(ev.size() > 20);
  const std::vector<std::string> first{"before_fit",     "before_epoch",  "before_train",
                                       "before_batch",   "after_forward", "after_loss",
                                       "after_backward", "after_step",    "after_batch"};
  CHECK(std::vector<std::string>(ev.begin(), ev.begin() + 9) == first);
  CHECK(ev.back() == "after_fit");
  CHECK(std::count(ev.begin(), ev.end(), "before_validate") == 30);
  CHECK(std::count(ev.begin(), ev.end(), "after_step") == 30 * 4);  // 64 / 16 batches
  CHECK(r.epochs_done == 30);
  CHECK_FALSE(r.stopped_early);
  const auto train = s.sink.values("train_loss"), valid = s.sink.values("valid_loss");
  REQUIRE(train.size() == 30);
  REQUIRE(valid.size() == 30);
  CHECK(valid.back() < valid.front() / 100);  // a line is learnable
  CHECK(s.sink.values("lr") == std::vector<double>(30, 0.5));
  CHECK(s.sink.values("samples_per_sec").front() > 0);
  CHECK(s.sink.flushes == 30);
  CHECK(r.final_metrics.at("valid_loss") == valid.back());
  CHECK(r.weights_epoch == 30);  // nothing put back: the last epoch's
  CHECK(std::count(ev.begin(), ev.end(), "before_test") == 0);  // no test data, no test phase
  // The loop declares what its own metrics mean before logging them.
  CHECK(s.sink.described.at("train_loss") == MetricInfo{MetricDirection::Minimize, MetricPhase::Train});
  CHECK(s.sink.described.at("valid_loss") == MetricInfo{MetricDirection::Minimize, MetricPhase::Valid});
  CHECK(s.sink.described.at("epoch_seconds").direction == MetricDirection::Minimize);
  CHECK(s.sink.described.at("samples_per_sec").direction == MetricDirection::Maximize);
  CHECK(s.sink.described.at("lr") == MetricInfo{});
  // Epochs are recorded 1-based with the optimizer step count.
  CHECK(std::get<2>(s.sink.rows.front()) == 1);
  CHECK(std::get<1>(s.sink.rows.back()) == 120);
}

TEST_CASE("a callback can stop the fit, and an interrupt stops after the batch", "[trainer]") {
  Setup s;
  s.rec->hook = [](Event e, LoopState& st) {
    if (e == Event::AfterEpoch && st.epoch == 1) st.stop = true;
  };
  FitArgs a = s.args();
  a.epochs = 10;
  FitResult r = fit(a);
  CHECK(r.stopped_early);
  CHECK(r.epochs_done == 2);

  Setup t;
  std::atomic<bool> interrupt{false};
  t.rec->hook = [&](Event e, LoopState& st) {
    if (e == Event::AfterBatch && st.training && st.batch == 1 && st.epoch == 2) interrupt = true;
  };
  FitArgs b = t.args();
  b.epochs = 10;
  b.interrupt = &interrupt;
  FitResult ri = fit(b);
  CHECK(ri.interrupted);
  CHECK_FALSE(ri.stopped_early);
  CHECK(ri.epochs_done == 2);  // epoch 3 did not complete
  CHECK(t.rec->events.back() == "after_fit");
}

TEST_CASE("a diverging loss and a failing callback are errors that say where", "[trainer]") {
  Setup s;
  s.rec->hook = [](Event e, LoopState& st) {
    if (e == Event::BeforeEpoch && st.epoch == 2) st.optimizer->set_lr(1e6);  // explodes
  };
  FitArgs a = s.args();
  a.epochs = 50;
  CHECK_THROWS_WITH(fit(a), Contains("training diverged") && Contains("the loss is "));
  CHECK(s.sink.values("train_loss").size() == 2);  // the epochs before were logged

  Setup t;
  t.rec->hook = [](Event e, LoopState& st) {
    if (e == Event::AfterLoss && st.epoch == 1) throw Error("bad metric");
  };
  t.rec->set_type("recorder");
  FitArgs b = t.args();
  b.epochs = 3;
  CHECK_THROWS_WITH(fit(b), Contains("callback 'recorder' failed in after_loss: bad metric"));
  CHECK(t.sink.values("train_loss").size() == 1);
}

TEST_CASE("the test phase runs once, after early stopping put back the best weights", "[trainer]") {
  Setup s;
  FitArgs a = s.args();
  a.optimizer = std::make_shared<PlainSgd>(s.model->parameters(), 0.0);  // training moves nothing
  DataLoader test(std::make_shared<OnesData>(8), {.batch_size = 3, .shuffle = false});
  a.test = &test;
  a.epochs = 6;
  // Each epoch ends with weight = epoch (1-based), bias 0, and a declared score: the best is
  // epoch 2's, and two epochs without improvement stop the fit after epoch 4.
  const std::vector<double> score = {3, 1, 2, 4, 5, 6};
  std::vector<std::string> phases;
  s.rec->hook = [&](Event e, LoopState& st) {
    if (e == Event::AfterEpoch) {
      NoGrad ng;
      for (auto& [name, p] : st.model->named_parameters())
        fill_(p, name == "weight" ? double(st.epoch + 1) : 0.0);
      st.metrics["score"] = score[size_t(st.epoch)];
      st.metric_info["score"] = {MetricDirection::Minimize, MetricPhase::Valid};
    }
    if (e == Event::BeforeTest) phases.push_back(metric_phase_name(st.phase));
    if (e == Event::AfterBatch && st.phase == MetricPhase::Test) CHECK_FALSE(st.training);
  };
  a.callbacks.push_back(create_callback("early_stopping", {{"monitor", "score"}, {"patience", 2}}));
  const FitResult r = fit(a);
  CHECK(r.epochs_done == 4);
  CHECK(r.stopped_early);
  CHECK(r.weights_epoch == 2);
  // The result is epoch 2's, and the test loss that of its weights (w = 2: (2 + 0)^2 = 4) on the
  // test data: the last epoch's weights would give 16, the validation data another value.
  CHECK(r.final_metrics.at("score") == 1);
  CHECK(r.final_metrics.at("valid_loss") == s.sink.values("valid_loss").at(1));
  CHECK(r.final_metrics.at("test_loss") == Approx(4.0));
  CHECK(s.sink.values("test_loss") == std::vector<double>{r.final_metrics.at("test_loss")});
  for (const auto& [k, step, epoch, v] : s.sink.rows)
    if (k == "test_loss") {
      CHECK(epoch == 4);  // at the last epoch
      CHECK(step == 4 * 4);
    }
  CHECK(s.sink.described.at("test_loss") ==
        MetricInfo{MetricDirection::Minimize, MetricPhase::Test});
  CHECK(s.sink.described.at("score") == MetricInfo{MetricDirection::Minimize, MetricPhase::Valid});
  // Once, after the last epoch and before after_fit.
  const auto& ev = s.rec->events;
  CHECK(phases == std::vector<std::string>{"test"});
  const auto test_at = std::find(ev.begin(), ev.end(), "before_test");
  REQUIRE(test_at != ev.end());
  CHECK(std::find(test_at, ev.end(), "after_epoch") == ev.end());
  CHECK(std::find(test_at, ev.end(), "after_test") + 1 == ev.end() - 1);
  CHECK(ev.back() == "after_fit");
  CHECK(std::count(test_at, ev.end(), "after_batch") == 3);  // 8 examples in batches of 3
}

TEST_CASE("an interrupt during the test phase records no test metrics", "[trainer]") {
  Setup s;
  FitArgs a = s.args();
  DataLoader test(std::make_shared<OnesData>(8), {.batch_size = 3, .shuffle = false});
  a.test = &test;
  a.epochs = 2;
  std::atomic<bool> interrupt{false};
  a.interrupt = &interrupt;
  s.rec->hook = [&](Event e, LoopState& st) {
    if (e == Event::AfterBatch && st.phase == MetricPhase::Test) interrupt = true;
  };
  const FitResult r = fit(a);
  CHECK(r.interrupted);
  CHECK(r.epochs_done == 2);  // the epochs themselves completed
  CHECK(s.sink.values("test_loss").empty());
  CHECK_FALSE(r.final_metrics.count("test_loss"));
  CHECK(r.final_metrics.count("valid_loss") == 1);
}
