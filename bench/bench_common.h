// bench_common.h — what all of gom's benchmark programs share: command-line flags, timing, the
// machine and backend lines, the device that --backend names, the error exit. Header-only: each
// benchmark is one translation unit and uses only part of it. The gom::fit pieces are in
// bench_fit.h (they need the host headers).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "gom/gom.h"
#include "gom_core/threads.h"

namespace bench {

// ---------------------------------------------------------------- command line

// One `--name N` flag: where its value goes and the lowest value it accepts (`above`: the value
// must be greater than `min`, for durations where 0 means nothing).
struct Flag {
  std::string_view name;
  std::variant<int*, int64_t*, double*, std::string*> target;
  double min = -std::numeric_limits<double>::infinity();
  bool above = false;
};

[[noreturn]] inline void usage(const char* usage_text, int rc) {
  std::fputs(usage_text, rc ? stderr : stdout);
  std::exit(rc);
}

// Parses `--name value` and `--name=value`; -h/--help prints `usage_text` and exits 0, anything
// wrong prints what and the usage on stderr and exits 2 (before any work starts).
inline void parse_flags(int argc, char** argv, const char* program, const char* usage_text,
                        std::initializer_list<Flag> flags) {
  auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "%s: %s\n", program, what.c_str());
    usage(usage_text, 2);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") usage(usage_text, 0);
    const auto eq = arg.find('=');
    const std::string name(arg.substr(0, eq));
    const Flag* flag = nullptr;
    for (const Flag& f : flags)
      if (f.name == name) flag = &f;
    if (!flag) fail(fmt::format("unknown option '{}'", name));
    std::string value;
    if (eq != std::string_view::npos)
      value = std::string(arg.substr(eq + 1));
    else if (i + 1 < argc)
      value = argv[++i];
    else
      fail(fmt::format("{} needs a value", name));
    double number = 0;
    try {
      size_t used = value.size();
      if (auto p = std::get_if<int*>(&flag->target))
        number = ** p = std::stoi(value, &used);
      else if (auto p = std::get_if<int64_t*>(&flag->target))
        number = double(** p = std::stoll(value, &used));
      else if (auto p = std::get_if<double*>(&flag->target))
        number = ** p = std::stod(value, &used);
      else
        *std::get<std::string*>(flag->target) = value;
      if (used != value.size()) throw std::invalid_argument(value);
    } catch (const std::logic_error&) {
      fail(fmt::format("bad value '{}' for {}", value, name));
    }
    if (flag->above ? !(number > flag->min) : number < flag->min)
      fail(fmt::format("{} must be {} {}", name, flag->above ? ">" : ">=", flag->min));
  }
}

// ---------------------------------------------------------------- timing and the machine

using Clock = std::chrono::steady_clock;
inline double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The middle value (the mean of the two middle ones for an even count). Benchmarks report a
// median because other work on the machine only ever slows a run down.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t k = v.size();
  return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

// "name — description" of the CPU backend gom::init() loaded, or "?".
inline std::string backend_line(const gom::BackendInfo* backend) {
  return backend ? backend->name + " — " + backend->description : "?";
}

// "machine: N CPUs, 1-min load average L" (Linux), with a warning when the load exceeds the
// CPUs, so that noisy figures explain themselves; nothing when the load is unknown.
inline void print_machine() {
  std::ifstream f("/proc/loadavg");
  double load = -1;
  if (!(f >> load)) return;
  const unsigned cpus = std::thread::hardware_concurrency();
  fmt::print("machine: {} CPUs, 1-min load average {:.2f}{}\n", cpus, load,
             load > cpus ? " (busy: other work competes for the CPUs; timings are noisy)" : "");
}

// ---------------------------------------------------------------- the device (--backend)

// The device `--backend NAME` names: a loaded backend ("onednn", "cuda") or a device ("cpu",
// "cuda", "cuda:1"); empty: the CPU. Call after start_gom (it loads the plugins). A device that
// cannot run here ends the program with exit code 77 ("skipped", as ctest and scripts/bench
// read it) and device_unavailable()'s reason on stderr; a name that matches nothing, with 2.
inline gom::Device device_for_backend(const char* program, const std::string& name) {
  if (name.empty()) return gom::kCPU;
  std::optional<gom::Device> device;
  std::string loaded;
  for (int t = 0; t < gom::kNumDeviceTypes; ++t) {
    const auto type = static_cast<gom::DeviceType>(t);
    if (const gom::BackendInfo* b = gom::find_backend(type)) {
      loaded += (loaded.empty() ? "" : ", ") + b->name;
      if (b->name == name) device = gom::Device{type, 0};
    }
  }
  if (!device) {
    try {
      device = gom::Device::parse(name);
    } catch (const gom::Error&) {
      std::fprintf(stderr, "%s: --backend %s: no such backend or device (loaded backends: %s)\n",
                   program, name.c_str(), loaded.c_str());
      std::exit(2);
    }
  }
  if (const std::string why = gom::device_unavailable(*device); !why.empty()) {
    std::fprintf(stderr, "%s: skipped: --backend %s: %s\n", program, name.c_str(), why.c_str());
    std::exit(77);
  }
  return *device;
}

