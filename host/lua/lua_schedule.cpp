// lr schedules outside gom.fit: local s = gom.schedule("one_cycle", opt, {max_lr = 0.1,
// total_steps = 100}); then s:step() after each opt:step() (s:step(metric) for
// reduce_on_plateau) and s:lr(). The schedule is the callback plugin gom.fit runs, driven by
// gom::ScheduleDriver with the events fit would send, so the lrs are the same.
#include <limits>

#include "gom_core/schedule_driver.h"
#include "lua_util.h"

namespace gom::lua {
namespace {

constexpr const char* kSchedule = "gom.Schedule";

struct LuaSchedule {
  std::unique_ptr<ScheduleDriver> driver;
  std::string name;
  std::string monitor;  // the metric s:step(x) reports (reduce_on_plateau's monitor)
};

// Schedules whose curve spans the fit unless told its length: outside fit, total_steps says it.
bool needs_total(const std::string& name, const Config& c) {
  if (name == "one_cycle") return true;
  return name == "cosine" && !c.count("T_max") && !c.count("T_0");
}

int l_schedule(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  const ComponentInfo& info = find_component(ComponentKind::Callback, name);
  if (info.doc.rfind("lr schedule", 0) != 0) {
    std::vector<std::string> names;
    for (const auto& c : components(ComponentKind::Callback))
      if (c.doc.rfind("lr schedule", 0) == 0) names.push_back(c.name);
    return luaL_error(L, "gom.schedule: '%s' is not an lr schedule (schedules: %s)", name.c_str(),
                      fmt::format("{}", fmt::join(names, ", ")).c_str());
  }
  if (test_object<OptimizerSpec>(L, 2, kOptimizerSpec))
    return luaL_error(L,
                      "gom.schedule: the optimizer must be made over parameters "
                      "(gom.optimizer(name, model, {...})), not a spec for gom.fit");
  auto& opt = check_object<LuaOptimizer>(L, 2, kOptimizer);
  const std::string owner = "schedule '" + name + "'";
  Config config = to_config(L, 3, owner);
  // total_steps is gom.schedule's own (what epochs x batches are inside fit).
  int64_t total = std::numeric_limits<int64_t>::max() / 4;
  if (auto it = config.find("total_steps");
      it != config.end() && !info.schema.find("total_steps")) {
    if (type_of(it->second) != ParamType::Int || it->second.as_int() < 1)
      return luaL_error(L, "gom.schedule: total_steps must be an integer >= 1, got %s",
                        it->second.str().c_str());
    total = it->second.as_int();
    config.erase(it);
  } else if (needs_total(name, config)) {
    return luaL_error(L,
                      "gom.schedule: '%s' needs total_steps, the number of s:step() calls it "
                      "spans (inside gom.fit: epochs, or epochs x batches)",
                      name.c_str());
  }
  const Params params = validated(ComponentKind::Callback, name, config);
  auto cb = create_callback(name, config);
  const std::string monitor = params.has("monitor") ? params.s("monitor") : "metric";
  push_object(L, kSchedule,
              LuaSchedule{std::make_unique<ScheduleDriver>(cb, opt.opt, total), name, monitor});
  return 1;
}

LuaSchedule& check_schedule(lua_State* L) {
  return check_object<LuaSchedule>(L, 1, kSchedule);
}

// s:step([metric]) → the lr after the step
int s_step(lua_State* L) {
  LuaSchedule& s = check_schedule(L);
  if (lua_isnoneornil(L, 2))
    s.driver->step();
  else
    s.driver->step(s.monitor, luaL_checknumber(L, 2));
  lua_pushnumber(L, s.driver->lr());
  return 1;
}
int s_lr(lua_State* L) {
  lua_pushnumber(L, check_schedule(L).driver->lr());
  return 1;
}
int s_position(lua_State* L) {
  lua_pushinteger(L, check_schedule(L).driver->position());
  return 1;
}
int s_tostring(lua_State* L) {
  const LuaSchedule& s = check_schedule(L);
  const std::string text =
      fmt::format("schedule '{}' (step {}, lr {})", s.name, s.driver->position(), s.driver->lr());
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

const luaL_Reg kMethods[] = {
    {"step", safe<s_step>}, {"lr", safe<s_lr>}, {"position", safe<s_position>}, {nullptr, nullptr}};
const luaL_Reg kMeta[] = {{"__tostring", safe<s_tostring>}, {nullptr, nullptr}};
const luaL_Reg kFunctions[] = {{"schedule", safe<l_schedule>}, {nullptr, nullptr}};

}  // namespace

void open_schedule(lua_State* L) {
  define_class<LuaSchedule>(L, kSchedule, kMethods, kMeta);
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
