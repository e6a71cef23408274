// step, multistep, exponential: the lr decays by gamma at fixed points (torch's StepLR,
// MultiStepLR and ExponentialLR). At position t (epochs, or steps with interval = "step"):
//   step         initial_lr * gamma^floor(t / step_size)
//   multistep    initial_lr * gamma^(number of milestones <= t)   (a repeated milestone counts
//   twice) exponential  initial_lr * gamma^t
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "../callbacks.h"
#include "schedule.h"

namespace gom::callbacks {
namespace {

using sched::Position;

class StepDecay : public sched::Curve {
 public:
  explicit StepDecay(const Params& p)
      : Curve(p), step_size_(p.i("step_size")), gamma_(p.f("gamma")) {}

 private:
  double lr_at(Position pos, double base) const override {
    return base * std::pow(gamma_, double(pos.t / step_size_));
  }
  int64_t step_size_;
  double gamma_;
};

class MultiStepDecay : public sched::Curve {
 public:
  explicit MultiStepDecay(const Params& p) : Curve(p), gamma_(p.f("gamma")) {
    try {
      milestones_ = p.list_i("milestones");
    } catch (const Error&) {
      throw Error(fmt::format("parameter 'milestones' = {} must hold whole numbers of {}s",
                              p.get("milestones").str(), p.s("interval")));
    }
    if (milestones_.empty()) throw Error("parameter 'milestones' must not be empty");
    std::sort(milestones_.begin(), milestones_.end());
  }

 private:
  double lr_at(Position pos, double base) const override {
    const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), pos.t);
    return base * std::pow(gamma_, double(passed - milestones_.begin()));
  }
  std::vector<int64_t> milestones_;
  double gamma_;
};

class ExponentialDecay : public sched::Curve {
 public:
  explicit ExponentialDecay(const Params& p) : Curve(p), gamma_(p.f("gamma")) {}

 private:
  double lr_at(Position pos, double base) const override {
    return base * std::pow(gamma_, double(pos.t));
  }
  double gamma_;
};

}  // namespace

void register_decay_schedules() {
  {
    Schema s;
    s.integer("step_size", "epochs (or steps) between two decays").required().min(1);
    s.number("gamma", "factor applied to the lr at each decay").def(0.1).min(0);
    sched::add_interval(s, "epoch");
    register_callback("step",
                      "lr schedule: multiplies the lr by gamma every step_size epochs (torch "
                      "StepLR)",
                      std::move(s), [](const Params& p) { return std::make_shared<StepDecay>(p); });
  }
  {
    Schema s;
    s.list("milestones", "epochs (or steps) at which the lr is multiplied by gamma, e.g. [30, 80]")
        .required()
        .min(0);
    s.number("gamma", "factor applied to the lr at each milestone").def(0.1).min(0);
    sched::add_interval(s, "epoch");
    register_callback(
        "multistep",
        "lr schedule: multiplies the lr by gamma at each milestone epoch (torch MultiStepLR)",
        std::move(s), [](const Params& p) { return std::make_shared<MultiStepDecay>(p); });
  }
  {
    Schema s;
    s.number("gamma", "factor applied to the lr every epoch (or step)").required().min(0);
    sched::add_interval(s, "epoch");
    register_callback(
        "exponential", "lr schedule: multiplies the lr by gamma every epoch (torch ExponentialLR)",
        std::move(s), [](const Params& p) { return std::make_shared<ExponentialDecay>(p); });
  }
}

}  // namespace gom::callbacks
