// Plugin entry of gom_callbacks: metrics, early stopping, the progress display and lr schedules.
#include "gom/plugin.h"

#include "callbacks.h"

static void register_all(const gom::PluginContext&) {
  gom::callbacks::register_accuracy();
  gom::callbacks::register_early_stopping();
  gom::callbacks::register_progress();
  gom::callbacks::register_decay_schedules();
  gom::callbacks::register_cosine_schedule();
  gom::callbacks::register_one_cycle_schedule();
  gom::callbacks::register_cyclical_schedule();
  gom::callbacks::register_linear_warmup();
  gom::callbacks::register_reduce_on_plateau();
}
GOM_PLUGIN(register_all)
