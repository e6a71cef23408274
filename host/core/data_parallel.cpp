// Data-parallel training's collectives on tensors (gom_core/data_parallel.h): rank 0's weights
// and optimizer state to every rank, and the gradients summed over the ranks in buckets.
#include "gom_core/data_parallel.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "gom/autograd.h"
#include "gom/distributed.h"
#include "gom/ops.h"
#include "gom_core/distributed.h"

namespace gom::dp {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// FNV-1a: a short fingerprint of a layout text, so ranks compare layouts with one broadcast.
uint64_t fingerprint(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string layout_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::string text;
  for (const auto& [name, t] : named)
    text += fmt::format("{} {} {};", name, shape_str(t.shape()), dtype_name(t.dtype()));
  return text;
}

// Every rank must hold what rank 0 holds: the same names, shapes and dtypes, in one order.
void check_same_layout(const std::vector<std::pair<std::string, Tensor>>& named, const char* what) {
  const uint64_t mine = fingerprint(layout_of(named));
  uint64_t root = mine;
  dist::broadcast(&root, sizeof root, 0);
  if (root != mine)
    throw Error(
        fmt::format("data-parallel training: the {} of rank {} ({} tensors) differ from "
                    "rank 0's (every rank must build the same model and optimizer)",
                    what, world_rank(), named.size()));
}

// Rank 0's values of each tensor into every rank's, in place (through the host for a device).
void broadcast_tensors(const std::vector<std::pair<std::string, Tensor>>& named) {
  NoGrad ng;
  for (const auto& [name, t] : named) {
    const bool direct = t.device() == kCPU && t.is_contiguous();
    const Tensor host = direct ? t : t.to(kCPU).contiguous();
    dist::broadcast(host.raw_data(), size_t(host.numel()) * dtype_size(host.dtype()), 0);
    if (!direct) {
      Tensor dst = t;
      copy_(dst, host);
    }
  }
}

void check_f32(const Tensor& grad, size_t i) {
  if (grad.dtype() != DType::F32)
    throw Error(
        fmt::format("data-parallel training: the gradient of parameter {} is {}; only f32 "
                    "gradients are summed over the ranks",
                    i, dtype_name(grad.dtype())));
}

// One parameter's gradient as host f32 memory: the gradient itself on the CPU, else a copy that
// is written back after the sum.
struct HostGrad {
  Tensor host;
  float* data = nullptr;  // null: no gradient on this rank (yet)
  bool write_back = false;
  bool global = false;  // some rank has a gradient: this one gets the sum
};

}  // namespace

void broadcast_module(Module& model) {
  auto named = model.named_parameters();
  for (auto& b : model.named_buffers()) named.push_back(std::move(b));
  check_same_layout(named, "parameters and buffers");
  broadcast_tensors(named);
}

void broadcast_optimizer_state(Optimizer& optimizer) {
  const OptimizerState state = optimizer.state();
  check_same_layout(state, "optimizer state");
  broadcast_tensors(state);
}

std::vector<Tensor> optimizer_params(const Optimizer& optimizer) {
  std::vector<Tensor> params;
  for (const ParamGroup& g : optimizer.param_groups())
    params.insert(params.end(), g.params.begin(), g.params.end());
  return params;
}

int64_t gradient_buffer_bytes(const std::vector<Tensor>& params) {
  int64_t floats = int64_t(params.size()) + 1;
  for (const Tensor& p : params) floats += p.numel();
  return floats * int64_t(sizeof(float));
}

int64_t ring_bytes_per_rank(int64_t bytes, int world) {
  return world <= 1 ? 0 : 2 * (world - 1) * bytes / world;
}

double GradientSync::all_reduce(const std::vector<Tensor>& params, double flag) {
  if (world_size() == 1) return flag;
  ++calls_;
  NoGrad ng;
  if (path_.empty()) choose_path(params);
  return member_ ? all_reduce_device(params, flag) : all_reduce_host(params, flag);
}

