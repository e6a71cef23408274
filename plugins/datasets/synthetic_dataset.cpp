// Dataset `synthetic`: small generated problems for tests, demos and sanity checks.
//
//   xor        example i is corner i % 4 of the unit square, (0,0) (0,1) (1,0) (1,1), labelled
//              0 1 1 0, plus noise; n = 4 with noise = 0 is the classic truth table.
//   spirals    `classes` interleaved spiral arms of `turns` turns from the centre to radius 1
//              (two arms: Lang & Witbrock's two-spirals problem); example i is on arm i % classes.
//   quadratic  regression: x uniform in [-1, 1), y = a x^2 + b x + c + noise; targets f32 [n, 1].
//   blobs      `classes` Gaussian blobs in `dim` dimensions, centres uniform in [-1, 1)^dim, std
//              `noise`; example i is in blob i % classes.
// Classes are balanced (counts differ by at most one). The values come from gom's Philox
// Generator seeded with `seed` (rand/randn in ops.h), so they are the same on every machine and
// thread count, and tensors drawn in a Lua script with the same seed match.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "datasets.h"
#include "gom/dataset.h"
#include "gom/ops.h"

namespace gom::datasets {

namespace {

constexpr const char* kOwner = "dataset 'synthetic'";

Schema synthetic_schema() {
  Schema s;
  s.choice("task", {"xor", "spirals", "quadratic", "blobs"}, "which problem").required();
  s.integer("n", "number of examples").def(1000).min(1);
  s.integer("seed", "seed of the generator").def(0).min(0);
  s.number("noise",
           "std of Gaussian noise: on the inputs (xor, spirals), on the target (quadratic), the "
           "spread of each blob (blobs)")
      .def(0.1)
      .min(0);
  s.integer("classes", "spirals: number of arms; blobs: number of blobs").def(2).range(1, 1000);
  s.number("turns", "spirals: turns of each arm").def(1.75).range(0, 100);
  s.integer("dim", "blobs: input dimensions").def(2).range(1, 10000);
  s.number("a", "quadratic: coefficient of x^2").def(1.0);
  s.number("b", "quadratic: coefficient of x").def(0.0);
  s.number("c", "quadratic: constant term").def(0.0);
  return s;
}

std::vector<float> draw(Tensor t) {
  return t.contiguous().to_vector<float>();
}

class SyntheticDataset : public Dataset {
 public:
  explicit SyntheticDataset(const Params& p);

  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return classes_; }
  Shape input_shape() const override { return {features_}; }
  std::string describe() const override { return describe_; }
  Batch get_batch(const std::vector<int64_t>& indices) const override;

 private:
  void make_xor(Generator& g, double noise);
  void make_spirals(Generator& g, double noise, double turns);
  void make_quadratic(Generator& g, double noise, double a, double b, double c);
  void make_blobs(Generator& g, double noise, int64_t dim);

