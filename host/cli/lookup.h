// What the CLI reads from the registries, beyond ComponentInfo: library names and backends.
#pragma once

#include <string>
#include <vector>

#include "gom/kernel.h"

namespace gom::cli {

/// @brief The short name of the loaded library at `path` ("gom_layers"); "(host)" stays as is.
std::string library_name(const std::string& path);

/// @brief The backend registered under `name`, or nullptr.
const BackendInfo* find_backend_named(const std::string& name);
/// @brief "available", or why the backend cannot run here ("no CUDA device (...)").
std::string backend_status(const BackendInfo& b);


/// @brief Every op with a kernel on `device`, sorted; one from another provider than
/// `provider` reads "op (from other)".
std::vector<std::string> kernels_on(DeviceType device, const std::string& provider);

}  // namespace gom::cli
