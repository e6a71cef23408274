// Learning-rate schedules as callbacks: what they share.
//
// Every schedule works on the optimizer's param groups, relative to each group's initial lr:
// options["initial_lr"], set (like torch's) from the group's lr at the first before_fit of any
// schedule on that optimizer and kept afterwards. A group's lr is always its initial lr times the
// schedule's curve, so discriminative lrs keep their ratios. Lrs that a schedule takes as
// parameters (one_cycle's max_lr, cyclical's base_lr/max_lr, cosine's eta_min,
// reduce_on_plateau's min_lr) are those of the reference group (group 0, or the first group whose
// initial lr is not 0); every other group gets them scaled by its initial lr over the reference's.
//
// Two roles compose:
//  - a curve (step, multistep, exponential, cosine, one_cycle, cyclical) writes
//      lr = curve(t) * (initial_lr / reference initial_lr) * lr_scale
//    at the start of each epoch or training batch; at most one curve per optimizer makes sense.
//  - a modifier (linear_warmup, reduce_on_plateau) multiplies: when its factor changes by r it
//    multiplies each group's lr and options["lr_scale"] by r, so the curve's next write keeps it.
// The result does not depend on the order of the callbacks. At after_fit a modifier takes its
// factor back out of lr_scale (the lr itself stays where the fit left it). From Lua:
//   callbacks = {gom.callback("linear_warmup", {warmup = 200}),
//                gom.callback("cosine", {interval = "step"})}
//
// Intervals. interval = "epoch" moves at before_epoch: t is the epoch (0-based), the fit is
// `epochs` long (torch schedulers stepped once per epoch). interval = "step" moves at each
// training batch's before_batch: t = epoch * batches + batch, the fit is epochs * batches long
// (LoopState::batches of the training phase); a skipped batch counts, and a resumed fit (first
// epoch > 0) continues the curve. Defaults: "epoch" for step, multistep, exponential and cosine;
// "step" for one_cycle, cyclical and linear_warmup. reduce_on_plateau acts at after_epoch. The
// trainer logs group 0's lr at after_epoch, before the schedules move: the lr of that epoch (of
// its last batch for "step").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gom/callback.h"
#include "gom/optimizer.h"
#include "gom/params.h"

namespace gom::callbacks::sched {

inline constexpr const char* kInitialLr = "initial_lr";
inline constexpr const char* kLrScale = "lr_scale";

enum class Interval { Epoch, Step };

/// @brief Adds the `interval` parameter ("epoch" or "step") with the given default.
void add_interval(Schema& s, const char* def);
Interval interval_of(const Params& p);

/// @brief The fit's optimizer; an error when the loop state has none.
Optimizer& optimizer_of(const LoopState& s);

/// @brief Sets options["initial_lr"] where a group lacks it, and returns each group's initial lr
/// over the reference group's (1 for the reference; 1 for all when every initial lr is 0).
std::vector<double> prepare_groups(Optimizer& opt);

/// @brief options["lr_scale"], 1 when absent.
double scale_of(const ParamGroup& g);

/// @brief Where a schedule is in the fit: t counts epochs (interval "epoch", at before_epoch) or
/// training batches from the start of the fit (interval "step", at before_batch: epoch *
/// batches + batch; a skipped batch counts too); total is the fit's length in those units.
struct Position {
  int64_t t = 0, total = 0;
};
/// @brief The position for this event, if the schedule moves at it.
bool position_at(Interval interval, Event e, const LoopState& s, Position& pos);

/// @brief A curve: the lr of the reference group at each position, written to every group.
class Curve : public Callback {
 public:
  explicit Curve(const Params& p) : interval_(interval_of(p)) {}
  /// @brief Before the metrics and the user's callbacks, which may want to read the lr.
  int order() const override { return -20; }
  void on(Event e, LoopState& s) override;

 protected:
  /// @brief The reference group's lr at `pos`; `base` is its initial lr.
  virtual double lr_at(Position pos, double base) const = 0;
  /// @brief Checks the optimizer at before_fit (after the groups are prepared).
  virtual void begin(Optimizer&) {}
  /// @brief Called after the lrs are written (one_cycle cycles the momentum here).
  virtual void after_write(Optimizer&, Position) {}

  Interval interval_;

 private:
  void prepare(Optimizer& opt);  // ratio_ and base_ (the reference group's initial lr)
  std::vector<double> ratio_;
  double base_ = 0;
};

/// @brief A modifier's bookkeeping: multiplies lrs and lr_scale, and takes its share back out.
class Modifier {
 public:
  void reset(const Optimizer& opt) { share_.assign(opt.param_groups().size(), 1.0); }
  /// @brief Multiplies group g's lr and lr_scale by r (r > 0).
  void scale(Optimizer& opt, size_t g, double r);
  /// @brief Sets group g's lr to `lr` (> 0, from a positive lr), scaling lr_scale alike.
  void set(Optimizer& opt, size_t g, double lr);
  /// @brief Divides lr_scale by what this modifier multiplied into it (at after_fit).
  void release(Optimizer& opt);

 private:
  std::vector<double> share_;
};

}  // namespace gom::callbacks::sched
