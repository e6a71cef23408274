// gom_cnn_train_bench — training and inference throughput of a small Fashion-MNIST CNN through
// the code path a user runs: gom::init(), the `idx` dataset plugin ([B, 1, 28, 28], pixels
// scaled to [0, 1]), the core DataLoader (shuffled, seeded, prefetching), layers from the layer
// registry (sequential of conv2d 1->32 3x3 pad 1, relu, maxpool2d 2, conv2d 32->64 3x3 pad 1,
// relu, maxpool2d 2, flatten, linear 3136->128, relu, linear 128->10), the cross_entropy loss
// layer, the adam optimizer plugin (lr 1e-3) and the trainer's gom::fit.
//
// Protocol (bench/torch_cnn_train.py does the same in PyTorch): training on the first --limit
// training images (default 12800, 100 batches of 128; 0: all 60000), one untimed warm-up epoch,
// then --epochs timed epochs, each one gom::fit call; samples/s is the median epoch's (other work
// on the machine only ever slows an epoch down). Inference: the model in eval mode under NoGrad
// over the 10000 test images in batches of --infer-batch (128), one untimed pass then --epochs
// timed passes, the median pass's samples/s.

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
  int epochs = 3;
  int64_t limit = 12800;
  int64_t infer_batch = 128;
  std::string dir = "/usr/share/datasets/fashion-mnist";
};

[[noreturn]] void usage(int rc) {
  std::fprintf(
      rc ? stderr : stdout,
      "usage: gom_cnn_train_bench [--threads N] [--epochs N] [--limit N] [--infer-batch N] "
      "[--dir D]\n"
      "  --threads N   compute threads (default 2)\n"
      "  --epochs N    timed epochs (and inference passes) after a warm-up (default 3)\n"
      "  --limit N     train on the first N training images (default 12800; 0: all)\n"
      "  --infer-batch N  inference batch size (default 128)\n"
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
    if (name != "--threads" && name != "--epochs" && name != "--limit" && name != "--infer-batch" &&
        name != "--dir") {
      std::fprintf(stderr, "gom_cnn_train_bench: unknown option '%s'\n", name.c_str());
      usage(2);
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "gom_cnn_train_bench: %s needs a value\n", name.c_str());
      usage(2);
    }
    try {
      size_t used = value.size();
      if (name == "--threads")
        o.threads = std::stoi(value, &used);
      else if (name == "--epochs")
        o.epochs = std::stoi(value, &used);
      else if (name == "--limit")
        o.limit = std::stoll(value, &used);
      else if (name == "--infer-batch")
        o.infer_batch = std::stoll(value, &used);
      else
        o.dir = value;
      if (used != value.size()) throw std::invalid_argument(value);
    } catch (const std::logic_error&) {
      std::fprintf(stderr, "gom_cnn_train_bench: bad value '%s' for %s\n", value.c_str(),
                   name.c_str());
      usage(2);
    }
  }
  if (o.threads < 1 || o.epochs < 1 || o.limit < 0 || o.infer_batch < 1) {
    std::fprintf(
        stderr,
        "gom_cnn_train_bench: --threads, --epochs, --infer-batch must be >= 1, --limit >= 0\n");
    usage(2);
  }
  return o;
}

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t k = v.size();
  return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