// The device path needs every parameter on one device of a backend with collectives, and on
// every rank a device of its own (NCCL refuses two ranks on one GPU): rank_device() gives the
// ranks of a machine distinct devices while they are no more than its devices. All ranks agree.
void GradientSync::choose_path(const std::vector<Tensor>& params) {
  std::string why;
  if (params.empty()) why = "no parameters";
  for (const Tensor& p : params)
    if (p.device() != params.front().device()) why = "the parameters are on several devices";
  const Device d = params.empty() ? kCPU : params.front().device();
  const BackendInfo* b = why.empty() ? find_backend(d.type) : nullptr;
  if (why.empty() && d.type == DeviceType::CPU) why = "the parameters are on the CPU";
  if (why.empty() && !(b && b->collective_id && b->collective_join && b->collective_sum))
    why = fmt::format("backend '{}' has no device collectives", b ? b->name : d.str());
  if (why.empty()) {
    const int count = b->device_count ? b->device_count() : 1;
    if (dist::world().local_size > count)
      why = fmt::format("{} ranks share this machine's {} {} device{}", dist::world().local_size,
                        count, device_type_name(d.type), count == 1 ? "" : "s");
  }
  float able = why.empty() ? 1.0f : 0.0f;
  dist::all_reduce_sum(&able, 1);
  if (able < float(world_size())) {
    path_ = "mpi";
    why_host_ = why.empty() ? "a rank on another machine cannot use device collectives" : why;
    return;
  }
  // Rank 0 makes the communicator's id; every rank joins with it.
  std::string id = world_rank() == 0 ? b->collective_id() : std::string();
  dist::broadcast(id, 0);
  member_ = b->collective_join(id, world_rank(), world_size(), d);
  backend_ = b;
  device_ = d;
  path_ = device_type_name(d.type);
}

// One buffer on the device, [header | grad 0 | grad 1 | ...], summed in one call on the compute
// stream; the header is read back (it says which sums exist, and the caller's flag).
double GradientSync::all_reduce_device(const std::vector<Tensor>& params, double flag) {
  auto t = Clock::now();
  const size_t n_params = params.size(), header = n_params + 1;
  std::vector<float> head(header, 0.0f);
  std::vector<Tensor> parts(1);
  for (size_t i = 0; i < n_params; ++i) {
    const Tensor g = params[i].grad();
    if (g.defined()) check_f32(g, i);
    head[i] = g.defined() ? 1.0f : 0.0f;
    parts.push_back(g.defined() ? g.reshape({-1})
                                : zeros({params[i].numel()}, {DType::F32, device_}));
  }
  head[n_params] = float(flag);
  parts[0] = tensor(head, {int64_t(header)}, device_);
  Tensor flat = cat(parts, 0);
  copy_seconds_ += seconds_since(t);
  t = Clock::now();
  backend_->collective_sum(member_.get(), flat.data<float>(), size_t(flat.numel()),
                           current_stream(device_));
  const std::vector<float> summed = flat.slice(0, 0, int64_t(header)).to(kCPU).to_vector<float>();
  mpi_seconds_ += seconds_since(t);
  t = Clock::now();
  int64_t at = int64_t(header);
  for (size_t i = 0; i < n_params; ++i) {
    const int64_t n = params[i].numel();
    if (summed[i] > 0) {
      const Tensor sum = flat.slice(0, at, at + n).reshape(params[i].shape());
      if (Tensor g = params[i].grad(); g.defined())
        copy_(g, sum);
      else
        params[i].set_grad(sum.clone());
    }
    at += n;
  }
  copy_seconds_ += seconds_since(t);
  return double(summed[n_params]);
}

