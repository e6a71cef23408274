// The lr_finder callback of gom_callbacks: inside gom::fit (a sweep spanning epochs, a fit shorter
// than the sweep), the lrs of every group, the per-step records, and the model and optimizer put
// back bit for bit; driven event by event with crafted losses, the suggestion, the smoothing, and
// the stops on divergence and on a non-finite loss.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "gom/gom.h"
#include "gom_core/trainer.h"

using namespace gom;
using Catch::Matchers::Contains;

namespace {

using Named = std::vector<std::pair<std::string, Tensor>>;

// y = sin(3x) on x in [-1, 1): [n,1] f32.
class Wave : public Dataset {
 public:
  int64_t size() const override { return 64; }
  Batch get_batch(const std::vector<int64_t>& idx) const override {
    std::vector<float> x, y;
    for (int64_t i : idx) {
      x.push_back(float(i) / 32.f - 1.f);
      y.push_back(std::sin(3.f * x.back()));
    }
    const int64_t b = static_cast<int64_t>(idx.size());
    return {tensor(x, {b, 1}), tensor(y, {b, 1})};
  }
  Shape input_shape() const override { return {1}; }
  std::string describe() const override { return "wave"; }
};

struct Sink : MetricSink {
  std::vector<std::tuple<std::string, int64_t, double>> rows;  // key, step, value
  std::map<std::string, std::string> records;
  void log(const std::string& k, int64_t step, int64_t, double v) override {
    rows.emplace_back(k, step, v);
  }
  void record(const std::string& k, const std::string& v) override { records[k] = v; }
  std::vector<double> values(const std::string& k, std::vector<int64_t>* steps = nullptr) const {
    std::vector<double> out;
    for (auto& [key, step, v] : rows)
      if (key == k) {
        out.push_back(v);
        if (steps) steps->push_back(step);
      }
    return out;
  }
};

// Reads each group's lr while the loss of a training batch is known (after lr_finder's -15).
struct LrProbe : Callback {
  std::vector<std::vector<double>> lrs;  // [step][group]
  void on(Event e, LoopState& s) override {
    if (e != Event::AfterLoss || !s.training) return;
    lrs.emplace_back();
    for (const auto& g : s.optimizer->param_groups()) lrs.back().push_back(g.options.at("lr"));
  }
};

// Redirects stderr into a temporary file while alive.
class CaptureStderr {
 public:
  CaptureStderr() : file_(std::tmpfile()) {
    std::fflush(nullptr);
    saved_ = dup(2);
    dup2(fileno(file_), 2);
  }
  ~CaptureStderr() { finish(); }
  std::string finish() {
    if (saved_ < 0) return text_;
    std::fflush(nullptr);
    dup2(saved_, 2);
    close(saved_);
    saved_ = -1;
    std::rewind(file_);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) text_.append(buf, n);
    std::fclose(file_);
    return text_;
  }

 private:
  std::FILE* file_;
  int saved_ = -1;
  std::string text_;
};

double sweep_lr(double start, double end, int64_t i, int64_t n) {
  return start * std::pow(end / start, double(i) / double(n - 1));
}

Named clones(const Named& ts) {
  Named out;
  for (const auto& [k, t] : ts) out.emplace_back(k, t.detach().clone());
  return out;
}

// Same names, shapes, dtypes and bytes.
void check_identical(const Named& got, const Named& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(want[i].first);
    CHECK(got[i].first == want[i].first);
    REQUIRE(got[i].second.shape() == want[i].second.shape());
    REQUIRE(got[i].second.dtype() == want[i].second.dtype());
    const Tensor a = got[i].second.contiguous(), b = want[i].second.contiguous();
    CHECK(std::memcmp(a.raw_data(), b.raw_data(), size_t(a.numel()) * dtype_size(a.dtype())) == 0);
  }
}

