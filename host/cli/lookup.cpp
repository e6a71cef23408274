// What the CLI reads from the registries, beyond ComponentInfo.
#include "lookup.h"

#include <filesystem>

#include "gom/plugin.h"

namespace gom::cli {

std::string library_name(const std::string& path) {
  for (const LoadedPlugin& p : loaded_plugins())
    if (p.path == path) return p.name;
  if (path.empty() || path.front() == '(') return path;  // "(host)"
  std::string n = std::filesystem::path(path).stem().string();
  return n.rfind("lib", 0) == 0 ? n.substr(3) : n;
}

const BackendInfo* find_backend_named(const std::string& name) {
  for (int d = 0; d < kNumDeviceTypes; ++d)
    if (const BackendInfo* b = find_backend(static_cast<DeviceType>(d)); b && b->name == name)
      return b;
  return nullptr;
}

std::string backend_status(const BackendInfo& b) {
  const std::string why = b.unavailable ? b.unavailable() : "";
  return why.empty() ? "available" : why;
}

std::vector<std::string> kernels_on(DeviceType device, const std::string& provider) {
  std::vector<std::string> out;
  for (const std::string& op : kernel_ops()) {
    if (!has_kernel(op, device)) continue;
    const std::string from = kernel_provider(op, device);
    out.push_back(from == provider ? op : op + " (from " + from + ")");
  }
  return out;
}

}  // namespace gom::cli
