// Dataset `sequence_task`: generated problems that need memory over a long sequence, the
// classic tests of recurrent nets (Hochreiter & Schmidhuber 1997) where a vanilla RNN's
// gradient vanishes and an LSTM or GRU still learns:
//   recall  input: `length` tokens (i64) from a vocabulary of `symbols`; target: the class of the
//           FIRST token, which must be carried past length-1 random distractors. Chance is
//           1/symbols.
//   adding  input: `length` steps of (value uniform in [0, 1), marker) as f32 [length, 2]; two
//           steps, one in each half, have marker 1; target f32 [1]: the sum of their values.
//           Predicting the mean (1.0) gives an MSE of 1/6.
// Seeded with gom's Philox generator, so the data are the same on every machine.
#include <fmt/format.h>

#include "datasets.h"
#include "gom/dataset.h"
#include "gom/ops.h"

namespace gom::datasets {
namespace {

class SequenceTask : public Dataset {
 public:
  explicit SequenceTask(const Params& p)
      : task_(p.s("task")), n_(p.i("n")), length_(p.i("length")), symbols_(p.i("symbols")) {
    Generator g(uint64_t(p.i("seed")));
    if (task_ == "recall") {
      const Tensor t = randint(0, symbols_, {n_, length_}, &g);
      tokens_ = t.to_vector<int64_t>();
    } else {
      if (length_ < 2) throw Error("task 'adding' needs length >= 2 (two marked steps)");
      values_ = rand({n_, length_}, &g).to_vector<float>();
      const std::vector<float> u = rand({n_, 2}, &g).to_vector<float>();
      const int64_t half = length_ / 2;
      for (int64_t i = 0; i < n_; ++i) {
        const int64_t a = std::min(half - 1, int64_t(u[size_t(2 * i)] * float(half)));
        const int64_t b =
            half + std::min(length_ - half - 1, int64_t(u[size_t(2 * i + 1)] * float(length_ - half)));
        marks_.push_back({a, b});
      }
    }
  }
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return task_ == "recall" ? symbols_ : 0; }
  Shape input_shape() const override {
    return task_ == "recall" ? Shape{length_} : Shape{length_, 2};
  }
  std::string describe() const override {
    return fmt::format("sequence_task {}: {} sequences of {} steps{}", task_, n_, length_,
                       task_ == "recall" ? fmt::format(", {} symbols", symbols_) : "");
  }
  Batch get_batch(const std::vector<int64_t>& indices) const override {
    const int64_t b = int64_t(indices.size());
    if (task_ == "recall") {
      std::vector<int64_t> x, y;
      x.reserve(size_t(b * length_));
      for (int64_t i : indices) {
        x.insert(x.end(), tokens_.begin() + i * length_, tokens_.begin() + (i + 1) * length_);
        y.push_back(tokens_[size_t(i * length_)]);
      }
      return {tensor_i64(x, {b, length_}), tensor_i64(y, {b})};
    }
    std::vector<float> x(size_t(b * length_ * 2), 0.0f), y;
    for (int64_t k = 0; k < b; ++k) {
      const int64_t i = indices[size_t(k)];
      for (int64_t t = 0; t < length_; ++t) x[size_t((k * length_ + t) * 2)] = values_[size_t(i * length_ + t)];
      const auto [m1, m2] = marks_[size_t(i)];
      x[size_t((k * length_ + m1) * 2 + 1)] = x[size_t((k * length_ + m2) * 2 + 1)] = 1.0f;
      y.push_back(values_[size_t(i * length_ + m1)] + values_[size_t(i * length_ + m2)]);
    }
    return {tensor(x, {b, length_, 2}), tensor(y, {b, 1})};
  }

 private:
  std::string task_;
  int64_t n_, length_, symbols_;
  std::vector<int64_t> tokens_;                     // recall: [n, length]
  std::vector<float> values_;                       // adding: [n, length]
  std::vector<std::pair<int64_t, int64_t>> marks_;  // adding: the two marked steps
};

}  // namespace

void register_sequence_task() {
  Schema s;
  s.choice("task", {"recall", "adding"}, "which problem (see gom describe dataset)").required();
  s.integer("n", "number of sequences").def(10000).min(1);
  s.integer("length", "steps per sequence").def(50).range(1, 100000);
  s.integer("symbols", "recall: vocabulary size (chance = 1/symbols)").def(8).range(2, 100000);
  s.integer("seed", "seed of the generator").def(0).min(0);
  register_dataset("sequence_task",
                   "long-memory sequence problems: recall the first token, or the adding "
                   "problem (Hochreiter & Schmidhuber)",
                   std::move(s), [](const Params& p) { return std::make_shared<SequenceTask>(p); });
}

}  // namespace gom::datasets
