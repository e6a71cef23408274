#include "gom_core/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "gom/autograd.h"

namespace gom {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class Loop {
 public:
  explicit Loop(FitArgs& a) : a_(a) {
    if (!a.model || !a.loss || !a.optimizer || !a.train)
      throw Error("fit: model, loss, optimizer and training data are all required");
    if (a.loss->arity() != 2)
      throw Error(
          fmt::format("fit: the loss '{}' takes one input; a loss takes (prediction, "
                      "target)",
                      a.loss->type()));
    callbacks_ = a.callbacks;
    std::stable_sort(callbacks_.begin(), callbacks_.end(),
                     [](auto& x, auto& y) { return x->order() < y->order(); });
    s_.model = a.model.get();
    s_.optimizer = a.optimizer.get();
    s_.epochs = a.epochs;
    s_.step = a.first_step;
    s_.run_dir = a.run_dir;
    s_.checkpoint_metadata = a.checkpoint_metadata;
    s_.callbacks = &callbacks_;
  }

  FitResult run() {
    FitResult r;
    fire(Event::BeforeFit);
    for (int64_t e = a_.first_epoch; e < a_.epochs && !s_.stop && !interrupted(); ++e) {
      s_.epoch = e;
      s_.metrics.clear();
      const auto t0 = Clock::now();
      fire(Event::BeforeEpoch);
      const double train_seconds = phase(true);
      if (interrupted()) break;  // an unfinished epoch is not recorded as one
      if (a_.valid) phase(false);
      if (interrupted()) break;
      const double secs = seconds_since(t0);
      s_.metrics["lr"] = a_.optimizer->lr();
      s_.metrics["epoch_seconds"] = secs;
      s_.metrics["samples_per_sec"] = train_samples_ / std::max(train_seconds, 1e-9);
      fire(Event::AfterEpoch);
      if (a_.sink) {
        for (const auto& [k, v] : s_.metrics) a_.sink->log(k, s_.step, e + 1, v);
        a_.sink->flush();
      }
      r.final_metrics = s_.metrics;
      r.epochs_done = e + 1;
    }
    r.interrupted = interrupted();
    r.stopped_early = s_.stop && !r.interrupted;
    fire(Event::AfterFit);
    return r;
  }

 private:
  bool interrupted() const { return a_.interrupt && a_.interrupt->load(); }

  void fire(Event e) {
    for (auto& cb : callbacks_) {
      try {
        cb->on(e, s_);
      } catch (const std::exception& ex) {
        // What the event added is handed over first: a callback that stops a diverged fit
        // records where, and that record belongs to the run.
        hand_over();
        const std::string what =
            fmt::format("callback '{}' failed in {}: {}", cb->type(), event_name(e), ex.what());
        if (dynamic_cast<const DivergedError*>(&ex)) throw DivergedError(what);
        throw Error(what);
      }
    }
    if (!s_.step_metrics.empty() || !s_.records.empty() || !s_.artifacts.empty()) hand_over();
  }

  // Passes what callbacks added for the run record on to the sink.
  void hand_over() {
    if (a_.sink) {
      for (const auto& [k, v] : s_.step_metrics) a_.sink->log(k, s_.step, s_.epoch + 1, v);
      for (const auto& [k, v] : s_.records) a_.sink->record(k, v);
      for (const auto& [kind, path] : s_.artifacts) a_.sink->artifact(kind, path);
    }
    s_.step_metrics.clear();
    s_.records.clear();
    s_.artifacts.clear();
  }

  // One pass over the training or validation data; returns its seconds.
  double phase(bool training) {
    DataLoader& dl = training ? *a_.train : *a_.valid;
    s_.training = training;
    s_.batch = 0;
    s_.batches = dl.num_batches();
    s_.samples = 0;
    a_.model->train(training);
    a_.loss->train(training);
    a_.model->reset_state();  // a stateful recurrent layer starts each pass from zeros
    fire(training ? Event::BeforeTrain : Event::BeforeValidate);
    const auto t0 = Clock::now();
    dl.begin_epoch(s_.epoch);
    double loss_sum = 0;
    int64_t seen = 0;
    Batch b;
    while (!interrupted() && dl.next(b)) {
      const int64_t n = b.input.shape().empty() ? 1 : b.input.shape()[0];
      s_.input = b.input;
      s_.target = b.target;
      s_.skip_batch = s_.accumulate = false;
      fire(Event::BeforeBatch);
      if (!s_.skip_batch) {
        const double l = training ? train_batch() : valid_batch();
        if (!s_.skip_batch) {
          loss_sum += l * double(n);
          seen += n;
        }
      }
      s_.samples += n;
      fire(Event::AfterBatch);
      s_.pred = s_.loss = Tensor();  // do not hold the graph (or activations) across batches
      ++s_.batch;
      if (s_.stop && training) break;
    }
    // A window of accumulated gradients that no step closed (the phase ended or was stopped
    // inside it) is dropped: it must not leak into the next epoch's first step.
    if (grads_kept_) a_.optimizer->zero_grad();
    grads_kept_ = s_.accumulate = false;
    const double secs = seconds_since(t0);
    if (seen > 0) s_.metrics[training ? "train_loss" : "valid_loss"] = loss_sum / double(seen);
    if (training) train_samples_ = double(s_.samples);
    a_.model->train(true);
    fire(training ? Event::AfterTrain : Event::AfterValidate);
    return secs;
  }

  double checked_loss() {
    const double l = s_.loss.item();
    if (!std::isfinite(l))
      throw DivergedError(
          fmt::format("the loss is {} at epoch {}, {} batch {}: training diverged (a "
                      "smaller lr, gradient clipping or normalised inputs usually help)",
                      l, s_.epoch + 1, s_.training ? "training" : "validation", s_.batch + 1));
    return l;
  }

  double train_batch() {
    s_.pred = a_.model->forward(s_.input);
    fire(Event::AfterForward);
    if (s_.skip_batch) return 0;
    s_.loss = a_.loss->forward(s_.pred, s_.target);
    fire(Event::AfterLoss);
    const double l = checked_loss();
    if (s_.skip_batch) return l;
    s_.loss.backward();
    fire(Event::AfterBackward);
    grads_kept_ = s_.accumulate;
    if (s_.accumulate) return l;  // the gradients wait for the next batch's: no step, no zero
    if (!s_.skip_batch) {
      a_.optimizer->step();
      ++s_.step;
      fire(Event::AfterStep);
    }
    a_.optimizer->zero_grad();
    return l;
  }

  double valid_batch() {
    NoGrad ng;
    s_.pred = a_.model->forward(s_.input);
    fire(Event::AfterForward);
    s_.loss = a_.loss->forward(s_.pred, s_.target);
    fire(Event::AfterLoss);
    return checked_loss();
  }

  FitArgs& a_;
  LoopState s_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
  double train_samples_ = 0;
  bool grads_kept_ = false;  ///< the last batch set accumulate: its gradients wait for a step
};

}  // namespace

FitResult fit(FitArgs& args) {
  return Loop(args).run();
}

}  // namespace gom
