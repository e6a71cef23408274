// early_stopping: ends the fit when a monitored metric has stopped improving, and puts back the
// weights of its best epoch (Keras' EarlyStopping / fastai's EarlyStoppingCallback).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include "callbacks.h"
#include "gom/autograd.h"
#include "gom/callback.h"
#include "gom/layer.h"
#include "gom/ops.h"

namespace gom::callbacks {
namespace {

using Named = std::vector<std::pair<std::string, Tensor>>;

class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(const Params& p)
      : monitor_(p.s("monitor")),
        patience_(p.i("patience")),
        min_delta_(p.f("min_delta")),
        restore_(p.b("restore_best")),
        mode_(p.s("mode")) {}

  // After the metrics (0) have reported at after_validate/after_epoch.
  int order() const override { return 100; }

  void on(Event e, LoopState& s) override {
    if (e == Event::BeforeFit) reset();  // a callback object may serve several fits
    if (e == Event::AfterEpoch) after_epoch(s);
    // The test phase runs on the best weights.
    if (e == Event::BeforeTest && restore_ && s.model) restore(s);
    if (e == Event::AfterFit) after_fit(s);
  }

 private:
  void reset() {
    best_ = last_ = 0;
    best_epoch_ = last_epoch_ = stopped_epoch_ = -1;
    epochs_ = wait_ = 0;
    snap_.clear();
    max_.reset();  // a fit may declare the metric otherwise
  }

  void after_epoch(LoopState& s) {
    const double v = monitored_metric(s, monitor_);
    if (!max_) max_ = maximize_metric("early_stopping", mode_, monitor_, s);
    last_ = v;
    last_epoch_ = s.epoch;
    // NaN never improves: a diverged run counts towards patience.
    const bool better =
        !std::isnan(v) &&
        (best_epoch_ < 0 || (*max_ ? v > best_ + min_delta_ : v < best_ - min_delta_));
    if (better) {
      best_ = v;
      best_epoch_ = s.epoch;
      wait_ = 0;
      if (restore_ && s.model) snapshot(*s.model);
      return;
    }
    if (++wait_ >= patience_ && stopped_epoch_ < 0) {
      s.stop = true;
      stopped_epoch_ = s.epoch;
      epochs_ = s.epochs;
      // Restored now, so that a checkpoint written later in this after_epoch has the best weights.
      if (restore_ && s.model) restore(s);
    }
  }

  // The line saying why the fit stopped is printed here, not at after_epoch, so that it follows
  // the progress display's line for that epoch (progress runs after early stopping).
  void after_fit(LoopState& s) {
    // Restored again at the very end: the fit may also have been ended by someone else, or
    // in the middle of an epoch after the last improvement.
    const bool restored = restore_ && s.model && !snap_.empty() && restore(s);
    const std::string what =
        restored ? fmt::format("; restored the weights of epoch {}", best_epoch_ + 1) : "";
    if (world_rank() != 0) return;  // one message for a data-parallel job
    if (stopped_epoch_ >= 0) {
      const std::string best = best_epoch_ >= 0
                                   ? fmt::format("best {:.6g} at epoch {}", best_, best_epoch_ + 1)
                                   : "no epoch had a value (all NaN)";
      std::fprintf(
          stderr, "%s\n",
          fmt::format("early_stopping: stopped after epoch {}{}: {} has not improved by "
                      "more than {} for {} epoch{} (last {:.6g}); {}{}",
                      stopped_epoch_ + 1, epochs_ > 0 ? fmt::format("/{}", epochs_) : "", monitor_,
                      min_delta_, wait_, wait_ == 1 ? "" : "s", last_, best, what)
              .c_str());
    } else if (restored && best_epoch_ != last_epoch_) {
      std::fprintf(stderr, "%s\n",
                   fmt::format("early_stopping: best {} {:.6g} at epoch {} (last epoch {}: "
                               "{:.6g}){}",
                               monitor_, best_, best_epoch_ + 1, last_epoch_ + 1, last_, what)
                       .c_str());
    }
    std::fflush(stderr);
  }

