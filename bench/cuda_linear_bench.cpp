// gom_cuda_linear_bench — forward+backward of gom::linear on a CUDA device against cuBLAS alone
// on exactly the same GEMMs, in the same process, on the same stream: the Fashion-MNIST MLP's
// layers (784->256->256->10) at batch 128 and at batch 4096, and one square 4096x4096 layer at
// batch 4096.
//
// Per layer (batch B, weight [out, in], row-major as gom stores them) one iteration is
//   forward  Y  = X·Wᵀ     cublasSgemm(T, N, out, B, in)    2·B·in·out FLOP
//   backward dX = dY·W     cublasSgemm(N, N, in, B, out)    2·B·in·out FLOP
//            dW = dYᵀ·X    cublasSgemm(N, T, in, out, B)    2·B·in·out FLOP
// (cuBLAS is column-major: it sees a row-major [r, c] matrix as its [c, r] transpose, so each
// C = A·B is computed as Cᵀ = Bᵀ·Aᵀ.) The bias (B·out adds forward, a B·out reduction backward)
// is left out of the FLOP count and of the baseline, as in bench/linear_bench.cpp. gom's time is
// everything a training step pays: op dispatch, output allocation, autograd recording and the
// backward walk; cuBLAS's is the bare GEMMs into preallocated buffers.
//
// cuBLAS runs in gom's math mode: pedantic FP32 (CUBLAS_PEDANTIC_MATH, what gom's CUDA backend
// uses), or TensorFloat-32 when GOM_CUDA_TF32=1 as the backend then does. A second baseline, for
// reference, is cuBLAS's default mode (CUBLAS_DEFAULT_MATH: FP32, no TF32 either).
//
// Timing: CUDA events on one stream that both sides queue their work to (gom's through a
// StreamGuard), so gom's host-side costs show as time the device waits between its kernels. Each
// measurement: a warm-up, a calibration of the iterations per repetition (about --seconds each),
// then --reps repetitions; the median time per iteration is reported. Before timing, gom's Y, dX
// and dW of every layer are checked against cuBLAS's. Exit code 77 where no CUDA device can be
// used (the reason on stderr).

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "gom/gom.h"

namespace {

struct LayerShape {
  int64_t in, out;
};
// One benchmarked stack: a name for its summary line, a batch and its layers, chained.
struct Config {
  std::string name, what;
  int64_t batch;
  std::vector<LayerShape> layers;
};
const std::vector<Config> kConfigs = {
    {"mlp b128", "MLP 784-256-256-10, batch 128", 128, {{784, 256}, {256, 256}, {256, 10}}},
    {"mlp b4096", "MLP 784-256-256-10, batch 4096", 4096, {{784, 256}, {256, 256}, {256, 10}}},
    {"square", "one 4096x4096 layer, batch 4096", 4096, {{4096, 4096}}},
};
// The configuration the target of issue 17 is about: gom >= 0.8 of cuBLAS at a large batch.
constexpr const char* kTargetConfig = "mlp b4096";
constexpr double kTarget = 0.8;

struct Options {
  int reps = 5;
  double seconds = 0.1;
};

constexpr const char* kUsage =
    "usage: gom_cuda_linear_bench [--reps N] [--seconds S]\n"
    "  --reps N      timed repetitions per measurement; the median is reported (default 5)\n"
    "  --seconds S   approximate length of one repetition (default 0.1)\n"
    "Exit code 77 where no CUDA device can be used.\n";

#define CUDA_OK(expr) check_cuda((expr), #expr)
#define CUBLAS_OK(expr) check_cublas((expr), #expr)
void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw gom::Error(fmt::format("{}: {}", what, cudaGetErrorString(e)));
}
void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw gom::Error(fmt::format("{}: {}", what, cublasGetStatusString(s)));
}

double layer_flop(int64_t batch, const LayerShape& l) {
  return 6.0 * double(batch) * double(l.in) * double(l.out);
}

// ---------------------------------------------------------------- timing with CUDA events

struct Timing {
  double median = 0;  // seconds per iteration
  double spread = 0;  // (max - min) / median over the repetitions
};

class EventTimer {
 public:
  explicit EventTimer(cudaStream_t s) : s_(s) {
    CUDA_OK(cudaEventCreate(&start_));
    CUDA_OK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  // Device seconds from before the first of `n` calls of `step` to after the last one.
  double time(const std::function<void()>& step, int64_t n) {
    CUDA_OK(cudaEventRecord(start_, s_));
    for (int64_t i = 0; i < n; ++i) step();
    CUDA_OK(cudaEventRecord(stop_, s_));
    CUDA_OK(cudaEventSynchronize(stop_));
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, start_, stop_));
    return double(ms) * 1e-3;
  }

 private:
  cudaStream_t s_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

