// Helpers for hand-written loops, from C++: gradient clipping (gom/grad_clip.h, which the
// gradient_clipping callback runs too) worked by hand, and gom::ScheduleDriver moving the lr
// schedule plugins outside fit, against PyTorch's formulas.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "gom/gom.h"
#include "gom_core/schedule_driver.h"

using namespace gom;
using Catch::Matchers::Contains;

namespace {

constexpr double kPi = 3.141592653589793;

// A parameter whose gradient is `g` (f32).
Tensor with_grad(const std::vector<float>& g) {
  Tensor p = tensor(std::vector<float>(g.size(), 0.f), {int64_t(g.size())});
  p.requires_grad_(true);
  p.set_grad(tensor(g, {int64_t(g.size())}));
  return p;
}

std::vector<float> grad_of(const Tensor& p) {
  return p.grad().to_vector<float>();
}

}  // namespace

TEST_CASE("clip_grad_norm: the 2-norm over all gradients, scaled by max_norm / (norm + 1e-6)",
          "[grad_clip]") {
  // |(3, 4, 12)| = 13; a parameter without a gradient takes no part.
  const Tensor a = with_grad({3, -4}), b = with_grad({12});
  Tensor none = tensor(std::vector<float>{1.f}, {1});
  none.requires_grad_(true);
  const std::vector<Tensor> params = {a, none, b};
  CHECK(grad_norm(params) == 13.0);
  CHECK(clip_grad_norm_(params, 6.5) == 13.0);  // the norm before clipping
  const double coef = 6.5 / (13.0 + 1e-6);
  CHECK(grad_of(a) == std::vector<float>{float(3 * coef), float(-4 * coef)});
  CHECK(grad_of(b) == std::vector<float>{float(12 * coef)});
  CHECK(grad_norm(params) == Approx(6.5).epsilon(1e-6));
  CHECK_FALSE(none.grad().defined());

  // At or below max_norm nothing changes, bit for bit.
  const Tensor c = with_grad({3, 4});
  CHECK(clip_grad_norm_({c}, 5.0) == 5.0);  // 5 / (5 + 1e-6) < 1, but only just
  CHECK(grad_of(c)[0] < 3.f);
  CHECK(grad_of(c)[0] == Approx(3 * (5.0 / (5.0 + 1e-6))).epsilon(1e-7));
  const Tensor d = with_grad({3, 4});
  CHECK(clip_grad_norm_({d}, 6.0) == 5.0);
  CHECK(grad_of(d) == std::vector<float>{3, 4});
  CHECK(clip_grad_norm_({}, 1.0) == 0.0);  // nothing to clip
}

TEST_CASE("clip_grad_norm: the inf norm and other p", "[grad_clip]") {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor a = with_grad({3, -4}), b = with_grad({-12, 1});
  CHECK(grad_norm({a, b}, inf) == 12.0);
  CHECK(grad_norm({a, b}, 1) == 20.0);
  CHECK(grad_norm({a, b}, 3) == Approx(std::cbrt(27.0 + 64 + 1728 + 1)).epsilon(1e-6));
  CHECK(clip_grad_norm_({a, b}, 6.0, inf) == 12.0);
  const double coef = 6.0 / (12.0 + 1e-6);
  CHECK(grad_of(b) == std::vector<float>{float(-12 * coef), float(coef)});
  CHECK(grad_of(a) == std::vector<float>{float(3 * coef), float(-4 * coef)});
  // A NaN gradient makes the norm NaN, and every gradient NaN (torch's error_if_nonfinite=False).
  const Tensor n = with_grad({std::numeric_limits<float>::quiet_NaN(), 1}), m = with_grad({2});
  CHECK(std::isnan(clip_grad_norm_({n, m}, 1.0, inf)));
  CHECK(std::isnan(grad_of(m)[0]));
  CHECK_THROWS_WITH(grad_norm({a}, 0), Contains("norm_type must be > 0"));
  CHECK_THROWS_WITH(clip_grad_norm_({a}, -1), Contains("max_norm must be >= 0"));
}

