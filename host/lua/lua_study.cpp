// gom.league{...} and gom.sweep{...}: a league or a sweep from a script, whose run becomes the
// study's parent; each trial runs the study's script as its own `gom run` process. And the
// search-space constructors gom.uniform, gom.loguniform, gom.int and gom.choice.
#include <algorithm>
#include <charconv>
#include <filesystem>

#include "gom/metric.h"
#include "gom_core/recorder.h"
#include "gom_core/search.h"
#include "gom_core/study.h"
#include "gom_core/study_report.h"
#include "gom_core/study_worker.h"
#include "gom_core/threads.h"
#include "lua_util.h"

namespace gom::lua {
namespace {

using json = nlohmann::json;
constexpr const char* kDistribution = "gom.Distribution";

struct LuaDistribution {
  json j;
};

int push_distribution(lua_State* L, const search::Distribution& d) {
  json j = search::to_json(d);
  search::distribution_from_json(j);  // validates it
  push_object(L, kDistribution, LuaDistribution{std::move(j)});
  return 1;
}

// gom.<type>(lo, hi [, options]): the distribution's JSON with the options table's fields
// (grid; step, log), validated by distribution_from_json, which names a field the type does not
// take.
search::Distribution numeric(lua_State* L, const char* type) {
  json j = {{"type", type}, {"low", luaL_checknumber(L, 1)}, {"high", luaL_checknumber(L, 2)}};
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING)
        throw Error(fmt::format("gom.{}: options are named (grid =, step =, log =)", type));
      const std::string k = lua_tostring(L, -2);
      if (lua_type(L, -1) == LUA_TBOOLEAN)
        j[k] = bool(lua_toboolean(L, -1));
      else if (lua_isinteger(L, -1))
        j[k] = lua_tointeger(L, -1);
      else if (lua_type(L, -1) == LUA_TNUMBER)
        j[k] = lua_tonumber(L, -1);
      else
        throw Error(fmt::format("gom.{}: option '{}' is a {}; accepted: a number or boolean", type,
                                k, luaL_typename(L, -1)));
      lua_pop(L, 1);
    }
  }
  try {
    return search::distribution_from_json(j);
  } catch (const Error& e) {
    throw Error(fmt::format("gom.{}: {}", type, e.what()));
  }
}

// gom.uniform(lo, hi [, {grid = n}]), gom.loguniform(lo, hi [, {grid = n}])
int l_uniform(lua_State* L) {
  return push_distribution(L, numeric(L, "uniform"));
}
int l_loguniform(lua_State* L) {
  return push_distribution(L, numeric(L, "loguniform"));
}
// gom.int(lo, hi [, {step = 1, log = false}])
int l_int(lua_State* L) {
  return push_distribution(L, numeric(L, "int"));
}
// gom.choice{a, b, ...}: strings, numbers or booleans
int l_choice(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  search::Distribution d;
  d.kind = search::Distribution::Kind::Choice;
  const lua_Integer n = luaL_len(L, 1);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_geti(L, 1, i);
    switch (lua_type(L, -1)) {
      case LUA_TBOOLEAN:
        d.choices.emplace_back(bool(lua_toboolean(L, -1)));
        break;
      case LUA_TNUMBER:
        d.choices.push_back(lua_isinteger(L, -1) ? json(lua_tointeger(L, -1))
                                                 : json(lua_tonumber(L, -1)));
        break;
      case LUA_TSTRING:
        d.choices.emplace_back(lua_tostring(L, -1));
        break;
      default:
        throw Error(
            fmt::format("gom.choice: choice {} is a {}; accepted: strings, numbers, "
                        "booleans",
                        i, luaL_typename(L, -1)));
    }
    lua_pop(L, 1);
  }
  return push_distribution(L, d);
}

int distribution_tostring(lua_State* L) {
  lua_pushstring(L, check_object<LuaDistribution>(L, 1, kDistribution).j.dump().c_str());
  return 1;
}

// ------------------------------------------------------------------------------ arguments
// The text `--set KEY=TEXT` gives for a Lua scalar.
std::string override_text(lua_State* L, int idx, const std::string& what) {
  switch (lua_type(L, idx)) {
    case LUA_TSTRING:
      return lua_tostring(L, idx);
    case LUA_TBOOLEAN:
      return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TNUMBER:
      return lua_isinteger(L, idx) ? std::to_string(lua_tointeger(L, idx))
                                   : search::override_text(json(lua_tonumber(L, idx)));
    default:
      throw Error(fmt::format("{} is a {}; accepted: a string, number or boolean", what,
                              luaL_typename(L, idx)));
  }
}

