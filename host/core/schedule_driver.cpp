// An lr schedule moved by hand (gom_core/schedule_driver.h). Inside fit a schedule moves at
// before_epoch (interval "epoch": t = epoch of epochs) or at a training batch's before_batch
// (interval "step": t = epoch * batches + batch of epochs * batches). The driver fires both for
// position t, each with a state where t and the total mean the schedule's own units: a schedule
// answers the one of its interval and ignores the other.
#include "gom_core/schedule_driver.h"

#include <fmt/format.h>

#include "gom/error.h"

namespace gom {

ScheduleDriver::ScheduleDriver(std::shared_ptr<Callback> schedule,
                               std::shared_ptr<Optimizer> optimizer, int64_t total_steps)
    : schedule_(std::move(schedule)), optimizer_(std::move(optimizer)), total_(total_steps) {
  if (!schedule_ || !optimizer_) throw Error("a schedule needs a callback and an optimizer");
  if (total_ < 1) throw Error(fmt::format("a schedule's total_steps must be >= 1, got {}", total_));
  s_.optimizer = optimizer_.get();
  fire(Event::BeforeFit);
  enter();
}

ScheduleDriver::~ScheduleDriver() {
  try {
    fire(Event::AfterFit);
  } catch (...) {  // a destructor does not throw; the bookkeeping then stays
  }
}

void ScheduleDriver::fire(Event e) {
  try {
    schedule_->on(e, s_);
  } catch (const std::exception& ex) {
    throw Error(
        fmt::format("schedule '{}' failed in {}: {}", schedule_->type(), event_name(e), ex.what()));
  }
}

void ScheduleDriver::enter() {
  s_.training = true;
  s_.phase = MetricPhase::Train;
  s_.epoch = t_;  // interval "epoch"
  s_.epochs = total_;
  s_.batch = 0;
  s_.batches = 1;
  fire(Event::BeforeEpoch);
  s_.epoch = 0;  // interval "step": one epoch of total_ batches
  s_.epochs = 1;
  s_.batch = t_;
  s_.batches = total_;
  fire(Event::BeforeBatch);
  s_.phase = MetricPhase::None;
}

void ScheduleDriver::step() {
  ++t_;
  enter();
}

void ScheduleDriver::step(const std::string& key, double value) {
  s_.metrics.clear();
  s_.metrics[key] = value;
  s_.epoch = t_;
  s_.epochs = total_;
  fire(Event::AfterEpoch);
  s_.metrics.clear();
  step();
}

double ScheduleDriver::lr() const {
  return optimizer_->lr();
}

}  // namespace gom
