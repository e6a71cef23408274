// precision, recall, f1 and confusion_matrix: counts of (true class, predicted class) over a
// phase, and the scores sklearn's precision_recall_fscore_support computes from them.
//
// Per class c, with tp the samples of class c predicted c, pred_c the samples predicted c and
// support_c the samples of class c: precision tp / pred_c, recall tp / support_c,
// f1 2 tp / (pred_c + support_c) (= 2PR / (P + R)). A 0/0 is 0, as sklearn's zero_division=0: a
// class never predicted has precision 0. Averages:
//   macro     the plain mean over the classes that occur (in the targets or the predictions)
//   weighted  the mean weighted by support_c (classes without samples weigh nothing)
//   micro     from the totals; with one label per sample it equals the accuracy for all three
//   binary    the score of class pos_label alone (two classes only)
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "callbacks.h"
#include "gom/distributed.h"
#include "gom/kernel.h"
#include "gom/ops.h"
#include "metric.h"

namespace gom::callbacks {
namespace {

// The confusion matrix of a phase: m_[t * C + p] samples of true class t predicted as p.
class Confusion : public PhaseMetric {
 protected:
  using PhaseMetric::PhaseMetric;
  void reset() override {
    m_.clear();
    c_ = 0;
    counts_ = bad_ = Tensor();
  }
  void accumulate(const LoopState& s) override {
    const ClassBatch b = class_batch(s);
    if (c_ == 0) {
      c_ = b.classes;
      m_.assign(size_t(c_ * c_), 0);
    }
    if (b.classes != c_)
      throw Error(fmt::format("the prediction had {} classes, now {}", c_, b.classes));
    if (defer_host_reads(b.truth.device())) return count_on_device(b);
    // One copy of the batch's class indices to the host, N integers each.
    const auto guess = b.guess.to_vector<int64_t>(), truth = b.truth.to_vector<int64_t>();
    for (size_t i = 0; i < truth.size(); ++i) {
      if (truth[i] < 0 || truth[i] >= c_)
        throw Error(
            fmt::format("target {} at position {} is out of range [0, {})", truth[i], i, c_));
      ++m_[size_t(truth[i] * c_ + guess[i])];
    }
  }
  // On a device the matrix is counted there (index_add of ones at t * C + p), and read once, at
  // the end of the phase (fold), so the host does not wait for the device per batch.
  void count_on_device(const ClassBatch& b) {
    // In f32, exact for class indices below 2^24.
    const Tensor truth = b.truth.reshape({-1}).to(DType::F32);
    const Tensor guess = b.guess.reshape({-1}).to(DType::F32);
    const TensorOptions o = truth.options();
    const Tensor in_range = mul(ge(truth, scalar(0, o)), lt(truth, scalar(double(c_), o)));
    const Tensor bad = sub(scalar(double(truth.numel()), o), sum(in_range));
    bad_ = bad_.defined() ? add(bad_, bad) : bad;
    // Out-of-range targets count nowhere: their cell is clamped, their weight is 0.
    const Tensor t = maximum(minimum(truth, scalar(double(c_ - 1), o)), scalar(0, o));
    const Tensor cell = add(mul(t, scalar(double(c_), o)), guess).to(DType::I64);
    if (!counts_.defined()) counts_ = zeros({c_ * c_}, o);
    counts_ = index_add(counts_, 0, cell, in_range);
  }
  // Adds what the device counted to m_ (call before reading it).
  void fold() {
    if (!counts_.defined()) return;
    if (const double bad = bad_.item(); bad > 0)
      throw Error(fmt::format("{} targets were out of range [0, {})", bad, c_));
    const std::vector<float> v = counts_.to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) m_[i] += int64_t(v[i]);
    counts_ = bad_ = Tensor();
  }
  // The phase's matrix: what the device counted folded in, then, in a data-parallel fit, summed
  // over the ranks (a rank that saw no batch learns the class count from the others). False when
  // no rank counted anything.
  bool gather(const LoopState& s) {
    fold();
    if (!s.data_parallel) return c_ > 0;
    double head[2] = {c_ > 0 ? 1.0 : 0.0, double(c_)};
    sum_over_ranks(s, head);
    if (head[0] == 0) return false;
    const int64_t c = int64_t(head[1] / head[0]);
    if (c_ == 0) {
      c_ = c;
      m_.assign(size_t(c_ * c_), 0);
    }
    if (c != c_ || head[1] != head[0] * double(c_))
      throw Error(
          fmt::format("the ranks' predictions have different numbers of classes ({} "
                      "here)",
                      c_));
    std::vector<double> counts(m_.begin(), m_.end());
    sum_over_ranks(s, counts);
    for (size_t i = 0; i < m_.size(); ++i) m_[i] = int64_t(counts[i]);
    return true;
  }
  int64_t at(int64_t t, int64_t p) const { return m_[size_t(t * c_ + p)]; }
  std::vector<int64_t> m_;
  int64_t c_ = 0;
  Tensor counts_, bad_;  // the device's counts and out-of-range targets, not yet folded
};

enum class Score { Precision, Recall, F1 };

class ClassScore : public Confusion {
 public:
  ClassScore(const Params& p, Score score, const std::string& what)
      : Confusion(p, p.s("average") == "macro" ? what : what + "_" + p.s("average")),
        score_(score),
        average_(p.s("average")),
        pos_label_(p.i("pos_label")) {}
  MetricDirection direction() const override { return MetricDirection::Maximize; }

