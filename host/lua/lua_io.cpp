// Weights in and out of Lua: gom.save / gom.load of safetensors files, a module's state_dict
// and load_state_dict, and freeze / unfreeze for transfer learning.
#include <filesystem>

#include "lua_util.h"

namespace gom::lua {
namespace {

void push_named(lua_State* L, const NamedTensors& tensors) {
  lua_createtable(L, 0, int(tensors.size()));
  for (const auto& [k, t] : tensors) {
    push_tensor(L, t);
    lua_setfield(L, -2, k.c_str());
  }
}

// A module, or a table of name = tensor, as named tensors (sorted by name for a table).
NamedTensors check_named(lua_State* L, int idx) {
  if (auto* m = test_object<std::shared_ptr<Module>>(L, idx, kModule)) return (*m)->state_dict();
  luaL_checktype(L, idx, LUA_TTABLE);
  std::map<std::string, Tensor> sorted;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING || !test_object<Tensor>(L, -1, kTensor))
      luaL_error(L, "expected a module or a table of name = tensor");
    sorted[lua_tostring(L, -2)] = check_tensor(L, -1);
    lua_pop(L, 1);
  }
  return {sorted.begin(), sorted.end()};
}

// gom.save(path, module_or_table [, {metadata}]): creates the folder if needed.
int l_save(lua_State* L) {
  const std::string path = luaL_checkstring(L, 1);
  const NamedTensors tensors = check_named(L, 2);
  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : to_config(L, 3, "gom.save metadata"))
    meta[k] = v.is_string() ? v.as_string() : v.str();
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  save_safetensors(path, tensors, meta);
  return 0;
}

// gom.load(path [, device]) → {name = tensor, ...}, {metadata}; device "cuda", "cuda:1", "cpu"
int l_load(lua_State* L) {
  const Safetensors f = load_safetensors(
      luaL_checkstring(L, 1), lua_isnoneornil(L, 2) ? kCPU : Device::parse(luaL_checkstring(L, 2)));
  push_named(L, f.tensors);
  lua_createtable(L, 0, int(f.metadata.size()));
  for (const auto& [k, v] : f.metadata) {
    lua_pushstring(L, v.c_str());
    lua_setfield(L, -2, k.c_str());
  }
  return 2;
}

int m_state_dict(lua_State* L) {
  push_named(L, check_module(L, 1)->state_dict());
  return 1;
}

// m:load_state_dict(path_or_table [, {strict = true}]) → {missing = {...}, unexpected = {...},
// mismatched = {...}}
int m_load_state_dict(lua_State* L) {
  auto& m = check_module(L, 1);
  const NamedTensors src =
      lua_type(L, 2) == LUA_TSTRING ? load_safetensors(lua_tostring(L, 2)).tensors : check_named(L, 2);
  bool strict = true;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "strict");
    if (!lua_isnil(L, -1)) strict = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  const Module::LoadReport r = m->load_state_dict(src, strict);
  lua_newtable(L);
  const std::pair<const char*, const std::vector<std::string>*> parts[] = {
      {"missing", &r.missing}, {"unexpected", &r.unexpected}, {"mismatched", &r.mismatched}};
  for (const auto& [name, list] : parts) {
    lua_createtable(L, int(list->size()), 0);
    for (size_t i = 0; i < list->size(); ++i) {
      lua_pushstring(L, (*list)[i].c_str());
      lua_seti(L, -2, lua_Integer(i + 1));
    }
    lua_setfield(L, -2, name);
  }
  return 1;
}

// m:freeze() / m:unfreeze(): its parameters stop (or start again) getting gradients, so an
// optimizer leaves them alone.
template <bool On>
int m_requires_grad(lua_State* L) {
  for (auto& p : check_module(L, 1)->parameters()) p.requires_grad_(On);
  lua_settop(L, 1);
  return 1;
}

const luaL_Reg kMethods[] = {{"state_dict", safe<m_state_dict>},
                             {"load_state_dict", safe<m_load_state_dict>},
                             {"freeze", safe<m_requires_grad<false>>},
                             {"unfreeze", safe<m_requires_grad<true>>},
                             {nullptr, nullptr}};
const luaL_Reg kFunctions[] = {{"save", safe<l_save>}, {"load", safe<l_load>}, {nullptr, nullptr}};

}  // namespace

void open_io(lua_State* L) {
  add_methods(L, kModule, kMethods);
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
