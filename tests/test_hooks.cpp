// Module hooks (forward pre-hooks, forward hooks, full backward hooks) and tensor gradient hooks
// (register_hook, retain_grad), in C++: order of firing, the tensors they see, replacement
// values, removal; gradients against values worked by hand and against central differences.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "gom/gom.h"

using namespace gom;
using Catch::Matchers::Contains;
using V = std::vector<float>;

namespace {

// linear(2 -> 2) with W = [[1, 2], [3, -1]], b = [0.5, -0.5].
std::shared_ptr<Module> fixed_linear() {
  auto lin = create_layer("linear", {{"in", 2}, {"out", 2}});
  NoGrad ng;
  copy_(lin->named_parameters()[0].second, tensor({1, 2, 3, -1}, {2, 2}));
  copy_(lin->named_parameters()[1].second, tensor({0.5f, -0.5f}, {2}));
  return lin;
}

V values(const Tensor& t) {
  return t.contiguous().to_vector<float>();
}

// Logs "pre NAME", "post NAME" and "backward NAME" into `log`.
std::vector<HookHandle> trace(Module& m, const std::string& name, std::vector<std::string>& log) {
  return {m.register_forward_pre_hook([&log, name](Module&, const std::vector<Tensor>&) {
            log.push_back("pre " + name);
            return std::vector<Tensor>{};
          }),
          m.register_forward_hook([&log, name](Module&, const std::vector<Tensor>&, const Tensor&) {
            log.push_back("post " + name);
            return Tensor();
          }),
          m.register_full_backward_hook(
              [&log, name](Module&, const std::vector<Tensor>&, const std::vector<Tensor>&) {
                log.push_back("backward " + name);
                return std::vector<Tensor>{};
              })};
}

}  // namespace

TEST_CASE("forward hooks fire around forward, nested ones inside their container's", "[hooks]") {
  auto lin = fixed_linear();
  auto relu = create_layer("relu");
  auto inner = std::static_pointer_cast<Sequential>(create_layer("sequential"));
  inner->add(lin)->add(relu);
  auto model = std::static_pointer_cast<Sequential>(create_layer("sequential"));
  model->add(inner);
  std::vector<std::string> log;
  auto h_model = trace(*model, "model", log);
  auto h_lin = trace(*lin, "linear", log);
  auto h_relu = trace(*relu, "relu", log);

  // What the hooks see: x = [[1, 1]] -> linear [[3.5, 1.5]]; x = [[-1, 0]] -> [[-0.5, -3.5]].
  std::vector<V> seen_in, seen_out;
  Module* seen_module = nullptr;
  lin->register_forward_hook([&](Module& m, const std::vector<Tensor>& in, const Tensor& out) {
    seen_module = &m;
    seen_in.push_back(values(in.at(0)));
    seen_out.push_back(values(out));
    return Tensor();
  });
  const Tensor y = (*model)(tensor({1, 1}, {1, 2}));
  CHECK(values(y) == V{3.5f, 1.5f});
  CHECK(log == std::vector<std::string>{"pre model", "pre linear", "post linear", "pre relu",
                                        "post relu", "post model"});
  CHECK(seen_module == lin.get());
  CHECK(seen_in == std::vector<V>{{1, 1}});
  CHECK(seen_out == std::vector<V>{{3.5f, 1.5f}});

  SECTION("forward() itself runs no hook; call() and operator() do") {
    log.clear();
    model->forward(tensor({1, 1}, {1, 2}));
    CHECK(log == std::vector<std::string>{"pre linear", "post linear", "pre relu", "post relu"});
    log.clear();
    lin->call(tensor({1, 1}, {1, 2}));
    CHECK(log == std::vector<std::string>{"pre linear", "post linear"});
  }
  SECTION("removed hooks no longer fire; removing twice is harmless") {
    for (auto& h : h_lin) h.remove();
    for (auto& h : h_lin) h.remove();
    log.clear();
    (*model)(tensor({-1, 0}, {1, 2}));
    CHECK(log == std::vector<std::string>{"pre model", "pre relu", "post relu", "post model"});
    CHECK(seen_out.back() == V{-0.5f, -3.5f});  // the other hook on linear still fires
  }
  SECTION("a handle outliving its module does nothing") {
    HookHandle h = create_layer("relu")->register_forward_hook(
        [](Module&, const std::vector<Tensor>&, const Tensor&) { return Tensor(); });
    h.remove();
  }
}