std::shared_ptr<gom::Module> make_model() {
  using gom::create_layer;
  auto seq = std::dynamic_pointer_cast<gom::Sequential>(create_layer("sequential"));
  if (!seq) throw gom::Error("layer 'sequential' is not a gom::Sequential");
  seq->add(create_layer("conv2d", {{"in", 1}, {"out", 32}, {"kernel", 3}, {"padding", 1}}))
      ->add(create_layer("relu"))
      ->add(create_layer("maxpool2d", {{"kernel", 2}}))
      ->add(create_layer("conv2d", {{"in", 32}, {"out", 64}, {"kernel", 3}, {"padding", 1}}))
      ->add(create_layer("relu"))
      ->add(create_layer("maxpool2d", {{"kernel", 2}}))
      ->add(create_layer("flatten"))
      ->add(create_layer("linear", {{"in", 3136}, {"out", 128}}))
      ->add(create_layer("relu"))
      ->add(create_layer("linear", {{"in", 128}, {"out", 10}}));
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
                                            {"limit", opt.limit},
                                            {"normalize", "unit"}});
    auto test =
        gom::create_dataset("idx", {{"dir", opt.dir}, {"split", "test"}, {"normalize", "unit"}});
    gom::DataLoader train(data, {.batch_size = 128, .shuffle = true, .seed = 1});
    gom::DataLoader infer(test, {.batch_size = opt.infer_batch, .shuffle = false});
    gom::FitArgs args;
    args.model = make_model();
    args.loss = gom::create_layer("cross_entropy");
    args.optimizer = gom::create_optimizer("adam", args.model->parameters(), {{"lr", 1e-3}});
    args.train = &train;

    const gom::BackendInfo* backend = gom::find_backend(gom::DeviceType::CPU);
    fmt::print("gom_cnn_train_bench: {}; batch 128, threads {}, 1 warm-up + {} epochs\n",
               data->describe(), opt.threads, opt.epochs);
    fmt::print("backend: {}\n", backend ? backend->name + " — " + backend->description : "?");
    std::ifstream loadavg("/proc/loadavg");
    double load = -1;
    if (loadavg >> load)
      fmt::print("machine: {} CPUs, 1-min load average {:.2f}\n",
                 std::thread::hardware_concurrency(), load);

    auto run_epoch = [&](int64_t e) {
      args.first_epoch = e;
      args.epochs = e + 1;
      const auto t0 = Clock::now();
      const gom::FitResult r = gom::fit(args);
      const auto loss = r.final_metrics.find("train_loss");
      return std::pair{since(t0), loss == r.final_metrics.end() ? 0.0 : loss->second};
    };
    const double n = double(train.num_samples());
    const auto [warm_secs, warm_loss] = run_epoch(0);
    fmt::print("warm-up epoch: {:.2f} s, train_loss {:.4f}\n", warm_secs, warm_loss);
    std::vector<double> times;
    for (int e = 1; e <= opt.epochs; ++e) {
      const auto [secs, loss] = run_epoch(e);
      times.push_back(secs);
      fmt::print("epoch {}: {:.3f} s, {:.0f} samples/s, train_loss {:.4f}\n", e, secs, n / secs,
                 loss);
    }
    const auto [lo, hi] = std::minmax_element(times.begin(), times.end());
    fmt::print(
        "cnn train: gom {:.0f} samples/s (median of {} epochs of {} samples, {:.0f}..{:.0f})\n",
        n / median(times), times.size(), train.num_samples(), n / *hi, n / *lo);

    // Inference: eval mode, no graph, the whole test set per pass; accuracy as a sanity check.
    args.model->eval();
    gom::NoGrad no_grad;
    auto pass = [&] {
      int64_t correct = 0;
      infer.begin_epoch(0);
      gom::Batch b;
      const auto t0 = Clock::now();
      while (infer.next(b)) {
        const gom::Tensor pred = gom::argmax(args.model->forward(b.input), 1);
        correct += int64_t(gom::sum(gom::eq(pred, b.target).to(gom::DType::F32)).item());
      }
      return std::pair{since(t0), double(correct) / double(infer.num_samples())};
    };
    pass();
    std::vector<double> ptimes;
    double accuracy = 0;
    for (int e = 0; e < opt.epochs; ++e) {
      const auto [secs, acc] = pass();
      ptimes.push_back(secs);
      accuracy = acc;
    }
    const double m = double(infer.num_samples());
    fmt::print(
        "cnn inference: gom {:.0f} samples/s (median of {} passes over {} test images, "
        "batch {}; accuracy {:.4f})\n",
        m / median(ptimes), ptimes.size(), infer.num_samples(), opt.infer_batch, accuracy);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gom_cnn_train_bench: error: %s\n", e.what());
    return 1;
  }
}
