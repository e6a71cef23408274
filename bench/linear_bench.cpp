// gom_linear_bench — forward+backward of gom::linear at the Fashion-MNIST MLP sizes, against
// oneDNN's sgemm on exactly the same GEMMs in the same process.
//
// Per layer (batch B, weight [out, in]) one iteration is
//   forward  Y  = X·Wᵀ      sgemm('N','T', B, out, in)     2·B·in·out FLOP
//   backward dX = dY·W      sgemm('N','N', B, in, out)     2·B·in·out FLOP
//            dW = dYᵀ·X     sgemm('T','N', out, in, B)     2·B·in·out FLOP
// The bias (B·out adds forward, a B·out reduction backward) is left out of the FLOP count and
// out of the sgemm baseline: it is under 0.5% of the work at these sizes. gom's time is
// everything a training step pays: op dispatch, output allocation, autograd recording and the
// backward walk; sgemm's is the bare GEMMs into preallocated buffers.
//
// Each measurement: a warm-up, a calibration of the iterations per repetition (~--seconds each),
// then --reps repetitions; the median time per iteration is reported.
//
// --backend cuda runs gom's side on the GPU (its time taken once the device has finished) against
// the same CPU sgemm, as a rough figure; bench/cuda_linear_bench.cpp sets it beside cuBLAS.
// Exit code 77 where no CUDA device can be used.

#include <fmt/format.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench_common.h"
#include "gom/gom.h"

namespace {

constexpr int64_t kBatch = 128;

struct LayerShape {
  int64_t in, out;
};
const std::vector<LayerShape> kLayers = {{784, 256}, {256, 256}, {256, 10}};

struct Options {
  int threads = 2;
  int reps = 7;
  double seconds = 0.3;
  std::string backend;  // empty: the CPU
};

constexpr const char* kUsage =
    "usage: gom_linear_bench [--threads N] [--reps N] [--seconds S] [--backend B]\n"
    "  --threads N   compute threads for gom and for oneDNN's sgemm (default 2)\n"
    "  --reps N      timed repetitions per measurement; the median is reported (default 7)\n"
    "  --seconds S   approximate length of one repetition (default 0.3)\n"
    "  --backend B   onednn (the CPU, default) or cuda for gom's side (exit code 77 without a "
    "CUDA device)\n";

using bench::Clock;
using bench::since;

struct Timing {
  double median = 0;  // seconds per iteration
  double spread = 0;  // (max - min) / median over the repetitions
};

// Times `step` (one iteration); `sync` waits for queued device work (a no-op on the CPU).
Timing measure(const std::function<void()>& step, const std::function<void()>& sync,
               const Options& o) {
  // Warm-up: first-call costs (primitive creation, allocator cache, page faults).
  auto t0 = Clock::now();
  for (int n = 0; n < 3 || since(t0) < std::min(0.2, o.seconds); ++n) step();
  sync();
  // Calibration: iterations per repetition.
  int64_t n = 0;
  t0 = Clock::now();
  do {
    step();
    ++n;
  } while (since(t0) < std::min(0.05, o.seconds / 4));
  sync();
  const double per = since(t0) / static_cast<double>(n);
  const int64_t iters = std::max<int64_t>(1, std::llround(o.seconds / per));

  std::vector<double> times;
  for (int r = 0; r < o.reps; ++r) {
    t0 = Clock::now();
    for (int64_t i = 0; i < iters; ++i) step();
    sync();
    times.push_back(since(t0) / static_cast<double>(iters));
  }
  std::sort(times.begin(), times.end());
  Timing t;
  t.median = times[times.size() / 2];
  t.spread = (times.back() - times.front()) / t.median;
  return t;
}

double layer_flop(const LayerShape& l) {
  return 6.0 * kBatch * l.in * l.out;
}

// ---------------------------------------------------------------- oneDNN sgemm baseline
void sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc) {
  const dnnl_status_t st = dnnl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
  if (st != dnnl_success)
    throw gom::Error(fmt::format("dnnl_sgemm failed with status {}", static_cast<int>(st)));
}

