// Modules written in Lua (gom.module): their parameters, state_dict names, gradients against the
// same model of built-in layers, nesting, containers, errors, gom.fit with several inputs and a
// Lua loss — through gom::lua::Runtime as `gom run` uses it.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

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
  return gom_test::run_lua(code, "@modules.lua");
}

std::string error_of(const std::string& code) {
  return gom_test::lua_error_of(code, "@modules.lua");
}

// fastai's DotProductBias in Lua, its children named as the built-in dot_product_bias names its
// weights (u_weight.weight, ...), so the two load each other's state_dict.
const std::string kDotProductBias = R"(
local DPB = gom.module{
  name = "dot_product_bias",
  init = function(self, o)
    local function emb(n, d) return gom.layer("embedding", {num_embeddings = n, embedding_dim = d}) end
    self.u_weight = emb(o.n_users, o.n_factors)
    self.i_weight = emb(o.n_items, o.n_factors)
    self.u_bias = emb(o.n_users, 1)
    self.i_bias = emb(o.n_items, 1)
    self.squash = gom.layer("sigmoid_range", {low = o.y_range[1], high = o.y_range[2]})
  end,
  forward = function(self, x)
    local users, items = x:select(1, 0), x:select(1, 1)
    local dot = (self.u_weight(users) * self.i_weight(items)):sum(1, true)
    return self.squash(dot + self.u_bias(users) + self.i_bias(items))
  end,
}
)";

// Examples with two inputs (a wide-and-deep net's): x1 [3] and x2 [2], the target
// x1 . (1, -2, 0.5) + x2 . (3, 1), [1]. Example i's values are fixed functions of i.
class TwoInputs : public gom::Dataset {
 public:
  int64_t size() const override { return 256; }
  gom::Batch get_batch(const std::vector<int64_t>& indices) const override {
    std::vector<float> a, b, y;
    for (int64_t i : indices) {
      const float u[3] = {std::sin(0.3f * i), std::cos(0.7f * i), std::sin(1.3f * i + 1)};
      const float v[2] = {std::cos(0.2f * i + 2), std::sin(0.9f * i)};
      a.insert(a.end(), u, u + 3);
      b.insert(b.end(), v, v + 2);
      y.push_back(u[0] - 2 * u[1] + 0.5f * u[2] + 3 * v[0] + v[1]);
    }
    const int64_t n = int64_t(indices.size());
    gom::Batch batch{gom::tensor(a, {n, 3}), gom::tensor(y, {n, 1})};
    batch.more_inputs.push_back(gom::tensor(b, {n, 2}));
    return batch;
  }
  gom::Shape input_shape() const override { return {3}; }
  std::string describe() const override { return "two_inputs_test: 256 examples, two inputs"; }
};

void register_two_inputs() {
  static const bool once = [] {
    gom::register_dataset("two_inputs_test", "examples with two input tensors (tests)", {},
                          [](const gom::Params&) { return std::make_shared<TwoInputs>(); });
    return true;
  }();
  (void)once;
}

}  // namespace

