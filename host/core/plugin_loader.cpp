// Loads plugin libraries with Boost.DLL: ABI version first, then the registration entry.
#include <dlfcn.h>
#include <fmt/format.h>

#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>

#include "elf_check.h"
#include "gom/kernel.h"
#include "gom/plugin.h"
#include "registry_internal.h"

namespace gom {
namespace fs = std::filesystem;

namespace {

struct Loaded {
  LoadedPlugin info;
  std::shared_ptr<boost::dll::shared_library> lib;  // kept loaded until exit
};

struct State {
  std::recursive_mutex mu;
  std::vector<Loaded> libs;
};

State& state() {
  static auto* s = new State;  // leaked: plugin code may run during static destruction
  return *s;
}

std::string short_name(const fs::path& p) {
  std::string n = p.stem().string();
  if (n.rfind("lib", 0) == 0) n = n.substr(3);
  return n;
}

// The folder of the libgom.so this code runs from ("" if unknown).
fs::path libgom_dir() {
  static const int anchor = 0;  // any object of libgom tells dladdr which file it is in
  Dl_info info{};
  if (dladdr(&anchor, &info) == 0 || !info.dli_fname) return {};
  std::error_code ec;
  return fs::weakly_canonical(info.dli_fname, ec).parent_path();
}

std::vector<fs::path> default_dirs() {
  // The build tree's libgom uses the build tree's plugins; an installed one (wherever the prefix
  // was moved) the plugins installed beside it, <libdir>/gom/plugins, and never a build tree's.
  std::error_code ec;
  const fs::path self = libgom_dir();
  std::vector<fs::path> dirs;
  if (self.empty() || self == fs::weakly_canonical(GOM_BUILD_LIB_DIR, ec))
    dirs.emplace_back(GOM_BUILD_PLUGIN_DIR);
  else
    dirs.push_back(self / "gom" / "plugins");
  dirs.emplace_back(GOM_INSTALL_PLUGIN_DIR);
  if (const char* env = std::getenv("GOM_PLUGIN_PATH")) {
    std::stringstream ss(env);
    for (std::string d; std::getline(ss, d, ':');)
      if (!d.empty()) dirs.emplace_back(d);
  }
  return dirs;
}

}  // namespace

const LoadedPlugin& load_plugin(const std::string& path_in) {
  auto& st = state();
  std::lock_guard lock(st.mu);
  std::error_code ec;
  const fs::path path = fs::weakly_canonical(path_in, ec);
  for (const Loaded& l : st.libs)
    if (l.info.path == path.string()) return l.info;
  if (fs::is_directory(path))
    throw Error(
        fmt::format("plugin {}: is a directory; a plugin is a shared library file "
                    "(libgom_NAME.so)",
                    path_in));
  if (!fs::is_regular_file(path)) throw Error(fmt::format("plugin {}: no such file", path_in));

  detail::check_elf_shared_object(path.string(), path_in);
  auto lib = std::make_shared<boost::dll::shared_library>();
  try {
    // Resolve every symbol now: a lazily bound plugin with an undefined symbol would load and
    // then abort the whole process at its first call.
    lib->load(path, boost::dll::load_mode::rtld_now);
  } catch (const std::exception& e) {
    throw Error(
        fmt::format("plugin {}: cannot be loaded as a shared library: {}", path_in, e.what()));
  }
  if (!lib->has("gom_abi_version"))
    throw Error(
        fmt::format("plugin {}: not a gom plugin (it exports no 'gom_abi_version'; "
                    "declare its entry with GOM_PLUGIN(...) from gom/plugin.h)",
                    path_in));
  const int abi = lib->get_alias<PluginAbiFn>("gom_abi_version")();
  if (abi != kAbiVersion)
    throw Error(
        fmt::format("plugin {}: incompatible ABI version (plugin: {}, host: {}); rebuild "
                    "it against this gom's SDK",
                    path_in, abi, kAbiVersion));
  if (!lib->has("gom_register"))
    throw Error(fmt::format("plugin {}: exports no 'gom_register' entry", path_in));
  PluginContext ctx{path.string(), short_name(path)};
  // Whatever a failing registration added is removed again, so nothing half-registered stays.
  std::string failure;
  detail::set_registering_library(ctx.library, ctx.name);
  try {
    lib->get_alias<PluginRegisterFn>("gom_register")(ctx);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "a non-standard exception";
  }
  detail::set_registering_library("", "");
  if (!failure.empty()) {
    detail::unregister_library(ctx.library, ctx.name);
    throw Error(fmt::format("plugin {}: registration failed: {}", path_in, failure));
  }
  st.libs.push_back({{ctx.name, ctx.library}, std::move(lib)});
  return st.libs.back().info;
}

std::vector<std::string> load_default_plugins() {
  std::vector<std::string> errors;
  auto& st = state();
  std::lock_guard lock(st.mu);
  for (const fs::path& dir : default_dirs()) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string f = e.path().filename().string();
      if (f.rfind("libgom_", 0) == 0 && e.path().extension() == ".so") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      // The first folder that has a plugin of a given name wins (build tree over install).
      bool have = false;
      for (const Loaded& l : st.libs) have = have || l.info.name == short_name(f);
      if (have) continue;
      try {
        load_plugin(f.string());
      } catch (const Error& e) {
        errors.emplace_back(e.what());
      }
    }
  }
  return errors;
}

void init() {
  static std::once_flag once;
  static std::vector<std::string> errors;
  std::call_once(once, [] {
    errors = load_default_plugins();
    for (const auto& e : errors) std::cerr << "gom: skipped " << e << "\n";
  });
  if (!find_backend(DeviceType::CPU)) {
    std::string dirs;
    for (const auto& d : default_dirs()) dirs += "\n  " + d.string();
    throw Error(
        "no CPU backend is loaded: no libgom_onednn.so (or other CPU backend) was found "
        "in the plugin folders:" +
        dirs +
        "\nbuild it (scripts/setup) or point "
        "GOM_PLUGIN_PATH at its folder");
  }
}

std::vector<LoadedPlugin> loaded_plugins() {
  auto& st = state();
  std::lock_guard lock(st.mu);
  std::vector<LoadedPlugin> out;
  for (const Loaded& l : st.libs) out.push_back(l.info);
  return out;
}

}  // namespace gom
