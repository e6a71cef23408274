#include "gom_core/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "gom/autograd.h"
#include "gom/kernel.h"
#include "gom/ops.h"
#include "gom_core/data_parallel.h"

namespace gom {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class Loop {
 public:
  // evaluating: one pass over a.valid without optimizer or training data (evaluate, predict);
  // the loss is optional there.
  explicit Loop(FitArgs& a, bool evaluating = false) : a_(a) {
    if (evaluating ? !a.model || !a.valid
                   : !a.model || !a.loss || !a.optimizer || !a.train)
      throw Error("fit: model, loss, optimizer and training data are all required");
    if (a.loss && a.loss->arity() != 2)
      throw Error(
          fmt::format("fit: the loss '{}' takes one input; a loss takes (prediction, "
                      "target)",
                      a.loss->type()));
    callbacks_ = a.callbacks;
    const auto by_order = [](auto& x, auto& y) { return x->order() < y->order(); };
    std::stable_sort(callbacks_.begin(), callbacks_.end(), by_order);
    // Data-parallel when the training data is shared out over the ranks of a job. The loop's own
    // step is fired with the callbacks but is none of theirs: checkpoints hold the same list
    // with or without it, so a run may resume on another number of ranks.
    parallel_ = !evaluating && a.train->options().world > 1;
    fired_ = callbacks_;
    if (parallel_) {
      dp::check_shared_out(*a.train, a.valid, a.test);
      all_reduce_ = std::make_shared<dp::GradientAllReduce>(a.interrupt);
      fired_.insert(fired_.begin(), all_reduce_);  // first of order 15: before terminate_on_nan
      std::stable_sort(fired_.begin(), fired_.end(), by_order);
    }
    s_.data_parallel = parallel_;
    s_.model = a.model.get();
    s_.optimizer = a.optimizer.get();
    s_.epochs = a.epochs;
    s_.step = a.first_step;
    s_.run_dir = a.run_dir;
    s_.checkpoint_metadata = a.checkpoint_metadata;
    s_.callbacks = &callbacks_;
    // What the loop's own metrics mean; metric callbacks declare theirs when they report.
    s_.metric_info = {{"train_loss", {MetricDirection::Minimize, MetricPhase::Train}},
                      {"valid_loss", {MetricDirection::Minimize, MetricPhase::Valid}},
                      {"test_loss", {MetricDirection::Minimize, MetricPhase::Test}},
                      {"epoch_seconds", {MetricDirection::Minimize, MetricPhase::None}},
                      {"samples_per_sec", {MetricDirection::Maximize, MetricPhase::None}},
                      {"lr", {MetricDirection::None, MetricPhase::None}}};
    for (const auto& [k, info] : a.metric_info) s_.metric_info[k] = info;
  }

  FitResult run() {
    FitResult r;
    if (parallel_) {  // every rank starts from rank 0's weights (and a resumed optimizer)
      dp::broadcast_module(*a_.model);
      dp::broadcast_optimizer_state(*a_.optimizer);
    }
    fire(Event::BeforeFit);
    // The metrics of each epoch this fit ran, by epoch (0-based): the result is the epoch whose
    // weights the model ends with.
    std::map<int64_t, std::map<std::string, double>> by_epoch;
    for (int64_t e = a_.first_epoch; e < a_.epochs && !s_.stop && !interrupted(); ++e) {
      s_.epoch = e;
      s_.metrics.clear();
      const auto t0 = Clock::now();
      fire(Event::BeforeEpoch);
      const double train_seconds = phase(MetricPhase::Train);
      if (interrupted()) break;  // an unfinished epoch is not recorded as one
      if (a_.valid) phase(MetricPhase::Valid);
      if (interrupted()) break;
      const double secs = seconds_since(t0);
      s_.metrics["lr"] = a_.optimizer->lr();
      s_.metrics["epoch_seconds"] = secs;
      s_.metrics["samples_per_sec"] = train_samples_ / std::max(train_seconds, 1e-9);
      fire(Event::AfterEpoch);
      for (const auto& [k, v] : s_.metrics) log(k, e + 1, v);
      if (a_.sink) a_.sink->flush();
      by_epoch[e] = s_.metrics;
      r.epochs_done = e + 1;
    }
    r.interrupted = interrupted();
    r.stopped_early = s_.stop && !r.interrupted;
    // A resumed fit whose checkpoint held every epoch ran none here, but its model is trained.
    const int64_t last = std::max(r.epochs_done, a_.first_epoch);
    std::map<std::string, double> test;
    if (a_.test && !r.interrupted && last > 0) test = test_phase(last);
    r.interrupted = interrupted();
    if (parallel_) {  // how long the gradients' all-reduce took, as run records
      dp::record_communication(all_reduce_->sync(), s_.records);
      hand_over();
    }
    fire(Event::AfterFit);
    r.weights_epoch = s_.weights_epoch >= 0 ? s_.weights_epoch + 1 : last;
    if (auto it = by_epoch.find(r.weights_epoch - 1); it != by_epoch.end())
      r.final_metrics = it->second;
    else if (!by_epoch.empty())
      r.final_metrics = by_epoch.rbegin()->second;
    for (const auto& [k, v] : test) r.final_metrics[k] = v;
    return r;
  }