  // A copy on the host: it does not take accelerator memory, and copy_ moves it back.
  void snapshot(const Module& m) {
    NoGrad ng;
    Named now = m.state_dict();  // buffers too: running statistics belong to the best epoch
    const bool reuse = same_layout(now);
    if (!reuse) snap_.clear();
    for (size_t i = 0; i < now.size(); ++i) {
      if (!reuse)
        snap_.emplace_back(now[i].first,
                           Tensor::empty(now[i].second.shape(), {now[i].second.dtype(), kCPU}));
      copy_(snap_[i].second, now[i].second);
    }
  }

  // In place, so the optimizer's references (and its state keyed on them) stay valid. The fit's
  // result then reports the best epoch's metrics (state.weights_epoch).
  bool restore(LoopState& s) {
    if (snap_.empty()) return false;
    NoGrad ng;
    Named now = s.model->state_dict();  // buffers too: running statistics belong to the best epoch
    if (!same_layout(now))
      throw Error(
          fmt::format("cannot restore the weights of epoch {}: the model's "
                      "parameters and buffers changed since (now {} tensors, then {})",
                      best_epoch_ + 1, now.size(), snap_.size()));
    for (size_t i = 0; i < now.size(); ++i) copy_(now[i].second, snap_[i].second);
    s.weights_epoch = best_epoch_;
    return true;
  }

  bool same_layout(const Named& now) const {
    if (now.size() != snap_.size()) return false;
    for (size_t i = 0; i < now.size(); ++i)
      if (now[i].first != snap_[i].first || now[i].second.shape() != snap_[i].second.shape())
        return false;
    return true;
  }

  // configuration
  std::string monitor_;
  int64_t patience_;
  double min_delta_;
  bool restore_;
  std::string mode_;
  std::optional<bool> max_;  ///< resolved at the first after_epoch (mode auto reads the state)
  // search state (reset at before_fit)
  double best_ = 0, last_ = 0;
  int64_t best_epoch_ = -1, last_epoch_ = -1, stopped_epoch_ = -1, epochs_ = 0, wait_ = 0;
  Named snap_;
};

}  // namespace

const char* const kModeDoc =
    "whether lower (min) or higher (max) is better; auto: the direction the metric declares "
    "(the trainer's losses and the metric callbacks declare theirs), else the one its name "
    "says (loss, error, perplexity, seconds: min; accuracy, f1, precision, recall, auc: max); "
    "an error for a metric with neither";

bool maximize_metric(const std::string& callback, const std::string& mode,
                     const std::string& monitor, const LoopState& s) {
  if (mode != "auto") return mode == "max";
  const auto declared = s.metric_info.find(monitor);
  const MetricDirection d = declared != s.metric_info.end() ? declared->second.direction
                                                            : metric_info_by_name(monitor).direction;
  if (d == MetricDirection::None)
    throw Error(fmt::format(
        "{}: the monitored metric '{}' has no direction (lower or higher better): it declares "
        "none and its name says none; give mode = \"min\" or mode = \"max\"",
        callback, monitor));
  return d == MetricDirection::Maximize;
}

double monitored_metric(const LoopState& s, const std::string& monitor) {
  auto it = s.metrics.find(monitor);
  if (it != s.metrics.end()) return it->second;
  std::vector<std::string> present;
  for (const auto& [k, v] : s.metrics) present.push_back(k);
  auto near = closest(monitor, present);
  throw Error(fmt::format(
      "the monitored metric '{}' (parameter 'monitor') is not among the metrics of epoch "
      "{}{}; present: {}. Add the callback that reports it, or monitor another metric",
      monitor, s.epoch + 1, near ? " (did you mean '" + *near + "'?)" : "",
      present.empty() ? "none" : fmt::format("{}", fmt::join(present, ", "))));
}

void register_early_stopping() {
  Schema s;
  s.string("monitor", "metric to watch, a key of the epoch's metrics (valid_loss, accuracy, ...)")
      .def("valid_loss");
  s.integer("patience", "epochs without improvement to wait before stopping").def(3).min(0);
  s.number("min_delta", "smallest change over the best value that counts as an improvement")
      .def(0.0)
      .min(0);
  s.choice("mode", {"auto", "min", "max"}, kModeDoc).def("auto");
  s.boolean("restore_best",
            "put back the parameters and buffers of the best epoch when the fit stops or ends")
      .def(true);
  register_callback(
      "early_stopping",
      "stops the fit when a metric has not improved for `patience` epochs, restoring the best "
      "weights",
      std::move(s), [](const Params& p) { return std::make_shared<EarlyStopping>(p); });
}

}  // namespace gom::callbacks
