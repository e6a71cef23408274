// gom/plugin.h — what a plugin library exports, and how the host loads one.
//
// A plugin exports two entries through BOOST_DLL_ALIAS: `gom_abi_version` (checked first: a
// mismatch is refused before any other code of the library runs) and `gom_register`, which
// registers the library's components (kernels, backends, ...) through the SDK's register_*
// functions. Nothing is registered by static initialisers. Write, at namespace scope:
//
//   static void register_all(const gom::PluginContext& ctx) { ... }
//   GOM_PLUGIN(register_all)
#pragma once

#include <boost/dll/alias.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gom/params.h"

namespace gom {

/// @brief Bumped whenever a change to the SDK headers breaks compiled plugins.
/// 2: Optimizer gained the virtual state() and load_state().
/// 4: LoopState gained checkpoint_metadata.
/// 5: LoopState gained phase, metric_info and weights_epoch; Event gained BeforeTest/AfterTest.
/// 6: Module and Node gained their hooks (gom/hooks.h); Module gained forward_inputs, Batch and
///    LoopState more_inputs.
/// 7: Devices: KernelCall carries its Stream, Storage its stream, BackendInfo says whether it can
///    run here and drives streams, DeviceAllocator takes the Device, Module::to.
/// 8: BackendInfo gained device collectives (collective_id, collective_join, collective_sum).
inline constexpr int kAbiVersion = 8;

/// @brief Handed to a plugin's registration entry.
struct PluginContext {
  std::string library;  ///< path of the library being registered
  std::string name;     ///< its short name (file name without lib prefix and extension)
};

using PluginAbiFn = int();
using PluginRegisterFn = void(const PluginContext&);

/// @brief A library the host has loaded.
struct LoadedPlugin {
  std::string name;
  std::string path;
};

/// @brief Loads one plugin library: checks the ABI version, then calls its registration entry.
/// Throws gom::Error naming the file and the problem (missing file, not a shared library,
/// missing entry, ABI mismatch with expected and found version, registration that threw).
/// Loading the same path twice is a no-op. Libraries stay loaded until the process exits.
const LoadedPlugin& load_plugin(const std::string& path);

/// @brief Loads every `libgom_*.so` in the default plugin folders (the build tree's, then each
/// folder of GOM_PLUGIN_PATH) that is not loaded yet; returns the errors of those that failed.
std::vector<std::string> load_default_plugins();

/// @brief Loads the default plugins once and throws if no CPU backend is registered afterwards.
/// Programs call this before creating tensors.
void init();

/// @brief Every plugin loaded so far, in load order.
std::vector<LoadedPlugin> loaded_plugins();

// ---------------------------------------------------------------- the component registries

/// @brief The five kinds of component a plugin can provide.
enum class ComponentKind { Backend, Layer, Optimizer, Dataset, Callback };
/// @brief "backend", "layer", "optimizer", "dataset", "callback".
const char* kind_name(ComponentKind k);
/// @brief Parses a kind name (plural accepted); throws listing the kinds.
ComponentKind parse_kind(const std::string& name);

/// @brief What the registry knows of a component, for listings and `gom describe`.
struct ComponentInfo {
  ComponentKind kind;
  std::string name;
  std::string doc;      ///< one line
  std::string library;  ///< the plugin file that registered it ("(host)" for built-ins)
  Schema schema;
};

/// @brief Every registered component (of one kind), sorted by kind and name.
std::vector<ComponentInfo> components(std::optional<ComponentKind> kind = std::nullopt);
/// @brief One component; an unknown name is an error listing the known ones and suggesting
/// the closest ("did you mean conv2d?").
const ComponentInfo& find_component(ComponentKind kind, const std::string& name);

}  // namespace gom

#define GOM_PLUGIN(register_fn)                                   \
  namespace gom_plugin_entry {                                    \
  static int abi_version() {                                      \
    return ::gom::kAbiVersion;                                    \
  }                                                               \
  static void register_entry(const ::gom::PluginContext& ctx) {   \
    register_fn(ctx);                                             \
  }                                                               \
  }                                                               \
  BOOST_DLL_ALIAS(gom_plugin_entry::abi_version, gom_abi_version) \
  BOOST_DLL_ALIAS(gom_plugin_entry::register_entry, gom_register)
