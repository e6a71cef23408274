// gom_small_train_bench — training steps/s of two small models, where the fixed cost of each op
// (dispatch, autograd bookkeeping, the optimizer, the fit loop) outweighs the arithmetic:
//   xor      experiments/xor.lua: synthetic XOR (512 noisy points, seed 1), linear 2->8, tanh,
//            linear 8->2, cross_entropy, sgd lr 0.1 momentum 0.9, batch 32 (16 steps an epoch).
//   tabular  experiments/tabular.lua's default: scikit-learn's breast-cancer table through the
//            csv dataset (train split, 30 continuous columns), tabular_embedding, linear 30->200
//            (no bias), relu, batchnorm1d, linear 200->100 (no bias), relu, batchnorm1d,
//            linear 100->2, cross_entropy, adamw lr 1e-2 weight decay 0.01, batch 64, drop_last.
// Both go through gom::fit with a DataLoader (shuffled, no prefetch thread: the batches are tiny)
// and no validation, metrics or callbacks.
//
// Protocol (bench/torch_small.py does the same in PyTorch): one untimed warm-up group, then
// --rounds timed groups, each one gom::fit call of --epochs epochs; steps/s is the best group's
// (other work on the machine only ever slows a group down). Prints, for scripts/bench:
//   small xor train: gom X steps/s (...)
//   small tabular train: gom X steps/s (...)

#include <fmt/format.h>

#include <string>

#include "bench_fit.h"
#include "gom/gom.h"
#include "gom_core/data_loader.h"
#include "gom_core/trainer.h"

namespace {

constexpr const char* kUsage =
    "usage: gom_small_train_bench [--threads N] [--epochs N] [--rounds N] [--csv PATH]\n"
    "  --threads N   compute threads (default 1; 0: gom's default, the free cores)\n"
    "  --epochs N    epochs of each timed group (default 100)\n"
    "  --rounds N    timed groups after one warm-up group, the best reported (default 5)\n"
    "  --csv PATH    the tabular table (default scikit-learn's breast_cancer.csv)\n";

// Runs one warm-up group and `rounds` timed groups of `epochs` epochs; prints and returns the
// best steps/s.
void time_groups(gom::FitArgs& args, const gom::DataLoader& loader, std::string_view label,
                 int epochs, int rounds) {
  const int64_t steps = loader.num_batches() * epochs;
  std::vector<double> rates;
  double loss = 0;
  for (int r = 0; r <= rounds; ++r) {
    args.first_epoch = int64_t(r) * epochs;
    args.epochs = args.first_epoch + epochs;
    const auto t0 = bench::Clock::now();
    const gom::FitResult res = gom::fit(args);
    const double secs = bench::since(t0);
    loss = res.final_metrics.count("train_loss") ? res.final_metrics.at("train_loss") : 0.0;
    if (r > 0) rates.push_back(double(steps) / secs);
  }
  const auto [lo, hi] = std::minmax_element(rates.begin(), rates.end());
  fmt::print(
      "small {} train: gom {:.0f} steps/s (best of {} groups of {} steps, {:.0f}..{:.0f}; "
      "train_loss {:.4f})\n",
      label, *hi, rates.size(), steps, *lo, *hi, loss);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, epochs = 100, rounds = 5;
  std::string csv = "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv";
  bench::parse_flags(argc, argv, "gom_small_train_bench", kUsage,
                     {{"--threads", &threads, 0},
                      {"--epochs", &epochs, 1},
                      {"--rounds", &rounds, 1},
                      {"--csv", &csv}});
  return bench::guarded_main("gom_small_train_bench", [&] {
    bench::start_gom(threads);
    fmt::print("gom_small_train_bench: threads {}, groups of {} epochs, 1 warm-up + {} rounds\n",
               threads, epochs, rounds);
    fmt::print("backend: {}\n", bench::backend_line(gom::find_backend(gom::DeviceType::CPU)));
    bench::print_machine();
    using gom::create_layer;

    {
      auto data = gom::create_dataset("synthetic",
                                      {{"task", "xor"}, {"n", 512}, {"noise", 0.1}, {"seed", 1}});
      gom::DataLoader train(data, {.batch_size = 32, .shuffle = true, .seed = 1, .prefetch = 0});
      gom::FitArgs args;
      args.model = bench::sequential({create_layer("linear", {{"in", 2}, {"out", 8}}),
                                      create_layer("tanh"),
                                      create_layer("linear", {{"in", 8}, {"out", 2}})});
      args.loss = create_layer("cross_entropy");
      args.optimizer = gom::create_optimizer("sgd", args.model->parameters(),
                                             {{"lr", 0.1}, {"momentum", 0.9}});
      args.train = &train;
      time_groups(args, train, "xor", epochs, rounds);
    }
    {
      auto data = gom::create_dataset(
          "csv", {{"path", csv}, {"target", "30"}, {"task", "classification"},
                  {"header", false}, {"skip_rows", 1}, {"split", "train"}});
      gom::DataLoader train(
          data, {.batch_size = 64, .shuffle = true, .drop_last = true, .seed = 1, .prefetch = 0});
      gom::FitArgs args;
      args.model = bench::sequential(
          {create_layer("tabular_embedding", {{"n_cont", 30}}),
           create_layer("linear", {{"in", 30}, {"out", 200}, {"bias", false}}),
           create_layer("relu"), create_layer("batchnorm1d", {{"num_features", 200}}),
           create_layer("linear", {{"in", 200}, {"out", 100}, {"bias", false}}),
           create_layer("relu"), create_layer("batchnorm1d", {{"num_features", 100}}),
           create_layer("linear", {{"in", 100}, {"out", 2}})});
      args.loss = create_layer("cross_entropy");
      args.optimizer = gom::create_optimizer("adamw", args.model->parameters(),
                                             {{"lr", 1e-2}, {"weight_decay", 0.01}});
      args.train = &train;
      time_groups(args, train, "tabular", epochs, rounds);
    }
    return 0;
  });
}
