// Hooks in the fit loop and from Lua: module hooks firing inside fit and gom.fit, activation_stats
// reaching nested children, and the Lua API (register_*_hook, handles, retain_grad,
// register_hook) with the values its functions see and return.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "gom_core/trainer.h"
#include "lua_script.h"

using namespace gom;
using Catch::Matchers::Contains;
using gom_test::require_ok;
using gom_test::run_lua;
using V = std::vector<float>;

namespace {

// y = x0 - 2 x1: 40 examples of two features, in order.
class Line : public Dataset {
 public:
  int64_t size() const override { return 40; }
  Batch get_batch(const std::vector<int64_t>& idx) const override {
    std::vector<float> x, y;
    for (int64_t i : idx) {
      const float x0 = float(i) / 40.f - 0.5f, x1 = float(i % 5) / 5.f - 0.4f;
      x.insert(x.end(), {x0, x1});
      y.push_back(x0 - 2 * x1);
    }
    const auto b = int64_t(idx.size());
    return {tensor(x, {b, 2}), tensor(y, {b, 1})};
  }
  Shape input_shape() const override { return {2}; }
  std::string describe() const override { return "line"; }
};

struct Rows : MetricSink {
  std::map<std::string, std::vector<double>> by_key;
  void log(const std::string& k, int64_t, int64_t, double v) override { by_key[k].push_back(v); }
};

// sequential(sequential(linear 2 -> 3, tanh), linear 3 -> 1): nested children.
std::shared_ptr<Sequential> nested_model() {
  manual_seed(5);
  auto inner = std::static_pointer_cast<Sequential>(create_layer("sequential"));
  inner->add(create_layer("linear", {{"in", 2}, {"out", 3}}))->add(create_layer("tanh"));
  auto model = std::static_pointer_cast<Sequential>(create_layer("sequential"));
  model->add(inner)->add(create_layer("linear", {{"in", 3}, {"out", 1}}));
  return model;
}

}  // namespace

TEST_CASE("hooks on a nested layer fire in every training and validation batch of fit", "[hooks]") {
  auto model = nested_model();
  Module& first = *model->children()[0].second->children()[0].second;
  int forwards = 0, backwards = 0;
  first.register_forward_hook([&](Module&, const std::vector<Tensor>&, const Tensor& out) {
    ++forwards;
    CHECK(out.shape() == Shape{10, 3});
    return Tensor();
  });
  first.register_full_backward_hook(
      [&](Module&, const std::vector<Tensor>& gi, const std::vector<Tensor>& go) {
        ++backwards;
        CHECK_FALSE(gi.at(0).defined());  // the data needs no gradient
        CHECK(go.at(0).shape() == Shape{10, 3});
        return std::vector<Tensor>{};
      });
  DataLoader train(std::make_shared<Line>(), {.batch_size = 10, .shuffle = false, .prefetch = 0});
  DataLoader valid(std::make_shared<Line>(), {.batch_size = 10, .shuffle = false, .prefetch = 0});
  FitArgs a;
  a.model = model;
  a.loss = create_layer("mse");
  a.optimizer = create_optimizer("sgd", model->parameters(), {{"lr", 0.1}});
  a.train = &train;
  a.valid = &valid;
  a.epochs = 2;
  fit(a);
  CHECK(forwards == 2 * (4 + 4));  // 4 training and 4 validation batches per epoch
  CHECK(backwards == 2 * 4);       // no graph in validation
}

TEST_CASE("activation_stats reports the outputs of nested children through fit", "[hooks]") {
  auto model = nested_model();
  // The expected first-step values: the model's layers on the first batch before any step.
  DataLoader train(std::make_shared<Line>(), {.batch_size = 10, .shuffle = false, .prefetch = 0});
  const Tensor x0 = Line().get_batch({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}).input;
  Tensor lin0, act0, out;
  {
    NoGrad ng;
    Module& inner = *model->children()[0].second;
    lin0 = inner.children()[0].second->forward(x0);
    act0 = tanh(lin0);
    out = model->children()[1].second->forward(act0);
  }
  FitArgs a;
  a.model = model;
  a.loss = create_layer("mse");
  a.optimizer = create_optimizer("sgd", model->parameters(), {{"lr", 0.1}});
  a.train = &train;
  a.epochs = 1;
  a.callbacks = {create_callback("activation_stats", {{"every", 2}, {"gradients", false}})};
  Rows rows;
  a.sink = &rows;
  fit(a);
  for (const char* k : {"act.0.mean", "act.0.0.mean", "act.0.1.std", "act.1.mean"})
    CHECK(rows.by_key[k].size() == 2);  // steps 0 and 2 of 4
  CHECK(rows.by_key.count("act.2.mean") == 0);
  CHECK(rows.by_key.at("act.0.0.mean")[0] == Approx(mean(lin0).item()).epsilon(1e-5));
  CHECK(rows.by_key.at("act.0.1.mean")[0] == Approx(mean(act0).item()).epsilon(1e-5));
  CHECK(rows.by_key.at("act.0.mean")[0] == Approx(mean(act0).item()).epsilon(1e-5));
  CHECK(rows.by_key.at("act.1.mean")[0] == Approx(mean(out).item()).epsilon(1e-5));
}