struct Fit {
  std::shared_ptr<Dataset> data = std::make_shared<Wave>();
  DataLoader train{data, {.batch_size = 16, .shuffle = true, .seed = 3}};  // 4 batches
  DataLoader valid{data, {.batch_size = 32, .shuffle = false}};
  std::shared_ptr<Sequential> model = std::make_shared<Sequential>();
  std::shared_ptr<Optimizer> opt;
  Sink sink;
  Fit() {
    model->add(create_layer("linear", {{"in", 1}, {"out", 8}}))
        ->add(create_layer("tanh"))
        ->add(create_layer("linear", {{"in", 8}, {"out", 1}}));
    // Two groups with their own lrs: the sweep sets the same lr on both.
    const auto ps = model->parameters();
    opt = create_optimizer("adam", {ps[0], ps[1]}, {{"lr", 0.01}});
    opt->param_groups().push_back(ParamGroup{{ps[2], ps[3]}, {{"lr", 0.002}}});
  }
  FitResult run(int64_t epochs, std::vector<std::shared_ptr<Callback>> cbs) {
    FitArgs a;
    a.model = model;
    a.loss = create_layer("mse");
    a.optimizer = opt;
    a.train = &train;
    a.valid = &valid;
    a.callbacks = std::move(cbs);
    a.epochs = epochs;
    a.sink = &sink;
    return fit(a);
  }
};

}  // namespace

