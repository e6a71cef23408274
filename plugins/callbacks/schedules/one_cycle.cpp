// one_cycle: the 1cycle policy (Smith; fastai's fit_one_cycle), with torch's OneCycleLR semantics
// and defaults. Over the fit's total steps T (epochs x batches, or epochs with interval "epoch"):
//   warm-up   steps 0 .. pct_start*T - 1:   lr max_lr/div_factor -> max_lr,  momentum max -> base
//   annealing up to step T - 1:             lr max_lr -> max_lr/div_factor/final_div_factor,
//                                           momentum base -> max
// (three_phase: up, back down to max_lr/div_factor over as many steps, then to the minimum), each
// phase annealed by half a cosine (or linearly). The momentum is the group's "momentum" option
// (sgd) or "beta1" (adam's betas[0]). max_lr is the first group's; the others keep their ratio.
#include <fmt/format.h>

#include <cmath>
#include <string>
#include <utility>

#include "../callbacks.h"
#include "schedule.h"

namespace gom::callbacks {
namespace {

using sched::Position;

constexpr double kPi = 3.141592653589793;

struct Phase {
  double end_step;   // the phase's last step (torch's end_step, a double)
  int start, end;    // lrs: 0 the initial lr, 1 max_lr, 2 the minimum lr
  bool up_momentum;  // the momentum rises from base to max (else falls from max to base)
};

class OneCycle : public sched::Curve {
 public:
  explicit OneCycle(const Params& p)
      : Curve(p),
        max_lr_(p.f("max_lr")),
        pct_start_(p.f("pct_start")),
        div_(p.f("div_factor")),
        final_div_(p.f("final_div_factor")),
        cos_(p.s("anneal_strategy") == "cos"),
        three_phase_(p.b("three_phase")),
        cycle_momentum_(p.b("cycle_momentum")),
        base_m_(p.f("base_momentum")),
        max_m_(p.f("max_momentum")) {
    if (!(div_ > 0) || !(final_div_ > 0))
      throw Error(
          fmt::format("parameters 'div_factor' ({}) and 'final_div_factor' ({}) must be > 0", div_,
                      final_div_));
  }

 private:
  void begin(Optimizer& opt) override {
    key_.clear();
    if (!cycle_momentum_) return;
    const auto& o = opt.param_groups()[0].options;
    key_ = o.count("momentum") ? "momentum" : o.count("beta1") ? "beta1" : "";
    if (key_.empty())
      throw Error(fmt::format(
          "optimizer '{}' has no momentum to cycle (no 'momentum' or 'beta1' option); set "
          "cycle_momentum = false",
          opt.type()));
  }

  double anneal(double start, double end, double pct) const {
    if (!cos_) return (end - start) * pct + start;
    return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1);
  }

  // (lr, momentum) at pos, computed as torch's get_lr does.
  std::pair<double, double> at(Position pos) const {
    const double total = double(pos.total), step = double(pos.t);
    const double initial = max_lr_ / div_, lrs[3] = {initial, max_lr_, initial / final_div_};
    const double up = pct_start_ * total;
    Phase phases[3] = {{up - 1, 0, 1, false}, {total - 1, 1, 2, true}, {}};
    int n = 2;
    if (three_phase_) {
      phases[1] = {2 * up - 2, 1, 0, true};
      phases[2] = {total - 1, 0, 2, true};
      n = 3;
    }
    double start_step = 0;
    for (int i = 0; i < n; ++i) {
      const Phase& ph = phases[i];
      if (step <= ph.end_step || i == n - 1) {
        // a phase of no length (T too short for pct_start) ends at once
        const double len = ph.end_step - start_step,
                     pct = len == 0 ? 1.0 : (step - start_step) / len;
        const double m0 = ph.up_momentum ? base_m_ : max_m_, m1 = ph.up_momentum ? max_m_ : base_m_;
        // three_phase's last phase holds the momentum at max
        const bool hold = three_phase_ && i == 2;
        return {anneal(lrs[ph.start], lrs[ph.end], pct), hold ? max_m_ : anneal(m0, m1, pct)};
      }
      start_step = ph.end_step;
    }
    return {lrs[2], max_m_};
  }

  double lr_at(Position pos, double) const override { return at(pos).first; }

  void after_write(Optimizer& opt, Position pos) override {
    if (key_.empty()) return;
    const double m = at(pos).second;
    for (auto& g : opt.param_groups())
      if (g.options.count(key_)) g.options[key_] = m;
  }

  double max_lr_, pct_start_, div_, final_div_;
  bool cos_, three_phase_, cycle_momentum_;
  double base_m_, max_m_;
  std::string key_;  // "momentum", "beta1" or "" (not cycled)
};

}  // namespace

void register_one_cycle_schedule() {
  Schema s;
  s.number("max_lr", "the peak lr (of the first group; the others keep their ratio)")
      .required()
      .min(0);
  s.number("pct_start", "fraction of the steps spent raising the lr").def(0.3).range(0, 1);
  s.choice("anneal_strategy", {"cos", "linear"}, "how each phase goes from its start to its end")
      .def("cos");
  s.number("div_factor", "the lr starts at max_lr / div_factor").def(25.0).min(0);
  s.number("final_div_factor", "the lr ends at max_lr / div_factor / final_div_factor")
      .def(1e4)
      .min(0);
  s.boolean("three_phase", "come back down to the start lr before annealing to the minimum")
      .def(false);
  s.boolean("cycle_momentum",
            "cycle the momentum (sgd's momentum, adam's beta1) inversely to the lr")
      .def(true);
  s.number("base_momentum", "the momentum at the peak lr").def(0.85).range(0, 1);
  s.number("max_momentum", "the momentum at the start and the end").def(0.95).range(0, 1);
  sched::add_interval(s, "step");
  register_callback("one_cycle",
                    "lr schedule: the 1cycle policy, lr up to max_lr and down far below while the "
                    "momentum cycles the other way (torch OneCycleLR, fastai fit_one_cycle)",
                    std::move(s), [](const Params& p) { return std::make_shared<OneCycle>(p); });
}

}  // namespace gom::callbacks
