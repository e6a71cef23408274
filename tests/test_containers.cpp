// The residual, parallel and concat containers: values worked by hand, gradients through every
// branch against finite differences, the error messages, and the containers from Lua.
#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "gom/layer.h"
#include "gom_lua/runtime.h"
#include "gradcheck.h"

using namespace gom;
using Catch::Matchers::Contains;
using V = std::vector<float>;

namespace {

// A child whose forward is a function: lets a test give a branch weights of its choosing.
class FnModule : public Module {
 public:
  explicit FnModule(std::function<Tensor(const Tensor&)> f) : f_(std::move(f)) {}
  Tensor forward(const Tensor& x) override { return f_(x); }

 private:
  std::function<Tensor(const Tensor&)> f_;
};

std::shared_ptr<Module> fn(std::function<Tensor(const Tensor&)> f) {
  return std::make_shared<FnModule>(std::move(f));
}

// A linear layer with the given weight [out, in] and bias.
std::shared_ptr<Module> linear_with(const V& w, const V& b, int64_t in, int64_t out) {
  auto m = create_layer("linear", {{"in", in}, {"out", out}});
  m->load_state_dict({{"weight", tensor(w, {out, in})}, {"bias", tensor(b, {out})}});
  return m;
}

std::shared_ptr<Container> container(const std::string& name,
                                     const std::vector<std::shared_ptr<Module>>& children,
                                     const Config& config = {}) {
  auto c = std::dynamic_pointer_cast<Container>(create_layer(name, config));
  REQUIRE(c);
  for (const auto& m : children) c->add_child(m);
  return c;
}

}  // namespace

TEST_CASE("residual: body(x) + x, or + shortcut(x), then the activation", "[containers]") {
  const Tensor x = tensor({1, -2}, {1, 2});
  // body: W = [[1, 0], [0, 2]], b = [0.5, -1] -> [1.5, -5]; plus x -> [2.5, -7].
  auto body = linear_with({1, 0, 0, 2}, {0.5, -1}, 2, 2);
  auto res = container("residual", {body});
  CHECK(res->forward(x).to_vector<float>() == V{2.5f, -7.f});
  auto res_relu = container("residual", {body}, {{"activation", "relu"}});
  CHECK(res_relu->forward(x).to_vector<float>() == V{2.5f, 0.f});

  // Projection 2 -> 3: body W = [[1,1],[0,1],[1,0]] -> [-1, -2, 1];
  // shortcut W = [[2,0],[0,1],[1,1]], b = [0, 0, 3] -> [2, -2, 2]; sum [1, -4, 3].
  auto pbody = linear_with({1, 1, 0, 1, 1, 0}, {0, 0, 0}, 2, 3);
  auto shortcut = linear_with({2, 0, 0, 1, 1, 1}, {0, 0, 3}, 2, 3);
  auto proj = container("residual", {pbody, shortcut});
  CHECK(proj->forward(x).to_vector<float>() == V{1.f, -4.f, 3.f});
  CHECK(proj->named_parameters().size() == 4);
  CHECK(proj->named_parameters()[2].first == "1.weight");
  CHECK(res_relu->repr() ==
        "residual(activation=\"relu\", 0: linear(bias=true, in=2, init=\"default\", out=2))");
}

TEST_CASE("residual: gradients flow through the body and the shortcut (finite differences)",
          "[containers]") {
  manual_seed(5);
  // Inputs: x, the body's weight, the shortcut's weight. The body is nonlinear (tanh) so the
  // check sees more than a sum of two linear maps.
  auto f = [](const std::vector<Tensor>& in) {
    auto res = container("residual",
                         {fn([w = in[1]](const Tensor& x) { return tanh(linear(x, w)); }),
                          fn([w = in[2]](const Tensor& x) { return linear(x, w); })},
                         {{"activation", "relu"}});
    return res->forward(in[0]);
  };
  auto r = gom_test::gradcheck(f, {randn({4, 3}), randn({5, 3}), randn({5, 3})});
  INFO(r.report);
  CHECK(r.ok);
  // The identity shortcut adds the upstream gradient itself to x's gradient.
  const Tensor w = randn({3, 3}), x = randn({2, 3}).requires_grad_();
  auto ident = container("residual", {fn([w](const Tensor& h) { return linear(h, w); })});
  const Tensor g = randn({2, 3});
  ident->forward(x).backward(g);
  CHECK(allclose(x.grad(), g + matmul(g, w), 1e-5, 1e-6));
}

