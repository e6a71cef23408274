// Helpers for hand-written loops from Lua: gom.clip_grad_norm / clip_grad_value,
// model:evaluate and gom.predict against a hand loop, gom.schedule against gom.fit's schedule
// callback, gom.lr_find's suggestions on a crafted loss curve, state.loss as a number, and a
// Lua function as gom.fit's loss against the built-in loss it reimplements.
#include <catch2/catch.hpp>
#include <string>

#include "gom/gom.h"
#include "gom_lua/runtime.h"
#include "lua_script.h"

using Catch::Contains;
using gom::lua::RunContext;
using gom::lua::Runtime;
using gom::lua::ScriptResult;
using gom_test::require_ok;

namespace {

ScriptResult run(const std::string& code) {
  return gom_test::run_lua(code, "@loop.lua");
}

std::string error_of(const std::string& code) {
  return gom_test::lua_error_of(code, "@loop.lua");
}

}  // namespace

TEST_CASE("lua: gom.clip_grad_norm and gom.clip_grad_value", "[lua][grad_clip]") {
  require_ok(run(R"(
    local a = gom.zeros({2}):requires_grad_()
    local b = gom.zeros({1}):requires_grad_()
    a.grad = gom.tensor({3, -4})
    b.grad = gom.tensor({12})
    local total = gom.clip_grad_norm({a, b}, 6.5)
    assert(total == 13, total)
    local coef = 6.5 / (13 + 1e-6)
    assert(math.abs(a.grad:totable()[1] - 3 * coef) < 1e-6)
    assert(math.abs(b.grad:totable()[1] - 12 * coef) < 1e-6)
    -- below max_norm: untouched
    a.grad = gom.tensor({3, -4})
    assert(gom.clip_grad_norm({a}, 10) == 5)
    assert(a.grad:totable()[2] == -4)
    -- inf norm, as math.huge or "inf"
    a.grad = gom.tensor({3, -4})
    assert(gom.clip_grad_norm({a}, 100, math.huge) == 4)
    assert(gom.clip_grad_norm({a}, 2, "inf") == 4)
    assert(math.abs(a.grad:totable()[2] + 4 * 2 / (4 + 1e-6)) < 1e-6)
    -- a module's parameters
    local m = gom.layer("linear", {["in"] = 2, out = 1})
    m(gom.tensor({{1, 2}})):sum():backward()   -- dw = (1, 2), db = 1
    assert(math.abs(gom.clip_grad_norm(m, 1) - math.sqrt(6)) < 1e-6)
    a.grad = gom.tensor({0.5, -3})
    gom.clip_grad_value({a}, 1)
    local g = a.grad:totable()
    assert(g[1] == 0.5 and g[2] == -1)
  )"));
  CHECK_THAT(error_of("local a = gom.zeros({1}):requires_grad_(); a.grad = gom.ones({1})\n"
                      "gom.clip_grad_norm({a}, 1, 'two')"),
             Contains("loop.lua:2") && Contains("norm_type is a number or \"inf\""));
}

TEST_CASE("lua: model:evaluate and gom.predict give a hand loop's values", "[lua][evaluate]") {
  require_ok(run(R"(
    gom.manual_seed(4)
    local ds = gom.dataset("synthetic", {task = "blobs", classes = 3, n = 50, seed = 2})
    local model = gom.sequential{gom.layer("linear", {["in"] = 2, out = 8}), gom.layer("relu"),
                                 gom.layer("dropout", {p = 0.5}),
                                 gom.layer("linear", {["in"] = 8, out = 3})}
    -- the hand loop: batches of 16 in order, in eval mode without a graph
    model:eval()
    local loss_sum, hits, n = 0, 0, 0
    local loader = gom.loader(ds, {batch_size = 16, shuffle = false})
    local preds = {}
    gom.no_grad(function()
      for x, y in loader:batches() do
        local p = model(x)
        preds[#preds + 1] = p
        local k = x:size(0)
        loss_sum = loss_sum + gom.cross_entropy(p, y):item() * k
        hits = hits + p:argmax(1):eq(y):sum():item()
        n = n + k
      end
    end)
    model:train()
    local r = model:evaluate(ds, {metrics = {"accuracy"}, loss = "cross_entropy", batch_size = 16})
    assert(math.abs(r.loss - loss_sum / n) < 1e-6, r.loss .. " vs " .. loss_sum / n)
    assert(math.abs(r.accuracy - hits / n) < 1e-12, r.accuracy .. " vs " .. hits / n)
    assert(model:training(), "evaluate puts the training mode back")
    model:eval()
    model:evaluate(loader, {metrics = {"accuracy"}})
    assert(not model:training(), "and the eval mode")
    -- a loader as it is, a Lua function as the loss, no loss at all
    local r2 = model:evaluate(loader, {loss = function(p, t) return gom.cross_entropy(p, t) end})
    assert(math.abs(r2.loss - r.loss) < 1e-7 and r2.accuracy == nil)
    local r3 = model:evaluate(ds, {metrics = {gom.callback("accuracy", {name = "acc"})}})
    assert(r3.loss == nil and r3.acc == r.accuracy)
    -- a Lua callback among the metrics: state.loss is a number, state.lr nil (no optimizer)
    local seen = 0
    model:evaluate(ds, {loss = "cross_entropy", batch_size = 16, metrics = {{after_loss = function(s)
      assert(type(s.loss) == "number" and s.lr == nil)
      seen = seen + 1
    end}}})
    assert(seen == 4, seen)

    -- predict: the outputs (and targets) in order
    local p, t = gom.predict(model, ds, {batch_size = 16})
    local want = gom.cat(preds, 0)
    assert(p:size(0) == 50 and p:size(1) == 3)
    assert(gom.allclose(p, want, 0, 0), "same batches, same values")
    local idx = {}
    for i = 0, 49 do idx[#idx + 1] = i end
    local x, y = ds:get(idx)
    assert(t:eq(y):sum():item() == 50)
    -- a tensor, batch_size rows at a time
    local q = gom.predict(model, x, {batch_size = 7})
    assert(gom.allclose(q, want, 1e-6, 1e-6) and q:size(0) == 50)
    assert(not model:training())
  )"));
  CHECK_THAT(error_of("local m = gom.layer('linear', {['in'] = 2, out = 2})\n"
                      "m:evaluate(gom.dataset('synthetic', {task = 'xor'}), {metric = {}})"),
             Contains("loop.lua:2") && Contains("unknown option 'metric'") &&
                 Contains("did you mean 'metrics'"));
  CHECK_THAT(error_of("gom.predict(gom.layer('relu'), {1, 2})"),
             Contains("gom.dataset(...) or a gom.loader(...), not a table"));
}

TEST_CASE("lua: gom.schedule gives the lrs gom.fit's schedule callback sets", "[lua][schedule]") {
  require_ok(run(R"(
    local ds = gom.dataset("synthetic", {task = "xor", n = 64, seed = 1})
    local function fit_lrs(name, params, event)
      gom.manual_seed(1)
      local m = gom.layer("linear", {["in"] = 2, out = 2})
      local lrs = {}
      gom.fit{model = m, loss = "cross_entropy", train = ds, epochs = 3, batch_size = 16,
              optimizer = gom.optimizer("sgd", {lr = 0.05, momentum = 0.9}),
              callbacks = {gom.callback(name, params),
                           {[event] = function(s) if s.training ~= false then lrs[#lrs + 1] = s.lr end end}}}
      return lrs
    end
    local function hand_lrs(name, params, n)
      local m = gom.layer("linear", {["in"] = 2, out = 2})
      local opt = gom.optimizer("sgd", m, {lr = 0.05, momentum = 0.9})
      local s = gom.schedule(name, opt, params)
      local lrs = {s:lr()}
      for i = 2, n do lrs[i] = s:step() end
      assert(s:lr() == lrs[n] and s:position() == n - 1)
      return lrs
    end
    local function same(a, b, what)
      assert(#a == #b, what .. ": " .. #a .. " vs " .. #b)
      for i = 1, #a do assert(a[i] == b[i], what .. " at " .. i .. ": " .. a[i] .. " vs " .. b[i]) end
    end
    -- per batch: 3 epochs x 4 batches
    same(fit_lrs("one_cycle", {max_lr = 0.1}, "before_batch"),
         hand_lrs("one_cycle", {max_lr = 0.1, total_steps = 12}, 12), "one_cycle")
    same(fit_lrs("cosine", {interval = "step", eta_min = 0.001}, "before_batch"),
         hand_lrs("cosine", {eta_min = 0.001, total_steps = 12}, 12), "cosine by step")
    same(fit_lrs("cyclical", {base_lr = 0.01, max_lr = 0.1, step_size_up = 3}, "before_batch"),
         hand_lrs("cyclical", {base_lr = 0.01, max_lr = 0.1, step_size_up = 3}, 12), "cyclical")
    same(fit_lrs("linear_warmup", {warmup = 5}, "before_batch"),
         hand_lrs("linear_warmup", {warmup = 5}, 12), "linear_warmup")
    -- per epoch
    same(fit_lrs("cosine", {eta_min = 0.001}, "before_epoch"),
         hand_lrs("cosine", {eta_min = 0.001, total_steps = 3}, 3), "cosine by epoch")
    same(fit_lrs("exponential", {gamma = 0.5}, "before_epoch"),
         hand_lrs("exponential", {gamma = 0.5}, 3), "exponential")

    -- reduce_on_plateau: s:step(metric) once an epoch
    local m = gom.layer("linear", {["in"] = 2, out = 2})
    local opt = gom.optimizer("sgd", m, {lr = 0.1})
    local s = gom.schedule("reduce_on_plateau", opt, {factor = 0.5, patience = 1})
    local got = {}
    for _, v in ipairs({1.0, 0.9, 0.95, 0.96, 0.5}) do got[#got + 1] = s:step(v) end
    same(got, {0.1, 0.1, 0.05, 0.025, 0.025}, "reduce_on_plateau")
    assert(opt:lr() == 0.025)
    assert(tostring(s):find("reduce_on_plateau", 1, true))
  )"));
  CHECK_THAT(error_of("local opt = gom.optimizer('sgd', gom.layer('relu'), {lr = 1})\n"
                      "gom.schedule('one_cycle', opt, {max_lr = 1})"),
             Contains("loop.lua:2") && Contains("needs total_steps"));
  CHECK_THAT(error_of("gom.schedule('accuracy', gom.optimizer('sgd', gom.layer('relu'), {}))"),
             Contains("not an lr schedule") && Contains("one_cycle"));
}

TEST_CASE("lua: gom.lr_find returns the steep and valley suggestions of a known curve",
          "[lua][lr_finder]") {
  require_ok(run(R"(
    -- The loss of sweep step i (from 0) is losses[i + 1], whatever the model does; smooth = 0
    -- keeps it as it is. num_steps = 20: the rules look at steps 2..14 (the first 20/10 and the
    -- last 5 dropped), where the steepest drop is 3 -> 1.8 (steps 9 -> 10: steep = lr of step 9);
    -- the longest decreasing run is 7, 6.5, 6, 5, 4, 3, 1.8, 1.5, 1.0 (9 losses ending at step
    -- 13, starting at trimmed index 11 - 9 = 2), so valley = trimmed index 2 + 3 + 1 = 6: step 8.
    -- The big drops at steps 0 -> 1 and 15 -> 16 are outside the window.
    local losses = {20, 10, 5, 6, 7, 6.5, 6, 5, 4, 3, 1.8, 2.5, 1.5, 1.0, 3, 3, 0.1, 0.1, 0.1, 0.1}
    local step = 0
    local function loss(pred, target)
      step = step + 1
      return pred:sum() * 0 + losses[step]
    end
    local m = gom.layer("linear", {["in"] = 2, out = 2})
    local before = m:state_dict().weight:clone()
    local r = gom.lr_find{model = m, loss = loss, optimizer = gom.optimizer("sgd", {lr = 0.1}),
                          train = gom.dataset("synthetic", {task = "xor", n = 64}), batch_size = 16,
                          start_lr = 1e-4, end_lr = 1, num_steps = 20, smooth = 0, diverge = 0}
    assert(step == 20, step)
    local function lr(i) return 1e-4 * (1 / 1e-4) ^ (i / 19) end
    assert(math.abs(r.steep / lr(9) - 1) < 1e-12, r.steep .. " vs " .. lr(9))
    assert(math.abs(r.valley / lr(8) - 1) < 1e-12, r.valley .. " vs " .. lr(8))
    assert(r.fit.records["lr_finder.suggested_lr"] == r.steep)
    assert(r.fit.epochs == 5)   -- 20 steps of 4 batches an epoch
    assert(gom.allclose(m:state_dict().weight, before, 0, 0), "the weights are put back")
  )"));
}

TEST_CASE("lua: state.loss is a number in callbacks, state.loss_tensor the tensor", "[lua]") {
  require_ok(run(R"(
    local ds = gom.dataset("synthetic", {task = "xor", n = 32})
    local seen, sum = 0, 0
    local r = gom.fit{model = gom.layer("linear", {["in"] = 2, out = 2}), loss = "cross_entropy",
      optimizer = gom.optimizer("sgd", {lr = 0.1}), train = ds, batch_size = 8, shuffle = false,
      callbacks = {{
        before_batch = function(s) assert(s.loss == nil and s.loss_tensor == nil) end,
        after_loss = function(s)
          assert(type(s.loss) == "number")
          assert(s.loss == s.loss_tensor:item() and s.loss_tensor:dim() == 0)
          seen = seen + 1
          sum = sum + s.loss
        end}}}
    assert(seen == 4)
    assert(math.abs(r.metrics.train_loss - sum / 4) < 1e-12)
  )"));
}

TEST_CASE("lua: a Lua function as gom.fit's loss trains as the built-in loss", "[lua][loss]") {
  RunContext ctx;
  Runtime rt(ctx);
  require_ok(rt.run_string(R"(
    local function twin_fits(builtin, custom, data, make)
      gom.manual_seed(7)
      local a = make()
      local b = make()
      b:load_state_dict(a:state_dict())
      local args = {train = data, epochs = 3, batch_size = 16, seed = 3}
      local function fit(m, loss)
        local t = {model = m, loss = loss, optimizer = gom.optimizer("sgd", {lr = 0.1, momentum = 0.9})}
        for k, v in pairs(args) do t[k] = v end
        return gom.fit(t)
      end
      local ra, rb = fit(a, builtin), fit(b, custom)
      for e = 1, 3 do
        local la, lb = ra.history[e].train_loss, rb.history[e].train_loss
        assert(math.abs(la - lb) <= 1e-6 * math.abs(la), e .. ": " .. la .. " vs " .. lb)
      end
      local sa, sb = a:state_dict(), b:state_dict()
      for k, w in pairs(sa) do assert(gom.allclose(w, sb[k], 1e-5, 1e-6), k) end
      return ra.history[3].train_loss, rb.history[3].train_loss
    end
    -- mse on a noisy quadratic
    local quad = gom.dataset("synthetic", {task = "quadratic", n = 64, a = 1, b = 0.5, seed = 1})
    local mse = function(p, t) return ((p - t) ^ 2):mean() end
    local la = twin_fits("mse", mse, quad, function()
      return gom.sequential{gom.layer("linear", {["in"] = 1, out = 8}), gom.layer("tanh"),
                            gom.layer("linear", {["in"] = 8, out = 1})}
    end)
    assert(la < 10)
    -- cross entropy as -mean(log_softmax picked at the target)
    local blobs = gom.dataset("synthetic", {task = "blobs", classes = 3, n = 64, seed = 1})
    local ce = function(p, t)
      return -(p:log_softmax(1) * gom.one_hot(t, 3):float()):sum() / p:size(0)
    end
    twin_fits(gom.layer("cross_entropy"), ce, blobs, function()
      return gom.layer("linear", {["in"] = 2, out = 3})
    end)
  )",
                           "@loss.lua"));
  CHECK(ctx.params.at("loss.type") == "mse");
  CHECK(ctx.params.at("loss2.type") == "lua_function");
  CHECK(ctx.params.at("loss4.type") == "lua_function");

  CHECK_THAT(error_of("gom.fit{model = gom.layer('linear', {['in'] = 2, out = 2}),\n"
                      "  loss = function(p, t) return 1 end, optimizer = 'sgd',\n"
                      "  train = gom.dataset('synthetic', {task = 'xor', n = 8})}"),
             Contains("loop.lua:1") && Contains("must return a scalar tensor") &&
                 Contains("got a number"));
  CHECK_THAT(error_of("gom.fit{model = gom.layer('linear', {['in'] = 2, out = 2}),\n"
                      "  loss = function(p, t) error('boom') end, optimizer = 'sgd',\n"
                      "  train = gom.dataset('synthetic', {task = 'xor', n = 8})}"),
             Contains("loop.lua:2: boom") && Contains("the loss function failed"));
}
