// The training toolkit of gom_callbacks: gradient_clipping, gradient_accumulation (and the
// trainer's state.accumulate), terminate_on_nan (and DivergedError from a callback),
// activation_stats and csv_logger. Event by event on a LoopState, and through the real fit loop
// where the trainer takes part.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "gom/checkpoint.h"
#include "gom/gom.h"
#include "gom_core/trainer.h"

using namespace gom;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// Parameters with gradients set by hand, as backward would leave them.
struct Params2 : Module {
  Params2() {
    a = register_parameter("a", zeros({2}));
    b = register_parameter("b", zeros({1}));
  }
  Tensor a, b;
};

std::vector<float> grad_of(const Tensor& p) {
  return p.grad().to_vector<float>();
}

// An optimizer that only holds the parameters (the clipping reads them from its groups).
struct Holder : Optimizer {
  explicit Holder(std::vector<Tensor> ps) : Optimizer({ParamGroup{std::move(ps), {{"lr", 0.1}}}}) {}
  void step() override {}
};

LoopState after_backward_state(Module& m, Optimizer& opt, int64_t step = 0) {
  LoopState s;
  s.model = &m;
  s.optimizer = &opt;
  s.training = true;
  s.step = step;
  s.batches = 10;
  return s;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream t;
  t << in.rdbuf();
  return t.str();
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gom_toolkit_XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

// ---------------------------------------------------------------- gradient_clipping

TEST_CASE("gradient_clipping by norm follows torch's clip_grad_norm_", "[toolkit]") {
  Params2 m;
  Holder opt(m.parameters());
  auto set = [&] {
    m.a.set_grad(tensor({3, 4}, {2}));
    m.b.set_grad(tensor({12}, {1}));  // total L2 norm sqrt(9 + 16 + 144) = 13
  };
  LoopState s = after_backward_state(m, opt);
  SECTION("a norm above max_norm is scaled by max_norm / (13 + 1e-6)") {
    set();
    create_callback("gradient_clipping", {{"max_norm", 6.5}})->on(Event::AfterBackward, s);
    const double c = 6.5 / (13 + 1e-6);
    CHECK(grad_of(m.a)[0] == Approx(3 * c).epsilon(1e-7));
    CHECK(grad_of(m.a)[1] == Approx(4 * c).epsilon(1e-7));
    CHECK(grad_of(m.b)[0] == Approx(12 * c).epsilon(1e-7));
    CHECK(grad_of(m.b)[0] < 6.0f);  // the eps makes it a hair below 6
    // torch 1.13's clip_grad_norm_ gives these floats exactly.
    CHECK(grad_of(m.a) == std::vector<float>{1.4999998807907104f, 1.9999998807907104f});
    CHECK(grad_of(m.b)[0] == 5.999999523162842f);
  }
  SECTION("a norm equal to max_norm is still scaled by 13 / 13.000001, as torch does") {
    set();
    create_callback("gradient_clipping", {{"max_norm", 13.0}})->on(Event::AfterBackward, s);
    CHECK(grad_of(m.a)[0] < 3.0f);
    CHECK(grad_of(m.b)[0] < 12.0f);
    CHECK(grad_of(m.a) == std::vector<float>{2.999999761581421f, 3.999999761581421f});  // torch
    CHECK(grad_of(m.b)[0] == 11.999999046325684f);
  }
  SECTION("a norm below max_norm is left exactly as it was") {
    set();
    create_callback("gradient_clipping", {{"max_norm", 14.0}})->on(Event::AfterBackward, s);
    CHECK(grad_of(m.a) == std::vector<float>{3, 4});
    CHECK(grad_of(m.b) == std::vector<float>{12});
  }
  SECTION("kept gradients (state.accumulate) are not clipped; validation is not touched") {
    set();
    auto clip = create_callback("gradient_clipping", {{"max_norm", 1.0}});
    s.accumulate = true;
    clip->on(Event::AfterBackward, s);
    CHECK(grad_of(m.a) == std::vector<float>{3, 4});
    s.accumulate = false;
    clip->on(Event::AfterStep, s);
    CHECK(grad_of(m.a) == std::vector<float>{3, 4});
    clip->on(Event::AfterBackward, s);
    CHECK(grad_of(m.a)[1] == Approx(4 / 13.000001).epsilon(1e-7));
  }
}

TEST_CASE("gradient_clipping by value clamps, and log_every reports the norm before clipping",
          "[toolkit]") {
  Params2 m;
  Holder opt(m.parameters());
  auto clip = create_callback("gradient_clipping",
                              {{"mode", "value"}, {"clip_value", 1.0}, {"log_every", 2}});
  std::vector<std::pair<int64_t, double>> logged;
  for (int64_t step = 0; step < 5; ++step) {
    m.a.set_grad(tensor({3, -0.5f}, {2}));
    m.b.set_grad(tensor({-4}, {1}));  // norm sqrt(9 + 0.25 + 16) = sqrt(25.25)
    LoopState s = after_backward_state(m, opt, step);
    clip->on(Event::AfterBackward, s);
    for (auto& [k, v] : s.step_metrics) {
      CHECK(k == "grad_norm");
      logged.emplace_back(step, v);
    }
    CHECK(grad_of(m.a) == std::vector<float>{1, -0.5f});
    CHECK(grad_of(m.b) == std::vector<float>{-1});
  }
  REQUIRE(logged.size() == 3);  // steps 0, 2 and 4
  CHECK(logged[1].first == 2);
  CHECK(logged[2].second == Approx(std::sqrt(25.25)).epsilon(1e-7));
  REQUIRE_THROWS_WITH(create_callback("gradient_clipping", {{"mode", "norm2"}}),
                      Contains("norm") && Contains("value"));
  REQUIRE_THROWS_WITH(create_callback("gradient_clipping", {{"max_norm", -1.0}}), Contains(">= 0"));
}

// ---------------------------------------------------------------- gradient_accumulation

TEST_CASE("gradient_accumulation keeps k-1 batches and steps on their mean", "[toolkit]") {
  Params2 m;
  Holder opt(m.parameters());
  auto acc = create_callback("gradient_accumulation", {{"steps", 2}});
  LoopState s = after_backward_state(m, opt);
  s.batches = 5;  // windows: batches {0, 1}, {2, 3}, {4} (the phase ends)
  acc->on(Event::BeforeTrain, s);
  std::vector<bool> kept;
  std::vector<float> at_step;
  // Backward adds this batch's gradient to what .grad holds: batch i contributes i + 1.
  for (s.batch = 0; s.batch < 5; ++s.batch) {
    const float gi = float(s.batch + 1);
    const Tensor before = m.b.grad();
    m.b.set_grad(before.defined() ? add(before, tensor({gi}, {1})) : tensor({gi}, {1}));
    s.accumulate = false;
    acc->on(Event::AfterBackward, s);
    kept.push_back(s.accumulate);
    if (!s.accumulate) {  // the trainer steps and zeroes
      at_step.push_back(grad_of(m.b)[0]);
      opt.zero_grad();
    }
  }
  CHECK(kept == std::vector<bool>{true, false, true, false, false});
  CHECK(at_step == std::vector<float>{1.5f, 3.5f, 5.0f});  // (1+2)/2, (3+4)/2, 5/1
  REQUIRE_THROWS_WITH(create_callback("gradient_accumulation"), Contains("steps"));
  REQUIRE_THROWS_WITH(create_callback("gradient_accumulation", {{"steps", 0}}), Contains(">= 1"));
}

namespace {

// y = 2 x0 - x1 + 0.5 + 0.3 sin(5 x0): 40 examples of two features.
class Plane : public Dataset {
 public:
  int64_t size() const override { return 40; }
  Batch get_batch(const std::vector<int64_t>& idx) const override {
    std::vector<float> x, y;
    for (int64_t i : idx) {
      const float x0 = float(i) / 40.f, x1 = float(i % 7) / 7.f;
      x.insert(x.end(), {x0, x1});
      y.push_back(2 * x0 - x1 + 0.5f + 0.3f * std::sin(5 * x0));
    }
    const auto b = int64_t(idx.size());
    return {tensor(x, {b, 2}), tensor(y, {b, 1})};
  }
  Shape input_shape() const override { return {2}; }
  std::string describe() const override { return "plane"; }
};

struct Sink : MetricSink {
  std::map<std::string, std::string> records;
  std::vector<std::pair<std::string, std::string>> artifacts;
  std::vector<std::tuple<std::string, int64_t, double>> rows;
  void log(const std::string& k, int64_t step, int64_t, double v) override {
    rows.emplace_back(k, step, v);
  }
  void record(const std::string& k, const std::string& v) override { records[k] = v; }
  void artifact(const std::string& kind, const std::string& p) override {
    artifacts.emplace_back(kind, p);
  }
};

struct Probe : Callback {
  std::function<void(Event, LoopState&)> fn;
  int ord = 0;
  int order() const override { return ord; }
  void on(Event e, LoopState& s) override { fn(e, s); }
};

struct FitRun {
  std::vector<float> weights;
  int64_t steps = 0, after_step = 0;
};

// Two epochs of SGD with momentum over Plane, shuffled with seed 3.
FitRun fit_plane(int64_t batch, int64_t accumulate,
                 std::vector<std::shared_ptr<Callback>> extra = {}) {
  manual_seed(11);
  auto model = create_layer("linear", {{"in", 2}, {"out", 1}});
  DataLoader train(std::make_shared<Plane>(), {.batch_size = batch, .seed = 3, .prefetch = 0});
  FitArgs a;
  a.model = model;
  a.loss = create_layer("mse");
  a.optimizer = create_optimizer("sgd", model->parameters(), {{"lr", 0.3}, {"momentum", 0.9}});
  a.train = &train;
  a.epochs = 2;
  FitRun r;
  auto probe = std::make_shared<Probe>();
  probe->fn = [&](Event e, LoopState& s) {
    if (e == Event::AfterStep) ++r.after_step;
    if (e == Event::AfterFit) r.steps = s.step;
  };
  a.callbacks = {probe};
  if (accumulate > 1)
    a.callbacks.push_back(create_callback("gradient_accumulation", {{"steps", accumulate}}));
  for (auto& cb : extra) a.callbacks.push_back(cb);
  fit(a);
  for (const Tensor& p : model->parameters())
    for (float v : p.to_vector<float>()) r.weights.push_back(v);
  return r;
}

}  // namespace

TEST_CASE("gradient_accumulation: 4 batches of 4 step like one batch of 16 through the fit loop",
          "[toolkit]") {
  // 40 examples: batches of 16, 16 and 8 per epoch; with 4 x 4 the windows are 4, 4 and 2
  // batches (the last one ends with the phase), so both take 3 real steps per epoch.
  const FitRun big = fit_plane(16, 1), acc = fit_plane(4, 4), small = fit_plane(4, 1);
  REQUIRE(big.weights.size() == 3);
  for (size_t i = 0; i < big.weights.size(); ++i)
    CHECK(acc.weights[i] == Approx(big.weights[i]).margin(1e-6));
  CHECK(acc.steps == 6);
  CHECK(acc.after_step == 6);
  CHECK(big.steps == 6);
  CHECK(small.steps == 20);
  // Without accumulation, batches of 4 end elsewhere: the comparison above has teeth.
  double diff = 0;
  for (size_t i = 0; i < big.weights.size(); ++i)
    diff = std::max(diff, double(std::fabs(small.weights[i] - big.weights[i])));
  CHECK(diff > 1e-2);
}

TEST_CASE("the trainer drops kept gradients that no step closed when the phase ends", "[toolkit]") {
  // A callback that keeps every batch's gradients: no step ever, and nothing left after the
  // phase (the next epoch must not start from them).
  auto keep = std::make_shared<Probe>();
  bool clean_after_train = false;
  keep->fn = [&](Event e, LoopState& s) {
    if (e == Event::AfterBackward) s.accumulate = true;
    if (e == Event::AfterTrain) {
      clean_after_train = true;
      for (const Tensor& p : s.model->parameters()) clean_after_train &= !p.grad().defined();
    }
    if (e == Event::BeforeBatch) CHECK_FALSE(s.accumulate);  // reset before every batch
  };
  const FitRun r = fit_plane(16, 1, {keep});
  CHECK(r.steps == 0);
  CHECK(r.after_step == 0);
  CHECK(clean_after_train);
}

// ---------------------------------------------------------------- terminate_on_nan

TEST_CASE("terminate_on_nan throws DivergedError at a non-finite loss or gradient", "[toolkit]") {
  auto model = create_layer("sequential");
  std::static_pointer_cast<Sequential>(model)
      ->add(create_layer("linear", {{"in", 2}, {"out", 2}}))
      ->add(create_layer("linear", {{"in", 2}, {"out", 1}}));
  Holder opt(model->parameters());
  auto ton = create_callback("terminate_on_nan");
  LoopState s = after_backward_state(*model, opt, 7);
  s.epoch = 1;
  s.batch = 2;
  s.loss = scalar(0.5);
  ton->on(Event::AfterLoss, s);  // finite: nothing
  s.loss = scalar(std::numeric_limits<double>::quiet_NaN());
  REQUIRE_THROWS_AS(ton->on(Event::AfterLoss, s), DivergedError);
  CHECK(s.records.at("diverged_at_step") == "7");
  CHECK(s.stop);
  REQUIRE_THROWS_WITH(ton->on(Event::AfterLoss, s),
                      Contains("the loss is nan at epoch 2, training batch 3 (step 7)"));

  // Gradients: finite but huge (a sum of squares would overflow f32) is fine; one inf is not.
  const auto params = model->named_parameters();
  for (const auto& [n, p] : params) p.set_grad(full(p.shape(), 1e30));
  s.records.clear();
  ton->on(Event::AfterBackward, s);
  CHECK(s.records.empty());
  params[3].second.set_grad(tensor({std::numeric_limits<float>::infinity()}, {1}));
  REQUIRE_THROWS_WITH(ton->on(Event::AfterBackward, s),
                      Contains("the gradient of '1.bias' is not finite"));
  CHECK(s.records.at("diverged_at_step") == "7");
  auto loss_only = create_callback("terminate_on_nan", {{"grads", false}});
  CHECK_NOTHROW(loss_only->on(Event::AfterBackward, s));
}

TEST_CASE("terminate_on_nan in the fit loop: the run diverges, with the record, before the step",
          "[toolkit]") {
  manual_seed(5);
  auto model = create_layer("linear", {{"in", 2}, {"out", 1}});
  DataLoader train(std::make_shared<Plane>(), {.batch_size = 8, .seed = 1, .prefetch = 0});
  Sink sink;
  FitArgs a;
  a.model = model;
  a.loss = create_layer("mse");
  a.optimizer = create_optimizer("sgd", model->parameters(), {{"lr", 0.1}});
  a.train = &train;
  a.epochs = 2;
  a.sink = &sink;
  auto poison = std::make_shared<Probe>();  // an inf gradient at the 8th batch (step 7)
  poison->ord = 5;
  poison->fn = [&](Event e, LoopState& s) {
    if (e == Event::AfterBackward && s.step == 7)
      model->named_parameters()[1].second.set_grad(tensor({INFINITY}, {1}));
  };
  a.callbacks = {poison, create_callback("terminate_on_nan")};
  try {
    fit(a);
    FAIL("fit did not throw");
  } catch (const DivergedError& e) {  // the type survives the trainer's wrapping
    CHECK_THAT(e.what(), Contains("callback 'terminate_on_nan' failed in after_backward") &&
                             Contains("'bias' is not finite") &&
                             Contains("epoch 2, training batch 3 (step 7)"));
  }
  CHECK(sink.records.at("diverged_at_step") == "7");
  for (float w : model->parameters()[0].to_vector<float>()) CHECK(std::isfinite(w));
}

// ---------------------------------------------------------------- activation_stats

namespace {

// Counts its forwards in a buffer, as batch norm moves its running statistics.
struct Counter : Module {
  Counter() { n = register_buffer("n", zeros({1})); }
  using Module::forward;
  Tensor forward(const Tensor& x) override {
    NoGrad ng;
    add_(n, ones({1}));
    return x;
  }
  Tensor n;
};

}  // namespace

TEST_CASE("activation_stats reports each child's output and each gradient every N steps",
          "[toolkit]") {
  // linear W = [[1, 1], [1, -1]], b = [0, -1] on x = [[1, 2], [3, -1]]: [[3, -2], [2, 3]], mean
  // 1.5, std sqrt(17/3); after relu [[3, 0], [2, 3]], mean 2, std sqrt(6/3).
  auto seq = std::static_pointer_cast<Sequential>(create_layer("sequential"));
  auto lin = create_layer("linear", {{"in", 2}, {"out", 2}});
  auto counter = std::make_shared<Counter>();
  seq->add(lin)->add(create_layer("relu"))->add(counter);
  {
    NoGrad ng;
    Tensor w = lin->named_parameters()[0].second, b = lin->named_parameters()[1].second;
    copy_(w, tensor({1, 1, 1, -1}, {2, 2}));
    copy_(b, tensor({0, -1}, {2}));
  }
  Holder opt(seq->parameters());
  auto stats = create_callback("activation_stats", {{"every", 2}});
  std::vector<size_t> sizes;
  std::map<std::string, double> m;
  for (int64_t step = 0; step < 3; ++step) {
    LoopState s = after_backward_state(*seq, opt, step);
    s.input = tensor({1, 2, 3, -1}, {2, 2});
    stats->on(Event::BeforeBatch, s);
    seq->call(s.input);  // the batch's forward, as fit calls it
    stats->on(Event::AfterForward, s);
    seq->call(tensor({9, 9}, {1, 2}));  // a later forward (another callback's) is not caught
    lin->named_parameters()[0].second.set_grad(tensor({1, 2, 3, 4}, {2, 2}));
    lin->named_parameters()[1].second.set_grad(tensor({1, -1}, {2}));
    stats->on(Event::AfterBackward, s);
    sizes.push_back(s.step_metrics.size());
    m.clear();
    for (auto& [k, v] : s.step_metrics) m[k] = v;
  }
  CHECK(sizes == std::vector<size_t>{10, 0, 10});  // 3 children and 2 gradients, mean and std
  CHECK(m.at("act.0.mean") == Approx(1.5));
  CHECK(m.at("act.0.std") == Approx(std::sqrt(17.0 / 3.0)));
  CHECK(m.at("act.1.mean") == Approx(2.0));
  CHECK(m.at("act.1.std") == Approx(std::sqrt(2.0)));
  CHECK(m.at("act.2.mean") == Approx(2.0));
  CHECK(m.at("grad.0.weight.mean") == Approx(2.5));
  CHECK(m.at("grad.0.weight.std") == Approx(std::sqrt(5.0 / 3.0)));
  CHECK(m.at("grad.0.bias.mean") == Approx(0.0).margin(1e-12));
  CHECK(m.at("grad.0.bias.std") == Approx(std::sqrt(2.0)));
  // The model ran twice per step, once more for nothing: no second forward of the callback's.
  CHECK(counter->n.to_vector<float>() == std::vector<float>{6});

  // A model without children has no layer outputs; the gradients still work.
  LoopState s = after_backward_state(*lin, opt, 0);
  s.input = tensor({1, 2}, {1, 2});
  REQUIRE_THROWS_WITH(stats->on(Event::BeforeBatch, s),
                      Contains("has no child modules") && Contains("activations=false"));
  auto grads = create_callback("activation_stats", {{"activations", false}});
  grads->on(Event::BeforeBatch, s);
  grads->on(Event::AfterBackward, s);
  CHECK(s.step_metrics.size() == 4);
}

TEST_CASE("activation_stats reports the batch's own forward (its dropout masks) and leaves the "
          "generator alone",
          "[toolkit]") {
  auto seq = std::static_pointer_cast<Sequential>(create_layer("sequential"));
  seq->add(create_layer("dropout", {{"p", 0.5}}));
  Holder opt(seq->parameters());
  auto stats = create_callback("activation_stats", {{"every", 1}, {"gradients", false}});
  manual_seed(3);
  LoopState s = after_backward_state(*seq, opt, 0);
  s.input = arange(1, 65).reshape({8, 8});
  stats->on(Event::BeforeBatch, s);
  const Tensor out = seq->call(s.input);  // the real forward draws a mask
  stats->on(Event::AfterForward, s);
  const uint64_t after_forward = default_generator().offset();
  stats->on(Event::AfterBackward, s);
  CHECK(default_generator().offset() == after_forward);
  REQUIRE(s.step_metrics.size() == 2);
  CHECK(s.step_metrics[0].second == Approx(mean(out).item()).epsilon(1e-6));
  CHECK(mean(out).item() != Approx(mean(s.input).item()));  // the mask did something
}

// ---------------------------------------------------------------- csv_logger

namespace {

void epoch(Callback& cb, LoopState& s, int64_t e, std::map<std::string, double> metrics) {
  s.epoch = e;
  s.metrics = std::move(metrics);
  cb.on(Event::AfterEpoch, s);
}

}  // namespace

TEST_CASE("csv_logger writes RFC 4180 rows, widens for a new key, registers the file once",
          "[toolkit]") {
  TempDir tmp;
  const fs::path file = tmp.path / "sub" / "log.csv";
  auto csv = create_callback("csv_logger", {{"path", file.string()}});
  LoopState s;
  csv->on(Event::BeforeFit, s);
  epoch(*csv, s, 0, {{"train_loss", 0.5}, {"valid_loss", 0.25}});
  CHECK(slurp(file) == "epoch,train_loss,valid_loss\r\n1,0.5,0.25\r\n");
  epoch(*csv, s, 1, {{"train_loss", 0.125}, {"valid_loss", 0.1}, {"acc,top\"1\"", 0.75}});
  epoch(*csv, s, 2, {{"train_loss", std::numeric_limits<double>::quiet_NaN()}});
  CHECK(slurp(file) ==
        "epoch,train_loss,valid_loss,\"acc,top\"\"1\"\"\"\r\n"
        "1,0.5,0.25,\r\n"
        "2,0.125,0.1,0.75\r\n"
        "3,nan,,\r\n");
  CHECK(s.artifacts.empty());  // registered when complete, at after_fit
  csv->on(Event::AfterFit, s);
  REQUIRE(s.artifacts.size() == 1);
  CHECK(s.artifacts[0] == std::pair<std::string, std::string>{"csv", file.string()});
  // A second fit with the same callback continues the file and does not register it again.
  s.artifacts.clear();
  epoch(*csv, s, 3, {{"train_loss", 1e-5}});
  csv->on(Event::AfterFit, s);
  CHECK(s.artifacts.empty());
  CHECK_THAT(slurp(file), Contains("\r\n3,nan,,\r\n4,1e-05,,\r\n"));

  SECTION("a later logger of this process continues the file; one from elsewhere is replaced") {
    auto later = create_callback("csv_logger", {{"path", file.string()}});
    LoopState t;
    epoch(*later, t, 0, {{"train_loss", 9}});
    CHECK_THAT(slurp(file), Contains("\r\n4,1e-05,,\r\n1,9,,\r\n"));
    const fs::path old = tmp.path / "old.csv";
    std::ofstream(old, std::ios::binary) << "a,b\r\n1,2\r\n";
    auto fresh = create_callback("csv_logger", {{"path", old.string()}});
    epoch(*fresh, t, 0, {{"x", 2}});
    CHECK(slurp(old) == "epoch,x\r\n1,2\r\n");
    const fs::path kept = tmp.path / "kept.csv";
    std::ofstream(kept, std::ios::binary) << "epoch,x\n1,2\n";  // LF line ends read too
    auto more = create_callback("csv_logger", {{"path", kept.string()}, {"append", true}});
    epoch(*more, t, 1, {{"x", 3}, {"y", 4}});
    CHECK(slurp(kept) == "epoch,x,y\r\n1,2,\r\n2,3,4\r\n");
  }
  SECTION("a resumed fit drops the rows from its epoch on and logs them again") {
    const fs::path log = tmp.path / "resume.csv";
    auto first = create_callback("csv_logger", {{"path", log.string()}});
    LoopState t;
    epoch(*first, t, 0, {{"x", 1}});
    epoch(*first, t, 1, {{"x", 2}});
    const std::string saved = first->state();  // a checkpoint after epoch 2
    epoch(*first, t, 2, {{"x", 3}});           // then the run is killed during epoch 4
    auto resumed = create_callback("csv_logger", {{"path", log.string()}});
    resumed->load_state(saved);
    epoch(*resumed, t, 2, {{"x", 5}});
    CHECK(slurp(log) == "epoch,x\r\n1,1\r\n2,2\r\n3,5\r\n");
    // Without the file (a new run folder), the saved columns start a new one.
    auto elsewhere = create_callback("csv_logger", {{"path", (tmp.path / "new.csv").string()}});
    elsewhere->load_state(saved);
    epoch(*elsewhere, t, 2, {{"x", 6}});
    CHECK(slurp(tmp.path / "new.csv") == "epoch,x\r\n3,6\r\n");
    REQUIRE_THROWS_WITH(resumed->load_state("{\"rows\": 1}"), Contains("csv_logger"));
  }
}

TEST_CASE("csv_logger's default path: the run folder, else the working folder", "[toolkit]") {
  TempDir tmp;
  auto csv = create_callback("csv_logger");
  LoopState s;
  s.run_dir = (tmp.path / "artifacts" / "run-3").string();
  epoch(*csv, s, 0, {{"loss", 1}});
  csv->on(Event::AfterFit, s);
  CHECK(slurp(tmp.path / "artifacts" / "run-3" / "metrics.csv") == "epoch,loss\r\n1,1\r\n");
  REQUIRE(s.artifacts.size() == 1);
  CHECK(s.artifacts[0].second == (tmp.path / "artifacts" / "run-3" / "metrics.csv").string());

  const fs::path here = fs::current_path();
  fs::current_path(tmp.path);
  auto plain = create_callback("csv_logger");
  LoopState t;
  epoch(*plain, t, 0, {{"loss", 2}});
  fs::current_path(here);
  CHECK(slurp(tmp.path / "metrics.csv") == "epoch,loss\r\n1,2\r\n");
}

// ---------------------------------------------------------------- checkpoint

TEST_CASE("checkpoint refuses a monitor that is not among the metrics, as early_stopping does",
          "[toolkit]") {
  TempDir tmp;
  Params2 m;
  Holder opt(m.parameters());
  LoopState s = after_backward_state(m, opt);
  s.run_dir = tmp.path.string();
  auto ckpt = create_callback("checkpoint", {{"monitor", "valid_los"}});
  ckpt->on(Event::BeforeFit, s);
  const auto message = [&](Callback& cb) {
    try {
      epoch(cb, s, 0, {{"valid_loss", 0.5}, {"train_loss", 0.7}});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string got = message(*ckpt);
  CHECK_THAT(got, Contains("the monitored metric 'valid_los'") &&
                      Contains("(did you mean 'valid_loss'?)") &&
                      Contains("present: train_loss, valid_loss"));
  // The same words as early_stopping's: one shared check.
  auto es = create_callback("early_stopping", {{"monitor", "valid_los"}});
  es->on(Event::BeforeFit, s);
  CHECK(message(*es) == got);
  CHECK_FALSE(fs::exists(tmp.path / "best.safetensors"));
  // Spelt right, it keeps the best epoch.
  auto good = create_callback("checkpoint", {{"monitor", "valid_loss"}});
  good->on(Event::BeforeFit, s);
  epoch(*good, s, 0, {{"valid_loss", 0.5}});
  CHECK(fs::exists(tmp.path / "best.safetensors"));
}

TEST_CASE("a checkpoint carries the loop's checkpoint_metadata (the run's identity)",
          "[toolkit]") {
  TempDir tmp;
  Params2 m;
  Holder opt(m.parameters());
  LoopState s = after_backward_state(m, opt, 7);
  s.checkpoint_metadata = {{"run.id", "3"}, {"run.database", "abc"}};
  const std::string path = (tmp.path / "c.safetensors").string();
  save_checkpoint(path, s, 2, {{"checkpoint", "last"}});
  const CheckpointInfo info = read_checkpoint_info(path);
  CHECK(info.epoch == 2);
  CHECK(info.step == 7);
  CHECK(info.metadata.at("run.id") == "3");
  CHECK(info.metadata.at("run.database") == "abc");
  CHECK(info.metadata.at("checkpoint") == "last");
}
