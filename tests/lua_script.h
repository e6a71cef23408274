// tests/lua_script.h — runs a Lua chunk through gom::lua::Runtime, the code path `gom run` uses
// (test-only, without a recorder).
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "gom_lua/runtime.h"

namespace gom_test {

/// @brief Runs `code` as a chunk named `chunk` ("@name.lua": errors then say name.lua:LINE).
inline gom::lua::ScriptResult run_lua(const std::string& code,
                                      const std::string& chunk = "@test.lua") {
  gom::lua::RunContext ctx;
  gom::lua::Runtime rt(ctx);
  return rt.run_string(code, chunk);
}

/// @brief Requires a clean finish, showing the script's error otherwise.
inline void require_ok(const gom::lua::ScriptResult& r) {
  INFO(r.error);
  REQUIRE(r.status == gom::lua::ScriptResult::Status::Finished);
}

/// @brief Runs `code` as run_lua does, requires it to fail and returns its error message.
inline std::string lua_error_of(const std::string& code, const std::string& chunk = "@test.lua") {
  const gom::lua::ScriptResult r = run_lua(code, chunk);
  REQUIRE(r.status == gom::lua::ScriptResult::Status::Failed);
  return r.error;
}

}  // namespace gom_test
