// cosine: cosine annealing from the initial lr down to eta_min over T_max epochs (or steps),
// torch's CosineAnnealingLR:
//   lr(t) = eta_min + (initial_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2
// (past T_max the curve rises again, as torch's does). T_max defaults to the whole fit.
// With T_0 it restarts instead (SGDR, torch's CosineAnnealingWarmRestarts): the first cycle is
// T_0 long, each next one T_mult times longer, and within a cycle of length T_i at T_cur
//   lr(t) = eta_min + (initial_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
#include <fmt/format.h>

#include <cmath>

#include "../callbacks.h"
#include "schedule.h"

namespace gom::callbacks {
namespace {

using sched::Position;

constexpr double kPi = 3.141592653589793;

class Cosine : public sched::Curve {
 public:
  explicit Cosine(const Params& p)
      : Curve(p),
        t_max_(p.has("T_max") ? p.i("T_max") : 0),
        t_0_(p.has("T_0") ? p.i("T_0") : 0),
        t_mult_(p.has("T_mult") ? p.i("T_mult") : 1),
        eta_min_(p.f("eta_min")) {
    if (t_max_ > 0 && t_0_ > 0)
      throw Error(
          "parameters 'T_max' and 'T_0' exclude each other: T_max anneals once (cosine "
          "annealing), T_0 restarts every T_0 * T_mult^i (warm restarts)");
    if (p.has("T_mult") && t_0_ == 0)
      throw Error(
          "parameter 'T_mult' needs 'T_0' (the length of the first cycle of warm restarts)");
  }

 private:
  double lr_at(Position pos, double base) const override {
    // eta_min is the reference group's; other groups get it scaled like their lr (see schedule.h)
    if (t_0_ == 0) {
      const double t_max = double(t_max_ > 0 ? t_max_ : pos.total);
      return eta_min_ + (base - eta_min_) * (1 + std::cos(kPi * double(pos.t) / t_max)) / 2;
    }
    int64_t t_cur = pos.t, t_i = t_0_;
    if (t_mult_ == 1) {
      t_cur %= t_0_;
    } else {
      while (t_cur >= t_i) {
        t_cur -= t_i;
        t_i *= t_mult_;
      }
    }
    return eta_min_ + (base - eta_min_) * (1 + std::cos(kPi * double(t_cur) / double(t_i))) / 2;
  }

  int64_t t_max_, t_0_, t_mult_;
  double eta_min_;
};

}  // namespace

void register_cosine_schedule() {
  Schema s;
  s.integer("T_max",
            "epochs (or steps) from the initial lr down to eta_min; default: the whole fit")
      .min(1);
  s.number("eta_min", "the lowest lr (of the first group; the others keep their ratio)")
      .def(0.0)
      .min(0);
  s.integer("T_0", "warm restarts: length of the first cycle in epochs (or steps)").min(1);
  s.integer("T_mult", "warm restarts: each cycle is T_mult times longer than the last (default 1)")
      .min(1);
  sched::add_interval(s, "epoch");
  register_callback(
      "cosine",
      "lr schedule: cosine annealing to eta_min over T_max (torch CosineAnnealingLR), or with "
      "warm restarts every T_0 * T_mult^i (torch CosineAnnealingWarmRestarts)",
      std::move(s), [](const Params& p) { return std::make_shared<Cosine>(p); });
}

}  // namespace gom::callbacks
