// The oneDNN CPU backend: its plugin entry, engine, stream and helpers.
#include <omp.h>

#include <algorithm>
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
  stream().wait();
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
