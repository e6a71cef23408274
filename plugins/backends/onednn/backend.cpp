// The oneDNN CPU backend: its plugin entry, engine, stream and helpers.
#include <omp.h>

#include <algorithm>
#include <array>
#include <fstream>

#include "dnnl_util.h"
#include "gom/ops.h"
#include "gom/plugin.h"

namespace gom::onednn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

dnnl::memory::data_type dt_of(DType t) {
  switch (t) {
    case DType::F32:
      return dnnl::memory::data_type::f32;
    case DType::I32:
      return dnnl::memory::data_type::s32;
    case DType::I64:
      break;
  }
  throw Error("onednn: oneDNN has no 64-bit integer type; this kernel needs a loop for i64");
}

dnnl::memory::desc md_with(const Tensor& t, const Shape& dims, const Shape& strides) {
  if (dims.empty()) return dnnl::memory::desc({1}, dt_of(t.dtype()), dnnl::memory::dims{1});
  return dnnl::memory::desc(dims, dt_of(t.dtype()), strides);
}

dnnl::memory::desc md_of(const Tensor& t) {
  return md_with(t, t.shape(), t.strides());
}

dnnl::memory mem_of(const dnnl::memory::desc& md, const Tensor& t) {
  return dnnl::memory(md, engine(), t.raw_data());
}

bool dnnl_layout_ok(const Tensor& t) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size) of dims larger than 1
  for (size_t d = 0; d < t.shape().size(); ++d)
    if (t.shape()[d] > 1) dims.emplace_back(t.strides()[d], t.shape()[d]);
  std::sort(dims.begin(), dims.end());
  for (size_t k = 0; k + 1 < dims.size(); ++k)
    if (dims[k + 1].first < dims[k].first * dims[k].second) return false;
  return true;
}

Tensor dense(const Tensor& t) {
  if (t.is_contiguous()) return t;
  NoGrad ng;
  return t.contiguous();
}

void execute(const dnnl::primitive& p, const std::unordered_map<int, dnnl::memory>& args) {
  p.execute(stream(), args);
}

void execute(const dnnl::primitive& p, std::initializer_list<Arg> args) {
  struct Slot {
    dnnl_primitive_t prim;
    int id;
    bool operator==(const Slot&) const = default;
  };
  struct SlotHash {
    size_t operator()(const Slot& s) const {
      return std::hash<const void*>()(s.prim) * 31 + std::hash<int>()(s.id);
    }
  };
  // A primitive's handle is stable while the cache holds it; should a new primitive reuse a
  // freed one's address, the descriptor check below makes a new memory object.
  thread_local std::unordered_map<Slot, dnnl::memory, SlotHash> memories;
  constexpr size_t kMaxArgs = 16;
  if (args.size() > kMaxArgs) throw Error("onednn execute: more than 16 arguments");
  std::array<dnnl_exec_arg_t, kMaxArgs> exec{};
  size_t n = 0;
  for (const Arg& a : args) {
    dnnl::memory& m = memories[Slot{p.get(), a.id}];
    const dnnl_memory_desc_t* held = nullptr;
    if (m) dnnl::error::wrap_c_api(dnnl_memory_get_memory_desc(m.get(), &held), "memory desc");
    if (!held || !dnnl_memory_desc_equal(held, &a.md.data))
      m = dnnl::memory(a.md, engine(), a.t.raw_data());
    else
      m.set_data_handle(a.t.raw_data());
    exec[n++] = {a.id, m.get()};
  }
  dnnl::error::wrap_c_api(
      dnnl_primitive_execute(p.get(), stream().get(), static_cast<int>(n), exec.data()),
      "could not execute a primitive");
}

void register_cpu_kernel(std::string_view op, KernelFn fn, std::string_view provider) {
  auto small_on_one_thread = [fn = std::move(fn)](const KernelCall& c) {
    const int threads = omp_get_max_threads();
    int64_t elements = 0;
    for (const Tensor& t : c.in) elements += t.defined() ? t.numel() : 0;  // optional inputs
    for (const Tensor& t : c.out) elements += t.defined() ? t.numel() : 0;
    if (threads == 1 || elements >= kParallelGrain) return fn(c);
    struct Restore {
      int threads;
      ~Restore() { omp_set_num_threads(threads); }
    } restore{threads};
    omp_set_num_threads(1);
    fn(c);
  };
  register_kernel(op, DeviceType::CPU, std::move(small_on_one_thread), provider);
}

namespace {

std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  return "cpu";
}

void register_all(const PluginContext& ctx) {
  const dnnl_version_t* v = dnnl_version();
  BackendInfo info;
  info.name = "onednn";
  info.device = DeviceType::CPU;
  info.description = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                     std::to_string(v->patch) + " CPU primitives, OpenMP loops";
  info.set_num_threads = [](int n) { omp_set_num_threads(n); };
  info.device_name = [](int) { return cpu_name(); };
  register_backend(std::move(info));
  register_elementwise(ctx.name);
  register_binary(ctx.name);
  register_copy(ctx.name);
  register_matmul(ctx.name);
  register_reduce(ctx.name);
  register_softmax_loss(ctx.name);
  register_index(ctx.name);
  register_random(ctx.name);
  register_conv(ctx.name);
  register_batch_norm(ctx.name);
  register_layer_norm(ctx.name);
  register_rnn(ctx.name);
  register_math(ctx.name);
  register_linalg(ctx.name);
  register_sort(ctx.name);
}

}  // namespace
}  // namespace gom::onednn

GOM_PLUGIN(gom::onednn::register_all)
