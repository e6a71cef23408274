// reduce_on_plateau: multiplies the lr by `factor` when a monitored metric has not improved for
// `patience` epochs (Keras' ReduceLROnPlateau, with its defaults; torch's counts one epoch more).
// At after_epoch, once the metrics of the epoch are in:
//   - the value improves when it beats the best so far by more than min_delta (NaN never does);
//   - otherwise it is a bad epoch, except during the `cooldown` epochs after a reduction;
//   - after `patience` bad epochs in a row every group's lr becomes max(lr * factor, min_lr),
//     and the count starts again.
// min_lr is the first group's; the others keep their ratio. It is a modifier (see schedule.h):
// with a curve in the same fit, the reductions multiply the curve.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "../callbacks.h"
#include "schedule.h"

namespace gom::callbacks {
namespace {

class ReduceOnPlateau : public Callback {
 public:
  explicit ReduceOnPlateau(const Params& p)
      : monitor_(p.s("monitor")),
        factor_(p.f("factor")),
        patience_(p.i("patience")),
        min_delta_(p.f("min_delta")),
        cooldown_(p.i("cooldown")),
        min_lr_(p.f("min_lr")),
        mode_(p.s("mode")) {
    if (!(factor_ > 0 && factor_ < 1))
      throw Error(
          fmt::format("parameter 'factor' = {} must be in (0, 1): it multiplies the lr", factor_));
  }

  // After the metrics and the user's callbacks have reported (before early stopping at 100).
  int order() const override { return 50; }

  void on(Event e, LoopState& s) override {
    if (e == Event::BeforeFit) {
      Optimizer& opt = sched::optimizer_of(s);
      ratio_ = sched::prepare_groups(opt);
      mod_.reset(opt);
      max_.reset();  // resolved at the first after_epoch: mode auto reads the declarations
      bad_ = cool_ = 0;
    } else if (e == Event::AfterEpoch) {
      after_epoch(s);
    } else if (e == Event::AfterFit && s.optimizer) {
      mod_.release(*s.optimizer);
    }
  }

 private:
  void after_epoch(LoopState& s) {
    const double v = monitored_metric(s, monitor_);
    if (!max_) {
      max_ = maximize_metric("reduce_on_plateau", mode_, monitor_, s);
      const double inf = std::numeric_limits<double>::infinity();
      best_ = *max_ ? -inf : inf;
    }
    const bool better =
        !std::isnan(v) && (*max_ ? v > best_ + min_delta_ : v < best_ - min_delta_);
    if (better) {
      best_ = v;
      bad_ = 0;
    } else {
      ++bad_;
    }
    if (cool_ > 0) {  // the epochs right after a reduction do not count
      --cool_;
      bad_ = 0;
    }
    if (bad_ == 0 || bad_ < patience_) return;
    Optimizer& opt = sched::optimizer_of(s);
    auto& groups = opt.param_groups();
    if (groups.size() != ratio_.size()) ratio_ = sched::prepare_groups(opt);
    for (size_t g = 0; g < groups.size(); ++g) {
      const double old = groups[g].options.at("lr");
      const double lr = std::max(old * factor_, min_lr_ * ratio_[g]);
      if (lr < old) mod_.set(opt, g, lr);
    }
    cool_ = cooldown_;
    bad_ = 0;
  }

  std::string monitor_;
  double factor_;
  int64_t patience_;
  double min_delta_;
  int64_t cooldown_;
  double min_lr_;
  std::string mode_;
  // state (reset at before_fit)
  std::vector<double> ratio_;
  std::optional<bool> max_;
  double best_ = 0;
  int64_t bad_ = 0, cool_ = 0;
  sched::Modifier mod_;
};

}  // namespace

void register_reduce_on_plateau() {
  Schema s;
  s.string("monitor", "metric to watch, a key of the epoch's metrics (valid_loss, accuracy, ...)")
      .def("valid_loss");
  s.number("factor", "the lr is multiplied by factor at each reduction, in (0, 1)")
      .def(0.1)
      .range(0, 1);
  s.integer("patience", "epochs without improvement before the lr is reduced (0 acts as 1)")
      .def(10)
      .min(0);
  s.number("min_delta", "smallest change over the best value that counts as an improvement")
      .def(1e-4)
      .min(0);
  s.integer("cooldown", "epochs after a reduction that do not count as without improvement")
      .def(0)
      .min(0);
  s.number("min_lr",
           "the lr is never reduced below this (first group; the others keep their "
           "ratio)")
      .def(0.0)
      .min(0);
  s.choice("mode", {"auto", "min", "max"}, kModeDoc).def("auto");
  register_callback("reduce_on_plateau",
                    "lr schedule: multiplies the lr by factor when a metric has not improved for "
                    "`patience` epochs (Keras ReduceLROnPlateau)",
                    std::move(s),
                    [](const Params& p) { return std::make_shared<ReduceOnPlateau>(p); });
}

}  // namespace gom::callbacks