TEST_CASE("lr_finder: a sweep across epochs, its records, and the fit put back bit for bit",
          "[lr_finder]") {
  Fit f;
  f.run(1, {});  // Adam's moving averages and step counts are not empty
  const Named weights = clones(f.model->state_dict());
  const Named state = clones(f.opt->state());
  const auto groups = f.opt->group_options();
  REQUIRE(!state.empty());
  f.sink = Sink();

  auto probe = std::make_shared<LrProbe>();
  auto finder = create_callback(
      "lr_finder", {{"start_lr", 1e-4}, {"end_lr", 1.0}, {"num_steps", 10}, {"diverge", 0.0}});
  CaptureStderr err;
  const FitResult r = f.run(5, {probe, finder});
  const std::string text = err.finish();

  // 10 steps of 4 batches per epoch: the fit stops in the third epoch, after its second batch.
  CHECK(r.stopped_early);
  CHECK(r.epochs_done == 3);
  REQUIRE(probe->lrs.size() == 10);
  std::vector<int64_t> steps;
  const auto lrs = f.sink.values("lr_finder.lr", &steps);
  REQUIRE(lrs.size() == 10);
  for (int64_t i = 0; i < 10; ++i) {
    const double want = sweep_lr(1e-4, 1.0, i, 10);
    CHECK(probe->lrs[i] == std::vector<double>{want, want});
    CHECK(lrs[i] == want);
    CHECK(steps[i] == i);  // optimizer steps taken before this one
  }
  CHECK(lrs.front() == 1e-4);
  CHECK(lrs.back() == Approx(1.0).epsilon(1e-15));
  const auto loss = f.sink.values("lr_finder.loss"),
             smooth = f.sink.values("lr_finder.smooth_loss");
  REQUIRE(loss.size() == 10);
  REQUIRE(smooth.size() == 10);
  double avg = 0;
  for (size_t i = 0; i < 10; ++i) {  // fastai's bias-corrected moving average, beta 0.98
    avg = 0.98 * avg + 0.02 * loss[i];
    CHECK(smooth[i] == Approx(avg / (1 - std::pow(0.98, double(i + 1)))).epsilon(1e-12));
  }

  REQUIRE(f.sink.records.count("lr_finder.suggested_lr"));
  const double suggested = std::stod(f.sink.records.at("lr_finder.suggested_lr"));
  CHECK(std::find(lrs.begin(), lrs.end(), suggested) != lrs.end());
  CHECK_THAT(text, Contains(fmt::format("lr_finder: suggested lr {:.1e} (steepest descent of the "
                                        "smoothed loss)",
                                        suggested)));
  CHECK_THAT(text, Contains("lr_finder: 10 steps, lr 1.0e-04 to 1.0e+00"));

  check_identical(f.model->state_dict(), weights);
  check_identical(f.opt->state(), state);
  CHECK(f.opt->group_options() == groups);
  for (const auto& p : f.model->parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("lr_finder: a fit shorter than the sweep is put back at after_fit", "[lr_finder]") {
  Fit f;
  const Named weights = clones(f.model->state_dict());
  const auto groups = f.opt->group_options();
  CaptureStderr err;
  const FitResult r = f.run(2, {create_callback("lr_finder")});  // 8 of the 100 steps
  const std::string text = err.finish();
  CHECK_FALSE(r.stopped_early);
  CHECK(r.epochs_done == 2);
  const auto lrs = f.sink.values("lr_finder.lr");
  REQUIRE(lrs.size() == 8);
  for (int64_t i = 0; i < 8; ++i) CHECK(lrs[i] == sweep_lr(1e-7, 10, i, 100));
  CHECK(f.sink.values("lr_finder.loss").size() == 8);
  CHECK(f.sink.values("lr_finder.smooth_loss").size() == 8);
  CHECK(f.sink.records.count("lr_finder.suggested_lr") == 1);
  CHECK_THAT(text, Contains("lr_finder: 8 steps"));
  check_identical(f.model->state_dict(), weights);
  CHECK(f.opt->state().empty());  // as before the fit: Adam starts afresh
  CHECK(f.opt->group_options() == groups);
}

namespace {

// The trainer's events for training batches of crafted losses (nothing validates), until the
// callback stops the fit; each batch "trains" by adding 1 to every weight.
struct Driven {
  std::shared_ptr<Module> model = create_layer("linear", {{"in", 2}, {"out", 1}});
  std::shared_ptr<Optimizer> opt = create_optimizer("sgd", model->parameters(), {{"lr", 0.1}});
  LoopState s;
  std::vector<std::pair<std::string, double>> metrics;  // every step metric, in order
  std::vector<double> lrs;                              // group 0's lr in each batch
  std::string err;
  int64_t batches_run = 0;

  void run(const std::shared_ptr<Callback>& cb, const std::vector<double>& losses,
           int64_t per_epoch = 4) {
    s.model = model.get();
    s.optimizer = opt.get();
    s.epochs = 100;
    const auto fire = [&](Event e) {
      cb->on(e, s);
      metrics.insert(metrics.end(), s.step_metrics.begin(), s.step_metrics.end());
      s.step_metrics.clear();
    };
    CaptureStderr capture;
    fire(Event::BeforeFit);
    s.training = true;
    s.batches = per_epoch;
    for (size_t i = 0; i < losses.size() && !s.stop; ++i) {
      s.epoch = int64_t(i) / per_epoch;
      s.batch = int64_t(i) % per_epoch;
      s.skip_batch = false;
      fire(Event::BeforeBatch);
      lrs.push_back(opt->lr());
      s.loss = scalar(losses[i]);
      fire(Event::AfterForward);
      fire(Event::AfterLoss);
      if (!s.skip_batch) {
        NoGrad ng;
        for (auto& p : model->parameters()) add_(p, ones_like(p));
        ++s.step;
      }
      fire(Event::AfterBatch);
      ++batches_run;
    }
    fire(Event::AfterFit);
    err = capture.finish();
  }
  std::vector<double> values(const std::string& key) const {
    std::vector<double> out;
    for (const auto& [k, v] : metrics)
      if (k == key) out.push_back(v);
    return out;
  }
};

}  // namespace

TEST_CASE("lr_finder: the suggestion is the start of the steepest descent", "[lr_finder]") {
  // smooth = 0: the smoothed loss is the loss. The lrs are evenly spaced in log(lr), so the
  // steepest slope is the largest drop. Drops at steps 0-1 (among the first num_steps/10 = 2) and
  // 16-17 (among the last 5) are steeper but not considered; among the rest, 12-13 is.
  std::vector<double> losses(20);
  double l = 10;
  for (size_t i = 0; i < 20; ++i) {
    losses[i] = l;
    l -= i == 0 ? 5 : i == 12 ? 0.5 : i == 16 ? 2 : 0.125;  // exact in f32
  }
  Driven d;
  const Named weights = clones(d.model->state_dict());
  auto cb = create_callback(
      "lr_finder", {{"start_lr", 1e-6}, {"end_lr", 1.0}, {"num_steps", 20}, {"smooth", 0.0}});
  d.run(cb, losses);
  CHECK(d.batches_run == 20);
  CHECK(d.s.stop);
  CHECK(d.metrics.size() == 60);  // lr, loss and smooth_loss per step
  CHECK(d.values("lr_finder.smooth_loss") == losses);
  CHECK(d.values("lr_finder.loss") == losses);
  CHECK(d.values("lr_finder.lr") == d.lrs);
  const double want = sweep_lr(1e-6, 1.0, 12, 20);
  CHECK(d.lrs[12] == want);
  REQUIRE(d.s.records.count("lr_finder.suggested_lr"));
  CHECK(std::stod(d.s.records.at("lr_finder.suggested_lr")) == want);
  CHECK_THAT(d.err,
             Contains(fmt::format(
                 "lr_finder: suggested lr {:.1e} (steepest descent of the smoothed loss)", want)));
  check_identical(d.model->state_dict(), weights);
  CHECK(d.opt->lr() == 0.1);
}

TEST_CASE("lr_finder: a diverging smoothed loss stops the sweep and puts the weights back",
          "[lr_finder]") {
  // beta 0.5: smoothed 1, 0.8667, 0.7143 (the best), then 5.667 > 4 x 0.7143 at the 4th step.
  Driven d;
  const Named weights = clones(d.model->state_dict());
  auto cb = create_callback("lr_finder", {{"smooth", 0.5}, {"num_steps", 50}});
  d.run(cb, {1.0, 0.8, 0.6, 10.0, 0.1, 0.1});
  CHECK(d.batches_run == 4);
  CHECK(d.s.stop);
  const auto sm = d.values("lr_finder.smooth_loss");
  REQUIRE(sm.size() == 4);
  CHECK(sm[0] == Approx(1.0));
  CHECK(sm[1] == Approx(0.65 / 0.75));
  CHECK(sm[2] == Approx(0.625 / 0.875));
  CHECK(sm[3] == Approx(5.3125 / 0.9375));
  CHECK_THAT(d.err, Contains("4 steps") && Contains("stopped as the loss diverged"));
  CHECK(d.s.records.count("lr_finder.suggested_lr") == 1);
  check_identical(d.model->state_dict(), weights);
}

TEST_CASE("lr_finder: a non-finite loss ends the sweep without failing the fit", "[lr_finder]") {
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), HUGE_VAL}) {
    Driven d;
    const Named weights = clones(d.model->state_dict());
    d.run(create_callback("lr_finder"), {1.0, 0.75, bad, 0.5});
    CHECK(d.batches_run == 3);
    CHECK(d.s.stop);
    CHECK(d.s.skip_batch);           // the bad batch is not stepped
    CHECK(d.s.loss.item() == 0.75);  // what the trainer then checks
    CHECK(d.values("lr_finder.loss") == std::vector<double>{1.0, 0.75});  // not recorded
    CHECK_THAT(d.err, Contains("2 steps") && Contains("diverged"));
    check_identical(d.model->state_dict(), weights);
  }
}

TEST_CASE("lr_finder: parameters out of range are refused", "[lr_finder]") {
  CHECK_THROWS_WITH(create_callback("lr_finder", {{"start_lr", 1.0}, {"end_lr", 0.5}}),
                    Contains("start_lr < end_lr"));
  CHECK_THROWS_WITH(create_callback("lr_finder", {{"start_lr", 0.0}}), Contains("start_lr"));
  CHECK_THROWS_WITH(create_callback("lr_finder", {{"num_steps", 1}}), Contains("num_steps"));
  CHECK_THROWS_WITH(create_callback("lr_finder", {{"smooth", 1.0}}), Contains("smooth"));
}
