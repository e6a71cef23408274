// gom_core/schedule_driver.h — an lr schedule callback moved by hand, outside gom::fit (Lua's
// gom.schedule): the same plugin, fed the events fit would feed it, so its lrs are fit's.
// Host-level API, not part of the SDK.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gom/callback.h"
#include "gom/optimizer.h"

namespace gom {

/// @brief Drives a schedule over `total_steps` positions (the fit's length in the schedule's
/// units: what epochs, or epochs x batches, are inside fit). Made at position 0 with the lrs of
/// position 0 written, as torch's schedulers are; each step() moves one position on, so after k
/// steps the lrs are those fit uses in its epoch k (interval "epoch") or training batch k
/// (interval "step"), whichever interval the schedule has.
class ScheduleDriver {
 public:
  /// @brief Fires before_fit and position 0. gom::Error when total_steps < 1.
  ScheduleDriver(std::shared_ptr<Callback> schedule, std::shared_ptr<Optimizer> optimizer,
                 int64_t total_steps);
  /// @brief Takes the schedule's share out of the lrs' bookkeeping (a modifier's after_fit).
  ~ScheduleDriver();
  ScheduleDriver(const ScheduleDriver&) = delete;
  ScheduleDriver& operator=(const ScheduleDriver&) = delete;

  /// @brief Moves to the next position (before_epoch and before_batch of that position).
  void step();
  /// @brief reduce_on_plateau's step: the end of an epoch whose metric `key` was `value`
  /// (after_epoch), then the next position.
  void step(const std::string& key, double value);
  /// @brief Group 0's lr now.
  double lr() const;
  /// @brief Steps taken.
  int64_t position() const { return t_; }
  int64_t total_steps() const { return total_; }

 private:
  void fire(Event e);
  void enter();  // the events that put the schedule at position t_

  std::shared_ptr<Callback> schedule_;
  std::shared_ptr<Optimizer> optimizer_;
  int64_t total_, t_ = 0;
  LoopState s_;
};

}  // namespace gom
