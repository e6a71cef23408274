// The metric callbacks of gom_callbacks beyond accuracy: top_k_accuracy, precision, recall, f1,
// confusion_matrix, perplexity, rmse and mae. Each is made through the registry from the real
// plugin and fed phases of batches by hand; the expected values are worked out in the comments.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gom/autograd.h"
#include "gom/callback.h"
#include "gom/ops.h"
#include "gom/plugin.h"

using namespace gom;
using Catch::Matchers::Contains;

namespace {

using Batches = std::vector<std::pair<Tensor, Tensor>>;  // (pred, target)

// One phase as the trainer runs it, for each batch: before_batch, (pred, target),
// after_forward, after_loss, after_batch. Returns the state after the phase's end.
LoopState run_phase(Callback& cb, const Batches& batches, bool training = false,
                    int64_t epoch = 0) {
  LoopState s;
  s.training = training;
  s.epoch = epoch;
  s.batches = int64_t(batches.size());
  cb.on(training ? Event::BeforeTrain : Event::BeforeValidate, s);
  for (const auto& [pred, target] : batches) {
    cb.on(Event::BeforeBatch, s);
    s.pred = pred;
    s.target = target;
    cb.on(Event::AfterForward, s);
    cb.on(Event::AfterLoss, s);
    cb.on(Event::AfterBatch, s);
    ++s.batch;
  }
  cb.on(training ? Event::AfterTrain : Event::AfterValidate, s);
  return s;
}

double metric_of(const std::string& name, const Config& cfg, const Batches& batches,
                 const std::string& key) {
  auto cb = create_callback(name, cfg);
  const LoopState s = run_phase(*cb, batches);
  REQUIRE(s.metrics.count(key) == 1);
  return s.metrics.at(key);
}

// Scores [n, classes] whose arg-max is cls[i].
Tensor scores_for(const std::vector<int>& cls, int classes) {
  std::vector<float> v(cls.size() * size_t(classes), -1.0f);
  for (size_t i = 0; i < cls.size(); ++i) v[i * size_t(classes) + size_t(cls[i])] = 2.0f;
  return tensor(v, {int64_t(cls.size()), classes});
}

Tensor labels(const std::vector<int64_t>& y) {
  return tensor_i64(y, {int64_t(y.size())});
}

// Ten samples of three classes in batches of 4, 4 and 2 (a partial last batch), whose confusion
// matrix (rows: true class, columns: predicted) is
//        0  1  2
//   0    3  1  0      support 4   predicted-as-0: 5   tp 3
//   1    1  2  0      support 3   predicted-as-1: 5   tp 2
//   2    1  2  0      support 3   predicted-as-2: 0   tp 0 (class 2 is never predicted)
// precision 3/5, 2/5, 0/0 -> 0     recall 3/4, 2/3, 0/3     f1 6/9, 4/8, 0/3
//   macro     P (0.6 + 0.4 + 0) / 3 = 1/3   R (0.75 + 2/3 + 0) / 3 = 17/36   F1 (2/3 + 1/2) / 3 =
//   7/18 weighted  P (0.6*4 + 0.4*3) / 10 = 0.36   R (3 + 2) / 10 = 0.5   F1 (8/3 + 1.5) / 10 =
//   5/12 micro     5/10 = 0.5 for all three (one label per sample: the accuracy)
Batches three_class(int classes = 3) {
  const std::vector<int64_t> truth = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
  const std::vector<int> guess = {0, 0, 0, 1, 0, 1, 1, 0, 1, 1};
  Batches b;
  for (auto [from, to] : {std::pair<size_t, size_t>{0, 4}, {4, 8}, {8, 10}})
    b.emplace_back(scores_for({guess.begin() + long(from), guess.begin() + long(to)}, classes),
                   labels({truth.begin() + long(from), truth.begin() + long(to)}));
  return b;
}

}  // namespace

// ---------------------------------------------------------------- precision, recall, f1