TEST_CASE("clip_grad_value: each element clamped to [-clip, clip]", "[grad_clip]") {
  const Tensor a = with_grad({0.5f, -3, 2, -0.25f});
  clip_grad_value_({a}, 1.0);
  CHECK(grad_of(a) == std::vector<float>{0.5f, -1, 1, -0.25f});
  CHECK_THROWS_WITH(clip_grad_value_({a}, -1), Contains("clip_value must be >= 0"));
}

namespace {

std::shared_ptr<Optimizer> sgd(double lr, double momentum = 0.9) {
  Tensor w = tensor(std::vector<float>{1.f}, {1});
  w.requires_grad_(true);
  return create_optimizer("sgd", {w}, {{"lr", lr}, {"momentum", momentum}});
}

// The lrs after 0, 1, ..., n-1 steps.
std::vector<double> lrs(ScheduleDriver& d, int n) {
  std::vector<double> out{d.lr()};
  for (int i = 1; i < n; ++i) {
    d.step();
    out.push_back(d.lr());
  }
  return out;
}

}  // namespace

TEST_CASE("ScheduleDriver: one_cycle and cosine step as PyTorch's formulas", "[schedule]") {
  SECTION("one_cycle: OneCycleLR over 10 steps") {
    auto opt = sgd(0.01);
    ScheduleDriver d(create_callback("one_cycle", {{"max_lr", 0.1}}), opt, 10);
    const auto got = lrs(d, 10);
    // torch: warm-up ends at step pct_start*T - 1 = 2, annealing at T - 1 = 9; each phase is
    // half a cosine: lr = end + (start - end) / 2 * (1 + cos(pi * pct)).
    const double lo = 0.1 / 25, min = lo / 1e4;
    const auto cos_anneal = [](double start, double end, double pct) {
      return end + (start - end) / 2 * (1 + std::cos(kPi * pct));
    };
    CHECK(got[0] == Approx(lo).epsilon(1e-12));
    CHECK(got[1] == Approx(0.052).epsilon(1e-12));  // (0.004 + 0.1) / 2 half-way up
    CHECK(got[2] == Approx(0.1).epsilon(1e-12));
    for (int t = 3; t < 10; ++t)
      CHECK(got[size_t(t)] == Approx(cos_anneal(0.1, min, (t - 2) / 7.0)).epsilon(1e-12));
    CHECK(got[9] == Approx(min).epsilon(1e-12));
    // the momentum cycles the other way: back at max_momentum by the last step
    CHECK(d.position() == 9);
    CHECK(opt->param_groups()[0].options.at("momentum") == Approx(0.95).epsilon(1e-12));
  }
  SECTION("cosine: CosineAnnealingLR with T_max the total steps") {
    auto opt = sgd(0.1);
    ScheduleDriver d(create_callback("cosine", {{"eta_min", 0.001}}), opt, 10);
    const auto got = lrs(d, 11);
    for (int t = 0; t <= 10; ++t)
      CHECK(got[size_t(t)] ==
            Approx(0.001 + (0.1 - 0.001) * (1 + std::cos(kPi * t / 10)) / 2).epsilon(1e-12));
    CHECK(got[5] == Approx(0.0505).epsilon(1e-12));
    CHECK(got[10] == Approx(0.001).epsilon(1e-12));
  }
  SECTION("step, each step one epoch") {
    auto opt = sgd(0.1);
    ScheduleDriver d(create_callback("step", {{"step_size", 3}, {"gamma", 0.5}}), opt, 100);
    const auto got = lrs(d, 7);
    CHECK(got == std::vector<double>{0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025});
  }
  SECTION("reduce_on_plateau: step(metric) ends an epoch") {
    auto opt = sgd(0.1);
    ScheduleDriver d(create_callback("reduce_on_plateau", {{"factor", 0.5}, {"patience", 1}}), opt,
                     100);
    d.step("valid_loss", 1.0);
    d.step("valid_loss", 0.9);
    CHECK(d.lr() == 0.1);
    d.step("valid_loss", 0.95);  // one bad epoch: patience 1
    CHECK(d.lr() == 0.05);
    d.step("valid_loss", 0.96);
    CHECK(d.lr() == 0.025);
  }
  CHECK_THROWS_WITH(ScheduleDriver(create_callback("cosine"), sgd(0.1), 0),
                    Contains("total_steps must be >= 1"));
}