TEST_CASE("parallel sums its branches; concat joins them along dim", "[containers]") {
  const Tensor x = tensor({1, 2, 3, 4}, {2, 2});
  auto a = linear_with({1, 0, 0, 1}, {0, 0}, 2, 2);   // x
  auto b = linear_with({0, 1, 1, 0}, {1, -1}, 2, 2);  // swapped, + [1, -1]
  auto c = linear_with({1, 1}, {0}, 2, 1);            // row sums
  auto par = container("parallel", {a, b});
  CHECK(par->forward(x).to_vector<float>() == V{4, 2, 8, 6});
  CHECK(container("parallel", {a})->forward(x).to_vector<float>() == V{1, 2, 3, 4});

  auto cat1 = container("concat", {a, c, b});
  CHECK(cat1->forward(x).shape() == Shape{2, 5});
  CHECK(cat1->forward(x).to_vector<float>() == V{1, 2, 3, 3, 0, 3, 4, 7, 5, 2});
  auto cat0 = container("concat", {a, b}, {{"dim", 0}});
  CHECK(cat0->forward(x).to_vector<float>() == V{1, 2, 3, 4, 3, 0, 5, 2});
  auto catneg = container("concat", {a, c}, {{"dim", -1}});
  CHECK(catneg->forward(x).shape() == Shape{2, 3});

  // Gradients reach every branch: x's gradient sums what each branch sends back.
  manual_seed(9);
  auto r = gom_test::gradcheck(
      [](const std::vector<Tensor>& in) {
        auto p = container("concat", {fn([w = in[1]](const Tensor& h) { return linear(h, w); }),
                                      fn([](const Tensor& h) { return sigmoid(h); })});
        auto q =
            container("parallel", {p, fn([w = in[2]](const Tensor& h) { return linear(h, w); })});
        return q->forward(in[0]);
      },
      {randn({3, 2}), randn({4, 2}), randn({6, 2})});
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("containers: child counts and shape mismatches give exact errors", "[containers]") {
  auto lin = [](int64_t in, int64_t out) {
    return create_layer("linear", {{"in", in}, {"out", out}});
  };
  auto res = container("residual", {lin(2, 2), lin(2, 2)});
  CHECK_THROWS_WITH(res->add_child(lin(2, 2)),
                    Contains("residual: takes 1 or 2 children (body, then an optional "
                             "shortcut), got a third"));
  auto empty = container("residual", {});
  CHECK_THROWS_WITH(empty->check_children(),
                    Contains("residual: has no children; it takes 1 or 2"));
  CHECK_THROWS_WITH(empty->forward(ones({1, 2})), Contains("residual: has no children"));
  CHECK_THROWS_WITH(container("parallel", {})->forward(ones({1, 2})),
                    Contains("parallel: has no children; it takes at least 1"));
  CHECK_THROWS_WITH(container("concat", {})->check_children(),
                    Contains("concat: has no children; it takes at least 1"));

  CHECK_THROWS_WITH(container("residual", {lin(2, 3)})->forward(ones({4, 2})),
                    Contains("residual: the body gives shape [4, 3] but the input is [4, 2]; the "
                             "identity shortcut only fits a body that keeps the shape: add a "
                             "projection shortcut as second child"));
  CHECK_THROWS_WITH(container("residual", {lin(2, 3), lin(2, 4)})->forward(ones({4, 2})),
                    Contains("residual: the body gives shape [4, 3] but the shortcut gives "
                             "[4, 4]; they are added, so the shortcut must project the input to "
                             "the body's shape"));
  CHECK_THROWS_WITH(container("parallel", {lin(2, 3), lin(2, 1)})->forward(ones({4, 2})),
                    Contains("parallel: branch 1 gives shape [4, 1] but branch 0 gives [4, 3]; "
                             "the branches' outputs are summed and must agree in shape"));
  CHECK_THROWS_WITH(
      container("concat", {lin(2, 3), lin(2, 1)}, {{"dim", 0}})->forward(ones({4, 2})),
      Contains("concat: branch 1 gives shape [4, 1] but branch 0 gives [4, 3]; they must agree "
               "in every dim but dim 0, along which they are joined"));
  CHECK_THROWS_WITH(container("concat", {lin(2, 3)}, {{"dim", 2}})->forward(ones({4, 2})),
                    Contains("concat: dim 2 is out of range for outputs of shape [4, 3] "
                             "(accepted: -2 to 1)"));
  CHECK_THROWS_WITH(container("parallel", {create_layer("mse")})->forward(ones({4, 2})),
                    Contains("parallel: child 0 ('mse') takes 2 inputs; a loss cannot be a "
                             "branch"));
  CHECK_THROWS_WITH(create_layer("residual", {{"activation", "tanh"}}),
                    Contains("layer 'residual': parameter 'activation'"));
}

TEST_CASE("containers from Lua: gom.layer takes the children third", "[containers][lua]") {
  gom::lua::RunContext ctx;
  gom::lua::Runtime rt(ctx);
  const auto ok = rt.run_string(R"lua(
    gom.manual_seed(2)
    local block = gom.layer("residual", {activation = "relu"}, {
      gom.sequential{gom.layer("linear", {["in"] = 3, out = 3}), gom.layer("relu"),
                     gom.layer("linear", {["in"] = 3, out = 3})}})
    local x = gom.randn({4, 3})
    local y = block(x)
    assert(y:size(0) == 4 and y:size(1) == 3)
    local body = block:children()[1]
    local want = (body(x) + x):relu()
    assert(gom.allclose(y, want), "residual = relu(body(x) + x)")
    local names = {}
    for name, _ in block:named_parameters() do names[#names + 1] = name end
    assert(table.concat(names, ",") == "0.0.weight,0.0.bias,0.2.weight,0.2.bias",
           table.concat(names, ","))
    local cat = gom.layer("concat", {}, {gom.layer("linear", {["in"] = 3, out = 2}),
                                         gom.layer("linear", {["in"] = 3, out = 5})})
    assert(cat(x):size(1) == 7)
  )lua",
                                "@containers.lua");
  INFO(ok.error);
  CHECK(ok.status == gom::lua::ScriptResult::Status::Finished);

  gom::lua::RunContext ctx2;
  gom::lua::Runtime rt2(ctx2);
  const auto bad = rt2.run_string(R"lua(
    local l = gom.layer("linear", {["in"] = 2, out = 2})
    gom.layer("residual", {}, {l, l, l})
  )lua",
                                  "@bad.lua");
  REQUIRE(bad.status == gom::lua::ScriptResult::Status::Failed);
  CHECK_THAT(bad.error, Contains("residual: takes 1 or 2 children"));
}

