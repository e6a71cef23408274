// One Ctrl-C stops every Lua loop of a run: see lua_interrupt.h.
#include "lua_interrupt.h"

#include <algorithm>

namespace gom::lua {

// Keeps a thread on the chain of running threads while a resume runs it; the destructor also
// runs when a Lua error (a C++ exception in Debian's C++ build of Lua) unwinds the resume.
struct Running {
  Interrupts& self;
  Running(Interrupts& s, lua_State* T) : self(s) { self.push(T); }
  ~Running() { self.pop(); }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
};

Interrupts::Interrupts(lua_State* L, RunContext& ctx) : ctx_(ctx) {
  // Every thread copies the main thread's extra space when it is made, so the hook and the
  // coroutine wrappers find this object from any thread.
  *static_cast<Interrupts**>(lua_getextraspace(L)) = this;
  push(L);
  lua_getglobal(L, "coroutine");
  lua_getfield(L, -1, "resume");
  lua_pushcclosure(L, co_resume, 1);
  lua_setfield(L, -2, "resume");
  lua_getfield(L, -1, "wrap");
  lua_pushcclosure(L, co_wrap, 1);
  lua_setfield(L, -2, "wrap");
  lua_pop(L, 1);
}

Interrupts& Interrupts::of(lua_State* L) {
  return **static_cast<Interrupts**>(lua_getextraspace(L));
}

void Interrupts::request() {
  requested_.store(true);
  const int n = std::min(depth_.load(), kMaxDepth);
  for (int i = 0; i < n; ++i)
    if (lua_State* T = running_[size_t(i)].load()) arm(T);
}

void Interrupts::arm(lua_State* T) {
  // Inside gom.fit the budget is counted in steps of 1000 instructions; elsewhere the next
  // instruction raises.
  lua_sethook(T, hook, LUA_MASKCOUNT, ctx_.in_fit.load() > 0 ? 1000 : 1);
}

void Interrupts::push(lua_State* T) {
  const int d = depth_.load();
  if (d < kMaxDepth) running_[size_t(d)].store(T);
  depth_.store(d + 1);
  // After the store: a request() that missed T on the chain has set the flag by now.
  if (T && requested_.load()) arm(T);
}

void Interrupts::pop() {
  const int d = depth_.load() - 1;
  if (d < kMaxDepth) running_[size_t(d)].store(nullptr);
  depth_.store(d);
}

void Interrupts::hook(lua_State* L, lua_Debug*) {
  Interrupts& self = of(L);
  if (!self.requested()) return;
  if (self.ctx_.in_fit.load() > 0 && self.fit_budget_ > 0) {
    self.fit_budget_ -= lua_gethookcount(L);
    return;
  }
  // Stay armed, at every instruction: a pcall that catches this meets it again at once.
  lua_sethook(L, hook, LUA_MASKCOUNT, 1);
  // Where the running function is (level 0 inside a hook), not its caller as luaL_error says.
  luaL_where(L, 0);
  lua_pushstring(L, "interrupted (Ctrl-C)");
  lua_concat(L, 2);
  lua_error(L);
}

// coroutine.resume(co, ...): the original, with co on the chain while it runs.
int Interrupts::co_resume(lua_State* L) {
  Running running(of(L), lua_type(L, 1) == LUA_TTHREAD ? lua_tothread(L, 1) : nullptr);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

// coroutine.wrap(f): the original's function (its upvalue is the coroutine), called through
// co_wrapped.
int Interrupts::co_wrap(lua_State* L) {
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 1, 1);
  lua_pushcclosure(L, co_wrapped, 1);
  return 1;
}

int Interrupts::co_wrapped(lua_State* L) {
  const int nargs = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_State* co = nullptr;
  if (lua_getupvalue(L, -1, 1)) {
    co = lua_tothread(L, -1);
    lua_pop(L, 1);
  }
  lua_insert(L, 1);
  Running running(of(L), co);
  if (lua_pcall(L, nargs, LUA_MULTRET, 0) != LUA_OK) {
    // The original prefixes its caller's position to an error, and its caller is now this C
    // function (no position): prefix the Lua caller's instead, as plain Lua does.
    if (lua_type(L, -1) == LUA_TSTRING) {
      luaL_where(L, 1);
      lua_insert(L, -2);
      lua_concat(L, 2);
    }
    return lua_error(L);
  }
  return lua_gettop(L);
}

}  // namespace gom::lua
