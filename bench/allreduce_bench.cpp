// allreduce_bench — what the gradients' all-reduce of data-parallel training costs alone, for
// the gradients of the flagship models (gom_core/data_parallel.h: buckets of 4 MB through MPI on
// the host), without the training around it. Run under mpirun; rank 0 prints.
//   mpirun -np 2 build/bench/gom_allreduce_bench [--model mlp|cnn|lstm] [--reps N]
// Each repetition starts after a barrier, so a rank's wait for a slower one is not counted (in a
// fit it is: dist.allreduce_mpi_seconds). The bytes are a ring all-reduce's per rank,
// 2 (N - 1) / N x the buffer.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "bench_common.h"
#include "gom/gom.h"
#include "gom_core/data_parallel.h"
#include "gom_core/distributed.h"

namespace {

const char* kUsage =
    "usage: mpirun -np N gom_allreduce_bench [--model mlp|cnn|lstm] [--reps N]\n"
    "  mlp: Fashion-MNIST MLP 784-256-256-10 (experiments/fashion_mlp.lua)\n"
    "  cnn: the stride-2 CNN of experiments/fashion_cnn.lua (width 16)\n"
    "  lstm: the char-LSTM of experiments/char_lstm.lua (65 characters)\n";

// The parameter shapes of each model, in its parameters' order.
std::vector<gom::Shape> shapes_of(const std::string& model) {
  if (model == "mlp") return {{256, 784}, {256}, {256, 256}, {256}, {10, 256}, {10}};
  if (model == "lstm") return {{65, 64}, {1024, 64}, {1024, 256}, {1024}, {1024}, {65, 256}, {65}};
  if (model == "cnn") {
    std::vector<gom::Shape> s;
    const int64_t w = 16;
    const int64_t in[] = {1, w, 2 * w, 4 * w, 8 * w}, out[] = {w, 2 * w, 4 * w, 8 * w, 10},
                  k[] = {5, 3, 3, 3, 3};
    for (int i = 0; i < 5; ++i)  // conv weight and bias, then batch norm's weight and bias
      for (const gom::Shape& p :
           std::vector<gom::Shape>{{out[i], in[i], k[i], k[i]}, {out[i]}, {out[i]}, {out[i]}})
        s.push_back(p);
    return s;
  }
  throw gom::Error("--model " + model + ": expected mlp, cnn or lstm");
}

}  // namespace

int main(int argc, char** argv) {
  const gom::dist::World& world = gom::dist::init();
  std::string model = "mlp";
  int reps = 200;
  bench::parse_flags(argc, argv, "gom_allreduce_bench", kUsage,
                     {{"--model", &model}, {"--reps", &reps, 1}});
  try {
    gom::init();
    std::vector<gom::Tensor> params;
    int64_t numel = 0;
    for (const gom::Shape& s : shapes_of(model)) {
      gom::Tensor p = gom::zeros(s);
      p.requires_grad_();
      p.set_grad(gom::randn(s));
      params.push_back(p);
      numel += p.numel();
    }
    gom::dp::GradientSync sync;
    std::vector<double> seconds;
    for (int i = 0; i < reps + 10; ++i) {
      gom::dist::barrier();
      const auto t0 = std::chrono::steady_clock::now();
      sync.all_reduce(params);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (i >= 10) seconds.push_back(s);  // after a warm-up
    }
    std::sort(seconds.begin(), seconds.end());
    const int64_t buffer = gom::dp::gradient_buffer_bytes(params);
    const int64_t sent = gom::dp::ring_bytes_per_rank(buffer, world.size);
    const double median = seconds[seconds.size() / 2];
    if (world.rank == 0)
      fmt::print(
          "allreduce {}: {} ranks, {} parameters, buffer {} bytes, ring {} bytes per rank; median "
          "{:.1f} us per step (min {:.1f}), {:.2f} GB/s per rank\n",
          model, world.size, numel, buffer, sent, median * 1e6, seconds.front() * 1e6,
          median > 0 ? double(sent) / median / 1e9 : 0.0);
  } catch (const std::exception& e) {
    fmt::print(stderr, "gom_allreduce_bench: {}\n", e.what());
    gom::dist::abort_job(1);
  }
  gom::dist::finalize();
  return 0;
}
