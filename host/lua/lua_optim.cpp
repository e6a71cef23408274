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

// Whether the argument is a list of parameter groups: {{params = m1, lr = 1e-4}, {params = m2}}.
bool is_groups(lua_State* L, int idx) {
  if (!lua_istable(L, idx)) return false;
  lua_geti(L, idx, 1);
  bool groups = false;
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "params");
    groups = !lua_isnil(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return groups;
}

// gom.optimizer(name, {{params = body, lr = 1e-4}, {params = head}}, {lr = 1e-3}): PyTorch's
// parameter groups. Each group takes the optimizer's options and overrides some of them
// (discriminative learning rates; lr = 0 freezes a group).
int make_grouped(lua_State* L, const std::string& name) {
  const std::string owner = "optimizer '" + name + "'";
  const Config config = to_config(L, 3, owner);
  Params params = validated(ComponentKind::Optimizer, name, config);
  std::vector<std::vector<Tensor>> group_params;
  std::vector<Config> group_overrides;
  std::vector<Tensor> all;
  const lua_Integer n = luaL_len(L, 2);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_geti(L, 2, i);
    const int g = lua_gettop(L);
    if (!lua_istable(L, g)) return luaL_error(L, "%s: group %d is not a table", owner.c_str(), int(i));
    lua_getfield(L, g, "params");  // kept at g + 1
    group_params.push_back(check_parameters(L, g + 1));
    // The other fields are option overrides: read them without params, then put it back.
    lua_pushnil(L);
    lua_setfield(L, g, "params");
    group_overrides.push_back(to_config(L, g, fmt::format("{}: group {}", owner, i)));
    lua_pushvalue(L, g + 1);
    lua_setfield(L, g, "params");
    for (const Tensor& t : group_params.back()) all.push_back(t);
    lua_settop(L, g - 1);
  }
  auto opt = create_optimizer(name, all, config);
  const std::map<std::string, double> base = opt->param_groups().at(0).options;
  std::vector<ParamGroup> groups;
  for (size_t i = 0; i < group_params.size(); ++i) {
    ParamGroup g{group_params[i], base};
    for (const auto& [k, v] : group_overrides[i]) {
      if (!base.count(k)) {
        std::vector<std::string> keys;
        for (const auto& [bk, bv] : base) keys.push_back(bk);
        return luaL_error(L, "%s: group %d: '%s' is not a per-group option (accepted: %s)",
                          owner.c_str(), int(i + 1), k.c_str(), fmt::format("{}", fmt::join(keys, ", ")).c_str());
      }
      g.options[k] = v.as_number();
    }
    groups.push_back(std::move(g));
  }
  opt->param_groups() = std::move(groups);
  push_object(L, kOptimizer, LuaOptimizer{opt, params});
  return 1;
}

int l_optimizer(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  const std::string owner = "optimizer '" + name + "'";
  if (is_groups(L, 2)) return make_grouped(L, name);
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
