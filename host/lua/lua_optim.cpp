// Optimizers in Lua. gom.optimizer(name, model_or_tensors, {params}) makes one for a hand-written
// loop (opt:step(), opt:zero_grad()); gom.optimizer(name, {params}) is a spec that gom.fit makes
// over the model's parameters, so `--set optimizer.lr=...` can reach it.
#include "lua_util.h"

namespace gom::lua {
namespace {

// Whether the argument is something to optimize (a module or a list of tensors) rather than
// a table of hyperparameters.
bool is_parameters(lua_State* L, int idx) {
  if (test_object<std::shared_ptr<Module>>(L, idx, kModule)) return true;
  if (!lua_istable(L, idx)) return false;
  lua_geti(L, idx, 1);
  const bool tensor = test_object<Tensor>(L, -1, kTensor) != nullptr;
  lua_pop(L, 1);
  return tensor;
}

int l_optimizer(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  const std::string owner = "optimizer '" + name + "'";
  if (!is_parameters(L, 2)) {
    Config config = to_config(L, 2, owner);
    validated(ComponentKind::Optimizer, name, config);  // fail here, at the script's line
    push_object(L, kOptimizerSpec, OptimizerSpec{name, std::move(config)});
    return 1;
  }
  const Config config = to_config(L, 3, owner);
  Params params = validated(ComponentKind::Optimizer, name, config);
  push_object(L, kOptimizer,
              LuaOptimizer{create_optimizer(name, check_parameters(L, 2), config), params});
  return 1;
}

Optimizer& check_opt(lua_State* L) {
  return *check_object<LuaOptimizer>(L, 1, kOptimizer).opt;
}
int m_step(lua_State* L) {
  check_opt(L).step();
  return 0;
}
int m_zero_grad(lua_State* L) {
  check_opt(L).zero_grad();
  return 0;
}
int m_lr(lua_State* L) {
  lua_pushnumber(L, check_opt(L).lr());
  return 1;
}
int m_set_lr(lua_State* L) {
  check_opt(L).set_lr(luaL_checknumber(L, 2));
  return 0;
}
// opt:groups() → { {lr = ..., weight_decay = ..., params = n}, ... }
int m_groups(lua_State* L) {
  const auto& groups = check_opt(L).param_groups();
  lua_createtable(L, int(groups.size()), 0);
  for (size_t i = 0; i < groups.size(); ++i) {
    lua_newtable(L);
    for (const auto& [k, v] : groups[i].options) {
      lua_pushnumber(L, v);
      lua_setfield(L, -2, k.c_str());
    }
    lua_pushinteger(L, lua_Integer(groups[i].params.size()));
    lua_setfield(L, -2, "params");
    lua_seti(L, -2, lua_Integer(i + 1));
  }
  return 1;
}
int m_tostring(lua_State* L) {
  const auto& o = check_object<LuaOptimizer>(L, 1, kOptimizer);
  std::string s = o.opt->type() + "(";
  bool first = true;
  for (const auto& [k, v] : o.params.values()) {
    s += fmt::format("{}{}={}", first ? "" : ", ", k, v.str());
    first = false;
  }
  s += ")";
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}
int spec_tostring(lua_State* L) {
  const auto& spec = check_object<OptimizerSpec>(L, 1, kOptimizerSpec);
  lua_pushfstring(L, "%s (made by gom.fit over the model's parameters)", spec.name.c_str());
  return 1;
}

const luaL_Reg kMethods[] = {{"step", safe<m_step>},     {"zero_grad", safe<m_zero_grad>},
                             {"lr", safe<m_lr>},         {"set_lr", safe<m_set_lr>},
                             {"groups", safe<m_groups>}, {nullptr, nullptr}};
const luaL_Reg kMeta[] = {{"__tostring", safe<m_tostring>}, {nullptr, nullptr}};
const luaL_Reg kSpecMeta[] = {{"__tostring", safe<spec_tostring>}, {nullptr, nullptr}};
const luaL_Reg kFunctions[] = {{"optimizer", safe<l_optimizer>}, {nullptr, nullptr}};

}  // namespace

void open_optim(lua_State* L) {
  define_class<LuaOptimizer>(L, kOptimizer, kMethods, kMeta);
  define_class<OptimizerSpec>(L, kOptimizerSpec, nullptr, kSpecMeta);
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
