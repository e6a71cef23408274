// The callbacks of gom_callbacks: one registration function per component, called from the
// library's entry in plugin.cpp (nothing registers itself from a static initialiser).
#pragma once

#include <string>

#include "gom/callback.h"
#include "gom/distributed.h"  // in a data-parallel job only rank 0 prints and writes files

namespace gom::callbacks {

void register_accuracy();
void register_early_stopping();
void register_progress();
// metrics (metric.h): top_k_accuracy; precision, recall, f1, confusion_matrix; rmse, mae;
// perplexity
void register_top_k_accuracy();
void register_classification_metrics();
void register_regression_metrics();
void register_perplexity();
// the training toolkit
void register_gradient_clipping();
void register_gradient_accumulation();
void register_terminate_on_nan();
void register_activation_stats();
void register_csv_logger();
void register_lr_finder();
void register_checkpoint();
// lr schedules (schedules/)
void register_decay_schedules();  // step, multistep, exponential
void register_cosine_schedule();
void register_one_cycle_schedule();
void register_cyclical_schedule();
void register_linear_warmup();
void register_reduce_on_plateau();

// Shared by the callbacks that monitor a metric (early_stopping, reduce_on_plateau, checkpoint).
/// @brief Whether a higher value of `monitor` is better: mode "min"/"max" says; "auto" takes the
/// direction the metric declared (state.metric_info), else metric_info_by_name's. A metric with
/// no direction under "auto" is a gom::Error naming `callback` and the metric, asking for a mode.
bool maximize_metric(const std::string& callback, const std::string& mode,
                     const std::string& monitor, const LoopState& s);
/// @brief The doc of the `mode` parameter of those callbacks.
extern const char* const kModeDoc;
/// @brief state.metrics[monitor]; an error naming the metrics present when it is missing.
double monitored_metric(const LoopState& s, const std::string& monitor);

}  // namespace gom::callbacks
