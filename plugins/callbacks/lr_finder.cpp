// lr_finder: the learning-rate range test (Smith; fastai's lr_find) inside gom.fit. Training
// batch i runs at lr = start_lr * (end_lr / start_lr)^(i / (num_steps - 1)) on every group; the
// loss is smoothed as fastai does (an exponential moving average, bias-corrected). After
// num_steps recorded steps, or when the smoothed loss exceeds diverge x its best (or the loss is
// not finite), it stops the fit and puts the model (parameters and buffers) and the optimizer
// (state and every group's options) back bit for bit as they were at before_fit; a fit that ends
// sooner is restored at after_fit. The suggestion is fastai's "steep" rule: the lr at the start
// of the steepest descent of the smoothed loss against log(lr), over the steps left when the
// first num_steps/10 and the last 5 are dropped (all of them when fewer than 2 would be left).
// fastai's "valley" rule, over the same steps, is recorded beside it: the longest run of
// decreasing smoothed losses (its longest decreasing subsequence ending at some step), and the lr
// about half-way into it (start + n/3 + n/6 of its n steps). Both are run records
// (lr_finder.suggested_lr, lr_finder.valley_lr), which gom.fit's result and gom.lr_find return.
// Not restored: the random streams (dropout, the loader's shuffle) and the loop's step count.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <utility>
#include <limits>
#include <vector>

#include "callbacks.h"
#include "gom/autograd.h"
#include "gom/layer.h"
#include "gom/ops.h"
#include "gom/optimizer.h"

namespace gom::callbacks {
namespace {

using Named = std::vector<std::pair<std::string, Tensor>>;  // a state_dict, an OptimizerState

Named clones(const Named& ts) {
  NoGrad ng;
  Named out;
  for (const auto& [k, t] : ts) out.emplace_back(k, t.detach().clone());
  return out;
}

class LrFinder : public Callback {
 public:
  explicit LrFinder(const Params& p)
      : start_(p.f("start_lr")),
        end_(p.f("end_lr")),
        steps_(p.i("num_steps")),
        beta_(p.f("smooth")),
        diverge_(p.f("diverge")) {
    if (!(start_ > 0) || !(end_ > start_))
      throw Error(
          fmt::format("need 0 < start_lr < end_lr, got start_lr {} and end_lr {}", start_, end_));
    if (!(beta_ < 1)) throw Error(fmt::format("parameter 'smooth' must be < 1, got {}", beta_));
  }

  // After the lr schedules (-20), whose lr it overrides, and before the metrics (-10).
  int order() const override { return -15; }

  void on(Event e, LoopState& s) override {
    if (e == Event::BeforeFit) return before_fit(s);
    if (e == Event::AfterFit && active_) return finish(s);
    if (!active_ || !s.training) return;
    if (e == Event::BeforeBatch) {
      const double lr = start_ * std::pow(end_ / start_, double(lrs_.size()) / double(steps_ - 1));
      for (auto& g : s.optimizer->param_groups()) g.options["lr"] = lr;
    } else if (e == Event::AfterLoss) {
      after_loss(s);
    } else if (e == Event::AfterBatch && (diverged_ || int64_t(lrs_.size()) >= steps_)) {
      s.stop = true;
      finish(s);
    }
  }

 private:
  void before_fit(LoopState& s) {
    if (!s.model || !s.optimizer) throw Error("lr_finder needs the fit's model and optimizer");
    model_ = clones(s.model->state_dict());
    opt_ = clones(s.optimizer->state());
    groups_ = s.optimizer->group_options();
    lrs_.clear();
    smooth_.clear();
    avg_ = best_ = last_ = 0;
    active_ = true;
    diverged_ = false;
  }

  // The batch's loss: in a data-parallel fit the mean over every rank's share, so that each rank
  // takes the same decisions (stop, skip) at the same batch.
  static double batch_loss(const LoopState& s) {
    const double mine = s.loss.item();
    if (!s.data_parallel) return mine;
    const double n = s.input.shape().empty() ? 1.0 : double(s.input.shape()[0]);
    double sums[2] = {mine * n, n};
    all_reduce_sum(sums);
    return sums[0] / sums[1];
  }

  void after_loss(LoopState& s) {
    const double loss = batch_loss(s), lr = s.optimizer->lr();
    if (!std::isfinite(loss)) {
      // The trainer refuses a non-finite loss after this event (DivergedError): the batch is
      // skipped, and state.loss replaced by the last finite loss, so that the fit ends here and
      // the weights are put back.
      diverged_ = s.skip_batch = true;
      s.loss = scalar(last_, {s.loss.dtype(), s.loss.device()});
      return;
    }
    last_ = loss;
    avg_ = beta_ * avg_ + (1 - beta_) * loss;
    const double sm = avg_ / (1 - std::pow(beta_, double(lrs_.size() + 1)));
    if (lrs_.empty() || sm < best_) best_ = sm;
    if (diverge_ > 0 && best_ > 0 && sm > diverge_ * best_) diverged_ = true;  // a ratio of > 0
    lrs_.push_back(lr);
    smooth_.push_back(sm);
    s.step_metrics.emplace_back("lr_finder.lr", lr);
    s.step_metrics.emplace_back("lr_finder.loss", loss);
    s.step_metrics.emplace_back("lr_finder.smooth_loss", sm);
  }

