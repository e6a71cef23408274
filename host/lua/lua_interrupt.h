// lua_interrupt.h — how one Ctrl-C reaches every Lua thread of a run (the main script,
// coroutines, callbacks that gom.fit calls) and cannot be swallowed by pcall.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <lua.hpp>

#include "gom_lua/runtime.h"

namespace gom::lua {

/// @brief The interrupt machinery of one Runtime. A count hook costs on every Lua instruction
/// (Lua 5.4 traps each one), so nothing is hooked until an interrupt: request() then hooks the
/// threads that are running (the main thread and every coroutine in the chain of resumes, which
/// the wrapped coroutine.resume/wrap keep), a coroutine resumed later is hooked as it resumes,
/// and a new one inherits its creator's hook. Once interrupted the hook raises at every
/// instruction, so a pcall that catches the error meets it again at its caller's next
/// instruction, until control is back in C++. Inside gom.fit Lua code first gets a budget of
/// instructions to finish the batch's callbacks (the fit stops after the batch); a callback
/// that loops past it is stopped like any other Lua code.
class Interrupts {
 public:
  /// @brief Binds to the main thread `L` (every thread made from it finds this object) and
  /// wraps coroutine.resume and coroutine.wrap; after luaL_openlibs.
  Interrupts(lua_State* L, RunContext& ctx);
  Interrupts(const Interrupts&) = delete;
  Interrupts& operator=(const Interrupts&) = delete;

  /// @brief Async-signal-safe (stores and lua_sethook only): hooks the running threads.
  void request();
  bool requested() const { return requested_.load(); }

  /// @brief Instructions that Lua code inside gom.fit may still run after an interrupt.
  static constexpr int64_t kFitBudget = 2'000'000;

 private:
  friend struct Running;
  static Interrupts& of(lua_State* L);
  static void hook(lua_State* L, lua_Debug* ar);
  static int co_resume(lua_State* L);
  static int co_wrap(lua_State* L);
  static int co_wrapped(lua_State* L);
  void arm(lua_State* T);
  void push(lua_State* T);
  void pop();

  RunContext& ctx_;
  std::atomic<bool> requested_{false};
  int64_t fit_budget_ = kFitBudget;  // only the Lua thread touches it
  // The chain of resumed threads, main thread first. Lua limits nested C calls to 200, so
  // resumes nest less deep than this.
  static constexpr int kMaxDepth = 256;
  std::array<std::atomic<lua_State*>, kMaxDepth> running_{};
  std::atomic<int> depth_{0};
};

}  // namespace gom::lua
