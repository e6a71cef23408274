// A script's own hyperparameters and metrics: gom.params{...} declares values that `--set`
// may override (typed by their defaults) and that the run records; gom.log records metrics
// from a hand-written loop, and with gom.metric declares what they mean (direction, phase);
// gom.no_grad runs a function without recording a graph.
#include <algorithm>
#include <filesystem>
#include <optional>

#include "gom/autograd.h"
#include "gom_core/recorder.h"
#include "lua_util.h"

namespace gom::lua {
namespace {

// Declares the entries of the table at idx under `prefix`, replacing each value by its override
// if there is one; nested tables of key = value pairs declare dotted keys ("model.hidden").
void declare(lua_State* L, int idx, const std::string& prefix, RunContext& ctx) {
  idx = lua_absindex(L, idx);
  std::vector<std::string> keys;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      throw Error("gom.params: hyperparameters are named (gom.params{lr = 1e-3, epochs = 10})");
    keys.push_back(lua_tostring(L, -1));
  }
  std::sort(keys.begin(), keys.end());  // a table has no order: declare in a stable one
  for (const std::string& name : keys) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    lua_getfield(L, idx, name.c_str());
    const bool nested = lua_istable(L, -1) && luaL_len(L, -1) == 0 && [&] {
      lua_pushnil(L);
      const bool any = lua_next(L, -2) != 0;
      if (any) lua_pop(L, 2);
      return any;
    }();
    if (nested) {
      declare(L, -1, key, ctx);
      lua_pop(L, 1);
      continue;
    }
    Value v = to_value(L, -1, "gom.params: '" + key + "'");
    lua_pop(L, 1);
    if (auto it = ctx.overrides.find(key); it != ctx.overrides.end()) {
      v = parse_override(key, it->second, type_of(v));
      ctx.used_overrides.insert(key);
      push_value(L, v);
      lua_setfield(L, idx, name.c_str());
    }
    if (auto it = ctx.params.find(key); it != ctx.params.end() && it->second != v.str())
      throw Error(fmt::format("gom.params: '{}' is declared twice ({} and {})", key, it->second,
                              v.str()));
    if (!ctx.params.count(key)) ctx.declared.push_back(key);
    ctx.params[key] = v.str();
    if (ctx.recorder) ctx.recorder->log_params(ctx.run_id, {{key, v.str()}});
  }
}

// local P = gom.params{lr = 1e-3, epochs = 10, model = {hidden = 256}}
int l_params(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  declare(L, 1, "", context(L));
  lua_settop(L, 1);
  return 1;
}

// A metric key as the run database and `gom show` will show it: not empty, no control characters.
void check_metric_key(const std::string& key, const char* arg, const char* fn = "gom.log") {
  constexpr const char* kAccepted =
      "accepted: a non-empty name without control characters, such as \"loss\" or "
      "\"valid/accuracy\"";
  if (key.empty()) throw Error(fmt::format("{}: {} is an empty string; {}", fn, arg, kAccepted));
  for (size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c == 0x7f)
      throw Error(fmt::format("{}: {} {:?} has a control character (byte 0x{:02x} at {}); {}",
                              fn, arg, key, c, i, kAccepted));
  }
}

lua_Integer check_count(lua_State* L, int idx, lua_Integer def, const char* what) {
  const lua_Integer v = luaL_optinteger(L, idx, def);
  if (v < 0)
    throw Error(
        fmt::format("gom.log: {} (argument {}) is {}; accepted: an integer >= 0", what, idx, v));
  return v;
}

// What the options of gom.log and gom.metric say: epoch, step, direction, phase.
struct LogOptions {
  std::optional<lua_Integer> epoch, step;
  std::optional<std::string> direction, phase;
};

