// The Lua side of the model layers: containers given their children, recurrent state in and
// out, datasets' info and vocabularies, sampling — through gom::lua::Runtime as `gom run` uses it.
#include <catch2/catch.hpp>
#include <string>

#include "gom/gom.h"
#include "gom_lua/runtime.h"

using Catch::Contains;
using gom::lua::RunContext;
using gom::lua::Runtime;
using gom::lua::ScriptResult;

namespace {

ScriptResult run(const std::string& code) {
  RunContext ctx;
  Runtime rt(ctx);
  return rt.run_string(code, "@models.lua");
}

void require_ok(const ScriptResult& r) {
  INFO(r.error);
  REQUIRE(r.status == ScriptResult::Status::Finished);
}

std::string error_of(const std::string& code) {
  const ScriptResult r = run(code);
  REQUIRE(r.status == ScriptResult::Status::Failed);
  return r.error;
}

}  // namespace

TEST_CASE("lua: gom.multinomial draws in proportion to the weights, reproducibly", "[lua]") {
  require_ok(run(R"(
    gom.manual_seed(3)
    local draws = gom.multinomial(gom.tensor({1, 0, 3}), 4000)
    assert(draws:dtype() == "i64" and draws:shape()[1] == 4000)
    local counts = {0, 0, 0}
    for _, v in ipairs(draws:totable()) do counts[v + 1] = counts[v + 1] + 1 end
    assert(counts[2] == 0, "a zero weight is never drawn")
    assert(math.abs(counts[3] / 4000 - 0.75) < 0.03, "3:1 odds, got " .. counts[3] / 4000)
    -- rows of a batch draw separately; the same seed gives the same draws
    gom.manual_seed(5)
    local a = gom.multinomial(gom.tensor({{0, 1}, {1, 0}}), 3):totable()
    assert(a[1][1] == 1 and a[1][3] == 1 and a[2][2] == 0)
    gom.manual_seed(5)
    local b = gom.multinomial(gom.tensor({{0, 1}, {1, 0}}), 3):totable()
    assert(a[1][2] == b[1][2] and a[2][3] == b[2][3])
  )"));
  CHECK_THAT(error_of("gom.multinomial(gom.tensor({1, -1}))"),
             Contains("models.lua:1") && Contains("row 1 has the weight -1 at index 1") &&
                 Contains("non-negative"));
  CHECK_THAT(error_of("gom.multinomial(gom.zeros({2, 2, 2}))"),
             Contains("probs must be [C] or [B, C], got [2, 2, 2]"));
  CHECK_THAT(error_of("gom.multinomial(gom.zeros({3}))"), Contains("row 1 sums to 0"));
}

TEST_CASE("lua: the select layer takes a recurrent output's last step", "[lua]") {
  require_ok(run(R"(
    local x = gom.arange(24):reshape({2, 3, 4})  -- [B, T, H]
    local last = gom.layer("select", {dim = 1, index = -1})(x)
    local v = last:totable()
    assert(#last:shape() == 2 and last:shape()[2] == 4)
    assert(v[1][1] == 8 and v[2][4] == 23)
    local first = gom.layer("select", {dim = 1, index = 0})(x):totable()
    assert(first[2][1] == 12)
  )"));
  CHECK_THAT(error_of("gom.layer('select', {dim = 1, index = 3})(gom.zeros({2, 3, 4}))"),
             Contains("select: index 3 is out of range for dim 1 of size 3 (input [2, 3, 4])"));
}

TEST_CASE("lua: containers take their children from gom.layer's third argument", "[lua]") {
  require_ok(run(R"(
    local lin = gom.layer("linear", {["in"] = 2, out = 2})
    local seq = gom.layer("sequential", {}, {lin, gom.layer("relu")})
    assert(#seq == 2 and seq:children()[1]:type() == "linear")
    seq:add(gom.layer("relu"))
    assert(#seq == 3)
  )"));
  CHECK_THAT(error_of("gom.layer('relu', {}, {gom.layer('relu')})"),
             Contains("'relu' is not a container and takes no children"));
  CHECK_THAT(error_of("gom.layer('sequential', {}, {gom.layer('relu'), 5})"),
             Contains("gom.layer('sequential'): element 2 is a number, not a module"));
  CHECK_THAT(error_of("gom.layer('relu'):add(gom.layer('relu'))"),
             Contains("add: 'relu' is not a container"));
}

TEST_CASE("lua: sequence_task datasets hold what they promise", "[lua]") {
  require_ok(run(R"(
    local recall = gom.dataset("sequence_task", {task = "recall", n = 50, length = 30, symbols = 5})
    assert(#recall == 50 and recall:num_classes() == 5)
    local x, y = recall:get({0, 7, 49})
    assert(x:dtype() == "i64" and x:shape()[2] == 30)
    local xs, ys = x:totable(), y:totable()
    for i = 1, 3 do assert(ys[i] == xs[i][1], "the target is the first token") end
    local adding = gom.dataset("sequence_task", {task = "adding", n = 20, length = 10})
    local a, s = adding:get({3})
    local steps, marked, total = a:totable()[1], 0, 0
    for t = 1, 10 do
      if steps[t][2] == 1 then marked = marked + 1; total = total + steps[t][1] end
    end
    assert(marked == 2, "two marked steps")
    assert(math.abs(total - s:totable()[1][1]) < 1e-6, "the target is their sum")
  )"));
}
