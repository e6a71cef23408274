// Modules written in Lua: gom.module{name = ..., init = function(self, opts) ... end,
// forward = function(self, x, ...) ... end} returns a class; calling it (Class{opts}) makes an
// instance, a gom.Module like a built-in layer. Its parameters, buffers and children live in the
// C++ Module (so named_parameters, state_dict, checkpoints, freeze and the optimizer see them as
// they see a built-in layer's); its other fields live in a Lua table the module holds.
//
// References: the C++ module holds its class and its field table through registry references
// (Lua's collector cannot trace into C++), released by its destructor. A field table holds the
// userdata of the module's children (a child never holds its parent) and the values the script
// stored. Only a field that leads back to the module itself (self.me = self through a table or a
// closure) would keep the module alive until the Lua state closes at the end of the run, when
// everything is freed; a module given as its own child or descendant is refused. The userdata
// passed as `self` is cached in a weak table, so it costs no allocation per forward and holds
// nothing alive.
#include <algorithm>
#include <map>
#include <string_view>

#include "lua_util.h"

namespace gom::lua {
namespace {

constexpr const char* kModuleClass = "gom.ModuleClass";
constexpr const char* kAliveKey = "gom.lua_state_alive";     // registry: the Alive keeper
constexpr const char* kSelvesKey = "gom.lua_module_selves";  // registry: weak this -> userdata

// False once the Lua state is closing: a module that outlives it (held by C++) then neither
// releases its references nor runs Lua.
using Alive = std::shared_ptr<bool>;

int alive_gc(lua_State* L) {
  auto* a = static_cast<Alive*>(lua_touserdata(L, 1));
  **a = false;
  a->~Alive();
  return 0;
}

// The error value at the top of the stack as text.
std::string error_text(lua_State* L) {
  const char* s = lua_tostring(L, -1);
  return s ? s : fmt::format("(error object is a {})", luaL_typename(L, -1));
}

class LuaModule final : public Module {
 public:
  // The class table is at class_idx of L.
  LuaModule(lua_State* L, int class_idx) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    L_ = lua_tothread(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, kAliveKey);
    alive_ = *static_cast<Alive*>(lua_touserdata(L, -1));
    lua_pop(L, 1);
    lua_pushvalue(L, class_idx);
    class_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    fields_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    // The number of inputs: forward(self, x) takes one, forward(self, pred, target) two.
    lua_getfield(L, class_idx, "forward");
    lua_Debug ar;
    lua_getinfo(L, ">u", &ar);
    arity_ = std::max(1, int(ar.nparams) - 1);
  }
  ~LuaModule() override {
    if (!*alive_) return;
    luaL_unref(L_, LUA_REGISTRYINDEX, class_ref_);
    luaL_unref(L_, LUA_REGISTRYINDEX, fields_ref_);
  }

  Tensor forward(const Tensor& x) override { return call({x}); }
  Tensor forward(const Tensor& a, const Tensor& b) override { return call({a, b}); }
  Tensor forward_inputs(const std::vector<Tensor>& inputs) override { return call(inputs); }
  int arity() const override { return arity_; }

  // "dot_product_bias(n_factors=5, n_users=10; user_factors: embedding(...), ...)"
  std::string repr() const override {
    std::string s = Module::repr();
    if (children().empty()) return s;
    std::vector<std::string> parts;
    for (const auto& [n, c] : children()) parts.push_back(n + ": " + c->repr());
    s.pop_back();
    return fmt::format("{}{}{})", s, s.back() == '(' ? "" : "; ", fmt::join(parts, ", "));
  }

  // What the instance's methods and fields do.
  Tensor add_parameter(const std::string& name, Tensor t) {
    return register_parameter(name, std::move(t));
  }
  Tensor add_buffer(const std::string& name, Tensor t) { return register_buffer(name, t); }
  void add_child(const std::string& name, std::shared_ptr<Module> m) {
    register_module(name, std::move(m));
  }
  // "parameter", "buffer", "child" or nullptr: what `name` is registered as.
  const char* registered_as(const std::string& name) const {
    for (const auto& [n, t] : named_parameters(false))
      if (n == name) return "parameter";
    for (const auto& [n, t] : named_buffers(false))
      if (n == name) return "buffer";
    for (const auto& [n, c] : children())
      if (n == name || n.rfind(name + ".", 0) == 0) return "child";
    return nullptr;
  }