  // One validation pass (evaluate): the model's mode is put back as it was.
  std::map<std::string, double> evaluate() {
    const bool was_training = a_.model->is_training();
    struct Restore {  // also when a callback or the loss throws
      Module& m;
      bool on;
      ~Restore() { m.train(on); }
    } restore{*a_.model, was_training};
    phase(MetricPhase::Valid);
    return std::move(s_.metrics);
  }

 private:
  // In a data-parallel fit, the ranks stop together: on the flag as the last all-reduce summed it.
  bool interrupted() const {
    if (parallel_) return stop_all_ || all_reduce_->interrupted();
    return a_.interrupt && a_.interrupt->load();
  }

  // One value to the sink, described first when its declaration is new (or changed).
  void log(const std::string& key, int64_t epoch, double value) {
    if (!a_.sink) return;
    if (auto it = s_.metric_info.find(key); it != s_.metric_info.end()) {
      auto [d, fresh] = described_.try_emplace(key, it->second);
      if (fresh || d->second != it->second) {
        d->second = it->second;
        a_.sink->describe(key, it->second);
      }
    }
    a_.sink->log(key, s_.step, epoch, value);
  }

  // The test phase, after the last epoch (1-based `last`): its metrics are logged at that epoch
  // and returned. The epoch's metrics stay in state.metrics beside them for after_fit.
  std::map<std::string, double> test_phase(int64_t last) {
    std::map<std::string, double> epoch_metrics = std::move(s_.metrics);
    s_.metrics.clear();
    s_.epoch = last - 1;
    phase(MetricPhase::Test);
    std::map<std::string, double> test = std::move(s_.metrics);
    s_.metrics = std::move(epoch_metrics);
    if (interrupted()) return {};  // a part of the test data is no test result
    for (const auto& [k, v] : test) log(k, last, v);
    if (a_.sink) a_.sink->flush();
    for (const auto& [k, v] : test) s_.metrics[k] = v;
    return test;
  }

  void fire(Event e) {
    for (auto& cb : fired_) {
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
      for (const auto& [k, v] : s_.step_metrics) log(k, s_.epoch + 1, v);
      for (const auto& [k, v] : s_.records) a_.sink->record(k, v);
      for (const auto& [kind, path] : s_.artifacts) a_.sink->artifact(kind, path);
    }
    s_.step_metrics.clear();
    s_.records.clear();
    s_.artifacts.clear();
  }