TEST_CASE("precision, recall and f1: macro, weighted and micro from a hand-worked matrix",
          "[metrics]") {
  const Batches b = three_class();
  auto score = [&](const char* name, const char* average) {
    const std::string key =
        std::string(average) == "macro" ? name : name + std::string("_") + average;
    return metric_of(name, {{"average", average}}, b, key);
  };
  CHECK(score("precision", "macro") == Approx(1.0 / 3.0).epsilon(1e-12));
  CHECK(score("recall", "macro") == Approx(17.0 / 36.0).epsilon(1e-12));
  CHECK(score("f1", "macro") == Approx(7.0 / 18.0).epsilon(1e-12));
  CHECK(score("precision", "weighted") == Approx(0.36).epsilon(1e-12));
  CHECK(score("recall", "weighted") == Approx(0.5).epsilon(1e-12));
  CHECK(score("f1", "weighted") == Approx(5.0 / 12.0).epsilon(1e-12));
  for (const char* name : {"precision", "recall", "f1"})
    CHECK(score(name, "micro") == Approx(0.5).epsilon(1e-12));
  // A fourth class that neither the targets nor the predictions hold does not count in the macro
  // mean (sklearn's labels = those present): the same values with four logits.
  const Batches four = three_class(4);
  CHECK(metric_of("precision", {}, four, "precision") == Approx(1.0 / 3.0).epsilon(1e-12));
  CHECK(metric_of("f1", {}, four, "f1") == Approx(7.0 / 18.0).epsilon(1e-12));
}

TEST_CASE("precision/recall/f1: binary average, single logits, train and name", "[metrics]") {
  // truth 1 1 1 0 0, predicted 1 0 0 1 0. Class 1: tp 1, predicted 2, support 3 -> P 1/2, R 1/3,
  // F1 2/5. Class 0: tp 1, predicted 3, support 2 -> P 1/3, R 1/2, F1 2/5.
  const Batches two = {{scores_for({1, 0, 0}, 2), labels({1, 1, 1})},
                       {scores_for({1, 0}, 2), labels({0, 0})}};
  CHECK(metric_of("precision", {{"average", "binary"}}, two, "precision_binary") == Approx(0.5));
  CHECK(metric_of("recall", {{"average", "binary"}}, two, "recall_binary") == Approx(1.0 / 3.0));
  CHECK(metric_of("f1", {{"average", "binary"}}, two, "f1_binary") == Approx(0.4));
  CHECK(metric_of("precision", {{"average", "binary"}, {"pos_label", 0}}, two,
                  "precision_binary") == Approx(1.0 / 3.0));
  CHECK(metric_of("recall", {{"average", "binary"}, {"pos_label", 0}}, two, "recall_binary") ==
        Approx(0.5));
  // One logit per sample (class 1 when > 0) with 0/1 float targets: the same samples.
  const Batches logits = {
      {tensor({2.0f, -1.0f, -0.5f, 0.3f, -2.0f}, {5, 1}), tensor({1, 1, 1, 0, 0}, {5})}};
  CHECK(metric_of("precision", {{"average", "binary"}}, logits, "precision_binary") == Approx(0.5));
  CHECK(metric_of("recall", {{"average", "binary"}, {"name", "r"}}, logits, "r") ==
        Approx(1.0 / 3.0));
  // Binary needs two classes.
  auto p = create_callback("precision", {{"average", "binary"}});
  REQUIRE_THROWS_WITH(run_phase(*p, three_class()), Contains("two classes") && Contains("has 3"));

  // train=true: the training phase reports train_<name>, and training batches do not leak into
  // the validation value (nor do validation ones into the next training value).
  auto f1 = create_callback("f1", {{"train", true}, {"average", "micro"}});
  LoopState t = run_phase(*f1, {{scores_for({0, 1}, 2), labels({0, 0})}}, true);
  CHECK(t.metrics.at("train_f1_micro") == Approx(0.5));
  CHECK(t.metrics.count("f1_micro") == 0);
  CHECK(run_phase(*f1, three_class()).metrics.at("f1_micro") == Approx(0.5));
  auto quiet = create_callback("f1");  // train=false: nothing for the training phase
  CHECK(run_phase(*quiet, {{scores_for({0, 1}, 2), labels({0, 0})}}, true).metrics.empty());
}