  void push_class(lua_State* L) const { lua_rawgeti(L, LUA_REGISTRYINDEX, class_ref_); }
  void push_fields(lua_State* L) const { lua_rawgeti(L, LUA_REGISTRYINDEX, fields_ref_); }
  // The module as a gom.Module userdata: the cached one while the script holds it.
  void push_self(lua_State* L) {
    lua_getfield(L, LUA_REGISTRYINDEX, kSelvesKey);
    if (lua_rawgetp(L, -1, this) == LUA_TNIL) {
      lua_pop(L, 1);
      push_module(L, shared_from_this());
      lua_pushvalue(L, -1);
      lua_rawsetp(L, -3, this);
    }
    lua_remove(L, -2);
  }

  // forward(self, ...) with the `nargs` values on the top of L's stack, from Lua: every result
  // comes back (a Lua caller may get several). An error is raised with the module's name.
  int call_from_lua(lua_State* L, int nargs) {
    const int base = lua_gettop(L) - nargs;
    push_class(L);
    lua_getfield(L, -1, "forward");
    lua_replace(L, -2);
    lua_insert(L, base + 1);
    push_self(L);
    lua_insert(L, base + 2);
    if (lua_pcall(L, nargs + 1, LUA_MULTRET, 0) != LUA_OK) {
      const std::string msg = error_text(L);
      return luaL_error(L, "%s: %s", type().c_str(), msg.c_str());
    }
    return lua_gettop(L) - base;
  }

 private:
  // forward(self, inputs...) from C++ (the trainer, a container): one tensor comes back.
  Tensor call(const std::vector<Tensor>& inputs) {
    if (!*alive_) throw Error(fmt::format("{}: the Lua state of this module is closed", type()));
    lua_State* L = L_;
    luaL_checkstack(L, int(inputs.size()) + 4, "forward's inputs");
    const int top = lua_gettop(L);
    push_class(L);
    lua_getfield(L, -1, "forward");
    lua_replace(L, -2);
    push_self(L);
    for (const auto& x : inputs) push_tensor(L, x);
    if (lua_pcall(L, int(inputs.size()) + 1, 1, 0) != LUA_OK) {
      const std::string msg = error_text(L);
      lua_settop(L, top);
      throw Error(fmt::format("{}: {}", type(), msg));
    }
    const Tensor* out = test_object<Tensor>(L, -1, kTensor);
    if (!out) {
      const std::string got = luaL_typename(L, -1);
      lua_settop(L, top);
      throw Error(fmt::format("{}: forward returned a {}, not a tensor", type(), got));
    }
    Tensor result = *out;
    lua_settop(L, top);
    return result;
  }

