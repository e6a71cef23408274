// The kernel and backend registries.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <mutex>

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

struct Registry {
  std::mutex mu;
  std::map<std::string, Slot[kNumDeviceTypes], std::less<>> kernels;
  std::shared_ptr<BackendInfo> backends[kNumDeviceTypes];
};

Registry& registry() {
  static auto* r = new Registry;  // leaked: kernels may run during static destruction
  return *r;
}

const char* device_type_name(DeviceType d) {
  return d == DeviceType::CPU ? "cpu" : "cuda";
}

}  // namespace

void register_kernel(std::string_view op, DeviceType device, KernelFn fn,
                     std::string_view provider) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.kernels.find(op);
  if (it == r.kernels.end()) it = r.kernels.try_emplace(std::string(op)).first;
  it->second[static_cast<int>(device)] = Slot{std::move(fn), std::string(provider)};
}

const KernelFn& find_kernel(std::string_view op, DeviceType device) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.kernels.find(op);
  if (it != r.kernels.end() && it->second[static_cast<int>(device)].fn)
    return it->second[static_cast<int>(device)].fn;
  std::vector<std::string> have;
  if (it != r.kernels.end())
    for (int d = 0; d < kNumDeviceTypes; ++d)
      if (it->second[d].fn)
        have.push_back(
            fmt::format("{} (from {})", device_type_name(DeviceType(d)), it->second[d].provider));
  const auto& b = r.backends[static_cast<int>(device)];
  throw Error(fmt::format("no kernel for op '{}' on device {}{}; {}", op, device_type_name(device),
                          b ? fmt::format(" (backend '{}' does not implement it)", b->name)
                            : " (no backend for that device is loaded)",
                          have.empty()
                              ? "no device has it: is the plugin that provides it loaded?"
                              : "it is available on: " + fmt::format("{}", fmt::join(have, ", "))));
}

bool has_kernel(std::string_view op, DeviceType device) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.kernels.find(op);
  return it != r.kernels.end() && it->second[static_cast<int>(device)].fn;
}

std::string kernel_provider(std::string_view op, DeviceType device) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.kernels.find(op);
  return it == r.kernels.end() ? "" : it->second[static_cast<int>(device)].provider;
}

std::vector<std::string> kernel_ops() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> names;
  for (auto& [k, v] : r.kernels) names.push_back(k);
  return names;
}

void run_kernel(std::string_view op, std::initializer_list<Tensor> in,
                std::initializer_list<Tensor> out, const Attrs& attrs) {
  const DeviceType dev = out.begin()->device().type;
  find_kernel(op, dev)(KernelCall{std::span<const Tensor>(in.begin(), in.size()),
                                  std::span<const Tensor>(out.begin(), out.size()), attrs});
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
  for (auto& [op, slots] : r.kernels)
    for (Slot& s : slots)
      if (s.provider == provider) s = Slot{};
}
}  // namespace detail

void set_num_threads(int n) {
  for (int d = 0; d < kNumDeviceTypes; ++d)
    if (const BackendInfo* b = find_backend(DeviceType(d)); b && b->set_num_threads)
      b->set_num_threads(n);
}

}  // namespace gom