// What summary lines add for a device: "" on the CPU (the lines scripts/bench has always
// parsed), " (cuda)" elsewhere, so that "mlp train (cuda): gom ..." and the CPU's figure of the
// same run keep apart.
inline std::string device_tag(gom::Device device) {
  return device.type == gom::DeviceType::CPU
             ? std::string()
             : fmt::format(" ({})", gom::device_type_name(device.type));
}

// What a header line adds for a device: "" on the CPU, ", on cuda:0" elsewhere.
inline std::string on_device(gom::Device device) {
  return device.type == gom::DeviceType::CPU ? std::string() : ", on " + device.str();
}

// The "backend: ..." line's text for `device`: the CPU's as backend_line always gave it, and
// for another device also which one ("cuda — ... on cuda:0, NVIDIA H200 (sm_90, 139 GiB)").
inline std::string device_line(gom::Device device) {
  const gom::BackendInfo* b = gom::find_backend(device.type);
  if (device.type == gom::DeviceType::CPU || !b || !b->device_name) return backend_line(b);
  return fmt::format("{} on {}, {}", backend_line(b), device.str(), b->device_name(device.index));
}

// gom::init() (loads the plugins), `threads` compute threads (0: gom's default, which the gom
// command uses without --threads; `threads` is set to the count chosen) and global seed 0, so
// that every run of a benchmark starts from the same weights and data order.
inline void start_gom(int& threads) {
  gom::init();
  if (threads == 0) threads = gom::default_num_threads();
  gom::set_num_threads(threads);
  gom::manual_seed(0);
}

// Runs `body` (returning main's exit status); an exception is printed as "program: error: ..."
// and exits 1.
template <typename Body>
int guarded_main(const char* program, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

// ---------------------------------------------------------------- linear layers

/// @brief gom's side of the linear-layer benchmarks (linear_bench, cuda_linear_bench): per
/// layer an input x [B, in], weights w [out, in], a bias b [out] and an upstream gradient
/// gy [B, out], drawn on the CPU from one seed (the same numbers on every device) and moved to
/// the device; x, w and b require grad.
struct LinearStack {
  std::vector<gom::Tensor> xs, ws, bs, gys;

  template <class Layers>  // of {in, out}
  LinearStack(const Layers& layers, int64_t batch, gom::Device device) {
    gom::Generator gen(42);
    for (const auto& [in, out] : layers) {
      gom::Tensor x = gom::randn({batch, in}, &gen).to(device);
      gom::Tensor w = gom::mul(gom::randn({out, in}, &gen), 1.0 / std::sqrt(double(in))).to(device);
      gom::Tensor b = gom::mul(gom::randn({out}, &gen), 0.1).to(device);
      gom::Tensor gy = gom::mul(gom::randn({batch, out}, &gen), 0.01).to(device);
      for (gom::Tensor* t : {&x, &w, &b}) t->requires_grad_();
      xs.push_back(x);
      ws.push_back(w);
      bs.push_back(b);
      gys.push_back(gy);
    }
  }
  /// @brief Layer i alone, forward and backward, as a training step runs it.
  void layer_step(size_t i) const {
    for (const gom::Tensor* t : {&xs[i], &ws[i], &bs[i]}) t->zero_grad();
    gom::linear(xs[i], ws[i], bs[i]).backward(gys[i]);
  }
  /// @brief The whole stack chained, x -> linear -> ... -> linear, backward from the top.
  void stack_step() const {
    xs[0].zero_grad();
    for (size_t i = 0; i < ws.size(); ++i) {
      ws[i].zero_grad();
      bs[i].zero_grad();
    }
    gom::Tensor h = xs[0];
    for (size_t i = 0; i < ws.size(); ++i) h = gom::linear(h, ws[i], bs[i]);
    h.backward(gys.back());
  }
};

}  // namespace bench
