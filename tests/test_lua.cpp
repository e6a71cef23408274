// The Lua binding: tensors, autograd, modules, optimizers, gom.params with --set overrides,
// gom.fit with Lua callbacks, and errors with file:line — through gom::lua::Runtime, the code
// path `gom run` uses (without a recorder; tests/cli/run_test.sh covers the recorded runs).
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "gom/gom.h"
#include "gom_core/recorder.h"
#include "gom_lua/runtime.h"
#include "recorder_query.h"
#include "temp_files.h"

using gom::lua::RunContext;
using gom::lua::Runtime;
using gom::lua::ScriptResult;

namespace {

// Runs Lua code as chunk "test.lua" and returns the result.
ScriptResult run(RunContext& ctx, const std::string& code) {
  Runtime rt(ctx);
  return rt.run_string(code, "@test.lua");
}

ScriptResult run(const std::string& code) {
  RunContext ctx;
  return run(ctx, code);
}

// Requires a clean finish, showing the script's error otherwise.
void require_ok(const ScriptResult& r) {
  INFO(r.error);
  REQUIRE(r.status == ScriptResult::Status::Finished);
}

}  // namespace

TEST_CASE("lua: tensors from nested tables, shapes and values back", "[lua]") {
  require_ok(run(R"(
    local t = gom.tensor({{1, 2, 3}, {4, 5, 6}})
    local s = t:shape()
    assert(#s == 2 and s[1] == 2 and s[2] == 3, "shape")
    assert(t:numel() == 6 and t:dim() == 2 and t:dtype() == "f32")
    local v = t:t():totable()
    assert(v[1][2] == 4 and v[3][1] == 3, "transpose values")
    local i = gom.tensor({1, 2, 3}, "i64")
    assert(i:dtype() == "i64" and i:totable()[3] == 3 and math.type(i:totable()[3]) == "integer")
    assert(i:float():sum():item() == 6)
    assert(gom.zeros({2, 3}):sum():item() == 0 and gom.ones({4}):sum():item() == 4)
    assert(gom.arange(5):totable()[5] == 4)
    assert(#gom.tensor({{1, 2}, {3, 4}}) == 2)
  )"));
  const ScriptResult ragged = run("gom.tensor({{1, 2}, {3}})");
  REQUIRE(ragged.status == ScriptResult::Status::Failed);
  CHECK_THAT(ragged.error, Catch::Contains("ragged"));
}

TEST_CASE("lua: arithmetic with numbers on either side matches the ops", "[lua]") {
  require_ok(run(R"(
    local x = gom.tensor({1, 2, 4})
    local function same(a, b) return gom.allclose(a, gom.tensor(b)) end
    assert(same(x + 1, {2, 3, 5}) and same(1 + x, {2, 3, 5}))
    assert(same(x - 1, {0, 1, 3}) and same(1 - x, {0, -1, -3}))
    assert(same(x * 2, {2, 4, 8}) and same(2 * x, {2, 4, 8}))
    assert(same(x / 2, {0.5, 1, 2}) and same(4 / x, {4, 2, 1}))
    assert(same(x ^ 2, {1, 4, 16}) and same(-x, {-1, -2, -4}))
    assert(same(x * x, {1, 4, 16}))
    assert(x:matmul(x):item() == 21)
    assert(same(x:exp():log(), {1, 2, 4}))
    local m = gom.tensor({{1, 5}, {7, 2}})
    assert(same(m:max(1), {5, 7}) and m:argmax(1):totable()[1] == 1)
    assert(same(m:sum(0), {8, 7}) and m:mean():item() == 3.75)
    assert(same(m:softmax(1):sum(1), {1, 1}))
  )"));
}

TEST_CASE("lua: backward gives the gradients worked by hand", "[lua]") {
  // f = sum(w * x^2 + 3w) → df/dw = x^2 + 3; df/dx = 2 w x.
  require_ok(run(R"(
    local x = gom.tensor({1, 2, 3}):requires_grad_()
    local w = gom.tensor({0.5, -1, 2}):requires_grad_()
    local f = (w * x ^ 2 + w * 3):sum()
    f:backward()
    assert(gom.allclose(w.grad, gom.tensor({4, 7, 12})), tostring(w.grad))
    assert(gom.allclose(x.grad, gom.tensor({1, -4, 12})), tostring(x.grad))
    assert(x.requires_grad and x:is_leaf() and not f:is_leaf())
    x.grad = nil
    assert(x.grad == nil)
    local y = gom.no_grad(function() return x * 2 end)
    assert(not y.requires_grad, "no_grad records nothing")
    assert((x * 2).requires_grad, "grad mode is back after no_grad")
    local ok = pcall(gom.no_grad, function() error("inside") end)
    assert(not ok and (x * 2).requires_grad, "grad mode is restored after an error")
  )"));
}

TEST_CASE("lua: a hand-written SGD step and an optimizer step agree with the arithmetic",
          "[lua]") {
  // loss = sum((p - 3)^2) at p = 1: grad = 2(p - 3) = -4; one SGD step at lr 0.1: p = 1.4.
  require_ok(run(R"(
    local p = gom.tensor({1}):requires_grad_()
    local loss = ((p - 3) ^ 2):sum()
    loss:backward()
    gom.no_grad(function() p:add_(p.grad, -0.1) end)
    assert(math.abs(p:item() - 1.4) < 1e-6, p:item())

    local q = gom.tensor({1}):requires_grad_()
    local opt = gom.optimizer("sgd", {q}, {lr = 0.1, momentum = 0.9})
    for _ = 1, 2 do
      ((q - 3) ^ 2):sum():backward()
      opt:step()
      opt:zero_grad()
    end
    -- step 1: v = -4, q = 1.4; step 2: g = -3.2, v = 0.9*-4 - 3.2 = -6.8, q = 1.4 + 0.68 = 2.08
    assert(math.abs(q:item() - 2.08) < 1e-6, q:item())
    assert(q.grad == nil and opt:lr() == 0.1)
    opt:set_lr(0.01)
    assert(opt:groups()[1].lr == 0.01 and opt:groups()[1].params == 1)
  )"));
}

TEST_CASE("lua: modules compose, call like functions and expose their parameters", "[lua]") {
  require_ok(run(R"(
    gom.manual_seed(1)
    local m = gom.sequential{gom.layer("linear", {["in"] = 4, out = 3}), gom.layer("relu")}
    m:add(gom.layer("linear", {["in"] = 3, out = 2}))
    assert(#m == 3 and m:num_parameters() == 4 * 3 + 3 + 3 * 2 + 2)
    local names = {}
    for name, p in m:named_parameters() do names[#names + 1] = name .. ":" .. p:numel() end
    assert(table.concat(names, ",") == "0.weight:12,0.bias:3,2.weight:6,2.bias:2",
           table.concat(names, ","))
    local y = m(gom.ones({5, 4}))
    assert(y:size(0) == 5 and y:size(1) == 2)
    local lin = m:children()[1]
    local manual = gom.linear(gom.ones({5, 4}), lin:parameters()[1], lin:parameters()[2]):relu()
    assert(gom.allclose(m:children()[2](lin(gom.ones({5, 4}))), manual))
    assert(lin:params().out == 3 and lin:type() == "linear")
    m:eval()
    assert(not m:training() and not lin:training())
  )"));
  const ScriptResult typo = run("local m = gom.layer('linear', {['in'] = 2, outt = 3})");
  REQUIRE(typo.status == ScriptResult::Status::Failed);
  CHECK_THAT(typo.error, Catch::Contains("test.lua:1: layer 'linear'"));
  CHECK_THAT(typo.error, Catch::Contains("did you mean 'out'"));
  CHECK_THAT(typo.error, Catch::Contains("stack traceback"));
}

TEST_CASE("lua: errors name the script's line, also from C++ and from callbacks", "[lua]") {
  const ScriptResult lua_err = run("local x = 1\nerror('boom')\n");
  REQUIRE(lua_err.status == ScriptResult::Status::Failed);
  CHECK_THAT(lua_err.error, Catch::StartsWith("test.lua:2: boom"));

  const ScriptResult cpp_err = run("local a = gom.zeros({2, 3})\n\nlocal c = a:matmul(gom.zeros({4, 5}))\n");
  REQUIRE(cpp_err.status == ScriptResult::Status::Failed);
  CHECK_THAT(cpp_err.error, Catch::StartsWith("test.lua:3: matmul"));

  const ScriptResult cb_err = run(R"(local data = gom.dataset("synthetic", {task = "xor", n = 32})
local model = gom.sequential{gom.layer("linear", {["in"] = 2, out = 2})}
gom.fit{model = model, train = data, loss = "cross_entropy", optimizer = "sgd", epochs = 3,
  callbacks = {{name = "mine", after_epoch = function(s)
    if s.epoch == 2 then error("bad epoch") end
  end}}}
)");
  REQUIRE(cb_err.status == ScriptResult::Status::Failed);
  CHECK_THAT(cb_err.error, Catch::StartsWith("test.lua:3: callback 'lua:mine' failed in after_epoch: "
                                             "test.lua:5: bad epoch"));

  const ScriptResult bad_event = run(R"(local data = gom.dataset("synthetic", {task = "xor", n = 32})
gom.fit{model = gom.layer("linear", {["in"] = 2, out = 2}), train = data, loss = "cross_entropy",
  optimizer = "sgd", callbacks = {{after_epok = function() end}}})");
  REQUIRE(bad_event.status == ScriptResult::Status::Failed);
  CHECK_THAT(bad_event.error, Catch::Contains("did you mean 'after_epoch'"));
}

TEST_CASE("lua: scripts load in text mode only", "[lua]") {
  const std::string path = "gom_test_binary_chunk.luac";
  require_ok(run("local f = io.open('" + path + "', 'wb'); f:write(string.dump(function() end)); f:close()"));
  RunContext ctx;
  Runtime rt(ctx);
  const ScriptResult r = rt.run_file(path);
  std::remove(path.c_str());
  REQUIRE(r.status == ScriptResult::Status::Failed);
  CHECK_THAT(r.error, Catch::Contains("binary chunk"));
}

TEST_CASE("lua: gom.params declares typed hyperparameters that --set overrides", "[lua]") {
  RunContext ctx;
  ctx.overrides = {{"lr", "3e-3"},      {"epochs", "7"},       {"model.hidden", "512"},
                   {"wide", "true"},    {"act", "tanh"},       {"betas", "[0.8, 0.9]"}};
  require_ok(run(ctx, R"(
    local P = gom.params{lr = 1e-3, epochs = 10, wide = false, act = "relu", betas = {0.9, 0.999},
                         model = {hidden = 256, dropout = 0.1}}
    assert(P.lr == 3e-3 and math.type(P.epochs) == "integer" and P.epochs == 7)
    assert(P.model.hidden == 512 and P.model.dropout == 0.1 and P.wide == true and P.act == "tanh")
    assert(P.betas[1] == 0.8 and P.betas[2] == 0.9)
  )"));
  CHECK(ctx.params.at("lr") == "0.003");
  CHECK(ctx.params.at("model.hidden") == "512");
  CHECK(ctx.params.at("model.dropout") == "0.1");
  CHECK(ctx.used_overrides.size() == 6);

  RunContext bad_type;
  bad_type.overrides = {{"epochs", "ten"}};
  const ScriptResult r1 = run(bad_type, "gom.params{epochs = 10}");
  REQUIRE(r1.status == ScriptResult::Status::Failed);
  CHECK_THAT(r1.error, Catch::Contains("--set epochs=ten: 'epochs' takes an integer"));

  RunContext unknown;
  unknown.overrides = {{"lrr", "1"}};
  const ScriptResult r2 = run(unknown, "gom.params{lr = 0.1}");
  REQUIRE(r2.status == ScriptResult::Status::Failed);
  CHECK_THAT(r2.error, Catch::Contains("--set lrr=1"));
  CHECK_THAT(r2.error, Catch::Contains("did you mean 'lr'"));
}

TEST_CASE("lua: gom.fit trains XOR, reports history, and repeats itself with the same seed",
          "[lua]") {
  const std::string script = R"(
    gom.manual_seed(3)
    local data = gom.dataset("synthetic", {task = "xor", n = 256, seed = 1})
    local model = gom.sequential{gom.layer("linear", {["in"] = 2, out = 8}), gom.layer("tanh"),
                                 gom.layer("linear", {["in"] = 8, out = 2})}
    local seen = {}
    result = gom.fit{model = model, train = data, valid = data, loss = "cross_entropy",
                     optimizer = gom.optimizer("sgd", {lr = 0.1, momentum = 0.9}),
                     epochs = 20, batch_size = 16, metrics = {"accuracy"},
                     callbacks = {{after_epoch = function(s)
                       seen[#seen + 1] = s.epoch
                       s:log("double_epoch", 2 * s.epoch)
                     end}}}
    assert(result.epochs == 20 and #result.history == 20 and #seen == 20 and seen[20] == 20)
    assert(result.metrics.accuracy == 1, "XOR is solved: " .. result.metrics.accuracy)
    assert(result.history[3].double_epoch == 6)
    assert(result.history[20].train_loss < result.history[1].train_loss)
    final_loss = result.metrics.train_loss
  )";
  RunContext a, b;
  require_ok(run(a, script));
  require_ok(run(b, script));
  CHECK(a.final_metrics.at("train_loss") == b.final_metrics.at("train_loss"));  // bit for bit
  CHECK(a.params.at("optimizer.momentum") == "0.9");
  CHECK(a.params.at("optimizer.nesterov") == "false");  // defaults are recorded too
  CHECK(a.params.at("model.0.out") == "8");
  CHECK(a.params.at("model.1.type") == "tanh");
  CHECK(a.params.at("fit.epochs") == "20");
  CHECK(a.params.at("data.train.task") == "xor");
}

TEST_CASE("lua: fit and optimizer overrides reach gom.fit; a callback can stop it", "[lua]") {
  RunContext ctx;
  ctx.overrides = {{"fit.epochs", "4"}, {"fit.batch_size", "8"}, {"optimizer.lr", "0.5"}};
  require_ok(run(ctx, R"(
    local data = gom.dataset("synthetic", {task = "xor", n = 64})
    local model = gom.layer("linear", {["in"] = 2, out = 2})
    local r = gom.fit{model = model, train = data, loss = gom.layer("cross_entropy"),
                      optimizer = gom.optimizer("sgd", {lr = 0.1}), epochs = 50, batch_size = 32}
    assert(r.epochs == 4, r.epochs)
    assert(r.metrics.lr == 0.5)
    local s = gom.fit{model = model, train = data, loss = "cross_entropy", optimizer = "adam",
                      epochs = 10,
                      callbacks = {{before_epoch = function(st) st.lr = 0.01 end,
                                    after_epoch = function(st) st.stop = st.epoch == 2 end}}}
    assert(s.epochs == 2 and s.stopped_early and s.metrics.lr == 0.01)
  )"));
  CHECK(ctx.params.at("fit.batch_size") == "8");
  CHECK(ctx.params.at("optimizer.lr") == "0.5");
  CHECK(ctx.params.at("optimizer2.type") == "adam");  // the second fit records under fit2, ...
  CHECK(ctx.epoch_offset == 4 + 2);                     // and continues the epoch numbering

  RunContext made;
  made.overrides = {{"optimizer.lr", "0.5"}};
  const ScriptResult r = run(made, R"(
    local data = gom.dataset("synthetic", {task = "xor", n = 64})
    local model = gom.layer("linear", {["in"] = 2, out = 2})
    gom.fit{model = model, train = data, loss = "cross_entropy",
            optimizer = gom.optimizer("sgd", model, {lr = 0.1})})");
  REQUIRE(r.status == ScriptResult::Status::Failed);
  CHECK_THAT(r.error, Catch::Contains("give gom.fit a spec"));
}

TEST_CASE("lua: a hand-written loop over a loader sees every example once per epoch", "[lua]") {
  require_ok(run(R"(
    local data = gom.dataset("synthetic", {task = "blobs", n = 50, classes = 3})
    local loader = gom.loader(data, {batch_size = 16, seed = 5})
    assert(#loader == 4 and loader:num_samples() == 50)
    local n, labels = 0, 0
    for x, y in loader:batches(1) do
      n = n + x:size(0)
      labels = labels + y:float():sum():item()
    end
    local total = 0
    for i = 0, 49 do local _, y = data:get({i}); total = total + y:float():sum():item() end
    assert(n == 50 and labels == total, n .. " " .. labels .. " " .. total)
  )"));
}

TEST_CASE("lua: an interrupt stops a running Lua loop with status interrupted", "[lua]") {
  std::atomic<bool> flag{false};
  RunContext ctx;
  ctx.interrupt = &flag;
  Runtime rt(ctx);
  flag = true;
  rt.request_interrupt();
  const ScriptResult r = rt.run_string("local i = 0\nwhile true do i = i + 1 end", "@loop.lua");
  REQUIRE(r.status == ScriptResult::Status::Interrupted);
  CHECK_THAT(r.error, Catch::Contains("interrupted"));
}

TEST_CASE("lua: parameter groups, freezing and weights by name", "[lua]") {
  require_ok(run(R"(
    local body = gom.layer("linear", {["in"] = 2, out = 2})
    local head = gom.layer("linear", {["in"] = 2, out = 1})
    local opt = gom.optimizer("sgd", {{params = body, lr = 0.01}, {params = head}}, {lr = 0.1})
    local g = opt:groups()
    assert(#g == 2 and g[1].lr == 0.01 and g[2].lr == 0.1 and g[1].params == 2 and g[2].params == 2)
    local ok, err = pcall(gom.optimizer, "sgd", {{params = body, lrr = 1}}, {})
    assert(not ok and err:find("'lrr' is not a per%-group option"), err)

    -- One step: each group moves by its own lr; a frozen module gets no gradient and stays.
    local x = gom.ones({1, 2})
    local w0 = body:parameters()[1]:clone()
    local hw0 = head:parameters()[1]:clone()
    head(body(x)):sum():backward()
    local gw = body:parameters()[1].grad:clone()
    opt:step()
    assert(gom.allclose(body:parameters()[1], w0 - gw * 0.01))
    opt:zero_grad()
    body:freeze()
    head(body(x)):sum():backward()
    assert(body:parameters()[1].grad == nil and head:parameters()[1].grad ~= nil)
    local frozen = body:parameters()[1]:clone()
    opt:step()
    assert(gom.allclose(body:parameters()[1], frozen, 0, 0))
    assert(not gom.allclose(head:parameters()[1], hw0, 0, 0))
    body:unfreeze()
    assert(body:parameters()[1].requires_grad)

    -- Weights by name through a file, with the report of what did not fit.
    local path = os.tmpname()
    gom.save(path, body)
    local other = gom.layer("linear", {["in"] = 2, out = 2})
    local r = other:load_state_dict(path)
    assert(#r.missing == 0 and gom.allclose(other:parameters()[1], body:parameters()[1], 0, 0))
    local t, meta = gom.load(path)
    assert(t.weight ~= nil and t.bias ~= nil)
    local wide = gom.layer("linear", {["in"] = 2, out = 3})
    local ok2, err2 = pcall(wide.load_state_dict, wide, path)
    assert(not ok2 and err2:find("wrong shape: weight: %[2, 2%] in the source, %[3, 2%] in the model"), err2)
    local loose = wide:load_state_dict({weight = gom.zeros({3, 2}), extra = gom.zeros({1})}, {strict = false})
    assert(#loose.missing == 1 and loose.missing[1] == "bias" and loose.unexpected[1] == "extra")
    os.remove(path)
  )"));
}

TEST_CASE("lua: gom.log refuses empty keys, control characters and negative epochs", "[lua]") {
  const auto fails_with = [](const std::string& call, const std::string& message) {
    const ScriptResult r = run(call);
    INFO(call);
    INFO(r.error);
    REQUIRE(r.status == ScriptResult::Status::Failed);
    CHECK_THAT(r.error, Catch::StartsWith("test.lua:1: gom.log: " + message));
  };
  const std::string accepted =
      "accepted: a non-empty name without control characters, such as \"loss\" or "
      "\"valid/accuracy\"";
  fails_with(R"(gom.log("", 1, 1))", "argument 1 (key) is an empty string; " + accepted);
  fails_with(R"(gom.log("a\nb", 1, 1))",
             R"(argument 1 (key) "a\nb" has a control character (byte 0x0a at 1); )" + accepted);
  fails_with(R"(gom.log({ok = 1, [""] = 2}))", "a key of argument 1 is an empty string");
  fails_with(R"(gom.log("loss", 1, -1))", "epoch (argument 3) is -1; accepted: an integer >= 0");
  fails_with(R"(gom.log("loss", 1, 1, -5))", "step (argument 4) is -5; accepted: an integer >= 0");
  fails_with(R"(gom.log({loss = 1}, -2))", "epoch (argument 2) is -2; accepted: an integer >= 0");
  RunContext ctx;
  require_ok(run(ctx, R"(gom.log("loss", 0.5, 1, 0); gom.log({["valid/acc"] = 0.9}, 2))"));
  CHECK(ctx.final_metrics.at("loss") == 0.5);
  CHECK(ctx.final_metrics.at("valid/acc") == 0.9);
}

TEST_CASE("lua: gom.log options and gom.metric declare a metric's direction and phase", "[lua]") {
  gom_test::TempDir dir;
  gom::RunRecorder rec(dir / "runs.db");
  RunContext ctx;
  ctx.recorder = &rec;
  ctx.run_id = rec.start_run({.experiment = "e", .detect_git = false});
  require_ok(run(ctx, R"(
    gom.log("perplexity", 5.1, {epoch = 3, direction = "minimize", phase = "valid"})
    gom.log({error_budget = 0.5, gap = 1}, 4, {direction = "max"})  -- the phase: the name's
    gom.metric("score", {direction = "MAX", phase = "test"})
    gom.log("score", 0.25, 4, 7)
    gom.log("lr", 0.1, 4)  -- undeclared: the name rule's (no direction)
  )"));
  rec.finish_run(ctx.run_id, gom::RunStatus::kFinished);
  using gom_test::one;
  CHECK(one(rec, "SELECT epoch || ',' || step FROM metrics WHERE key = 'perplexity'") == "3,3");
  CHECK(one(rec, "SELECT epoch || ',' || step FROM metrics WHERE key = 'score'") == "4,7");
  CHECK(one(rec,
            "SELECT group_concat(key || ':' || IFNULL(direction, '-') || ':' || "
            "IFNULL(phase, '-'), ' ') FROM (SELECT * FROM metric_info ORDER BY key)") ==
        "error_budget:maximize:- gap:maximize:- lr:-:- perplexity:minimize:valid "
        "score:maximize:test");

  const auto fails_with = [](const std::string& call, const std::string& message) {
    const ScriptResult r = run(call);
    INFO(call);
    INFO(r.error);
    REQUIRE(r.status == ScriptResult::Status::Failed);
    CHECK_THAT(r.error, Catch::StartsWith("test.lua:1: " + message));
  };
  fails_with(R"(gom.log("x", 1, {direction = "lower"}))",
             "gom.log: unknown metric direction 'lower' (accepted: \"minimize\" or \"min\": "
             "lower is better, \"maximize\" or \"max\": higher is better, \"none\")");
  fails_with(R"(gom.log("x", 1, {phase = "eval"}))", "gom.log: unknown metric phase 'eval'");
  fails_with(R"(gom.log("x", 1, {dir = "min"}))",
             "gom.log: unknown option 'dir' (accepted: epoch, step, direction, phase)");
  fails_with(R"(gom.log("x", 1, 2, {epoch = 3}))",
             "gom.log: the epoch or step is given twice");
  fails_with(R"(gom.log("x", 1, {epoch = -1}))", "gom.log: option 'epoch' must be an integer >= 0");
  fails_with(R"(gom.metric("x", {epoch = 1}))",
             "gom.metric: unknown option 'epoch' (accepted: direction, phase)");
  fails_with(R"(gom.metric("x", {}))", "gom.metric: give direction and/or phase");
}

TEST_CASE("lua: gom.artifact records a written file with the run, a missing one is an error",
          "[lua]") {
  gom_test::TempDir dir;
  gom::RunRecorder rec(dir / "runs.db");
  RunContext ctx;
  ctx.recorder = &rec;
  ctx.run_id = rec.start_run({.experiment = "e", .detect_git = false});
  const std::string file = dir / "map.ppm";
  require_ok(run(ctx, "local f = io.open('" + file + "', 'wb'); f:write('abc'); f:close()\n"
                      "local p = gom.artifact('image', '" + file + "')\n"
                      "assert(p == '" + file + "', p)"));
  rec.finish_run(ctx.run_id, gom::RunStatus::kFinished);
  using gom_test::one;
  // sha256("abc")
  CHECK(one(rec, "SELECT kind || ' ' || path || ' ' || bytes || ' ' || sha256 FROM artifacts") ==
        "image " + file + " 3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  RunContext none;
  const ScriptResult r = run(none, "gom.artifact('image', '" + (dir / "nope.ppm") + "')");
  REQUIRE(r.status == ScriptResult::Status::Failed);
  CHECK_THAT(r.error, Catch::Contains("gom.artifact: no file '" + (dir / "nope.ppm") +
                                      "' (record a file after writing it)"));
}

TEST_CASE("lua: gom.fit tests on test = data after early stopping put back the best epoch",
          "[lua]") {
  gom_test::TempDir dir;
  gom::RunRecorder rec(dir / "runs.db");
  RunContext ctx;
  ctx.recorder = &rec;
  ctx.run_id = rec.start_run({.experiment = "e", .detect_git = false});
  require_ok(run(ctx, R"(
    gom.manual_seed(3)
    local data = gom.dataset("synthetic", {task = "xor", n = 64, seed = 1})
    local test = gom.dataset("synthetic", {task = "xor", n = 40, seed = 2})
    local model = gom.sequential{gom.layer("linear", {["in"] = 2, out = 8}), gom.layer("tanh"),
                                 gom.layer("linear", {["in"] = 8, out = 2})}
    -- A first fit of one epoch: the second's epochs are numbered on from it.
    gom.fit{model = model, train = data, loss = "cross_entropy", optimizer = "adam"}
    -- score rises to epoch 2, then falls: early stopping (patience 2) ends after epoch 4 and
    -- puts back epoch 2's weights. Its direction is declared, not guessed from the name.
    gom.metric("score", {direction = "maximize", phase = "valid"})
    local scores = {1, 3, 2, 2.5, 0, 0}
    local r = gom.fit{model = model, train = data, valid = data, test = test,
                      loss = "cross_entropy", optimizer = gom.optimizer("adam", {lr = 0.01}),
                      epochs = 6, batch_size = 16, metrics = {"accuracy"},
                      callbacks = {{after_epoch = function(s) s:log("score", scores[s.epoch]) end,
                                    before_test = function(s) test_phase = s.phase end},
                                   gom.callback("early_stopping", {monitor = "score",
                                                                   patience = 2})}}
    assert(r.epochs == 4 and r.stopped_early, r.epochs)
    assert(r.weights_epoch == 2, r.weights_epoch)
    assert(test_phase == "test")
    assert(r.metrics.score == 3, "the result is epoch 2's")
    assert(r.metrics.valid_loss == r.history[2].valid_loss)
    assert(r.metrics.test_accuracy >= 0 and r.metrics.test_accuracy <= 1)
    assert(r.metrics.test_loss > 0)
    assert(r.history[4].test_accuracy == r.metrics.test_accuracy, "logged at the last epoch")
    test_accuracy = r.metrics.test_accuracy
  )"));
  rec.finish_run(ctx.run_id, gom::RunStatus::kFinished);
  using gom_test::one;
  const std::string id = std::to_string(ctx.run_id);
  // The run's epochs: 1 of the first fit, then 2..5; the model holds epoch 1 + 2's weights.
  CHECK(one(rec, "SELECT value FROM tags WHERE run_id = ? AND key = 'weights_epoch'", {id}) ==
        "3");
  CHECK(one(rec, "SELECT epoch FROM metrics WHERE key = 'test_accuracy'") == "5");
  CHECK(one(rec, "SELECT direction || ',' || phase FROM metric_info WHERE key = "
                 "'test_accuracy'") == "maximize,test");
  CHECK(one(rec, "SELECT direction || ',' || phase FROM metric_info WHERE key = 'test_loss'") ==
        "minimize,test");
  CHECK(one(rec, "SELECT direction FROM metric_info WHERE key = 'score'") == "maximize");
  // The run's result is read at the weights' epoch; test_accuracy (one row) is its own.
  CHECK(rec.result_value(ctx.run_id, "score") == 3);
  CHECK(rec.result_value(ctx.run_id, "accuracy") ==
        std::stod(one(rec, "SELECT value FROM metrics WHERE key = 'accuracy' AND epoch = 3")));
  CHECK(one(rec, "SELECT test_accuracy FROM run_summary WHERE id = ?", {id}) ==
        one(rec, "SELECT value FROM metrics WHERE key = 'test_accuracy'"));
}

TEST_CASE("lua: a loop's garbage tensors return to the allocator's cache", "[lua]") {
  // 300 results of 1 MiB each, none kept: the collector must see their bytes and free them as
  // the loop goes, so the caching allocator reuses blocks instead of asking for 300 new ones
  // (each new block is fresh memory, whose page faults cost more than the add itself).
  const auto before = gom::allocator_stats(gom::DeviceType::CPU);
  require_ok(run(R"(
    local a, b = gom.ones({512, 512}), gom.ones({512, 512})
    for i = 1, 300 do local r = a + b end
  )"));
  const auto after = gom::allocator_stats(gom::DeviceType::CPU);
  CHECK(after.device_allocs - before.device_allocs < 40);
  CHECK(after.cache_hits - before.cache_hits > 250);
}
