// The kernel and backend registries.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "gom/kernel.h"
#include "registry_internal.h"

namespace gom {

Attrs& Attrs::set(const char* name, Value v) {
  for (auto& [k, val] : items_)
    if (std::string_view(k) == name) {
      val = std::move(v);
      return *this;
    }
  items_.emplace_back(name, std::move(v));
  return *this;
}

const Attrs::Value& Attrs::get(std::string_view name) const {
  for (const auto& [k, v] : items_)
    if (k == name) return v;
  throw Error(fmt::format("kernel attribute '{}' was not passed", name));
}

bool Attrs::has(std::string_view name) const {
  return std::any_of(items_.begin(), items_.end(), [&](auto& kv) { return kv.first == name; });
}

int64_t Attrs::i(std::string_view name) const {
  const Value& v = get(name);
  if (auto* p = std::get_if<int64_t>(&v)) return *p;
  if (auto* p = std::get_if<double>(&v)) return static_cast<int64_t>(*p);
  throw Error(fmt::format("kernel attribute '{}' is a list, not an integer", name));
}

double Attrs::f(std::string_view name) const {
  const Value& v = get(name);
  if (auto* p = std::get_if<double>(&v)) return *p;
  if (auto* p = std::get_if<int64_t>(&v)) return static_cast<double>(*p);
  throw Error(fmt::format("kernel attribute '{}' is a list, not a number", name));
}

const std::vector<int64_t>& Attrs::ints(std::string_view name) const {
  const Value& v = get(name);
  if (auto* p = std::get_if<std::vector<int64_t>>(&v)) return *p;
  throw Error(fmt::format("kernel attribute '{}' is a scalar, not a list", name));
}

namespace {

struct Slot {
  KernelFn fn;
  std::string provider;
};

using Slots = std::array<const Slot*, kNumDeviceTypes>;

// What the hot path reads: op ids by name and the kernels by op id, immutable once published.
// Every registration publishes a new snapshot; old snapshots and replaced slots are kept (never
// freed), so a reader holding one, or a KernelFn reference from find_kernel, stays valid.
// Registrations happen at plugin load, so the copies cost nothing that matters.
struct Snapshot {
  std::unordered_map<std::string_view, int32_t> ids;  // views into Registry::names
  std::vector<Slots> kernels;                         // indexed by op id
};

struct Registry {
  std::mutex mu;  // serialises writers and the slow paths; readers of `current` take no lock
  std::deque<std::string> names;  // by op id; a deque keeps the views of the snapshots valid
  std::unordered_map<std::string_view, int32_t> ids;
  std::vector<Slots> kernels;
  std::vector<std::unique_ptr<Slot>> slots;              // every slot ever registered
  std::vector<std::unique_ptr<const Snapshot>> snapshots;  // every snapshot ever published
  std::atomic<const Snapshot*> current{nullptr};
  std::shared_ptr<BackendInfo> backends[kNumDeviceTypes];

  // The id of `op`, a new one when first seen (call under mu).
  int32_t intern(std::string_view op) {
    if (auto it = ids.find(op); it != ids.end()) return it->second;
    const auto id = static_cast<int32_t>(names.size());
    ids.emplace(names.emplace_back(op), id);
    kernels.push_back(Slots{});
    return id;
  }
  // Makes the current ids and kernels visible to lock-free readers (call under mu).
  void publish() {
    auto snap = std::make_unique<Snapshot>(Snapshot{ids, kernels});
    current.store(snap.get(), std::memory_order_release);
    snapshots.push_back(std::move(snap));
  }
};

Registry& registry() {
  static auto* r = new Registry;  // leaked: kernels may run during static destruction
  return *r;
}

// The kernel of (op, device) in the published snapshot, or null.
const KernelFn* lookup(const Snapshot* snap, int32_t id, DeviceType device) {
  if (!snap || id < 0 || static_cast<size_t>(id) >= snap->kernels.size()) return nullptr;
  const Slot* slot = snap->kernels[static_cast<size_t>(id)][static_cast<int>(device)];
  return slot && slot->fn ? &slot->fn : nullptr;
}

// The error of a missing kernel: the op, the device and the devices that have it.
[[noreturn]] void throw_missing(std::string_view op, DeviceType device) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> have;
  if (auto it = r.ids.find(op); it != r.ids.end())
    for (int d = 0; d < kNumDeviceTypes; ++d)
      if (const Slot* s = r.kernels[static_cast<size_t>(it->second)][d]; s && s->fn)
        have.push_back(fmt::format("{} (from {})", device_type_name(DeviceType(d)), s->provider));
  const auto& b = r.backends[static_cast<int>(device)];
  throw Error(fmt::format("no kernel for op '{}' on device {}{}; {}", op, device_type_name(device),
                          b ? fmt::format(" (backend '{}' does not implement it)", b->name)
                            : " (no backend for that device is loaded)",
                          have.empty()
                              ? "no device has it: is the plugin that provides it loaded?"
                              : "it is available on: " + fmt::format("{}", fmt::join(have, ", "))));
}

}  // namespace

OpId op_id(std::string_view op) {
  auto& r = registry();
  if (const Snapshot* snap = r.current.load(std::memory_order_acquire))
    if (auto it = snap->ids.find(op); it != snap->ids.end()) return OpId{it->second};
  std::lock_guard lock(r.mu);
  const size_t before = r.names.size();
  const int32_t id = r.intern(op);
  if (r.names.size() != before) r.publish();
  return OpId{id};
}

