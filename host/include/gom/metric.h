// gom/metric.h — what a metric's value means: whether lower or higher is better, and which phase
// of a fit it measures. Whoever reports a metric declares it (LoopState::metric_info); a key
// nobody declared gets metric_info_by_name's, the one rule the run record, `gom show` and the
// callbacks (early stopping, reduce_on_plateau, checkpoint) all use.
#pragma once

#include <string>

namespace gom {

/// @brief Whether a lower (Minimize) or a higher (Maximize) value is better; None where neither
/// is (lr, a count).
enum class MetricDirection { None, Minimize, Maximize };
/// @brief The data a metric is measured on: the training phase, validation, the test set; None
/// where it is no phase's (lr, epoch_seconds).
enum class MetricPhase { None, Train, Valid, Test };

/// @brief A metric's direction and phase.
struct MetricInfo {
  MetricDirection direction = MetricDirection::None;
  MetricPhase phase = MetricPhase::None;
  friend bool operator==(const MetricInfo&, const MetricInfo&) = default;
};

/// @brief "minimize", "maximize"; "" for None (the run database stores NULL).
const char* metric_direction_name(MetricDirection d);
/// @brief "train", "valid", "test"; "" for None.
const char* metric_phase_name(MetricPhase p);
/// @brief "minimize" or "min", "maximize" or "max" (any case); "" and "none" are None. Anything
/// else is a gom::Error listing what is accepted.
MetricDirection parse_metric_direction(const std::string& s);
/// @brief "train", "valid" (or "validation", "val"), "test"; "" and "none" are None. Anything else
/// is a gom::Error listing what is accepted.
MetricPhase parse_metric_phase(const std::string& s);

/// @brief The rule for a key nobody declared. The key is read as words (split at '_', '/', '.',
/// '-' and spaces, any case).
/// - phase: a first word train, valid, val or test followed by more words ("valid_loss": Valid);
///   else None.
/// - direction, from the other words: "per sec"/"per second" or throughput is a rate, Maximize
///   ("samples_per_sec"); else a word loss, nll, perplexity, ppl, rmse, mse, mae, error, err,
///   seconds, second, sec or time is Minimize ("epoch_seconds", "acc_loss"); else a word
///   accuracy, acc, f1, precision, recall, auc, r2 is Maximize ("top5_accuracy", "f1_micro");
///   else None ("lr").
MetricInfo metric_info_by_name(const std::string& key);

}  // namespace gom
