// What the lr schedules share: intervals, the groups' initial lrs and ratios, curves, modifiers.
#include "schedule.h"

#include <fmt/format.h>

#include <cmath>

namespace gom::callbacks::sched {

void add_interval(Schema& s, const char* def) {
  s.choice("interval", {"epoch", "step"},
           "when the schedule moves: each epoch (its counts are epochs) or each training batch "
           "(its counts are optimizer steps; the fit's length is epochs x batches per epoch)")
      .def(def);
}

Interval interval_of(const Params& p) {
  return p.s("interval") == "step" ? Interval::Step : Interval::Epoch;
}

Optimizer& optimizer_of(const LoopState& s) {
  if (!s.optimizer) throw Error("the loop state has no optimizer to schedule");
  return *s.optimizer;
}

double scale_of(const ParamGroup& g) {
  auto it = g.options.find(kLrScale);
  return it == g.options.end() ? 1.0 : it->second;
}

std::vector<double> prepare_groups(Optimizer& opt) {
  auto& groups = opt.param_groups();
  if (groups.empty()) throw Error("the optimizer has no parameter groups");
  double ref = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    auto& o = groups[g].options;
    auto lr = o.find("lr");
    if (lr == o.end()) throw Error(fmt::format("parameter group {} has no 'lr' option", g));
    if (!o.count(kInitialLr)) {
      const double scale = scale_of(groups[g]);
      o[kInitialLr] = scale > 0 ? lr->second / scale : lr->second;
    }
    if (ref == 0) ref = o[kInitialLr];
  }
  std::vector<double> ratio(groups.size(), 1.0);
  if (ref != 0)
    for (size_t g = 0; g < groups.size(); ++g) {
      const double init = groups[g].options[kInitialLr];
      ratio[g] = init == ref ? 1.0 : init / ref;
    }
  return ratio;
}

bool position_at(Interval interval, Event e, const LoopState& s, Position& pos) {
  if (interval == Interval::Epoch && e == Event::BeforeEpoch) {
    pos = {s.epoch, s.epochs};
    return true;
  }
  if (interval == Interval::Step && e == Event::BeforeBatch && s.training) {
    pos = {s.epoch * s.batches + s.batch, s.epochs * s.batches};
    return true;
  }
  return false;
}

void Curve::on(Event e, LoopState& s) {
  if (e == Event::BeforeFit) {
    Optimizer& opt = optimizer_of(s);
    prepare(opt);
    begin(opt);
    return;
  }
  Position pos;
  if (!position_at(interval_, e, s, pos)) return;
  Optimizer& opt = optimizer_of(s);
  auto& groups = opt.param_groups();
  if (groups.size() != ratio_.size()) prepare(opt);  // a group was added
  const double lr = lr_at(pos, base_);
  for (size_t g = 0; g < groups.size(); ++g)
    groups[g].options["lr"] = lr * ratio_[g] * scale_of(groups[g]);
  after_write(opt, pos);
}

void Curve::prepare(Optimizer& opt) {
  ratio_ = prepare_groups(opt);
  base_ = 0;
  for (const auto& g : opt.param_groups()) {
    base_ = g.options.at(kInitialLr);
    if (base_ != 0) break;
  }
}

void Modifier::scale(Optimizer& opt, size_t g, double r) {
  auto& group = opt.param_groups().at(g);
  group.options["lr"] *= r;
  group.options[kLrScale] = scale_of(group) * r;
  if (g >= share_.size()) share_.resize(g + 1, 1.0);
  share_[g] *= r;
}

void Modifier::set(Optimizer& opt, size_t g, double lr) {
  auto& group = opt.param_groups().at(g);
  const double r = lr / group.options.at("lr");
  group.options["lr"] = lr;
  group.options[kLrScale] = scale_of(group) * r;
  if (g >= share_.size()) share_.resize(g + 1, 1.0);
  share_[g] *= r;
}

void Modifier::release(Optimizer& opt) {
  auto& groups = opt.param_groups();
  for (size_t g = 0; g < groups.size() && g < share_.size(); ++g) {
    auto it = groups[g].options.find(kLrScale);
    if (it == groups[g].options.end()) continue;
    if (share_[g] != 1.0) it->second /= share_[g];
    if (std::abs(it->second - 1.0) < 1e-12) groups[g].options.erase(it);
  }
  share_.clear();
}

}  // namespace gom::callbacks::sched
