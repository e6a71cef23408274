// Callbacks in Lua: gom.callback(name, {params}) makes a registered one; a Lua table of event
// functions (or one function) takes part in gom.fit like any plugin callback. A Lua callback
// gets the loop's state: it reads epoch, batch, loss (a number; loss_tensor is the tensor),
// metrics, ... and may set stop, skip_batch, lr, or report a metric with state:log(key, value).
#include <algorithm>
#include <string_view>

#include "gom/autograd.h"
#include "lua_util.h"

namespace gom::lua {
namespace {

// The state proxy: a pointer valid only while a callback runs; its user values 1 and 2 are the
// fit's model and optimizer.
struct StateRef {
  LoopState* s = nullptr;
};

LoopState& live_state(lua_State* L) {
  auto& ref = check_object<StateRef>(L, 1, kLoopState);
  if (!ref.s) luaL_error(L, "the loop state is only valid while the callback runs");
  return *ref.s;
}

int st_log(lua_State* L) {
  LoopState& s = live_state(L);
  s.metrics[luaL_checkstring(L, 2)] = luaL_checknumber(L, 3);
  return 0;
}

int st_index(lua_State* L) {
  LoopState& s = live_state(L);
  const std::string_view k = luaL_checkstring(L, 2);
  if (k == "epoch") lua_pushinteger(L, s.epoch + 1);
  else if (k == "epochs") lua_pushinteger(L, s.epochs);
  else if (k == "batch") lua_pushinteger(L, s.batch + 1);
  else if (k == "batches") lua_pushinteger(L, s.batches);
  else if (k == "step") lua_pushinteger(L, s.step);
  else if (k == "samples") lua_pushinteger(L, s.samples);
  else if (k == "training") lua_pushboolean(L, s.training);
  else if (k == "phase") {
    if (s.phase == MetricPhase::None) lua_pushnil(L);
    else lua_pushstring(L, metric_phase_name(s.phase));
  }
  else if (k == "stop") lua_pushboolean(L, s.stop);
  else if (k == "skip_batch") lua_pushboolean(L, s.skip_batch);
  else if (k == "input") push_tensor(L, s.input);
  else if (k == "inputs") {  // {input, more_inputs...}: every input of the batch
    lua_createtable(L, int(s.more_inputs.size()) + 1, 0);
    push_tensor(L, s.input);
    lua_seti(L, -2, 1);
    for (size_t i = 0; i < s.more_inputs.size(); ++i) {
      push_tensor(L, s.more_inputs[i]);
      lua_seti(L, -2, lua_Integer(i + 2));
    }
  }
  else if (k == "target") push_tensor(L, s.target);
  else if (k == "pred") push_tensor(L, s.pred);
  else if (k == "loss") {  // a number (nil before after_loss); the tensor is loss_tensor
    if (s.loss.defined()) lua_pushnumber(L, s.loss.item());
    else lua_pushnil(L);
  }
  else if (k == "loss_tensor") push_tensor(L, s.loss);
  else if (k == "lr") {  // no optimizer: model:evaluate's pass
    if (s.optimizer) lua_pushnumber(L, s.optimizer->lr());
    else lua_pushnil(L);
  }
  else if (k == "model") lua_getiuservalue(L, 1, 1);
  else if (k == "optimizer") lua_getiuservalue(L, 1, 2);
  else if (k == "log") lua_pushcfunction(L, safe<st_log>);
  else if (k == "metrics") {
    lua_createtable(L, 0, int(s.metrics.size()));
    for (const auto& [key, v] : s.metrics) {
      lua_pushnumber(L, v);
      lua_setfield(L, -2, key.c_str());
    }
  } else {
    return luaL_error(L,
                      "the loop state has no field '%s' (fields: epoch, epochs, batch, batches, "
                      "step, samples, training, phase, input, inputs, target, pred, loss, "
                      "loss_tensor, lr, "
                      "metrics, "
                      "model, "
                      "optimizer, stop, skip_batch; method: log)",
                      k.data());
  }
  return 1;
}

int st_newindex(lua_State* L) {
  LoopState& s = live_state(L);
  const std::string_view k = luaL_checkstring(L, 2);
  if (k == "stop") s.stop = lua_toboolean(L, 3);
  else if (k == "skip_batch") s.skip_batch = lua_toboolean(L, 3);
  else if (k == "lr" && s.optimizer) s.optimizer->set_lr(luaL_checknumber(L, 3));
  // before_batch may replace the batch (fastai's callbacks can): the step uses the new one.
  else if (k == "input") s.input = check_tensor(L, 3);
  else if (k == "target") s.target = check_tensor(L, 3);
  else
    return luaL_error(L,
                      "the loop state's '%s' cannot be set (settable: stop, skip_batch, lr, input, "
                      "target; "
                      "report a metric with state:log(key, value))",
                      k.data());
  return 0;
}

// A Lua table of event functions (or one function of (event, state)) as a Callback.
class ScriptCallback : public Callback {
 public:
  ScriptCallback(lua_State* L, int fn_idx, int model_idx, int opt_idx, int order)
      : L_(L), order_(order) {
    lua_pushvalue(L, fn_idx);
    fn_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    push_object(L, kLoopState, StateRef{}, 2);
    lua_pushvalue(L, model_idx);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, opt_idx);
    lua_setiuservalue(L, -2, 2);
    state_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  ~ScriptCallback() override {
    luaL_unref(L_, LUA_REGISTRYINDEX, fn_ref_);
    luaL_unref(L_, LUA_REGISTRYINDEX, state_ref_);
  }
  int order() const override { return order_; }