Timing measure(EventTimer& timer, const std::function<void()>& step, const Options& o) {
  timer.time(step, 3);  // first-call costs: cuBLAS's heuristics, the allocator's cache
  // Calibration: iterations per repetition, from a run of at least 20 ms.
  int64_t n = 1;
  double t = timer.time(step, n);
  while (t < 0.02 && n < (int64_t(1) << 20)) {
    n *= 4;
    t = timer.time(step, n);
  }
  const int64_t iters = std::max<int64_t>(1, std::llround(o.seconds / (t / double(n))));
  std::vector<double> times;
  for (int r = 0; r < o.reps; ++r) times.push_back(timer.time(step, iters) / double(iters));
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], (times.back() - times.front()) / times[times.size() / 2]};
}

// ---------------------------------------------------------------- the cuBLAS baseline

// Row-major C[M, N] = op(A)·op(B) as cuBLAS computes it: column-major Cᵀ.
void sgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n,
           int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
           int64_t ldc) {
  const float one = 1, zero = 0;
  CUBLAS_OK(cublasSgemm(h, ta, tb, int(m), int(n), int(k), &one, a, int(lda), b, int(ldb), &zero, c,
                        int(ldc)));
}

// A float buffer in device memory.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) { CUDA_OK(cudaMalloc(&p_, n * sizeof(float))); }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  float* get() const { return p_; }
  size_t size() const { return n_; }
  void upload(const std::vector<float>& v, cudaStream_t s) {
    if (v.size() != n_) throw gom::Error("DeviceBuffer::upload: size mismatch");
    CUDA_OK(cudaMemcpyAsync(p_, v.data(), n_ * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_OK(cudaStreamSynchronize(s));
  }
  std::vector<float> download(cudaStream_t s) const {
    std::vector<float> v(n_);
    CUDA_OK(cudaMemcpyAsync(v.data(), p_, n_ * sizeof(float), cudaMemcpyDeviceToHost, s));
    CUDA_OK(cudaStreamSynchronize(s));
    return v;
  }

 private:
  float* p_ = nullptr;
  size_t n_;
};

// One config's whole stack in device buffers: activations a[0..L], their gradients g[0..L],
// weights w[i] and weight gradients dw[i]; the input and the weights are gom's numbers.
struct CublasStack {
  const Config& cfg;
  std::vector<std::unique_ptr<DeviceBuffer>> a, g, w, dw;

  CublasStack(const Config& c, const gom::Tensor& x, const std::vector<gom::Tensor>& ws,
              cudaStream_t s)
      : cfg(c) {
    auto buffer = [](int64_t n) { return std::make_unique<DeviceBuffer>(size_t(n)); };
    const int64_t B = cfg.batch;
    a.push_back(buffer(B * cfg.layers[0].in));
    a[0]->upload(x.to_vector<float>(), s);
    g.push_back(buffer(B * cfg.layers[0].in));
    for (size_t i = 0; i < cfg.layers.size(); ++i) {
      const auto [in, out] = cfg.layers[i];
      w.push_back(buffer(out * in));
      w[i]->upload(ws[i].to_vector<float>(), s);
      dw.push_back(buffer(out * in));
      a.push_back(buffer(B * out));
      g.push_back(buffer(B * out));
      g[i + 1]->upload(std::vector<float>(size_t(B * out), 0.01f), s);
    }
  }
  void forward(cublasHandle_t h, size_t i) const {
    const auto [in, out] = cfg.layers[i];
    sgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out, cfg.batch, in, w[i]->get(), in, a[i]->get(), in,
          a[i + 1]->get(), out);
  }
  void backward(cublasHandle_t h, size_t i) const {
    const auto [in, out] = cfg.layers[i];
    sgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, cfg.batch, out, w[i]->get(), in, g[i + 1]->get(), out,
          g[i]->get(), in);
    sgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out, cfg.batch, a[i]->get(), in, g[i + 1]->get(), out,
          dw[i]->get(), in);
  }
};

// ---------------------------------------------------------------- correctness check

double max_rel_err(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, scale = 1e-6;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, double(std::fabs(got[i] - want[i])));
    scale = std::max(scale, double(std::fabs(want[i])));
  }
  return err / scale;
}

