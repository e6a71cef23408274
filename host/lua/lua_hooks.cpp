// Hooks from Lua: m:register_forward_pre_hook(fn), m:register_forward_hook(fn),
// m:register_full_backward_hook(fn), t:register_hook(fn) and t:retain_grad(). Each register_*
// returns a handle whose :remove() unregisters the hook.
//
// The Lua function lives in the registry while the C++ hook (a std::function, gom/hooks.h)
// holds it, and runs on the main thread of the state, so a hook registered inside a coroutine
// still runs after the coroutine is gone. Lua's arguments and results follow PyTorch's:
//   pre-hook       fn(module, x1, x2, ...)             -> nil, or the new input(s) (or a table)
//   forward hook   fn(module, {x1, ...}, output)        -> nil, or the new output
//   backward hook  fn(module, grad_input, grad_output)  -> nil, or a table of new grad_input
//   tensor hook    fn(grad)                             -> nil, or the new gradient
// grad_input and grad_output are tables indexed by input (output) position; grad_input[i] is
// nil where input i needs no gradient.
#include "lua_util.h"

namespace gom::lua {
namespace {

constexpr const char* kHookHandle = "gom.HookHandle";
constexpr const char* kStateAlive = "gom.StateAlive";      // the metatable
constexpr const char* kStateAliveKey = "gom.hooks.alive";  // the registry field

// Expires when the state closes: a hook released after that must not touch the registry.
std::weak_ptr<int> state_alive(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, kStateAliveKey);
  if (auto* token = test_object<std::shared_ptr<int>>(L, -1, kStateAlive)) {
    std::weak_ptr<int> w = *token;
    lua_pop(L, 1);
    return w;
  }
  lua_pop(L, 1);
  std::weak_ptr<int> w = push_object(L, kStateAlive, std::make_shared<int>(0), 0);
  lua_setfield(L, LUA_REGISTRYINDEX, kStateAliveKey);
  return w;
}

// A Lua function held by a C++ hook.
class LuaFunction {
 public:
  LuaFunction(lua_State* L, int idx) {
    luaL_checktype(L, idx, LUA_TFUNCTION);
    alive_ = state_alive(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    main_ = lua_tothread(L, -1);
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  ~LuaFunction() {
    if (!alive_.expired()) luaL_unref(main_, LUA_REGISTRYINDEX, ref_);
  }
  LuaFunction(const LuaFunction&) = delete;
  LuaFunction& operator=(const LuaFunction&) = delete;

  /// Calls the function with the arguments `push` pushes (returning their count) and hands
  /// `read` the stack and the index of the first result and their count.
  template <class Push, class Read>
  auto call(const char* what, Push push, Read read) const {
    lua_State* L = main_;
    luaL_checkstack(L, 24, what);
    const int top = lua_gettop(L);
    struct Restore {
      lua_State* L;
      int top;
      ~Restore() { lua_settop(L, top); }
    } restore{L, top};
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref_);
    const int nargs = push(L);
    if (lua_pcall(L, nargs, LUA_MULTRET, 0) != LUA_OK) {
      const char* msg = lua_tostring(L, -1);
      throw Error(fmt::format("{}: {}", what, msg ? msg : "(error object is not a string)"));
    }
    return read(L, top + 1, lua_gettop(L) - top);
  }

 private:
  lua_State* main_ = nullptr;
  int ref_ = LUA_NOREF;
  std::weak_ptr<int> alive_;
};

void push_module_ref(lua_State* L, Module& m) {
  if (auto p = m.weak_from_this().lock())
    push_module(L, std::move(p));
  else
    lua_pushnil(L);
}

// A list as a Lua table; undefined tensors leave holes (nil).
void push_tensor_list(lua_State* L, const std::vector<Tensor>& ts) {
  lua_createtable(L, int(ts.size()), 0);
  for (size_t i = 0; i < ts.size(); ++i) {
    if (!ts[i].defined()) continue;
    push_tensor(L, ts[i]);
    lua_seti(L, -2, lua_Integer(i + 1));
  }
}

// The table at idx as n tensors (nil entries undefined when allowed).
std::vector<Tensor> tensor_list(lua_State* L, int idx, size_t n, bool holes, const char* what) {
  std::vector<Tensor> out(n);
  for (size_t i = 0; i < n; ++i) {
    lua_geti(L, idx, lua_Integer(i + 1));
    if (auto* t = test_object<Tensor>(L, -1, kTensor))
      out[i] = *t;
    else if (!(holes && lua_isnil(L, -1)))
      throw Error(fmt::format("{}: entry {} of the returned table is a {}, not a tensor", what,
                              i + 1, luaL_typename(L, -1)));
    lua_pop(L, 1);
  }
  return out;
}

Tensor result_tensor(lua_State* L, int idx, int n, const char* what) {
  if (n == 0 || lua_isnil(L, idx)) return {};
  if (auto* t = test_object<Tensor>(L, idx, kTensor)) return *t;
  throw Error(
      fmt::format("{} returned a {}; it returns nil or a tensor", what, luaL_typename(L, idx)));
}

HookHandle& push_handle(lua_State* L, HookHandle h) {
  return push_object(L, kHookHandle, std::move(h), 0);
}

// m:register_forward_pre_hook(function(module, x, ...) ... end)
int m_register_forward_pre_hook(lua_State* L) {
  auto& m = check_module(L, 1);
  auto fn = std::make_shared<LuaFunction>(L, 2);
  push_handle(L, m->register_forward_pre_hook([fn](Module& mod, const std::vector<Tensor>& in) {
    const char* what = "forward pre-hook";
    return fn->call(
        what,
        [&](lua_State* S) {
          push_module_ref(S, mod);
          for (const Tensor& x : in) push_tensor(S, x);
          return int(in.size()) + 1;
        },
        [&](lua_State* S, int first, int n) -> std::vector<Tensor> {
          if (n == 0 || lua_isnil(S, first)) return {};
          if (lua_istable(S, first)) return tensor_list(S, first, in.size(), false, what);
          std::vector<Tensor> out;
          for (int i = 0; i < n; ++i) {
            auto* t = test_object<Tensor>(S, first + i, kTensor);
            if (!t)
              throw Error(
                  fmt::format("{}: result {} is a {}; it returns nil, the new inputs, or "
                              "a table of them",
                              what, i + 1, luaL_typename(S, first + i)));
            out.push_back(*t);
          }
          return out;
        });
  }));
  return 1;
}

// m:register_forward_hook(function(module, inputs, output) ... end)
int m_register_forward_hook(lua_State* L) {
  auto& m = check_module(L, 1);
  auto fn = std::make_shared<LuaFunction>(L, 2);
  push_handle(L, m->register_forward_hook(
                     [fn](Module& mod, const std::vector<Tensor>& in, const Tensor& out) {
                       return fn->call(
                           "forward hook",
                           [&](lua_State* S) {
                             push_module_ref(S, mod);
                             push_tensor_list(S, in);
                             push_tensor(S, out);
                             return 3;
                           },
                           [](lua_State* S, int first, int n) {
                             return result_tensor(S, first, n, "a forward hook");
                           });
                     }));
  return 1;
}

// m:register_full_backward_hook(function(module, grad_input, grad_output) ... end)
int m_register_full_backward_hook(lua_State* L) {
  auto& m = check_module(L, 1);
  auto fn = std::make_shared<LuaFunction>(L, 2);
  push_handle(
      L, m->register_full_backward_hook([fn](Module& mod, const std::vector<Tensor>& grad_input,
                                             const std::vector<Tensor>& grad_output) {
        const char* what = "backward hook";
        return fn->call(
            what,
            [&](lua_State* S) {
              push_module_ref(S, mod);
              push_tensor_list(S, grad_input);
              push_tensor_list(S, grad_output);
              return 3;
            },
            [&](lua_State* S, int first, int n) -> std::vector<Tensor> {
              if (n == 0 || lua_isnil(S, first)) return {};
              if (lua_istable(S, first))
                return tensor_list(S, first, grad_input.size(), true, what);
              throw Error(
                  fmt::format("{} returned a {}; it returns nil or a table of gradients, "
                              "one per input (nil: none)",
                              what, luaL_typename(S, first)));
            });
      }));
  return 1;
}

// t:register_hook(function(grad) ... end)
int t_register_hook(lua_State* L) {
  const Tensor& t = check_tensor(L, 1);
  auto fn = std::make_shared<LuaFunction>(L, 2);
  push_handle(L, t.register_hook([fn](const Tensor& g) {
    return fn->call(
        "tensor hook",
        [&](lua_State* S) {
          push_tensor(S, g);
          return 1;
        },
        [](lua_State* S, int first, int n) { return result_tensor(S, first, n, "a tensor hook"); });
  }));
  return 1;
}

// t:retain_grad() returns t.
int t_retain_grad(lua_State* L) {
  check_tensor(L, 1).retain_grad();
  lua_settop(L, 1);
  return 1;
}

int h_remove(lua_State* L) {
  check_object<HookHandle>(L, 1, kHookHandle).remove();
  return 0;
}
int h_tostring(lua_State* L) {
  lua_pushstring(L, "hook handle");
  return 1;
}

const luaL_Reg kModuleMethods[] = {
    {"register_forward_pre_hook", safe<m_register_forward_pre_hook>},
    {"register_forward_hook", safe<m_register_forward_hook>},
    {"register_full_backward_hook", safe<m_register_full_backward_hook>},
    {nullptr, nullptr}};
const luaL_Reg kTensorMethods[] = {{"register_hook", safe<t_register_hook>},
                                   {"retain_grad", safe<t_retain_grad>},
                                   {nullptr, nullptr}};
const luaL_Reg kHandleMethods[] = {{"remove", safe<h_remove>}, {nullptr, nullptr}};
const luaL_Reg kHandleMeta[] = {{"__tostring", h_tostring}, {nullptr, nullptr}};

}  // namespace

void open_hooks(lua_State* L) {
  define_class<HookHandle>(L, kHookHandle, kHandleMethods, kHandleMeta);
  define_class<std::shared_ptr<int>>(L, kStateAlive, nullptr, nullptr);
  add_methods(L, kModule, kModuleMethods);
  lua_getfield(L, LUA_REGISTRYINDEX, "gom.Tensor.methods");
  luaL_setfuncs(L, kTensorMethods, 0);
  lua_pop(L, 1);
}

}  // namespace gom::lua