 private:
  void report(LoopState& s, const std::string& key) override {
    if (!gather(s)) return;
    int64_t n = 0, tp_all = 0;
    std::vector<int64_t> pred(size_t(c_), 0), support(size_t(c_), 0);
    for (int64_t t = 0; t < c_; ++t)
      for (int64_t p = 0; p < c_; ++p) {
        pred[size_t(p)] += at(t, p);
        support[size_t(t)] += at(t, p);
        n += at(t, p);
        if (t == p) tp_all += at(t, p);
      }
    auto of = [&](int64_t c) {
      const double tp = double(at(c, c)), pc = double(pred[size_t(c)]),
                   sc = double(support[size_t(c)]);
      const double num = score_ == Score::F1 ? 2 * tp : tp;
      const double den = score_ == Score::Precision ? pc : score_ == Score::Recall ? sc : pc + sc;
      return den > 0 ? num / den : 0.0;  // zero_division=0
    };
    double v = 0;
    if (average_ == "micro") {
      v = n > 0 ? double(tp_all) / double(n) : 0.0;
    } else if (average_ == "binary") {
      if (c_ != 2)
        throw Error(
            fmt::format("average 'binary' needs two classes, the prediction has {}; use "
                        "macro, micro or weighted",
                        c_));
      if (pos_label_ > 1)
        throw Error(fmt::format("pos_label {} is not a class (0 or 1)", pos_label_));
      v = of(pos_label_);
    } else {
      double sum = 0, weight = 0;
      for (int64_t c = 0; c < c_; ++c) {
        const double w = average_ == "weighted"                       ? double(support[size_t(c)])
                         : (pred[size_t(c)] + support[size_t(c)] > 0) ? 1.0
                                                                      : 0.0;
        sum += w * of(c);
        weight += w;
      }
      v = weight > 0 ? sum / weight : 0.0;
    }
    s.metrics[key] = v;
  }

  Score score_;
  std::string average_;
  int64_t pos_label_;
};

// Stored with the run as JSON text under state.records[key] (a run tag: the last epoch's
// matrix stays), and with every_epoch also under "<key>.epoch_<N>".
class ConfusionMatrix : public Confusion {
 public:
  explicit ConfusionMatrix(const Params& p)
      : Confusion(p, "confusion_matrix"), every_epoch_(p.b("every_epoch")), print_(p.b("print")) {}
  // A record (JSON), not a value: no order.
  MetricDirection direction() const override { return MetricDirection::None; }

 private:
  void report(LoopState& s, const std::string& key) override {
    if (!gather(s)) return;
    std::string rows;
    for (int64_t t = 0; t < c_; ++t) {
      std::vector<int64_t> row(m_.begin() + t * c_, m_.begin() + (t + 1) * c_);
      rows += fmt::format("{}[{}]", t ? "," : "", fmt::join(row, ","));
    }
    const std::string json =
        fmt::format(R"({{"epoch":{},"phase":"{}","classes":{},"matrix":[{}]}})", s.epoch + 1,
                    metric_phase_name(phase()), c_, rows);
    s.records[key] = json;
    if (every_epoch_) s.records[fmt::format("{}.epoch_{}", key, s.epoch + 1)] = json;
    if (print_ && world_rank() == 0) print(s, key);  // one table for the job
  }

  // A table on stderr: rows are the true classes, columns the predicted ones.
  void print(const LoopState& s, const std::string& key) const {
    const int64_t most = std::max<int64_t>(c_ - 1, *std::max_element(m_.begin(), m_.end()));
    const size_t w = fmt::format("{}", most).size() + 1;
    std::string text = fmt::format("{} epoch {} (rows: true class, columns: predicted)\n{:>{}}",
                                   key, s.epoch + 1, "", w);
    for (int64_t p = 0; p < c_; ++p) text += fmt::format(" {:>{}}", p, w);
    for (int64_t t = 0; t < c_; ++t) {
      text += fmt::format("\n{:>{}}", t, w);
      for (int64_t p = 0; p < c_; ++p) text += fmt::format(" {:>{}}", at(t, p), w);
    }
    std::fprintf(stderr, "%s\n", text.c_str());
    std::fflush(stderr);
  }

  bool every_epoch_, print_;
};

void register_score(const char* name, Score score, const char* what) {
  Schema s;
  s.choice("average", {"macro", "micro", "weighted", "binary"},
           "macro: mean over the classes that occur; weighted: by their number of samples; "
           "micro: from the totals (= accuracy); binary: class pos_label of two")
      .def("macro");
  s.integer("pos_label", "the positive class for average=binary").def(1).min(0);
  add_metric_params(s, fmt::format("{} (macro), else {}_<average>", name, name));
  register_callback(name,
                    fmt::format("metric: {} of the arg-max classes over a phase (sklearn's, "
                                "zero_division=0), reported after validation",
                                what),
                    std::move(s), [score, name](const Params& p) {
                      return std::make_shared<ClassScore>(p, score, name);
                    });
}

}  // namespace

void register_classification_metrics() {
  register_score("precision", Score::Precision, "precision tp/(tp+fp)");
  register_score("recall", Score::Recall, "recall tp/(tp+fn)");
  register_score("f1", Score::F1, "F1, the harmonic mean of precision and recall,");
  Schema s;
  s.boolean("every_epoch", "also keep each epoch's matrix, as record <name>.epoch_<N>").def(false);
  s.boolean("print", "also print it as a table on stderr").def(false);
  add_metric_params(s, "confusion_matrix");
  register_callback(
      "confusion_matrix",
      "metric: counts of (true, predicted) class over a phase, kept with the run as JSON "
      "(record <name>: {\"epoch\", \"phase\", \"classes\", \"matrix\"}, matrix[true][predicted])",
      std::move(s), [](const Params& p) { return std::make_shared<ConfusionMatrix>(p); });
}

}  // namespace gom::callbacks
