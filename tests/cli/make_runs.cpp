// Creates a run database for tests/cli/runs_test.sh through gom::RunRecorder:
//   make_runs DB_PATH
// Runs (ids in order): 1 mnist/baseline finished, 2 mnist/wide finished, 3 cifar/first failed
// (error "CUDA out of memory"), 4 mnist/tiny finished with no metrics, 5 ptb/lm finished with
// metrics whose best is not their maximum (perplexity, epoch_seconds), samples_per_sec, lr (no
// direction) and error_budget, declared "maximize" against what its name says.
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "gom_core/recorder.h"

namespace {

int64_t start(gom::RunRecorder& rec, const std::string& experiment, const std::string& name,
              int64_t seed) {
  gom::RunInfo info;
  info.experiment = experiment;
  info.name = name;
  info.script_path = "experiments/" + name + ".lua";
  info.script_text = "-- " + name + "\n";
  info.seed = seed;
  info.backend = "onednn";
  info.device = "cpu";
  info.threads = 4;
  info.gom_version = "0.1.0";
  info.command_line = "gom run experiments/" + name + ".lua";
  info.detect_git = false;
  return rec.start_run(info);
}

// valid_loss per epoch, accuracy per epoch.
void log_epochs(gom::RunRecorder& rec, int64_t run, const std::vector<double>& loss,
                const std::vector<double>& acc) {
  for (size_t e = 0; e < loss.size(); ++e) {
    const auto epoch = static_cast<int64_t>(e + 1);
    rec.log_metric(run, "valid_loss", epoch * 100, epoch, loss[e]);
    if (e < acc.size()) rec.log_metric(run, "accuracy", epoch * 100, epoch, acc[e]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DB_PATH\n", argv[0]);
    return 2;
  }
  try {
    gom::RunRecorder rec(argv[1]);

    const int64_t a = start(rec, "mnist", "baseline", 1);
    rec.log_params(a, {{"optimizer.lr", "0.01"}, {"fit.batch_size", "64"}, {"model", "mlp"}});
    log_epochs(rec, a, {0.9, 0.5, 0.3, 0.35}, {0.70, 0.85, 0.91, 0.90});
    rec.finish_run(a, gom::RunStatus::kFinished);

    const int64_t b = start(rec, "mnist", "wide", 2);
    rec.log_params(
        b, {{"optimizer.lr", "0.1"}, {"fit.batch_size", "64"}, {"model", "mlp"}, {"width", "512"}});
    log_epochs(rec, b, {0.8, 0.4, 0.2}, {0.75, 0.88, 0.95});
    rec.finish_run(b, gom::RunStatus::kFinished);

    const int64_t c = start(rec, "cifar", "first", 3);
    rec.log_params(c, {{"optimizer.lr", "0.001"}, {"fit.batch_size", "128"}});
    log_epochs(rec, c, {2.1}, {0.2});
    rec.finish_run(c, gom::RunStatus::kFailed, "CUDA out of memory");

    const int64_t d = start(rec, "mnist", "tiny", 4);
    rec.finish_run(d, gom::RunStatus::kFinished);

    const int64_t e = start(rec, "ptb", "lm", 5);
    rec.describe_metric(e, "error_budget", {gom::MetricDirection::Maximize, gom::MetricPhase::None});
    const std::vector<std::pair<std::string, std::vector<double>>> lm = {
        {"perplexity", {7.51, 5.10}},        {"epoch_seconds", {12.5, 9.75}},
        {"samples_per_sec", {800.0, 1200.0}}, {"lr", {0.1, 0.01}},
        {"error_budget", {0.5, 0.2}}};
    for (const auto& [key, values] : lm)
      for (size_t i = 0; i < values.size(); ++i)
        rec.log_metric(e, key, int64_t(i + 1) * 10, int64_t(i + 1), values[i]);
    rec.finish_run(e, gom::RunStatus::kFinished);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_runs: %s\n", e.what());
    return 1;
  }
  return 0;
}