  void on(Event e, LoopState& state) override {
    const int top = lua_gettop(L_);
    lua_pushcfunction(L_, traceback);
    lua_rawgeti(L_, LUA_REGISTRYINDEX, fn_ref_);
    int nargs = 1;
    if (lua_istable(L_, -1)) {
      lua_getfield(L_, -1, event_name(e));
      lua_remove(L_, -2);
      if (lua_isnil(L_, -1)) {
        lua_settop(L_, top);
        return;
      }
    } else {
      lua_pushstring(L_, event_name(e));
      nargs = 2;
    }
    lua_rawgeti(L_, LUA_REGISTRYINDEX, state_ref_);
    auto* ref = static_cast<StateRef*>(lua_touserdata(L_, -1));
    ref->s = &state;
    // The loop runs validation under NoGrad; a callback's own tensor math follows the loop's
    // mode, as in PyTorch.
    const int status = lua_pcall(L_, nargs, 0, top + 1);
    ref->s = nullptr;
    if (status != LUA_OK) {
      std::string msg = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "(error object is not a string)";
      // The traceback's frames below gom.fit repeat in the script's own traceback: keep the
      // callback's part.
      if (const auto cut = msg.find("\n\t[C]: in function 'gom.fit'"); cut != std::string::npos)
        msg.erase(cut);
      lua_settop(L_, top);
      throw Error(msg);
    }
    lua_settop(L_, top);
  }

 private:
  lua_State* L_;
  int fn_ref_ = LUA_NOREF, state_ref_ = LUA_NOREF;
  int order_;
};

int l_callback(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  const Config config = to_config(L, 2, "callback '" + name + "'");
  Params params = validated(ComponentKind::Callback, name, config);
  push_object(L, kCallback, LuaCallback{create_callback(name, config), std::move(params)});
  return 1;
}

int cb_tostring(lua_State* L) {
  const auto& c = check_object<LuaCallback>(L, 1, kCallback);
  lua_pushfstring(L, "callback '%s'", c.cb->type().c_str());
  return 1;
}

const luaL_Reg kStateMeta[] = {
    {"__index", safe<st_index>}, {"__newindex", safe<st_newindex>}, {nullptr, nullptr}};
const luaL_Reg kCallbackMeta[] = {{"__tostring", safe<cb_tostring>}, {nullptr, nullptr}};
const luaL_Reg kFunctions[] = {{"callback", safe<l_callback>}, {nullptr, nullptr}};

}  // namespace

FitCallback to_callback(lua_State* L, int idx, int model_idx, int opt_idx) {
  idx = lua_absindex(L, idx);
  if (auto* c = test_object<LuaCallback>(L, idx, kCallback)) return {c->cb, c->cb->type(), c->params};
  if (lua_type(L, idx) == LUA_TSTRING) {
    const std::string name = lua_tostring(L, idx);
    return {create_callback(name), name, validated(ComponentKind::Callback, name, {})};
  }
  if (!lua_istable(L, idx) && !lua_isfunction(L, idx))
    throw Error(fmt::format(
        "a callback is a gom.callback(...), a callback's name, a table of event functions "
        "({{after_epoch = function(state) ... end}}) or a function(event, state); got a {}",
        luaL_typename(L, idx)));
  std::string name = "lua";
  int order = 0;
  if (lua_istable(L, idx)) {
    lua_getfield(L, idx, "name");
    if (lua_isstring(L, -1)) name = std::string("lua:") + lua_tostring(L, -1);
    lua_getfield(L, idx, "order");
    order = int(luaL_optinteger(L, -1, 0));
    lua_pop(L, 2);
    // Catch a misspelt event at the script's line rather than never calling it.
    std::vector<std::string> events;
    for (int e = int(Event::BeforeFit); e <= int(Event::AfterStep); ++e)
      events.push_back(event_name(Event(e)));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      if (lua_type(L, -1) != LUA_TSTRING) continue;
      const std::string key = lua_tostring(L, -1);
      if (key == "name" || key == "order") continue;
      if (std::find(events.begin(), events.end(), key) == events.end()) {
        lua_pop(L, 1);
        const auto hint = closest(key, events);
        throw Error(fmt::format("callback '{}': '{}' is not an event{} (events: {})", name, key,
                                hint ? fmt::format(" (did you mean '{}'?)", *hint) : "",
                                fmt::join(events, ", ")));
      }
    }
  }
  auto cb = std::make_shared<ScriptCallback>(L, idx, model_idx, opt_idx, order);
  cb->set_type(name);
  return {cb, name, {}};
}

void open_callbacks(lua_State* L) {
  define_class<StateRef>(L, kLoopState, nullptr, kStateMeta);
  define_class<LuaCallback>(L, kCallback, nullptr, kCallbackMeta);
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