TEST_CASE("precision/recall/f1: skipped batches, bad targets and the schema", "[metrics]") {
  auto rec = create_callback("recall");
  LoopState s;
  s.training = false;
  rec->on(Event::BeforeValidate, s);
  rec->on(Event::BeforeBatch, s);  // ran: recall of class 0 is 1/2, of class 1 is 1
  s.pred = scores_for({0, 1, 1}, 2);
  s.target = labels({0, 0, 1});
  rec->on(Event::AfterForward, s);
  rec->on(Event::AfterBatch, s);
  rec->on(Event::BeforeBatch, s);  // skipped in before_batch: the stale pred must not count
  rec->on(Event::AfterBatch, s);
  rec->on(Event::AfterValidate, s);
  CHECK(s.metrics.at("recall") == Approx(0.75));

  auto f1 = create_callback("f1");
  REQUIRE_THROWS_WITH(run_phase(*f1, {{scores_for({0, 1}, 2), labels({0, 2})}}),
                      Contains("target 2 at position 1 is out of range [0, 2)"));
  REQUIRE_THROWS_WITH(run_phase(*f1, {{scores_for({0, 1}, 2), labels({0, 1, 1})}}),
                      Contains("i64") && Contains("[2]") && Contains("[3]"));
  REQUIRE_THROWS_WITH(create_callback("f1", {{"average", "samples"}}),
                      Contains("macro") && Contains("micro") && Contains("weighted"));
  for (const char* name : {"precision", "recall", "f1", "confusion_matrix", "top_k_accuracy",
                           "perplexity", "rmse", "mae"}) {
    const ComponentInfo& info = find_component(ComponentKind::Callback, name);
    CHECK_FALSE(info.doc.empty());
    for (const ParamSpec& p : info.schema.specs()) CHECK_FALSE(p.doc.empty());
  }
}

// ---------------------------------------------------------------- confusion_matrix

TEST_CASE("confusion_matrix is recorded as JSON and can be printed", "[metrics]") {
  auto cm = create_callback("confusion_matrix", {{"print", true}, {"every_epoch", true}});
  std::FILE* tmp = std::tmpfile();
  std::fflush(stderr);
  const int saved = dup(2);
  dup2(fileno(tmp), 2);
  const LoopState s = run_phase(*cm, three_class(), false, 1);
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::rewind(tmp);
  std::string printed(4096, '\0');
  printed.resize(std::fread(printed.data(), 1, printed.size(), tmp));
  std::fclose(tmp);

  const std::string json =
      R"({"epoch":2,"phase":"valid","classes":3,"matrix":[[3,1,0],[1,2,0],[1,2,0]]})";
  CHECK(s.records.at("confusion_matrix") == json);
  CHECK(s.records.at("confusion_matrix.epoch_2") == json);
  CHECK(s.records.size() == 2);
  CHECK(s.metrics.empty());
  CHECK(printed ==
        "confusion_matrix epoch 2 (rows: true class, columns: predicted)\n"
        "    0  1  2\n"
        " 0  3  1  0\n"
        " 1  1  2  0\n"
        " 2  1  2  0\n");

  // Defaults: one record, replaced each epoch (the run keeps the last); train_ for training.
  auto quiet = create_callback("confusion_matrix", {{"train", true}});
  const LoopState t = run_phase(*quiet, {{scores_for({1, 1}, 2), labels({0, 1})}}, true);
  CHECK(t.records.size() == 1);
  CHECK(t.records.at("train_confusion_matrix") ==
        R"({"epoch":1,"phase":"train","classes":2,"matrix":[[0,1],[0,1]]})");
}

// ---------------------------------------------------------------- top_k_accuracy