TEST_CASE("containers: an error in a child names its path in the model", "[containers]") {
  auto lin = [](int64_t in, int64_t out) {
    return create_layer("linear", {{"in", in}, {"out", out}});
  };
  const std::string misfit =
      "input of shape [64, 8] does not fit a weight of shape [2, 9] (expected [..., 9] and "
      "[out, in])";
  auto seq = container("sequential", {lin(2, 8), create_layer("tanh"), lin(9, 2)});
  CHECK_THROWS_WITH(seq->forward(ones({64, 2})), "model.2 (linear): " + misfit);
  try {
    seq->forward(ones({64, 2}));
  } catch (const LayerError& e) {
    CHECK(e.path() == "2");
    CHECK(e.type() == "linear");
  }
  // Nested containers give the whole path, as the weights' names do (model.1.0.weight).
  auto nested = container("sequential", {lin(2, 8), container("sequential", {lin(9, 2)})});
  CHECK_THROWS_WITH(nested->forward(ones({64, 2})), "model.1.0 (linear): " + misfit);
  auto branches = container(
      "sequential",
      {lin(2, 8), container("residual", {container("parallel", {lin(8, 2), lin(9, 2)})})});
  CHECK_THROWS_WITH(branches->forward(ones({64, 2})), "model.1.0.1 (linear): " + misfit);
  // A container's own error is named by the container around it.
  CHECK_THROWS_WITH(
      container("sequential", {container("residual", {lin(2, 3)})})->forward(ones({4, 2})),
      Contains("model.0 (residual): the body gives shape [4, 3] but the input is "
               "[4, 2]"));

  // From Lua, at the script's line.
  gom::lua::RunContext ctx;
  gom::lua::Runtime rt(ctx);
  const auto r = rt.run_string(R"lua(
    local model = gom.sequential{gom.layer("linear", {["in"] = 2, out = 8}),
                                 gom.layer("tanh"), gom.layer("linear", {["in"] = 9, out = 2})}
    model(gom.ones({64, 2}))
  )lua",
                               "@path.lua");
  REQUIRE(r.status == gom::lua::ScriptResult::Status::Failed);
  CHECK_THAT(r.error, Contains("path.lua:4: model.2 (linear): " + misfit));
}