// The options table at idx; `fn` names the function in messages, `counts` whether epoch and
// step are accepted.
LogOptions log_options(lua_State* L, int idx, const char* fn, bool counts) {
  const char* accepted = counts ? "epoch, step, direction, phase" : "direction, phase";
  LogOptions o;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const std::string key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    if (counts && (key == "epoch" || key == "step")) {
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        throw Error(fmt::format("{}: option '{}' must be an integer >= 0", fn, key));
      (key == "epoch" ? o.epoch : o.step) = lua_tointeger(L, -1);
    } else if (key == "direction" || key == "phase") {
      if (lua_type(L, -1) != LUA_TSTRING)
        throw Error(fmt::format("{}: option '{}' must be a string", fn, key));
      (key == "direction" ? o.direction : o.phase) = lua_tostring(L, -1);
    } else {
      throw Error(fmt::format("{}: unknown option '{}' (accepted: {})", fn,
                              key.empty() ? luaL_typename(L, -2) : key, accepted));
    }
    lua_pop(L, 1);
  }
  return o;
}

// Records what `key` means when the options declare it: the fields given, the name rule's for
// the others. Each declaration is recorded once (again when it changes).
void declare_metric(RunContext& ctx, const std::string& key, const LogOptions& o, const char* fn) {
  if (!o.direction && !o.phase) return;
  MetricInfo info = metric_info_by_name(key);
  try {
    if (o.direction) info.direction = parse_metric_direction(*o.direction);
    if (o.phase) info.phase = parse_metric_phase(*o.phase);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", fn, e.what()));
  }
  auto [it, fresh] = ctx.metric_info.try_emplace(key, info);
  if (!fresh && it->second == info) return;
  it->second = info;
  if (ctx.recorder) ctx.recorder->describe_metric(ctx.run_id, key, info);
}

// gom.log(key, value [, epoch [, step]] [, options]) or
// gom.log({key = value, ...} [, epoch [, step]] [, options]); options is a table of epoch, step,
// direction ("minimize"/"min", "maximize"/"max", "none") and phase ("train", "valid", "test",
// "none"). epoch counts from 1 (default: one more than the last epoch logged); step defaults to
// the epoch. Rows are committed whenever the epoch moves on, so an interrupted loop keeps them.
int l_log(lua_State* L) {
  RunContext& ctx = context(L);
  const int at = lua_istable(L, 1) ? 2 : 3;
  LogOptions o;
  const int top = lua_gettop(L);
  if (top >= at && lua_istable(L, top)) {
    o = log_options(L, top, "gom.log", true);
    if ((o.epoch && top > at) || (o.step && top > at + 1))
      throw Error("gom.log: the epoch or step is given twice (as an argument and as an option)");
    lua_settop(L, top - 1);
  }
  const lua_Integer epoch = o.epoch.value_or(check_count(L, at, ctx.last_log_epoch + 1, "epoch"));
  const lua_Integer step = o.step.value_or(check_count(L, at + 1, epoch, "step"));
  std::vector<std::pair<std::string, double>> rows;
  if (lua_istable(L, 1)) {
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TNUMBER)
        return luaL_error(L, "gom.log: give {key = number, ...}");
      check_metric_key(lua_tostring(L, -2), "a key of argument 1");
      rows.emplace_back(lua_tostring(L, -2), lua_tonumber(L, -1));
      lua_pop(L, 1);
    }
  } else {
    check_metric_key(luaL_checkstring(L, 1), "argument 1 (key)");
    rows.emplace_back(luaL_checkstring(L, 1), luaL_checknumber(L, 2));
  }
  for (const auto& [k, v] : rows) {
    declare_metric(ctx, k, o, "gom.log");
    ctx.final_metrics[k] = v;
    if (ctx.recorder) ctx.recorder->log_metric(ctx.run_id, k, step, epoch, v);
  }
  if (epoch != ctx.last_log_epoch) flush_or_warn(ctx);
  ctx.last_log_epoch = epoch;
  // A sweep's trial with a pruner (a hand-written loop, as gom.fit's epochs): asked with the
  // rows just logged, committed first so that the other trials see them too.
  if (ctx.should_prune && !ctx.pruned) {
    flush_or_warn(ctx);
    if (ctx.should_prune(epoch, std::map<std::string, double>(rows.begin(), rows.end()))) {
      ctx.pruned = true;
      fmt::print(stderr, "gom: the sweep's pruner stops this trial after epoch {}\n", epoch);
      return luaL_error(L, "pruned by the sweep's pruner after epoch %d", int(epoch));
    }
  }
  return 0;
}