// gom's Y (bias zero), dX and dW of layer `i` against cuBLAS's on the same x, w and dY (copied
// into the stack's buffers of that layer). Returns the largest relative error.
double check_layer(size_t i, const gom::Tensor& x, const gom::Tensor& w, const gom::Tensor& gy,
                   gom::Device device, CublasStack& ref, cublasHandle_t h, cudaStream_t s) {
  gom::Tensor zero_b = gom::zeros({ref.cfg.layers[i].out}, {gom::DType::F32, device});
  zero_b.requires_grad_();
  x.zero_grad();
  w.zero_grad();
  gom::Tensor y = gom::linear(x, w, zero_b);
  y.backward(gy);
  ref.a[i]->upload(x.to_vector<float>(), s);
  ref.w[i]->upload(w.to_vector<float>(), s);
  ref.g[i + 1]->upload(gy.to_vector<float>(), s);
  ref.forward(h, i);
  ref.backward(h, i);
  return std::max({max_rel_err(y.to_vector<float>(), ref.a[i + 1]->download(s)),
                   max_rel_err(x.grad().to_vector<float>(), ref.g[i]->download(s)),
                   max_rel_err(w.grad().to_vector<float>(), ref.dw[i]->download(s))});
}

struct Row {
  std::string config, layer;
  double flop;
  Timing gom, ref, plain;
};