// The string-keyed entries of the table at idx as overrides, in key order.
std::vector<Override> overrides_at(lua_State* L, int idx, const std::string& what) {
  std::vector<Override> out;
  if (lua_isnil(L, idx)) return out;
  if (!lua_istable(L, idx)) throw Error(fmt::format("{} must be a table of KEY = value", what));
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      throw Error(fmt::format("{}: keys are names (['optimizer.lr'] = 1e-3)", what));
    const std::string key = lua_tostring(L, -2);
    out.emplace_back(key, override_text(L, -1, what + "." + key));
    lua_pop(L, 1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_keys(lua_State* L, const char* fn, const std::vector<std::string>& accepted) {
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    const std::string key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    if (std::find(accepted.begin(), accepted.end(), key) == accepted.end()) {
      const auto hint = closest(key, accepted);
      throw Error(fmt::format("{}: unknown argument '{}'{} (accepted: {})", fn, key,
                              hint ? fmt::format(" (did you mean '{}'?)", *hint) : "",
                              fmt::join(accepted, ", ")));
    }
  }
}

std::string string_field(lua_State* L, const char* fn, const char* key, bool required,
                         const std::string& def = "") {
  const int t = lua_getfield(L, 1, key);
  std::string v = def;
  if (t == LUA_TSTRING) {
    v = lua_tostring(L, -1);
  } else if (t != LUA_TNIL) {
    throw Error(fmt::format("{}: '{}' must be a string, not a {}", fn, key, luaL_typename(L, -1)));
  } else if (required) {
    throw Error(fmt::format("{}: '{}' is required", fn, key));
  }
  lua_pop(L, 1);
  return v;
}

int64_t int_field(lua_State* L, const char* fn, const char* key, int64_t def, int64_t min) {
  const int t = lua_getfield(L, 1, key);
  int64_t v = def;
  if (t != LUA_TNIL) {
    if (!lua_isinteger(L, -1)) throw Error(fmt::format("{}: '{}' must be an integer", fn, key));
    v = lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  if (v < min)
    throw Error(fmt::format("{}: '{}' is {}; accepted: an integer >= {}", fn, key, v, min));
  return v;
}

// The trials' script: as given (from the working folder), else beside the calling script.
std::string resolve_script(lua_State* L, const std::string& given, const char* fn) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> tried{fs::absolute(given, ec)};
  lua_Debug ar;
  if (fs::path(given).is_relative() && lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar) &&
      ar.source && ar.source[0] == '@')
    tried.push_back(fs::absolute(fs::path(ar.source + 1).parent_path() / given, ec));
  for (const fs::path& p : tried)
    if (fs::is_regular_file(p, ec)) return p.lexically_normal().string();
  std::vector<std::string> names;
  for (const fs::path& p : tried) names.push_back(p.string());
  throw Error(fmt::format("{}: no script '{}' (looked at {})", fn, given, fmt::join(names, ", ")));
}

// The table field `key` of the arguments ({name = value}: numbers, booleans, strings) as a JSON
// object; absent: an empty one. The sampler or pruner checks the names.
json options_field(lua_State* L, const char* fn, const char* key) {
  json o = json::object();
  const int t = lua_getfield(L, 1, key);
  if (t != LUA_TNIL && t != LUA_TTABLE)
    throw Error(fmt::format("{}: '{}' must be a table {{name = value}}, not a {}", fn, key,
                            luaL_typename(L, -1)));
  if (t == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) != LUA_TSTRING)
        throw Error(fmt::format("{}: '{}' has named entries only", fn, key));
      const std::string k = lua_tostring(L, -2);
      if (lua_isinteger(L, -1))
        o[k] = lua_tointeger(L, -1);
      else if (lua_type(L, -1) == LUA_TNUMBER)
        o[k] = lua_tonumber(L, -1);
      else if (lua_type(L, -1) == LUA_TBOOLEAN)
        o[k] = bool(lua_toboolean(L, -1));
      else if (lua_type(L, -1) == LUA_TSTRING)
        o[k] = lua_tostring(L, -1);
      else
        throw Error(fmt::format("{}: {}.{} is a {}; accepted: a number, boolean or string", fn, key,
                                k, luaL_typename(L, -1)));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return o;
}