TEST_CASE("hooks' return values replace the input, the output and the input gradients", "[hooks]") {
  auto lin = fixed_linear();
  const Tensor x = tensor({1, 1}, {1, 2});
  SECTION("a pre-hook's inputs and a forward hook's output are used") {
    auto pre = lin->register_forward_pre_hook([](Module&, const std::vector<Tensor>& in) {
      return std::vector<Tensor>{mul(in[0], 2.0)};  // [[2, 2]] -> [[6.5, 3.5]]
    });
    V seen_in;
    auto post =
        lin->register_forward_hook([&](Module&, const std::vector<Tensor>& in, const Tensor& out) {
          seen_in = values(in[0]);
          return add(out, 1.0);
        });
    CHECK(values((*lin)(x)) == V{7.5f, 4.5f});
    CHECK(seen_in == V{2, 2});  // the forward hook sees the replaced input
    pre.remove();
    CHECK(values((*lin)(x)) == V{4.5f, 2.5f});
    CHECK(seen_in == V{1, 1});
    post.remove();
    CHECK(values((*lin)(x)) == V{3.5f, 1.5f});
    auto wrong = lin->register_forward_pre_hook([](Module&, const std::vector<Tensor>& in) {
      return std::vector<Tensor>{in[0], in[0]};
    });
    REQUIRE_THROWS_WITH((*lin)(x), Contains("pre-hook returned 2 input(s) for 1"));
  }
  SECTION("a backward hook sees grad_output and grad_input, and may replace grad_input") {
    // loss = sum(lin(x) * c), c = [2, 5]: grad_output = c, grad_input = c W = [17, -1], and
    // dL/dW = c^T x = [[2, -2], [5, -5]] for x = [[1, -1]].
    Tensor xi = tensor({1, -1}, {1, 2});
    xi.requires_grad_();
    std::vector<V> g_in, g_out;
    auto h = lin->register_full_backward_hook(
        [&](Module& m, const std::vector<Tensor>& gi, const std::vector<Tensor>& go) {
          CHECK(&m == lin.get());
          REQUIRE(gi.size() == 1);
          REQUIRE(go.size() == 1);
          g_in.push_back(values(gi[0]));
          g_out.push_back(values(go[0]));
          return std::vector<Tensor>{mul(gi[0], 0.5)};
        });
    sum(mul((*lin)(xi), tensor({2, 5}, {1, 2}))).backward();
    CHECK(g_out == std::vector<V>{{2, 5}});
    CHECK(g_in == std::vector<V>{{17, -1}});
    CHECK(values(xi.grad()) == V{8.5f, -0.5f});  // halved by the hook
    const Tensor w = lin->named_parameters()[0].second;
    CHECK(values(w.grad()) == V{2, -2, 5, -5});  // the weights' gradient is not touched
    h.remove();
    xi.zero_grad();
    w.zero_grad();
    sum(mul((*lin)(xi), tensor({2, 5}, {1, 2}))).backward();
    CHECK(values(xi.grad()) == V{17, -1});
    CHECK(g_in.size() == 1);
  }
}

TEST_CASE("backward hooks: grad_input is undefined for inputs without gradients; nested order",
          "[hooks]") {
  SECTION("an input that needs no gradient: the hook fires with grad_output only") {
    auto lin = fixed_linear();
    int calls = 0;
    lin->register_full_backward_hook(
        [&](Module&, const std::vector<Tensor>& gi, const std::vector<Tensor>& go) {
          ++calls;
          REQUIRE(gi.size() == 1);
          CHECK_FALSE(gi[0].defined());
          CHECK(values(go.at(0)) == V{1, 1});
          return std::vector<Tensor>{};
        });
    sum((*lin)(tensor({1, -1}, {1, 2}))).backward();
    CHECK(calls == 1);
    CHECK(values(lin->named_parameters()[1].second.grad()) == V{1, 1});
  }
  SECTION("a loss: the prediction's gradient, none for the target") {
    // mse([1, 3], [0, 0]) = 5; d/dpred = 2 (pred - target) / 2 = [1, 3].
    auto mse = create_layer("mse");
    Tensor pred = tensor({1, 3}, {2});
    pred.requires_grad_();
    std::vector<Tensor> gi, go;
    mse->register_full_backward_hook(
        [&](Module&, const std::vector<Tensor>& i, const std::vector<Tensor>& o) {
          gi = i;
          go = o;
          return std::vector<Tensor>{};
        });
    const Tensor loss = (*mse)(pred, zeros({2}));
    CHECK(loss.item() == Approx(5.0));
    loss.backward();
    REQUIRE(gi.size() == 2);
    CHECK(values(gi[0]) == V{1, 3});
    CHECK_FALSE(gi[1].defined());
    REQUIRE(go.size() == 1);
    CHECK(go[0].item() == 1.0);
  }
  SECTION("children's backward hooks fire before their container's, last layer first") {
    auto lin = fixed_linear();
    auto relu = create_layer("relu");
    auto seq = std::static_pointer_cast<Sequential>(create_layer("sequential"));
    seq->add(lin)->add(relu);
    std::vector<std::string> log;
    auto a = trace(*seq, "seq", log), b = trace(*lin, "linear", log), c = trace(*relu, "relu", log);
    Tensor x = tensor({1, 1}, {1, 2});
    x.requires_grad_();
    const Tensor y = (*seq)(x);
    log.clear();
    sum(y).backward();
    CHECK(log == std::vector<std::string>{"backward relu", "backward linear", "backward seq"});
    CHECK(values(x.grad()) == V{4, 1});  // relu passes both: [1, 1] W
  }
}