TEST_CASE("top_k_accuracy counts ties in the target's favour, over partial batches", "[metrics]") {
  // Classes scoring strictly above the target: 0, 1, 3 | 2, 0. A hit when that is < k.
  const Batches b = {{tensor({0.1f, 0.5f, 0.5f, 0.2f,  //
                              0.4f, 0.3f, 0.2f, 0.1f,  //
                              0.4f, 0.3f, 0.2f, 0.1f},
                             {3, 4}),
                      labels({2, 1, 3})},
                     {tensor({0.1f, 0.5f, 0.5f, 0.2f,  //
                              0.2f, 0.2f, 0.2f, 0.2f},
                             {2, 4}),
                      labels({3, 0})}};
  CHECK(metric_of("top_k_accuracy", {{"k", 1}}, b, "top1_accuracy") == Approx(0.4));
  CHECK(metric_of("top_k_accuracy", {{"k", 2}}, b, "top2_accuracy") == Approx(0.6));
  CHECK(metric_of("top_k_accuracy", {{"k", 3}}, b, "top3_accuracy") == Approx(0.8));
  CHECK(metric_of("top_k_accuracy", {{"k", 4}, {"name", "t4"}}, b, "t4") == Approx(1.0));
  // accuracy's arg-max takes the lowest index of a tie: 1 of 5 there.
  CHECK(metric_of("accuracy", {}, b, "accuracy") == Approx(0.2));
  // The default k is 5; one-hot targets are accepted.
  CHECK(metric_of("top_k_accuracy", {}, {{scores_for({0, 1}, 6), scores_for({0, 2}, 6)}},
                  "top5_accuracy") == Approx(1.0));
  auto top = create_callback("top_k_accuracy", {{"k", 1}});
  REQUIRE_THROWS_WITH(run_phase(*top, {{tensor({0.5f, 0.2f}, {2}), labels({0, 1})}}),
                      Contains("C >= 2"));
  REQUIRE_THROWS_WITH(create_callback("top_k_accuracy", {{"k", 0}}), Contains(">= 1"));
}

// ---------------------------------------------------------------- perplexity

TEST_CASE("perplexity is exp of the mean cross-entropy per token, padding ignored", "[metrics]") {
  const float l3 = std::log(3.0f);
  // Rows [0, ln 3] have softmax [1/4, 3/4]: target 1 costs ln(4/3), target 0 costs ln 4. Row
  // [0, 0] with target 0 costs ln 2. The row with target -100 is padding. Three tokens in all:
  // exp((ln(4/3) + ln 4 + ln 2) / 3) = (32/3)^(1/3); a mean of the batches' means would differ.
  const Batches b = {{tensor({0, l3, 0, l3, 0, 5}, {3, 2}), labels({1, 0, -100})},
                     {tensor({0, 0}, {1, 2}), labels({0})}};
  const double want = std::cbrt(32.0 / 3.0);
  CHECK(metric_of("perplexity", {}, b, "perplexity") == Approx(want).epsilon(1e-6));
  // The same tokens from a language model's [B, T, C] logits and [B, T] targets.
  const Batches lm = {
      {tensor({0, l3, 0, l3, 0, 5, 0, 0}, {2, 2, 2}), tensor_i64({1, 0, -100, 0}, {2, 2})}};
  CHECK(metric_of("perplexity", {}, lm, "perplexity") == Approx(want).epsilon(1e-6));
  // Another ignore_index: the 5-logit row now counts (target 0 of [0, 5]: ln(1 + e^5)).
  const Batches pad = {{tensor({0, l3, 0, 5}, {2, 2}), labels({1, 0})},
                       {tensor({0, 0}, {1, 2}), labels({-1})}};
  CHECK(metric_of("perplexity", {{"ignore_index", -1}}, pad, "perplexity") ==
        Approx(std::exp((std::log(4.0 / 3.0) + std::log1p(std::exp(5.0))) / 2)).epsilon(1e-6));
  auto ppl = create_callback("perplexity");
  REQUIRE_THROWS_WITH(run_phase(*ppl, {{tensor({0, 0}, {1, 2}), labels({0, 1})}}),
                      Contains("[N, C]") && Contains("[2]"));
}

// ---------------------------------------------------------------- rmse, mae

TEST_CASE("rmse and mae over every element of a phase, the last batch partial", "[metrics]") {
  // Errors 0, 1, 2, 3 and -2: squares sum to 18, absolute values to 8, over 5 elements.
  const Batches b = {{tensor({1, 2, 3, 4}, {2, 2}), tensor({1, 1, 1, 1}, {2, 2})},
                     {tensor({0}, {1, 1}), tensor({2}, {1, 1})}};
  CHECK(metric_of("rmse", {}, b, "rmse") == Approx(std::sqrt(18.0 / 5.0)).epsilon(1e-9));
  CHECK(metric_of("mae", {}, b, "mae") == Approx(1.6).epsilon(1e-9));
  // train=true reports train_<name> over the training phase.
  auto mae = create_callback("mae", {{"train", true}});
  CHECK(run_phase(*mae, b, true).metrics.at("train_mae") == Approx(1.6));
  REQUIRE_THROWS_WITH(run_phase(*mae, {{tensor({1, 2}, {2}), tensor({1, 2}, {2, 1})}}),
                      Contains("[2]") && Contains("[2, 1]") && Contains("one shape"));
  REQUIRE_THROWS_WITH(run_phase(*mae, {{tensor({1, 2}, {2}), labels({1, 2})}}),
                      Contains("f32") && Contains("i64"));
}

