// The component registries of the five kinds, and creating components from configs.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mutex>

#include "gom/callback.h"
#include "gom/dataset.h"
#include "gom/kernel.h"
#include "gom/layer.h"
#include "gom/optimizer.h"
#include "gom/plugin.h"
#include "registry_internal.h"

namespace gom {

namespace {

struct Entry {
  ComponentInfo info;
  LayerFactory layer;
  OptimizerFactory optimizer;
  DatasetFactory dataset;
  CallbackFactory callback;
};

struct Components {
  std::recursive_mutex mu;
  std::map<std::pair<ComponentKind, std::string>, Entry> entries;
};

Components& reg() {
  static auto* r = new Components;  // leaked: components may be looked up during exit
  return *r;
}

thread_local std::string t_library = "(host)";

void add(Entry e) {
  auto& r = reg();
  std::lock_guard lock(r.mu);
  const auto key = std::make_pair(e.info.kind, e.info.name);
  if (auto it = r.entries.find(key); it != r.entries.end())
    throw Error(fmt::format("{} '{}' is registered twice: by {} and by {}", kind_name(e.info.kind),
                            e.info.name, it->second.info.library, e.info.library));
  r.entries.emplace(key, std::move(e));
}

Entry make_entry(ComponentKind kind, const std::string& name, const std::string& doc,
                 Schema schema) {
  if (name.empty()) throw Error(std::string("a ") + kind_name(kind) + " needs a name");
  return Entry{ComponentInfo{kind, name, doc, t_library, std::move(schema)}, {}, {}, {}, {}};
}

const Entry& lookup(ComponentKind kind, const std::string& name) {
  auto& r = reg();
  std::lock_guard lock(r.mu);
  if (auto it = r.entries.find({kind, name}); it != r.entries.end()) return it->second;
  std::vector<std::string> known;
  for (const auto& [k, e] : r.entries)
    if (k.first == kind) known.push_back(k.second);
  auto near = closest(name, known);
  throw Error(fmt::format(
      "unknown {} '{}'{}; known {}s: {}", kind_name(kind), name,
      near ? " (did you mean '" + *near + "'?)" : "", kind_name(kind),
      known.empty() ? "none (is its plugin loaded?)" : fmt::format("{}", fmt::join(known, ", "))));
}

std::string owner_of(ComponentKind k, const std::string& name) {
  return fmt::format("{} '{}'", kind_name(k), name);
}

// Runs a plugin's factory. A gom::Error is a message meant for the user: it gets the component's
// name in front (once). Anything else is a plugin's bug or a library's throw: it also names the
// library, so the user knows whom to blame.
template <class F>
auto create(const Entry& e, F&& make) {
  const std::string owner = owner_of(e.info.kind, e.info.name);
  try {
    auto obj = make();
    if (!obj) throw Error("the factory returned nothing");
    return obj;
  } catch (const Error& ex) {
    const std::string what = ex.what();
    if (what.rfind(owner, 0) == 0) throw;  // already says whose it is
    throw Error(fmt::format("{}: {}", owner, what));
  } catch (const std::exception& ex) {
    throw Error(fmt::format("{} (from {}): {}", owner, e.info.library, ex.what()));
  } catch (...) {
    throw Error(fmt::format("{} (from {}): creation failed with a non-standard exception", owner,
                            e.info.library));
  }
}

}  // namespace

const char* kind_name(ComponentKind k) {
  switch (k) {
    case ComponentKind::Backend:
      return "backend";
    case ComponentKind::Layer:
      return "layer";
    case ComponentKind::Optimizer:
      return "optimizer";
    case ComponentKind::Dataset:
      return "dataset";
    case ComponentKind::Callback:
      return "callback";
  }
  return "?";
}

ComponentKind parse_kind(const std::string& name) {
  for (auto k : {ComponentKind::Backend, ComponentKind::Layer, ComponentKind::Optimizer,
                 ComponentKind::Dataset, ComponentKind::Callback})
    if (name == kind_name(k) || name == std::string(kind_name(k)) + "s") return k;
  throw Error(
      fmt::format("unknown kind '{}'; kinds: backend, layer, optimizer, dataset, callback", name));
}

void register_layer(const std::string& name, const std::string& doc, Schema schema,
                    LayerFactory factory) {
  Entry e = make_entry(ComponentKind::Layer, name, doc, std::move(schema));
  e.layer = std::move(factory);
  add(std::move(e));
}

void register_optimizer(const std::string& name, const std::string& doc, Schema schema,
                        OptimizerFactory factory) {
  Entry e = make_entry(ComponentKind::Optimizer, name, doc, std::move(schema));
  e.optimizer = std::move(factory);
  add(std::move(e));
}

void register_dataset(const std::string& name, const std::string& doc, Schema schema,
                      DatasetFactory factory) {
  Entry e = make_entry(ComponentKind::Dataset, name, doc, std::move(schema));
  e.dataset = std::move(factory);
  add(std::move(e));
}

void register_callback(const std::string& name, const std::string& doc, Schema schema,
                       CallbackFactory factory) {
  Entry e = make_entry(ComponentKind::Callback, name, doc, std::move(schema));
  e.callback = std::move(factory);
  add(std::move(e));
}

std::shared_ptr<Module> create_layer(const std::string& name, const Config& config) {
  const Entry& e = lookup(ComponentKind::Layer, name);
  Params p = validate(owner_of(ComponentKind::Layer, name), e.info.schema, config);
  auto m = create(e, [&] { return e.layer(p); });
  m->set_identity(name, std::move(p));
  return m;
}

std::shared_ptr<Optimizer> create_optimizer(const std::string& name, std::vector<Tensor> params,
                                            const Config& config) {
  const Entry& e = lookup(ComponentKind::Optimizer, name);
  Params p = validate(owner_of(ComponentKind::Optimizer, name), e.info.schema, config);
  auto o = create(e, [&] { return e.optimizer(std::move(params), p); });
  o->set_type(name);
  return o;
}

std::shared_ptr<Dataset> create_dataset(const std::string& name, const Config& config) {
  const Entry& e = lookup(ComponentKind::Dataset, name);
  Params p = validate(owner_of(ComponentKind::Dataset, name), e.info.schema, config);
  return create(e, [&] { return e.dataset(p); });
}

std::shared_ptr<Callback> create_callback(const std::string& name, const Config& config) {
  const Entry& e = lookup(ComponentKind::Callback, name);
  Params p = validate(owner_of(ComponentKind::Callback, name), e.info.schema, config);
  auto c = create(e, [&] { return e.callback(p); });
  c->set_type(name);
  return c;
}

std::vector<ComponentInfo> components(std::optional<ComponentKind> kind) {
  std::vector<ComponentInfo> out;
  {
    auto& r = reg();
    std::lock_guard lock(r.mu);
    for (const auto& [k, e] : r.entries)
      if (!kind || k.first == *kind) out.push_back(e.info);
  }
  return out;
}

const ComponentInfo& find_component(ComponentKind kind, const std::string& name) {
  return lookup(kind, name).info;
}

namespace detail {

void set_registering_library(const std::string& path, const std::string&) {
  t_library = path.empty() ? "(host)" : path;
}

void add_backend_component(const std::string& name, const std::string& doc) {
  add(make_entry(ComponentKind::Backend, name, doc, Schema{}));
}

void unregister_library(const std::string& path, const std::string& name) {
  auto& r = reg();
  {
    std::lock_guard lock(r.mu);
    for (auto it = r.entries.begin(); it != r.entries.end();)
      it = it->second.info.library == path ? r.entries.erase(it) : std::next(it);
  }
  unregister_kernels(name);
}

}  // namespace detail
}  // namespace gom