TEST_CASE("retain_grad keeps a non-leaf's gradient: against central differences", "[hooks]") {
  // y = sum(c * tanh(h)), h = x * x + x: dy/dh = c (1 - tanh(h)^2).
  const V xs{0.3f, -0.7f, 1.1f}, cs{2, -1, 0.5f};
  Tensor x = tensor(xs, {3});
  x.requires_grad_();
  const Tensor c = tensor(cs, {3});
  Tensor h = add(mul(x, x), x);
  CHECK_FALSE(h.retains_grad());
  h.retain_grad();
  CHECK(h.retains_grad());
  x.retain_grad();  // a leaf: nothing changes
  CHECK_FALSE(x.retains_grad());
  Tensor y = sum(mul(c, tanh(h)));
  y.retain_grad();
  y.backward({}, true);
  CHECK(y.grad().item() == 1.0);
  const V hv = values(h), g = values(h.grad());
  REQUIRE(g.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    const double e = 1e-3;
    auto f = [&](double hi) { return cs[i] * std::tanh(hi); };  // the other terms cancel
    const double numeric = (f(hv[i] + e) - f(hv[i] - e)) / (2 * e);
    CHECK(g[i] == Approx(numeric).epsilon(1e-3));
  }
  // The leaf's gradient is h's times dh/dx = 2x + 1.
  for (size_t i = 0; i < 3; ++i)
    CHECK(values(x.grad())[i] == Approx(g[i] * (2 * xs[i] + 1)).epsilon(1e-5));
  // A second backward sums into the retained gradient, as into a leaf's.
  y.backward();
  for (size_t i = 0; i < 3; ++i) CHECK(values(h.grad())[i] == Approx(2 * g[i]).epsilon(1e-6));
  // Without retain_grad a non-leaf keeps nothing.
  Tensor h2 = mul(x, 3.0);
  sum(h2).backward();
  CHECK_FALSE(h2.grad().defined());
  REQUIRE_THROWS_WITH(tensor({1}, {1}).retain_grad(), Contains("does not require grad"));
}

TEST_CASE("register_hook sees a tensor's gradient and may replace it", "[hooks]") {
  Tensor x = tensor({1, 2, 3}, {3});
  x.requires_grad_();
  SECTION("on a leaf: the replacement is what .grad receives") {
    std::vector<V> seen;
    HookHandle h = x.register_hook([&](const Tensor& g) {
      seen.push_back(values(g));
      return mul(g, 2.0);
    });
    sum(mul(x, 3.0)).backward();
    CHECK(seen == std::vector<V>{{3, 3, 3}});
    CHECK(values(x.grad()) == V{6, 6, 6});
    h.remove();
    x.zero_grad();
    sum(mul(x, 3.0)).backward();
    CHECK(values(x.grad()) == V{3, 3, 3});
  }
  SECTION("on a non-leaf: its gradient, summed over its uses, replaced before it flows on") {
    // y = sum(h * [1, 2, 3]) + sum(h), h = x * x: dy/dh = [2, 3, 4]; replaced by [1, 1, 1],
    // x's gradient becomes 2x = [2, 4, 6] instead of 2x [2, 3, 4] = [4, 12, 24].
    Tensor h = mul(x, x);
    V seen;
    int calls = 0;
    h.register_hook([&](const Tensor& g) {
      ++calls;
      seen = values(g);
      return ones_like(g);
    });
    h.register_hook([&](const Tensor& g) {
      CHECK(values(g) == V{1, 1, 1});  // the second hook gets the first one's result
      return Tensor();
    });
    add(sum(mul(h, tensor({1, 2, 3}, {3}))), sum(h)).backward();
    CHECK(calls == 1);
    CHECK(seen == V{2, 3, 4});
    CHECK(values(x.grad()) == V{2, 4, 6});
  }
  SECTION("a hook runs before retain_grad stores the gradient") {
    Tensor h = mul(x, 2.0);
    h.retain_grad();
    h.register_hook([](const Tensor& g) { return mul(g, 10.0); });
    sum(h).backward();
    CHECK(values(h.grad()) == V{10, 10, 10});
    CHECK(values(x.grad()) == V{20, 20, 20});
  }
  SECTION("a gradient of the wrong shape, or a tensor without gradients, is refused") {
    x.register_hook([](const Tensor&) { return zeros({2}); });
    REQUIRE_THROWS_WITH(sum(x).backward(), Contains("shape [2] for a tensor of shape [3]"));
    REQUIRE_THROWS_WITH(tensor({1}, {1}).register_hook([](const Tensor& g) { return g; }),
                        Contains("register_hook: the tensor does not require grad"));
  }
}