bool direction_field(lua_State* L, const char* fn, const std::string& metric) {
  const std::string d = string_field(L, fn, "direction", false);
  if (d == "maximize" || d == "max") return true;
  if (d == "minimize" || d == "min") return false;
  if (!d.empty())
    throw Error(fmt::format("{}: direction '{}'; accepted: maximize, minimize", fn, d));
  const MetricDirection by_name = metric_info_by_name(metric).direction;
  if (by_name == MetricDirection::None)
    throw Error(
        fmt::format("{}: gom cannot tell from its name whether a higher or lower '{}' is "
                    "better; give direction = \"maximize\" or \"minimize\"",
                    fn, metric));
  return by_name == MetricDirection::Maximize;
}

void push_json(lua_State* L, const json& j) {
  switch (j.type()) {
    case json::value_t::object:
      lua_createtable(L, 0, int(j.size()));
      for (const auto& [k, v] : j.items()) {
        // JSON keys are text; an integer one (an epoch of a curve) is an integer key in Lua.
        int64_t i = 0;
        const auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), i);
        if (ec == std::errc() && end == k.data() + k.size())
          lua_pushinteger(L, i);
        else
          lua_pushstring(L, k.c_str());
        push_json(L, v);
        lua_settable(L, -3);
      }
      break;
    case json::value_t::array:
      lua_createtable(L, int(j.size()), 0);
      for (size_t i = 0; i < j.size(); ++i) {
        push_json(L, j[i]);
        lua_seti(L, -2, lua_Integer(i + 1));
      }
      break;
    case json::value_t::string:
      lua_pushstring(L, j.get<std::string>().c_str());
      break;
    case json::value_t::boolean:
      lua_pushboolean(L, j.get<bool>());
      break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      lua_pushinteger(L, j.get<int64_t>());
      break;
    case json::value_t::number_float:
      lua_pushnumber(L, j.get<double>());
      break;
    default:
      lua_pushnil(L);
  }
}

// What leagues and sweeps share: name, script, metric and direction, and the overrides `set`.
StudyDefinition common_fields(lua_State* L, const char* fn, StudyKind kind) {
  StudyDefinition def;
  def.kind = kind;
  def.name = string_field(L, fn, "name", true);
  def.script = resolve_script(L, string_field(L, fn, "script", true), fn);
  def.metric = string_field(L, fn, "metric", true);
  def.maximize = direction_field(L, fn, def.metric);
  lua_getfield(L, 1, "set");
  def.common = overrides_at(L, -1, std::string(fn) + ": set");
  lua_pop(L, 1);
  return def;
}

// Makes or joins the study with this run as its parent, works on it, prints its table.
std::pair<StudyRecord, WorkerReport> run_from_script(lua_State* L, StudyDefinition& def,
                                                     const char* fn) {
  RunContext& ctx = context(L);
  if (!ctx.recorder)
    throw Error(fmt::format("{}: needs a run database (run the script with gom run)", fn));
  if (ctx.gom_executable.empty())
    throw Error(
        fmt::format("{}: needs the gom program to run trials (run the script with gom "
                    "run)",
                    fn));
  def.script_sha256 = sha256_file_hex(def.script);
  const int jobs = int(int_field(L, fn, "jobs", 1, 1));
  WorkerOptions w;
  w.gom_executable = ctx.gom_executable;
  w.plugin_files = ctx.plugin_files;
  w.jobs = jobs;
  w.threads = int(int_field(L, fn, "threads", std::max(1, default_num_threads() / jobs), 1));
  w.interrupt = ctx.interrupt;
  w.say = [](const std::string& s) { fmt::print(stderr, "gom: {}\n", s); };
  ctx.recorder->flush();
  StudyStore store(ctx.recorder->path());
  auto done = run_study(store, *ctx.recorder, def, ctx.run_id, w);
  ctx.recorder->add_tag(ctx.run_id, study_kind_name(def.kind), def.name);
  if (done.second.interrupted)
    throw Error(fmt::format("{}: interrupted; run the script again to resume the {}", fn,
                            study_kind_name(def.kind)));
  return done;
}

