// Core-internal hooks of the registries, used by the plugin loader.
#pragma once

#include <string>

namespace gom::detail {

/// The library whose registration entry is running on this thread ("" outside one). Components
/// registered meanwhile are credited to it.
void set_registering_library(const std::string& path, const std::string& name);
/// Removes everything `path`/`name` registered: a plugin whose registration fails leaves nothing
/// half-registered behind.
void unregister_library(const std::string& path, const std::string& name);
/// Lists a backend among the components (called by register_backend).
void add_backend_component(const std::string& name, const std::string& doc);
/// Removes the kernels `provider` registered (kernel_registry.cpp).
void unregister_kernels(const std::string& provider);

}  // namespace gom::detail