TEST_CASE("lua module: parameters, state_dict names, options, repr and train/eval",
          "[lua][module]") {
  require_ok(run(kDotProductBias + R"(
    local m = DPB{n_users = 5, n_items = 7, n_factors = 3, y_range = {0, 5.5}}
    local names = {}
    for name, p in m:named_parameters() do
      names[#names + 1] = name
      assert(p.requires_grad, name .. " is trained")
    end
    assert(table.concat(names, " ") ==
           "u_weight.weight i_weight.weight u_bias.weight i_bias.weight", table.concat(names, " "))
    assert(m:num_parameters() == 5 * 3 + 7 * 3 + 5 + 7)
    assert(m:type() == "dot_product_bias")
    local o = m:params()
    assert(o.n_users == 5 and o.n_factors == 3 and o.y_range[2] == 5.5)
    local s = tostring(m)
    assert(s:find("^dot_product_bias%(n_factors=3, n_items=7, n_users=5, y_range=%[0, 5.5%]; " ..
                  "u_weight: embedding%("), s)
    -- parameters and buffers of its own, and fields
    local Scale = gom.module{
      name = "scale",
      init = function(self, o)
        self.w = self:parameter("w", gom.ones({o.n}))
        self:buffer("calls", gom.zeros({1}))
        self.label = "scaled"
      end,
      forward = function(self, x)
        assert(self.label == "scaled")
        if self.training then self.calls:add_(gom.ones({1})) end
        return x * self.w
      end,
    }
    local sc = Scale{n = 2}
    assert(#sc:parameters() == 1 and sc.w.requires_grad)
    local y = sc(gom.tensor({{1, 2}}))
    assert(y:totable()[1][2] == 2)
    assert(sc.calls:item() == 1, "a training forward counts")
    -- train/eval reach a Lua module inside a sequential, and its children
    local seq = gom.sequential{sc, m.u_weight}
    seq:eval()
    assert(not sc.training and not m.u_weight:training())
    sc(gom.tensor({{1, 2}}))
    assert(sc.calls:item() == 1, "an eval forward does not count")
    seq:train()
    assert(sc.training)
  )"));
}

TEST_CASE("lua module: outputs and gradients equal the built-in dot_product_bias",
          "[lua][module]") {
  require_ok(run(kDotProductBias + R"(
    gom.manual_seed(4)
    local opts = {n_users = 5, n_items = 7, n_factors = 3, y_range = {0, 5.5}}
    local builtin = gom.layer("dot_product_bias", opts)
    local lua = DPB(opts)
    lua:load_state_dict(builtin:state_dict())
    local x = gom.tensor({{0, 6}, {4, 2}, {1, 1}, {4, 6}}):long()
    local target = gom.tensor({{1}, {5}, {3}, {2}})
    local a, b = builtin(x), lua(x)
    assert(gom.allclose(a, b, 0, 0), "the same output")
    gom.mse_loss(a, target):backward()
    gom.mse_loss(b, target):backward()
    local grads = {}
    for name, p in builtin:named_parameters() do grads[name] = p.grad end
    local n = 0
    for name, p in lua:named_parameters() do
      assert(gom.allclose(p.grad, grads[name], 1e-6, 1e-7), name .. ": the same gradient")
      assert(p.grad:abs():sum():item() > 0, name .. " has a gradient")
      n = n + 1
    end
    assert(n == 4)
  )"));
}

TEST_CASE("lua module: nested modules, lists of children, containers", "[lua][module]") {
  require_ok(run(R"(
    local MLP = gom.module{
      name = "mlp",
      init = function(self, o)
        self.layers = {gom.layer("linear", {["in"] = o.i, out = o.h}),
                       gom.layer("linear", {["in"] = o.h, out = o.o})}
      end,
      forward = function(self, x)
        return self.layers[2](self.layers[1](x):relu())
      end,
    }
    local Outer = gom.module{
      name = "outer",
      init = function(self, o)
        self:add("body", MLP{i = 3, h = 4, o = 2})
        self.head = gom.sequential{gom.layer("linear", {["in"] = 2, out = 1})}
      end,
      forward = function(self, x) return self.head(self.body(x)) end,
    }
    local model = gom.sequential{Outer{}, gom.layer("sigmoid")}
    local names = {}
    for name in model:named_parameters() do names[#names + 1] = name end
    assert(table.concat(names, " ") == "0.body.layers.0.weight 0.body.layers.0.bias " ..
           "0.body.layers.1.weight 0.body.layers.1.bias 0.head.0.weight 0.head.0.bias",
           table.concat(names, " "))
    local y = model(gom.randn({5, 3}))
    assert(y:shape()[1] == 5 and y:shape()[2] == 1)
    -- the same as the built-in layers it runs, by hand
    local outer = model:children()[1]
    local x = gom.randn({2, 3})
    local l1, l2 = outer.body.layers[1], outer.body.layers[2]
    local by_hand = model:children()[2](outer.head(l2(l1(x):relu())))
    assert(gom.allclose(model(x), by_hand, 0, 0))
    -- a Lua module called from Lua returns everything its forward returns, and takes any values
    local Two = gom.module{name = "two", forward = function(self, x, k) return x * k, k + 1 end}
    local t, k = Two{}(gom.ones({1}), 3)
    assert(t:item() == 3 and k == 4)
    -- and works from a coroutine (gom.fit and the callbacks call into the main thread)
    local co = coroutine.wrap(function() return model(x) end)
    assert(gom.allclose(co(), by_hand, 0, 0))
    -- freeze and unfreeze reach the Lua module's children
    outer.body:freeze()
    for name, p in model:named_parameters() do
      assert(p.requires_grad == (name:find("body") == nil), name)
    end
    outer.body:unfreeze()
    -- a built-in module gives its own parameters by name
    local w = outer.body.layers[1].weight
    assert(w:shape()[1] == 4 and w:shape()[2] == 3 and w.requires_grad)
    assert(outer.body.layers[1].nothing == nil)
  )"));
}

TEST_CASE("lua module: errors say what and where", "[lua][module]") {
  const std::string bad = R"(
    local Bad = gom.module{
      name = "bad",
      forward = function(self, x)
        error("boom")
      end,
    }
  )";
  // Called from Lua: the module's name and the line of the error, at the line of the call.
  CHECK_THAT(error_of(bad + "Bad{}(gom.zeros({1}))"),
             Contains("modules.lua:8: bad: modules.lua:5: boom"));
  // Inside a sequential (called from C++): the child's path as for a built-in child.
  CHECK_THAT(error_of(bad + "gom.sequential{gom.layer('relu'), Bad{}}(gom.zeros({1}))"),
             Contains("model.1 (bad): modules.lua:5: boom"));
  // A built-in child failing inside a Lua forward: the line of the Lua forward that called it.
  CHECK_THAT(error_of(R"(
    local M = gom.module{
      name = "m",
      init = function(self) self.lin = gom.layer("linear", {["in"] = 3, out = 2}) end,
      forward = function(self, x)
        return self.lin(x)
      end,
    }
    M{}(gom.zeros({4, 5})))"),
             Contains("modules.lua:9: m: modules.lua:6: linear: "));
  CHECK_THAT(error_of(R"(
    local M = gom.module{name = "m", init = function(self) self:parameter("w", 3) end,
                         forward = function(self, x) return x end}
    M{})"),
             Contains("modules.lua:2: self:parameter('w', ...): expected a tensor, got a number"));
  CHECK_THAT(error_of(R"(
    local M = gom.module{name = "m", init = function(self) self.w = gom.ones({2}) end,
                         forward = function(self, x) return x end}
    M{})"),
             Contains("self.w = tensor would be neither trained nor saved; use "
                      "self:parameter('w', t) (trained) or self:buffer('w', t) (saved)"));
  CHECK_THAT(error_of(R"(
    local M = gom.module{name = "m",
                         init = function(self) self.lin = gom.layer("relu"); self.k = 2 end,
                         forward = function(self, x) return self.lni(x) end}
    M{}(gom.zeros({1})))"),
             Contains("modules.lua:4: module 'm' has no field 'lni' (parameters: none; buffers: "
                      "none; children: lin; fields: k)"));
  CHECK_THAT(error_of(R"(
    local M = gom.module{name = "m", init = function(self) self.me = self end,
                         forward = function(self, x) return x end}
    M{})"),
             Contains("module 'm': 'me' would contain the module itself"));
  CHECK_THAT(error_of(R"(
    local M = gom.module{name = "m", init = function(self)
                           self:parameter("w", gom.ones({1})); self:buffer("w", gom.ones({1})) end,
                         forward = function(self, x) return x end}
    M{})"),
             Contains("buffer: module 'm' already has a parameter named 'w'"));
  CHECK_THAT(error_of(R"(
    local M = gom.module{name = "m", forward = function(self, x) return 1 end}
    gom.sequential{M{}}(gom.zeros({1})))"),
             Contains("modules.lua:3: model.0 (m): forward returned a number, not a tensor"));
  CHECK_THAT(error_of("gom.module{name = 'm'}"),
             Contains("gom.module 'm': 'forward' must be a function(self, x, ...), got a nil"));
  CHECK_THAT(error_of("gom.layer('relu').x = 1"),
             Contains("cannot set 'x' on the built-in module 'relu'"));
}

TEST_CASE("lua module: gom.fit trains it, records its options, checkpoints its weights",
          "[lua][module]") {
  RunContext ctx;
  Runtime rt(ctx);
  require_ok(rt.run_string(kDotProductBias + R"(
    gom.manual_seed(1)
    local train = gom.dataset("ratings", {users = 30, items = 40, count = 1000, rank = 2,
                                          noise = 0.1, split = "train", seed = 3})
    local info = train:info()
    local model = DPB{n_users = info.n_users, n_items = info.n_items, n_factors = 4,
                      y_range = {0, 5.5}}
    local before = model.u_bias.weight:clone()
    -- parameter groups over its children, and a frozen child
    model.i_bias:freeze()
    local frozen = model.i_bias.weight:clone()
    local r = gom.fit{model = model, train = train, loss = "mse", epochs = 3, batch_size = 64,
                      optimizer = gom.optimizer("adam", {
                        {params = model.u_weight, lr = 5e-2}, {params = model.i_weight, lr = 5e-2},
                        {params = model.u_bias, lr = 5e-2}}, {lr = 5e-2})}
    assert(r.history[3].train_loss < 0.8 * r.history[1].train_loss,
           r.history[1].train_loss .. " -> " .. r.history[3].train_loss)
    assert(not gom.allclose(model.u_bias.weight, before), "trained")
    assert(gom.allclose(model.i_bias.weight, frozen, 0, 0), "a frozen child stays")
  )",
                           "@modules.lua"));
  CHECK(ctx.params["model.type"] == "dot_product_bias");
  CHECK(ctx.params["model.n_factors"] == "4");
  CHECK(ctx.params["model.y_range"] == "[0, 5.5]");
  CHECK(ctx.params["model.u_weight.type"] == "embedding");
  CHECK(ctx.params["model.u_weight.embedding_dim"] == "4");
}

TEST_CASE("lua module: batches of several inputs go to forward as arguments through gom.fit",
          "[lua][module]") {
  register_two_inputs();
  require_ok(run(R"(
    gom.manual_seed(2)
    local ds = gom.dataset("two_inputs_test", {})
    local x, y = ds:get({0, 1, 2})
    assert(type(x) == "table" and #x == 2, "several inputs come as a list")
    assert(x[1]:shape()[2] == 3 and x[2]:shape()[2] == 2 and y:shape()[2] == 1)
    local WideDeep = gom.module{
      name = "wide_deep",
      init = function(self, o)
        self.wide = gom.layer("linear", {["in"] = 3, out = 1})
        self.deep = gom.layer("linear", {["in"] = 2, out = 1})
      end,
      forward = function(self, a, b) return self.wide(a) + self.deep(b) end,
    }
    local model = WideDeep{}
    local seen = 0
    local r = gom.fit{
      model = model, train = ds, loss = "mse", epochs = 40, batch_size = 32,
      optimizer = gom.optimizer("adam", {lr = 5e-2}),
      callbacks = {{before_batch = function(s)
        local inputs = s.inputs
        assert(#inputs == 2 and inputs[1]:shape()[2] == 3 and inputs[2]:shape()[2] == 2)
        assert(s.input:shape()[2] == 3)
        seen = seen + 1
      end}},
    }
    assert(seen == 40 * 8, "every batch: " .. seen)
    assert(r.metrics.train_loss < 1e-3, "the linear target is learnt: " .. r.metrics.train_loss)
    local w = model.wide.weight:totable()[1]
    local d = model.deep.weight:totable()[1]
    assert(math.abs(w[1] - 1) < 0.05 and math.abs(w[2] + 2) < 0.05 and math.abs(d[1] - 3) < 0.05,
           "the generator's weights")
    -- the loader gives the list too
    for xs, ys in gom.loader(ds, {batch_size = 100, shuffle = false}):batches() do
      assert(#xs == 2 and xs[2]:shape()[1] == ys:shape()[1])
    end
  )"));
  // A model of one input fed two: the error says so.
  CHECK_THAT(error_of(R"(
    gom.fit{model = gom.layer("linear", {["in"] = 3, out = 1}), loss = "mse",
            train = gom.dataset("two_inputs_test", {}), optimizer = "sgd"})"),
             Contains("layer 'linear' takes one input, got 2"));
}

TEST_CASE("lua module: a Lua loss module equals the built-in it reimplements", "[lua][module]") {
  require_ok(run(R"(
    local MSE = gom.module{
      name = "my_mse",
      forward = function(self, pred, target) return (pred - target):pow(2):mean() end,
    }
    local loss = MSE{}
    gom.manual_seed(7)
    local p, t = gom.randn({16, 3}), gom.randn({16, 3})
    local mine, builtin = loss(p, t):item(), gom.layer("mse")(p, t):item()
    assert(math.abs(mine - builtin) <= 1e-6 * builtin, mine .. " vs " .. builtin)
    -- through gom.fit: the same losses, epoch by epoch, as the built-in mse
    local function train(l)
      gom.manual_seed(3)
      local model = gom.sequential{gom.layer("linear", {["in"] = 1, out = 8}), gom.layer("tanh"),
                                   gom.layer("linear", {["in"] = 8, out = 1})}
      local data = gom.dataset("synthetic", {task = "quadratic", n = 128, seed = 1})
      return gom.fit{model = model, train = data, loss = l, epochs = 3, batch_size = 16,
                     optimizer = gom.optimizer("sgd", {lr = 0.1}), seed = 5}
    end
    local a, b = train(MSE{}), train("mse")
    for e = 1, 3 do
      local x, y = a.history[e].train_loss, b.history[e].train_loss
      assert(math.abs(x - y) <= 1e-5 * y, e .. ": " .. x .. " vs " .. y)
    end
  )"));
}

TEST_CASE("lua module: activation_stats reports a Lua module child of a sequential",
          "[lua][module]") {
  RunContext ctx;
  Runtime rt(ctx);
  require_ok(rt.run_string(R"(
    local Double = gom.module{name = "double", forward = function(self, x) return x * 2 end}
    gom.manual_seed(1)
    local model = gom.sequential{gom.layer("linear", {["in"] = 1, out = 4}), Double{},
                                 gom.layer("linear", {["in"] = 4, out = 1})}
    gom.fit{model = model, train = gom.dataset("synthetic", {task = "quadratic", n = 64, seed = 1}),
            loss = "mse", optimizer = "sgd", epochs = 1, batch_size = 64,
            callbacks = {gom.callback("activation_stats", {every = 1})}}
  )",
                           "@modules.lua"));
  REQUIRE(ctx.final_metrics.count("act.0.mean"));
  REQUIRE(ctx.final_metrics.count("act.1.mean"));
  // one batch, one step: the Lua module's output is twice the linear's
  CHECK(ctx.final_metrics["act.1.mean"] == Approx(2 * ctx.final_metrics["act.0.mean"]));
  CHECK(ctx.final_metrics["act.1.std"] == Approx(2 * ctx.final_metrics["act.0.std"]));
}
