// gom_mlp_train_bench — training throughput of the Fashion-MNIST MLP through the code path a user
// runs: gom::init(), the `idx` dataset plugin (flattened, pixels scaled to [0, 1], all 60000
// training images), the core DataLoader (shuffled, seeded, prefetching), layers from the layer
// registry (sequential of linear 784->256, relu, linear 256->256, relu, linear 256->10), the
// cross_entropy loss layer, the adam optimizer plugin (lr 1e-3) and the trainer's gom::fit
// (no validation set, no metric sink, no callbacks).
//
// Protocol (bench/torch_mlp_train.py does the same in PyTorch): the data is loaded into memory
// before timing; one untimed warm-up epoch; then whole epochs, each one call of gom::fit for that
// single epoch (its own shuffle), until --epochs timed epochs are done or --seconds of them have
// passed, whichever comes first (at least one). samples/s is the median over the timed epochs of
// samples / epoch seconds (a median, since other work on the machine only ever slows an epoch
// down); the slowest and fastest epoch are printed too.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gom/gom.h"
#include "gom_core/data_loader.h"
#include "gom_core/trainer.h"

namespace {

struct Options {
  int threads = 2;
  int epochs = 5;
  double seconds = 1e9;  // no time limit unless given
  std::string dir = "/usr/share/datasets/fashion-mnist";
};

[[noreturn]] void usage(int rc) {
  std::fprintf(rc ? stderr : stdout,
               "usage: gom_mlp_train_bench [--threads N] [--epochs N] [--seconds S] [--dir D]\n"
               "  --threads N   compute threads (default 2)\n"
               "  --epochs N    timed epochs after one warm-up epoch (default 5)\n"
               "  --seconds S   stop timing after the epoch that passes S seconds (default: "
               "no limit)\n"
               "  --dir D       folder of the Fashion-MNIST IDX .gz files (default "
               "/usr/share/datasets/fashion-mnist)\n");
  std::exit(rc);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") usage(0);
    const auto eq = arg.find('=');
    const std::string name(arg.substr(0, eq));
    if (name != "--threads" && name != "--epochs" && name != "--seconds" && name != "--dir") {
      std::fprintf(stderr, "gom_mlp_train_bench: unknown option '%s'\n", name.c_str());
      usage(2);
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "gom_mlp_train_bench: %s needs a value\n", name.c_str());
      usage(2);
    }
    try {
      size_t used = value.size();
      if (name == "--threads")
        o.threads = std::stoi(value, &used);
      else if (name == "--epochs")
        o.epochs = std::stoi(value, &used);
      else if (name == "--seconds")
        o.seconds = std::stod(value, &used);
      else
        o.dir = value;
      if (used != value.size()) throw std::invalid_argument(value);
    } catch (const std::logic_error&) {
      std::fprintf(stderr, "gom_mlp_train_bench: bad value '%s' for %s\n", value.c_str(),
                   name.c_str());
      usage(2);
    }
  }
  if (o.threads < 1 || o.epochs < 1 || !(o.seconds > 0)) {
    std::fprintf(stderr,
                 "gom_mlp_train_bench: --threads and --epochs must be >= 1, --seconds > 0\n");
    usage(2);
  }
  return o;
}

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The 1-minute load average (Linux), or a negative number when unknown.
double load_average() {
  std::ifstream f("/proc/loadavg");
  double l = -1;
  if (!(f >> l)) l = -1;
  return l;
}

std::shared_ptr<gom::Module> make_model() {
  auto seq = std::dynamic_pointer_cast<gom::Sequential>(gom::create_layer("sequential"));
  if (!seq) throw gom::Error("layer 'sequential' is not a gom::Sequential");
  seq->add(gom::create_layer("linear", {{"in", 784}, {"out", 256}}))
      ->add(gom::create_layer("relu"))
      ->add(gom::create_layer("linear", {{"in", 256}, {"out", 256}}))
      ->add(gom::create_layer("relu"))
      ->add(gom::create_layer("linear", {{"in", 256}, {"out", 10}}));
  return seq;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  try {
    gom::init();
    gom::set_num_threads(opt.threads);
    gom::manual_seed(0);

    auto data = gom::create_dataset("idx", {{"dir", opt.dir},
                                            {"split", "train"},
                                            {"valid_fraction", 0.0},
                                            {"flatten", true},
                                            {"normalize", "unit"}});
    gom::DataLoader train(data, {.batch_size = 128, .shuffle = true, .seed = 1});
    gom::FitArgs args;
    args.model = make_model();
    args.loss = gom::create_layer("cross_entropy");
    args.optimizer = gom::create_optimizer("adam", args.model->parameters(), {{"lr", 1e-3}});
    args.train = &train;

    const gom::BackendInfo* backend = gom::find_backend(gom::DeviceType::CPU);
    fmt::print("gom_mlp_train_bench: {}; batch 128, threads {}, 1 warm-up + up to {} epochs\n",
               data->describe(), opt.threads, opt.epochs);
    fmt::print("backend: {}\n", backend ? backend->name + " — " + backend->description : "?");
    const double load = load_average();
    const unsigned cpus = std::thread::hardware_concurrency();
    if (load >= 0)
      fmt::print("machine: {} CPUs, 1-min load average {:.2f}{}\n", cpus, load,
                 load > cpus ? " (busy: other work competes for the CPUs; timings are noisy)" : "");

    // One gom::fit per epoch: epoch e with its own shuffle (first_epoch = e, epochs = e + 1).
    auto run_epoch = [&](int64_t e) {
      args.first_epoch = e;
      args.epochs = e + 1;
      const auto t0 = Clock::now();
      const gom::FitResult r = gom::fit(args);
      const double secs = since(t0);
      const auto loss = r.final_metrics.find("train_loss");
      return std::pair{secs, loss == r.final_metrics.end() ? 0.0 : loss->second};
    };
    const auto [warm_secs, warm_loss] = run_epoch(0);
    fmt::print("warm-up epoch: {:.2f} s, train_loss {:.4f}\n", warm_secs, warm_loss);

    std::vector<double> times;
    double total = 0;
    for (int e = 1; e <= opt.epochs && (times.empty() || total < opt.seconds); ++e) {
      const auto [secs, loss] = run_epoch(e);
      times.push_back(secs);
      total += secs;
      fmt::print("epoch {}: {:.3f} s, {:.0f} samples/s, train_loss {:.4f}\n", e, secs,
                 double(train.num_samples()) / secs, loss);
    }
    const double n = double(train.num_samples());
    std::sort(times.begin(), times.end());
    const size_t k = times.size();
    const double median = k % 2 ? times[k / 2] : (times[k / 2 - 1] + times[k / 2]) / 2;
    fmt::print(
        "mlp train: gom {:.0f} samples/s (median of {} epochs of {} samples, {:.0f}..{:.0f})\n",
        n / median, k, train.num_samples(), n / times.back(), n / times.front());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gom_mlp_train_bench: error: %s\n", e.what());
    return 1;
  }
}
