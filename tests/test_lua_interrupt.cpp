// One interrupt (Ctrl-C) stops every kind of Lua loop: at top level behind pcall, inside a
// coroutine, inside a Lua callback of gom.fit. The interrupt comes from another thread while the
// loop runs, as a signal would. Each loop gives up by itself after a deadline, so a loop the
// interrupt misses ends as Finished instead of hanging the test.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "gom/gom.h"
#include "gom_lua/runtime.h"

using gom::lua::RunContext;
using gom::lua::Runtime;
using gom::lua::ScriptResult;

namespace {

struct Interrupted {
  ScriptResult result;
  double seconds = 0;  ///< from the interrupt to the end of the script
};

// Runs `code` and interrupts it after `delay`.
Interrupted run_interrupted(const std::string& code,
                            std::chrono::milliseconds delay = std::chrono::milliseconds(300)) {
  std::atomic<bool> flag{false};
  RunContext ctx;
  ctx.interrupt = &flag;
  Runtime rt(ctx);
  std::atomic<int64_t> sent_ns{0};
  std::thread signal([&] {
    std::this_thread::sleep_for(delay);
    flag = true;
    rt.request_interrupt();
    sent_ns = std::chrono::steady_clock::now().time_since_epoch().count();
  });
  Interrupted r;
  r.result = rt.run_string(code, "@loop.lua");
  const auto end = std::chrono::steady_clock::now().time_since_epoch().count();
  signal.join();
  r.seconds = double(end - sent_ns.load()) * 1e-9;
  INFO(r.result.error);
  return r;
}

// Lua's os.clock() is process CPU time: the loops below spin for at most this long.
const std::string kDeadline = "local deadline = os.clock() + 20\n";

void require_interrupted(const Interrupted& r) {
  INFO(r.result.error);
  REQUIRE(r.result.status == ScriptResult::Status::Interrupted);
  CHECK_THAT(r.result.error, Catch::Contains("interrupted (Ctrl-C)"));
  CHECK(r.seconds < 5);
}

}  // namespace

TEST_CASE("lua interrupt: a loop of pcalls around a loop at top level stops", "[lua]") {
  const Interrupted r = run_interrupted(kDeadline + R"(
    local caught = 0
    while os.clock() < deadline do
      local ok = pcall(function() while os.clock() < deadline do end end)
      if not ok then caught = caught + 1 end
    end
  )");
  require_interrupted(r);
}

TEST_CASE("lua interrupt: a loop inside a coroutine stops (resume and wrap)", "[lua]") {
  require_interrupted(run_interrupted(kDeadline + R"(
    local co = coroutine.create(function() while os.clock() < deadline do end end)
    coroutine.resume(co)
  )"));
  // Made before the interrupt, resumed after it: the coroutine is hooked as it resumes.
  require_interrupted(run_interrupted(kDeadline + R"(
    local gen = coroutine.wrap(function()
      coroutine.yield(1)
      while os.clock() < deadline do pcall(function() while os.clock() < deadline do end end) end
    end)
    gen()
    local t = os.clock() + 1
    while os.clock() < t do end  -- the interrupt comes here: the main thread stops
  )"));
  // A coroutine inside a coroutine, its errors caught by pcall at every level.
  require_interrupted(run_interrupted(kDeadline + R"(
    local outer = coroutine.wrap(function()
      local inner = coroutine.create(function()
        while os.clock() < deadline do pcall(function() while os.clock() < deadline do end end) end
      end)
      while os.clock() < deadline do pcall(coroutine.resume, inner) end
    end)
    while os.clock() < deadline do pcall(outer) end
  )"));
}

TEST_CASE("lua interrupt: coroutines behave as in plain Lua 5.4", "[lua]") {
  // The messages plain Lua 5.4.4 gives: coroutine.wrap prefixes its caller's position.
  RunContext ctx;
  Runtime rt(ctx);
  const ScriptResult r = rt.run_string(R"(local gen = coroutine.wrap(function() error("boom") end)
local ok, err = pcall(function() return gen() end)
assert(not ok and err == "wrap.lua:2: wrap.lua:1: boom", err)
local co = coroutine.wrap(function(a, b) local c = coroutine.yield(a + b); return c * 2 end)
assert(co(1, 2) == 3 and co(5) == 10)
local ok2, err2 = pcall(function() return co() end)
assert(not ok2 and err2 == "wrap.lua:6: cannot resume dead coroutine", err2)
local ok3, err3 = coroutine.resume(coroutine.create(function() error("x") end))
assert(not ok3 and err3 == "wrap.lua:8: x", err3)
local t = {}
local ok4, err4 = pcall(coroutine.wrap(function() error(t) end))
assert(not ok4 and err4 == t)
local squares = {}
for v in coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i * i) end end) do
  squares[#squares + 1] = v
end
assert(table.concat(squares, ",") == "1,4,9")
assert(select("#", coroutine.resume(coroutine.create(function() return 1, nil, 3 end))) == 4)
)",
                                       "@wrap.lua");
  INFO(r.error);
  CHECK(r.status == ScriptResult::Status::Finished);
}

TEST_CASE("lua interrupt: a loop inside a callback of gom.fit stops the fit", "[lua]") {
  const std::string fit = R"(
    local data = gom.dataset("synthetic", {task = "xor", n = 64})
    local model = gom.layer("linear", {["in"] = 2, out = 2})
    local args = {model = model, train = data, loss = "cross_entropy", optimizer = "sgd",
                  epochs = 1000000, batch_size = 8,
                  callbacks = {{after_batch = function(s) CALLBACK end}}}
    FIT
  )";
  // The script catches the fit's error and goes on, unless `plain`.
  const auto with = [&](const std::string& body, bool plain = false) {
    std::string code = kDeadline + fit;
    code.replace(code.find("CALLBACK"), 8, body);
    code.replace(code.find("FIT"), 3,
                 plain ? "gom.fit(args)"
                       : "local ok, err = pcall(gom.fit, args)\n"
                         "    while os.clock() < deadline do end");
    return code;
  };
  // An endless callback: stopped once its budget of instructions is spent.
  require_interrupted(run_interrupted(with("while os.clock() < deadline do end")));
  require_interrupted(run_interrupted(with(
      "while os.clock() < deadline do pcall(function() while os.clock() < deadline do end end) "
      "end")));
  // A quick callback runs to the end of its batch, and the fit stops after the batch.
  const Interrupted quick =
      run_interrupted(with("local x = 0; for i = 1, 100 do x = x + i end", true));
  require_interrupted(quick);
  CHECK_THAT(quick.result.error, Catch::Contains("epoch(s) were recorded"));
}
