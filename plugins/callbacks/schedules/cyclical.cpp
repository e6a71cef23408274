// cyclical: cyclical learning rates (Smith 2017), torch's CyclicLR without momentum cycling. The
// lr goes linearly from base_lr up to max_lr in step_size_up steps and back in step_size_down,
// the height of each cycle scaled by mode:
//   triangular   1 (every cycle the same)
//   triangular2  1 / 2^(cycle - 1)  (halved each cycle)
//   exp_range    gamma^t            (t: steps since the start of the fit)
// base_lr defaults to the optimizer's lr. Both are the first group's; the others keep their
// ratio (torch gives every group the same base_lr and max_lr).
#include <fmt/format.h>

#include <cmath>

#include "../callbacks.h"
#include "schedule.h"

namespace gom::callbacks {
namespace {

using sched::Position;

enum class Mode { Triangular, Triangular2, ExpRange };

class Cyclical : public sched::Curve {
 public:
  explicit Cyclical(const Params& p)
      : Curve(p),
        has_base_(p.has("base_lr")),
        base_lr_(has_base_ ? p.f("base_lr") : 0),
        max_lr_(p.f("max_lr")),
        up_(double(p.i("step_size_up"))),
        down_(p.has("step_size_down") ? double(p.i("step_size_down")) : up_),
        mode_(p.s("mode") == "triangular2" ? Mode::Triangular2
              : p.s("mode") == "exp_range" ? Mode::ExpRange
                                           : Mode::Triangular),
        gamma_(p.f("gamma")) {
    if (p.s("mode") != "exp_range" && gamma_ != 1.0)
      throw Error(
          fmt::format("parameter 'gamma' = {} only applies to mode \"exp_range\", not \"{}\"",
                      gamma_, p.s("mode")));
  }

 private:
  double lr_at(Position pos, double base) const override {
    const double t = double(pos.t), total = up_ + down_, ratio = up_ / total;
    const double cycle = std::floor(1 + t / total), x = 1. + t / total - cycle;
    const double scale = x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
    const double lo = has_base_ ? base_lr_ : base;
    const double height = (max_lr_ - lo) * scale;
    switch (mode_) {
      case Mode::Triangular:
        return lo + height * 1.;
      case Mode::Triangular2:
        return lo + height * (1 / std::pow(2., cycle - 1));
      case Mode::ExpRange:
        return lo + height * std::pow(gamma_, t);
    }
    return lo;
  }

  bool has_base_;
  double base_lr_, max_lr_, up_, down_;
  Mode mode_;
  double gamma_;
};

}  // namespace

void register_cyclical_schedule() {
  Schema s;
  s.number("base_lr", "the lowest lr of the cycle; default: the optimizer's lr").min(0);
  s.number("max_lr", "the highest lr of the cycle (before mode scales it)").required().min(0);
  s.integer("step_size_up", "steps (or epochs) from base_lr up to max_lr").def(2000).min(1);
  s.integer("step_size_down", "steps (or epochs) from max_lr back down; default: step_size_up")
      .min(1);
  s.choice("mode", {"triangular", "triangular2", "exp_range"},
           "triangular: every cycle alike; triangular2: the height halves each cycle; exp_range: "
           "the height is scaled by gamma^step")
      .def("triangular");
  s.number("gamma", "exp_range's factor per step").def(1.0).range(0, 1);
  sched::add_interval(s, "step");
  register_callback("cyclical",
                    "lr schedule: cyclical lr between base_lr and max_lr, triangular, "
                    "triangular2 or exp_range (torch CyclicLR)",
                    std::move(s), [](const Params& p) { return std::make_shared<Cyclical>(p); });
}

}  // namespace gom::callbacks