  // One pass over the training, validation or test data; returns its seconds.
  double phase(MetricPhase which) {
    const bool training = which == MetricPhase::Train;
    DataLoader& dl = training ? *a_.train : which == MetricPhase::Valid ? *a_.valid : *a_.test;
    s_.training = training;
    s_.phase = which;
    s_.batch = 0;
    s_.batches = dl.num_batches();
    s_.samples = 0;
    a_.model->train(training);
    if (a_.loss) a_.loss->train(training);
    a_.model->reset_state();  // a stateful recurrent layer starts each pass from zeros
    fire(training                       ? Event::BeforeTrain
         : which == MetricPhase::Valid ? Event::BeforeValidate
                                        : Event::BeforeTest);
    const auto t0 = Clock::now();
    dl.begin_epoch(s_.epoch);
    LossTally tally(*this);
    Batch b;
    while (!interrupted() && dl.next(b)) {
      const int64_t n = b.input.shape().empty() ? 1 : b.input.shape()[0];
      // A mean loss over this rank's share, scaled by its part of the global batch: the sum
      // over the ranks is the gradient of the global batch's mean.
      loss_share_ = parallel_ ? double(n) / double(dl.global_batch_size(s_.batch)) : 1.0;
      s_.input = b.input;
      s_.target = b.target;
      s_.more_inputs = std::move(b.more_inputs);
      s_.skip_batch = s_.accumulate = false;
      fire(Event::BeforeBatch);
      if (!s_.skip_batch) {
        const Tensor l = training ? train_batch() : eval_batch();
        if (!s_.skip_batch && l.defined()) tally.add(l, n);
      }
      s_.samples += n;
      fire(Event::AfterBatch);
      s_.pred = s_.loss = Tensor();  // do not hold the graph (or activations) across batches
      s_.more_inputs.clear();
      ++s_.batch;
      if (s_.stop && training) break;
    }
    tally.read();
    double samples = double(s_.samples);
    // The phase's loss and samples over every rank, and whether one was interrupted.
    if (parallel_ && dp::sum_phase(tally.total, tally.seen, samples, a_.interrupt))
      stop_all_ = true;
    // A window of accumulated gradients that no step closed (the phase ended or was stopped
    // inside it) is dropped: it must not leak into the next epoch's first step.
    if (grads_kept_) a_.optimizer->zero_grad();
    grads_kept_ = s_.accumulate = false;
    const double secs = seconds_since(t0);
    if (tally.seen > 0 && a_.loss)
      s_.metrics[fmt::format("{}_loss", metric_phase_name(which))] =
          tally.total / double(tally.seen);
    if (training) train_samples_ = samples;
    a_.model->train(true);
    fire(training                       ? Event::AfterTrain
         : which == MetricPhase::Valid ? Event::AfterValidate
                                        : Event::AfterTest);
    s_.phase = MetricPhase::None;
    return secs;
  }

  // The model on the batch's input, or on all its inputs when it has several.
  Tensor model_forward() {
    if (s_.more_inputs.empty()) return a_.model->call(s_.input);
    std::vector<Tensor> inputs{s_.input};
    inputs.insert(inputs.end(), s_.more_inputs.begin(), s_.more_inputs.end());
    return a_.model->call(inputs);
  }

  [[noreturn]] void diverged(double l, const std::string& batches) {
    throw DivergedError(fmt::format(
        "the loss is {} at epoch {}, {} {}: training diverged (a smaller lr, gradient "
        "clipping or normalised inputs usually help)",
        l, s_.epoch + 1,
        s_.phase == MetricPhase::Train   ? "training"
        : s_.phase == MetricPhase::Valid ? "validation"
                                         : "test",
        batches));
  }

  // The losses of one pass, weighted by batch size. On the CPU each is read and checked at
  // once; on a device that queues work they are summed there and read every sync_every
  // batches, so a non-finite loss is caught within that many batches, not at the one it hit.
  struct LossTally {
    Loop& loop;
    double total = 0;
    int64_t seen = 0;
    Tensor pending;  // the unread sum, on the loss's device
    int64_t pending_from = 0, pending_batches = 0;
    explicit LossTally(Loop& l) : loop(l) {}
    void add(const Tensor& loss, int64_t n) {
      seen += n;
      if (!defer_host_reads(loss.device())) {
        total += loop.cpu_loss_ * double(n);  // read and checked by checked_loss
        return;
      }
      NoGrad ng;
      const Tensor weighted = mul(loss.detach(), double(n));
      if (!pending.defined()) pending_from = loop.s_.batch;
      pending = pending.defined() ? gom::add(pending, weighted) : weighted;
      if (++pending_batches >= std::max<int64_t>(1, loop.a_.sync_every)) read();
    }
    void read() {
      if (!pending.defined()) return;
      const double sum = pending.item();
      if (!std::isfinite(sum))
        loop.diverged(sum, pending_batches == 1
                               ? fmt::format("batch {}", pending_from + 1)
                               : fmt::format("batches {}-{}", pending_from + 1,
                                             pending_from + pending_batches));
      total += sum;
      pending = Tensor();
      pending_batches = 0;
    }
  };

