// Plugin entry of gom_callbacks: metrics, early stopping, the progress display, lr schedules and
// the training toolkit (gradient clipping and accumulation, terminate_on_nan, activation
// statistics, the CSV log).
#include "gom/plugin.h"

#include "callbacks.h"

static void register_all(const gom::PluginContext&) {
  gom::callbacks::register_accuracy();
  gom::callbacks::register_early_stopping();
  gom::callbacks::register_progress();
  gom::callbacks::register_top_k_accuracy();
  gom::callbacks::register_classification_metrics();
  gom::callbacks::register_regression_metrics();
  gom::callbacks::register_perplexity();
  gom::callbacks::register_gradient_clipping();
  gom::callbacks::register_gradient_accumulation();
  gom::callbacks::register_terminate_on_nan();
  gom::callbacks::register_activation_stats();
  gom::callbacks::register_csv_logger();
  gom::callbacks::register_lr_finder();
  gom::callbacks::register_checkpoint();
  gom::callbacks::register_decay_schedules();
  gom::callbacks::register_cosine_schedule();
  gom::callbacks::register_one_cycle_schedule();
  gom::callbacks::register_cyclical_schedule();
  gom::callbacks::register_linear_warmup();
  gom::callbacks::register_reduce_on_plateau();
}
GOM_PLUGIN(register_all)