  void finish(LoopState& s) {
    active_ = false;
    s.model->load_state_dict(model_);  // copies in place: the optimizer's tensors stay its own
    s.optimizer->load_state(opt_);
    s.optimizer->load_group_options(groups_);
    s.optimizer->zero_grad();
    model_ = opt_ = {};
    const size_t n = lrs_.size();
    std::string text =
        fmt::format("lr_finder: {} steps, lr {:.1e} to {:.1e}{}\n", n, n ? lrs_.front() : start_,
                    n ? lrs_.back() : start_, diverged_ ? ", stopped as the loss diverged" : "");
    if (n < 2) {
      text += "lr_finder: no suggestion (fewer than 2 steps)\n";
    } else {
      const double lr = suggestion(), valley_lr = valley();
      s.records["lr_finder.suggested_lr"] = fmt::format("{}", lr);
      s.records["lr_finder.valley_lr"] = fmt::format("{}", valley_lr);
      text += fmt::format(
          "lr_finder: suggested lr {:.1e} (steepest descent of the smoothed loss)\n", lr);
      text += fmt::format("lr_finder: valley lr {:.1e} (fastai's valley rule)\n", valley_lr);
    }
    if (world_rank() != 0) return;  // one report for a data-parallel job
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
  }

  // The steps the suggestions look at: [first, last), without the first num_steps/10 and the
  // last 5 unless fewer than 2 would be left.
  std::pair<size_t, size_t> trimmed() const {
    const size_t n = lrs_.size(), skip = size_t(steps_ / 10);
    const bool trim = n >= skip + 7;  // at least 2 points left
    return {trim ? skip : 0, trim ? n - 5 : n};
  }

  // fastai's "steep": argmin of the slope between consecutive points, on the trimmed curve.
  double suggestion() const {
    const auto [a, b] = trimmed();
    size_t best = a;
    double steepest = std::numeric_limits<double>::infinity();
    for (size_t i = a; i + 1 < b; ++i) {
      const double g = (smooth_[i + 1] - smooth_[i]) / (std::log(lrs_[i + 1]) - std::log(lrs_[i]));
      if (g < steepest) steepest = g, best = i;
    }
    return lrs_[best];
  }

  // fastai's "valley" on the trimmed curve: lds[i] is the length of the longest strictly
  // decreasing run of losses (a subsequence) ending at i; the first i with the longest one ends
  // the valley, which starts lds[i] steps before it, and the lr is taken 1/3 + 1/6 of the way in.
  double valley() const {
    const auto [a, b] = trimmed();
    const std::vector<double> loss(smooth_.begin() + ptrdiff_t(a), smooth_.begin() + ptrdiff_t(b));
    const int64_t n = int64_t(loss.size());
    std::vector<int64_t> lds(size_t(n), 1);
    int64_t end = 0;
    for (int64_t i = 1; i < n; ++i) {
      for (int64_t j = 0; j < i; ++j)
        if (loss[size_t(i)] < loss[size_t(j)]) lds[size_t(i)] = std::max(lds[size_t(i)], lds[size_t(j)] + 1);
      if (lds[size_t(i)] > lds[size_t(end)]) end = i;
    }
    const int64_t start = end - lds[size_t(end)];
    const double third = double(end - start) / 3;
    int64_t idx = start + int64_t(third) + int64_t(third / 2);
    if (idx < 0) idx += n;  // a valley from the first step: fastai's index -1 is the last one
    return lrs_[a + size_t(std::clamp<int64_t>(idx, 0, n - 1))];
  }

  double start_, end_;
  int64_t steps_;
  double beta_, diverge_;
  bool active_ = false, diverged_ = false;
  double avg_ = 0, best_ = 0, last_ = 0;
  std::vector<double> lrs_, smooth_;  // per recorded step
  Named model_, opt_;                 // at before_fit
  std::vector<std::map<std::string, double>> groups_;
};

}  // namespace

void register_lr_finder() {
  Schema s;
  s.number("start_lr", "the lr of the first step").def(1e-7).min(0);
  s.number("end_lr", "the lr of the last step (exponential in between)").def(10.0).min(0);
  s.integer("num_steps", "training batches in the sweep (it may span epochs)").def(100).min(2);
  s.number("smooth", "weight of the past in the smoothed loss (< 1)").def(0.98).range(0, 1);
  s.number("diverge", "stop when the smoothed loss > diverge x its best (0: never)")
      .def(4.0)
      .min(0);
  register_callback(
      "lr_finder",
      "lr range test: raises the lr exponentially each batch, records the loss, stops and "
      "restores the model and optimizer, and suggests the lr of the steepest loss descent",
      std::move(s), [](const Params& p) { return std::make_shared<LrFinder>(p); });
}

}  // namespace gom::callbacks