double GradientSync::all_reduce_host(const std::vector<Tensor>& params, double flag) {
  auto t = Clock::now();
  const size_t n_params = params.size(), header = n_params + 1;
  std::vector<HostGrad> grads(n_params);
  std::vector<size_t> offset(n_params);
  size_t total = header;
  for (size_t i = 0; i < n_params; ++i) {
    offset[i] = total;
    total += size_t(params[i].numel());
    const Tensor g = params[i].grad();
    if (!g.defined()) continue;
    check_f32(g, i);
    HostGrad& h = grads[i];
    h.write_back = !(g.device() == kCPU && g.is_contiguous());
    h.host = h.write_back ? g.to(kCPU).contiguous() : g;
    h.data = h.host.data<float>();
  }
  std::vector<float> flags(header, 0.0f);  // the header as summed
  bucket_.resize(std::min(total, bucket_floats_));
  copy_seconds_ += seconds_since(t);

  // Bucket by bucket over the flat layout [header | grad 0 | grad 1 | ...]; the header comes
  // first, so the flags are known before any gradient is unpacked.
  for (size_t at = 0; at < total;) {
    t = Clock::now();
    const size_t n = std::min(bucket_floats_, total - at), end = at + n;
    float* b = bucket_.data();
    for (size_t j = at; j < std::min(end, header); ++j)
      b[j - at] = j < n_params ? (grads[j].data ? 1.0f : 0.0f) : float(flag);
    for (size_t i = 0; i < n_params; ++i) {
      const size_t lo = std::max(at, offset[i]),
                   hi = std::min(end, offset[i] + size_t(params[i].numel()));
      if (lo >= hi) continue;
      if (grads[i].data)
        std::memcpy(b + (lo - at), grads[i].data + (lo - offset[i]), (hi - lo) * sizeof(float));
      else
        std::memset(b + (lo - at), 0, (hi - lo) * sizeof(float));
    }
    copy_seconds_ += seconds_since(t);
    t = Clock::now();
    dist::all_reduce_sum(b, n);
    mpi_seconds_ += seconds_since(t);
    t = Clock::now();
    for (size_t j = at; j < std::min(end, header); ++j) {
      flags[j] = b[j - at];
      if (j < n_params) grads[j].global = flags[j] > 0;
    }
    for (size_t i = 0; i < n_params; ++i) {
      const size_t lo = std::max(at, offset[i]),
                   hi = std::min(end, offset[i] + size_t(params[i].numel()));
      if (lo >= hi || !grads[i].global) continue;
      HostGrad& h = grads[i];
      if (!h.data) {  // only other ranks had one: this rank's gradient is the sum
        h.host = zeros({params[i].numel()});
        h.data = h.host.data<float>();
        h.write_back = true;
      }
      std::memcpy(h.data + (lo - offset[i]), b + (lo - at), (hi - lo) * sizeof(float));
    }
    copy_seconds_ += seconds_since(t);
    at = end;
  }

  t = Clock::now();
  for (size_t i = 0; i < n_params; ++i) {
    const HostGrad& h = grads[i];
    if (!h.write_back || !h.global) continue;
    if (Tensor g = params[i].grad(); g.defined())
      copy_(g, h.host.reshape(g.shape()));
    else
      params[i].set_grad(h.host.reshape(params[i].shape()).to(params[i].device()));
  }
  copy_seconds_ += seconds_since(t);
  return double(flags[n_params]);
}

void check_shared_out(const DataLoader& train, const DataLoader* valid, const DataLoader* test) {
  const LoaderOptions& t = train.options();
  if (t.world != world_size())
    throw Error(
        fmt::format("fit: the training data is shared out over {} ranks, but the job has "
                    "{}",
                    t.world, world_size()));
  for (const DataLoader* d : {valid, test})
    if (d && (d->options().world != t.world || d->options().rank != t.rank))
      throw Error(
          "fit: the validation and test data must be shared out over the ranks as the "
          "training data is (LoaderOptions rank and world)");
}

bool sum_phase(double& loss_total, int64_t& seen, double& samples,
               const std::atomic<bool>* interrupt) {
  double totals[4] = {loss_total, double(seen), samples,
                      interrupt && interrupt->load() ? 1.0 : 0.0};
  all_reduce_sum(totals);
  loss_total = totals[0];
  seen = int64_t(totals[1]);
  samples = totals[2];
  return totals[3] > 0;
}

void record_communication(const GradientSync& sync, std::map<std::string, std::string>& records) {
  if (!sync.path().empty())
    records["dist.allreduce_path"] = sync.why_host().empty()
                                         ? sync.path()
                                         : fmt::format("{} ({})", sync.path(), sync.why_host());
  records["dist.allreduce_calls"] = std::to_string(sync.calls());
  records["dist.allreduce_mpi_seconds"] = fmt::format("{:.6f}", sync.mpi_seconds());
  records["dist.allreduce_copy_seconds"] = fmt::format("{:.6f}", sync.copy_seconds());
}

void GradientAllReduce::on(Event e, LoopState& s) {
  if (e != Event::AfterBackward || !s.training || s.accumulate || !s.optimizer) return;
  const bool mine = interrupt_ && interrupt_->load();
  if (sync_.all_reduce(optimizer_params(*s.optimizer), mine ? 1.0 : 0.0) > 0) interrupted_ = true;
}

}  // namespace gom::dp