  int64_t n_ = 0, features_ = 0, classes_ = 0;  // classes_ 0: regression
  std::vector<float> x_;                        // [n, features]
  std::vector<int64_t> labels_;                 // [n] for classification
  std::vector<float> y_;                        // [n] for regression
  std::string describe_;
};

// A parameter that belongs to other tasks must keep its default: a changed value would be
// silently ignored otherwise.
void check_unused(const Params& p, const std::string& task, const char* name, double def,
                  const char* tasks) {
  if (p.f(name) != def)
    throw Error(fmt::format("parameter '{}' = {} applies to {} only, not task {}", name,
                            p.get(name).str(), tasks, task));
}

SyntheticDataset::SyntheticDataset(const Params& p) {
  const std::string task = p.s("task");
  n_ = p.i("n");
  const double noise = p.f("noise");
  Generator g(uint64_t(p.i("seed")));
  if (task != "spirals") check_unused(p, task, "turns", 1.75, "spirals");
  if (task != "blobs") check_unused(p, task, "dim", 2, "blobs");
  if (task != "quadratic")
    for (const char* k : {"a", "b", "c"})
      check_unused(p, task, k, k[0] == 'a' ? 1.0 : 0.0, "quadratic");
  if (task == "xor" || task == "quadratic")
    check_unused(p, task, "classes", 2, "spirals and blobs");

  if (task == "spirals" || task == "blobs") classes_ = p.i("classes");
  if (task == "xor")
    make_xor(g, noise);
  else if (task == "spirals")
    make_spirals(g, noise, p.f("turns"));
  else if (task == "quadratic")
    make_quadratic(g, noise, p.f("a"), p.f("b"), p.f("c"));
  else
    make_blobs(g, noise, p.i("dim"));

  const std::string what =
      classes_ ? fmt::format("{} features, {} classes", features_, classes_)
               : fmt::format("y = {} x^2 + {} x + {}", p.f("a"), p.f("b"), p.f("c"));
  describe_ = fmt::format("synthetic {}: {} examples, {}{}, noise {}, seed {}", task, n_, what,
                          task == "spirals" ? fmt::format(" ({} turns)", p.f("turns")) : "", noise,
                          p.i("seed"));
}

void SyntheticDataset::make_xor(Generator& g, double noise) {
  features_ = 2;
  classes_ = 2;
  const std::vector<float> z = draw(randn({n_, 2}, &g));
  x_.resize(size_t(n_ * 2));
  labels_.resize(size_t(n_));
  for (int64_t i = 0; i < n_; ++i) {
    const int corner = int(i % 4);
    const int a = corner >> 1, b = corner & 1;
    x_[size_t(2 * i)] = float(a + noise * z[size_t(2 * i)]);
    x_[size_t(2 * i + 1)] = float(b + noise * z[size_t(2 * i + 1)]);
    labels_[size_t(i)] = a ^ b;
  }
}

void SyntheticDataset::make_spirals(Generator& g, double noise, double turns) {
  features_ = 2;
  const int64_t k = classes_;
  const std::vector<float> z = draw(randn({n_, 2}, &g));
  x_.resize(size_t(n_ * 2));
  labels_.resize(size_t(n_));
  for (int64_t i = 0; i < n_; ++i) {
    const int64_t arm = i % k, j = i / k;
    const int64_t on_arm = (n_ - arm + k - 1) / k;        // examples on this arm
    const double t = (double(j) + 0.5) / double(on_arm);  // 0 at the centre, 1 at the rim
    const double angle = 2 * std::numbers::pi * (turns * t + double(arm) / double(k));
    x_[size_t(2 * i)] = float(t * std::cos(angle) + noise * z[size_t(2 * i)]);
    x_[size_t(2 * i + 1)] = float(t * std::sin(angle) + noise * z[size_t(2 * i + 1)]);
    labels_[size_t(i)] = arm;
  }
}

void SyntheticDataset::make_quadratic(Generator& g, double noise, double a, double b, double c) {
  features_ = 1;
  classes_ = 0;
  const std::vector<float> u = draw(rand({n_}, &g));
  const std::vector<float> z = draw(randn({n_}, &g));
  x_.resize(size_t(n_));
  y_.resize(size_t(n_));
  for (int64_t i = 0; i < n_; ++i) {
    const double x = 2.0 * u[size_t(i)] - 1.0;
    x_[size_t(i)] = float(x);
    y_[size_t(i)] = float(a * x * x + b * x + c + noise * z[size_t(i)]);
  }
}

void SyntheticDataset::make_blobs(Generator& g, double noise, int64_t dim) {
  features_ = dim;
  const int64_t k = classes_;
  const std::vector<float> centres = draw(rand({k, dim}, &g));  // drawn first: fixed per seed
  const std::vector<float> z = draw(randn({n_, dim}, &g));
  x_.resize(size_t(n_ * dim));
  labels_.resize(size_t(n_));
  for (int64_t i = 0; i < n_; ++i) {
    const int64_t blob = i % k;
    for (int64_t f = 0; f < dim; ++f)
      x_[size_t(i * dim + f)] =
          float(2.0 * centres[size_t(blob * dim + f)] - 1.0 + noise * z[size_t(i * dim + f)]);
    labels_[size_t(i)] = blob;
  }
}

Batch SyntheticDataset::get_batch(const std::vector<int64_t>& indices) const {
  const auto b = int64_t(indices.size());
  Batch out;
  out.input = Tensor::empty({b, features_});
  out.target = classes_ ? Tensor::empty({b}, {DType::I64}) : Tensor::empty({b, 1});
  if (b == 0) return out;
  float* x = out.input.data<float>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t at = indices[size_t(i)];
    if (at < 0 || at >= n_)
      throw Error(fmt::format("{}: index {} is out of range [0, {})", kOwner, at, n_));
    std::copy_n(x_.data() + at * features_, features_, x + i * features_);
    if (classes_)
      out.target.data<int64_t>()[i] = labels_[size_t(at)];
    else
      out.target.data<float>()[i] = y_[size_t(at)];
  }
  return out;
}

}  // namespace

void register_synthetic() {
  register_dataset(
      "synthetic", "generated problems: xor, spirals, quadratic regression, blobs",
      synthetic_schema(), [](const Params& p) -> std::shared_ptr<Dataset> {
        return std::make_shared<SyntheticDataset>(p);  // the registry names the dataset
      });
}

}  // namespace gom::datasets