// gom.league{name =, script =, contenders = {NAME = {KEY = value, ...}, ...}, seeds = 10,
//            metric =, direction =, set = {KEY = value}, jobs = 1, threads =}
int l_league(lua_State* L) {
  constexpr const char* fn = "gom.league";
  luaL_checktype(L, 1, LUA_TTABLE);
  check_keys(
      L, fn,
      {"name", "script", "contenders", "seeds", "metric", "direction", "set", "jobs", "threads"});
  StudyDefinition def = common_fields(L, fn, StudyKind::kLeague);
  if (lua_getfield(L, 1, "contenders") != LUA_TTABLE)
    throw Error("gom.league: 'contenders' must be a table {NAME = {KEY = value, ...}, ...}");
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      throw Error("gom.league: contenders are named ({adam = {optimizer = 'adam'}, ...})");
    const std::string name = lua_tostring(L, -2);
    def.contenders.push_back({name, overrides_at(L, -1, "gom.league: contender " + name)});
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  std::sort(def.contenders.begin(), def.contenders.end(),
            [](const Contender& a, const Contender& b) { return a.name < b.name; });
  if (def.contenders.size() < 2) throw Error("gom.league: needs at least two contenders");
  if (lua_getfield(L, 1, "seeds") == LUA_TTABLE) {
    for (lua_Integer i = 1, n = luaL_len(L, -1); i <= n; ++i) {
      lua_geti(L, -1, i);
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        throw Error("gom.league: 'seeds' must be a count or a list of integers >= 0");
      def.seeds.push_back(lua_tointeger(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  } else {
    lua_pop(L, 1);
    for (int64_t s = 0, n = int_field(L, fn, "seeds", 10, 1); s < n; ++s) def.seeds.push_back(s);
  }
  auto [study, report] = run_from_script(L, def, fn);
  StudyStore store(context(L).recorder->path());
  const LeagueReport r = league_report(store, study);
  fmt::print("{}", league_text(r));
  std::fflush(stdout);
  push_json(L, league_json(r));
  return 1;
}

// gom.sweep{name =, script =, space = {KEY = gom.uniform(...), ...}, trials =, metric =,
//           direction =, sampler = "tpe", sampler_options = {...}, pruner = "none",
//           pruner_options = {...}, seed = 0, set = {...}, jobs, threads}
int l_sweep(lua_State* L) {
  constexpr const char* fn = "gom.sweep";
  luaL_checktype(L, 1, LUA_TTABLE);
  check_keys(L, fn,
             {"name", "script", "space", "trials", "metric", "direction", "sampler",
              "sampler_options", "pruner", "pruner_options", "seed", "set", "jobs", "threads"});
  StudyDefinition def = common_fields(L, fn, StudyKind::kSweep);
  def.sampler = string_field(L, fn, "sampler", false, "tpe");
  def.pruner = string_field(L, fn, "pruner", false, "none");
  def.sampler_options = options_field(L, fn, "sampler_options");
  def.pruner_options = options_field(L, fn, "pruner_options");
  def.seed = int_field(L, fn, "seed", 0, 0);
  if (lua_getfield(L, 1, "space") != LUA_TTABLE)
    throw Error("gom.sweep: 'space' must be a table {KEY = gom.uniform(lo, hi), ...}");
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    auto* d = test_object<LuaDistribution>(L, -1, kDistribution);
    if (lua_type(L, -2) != LUA_TSTRING || !d)
      throw Error(
          "gom.sweep: 'space' maps names to gom.uniform, gom.loguniform, gom.int or "
          "gom.choice");
    def.space[lua_tostring(L, -2)] = d->j;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (def.space.empty()) throw Error("gom.sweep: 'space' is empty");
  const search::SearchSpace space = search::space_from_json(def.space);
  auto sampler =
      search::make_sampler(def.sampler, def.sampler_options, uint64_t(def.seed), def.maximize);
  search::make_pruner(def.pruner, def.pruner_options, def.maximize);  // checks the name
  const auto grid_size = sampler->size(space);
  if (!grid_size && lua_getfield(L, 1, "trials") == LUA_TNIL)
    throw Error(
        fmt::format("gom.sweep: 'trials' (the budget) is required with sampler '{}'", def.sampler));
  lua_settop(L, 1);
  def.trials = int_field(L, fn, "trials", grid_size.value_or(0), 1);
  auto [study, report] = run_from_script(L, def, fn);
  StudyStore store(context(L).recorder->path());
  const SweepReport r = sweep_report(store, study);
  fmt::print("{}", sweep_text(r));
  std::fflush(stdout);
  push_json(L, sweep_json(r));
  return 1;
}

const luaL_Reg kFunctions[] = {{"league", safe<l_league>},
                               {"sweep", safe<l_sweep>},
                               {"uniform", safe<l_uniform>},
                               {"loguniform", safe<l_loguniform>},
                               {"int", safe<l_int>},
                               {"choice", safe<l_choice>},
                               {nullptr, nullptr}};
const luaL_Reg kDistributionMeta[] = {{"__tostring", distribution_tostring}, {nullptr, nullptr}};

}  // namespace

void open_study(lua_State* L) {
  define_class<LuaDistribution>(L, kDistribution, nullptr, kDistributionMeta);
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
