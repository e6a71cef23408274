// gom_mlp_train_bench — training throughput of the Fashion-MNIST MLP through the code path a user
// runs: gom::init(), the `idx` dataset plugin (flattened, pixels scaled to [0, 1], all 60000
// training images), the core DataLoader (shuffled, seeded, prefetching), layers from the layer
// registry (sequential of linear 784->256, relu, linear 256->256, relu, linear 256->10), the
// cross_entropy loss layer, the adam optimizer plugin (lr 1e-3) and the trainer's gom::fit
// (no validation set, no metric sink, no callbacks). --backend cuda trains on the GPU: the model
// moved there (Module::to), the loader's batches put there (LoaderOptions::device), the clock read
// after the device has finished (exit code 77 where no CUDA device can be used).
//
// Protocol (bench/torch_mlp_train.py does the same in PyTorch): the data is loaded into memory
// before timing; one untimed warm-up epoch; then whole epochs, each one call of gom::fit for that
// single epoch (its own shuffle), until --epochs timed epochs are done or --seconds of them have
// passed, whichever comes first (at least one). samples/s is the median over the timed epochs of
// samples / epoch seconds (a median, since other work on the machine only ever slows an epoch
// down); the slowest and fastest epoch are printed too.

#include <fmt/format.h>

#include <string>

#include "bench_fit.h"
#include "gom/gom.h"
#include "gom_core/data_loader.h"
#include "gom_core/trainer.h"

namespace {

constexpr const char* kUsage =
    "usage: gom_mlp_train_bench [--threads N] [--epochs N] [--seconds S] [--dir D] [--backend B]\n"
    "  --threads N   compute threads (default 2; 0: gom's default, the free cores)\n"
    "  --epochs N    timed epochs after one warm-up epoch (default 5)\n"
    "  --seconds S   stop timing after the epoch that passes S seconds (default: no limit)\n"
    "  --dir D       folder of the Fashion-MNIST IDX .gz files (default "
    "/usr/share/datasets/fashion-mnist)\n"
    "  --backend B   onednn (the CPU, default) or cuda (exit code 77 without a CUDA device)\n";

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, epochs = 5;
  double seconds = 1e9;  // no time limit unless given
  std::string dir = "/usr/share/datasets/fashion-mnist", backend;
  bench::parse_flags(argc, argv, "gom_mlp_train_bench", kUsage,
                     {{"--threads", &threads, 0},
                      {"--epochs", &epochs, 1},
                      {"--seconds", &seconds, 0, true},
                      {"--dir", &dir},
                      {"--backend", &backend}});
  return bench::guarded_main("gom_mlp_train_bench", [&] {
    bench::start_gom(threads);
    const gom::Device device = bench::device_for_backend("gom_mlp_train_bench", backend);

    auto data = gom::create_dataset("idx", {{"dir", dir},
                                            {"split", "train"},
                                            {"valid_fraction", 0.0},
                                            {"flatten", true},
                                            {"normalize", "unit"}});
    gom::DataLoader train(data, {.batch_size = 128, .shuffle = true, .seed = 1, .device = device});
    using gom::create_layer;
    gom::FitArgs args = bench::adam_cross_entropy(
        bench::sequential(
            {create_layer("linear", {{"in", 784}, {"out", 256}}), create_layer("relu"),
             create_layer("linear", {{"in", 256}, {"out", 256}}), create_layer("relu"),
             create_layer("linear", {{"in", 256}, {"out", 10}})}),
        1e-3, device);
    args.train = &train;

    fmt::print("gom_mlp_train_bench: {}; batch 128, threads {}, 1 warm-up + up to {} epochs{}\n",
               data->describe(), threads, epochs, bench::on_device(device));
    fmt::print("backend: {}\n", bench::device_line(device));
    bench::print_machine();
    bench::train_median_epochs(args, train.num_samples(), "mlp", epochs, seconds);
    return 0;
  });
}