  lua_State* L_ = nullptr;  // the main thread: the one that is there whenever C++ calls
  Alive alive_;
  int class_ref_ = LUA_NOREF, fields_ref_ = LUA_NOREF;
  int arity_ = 1;
};

LuaModule* as_lua_module(lua_State* L, int idx) {
  return dynamic_cast<LuaModule*>(check_module(L, idx).get());
}

LuaModule& check_lua_module(lua_State* L, int idx, const char* what) {
  LuaModule* m = as_lua_module(L, idx);
  if (!m)
    luaL_error(L, "%s: '%s' is a built-in module, not one made by gom.module", what,
               check_module(L, idx)->type().c_str());
  return *m;
}

// A name for a parameter, buffer or child: not yet taken, no dot (a dot separates the path of
// state_dict names).
std::string check_new_name(lua_State* L, LuaModule& m, int idx, const char* what) {
  const std::string name = luaL_checkstring(L, idx);
  if (name.empty() || name.find('.') != std::string::npos || name == "training")
    luaL_error(L,
               "%s: '%s' cannot name a %s of module '%s' (a name is not empty, has no '.' "
               "and is not 'training')",
               what, name.c_str(), what, m.type().c_str());
  if (const char* as = m.registered_as(name))
    luaL_error(L, "%s: module '%s' already has a %s named '%s'", what, m.type().c_str(), as,
               name.c_str());
  return name;
}

// Whether `m` is `target` or has it among its descendants.
bool contains(const Module& m, const Module* target) {
  if (&m == target) return true;
  for (const auto& [n, c] : m.children())
    if (contains(*c, target)) return true;
  return false;
}

// Registers the module userdata at idx as child `name` of m and keeps the userdata in its fields.
void add_child(lua_State* L, LuaModule& m, const std::string& name, int idx) {
  const auto& child = check_module(L, idx);
  if (contains(*child, &m))
    luaL_error(L, "module '%s': '%s' would contain the module itself", m.type().c_str(),
               name.c_str());
  m.add_child(name, child);
}

// self:parameter(name, tensor) → the parameter (requires_grad; a tensor with a graph is
// detached first); self:buffer(name, tensor) → the buffer (state saved with the weights, not
// trained).
template <bool kParameter>
int lm_tensor(lua_State* L) {
  const char* what = kParameter ? "parameter" : "buffer";
  LuaModule& m = check_lua_module(L, 1, what);
  const std::string name = check_new_name(L, m, 2, what);
  if (!test_object<Tensor>(L, 3, kTensor))
    return luaL_error(L, "self:%s('%s', ...): expected a tensor, got a %s", what, name.c_str(),
                      luaL_typename(L, 3));
  const Tensor& t = check_tensor(L, 3);
  push_tensor(L, kParameter ? m.add_parameter(name, t) : m.add_buffer(name, t));
  m.push_fields(L);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, name.c_str());
  lua_pop(L, 1);
  return 1;
}
// self:add(name, module) → the module, also self.name.
int lm_add(lua_State* L) {
  LuaModule& m = check_lua_module(L, 1, "add");
  const std::string name = check_new_name(L, m, 2, "child");
  add_child(L, m, name, 3);
  m.push_fields(L);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, name.c_str());
  lua_settop(L, 3);
  return 1;
}

// Whether the table at idx is a non-empty list whose every element is a module.
bool is_module_list(lua_State* L, int idx) {
  if (!lua_istable(L, idx)) return false;
  const lua_Integer n = luaL_len(L, idx);
  if (n == 0) return false;
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_geti(L, idx, i);
    const bool is = test_object<std::shared_ptr<Module>>(L, -1, kModule) != nullptr;
    lua_pop(L, 1);
    if (!is) return false;
  }
  return true;
}

std::string names_of(const std::vector<std::string>& names) {
  return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}

// m.key for a Lua module: training, then its fields (parameters, buffers and children
// included), its class (forward, the class's own functions), the methods of Lua modules
// (upvalue 2) and of every module (upvalue 1). An unknown key is an error.
int lua_module_index(lua_State* L, LuaModule& m) {
  if (lua_type(L, 2) == LUA_TSTRING && std::string_view(lua_tostring(L, 2)) == "training") {
    lua_pushboolean(L, m.is_training());
    return 1;
  }
  m.push_fields(L);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) != LUA_TNIL) return 1;
  lua_pop(L, 2);
  m.push_class(L);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) != LUA_TNIL) return 1;
  lua_pop(L, 2);
  for (int up : {2, 1}) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(up)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
  }
  std::vector<std::string> params, buffers, children, fields;
  for (const auto& [n, t] : m.named_parameters(false)) params.push_back(n);
  for (const auto& [n, t] : m.named_buffers(false)) buffers.push_back(n);
  for (const auto& [n, c] : m.children()) children.push_back(n);
  m.push_fields(L);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING && !m.registered_as(lua_tostring(L, -1)))
      fields.push_back(lua_tostring(L, -1));
  }
  lua_pop(L, 1);
  std::sort(fields.begin(), fields.end());
  const std::string key = luaL_tolstring(L, 2, nullptr);
  return luaL_error(L,
                    "module '%s' has no field '%s' (parameters: %s; buffers: %s; children: %s; "
                    "fields: %s)",
                    m.type().c_str(), key.c_str(), names_of(params).c_str(),
                    names_of(buffers).c_str(), names_of(children).c_str(),
                    names_of(fields).c_str());
}

