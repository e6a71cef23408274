// linear_warmup: multiplies the lr by a factor that rises linearly from start_factor to 1 over the
// first `warmup` steps (or epochs), then stays 1 (torch's LinearLR with end_factor 1):
//   factor(t) = start_factor + (1 - start_factor) * min(t, warmup) / warmup
// It is a modifier (see schedule.h): it multiplies whatever lr the optimizer has, the constant lr
// of a plain fit or the lr a curve sets, so it composes with any schedule in the callbacks list,
// in either order: {gom.callback("linear_warmup", {warmup = 500}), gom.callback("cosine")}.
#include <fmt/format.h>

#include <algorithm>

#include "../callbacks.h"
#include "schedule.h"

namespace gom::callbacks {
namespace {

class LinearWarmup : public Callback {
 public:
  explicit LinearWarmup(const Params& p)
      : interval_(sched::interval_of(p)), warmup_(p.i("warmup")), start_(p.f("start_factor")) {
    if (!(start_ > 0 && start_ <= 1))
      throw Error(fmt::format(
          "parameter 'start_factor' = {} must be in (0, 1]: the lr starts at start_factor "
          "times its value (a tiny factor such as 1e-3 starts from almost 0)",
          start_));
  }

  int order() const override { return -20; }

  void on(Event e, LoopState& s) override {
    if (e == Event::BeforeFit) {
      Optimizer& opt = sched::optimizer_of(s);
      sched::prepare_groups(opt);
      mod_.reset(opt);
      applied_ = 1.0;
      return;
    }
    if (e == Event::AfterFit) {
      if (s.optimizer) mod_.release(*s.optimizer);
      return;
    }
    sched::Position pos;
    if (!sched::position_at(interval_, e, s, pos)) return;
    const double f = start_ + (1.0 - start_) * double(std::min(pos.t, warmup_)) / double(warmup_);
    if (f == applied_) return;
    Optimizer& opt = sched::optimizer_of(s);
    const double r = f / applied_;
    for (size_t g = 0; g < opt.param_groups().size(); ++g) mod_.scale(opt, g, r);
    applied_ = f;
  }

 private:
  sched::Interval interval_;
  int64_t warmup_;
  double start_;
  double applied_ = 1.0;  // the factor now in the lrs
  sched::Modifier mod_;
};

}  // namespace

void register_linear_warmup() {
  Schema s;
  s.integer("warmup", "steps (or epochs) over which the factor rises to 1").required().min(1);
  s.number("start_factor", "the factor at the first step, in (0, 1]").def(1.0 / 3).range(0, 1);
  sched::add_interval(s, "step");
  register_callback(
      "linear_warmup",
      "lr schedule: multiplies the lr (of a plain fit or of another schedule) by a factor rising "
      "linearly from start_factor to 1 over the first `warmup` steps (torch LinearLR)",
      std::move(s), [](const Params& p) { return std::make_shared<LinearWarmup>(p); });
}

}  // namespace gom::callbacks
