// `gom plugins`: every loaded plugin library, then every component grouped by kind.
#include <fmt/format.h>

#include "commands.h"
#include "gom/plugin.h"
#include "lookup.h"
#include "gom_core/text_table.h"

namespace gom::cli {

namespace {

constexpr ComponentKind kKinds[] = {ComponentKind::Backend, ComponentKind::Layer,
                                    ComponentKind::Optimizer, ComponentKind::Dataset,
                                    ComponentKind::Callback};

int run_plugins() {
  const auto libs = loaded_plugins();
  fmt::print("plugin libraries ({}):\n", libs.size());
  std::vector<Row> rows;
  for (const LoadedPlugin& p : libs) rows.push_back({p.name, p.path});
  fmt::print("{}", table(rows));

  for (ComponentKind kind : kKinds) {
    const auto comps = components(kind);
    fmt::print("\n{}s ({}):\n", kind_name(kind), comps.size());
    if (comps.empty()) {
      fmt::print("  none\n");
      continue;
    }
    rows.clear();
    for (const ComponentInfo& c : comps) {
      if (kind == ComponentKind::Backend) {
        // A backend's doc is its description; its device says where its kernels run, and its
        // status whether it can run here (a CUDA plugin loads on a machine without a GPU).
        const BackendInfo* b = find_backend_named(c.name);
        rows.push_back({c.name, b ? device_type_name(b->device) : "?",
                        b ? backend_status(*b) : "?", library_name(c.library), c.doc});
      } else {
        rows.push_back({c.name, library_name(c.library), c.doc});
      }
    }
    fmt::print("{}", table(rows));
  }
  return 0;
}

}  // namespace

void add_plugins_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand(
      "plugins", "List the loaded plugin libraries and every component they provide, by kind");
  cmd->callback([&action] { action = run_plugins; });
}

}  // namespace gom::cli