TEST_CASE("lua: module hooks fire in order, see the tensors, replace values, and are removed",
          "[hooks][lua]") {
  require_ok(run_lua(R"(
    local lin = gom.layer("linear", {["in"] = 2, out = 2})
    lin:load_state_dict{weight = gom.tensor{{1, 2}, {3, -1}}, bias = gom.tensor{0.5, -0.5}}
    local relu = gom.layer("relu")
    local model = gom.sequential{gom.sequential{lin, relu}}
    local log = {}
    local function trace(m, name)
      return {m:register_forward_pre_hook(function(mod, x)
                assert(mod == nil or tostring(mod) == tostring(m))
                log[#log + 1] = "pre " .. name
              end),
              m:register_forward_hook(function(mod, inputs, out)
                log[#log + 1] = "post " .. name
              end)}
    end
    local hm, hl, hr = trace(model, "model"), trace(lin, "linear"), trace(relu, "relu")
    local seen
    lin:register_forward_hook(function(mod, inputs, out)
      seen = {inputs[1]:totable()[1], out:totable()[1]}
    end)
    local y = model(gom.tensor{{1, 1}})
    assert(table.concat(log, ",") ==
           "pre model,pre linear,post linear,pre relu,post relu,post model", table.concat(log, ","))
    assert(seen[1][1] == 1 and seen[1][2] == 1 and seen[2][1] == 3.5 and seen[2][2] == 1.5)
    assert(y:totable()[1][2] == 1.5)

    -- :forward runs the hooks too; a removed hook no longer fires
    for _, h in ipairs(hl) do h:remove() end
    hl[1]:remove()
    log = {}
    model:forward(gom.tensor{{1, 1}})
    assert(table.concat(log, ",") == "pre model,pre relu,post relu,post model",
           table.concat(log, ","))
    for _, h in ipairs(hm) do h:remove() end
    for _, h in ipairs(hr) do h:remove() end

    -- replacements: the pre-hook doubles the input, the forward hook adds 1 to the output
    local hp = lin:register_forward_pre_hook(function(mod, x) return x * 2 end)
    local hf = lin:register_forward_hook(function(mod, inputs, out) return out + 1 end)
    local z = lin(gom.tensor{{1, 1}}):totable()[1]
    assert(z[1] == 7.5 and z[2] == 4.5, z[1] .. " " .. z[2])
    hp:remove(); hf:remove()
    z = lin(gom.tensor{{1, 1}}):totable()[1]
    assert(z[1] == 3.5 and z[2] == 1.5)
    assert(tostring(hp) == "hook handle")
  )"));
}

TEST_CASE("lua: a full backward hook sees grad_input and grad_output and may replace grad_input",
          "[hooks][lua]") {
  // loss = sum(lin(x) * c), c = [2, 5], x = [[1, -1]]: grad_output c, grad_input c W = [17, -1].
  require_ok(run_lua(R"(
    local lin = gom.layer("linear", {["in"] = 2, out = 2})
    lin:load_state_dict{weight = gom.tensor{{1, 2}, {3, -1}}, bias = gom.tensor{0.5, -0.5}}
    local x = gom.tensor{{1, -1}}:requires_grad_()
    local gin, gout
    local h = lin:register_full_backward_hook(function(mod, grad_input, grad_output)
      gin, gout = grad_input[1]:totable()[1], grad_output[1]:totable()[1]
      return {grad_input[1] * 0.5}
    end)
    ;(lin(x) * gom.tensor{{2, 5}}):sum():backward()
    assert(gout[1] == 2 and gout[2] == 5)
    assert(gin[1] == 17 and gin[2] == -1)
    local g = x.grad:totable()[1]
    assert(g[1] == 8.5 and g[2] == -0.5, g[1] .. " " .. g[2])
    h:remove()
    x.grad = nil
    ;(lin(x) * gom.tensor{{2, 5}}):sum():backward()
    g = x.grad:totable()[1]
    assert(g[1] == 17 and g[2] == -1)

    -- an input without gradient: grad_input[1] is nil
    local fired = false
    lin:register_full_backward_hook(function(mod, grad_input, grad_output)
      fired = true
      assert(grad_input[1] == nil and grad_output[1] ~= nil)
    end)
    lin(gom.tensor{{1, 1}}):sum():backward()
    assert(fired)
  )"));
}

TEST_CASE("lua: retain_grad against central differences, register_hook replacing a gradient",
          "[hooks][lua]") {
  require_ok(run_lua(R"(
    -- y = sum(c * tanh(h)), h = x * x: dy/dh = c (1 - tanh(h)^2)
    local x = gom.tensor{0.3, -0.7, 1.1}:requires_grad_()
    local c = gom.tensor{2, -1, 0.5}
    local h = x * x
    assert(h:retain_grad() == h and h.retains_grad and not x.retains_grad)
    local y = (c * h:tanh()):sum()
    y:backward()
    local hv, g, cv = h:totable(), h.grad:totable(), c:totable()
    for i = 1, 3 do
      local e = 1e-3
      local num = (cv[i] * math.tanh(hv[i] + e) - cv[i] * math.tanh(hv[i] - e)) / (2 * e)
      assert(math.abs(g[i] - num) < 1e-3 * math.max(1, math.abs(num)),
             i .. ": " .. g[i] .. " vs " .. num)
    end

    -- a hook on a non-leaf replaces its gradient before it flows on: dy/dh := 1, x.grad = 2x
    local a = gom.tensor{1, 2, 3}:requires_grad_()
    local b = a * a
    local seen
    local hh = b:register_hook(function(grad) seen = grad:totable(); return gom.ones_like(grad) end)
    ;(b * gom.tensor{5, 6, 7}):sum():backward()
    assert(seen[1] == 5 and seen[3] == 7)
    local ga = a.grad:totable()
    assert(ga[1] == 2 and ga[2] == 4 and ga[3] == 6)
    -- on a leaf: the replacement is what .grad gets; removed, it no longer applies
    a.grad = nil
    local hl = a:register_hook(function(grad) return grad * 10 end)
    ;(a * 3):sum():backward()
    assert(a.grad:totable()[2] == 30)
    hl:remove()
    a.grad = nil
    ;(a * 3):sum():backward()
    assert(a.grad:totable()[2] == 3)
  )"));
}

TEST_CASE("lua: hooks fire inside gom.fit; a hook's error names the hook", "[hooks][lua]") {
  require_ok(run_lua(R"(
    local data = gom.dataset("synthetic", {task = "xor", n = 64, seed = 1})
    local hidden = gom.layer("linear", {["in"] = 2, out = 8})
    local model = gom.sequential{gom.sequential{hidden, gom.layer("tanh")},
                                 gom.layer("linear", {["in"] = 8, out = 2})}
    local forwards, backwards, shape = 0, 0
    hidden:register_forward_hook(function(m, inputs, out) forwards = forwards + 1 end)
    hidden:register_full_backward_hook(function(m, gi, go)
      backwards = backwards + 1
      shape = go[1]:shape()
    end)
    gom.fit{model = model, train = data, loss = "cross_entropy", optimizer = "sgd", epochs = 2,
            batch_size = 16}
    assert(forwards == 8 and backwards == 8, forwards .. " " .. backwards)
    assert(shape[1] == 16 and shape[2] == 8)
  )"));
  const auto r = run_lua(R"(
    local lin = gom.layer("linear", {["in"] = 2, out = 2})
    lin:register_forward_hook(function(m, inputs, out) error("boom") end)
    lin(gom.tensor{{1, 1}})
  )");
  REQUIRE(r.status == lua::ScriptResult::Status::Failed);
  CHECK_THAT(r.error, Contains("forward hook: test.lua:3: boom"));
}