// gom.metric(key, {direction = ..., phase = ...}): declares what a metric means without logging
// a value (the run records it; gom.fit's callbacks see it).
int l_metric(lua_State* L) {
  const std::string key = luaL_checkstring(L, 1);
  check_metric_key(key, "argument 1 (key)", "gom.metric");
  luaL_checktype(L, 2, LUA_TTABLE);
  const LogOptions o = log_options(L, 2, "gom.metric", false);
  if (!o.direction && !o.phase)
    throw Error("gom.metric: give direction and/or phase (gom.metric(\"perplexity\", "
                "{direction = \"minimize\", phase = \"valid\"}))");
  declare_metric(context(L), key, o, "gom.metric");
  return 0;
}

// gom.artifact(kind, path) → the absolute path: records a file the script wrote (a plot, an
// image, a table) with the run, as fit's checkpoints are: kind, path, size and SHA-256. The file
// must exist (record it after writing it).
int l_artifact(lua_State* L) {
  const std::string kind = luaL_checkstring(L, 1), path = luaL_checkstring(L, 2);
  if (kind.empty()) throw Error("gom.artifact: the kind (argument 1) is empty; say what it is, "
                                "e.g. \"image\" or \"plot\"");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(fmt::format("gom.artifact: no file '{}' (record a file after writing it)", path));
  const std::string absolute = std::filesystem::absolute(path, ec).lexically_normal().string();
  RunContext& ctx = context(L);
  if (ctx.recorder)
    write_or_warn(ctx, [&] { ctx.recorder->add_artifact(ctx.run_id, kind, absolute); });
  lua_pushstring(L, absolute.c_str());
  return 1;
}

// gom.no_grad(fn, ...) → fn(...) with graph recording off (restored on error too).
int l_no_grad(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  NoGrad guard;
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

const luaL_Reg kFunctions[] = {{"params", safe<l_params>},
                               {"log", safe<l_log>},
                               {"metric", safe<l_metric>},
                               {"artifact", safe<l_artifact>},
                               {"no_grad", safe<l_no_grad>},
                               {nullptr, nullptr}};

}  // namespace

void warn_write_failed(RunContext& ctx, const std::string& what) {
  if (ctx.write_failing) return;
  ctx.write_failing = true;
  fmt::print(stderr, "gom: warning: {}; the run goes on (metric rows are kept and written later)\n",
             what);
}

void flush_or_warn(RunContext& ctx) {
  if (!ctx.recorder) return;
  if (ctx.recorder->try_flush()) {
    ctx.write_failing = false;
    return;
  }
  warn_write_failed(ctx, ctx.recorder->last_write_error());
}

void check_overrides(RunContext& ctx, const std::string& when) {
  const std::vector<std::string>& declared = ctx.declared;
  for (const auto& [key, text] : ctx.overrides) {
    if (ctx.used_overrides.count(key)) continue;
    std::string why = "the script declares no such hyperparameter " + when;
    if (key.rfind("optimizer.", 0) == 0)
      why = "the optimizer was made by the script with its parameters; give gom.fit a spec, "
            "gom.optimizer(name, {...}), for --set to reach it, or declare the value with "
            "gom.params";
    const auto hint = closest(key, declared);
    throw Error(fmt::format("--set {}={}: {}{} (declare it with gom.params{{...}}; declared: {})",
                            key, text, why,
                            hint ? fmt::format("; did you mean '{}'?", *hint) : "",
                            declared.empty() ? "none" : fmt::format("{}", fmt::join(declared, ", "))));
  }
}

void open_params(lua_State* L) {
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