// ---------------------------------------------------------------- phases and declarations

TEST_CASE("metrics report test_<name> in the test phase, and declare each key they report",
          "[metrics]") {
  // Every phase of one metric, by hand: the test phase is a third one, after validation.
  auto phase = [](Callback& cb, LoopState& s, MetricPhase p, const Batches& batches) {
    s.training = p == MetricPhase::Train;
    s.phase = p;
    cb.on(p == MetricPhase::Train   ? Event::BeforeTrain
          : p == MetricPhase::Valid ? Event::BeforeValidate
                                    : Event::BeforeTest,
          s);
    for (const auto& [pred, target] : batches) {
      cb.on(Event::BeforeBatch, s);
      s.pred = pred;
      s.target = target;
      cb.on(Event::AfterForward, s);
      cb.on(Event::AfterBatch, s);
    }
    cb.on(p == MetricPhase::Train   ? Event::AfterTrain
          : p == MetricPhase::Valid ? Event::AfterValidate
                                    : Event::AfterTest,
          s);
  };
  const Batches right = {{scores_for({0, 1}, 2), labels({0, 1})}};
  const Batches half = {{scores_for({0, 1}, 2), labels({0, 0})}};
  auto acc = create_callback("accuracy", {{"train", true}});
  LoopState s;
  phase(*acc, s, MetricPhase::Train, right);
  phase(*acc, s, MetricPhase::Valid, right);
  phase(*acc, s, MetricPhase::Test, half);
  CHECK(s.metrics.at("train_accuracy") == 1.0);
  CHECK(s.metrics.at("accuracy") == 1.0);
  CHECK(s.metrics.at("test_accuracy") == 0.5);  // the test batches alone
  using D = MetricDirection;
  using P = MetricPhase;
  CHECK(s.metric_info.at("train_accuracy") == MetricInfo{D::Maximize, P::Train});
  CHECK(s.metric_info.at("accuracy") == MetricInfo{D::Maximize, P::Valid});
  CHECK(s.metric_info.at("test_accuracy") == MetricInfo{D::Maximize, P::Test});

  // Each metric's own direction.
  const std::vector<std::tuple<std::string, Config, std::string, D>> metrics = {
      {"top_k_accuracy", {{"k", 1}}, "top1_accuracy", D::Maximize},
      {"f1", {}, "f1", D::Maximize},
      {"precision", {{"average", "micro"}}, "precision_micro", D::Maximize},
      {"recall", {}, "recall", D::Maximize},
      {"perplexity", {}, "perplexity", D::Minimize},
  };
  for (const auto& [name, cfg, key, direction] : metrics) {
    INFO(name);
    auto cb = create_callback(name, cfg);
    LoopState t;
    phase(*cb, t, MetricPhase::Test, half);
    REQUIRE(t.metrics.count("test_" + key) == 1);
    CHECK(t.metric_info.at("test_" + key) == MetricInfo{direction, P::Test});
  }
  for (const char* name : {"rmse", "mae"}) {
    auto cb = create_callback(name);
    LoopState t;
    phase(*cb, t, MetricPhase::Valid, {{tensor({1, 2}, {2}), tensor({1, 4}, {2})}});
    CHECK(t.metric_info.at(name) == MetricInfo{D::Minimize, P::Valid});
  }
  // A confusion matrix is a record, not a value: its phase is in the JSON, nothing is declared.
  auto cm = create_callback("confusion_matrix");
  LoopState t;
  phase(*cm, t, MetricPhase::Test, half);
  CHECK(t.records.at("test_confusion_matrix") ==
        R"({"epoch":1,"phase":"test","classes":2,"matrix":[[1,1],[0,0]]})");
  CHECK(t.metric_info.empty());
}