// Row-major buffers of the whole stack: activations a[0..L], their gradients g[0..L],
// weights w[0..L-1] and weight gradients dw[0..L-1].
struct SgemmStack {
  std::vector<std::vector<float>> a, g, w, dw;

  explicit SgemmStack(const std::vector<gom::Tensor>& x_w) {
    // x_w: the input then each layer's weight, copied so both sides multiply the same numbers.
    a.push_back(x_w[0].to_vector<float>());
    g.emplace_back(static_cast<size_t>(kBatch * kLayers[0].in));
    for (size_t i = 0; i < kLayers.size(); ++i) {
      const auto [in, out] = kLayers[i];
      w.push_back(x_w[i + 1].to_vector<float>());
      dw.emplace_back(static_cast<size_t>(out * in));
      a.emplace_back(static_cast<size_t>(kBatch * out));
      g.emplace_back(static_cast<size_t>(kBatch * out), 0.01f);
    }
  }
  void forward(size_t i) {
    const auto [in, out] = kLayers[i];
    sgemm('N', 'T', kBatch, out, in, a[i].data(), in, w[i].data(), in, a[i + 1].data(), out);
  }
  void backward(size_t i) {
    const auto [in, out] = kLayers[i];
    sgemm('N', 'N', kBatch, in, out, g[i + 1].data(), out, w[i].data(), in, g[i].data(), in);
    sgemm('T', 'N', out, in, kBatch, g[i + 1].data(), out, a[i].data(), in, dw[i].data(), in);
  }
};

