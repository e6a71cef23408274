// Checkpoints (gom/checkpoint.h): the training state as one safetensors file.
#include "gom/checkpoint.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "gom/layer.h"
#include "gom/ops.h"
#include "gom/optimizer.h"
#include "gom/safetensors.h"

namespace gom {
namespace {

using json = nlohmann::json;
constexpr const char* kOptimPrefix = "optim/";
constexpr const char* kFormat = "1";

int64_t to_int(const std::string& path, const std::map<std::string, std::string>& m,
               const char* key) {
  auto it = m.find(key);
  if (it == m.end()) throw Error(fmt::format("{}: not a gom checkpoint (no '{}' in its metadata)", path, key));
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    throw Error(fmt::format("{}: metadata '{}' is '{}', not an integer", path, key, it->second));
  }
}

CheckpointInfo info_of(const std::string& path, const Safetensors& f) {
  auto fmt_it = f.metadata.find("gom.checkpoint");
  if (fmt_it == f.metadata.end())
    throw Error(fmt::format("{}: not a gom checkpoint (a safetensors file without "
                            "'gom.checkpoint' metadata: load weights with load_state_dict)",
                            path));
  if (fmt_it->second != kFormat)
    throw Error(fmt::format("{}: checkpoint format {} is not the {} this gom reads", path,
                            fmt_it->second, kFormat));
  CheckpointInfo info;
  info.epoch = to_int(path, f.metadata, "epoch");
  info.step = to_int(path, f.metadata, "step");
  info.metadata = f.metadata;
  return info;
}

}  // namespace

void save_checkpoint(const std::string& path, const LoopState& s, int64_t completed_epochs,
                     const std::map<std::string, std::string>& extra) {
  if (!s.model || !s.optimizer) throw Error("save_checkpoint: the loop has no model or optimizer");
  NamedTensors tensors = s.model->state_dict();
  for (auto& [k, t] : s.optimizer->state()) tensors.emplace_back(kOptimPrefix + k, t);
  std::map<std::string, std::string> meta = extra;
  for (const auto& [k, v] : s.checkpoint_metadata) meta.insert_or_assign(k, v);
  meta.insert_or_assign("gom.checkpoint", std::string(kFormat));
  meta["epoch"] = std::to_string(completed_epochs);
  meta["step"] = std::to_string(s.step);
  meta["rng.seed"] = std::to_string(default_generator().seed());
  meta["rng.offset"] = std::to_string(default_generator().offset());
  meta["optimizer.type"] = s.optimizer->type();
  meta["optimizer.groups"] = json(s.optimizer->group_options()).dump();
  json cbs = json::array();
  if (s.callbacks)
    for (const auto& cb : *s.callbacks) cbs.push_back({{"type", cb->type()}, {"state", cb->state()}});
  meta["callbacks"] = cbs.dump();
  save_safetensors(path, tensors, meta);
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  return info_of(path, load_safetensors(path));
}

CheckpointInfo load_checkpoint(const std::string& path, Module& model, Optimizer& optimizer,
                               const std::vector<std::shared_ptr<Callback>>& callbacks) {
  const Safetensors f = load_safetensors(path);
  CheckpointInfo info = info_of(path, f);
  const std::string opt_type = f.metadata.count("optimizer.type") ? f.metadata.at("optimizer.type") : "";
  if (opt_type != optimizer.type())
    throw Error(fmt::format("{}: written by optimizer '{}', but this fit uses '{}'", path, opt_type,
                            optimizer.type()));
  NamedTensors weights;
  OptimizerState opt_state;
  const std::string prefix = kOptimPrefix;
  for (const auto& [k, t] : f.tensors) {
    if (k.rfind(prefix, 0) == 0) opt_state.emplace_back(k.substr(prefix.size()), t);
    else weights.emplace_back(k, t);
  }
  std::vector<std::map<std::string, double>> groups;
  json cbs;
  try {
    groups = json::parse(f.metadata.at("optimizer.groups")).get<decltype(groups)>();
    cbs = json::parse(f.metadata.at("callbacks"));
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: unreadable optimizer groups or callback states ({})", path, e.what()));
  }
  if (!cbs.is_array() || cbs.size() != callbacks.size())
    throw Error(fmt::format("{}: written with {} callbacks, but this fit has {}", path,
                            cbs.is_array() ? cbs.size() : 0, callbacks.size()));
  for (size_t i = 0; i < callbacks.size(); ++i)
    if (cbs[i].value("type", "") != callbacks[i]->type())
      throw Error(fmt::format("{}: callback {} was '{}', but this fit's is '{}'", path, i + 1,
                              cbs[i].value("type", ""), callbacks[i]->type()));
  try {
    model.load_state_dict(weights, true);
    optimizer.load_state(opt_state);
    optimizer.load_group_options(groups);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
  for (size_t i = 0; i < callbacks.size(); ++i) {
    const std::string st = cbs[i].value("state", "");
    if (!st.empty()) callbacks[i]->load_state(st);
  }
  try {
    default_generator().manual_seed(std::stoull(f.metadata.at("rng.seed")));
    default_generator().set_offset(std::stoull(f.metadata.at("rng.offset")));
  } catch (const std::exception&) {
    throw Error(fmt::format("{}: no readable rng.seed and rng.offset in its metadata", path));
  }
  return info;
}

}  // namespace gom