// m.key for a built-in module: its methods, then its own parameters, buffers and children by
// name (lin.weight, as in PyTorch); nil for anything else.
int module_index(lua_State* L) {
  if (LuaModule* m = as_lua_module(L, 1)) return lua_module_index(L, *m);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL || lua_type(L, 2) != LUA_TSTRING) return 1;
  const Module& m = *check_module(L, 1);
  const std::string_view key = lua_tostring(L, 2);
  for (const auto& [n, t] : m.named_parameters(false))
    if (n == key) return push_tensor(L, t), 1;
  for (const auto& [n, t] : m.named_buffers(false))
    if (n == key) return push_tensor(L, t), 1;
  for (const auto& [n, c] : m.children())
    if (n == key) return push_module(L, c), 1;
  return 1;
}

// Whether the value at 3 is what m already holds as `key` (the same tensor or module).
bool already_there(lua_State* L, const LuaModule& m, const std::string& key) {
  if (const Tensor* t = test_object<Tensor>(L, 3, kTensor)) {
    for (const auto& named : {m.named_parameters(false), m.named_buffers(false)})
      for (const auto& [n, p] : named)
        if (n == key && p.impl_ptr() == t->impl_ptr()) return true;
  } else if (auto* c = test_object<std::shared_ptr<Module>>(L, 3, kModule)) {
    for (const auto& [n, child] : m.children())
      if (n == key && child == *c) return true;
  }
  return false;
}

// m.key = value: only a Lua module's instance takes fields. A module becomes a child, a list of
// modules children key.0, key.1, ... (PyTorch's ModuleList names); a tensor is refused (it would
// be neither trained nor saved); anything else is a plain field.
int module_newindex(lua_State* L) {
  const auto& base = check_module(L, 1);
  LuaModule* mp = as_lua_module(L, 1);
  const std::string key = luaL_checkstring(L, 2);
  if (!mp)
    return luaL_error(L,
                      "cannot set '%s' on the built-in module '%s' (only an instance of a "
                      "gom.module class takes fields)",
                      key.c_str(), base->type().c_str());
  LuaModule& m = *mp;
  if (key == "training")
    return luaL_error(L, "module '%s': 'training' is set with m:train() or m:eval()",
                      m.type().c_str());
  if (const char* as = m.registered_as(key)) {
    if (already_there(L, m, key)) return 0;  // self.w = self:parameter("w", t)
    return luaL_error(L, "module '%s': '%s' is a %s and cannot be replaced", m.type().c_str(),
                      key.c_str(), as);
  }
  if (test_object<Tensor>(L, 3, kTensor))
    return luaL_error(L,
                      "module '%s': self.%s = tensor would be neither trained nor saved; use "
                      "self:parameter('%s', t) (trained) or self:buffer('%s', t) (saved)",
                      m.type().c_str(), key.c_str(), key.c_str(), key.c_str());
  if (test_object<std::shared_ptr<Module>>(L, 3, kModule)) {
    check_new_name(L, m, 2, "child");
    add_child(L, m, key, 3);
  } else if (is_module_list(L, 3)) {
    check_new_name(L, m, 2, "child");
    const lua_Integer n = luaL_len(L, 3);
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_geti(L, 3, i);
      add_child(L, m, fmt::format("{}.{}", key, i - 1), lua_gettop(L));
      lua_pop(L, 1);
    }
  }
  m.push_fields(L);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);
  return 0;
}

// The options given to init, as the module's recorded hyperparameters: what is a value (a
// number, string, boolean or list of those); tensors, modules and functions are left out.
Params recorded_options(lua_State* L, int idx, const std::string& name) {
  std::map<std::string, Value> values;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      try {
        values[lua_tostring(L, -2)] = to_value(L, -1, name);
      } catch (const Error&) {  // not a value: not recorded
      }
    }
    lua_pop(L, 1);
  }
  return Params("layer '" + name + "'", std::move(values));
}

