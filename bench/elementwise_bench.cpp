// gom_elementwise_bench — elementwise ops against the machine's memory bandwidth, and
// broadcasting ops against the same-shape op, in one process.
//
// For a matrix of R x C floats (default 4096 x 256, the case, and 16384 x 1024, which
// leaves the caches), it times:
//   memcpy     of the R*C floats, split over the threads as the ops are: the bandwidth line
//   same-shape a + b, a * b            (bytes moved: 2 reads + 1 write of R*C floats)
//   broadcast  a + row[C], a * col[R,1], row - a (broadcast first operand), row / a
//   backward   of each pair: forward + backward with a dense upstream gradient
// Bandwidth counts every byte read and written (memcpy: 1 read + 1 write). The op's share of
// memcpy's bandwidth is the figure the issue asks for (>= 50%), and each broadcast op is reported
// as a ratio of its same-shape op's time (target <= 1.5).
//
// Each measurement: a warm-up, a calibration of the iterations per repetition (~--seconds each),
// then --reps repetitions; the median time per iteration is reported.

#include <fmt/format.h>
#include <omp.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench_common.h"
#include "gom/gom.h"

namespace {

struct Options {
  int threads = 2;
  int reps = 7;
  double seconds = 0.3;
};

const char* kUsage =
    "usage: gom_elementwise_bench [--threads N] [--reps N] [--seconds S]\n"
    "  memcpy bandwidth, same-shape and broadcast elementwise ops, forward and backward\n";

// The median seconds per call of `fn` over `reps` repetitions of ~`seconds` each.
double time_per_call(const std::function<void()>& fn, const Options& o) {
  for (int i = 0; i < 3; ++i) fn();
  int64_t iters = 1;
  for (;;) {
    const auto t0 = bench::Clock::now();
    for (int64_t i = 0; i < iters; ++i) fn();
    const double t = bench::since(t0);
    if (t >= o.seconds / 4 || iters >= (int64_t{1} << 24)) {
      iters = std::max<int64_t>(1, int64_t(double(iters) * o.seconds / std::max(t, 1e-9)));
      break;
    }
    iters *= 4;
  }
  std::vector<double> per_call;
  for (int r = 0; r < o.reps; ++r) {
    const auto t0 = bench::Clock::now();
    for (int64_t i = 0; i < iters; ++i) fn();
    per_call.push_back(bench::since(t0) / double(iters));
  }
  return bench::median(per_call);
}

// memcpy of `n` floats split into one contiguous chunk per thread.
void parallel_memcpy(float* dst, const float* src, int64_t n) {
#pragma omp parallel
  {
    const int64_t k = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = n * t / k, end = n * (t + 1) / k;
    std::memcpy(dst + begin, src + begin, size_t(end - begin) * sizeof(float));
  }
}

void run_size(int64_t rows, int64_t cols, const Options& o) {
  const int64_t n = rows * cols;
  const double mb = double(n) * 4 / 1e6;
  gom::Generator gen(1);
  gom::Tensor a = gom::randn({rows, cols}, &gen), b = gom::randn({rows, cols}, &gen);
  gom::Tensor row = gom::randn({cols}, &gen), col = gom::randn({rows, 1}, &gen);
  gom::Tensor pos = gom::add(gom::abs(gom::randn({rows, cols}, &gen)), 0.5);
  gom::Tensor g = gom::randn({rows, cols}, &gen);
  std::vector<float> src(static_cast<size_t>(n), 1.0f), dst(static_cast<size_t>(n));

  fmt::print("\n[{} x {}] f32, {:.1f} MB per operand, {} threads\n", rows, cols, mb, o.threads);
  const double t_copy = time_per_call([&] { parallel_memcpy(dst.data(), src.data(), n); }, o);
  const double bw_copy = 2 * double(n) * 4 / t_copy / 1e9;
  fmt::print("  {:<34} {:9.3f} ms  {:7.1f} GB/s\n", "memcpy (1 read + 1 write)", t_copy * 1e3,
             bw_copy);

  auto op_line = [&](const char* what, const std::function<void()>& fn, double bytes_per_elem) {
    const double t = time_per_call(fn, o);
    const double bw = bytes_per_elem * double(n) / t / 1e9;
    fmt::print("  {:<34} {:9.3f} ms  {:7.1f} GB/s  {:5.0f}% of memcpy\n", what, t * 1e3, bw,
               100 * bw / bw_copy);
    return t;
  };
  auto ratio_line = [&](const char* what, const std::function<void()>& fn, double same) {
    const double t = time_per_call(fn, o);
    fmt::print("  {:<34} {:9.3f} ms  broadcast/same-shape {:.2f}\n", what, t * 1e3, t / same);
  };

  double t_add = 0, t_mul = 0, t_div = 0;
  {
    gom::NoGrad no_grad;
    t_add = op_line(
        "same-shape a + b", [&] { gom::add(a, b); }, 12);
    t_mul = op_line(
        "same-shape a * b", [&] { gom::mul(a, b); }, 12);
    t_div = op_line(
        "same-shape b / a", [&] { gom::div(b, pos); }, 12);
    op_line(
        "same-shape relu(a)", [&] { gom::relu(a); }, 8);
    ratio_line(
        "broadcast a + row[C]", [&] { gom::add(a, row); }, t_add);
    ratio_line(
        "broadcast a * col[R,1]", [&] { gom::mul(a, col); }, t_mul);
    ratio_line(
        "broadcast row[C] - a (first op.)", [&] { gom::sub(row, a); }, t_add);
    ratio_line(
        "broadcast row[C] / a (first op.)", [&] { gom::div(row, pos); }, t_div);
    ratio_line(
        "broadcast a > row[C]", [&] { gom::gt(a, row); }, t_add);
    ratio_line(
        "broadcast sum over rows (dim 0)", [&] { gom::sum(a, {0}); }, t_add);
  }

  // Forward + backward with a dense upstream gradient: the broadcast operand's gradient is a
  // reduction over the broadcast dim.
  auto backward = [&](gom::Tensor x, gom::Tensor y,
                      gom::Tensor (*f)(const gom::Tensor&, const gom::Tensor&)) {
    x = x.detach();
    y = y.detach();
    x.requires_grad_(true);
    y.requires_grad_(true);
    return [x, y, f, &g] {
      f(x, y).backward(g);
      x.zero_grad();
      y.zero_grad();
    };
  };
  const double tb_add = time_per_call(backward(a, b, gom::add), o);
  fmt::print("  {:<34} {:9.3f} ms\n", "fwd+bwd same-shape a + b", tb_add * 1e3);
  ratio_line("fwd+bwd broadcast a + row[C]", backward(a, row, gom::add), tb_add);
  const double tb_mul = time_per_call(backward(a, b, gom::mul), o);
  fmt::print("  {:<34} {:9.3f} ms\n", "fwd+bwd same-shape a * b", tb_mul * 1e3);
  ratio_line("fwd+bwd broadcast a * col[R,1]", backward(a, col, gom::mul), tb_mul);
  ratio_line("fwd+bwd broadcast row[C] * a", backward(row, a, gom::mul), tb_mul);
}

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main("gom_elementwise_bench", [&] {
    Options o;
    bench::parse_flags(
        argc, argv, "gom_elementwise_bench", kUsage,
        {{"--threads", &o.threads, 0}, {"--reps", &o.reps, 1}, {"--seconds", &o.seconds, 0, true}});
    bench::start_gom(o.threads);
    omp_set_num_threads(o.threads);
    bench::print_machine();
    fmt::print("backend: {}\n", bench::backend_line(gom::find_backend(gom::DeviceType::CPU)));
    run_size(4096, 256, o);
    run_size(16384, 1024, o);
    return 0;
  });
}