// ---------------------------------------------------------------- correctness check
double max_rel_err(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, scale = 1e-6;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, static_cast<double>(std::fabs(got[i] - want[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
  }
  return err / scale;
}

// gom's Y (bias zero), dX and dW of one layer against sgemm's on the same inputs (to_vector
// copies them from gom's device).
void check_layer(size_t i, const gom::Tensor& x, const gom::Tensor& w, const gom::Tensor& b,
                 const gom::Tensor& gy, SgemmStack& ref) {
  x.zero_grad();
  w.zero_grad();
  b.zero_grad();
  gom::Tensor y = gom::linear(x, w, b);
  y.backward(gy);
  ref.a[i] = x.to_vector<float>();
  ref.w[i] = w.to_vector<float>();
  ref.g[i + 1] = gy.to_vector<float>();
  ref.forward(i);
  ref.backward(i);
  const double err = std::max({max_rel_err(y.to_vector<float>(), ref.a[i + 1]),
                               max_rel_err(x.grad().to_vector<float>(), ref.g[i]),
                               max_rel_err(w.grad().to_vector<float>(), ref.dw[i])});
  if (!(err < 1e-4))
    throw gom::Error(
        fmt::format("layer {}->{}: gom's linear differs from sgemm (max relative "
                    "error {:.3g})",
                    kLayers[i].in, kLayers[i].out, err));
}

struct Row {
  std::string name;
  double flop;
  Timing gom, ref;
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  bench::parse_flags(argc, argv, "gom_linear_bench", kUsage,
                     {{"--threads", &opt.threads, 1},
                      {"--reps", &opt.reps, 1},
                      {"--seconds", &opt.seconds, 0, true},
                      {"--backend", &opt.backend}});
  return bench::guarded_main("gom_linear_bench", [&] {
    bench::start_gom(opt.threads);
    const gom::Device device = bench::device_for_backend("gom_linear_bench", opt.backend);
    omp_set_num_threads(opt.threads);  // dnnl_sgemm runs on OpenMP in this process

    const gom::BackendInfo* backend = gom::find_backend(device.type);
    const std::function<void()> sync = [device] { gom::synchronize(device); };
    const dnnl_version_t* v = dnnl_version();
    fmt::print(
        "gom_linear_bench: batch {}, threads {} (OpenMP max {}), {} reps x ~{} s, median{}\n",
        kBatch, opt.threads, omp_get_max_threads(), opt.reps, opt.seconds,
        bench::on_device(device));
    fmt::print("backend: {}{}\n", bench::backend_line(backend),
               backend && backend->device_name ? " on " + backend->device_name(device.index) : "");
    bench::print_machine();
    fmt::print("baseline: oneDNN {}.{}.{} dnnl_sgemm (cpu runtime {})\n", v->major, v->minor,
               v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");

    const bench::LinearStack stack_tensors(kLayers, kBatch, device);
    const auto& [xs, ws, bs, gys] = stack_tensors;
    const size_t L = kLayers.size();

    // sgemm buffers: the stack's input and weights are the same numbers gom multiplies.
    std::vector<gom::Tensor> x_w{xs[0]};
    x_w.insert(x_w.end(), ws.begin(), ws.end());
    SgemmStack ref(x_w);
    {
      SgemmStack check = ref;
      for (size_t i = 0; i < L; ++i) {
        gom::Tensor zero_b = gom::zeros({kLayers[i].out}, {gom::DType::F32, device});
        zero_b.requires_grad_();
        check_layer(i, xs[i], ws[i], zero_b, gys[i], check);
      }
    }

    std::vector<Row> rows;
    double total_flop = 0;
    for (size_t i = 0; i < L; ++i) {
      Row r{fmt::format("{}->{}", kLayers[i].in, kLayers[i].out), layer_flop(kLayers[i]), {}, {}};
      total_flop += r.flop;
      r.gom = measure([&stack_tensors, i] { stack_tensors.layer_step(i); }, sync, opt);
      r.ref = measure(
          [&ref, i] {
            ref.forward(i);
            ref.backward(i);
          },
          [] {}, opt);
      rows.push_back(std::move(r));
    }

    // The whole stack, chained: x -> linear -> linear -> linear, backward from the top.
    Row stack{"stack", total_flop, {}, {}};
    stack.gom = measure([&stack_tensors] { stack_tensors.stack_step(); }, sync, opt);
    stack.ref = measure(
        [&ref, L] {
          for (size_t i = 0; i < L; ++i) ref.forward(i);
          for (size_t i = L; i-- > 0;) ref.backward(i);
        },
        [] {}, opt);
    rows.push_back(stack);

    auto gflops = [](double flop, const Timing& t) { return flop / t.median * 1e-9; };
    fmt::print("\n{:<9} {:>8} {:>10} {:>10} {:>10} {:>10} {:>7}\n", "layer", "MFLOP", "gom us",
               "gom GF/s", "sgemm us", "sgemm GF/s", "ratio");
    double worst_spread = 0;
    for (const Row& r : rows) {
      fmt::print("{:<9} {:>8.1f} {:>10.1f} {:>10.2f} {:>10.1f} {:>10.2f} {:>7.3f}\n", r.name,
                 r.flop * 1e-6, r.gom.median * 1e6, gflops(r.flop, r.gom), r.ref.median * 1e6,
                 gflops(r.flop, r.ref), r.ref.median / r.gom.median);
      worst_spread = std::max({worst_spread, r.gom.spread, r.ref.spread});
    }
    fmt::print(
        "FLOP = 6*B*in*out per layer (fwd Y, bwd dX, dW); bias excluded (<0.5%). "
        "ratio = gom/sgemm GFLOP/s. worst rep spread {:.1f}%\n",
        worst_spread * 100);
    if (worst_spread > 0.25)
      fmt::print(
          "warning: repetitions differ by up to {:.0f}%: something else is using the CPUs "
          "(OpenMP threads that lose their core stall every parallel region); rerun on "
          "an idle machine\n",
          worst_spread * 100);
    fmt::print(
        "linear fwd+bwd{}: gom {:.2f} GFLOP/s, oneDNN sgemm{} {:.2f} GFLOP/s, ratio {:.3f}\n",
        bench::device_tag(device), gflops(stack.flop, stack.gom),
        device.type == gom::DeviceType::CPU ? "" : " on the CPU", gflops(stack.flop, stack.ref),
        stack.ref.median / stack.gom.median);
    return 0;
  });
}