  // On the CPU, reading the loss costs nothing: it is checked before the backward, so a
  // non-finite loss never reaches the weights. A device's loss is checked by LossTally.
  Tensor checked_loss() {
    Tensor l = s_.loss.detach();
    if (defer_host_reads(l.device())) return l;
    cpu_loss_ = l.item();
    if (!std::isfinite(cpu_loss_)) diverged(cpu_loss_, fmt::format("batch {}", s_.batch + 1));
    return l;
  }

  // The batch's loss, detached; undefined when there is none (skipped, or no loss function).
  Tensor train_batch() {
    s_.pred = model_forward();
    fire(Event::AfterForward);
    if (s_.skip_batch) return {};
    s_.loss = a_.loss->call(s_.pred, s_.target);
    fire(Event::AfterLoss);
    const Tensor l = checked_loss();
    if (s_.skip_batch) return l;
    if (loss_share_ == 1.0)
      s_.loss.backward();
    else
      mul(s_.loss, loss_share_).backward();
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

  // A validation or test batch: forward and loss without a graph.
  Tensor eval_batch() {
    NoGrad ng;
    s_.pred = model_forward();
    fire(Event::AfterForward);
    if (!a_.loss) return {};  // evaluate without a loss: metrics only
    s_.loss = a_.loss->call(s_.pred, s_.target);
    fire(Event::AfterLoss);
    return checked_loss();
  }

  FitArgs& a_;
  LoopState s_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
  std::vector<std::shared_ptr<Callback>> fired_;  ///< callbacks_ and the loop's own steps
  bool parallel_ = false;                         ///< data-parallel (see the constructor)
  std::shared_ptr<dp::GradientAllReduce> all_reduce_;
  bool stop_all_ = false;    ///< a rank was interrupted, as the last phase's all-reduce said
  double loss_share_ = 1.0;  ///< this rank's share of the global batch
  double train_samples_ = 0;
  bool grads_kept_ = false;  ///< the last batch set accumulate: its gradients wait for a step
  double cpu_loss_ = 0;      ///< the last CPU loss checked_loss read
  std::map<std::string, MetricInfo> described_;  ///< what the sink was told of each key
};

}  // namespace

FitResult fit(FitArgs& args) {
  return Loop(args).run();
}

std::map<std::string, double> evaluate(const EvalArgs& args) {
  FitArgs a;
  a.model = args.model;
  a.loss = args.loss;
  a.valid = args.data;
  a.callbacks = args.callbacks;
  a.interrupt = args.interrupt;
  std::map<std::string, double> m = Loop(a, true).evaluate();
  if (auto it = m.find("valid_loss"); it != m.end()) {
    m["loss"] = it->second;
    m.erase(it);
  }
  return m;
}

namespace {
// Keeps each batch's prediction and target (at after_batch, when the forward ran).
class Collect : public Callback {
 public:
  int order() const override { return 1000; }
  void on(Event e, LoopState& s) override {
    if (e != Event::AfterBatch || !s.pred.defined()) return;
    preds.push_back(s.pred);
    if (s.target.defined()) targets.push_back(s.target);
  }
  std::vector<Tensor> preds, targets;
};
}  // namespace

Predictions predict(const EvalArgs& args) {
  EvalArgs a = args;
  auto collect = std::make_shared<Collect>();
  collect->set_type("predict");
  a.callbacks.push_back(collect);
  evaluate(a);
  Predictions p;
  if (!collect->preds.empty()) p.pred = cat(collect->preds, 0);
  if (!collect->targets.empty() && collect->targets.size() == collect->preds.size())
    p.target = cat(collect->targets, 0);
  return p;
}

}  // namespace gom