// Class{opts} or Class(opts): a new instance, after init(self, opts).
int class_call(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  lua_settop(L, 2);
  lua_getfield(L, 1, "name");
  const std::string name = lua_tostring(L, -1);
  lua_pop(L, 1);
  if (!lua_istable(L, 2))
    return luaL_error(L, "module '%s': the options must be a table such as {n = 10}, not a %s",
                      name.c_str(), luaL_typename(L, 2));
  auto m = std::make_shared<LuaModule>(L, 1);
  m->set_identity(name, recorded_options(L, 2, name));
  m->push_self(L);  // 3
  if (lua_getfield(L, 1, "init") != LUA_TNIL) {
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 0);
  } else {
    lua_pop(L, 1);
  }
  lua_settop(L, 3);
  return 1;
}

int class_tostring(lua_State* L) {
  lua_getfield(L, 1, "name");
  lua_pushfstring(L, "gom.module '%s'", lua_tostring(L, -1));
  return 1;
}

// gom.module{name = "...", init = function(self, opts) end, forward = function(self, x) end}:
// the table becomes the class (its other functions are methods of the instances).
int l_module(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  if (lua_getfield(L, 1, "name") != LUA_TSTRING || lua_rawlen(L, -1) == 0)
    return luaL_error(L,
                      "gom.module: 'name' must be a non-empty string (the type recorded "
                      "as model.type), got a %s",
                      luaL_typename(L, -1));
  const std::string name = lua_tostring(L, -1);
  if (lua_getfield(L, 1, "forward") != LUA_TFUNCTION)
    return luaL_error(L, "gom.module '%s': 'forward' must be a function(self, x, ...), got a %s",
                      name.c_str(), luaL_typename(L, -1));
  const int init = lua_getfield(L, 1, "init");
  if (init != LUA_TNIL && init != LUA_TFUNCTION)
    return luaL_error(L, "gom.module '%s': 'init' must be a function(self, opts), got a %s",
                      name.c_str(), luaL_typename(L, -1));
  lua_settop(L, 1);
  luaL_setmetatable(L, kModuleClass);
  return 1;
}

const luaL_Reg kLuaModuleMethods[] = {{"parameter", safe<lm_tensor<true>>},
                                      {"buffer", safe<lm_tensor<false>>},
                                      {"add", safe<lm_add>},
                                      {nullptr, nullptr}};

}  // namespace

int call_lua_module(lua_State* L) {
  LuaModule* m = as_lua_module(L, 1);
  if (!m) return -1;
  return m->call_from_lua(L, lua_gettop(L) - 1);
}

void open_module(lua_State* L) {
  // Made before any module, the keeper is finalized after every module when the state closes.
  luaL_newmetatable(L, "gom.LuaStateAlive");
  lua_pushcfunction(L, alive_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  push_object(L, "gom.LuaStateAlive", std::make_shared<bool>(true), 0);
  lua_setfield(L, LUA_REGISTRYINDEX, kAliveKey);

  lua_newtable(L);
  lua_newtable(L);
  lua_pushstring(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, kSelvesKey);

  luaL_newmetatable(L, kModuleClass);
  lua_pushcfunction(L, class_call);
  lua_setfield(L, -2, "__call");
  lua_pushcfunction(L, class_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  // Modules' __index becomes a function over the methods table the other parts filled (so this
  // runs after them): it sees the instance, which a table cannot.
  luaL_getmetatable(L, kModule);
  lua_getfield(L, -1, "__index");
  lua_newtable(L);
  luaL_setfuncs(L, kLuaModuleMethods, 0);
  lua_pushcclosure(L, safe<module_index>, 2);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, safe<module_newindex>);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);

  lua_pushcfunction(L, safe<l_module>);
  lua_setfield(L, -2, "module");
}

}  // namespace gom::lua
