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
// timed passes, the median pass's samples/s. --backend cuda runs both on the GPU: the model moved
// there (Module::to), the loaders' batches put there (LoaderOptions::device), the clock read after
// the device has finished (exit code 77 where no CUDA device can be used).

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_fit.h"
#include "gom/gom.h"
#include "gom_core/data_loader.h"
#include "gom_core/trainer.h"

namespace {

constexpr const char* kUsage =
    "usage: gom_cnn_train_bench [--threads N] [--epochs N] [--limit N] [--infer-batch N] "
    "[--dir D] [--backend B]\n"
    "  --threads N   compute threads (default 2; 0: gom's default, the free cores)\n"
    "  --epochs N    timed epochs (and inference passes) after a warm-up (default 3)\n"
    "  --limit N     train on the first N training images (default 12800; 0: all)\n"
    "  --infer-batch N  inference batch size (default 128)\n"
    "  --dir D       folder of the Fashion-MNIST IDX .gz files (default "
    "/usr/share/datasets/fashion-mnist)\n"
    "  --backend B   onednn (the CPU, default) or cuda (exit code 77 without a CUDA device)\n";

// conv2d `in`->`out`, 3x3, padding 1 (keeps 28x28 and 14x14).
std::shared_ptr<gom::Module> conv3x3(int64_t in, int64_t out) {
  return gom::create_layer("conv2d", {{"in", in}, {"out", out}, {"kernel", 3}, {"padding", 1}});
}

// One inference pass over `infer`: its seconds and the accuracy (a sanity check). The count of
// right answers stays on the model's device until the pass ends, so that a device that queues
// work (CUDA) is not made to wait for the host at every batch; the clock is read once the device
// has finished.
std::pair<double, double> infer_pass(gom::Module& model, gom::DataLoader& infer) {
  const gom::Device device = model.device();
  gom::Tensor correct;
  infer.begin_epoch(0);
  gom::Batch b;
  gom::synchronize(device);
  const auto t0 = bench::Clock::now();
  while (infer.next(b)) {
    const gom::Tensor pred = gom::argmax(model.forward(b.input), 1);
    const gom::Tensor right = gom::sum(gom::eq(pred, b.target).to(gom::DType::F32));
    correct = correct.defined() ? gom::add(correct, right) : right;
  }
  const double count = correct.defined() ? correct.item() : 0.0;  // exact: below 2^24
  gom::synchronize(device);
  return {bench::since(t0), count / double(infer.num_samples())};
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, epochs = 3;
  int64_t limit = 12800, infer_batch = 128;
  std::string dir = "/usr/share/datasets/fashion-mnist", backend;
  bench::parse_flags(argc, argv, "gom_cnn_train_bench", kUsage,
                     {{"--threads", &threads, 0},
                      {"--epochs", &epochs, 1},
                      {"--limit", &limit, 0},
                      {"--infer-batch", &infer_batch, 1},
                      {"--dir", &dir},
                      {"--backend", &backend}});
  return bench::guarded_main("gom_cnn_train_bench", [&] {
    bench::start_gom(threads);
    const gom::Device device = bench::device_for_backend("gom_cnn_train_bench", backend);

    auto data = gom::create_dataset("idx", {{"dir", dir},
                                            {"split", "train"},
                                            {"valid_fraction", 0.0},
                                            {"limit", limit},
                                            {"normalize", "unit"}});
    auto test =
        gom::create_dataset("idx", {{"dir", dir}, {"split", "test"}, {"normalize", "unit"}});
    gom::DataLoader train(data, {.batch_size = 128, .shuffle = true, .seed = 1, .device = device});
    gom::DataLoader infer(test, {.batch_size = infer_batch, .shuffle = false, .device = device});
    using gom::create_layer;
    gom::FitArgs args = bench::adam_cross_entropy(
        bench::sequential(
            {conv3x3(1, 32), create_layer("relu"), create_layer("maxpool2d", {{"kernel", 2}}),
             conv3x3(32, 64), create_layer("relu"), create_layer("maxpool2d", {{"kernel", 2}}),
             create_layer("flatten"), create_layer("linear", {{"in", 3136}, {"out", 128}}),
             create_layer("relu"), create_layer("linear", {{"in", 128}, {"out", 10}})}),
        1e-3, device);
    args.train = &train;

    fmt::print("gom_cnn_train_bench: {}; batch 128, threads {}, 1 warm-up + {} epochs{}\n",
               data->describe(), threads, epochs, bench::on_device(device));
    fmt::print("backend: {}\n", bench::device_line(device));
    bench::print_machine();
    bench::train_median_epochs(args, train.num_samples(), "cnn", epochs);

    // Inference: eval mode, no graph, the whole test set per pass, one untimed pass first.
    args.model->eval();
    gom::NoGrad no_grad;
    infer_pass(*args.model, infer);
    std::vector<double> times;
    double accuracy = 0;
    for (int e = 0; e < epochs; ++e) {
      const auto [secs, acc] = infer_pass(*args.model, infer);
      times.push_back(secs);
      accuracy = acc;
    }
    const double m = double(infer.num_samples());
    fmt::print(
        "cnn inference{}: gom {:.0f} samples/s (median of {} passes over {} test images, "
        "batch {}; accuracy {:.4f})\n",
        bench::device_tag(device), m / bench::median(times), times.size(), infer.num_samples(),
        infer_batch, accuracy);
    return 0;
  });
}
