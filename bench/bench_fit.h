// bench_fit.h — the training benchmarks' use of gom::fit: a sequential model from the layer
// registry, Adam on a cross-entropy loss, one timed gom::fit epoch and the median-epoch protocol
// of the Fashion-MNIST benchmarks. Needs host/core on the include path (gom_core/trainer.h is
// not part of the SDK).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_common.h"
#include "gom/gom.h"
#include "gom_core/trainer.h"

namespace bench {

// A `sequential` layer from the registry holding `layers` in order.
inline std::shared_ptr<gom::Module> sequential(
    std::initializer_list<std::shared_ptr<gom::Module>> layers) {
  auto seq = std::dynamic_pointer_cast<gom::Sequential>(gom::create_layer("sequential"));
  if (!seq) throw gom::Error("layer 'sequential' is not a gom::Sequential");
  for (const auto& layer : layers) seq->add(layer);
  return seq;
}

// gom::fit's arguments for classification: `model` moved to `device`, the cross_entropy loss
// layer and the adam optimizer plugin at learning rate `lr`; the caller sets the loader (on the
// same device) and callbacks.
inline gom::FitArgs adam_cross_entropy(std::shared_ptr<gom::Module> model, double lr,
                                       gom::Device device = gom::kCPU) {
  gom::FitArgs args;
  model->to(device);  // before the optimizer exists (nothing on the CPU: it is there already)
  args.model = std::move(model);
  args.loss = gom::create_layer("cross_entropy");
  args.optimizer = gom::create_optimizer("adam", args.model->parameters(), {{"lr", lr}});
  return args;
}

// One gom::fit call for epoch `e` alone (its own shuffle: first_epoch = e, epochs = e + 1):
// its seconds and final train_loss (0 when fit reports none). On a device that queues work
// (CUDA) the clock is read only once the device has done the epoch's work, and started once it
// has done the work queued before.
inline std::pair<double, double> fit_epoch(gom::FitArgs& args, int64_t e) {
  args.first_epoch = e;
  args.epochs = e + 1;
  const gom::Device device = args.model->device();
  gom::synchronize(device);
  const auto t0 = Clock::now();
  const gom::FitResult r = gom::fit(args);
  gom::synchronize(device);
  const double secs = since(t0);
  const auto loss = r.final_metrics.find("train_loss");
  return {secs, loss == r.final_metrics.end() ? 0.0 : loss->second};
}

// The median-epoch protocol of the Fashion-MNIST benchmarks: one untimed warm-up epoch, then
// whole epochs until `epochs` are timed or `seconds` of them have passed (at least one), each
// printed; then "<label> train: gom X samples/s (median of ...)", which scripts/bench parses
// ("<label> train (cuda): gom ..." on a CUDA device).
inline void train_median_epochs(gom::FitArgs& args, int64_t samples, std::string_view label,
                                int epochs,
                                double seconds = std::numeric_limits<double>::infinity()) {
  const auto [warm_secs, warm_loss] = fit_epoch(args, 0);
  fmt::print("warm-up epoch: {:.2f} s, train_loss {:.4f}\n", warm_secs, warm_loss);
  const double n = double(samples);
  std::vector<double> times;
  double total = 0;
  for (int e = 1; e <= epochs && (times.empty() || total < seconds); ++e) {
    const auto [secs, loss] = fit_epoch(args, e);
    times.push_back(secs);
    total += secs;
    fmt::print("epoch {}: {:.3f} s, {:.0f} samples/s, train_loss {:.4f}\n", e, secs, n / secs,
               loss);
  }
  const auto [lo, hi] = std::minmax_element(times.begin(), times.end());
  fmt::print(
      "{} train{}: gom {:.0f} samples/s (median of {} epochs of {} samples, {:.0f}..{:.0f})\n",
      label, device_tag(args.model->device()), n / median(times), times.size(), samples, n / *hi,
      n / *lo);
}

}  // namespace bench