std::string_view op_name(OpId id) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  if (id.value < 0 || static_cast<size_t>(id.value) >= r.names.size())
    throw Error(fmt::format("op id {} was never handed out by op_id", id.value));
  return r.names[static_cast<size_t>(id.value)];
}

void register_kernel(std::string_view op, DeviceType device, KernelFn fn,
                     std::string_view provider) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  const int32_t id = r.intern(op);
  r.slots.push_back(std::make_unique<Slot>(Slot{std::move(fn), std::string(provider)}));
  r.kernels[static_cast<size_t>(id)][static_cast<int>(device)] = r.slots.back().get();
  r.publish();
}

const KernelFn& find_kernel(OpId op, DeviceType device) {
  auto& r = registry();
  if (const KernelFn* fn = lookup(r.current.load(std::memory_order_acquire), op.value, device))
    return *fn;
  throw_missing(op_name(op), device);
}

const KernelFn& find_kernel(std::string_view op, DeviceType device) {
  const Snapshot* snap = registry().current.load(std::memory_order_acquire);
  if (snap)
    if (auto it = snap->ids.find(op); it != snap->ids.end())
      if (const KernelFn* fn = lookup(snap, it->second, device)) return *fn;
  throw_missing(op, device);
}

bool has_kernel(std::string_view op, DeviceType device) {
  const Snapshot* snap = registry().current.load(std::memory_order_acquire);
  if (!snap) return false;
  auto it = snap->ids.find(op);
  return it != snap->ids.end() && lookup(snap, it->second, device);
}

std::string kernel_provider(std::string_view op, DeviceType device) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.ids.find(op);
  if (it == r.ids.end()) return "";
  const Slot* s = r.kernels[static_cast<size_t>(it->second)][static_cast<int>(device)];
  return s ? s->provider : "";
}

std::vector<std::string> kernel_ops() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> names;
  for (size_t id = 0; id < r.names.size(); ++id)
    if (std::any_of(r.kernels[id].begin(), r.kernels[id].end(), [](const Slot* s) { return s; }))
      names.push_back(r.names[id]);
  std::sort(names.begin(), names.end());
  return names;
}

namespace {
// The stream a kernel on `device` queues to; the CPU has none, and asks for nothing.
Stream stream_for(Device device) {
  return device.type == DeviceType::CPU ? Stream{} : current_stream(device);
}
}  // namespace

void run_kernel(std::string_view op, std::initializer_list<Tensor> in,
                std::initializer_list<Tensor> out, const Attrs& attrs) {
  const Device dev = out.begin()->device();
  find_kernel(op, dev.type)(KernelCall{std::span<const Tensor>(in.begin(), in.size()),
                                       std::span<const Tensor>(out.begin(), out.size()), attrs,
                                       stream_for(dev)});
}

void run_kernel(OpId op, std::initializer_list<Tensor> in, std::initializer_list<Tensor> out,
                const Attrs& attrs) {
  const Device dev = out.begin()->device();
  find_kernel(op, dev.type)(KernelCall{std::span<const Tensor>(in.begin(), in.size()),
                                       std::span<const Tensor>(out.begin(), out.size()), attrs,
                                       stream_for(dev)});
}

std::string device_unavailable(Device device) {
  const BackendInfo* b = find_backend(device.type);
  if (!b)
    return fmt::format("no backend for device {} is loaded (is the {} plugin built and on the "
                       "plugin path? `gom plugins` lists what was found)",
                       device.str(), device_type_name(device.type));
  if (b->unavailable)
    if (std::string why = b->unavailable(); !why.empty())
      return fmt::format("backend '{}' cannot run here: {}", b->name, why);
  const int count = b->device_count ? b->device_count() : 1;
  if (device.index >= count)
    return fmt::format("device {} does not exist: backend '{}' sees {} {} device{}", device.str(),
                       b->name, count, device_type_name(device.type), count == 1 ? "" : "s");
  return "";
}

namespace {
std::atomic<bool> defer_on_cpu{false};
}  // namespace

bool defer_host_reads(Device device) {
  return device.type != DeviceType::CPU || defer_on_cpu.load(std::memory_order_relaxed);
}

void set_defer_host_reads(bool on_cpu_too) {
  defer_on_cpu = on_cpu_too;
}

void synchronize(Device device) {
  const BackendInfo* b = find_backend(device.type);
  if (b && b->synchronize) b->synchronize(current_stream(device));
}

void register_backend(BackendInfo info) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto& slot = r.backends[static_cast<int>(info.device)];
  if (slot)
    throw Error(
        fmt::format("backend '{}' cannot be registered for device {}: backend '{}' "
                    "already serves it",
                    info.name, device_type_name(info.device), slot->name));
  detail::add_backend_component(info.name, info.description);
  slot = std::make_shared<BackendInfo>(std::move(info));
}

const BackendInfo* find_backend(DeviceType device) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  return r.backends[static_cast<int>(device)].get();
}

namespace detail {
void unregister_kernels(const std::string& provider) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  for (Slots& slots : r.kernels)
    for (const Slot*& s : slots)
      if (s && s->provider == provider) s = nullptr;
  r.publish();
}
}  // namespace detail

void set_num_threads(int n) {
  for (int d = 0; d < kNumDeviceTypes; ++d)
    if (const BackendInfo* b = find_backend(DeviceType(d)); b && b->set_num_threads)
      b->set_num_threads(n);
}

}  // namespace gom
