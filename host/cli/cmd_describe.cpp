// `gom describe KIND NAME`: one component's library, doc and parameter schema.
#include <fmt/format.h>

#include <memory>

#include "commands.h"
#include "gom/plugin.h"
#include "lookup.h"
#include "gom_core/text_table.h"

namespace gom::cli {

namespace {

struct DescribeOptions {
  std::string kind, name;
};

std::string default_cell(const ParamSpec& p) {
  if (p.is_required) return "required";
  if (p.default_value.is_null()) return "(optional)";  // may be left out; no default value
  return p.default_value.str();
}

void print_schema(const Schema& schema) {
  if (schema.specs().empty()) {
    fmt::print("\nparameters: none\n");
    return;
  }
  std::vector<Row> rows{{"parameter", "type", "default", "accepted", "doc"}};
  for (const ParamSpec& p : schema.specs())
    rows.push_back({p.name, param_type_name(p.type), default_cell(p), p.accepted(), p.doc});
  fmt::print("\nparameters:\n{}", table(rows));
}

void print_backend(const BackendInfo& b, const std::string& library) {
  fmt::print("  device   {}\n", device_type_name(b.device));
  fmt::print("  status   {}\n", backend_status(b));
  const auto ops = kernels_on(b.device, library);
  fmt::print("\nkernels on {} ({}):\n{}", device_type_name(b.device), ops.size(),
             wrap_list(ops, "  "));
}

int run_describe(const DescribeOptions& o) {
  const ComponentInfo* info = nullptr;
  try {
    info = &find_component(parse_kind(o.kind), o.name);
  } catch (const Error& e) {
    // An unknown kind or name is a bad request; the registry's message lists what exists.
    fmt::print(stderr, "gom: {}\n", e.what());
    return kExitUsage;
  }
  const std::string lib = library_name(info->library);
  fmt::print("{} '{}'\n", kind_name(info->kind), info->name);
  fmt::print("  library  {}{}\n", lib,
             lib == info->library ? "" : fmt::format(" ({})", info->library));
  fmt::print("  doc      {}\n", info->doc);
  if (info->kind == ComponentKind::Backend) {
    if (const BackendInfo* b = find_backend_named(info->name)) print_backend(*b, lib);
    if (info->schema.specs().empty()) return 0;  // backends take no parameters (yet)
  }
  print_schema(info->schema);
  return 0;
}

}  // namespace

void add_describe_command(CLI::App& app, Action& action) {
  auto opts = std::make_shared<DescribeOptions>();
  CLI::App* cmd =
      app.add_subcommand("describe",
                         "Show a component's library, doc and parameters (name, type, default, "
                         "accepted values, doc)");
  cmd->add_option("KIND", opts->kind, "backend, layer, optimizer, dataset or callback")->required();
  cmd->add_option("NAME", opts->name, "the component's registered name")->required();
  cmd->callback([&action, opts] { action = [opts] { return run_describe(*opts); }; });
}

}  // namespace gom::cli