// A cuBLAS handle on `s` in `mode`.
cublasHandle_t make_handle(cudaStream_t s, cublasMath_t mode) {
  cublasHandle_t h = nullptr;
  CUBLAS_OK(cublasCreate(&h));
  CUBLAS_OK(cublasSetStream(h, s));
  CUBLAS_OK(cublasSetMathMode(h, mode));
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  bench::parse_flags(argc, argv, "gom_cuda_linear_bench", kUsage,
                     {{"--reps", &opt.reps, 1}, {"--seconds", &opt.seconds, 0, true}});
  return bench::guarded_main("gom_cuda_linear_bench", [&] {
    int threads = 0;  // gom's default: the CPU only draws the inputs
    bench::start_gom(threads);
    const gom::Device device = bench::device_for_backend("gom_cuda_linear_bench", "cuda");

    CUDA_OK(cudaSetDevice(device.index));
    // Not destroyed: gom's allocator keeps blocks of this stream cached until the process ends.
    cudaStream_t stream = nullptr;
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    // Every gom op on the device from here on queues to `stream`, where the events are.
    gom::StreamGuard on_stream(gom::Stream{device, stream});

    const char* tf32_env = std::getenv("GOM_CUDA_TF32");
    const bool tf32 = tf32_env && std::strcmp(tf32_env, "1") == 0;
    cublasHandle_t same =
        make_handle(stream, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
    cublasHandle_t plain = make_handle(stream, CUBLAS_DEFAULT_MATH);
    EventTimer timer(stream);

    cudaDeviceProp prop{};
    CUDA_OK(cudaGetDeviceProperties(&prop, device.index));
    int runtime = 0, driver = 0, cublas_version = 0;
    CUDA_OK(cudaRuntimeGetVersion(&runtime));
    CUDA_OK(cudaDriverGetVersion(&driver));
    CUBLAS_OK(cublasGetVersion(same, &cublas_version));
    fmt::print("gom_cuda_linear_bench: {} reps x ~{} s, median, CUDA events on one stream\n",
               opt.reps, opt.seconds);
    fmt::print("backend: {}\n", bench::device_line(device));
    fmt::print("device: {}, sm_{}{}, {} SMs; CUDA runtime {}.{}, driver {}.{}, cuBLAS {}\n",
               prop.name, prop.major, prop.minor, prop.multiProcessorCount, runtime / 1000,
               runtime % 1000 / 10, driver / 1000, driver % 1000 / 10, cublas_version);
    fmt::print("baseline: cublasSgemm, {} (gom's math mode); plain: CUBLAS_DEFAULT_MATH\n",
               tf32 ? "CUBLAS_TF32_TENSOR_OP_MATH (GOM_CUDA_TF32=1)" : "CUBLAS_PEDANTIC_MATH");
    bench::print_machine();

    std::vector<Row> rows;
    std::vector<Row> stacks;
    const double tolerance = tf32 ? 5e-3 : 1e-4;
    for (const Config& cfg : kConfigs) {
      const size_t L = cfg.layers.size();
      const int64_t B = cfg.batch;
      const bench::LinearStack stack_tensors(cfg.layers, B, device);
      const auto& [xs, ws, bs, gys] = stack_tensors;
      CublasStack ref(cfg, xs[0], ws, stream);
      {
        CublasStack check(cfg, xs[0], ws, stream);
        for (size_t i = 0; i < L; ++i) {
          const double err = check_layer(i, xs[i], ws[i], gys[i], device, check, same, stream);
          if (!(err < tolerance))
            throw gom::Error(fmt::format(
                "{}, layer {}->{}: gom's linear differs from cuBLAS (max relative error {:.3g}, "
                "tolerance {:.0e})",
                cfg.name, cfg.layers[i].in, cfg.layers[i].out, err, tolerance));
        }
      }
      double total_flop = 0;
      for (size_t i = 0; i < L; ++i) {
        const LayerShape& l = cfg.layers[i];
        Row r{cfg.name, fmt::format("{}->{}", l.in, l.out), layer_flop(B, l), {}, {}, {}};
        total_flop += r.flop;
        r.gom = measure(
            timer, [&stack_tensors, i] { stack_tensors.layer_step(i); }, opt);
        r.ref = measure(
            timer,
            [&] {
              ref.forward(same, i);
              ref.backward(same, i);
            },
            opt);
        r.plain = measure(
            timer,
            [&] {
              ref.forward(plain, i);
              ref.backward(plain, i);
            },
            opt);
        rows.push_back(std::move(r));
      }
      if (L > 1) {
        // The whole stack, chained: x -> linear -> ... -> linear, backward from the top.
        Row s{cfg.name, "stack", total_flop, {}, {}, {}};
        s.gom = measure(
            timer, [&stack_tensors] { stack_tensors.stack_step(); }, opt);
        auto stack_with = [&](cublasHandle_t h) {
          return [&ref, h, L] {
            for (size_t i = 0; i < L; ++i) ref.forward(h, i);
            for (size_t i = L; i-- > 0;) ref.backward(h, i);
          };
        };
        s.ref = measure(timer, stack_with(same), opt);
        s.plain = measure(timer, stack_with(plain), opt);
        rows.push_back(s);
        stacks.push_back(s);
      } else {
        stacks.push_back(rows.back());
      }
      gom::synchronize(device);
    }

    auto gflops = [](double flop, const Timing& t) { return flop / t.median * 1e-9; };
    fmt::print("\n{:<10} {:<10} {:>9} {:>10} {:>10} {:>10} {:>11} {:>7} {:>11}\n", "config",
               "layer", "GFLOP", "gom us", "gom GF/s", "cuBLAS us", "cuBLAS GF/s", "ratio",
               "plain GF/s");
    double worst_spread = 0;
    for (const Row& r : rows) {
      fmt::print(
          "{:<10} {:<10} {:>9.3f} {:>10.1f} {:>10.1f} {:>10.1f} {:>11.1f} {:>7.3f} {:>11.1f}\n",
          r.config, r.layer, r.flop * 1e-9, r.gom.median * 1e6, gflops(r.flop, r.gom),
          r.ref.median * 1e6, gflops(r.flop, r.ref), r.ref.median / r.gom.median,
          gflops(r.flop, r.plain));
      worst_spread = std::max({worst_spread, r.gom.spread, r.ref.spread, r.plain.spread});
    }
    fmt::print(
        "FLOP = 6*B*in*out per layer (fwd Y, bwd dX, dW); bias excluded. ratio = gom/cuBLAS "
        "GFLOP/s (cuBLAS in gom's math mode; plain: CUBLAS_DEFAULT_MATH). worst rep spread "
        "{:.1f}%\n",
        worst_spread * 100);
    for (const Row& s : stacks) {
      const Config& cfg = *std::find_if(kConfigs.begin(), kConfigs.end(),
                                        [&](const Config& c) { return c.name == s.config; });
      fmt::print(
          "cuda linear {}: gom {:.1f} GFLOP/s, cuBLAS {:.1f} GFLOP/s, ratio {:.3f} ({}; "
          "plain cuBLAS {:.1f} GFLOP/s)\n",
          s.config, gflops(s.flop, s.gom), gflops(s.flop, s.ref), s.ref.median / s.gom.median,
          cfg.what, gflops(s.flop, s.plain));
      if (s.config == kTargetConfig)
        fmt::print("cuda linear target: gom/cuBLAS {:.3f} at {} (target >= {}): {}\n",
                   s.ref.median / s.gom.median, cfg.what, kTarget,
                   s.ref.median / s.gom.median >= kTarget ? "met" : "NOT met");
    }
    cublasDestroy(same);
    cublasDestroy(plain);
    return 0;
  });
}
