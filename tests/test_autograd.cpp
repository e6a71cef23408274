// Autograd: accumulation, NoGrad, graph release, custom Functions, grad() and the errors.
#include <catch2/catch.hpp>

#include "gom/gom.h"

using namespace gom;
using Catch::Matchers::Contains;
using V = std::vector<float>;

TEST_CASE("gradients from several uses of a tensor are summed", "[autograd]") {
  Tensor x = tensor({1, 2, 3}, {3});
  x.requires_grad_();
  Tensor y = sum(x * x + x);  // dy/dx = 2x + 1
  y.backward();
  CHECK(x.grad().to_vector<float>() == V{3, 5, 7});
  CHECK(x.is_leaf());
  CHECK_FALSE(y.is_leaf());
  CHECK(y.grad_fn()->name() == "sum");
}

TEST_CASE("a second backward accumulates into .grad until zero_grad", "[autograd]") {
  Tensor x = tensor({2}, {1});
  x.requires_grad_();
  sum(x * 3.0).backward();
  sum(x * 3.0).backward();
  CHECK(x.grad().item() == 6.0);
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("two leaves never share one gradient tensor", "[autograd]") {
  Tensor a = ones({3}), b = ones({3});
  a.requires_grad_();
  b.requires_grad_();
  sum(a + b).backward();  // add's backward hands the same gradient to both
  CHECK(a.grad().storage() != b.grad().storage());
  Tensor ga = a.grad();
  {
    NoGrad ng;
    add_(ga, ones({3}));
  }
  CHECK(b.grad().to_vector<float>() == V{1, 1, 1});
}

TEST_CASE("NoGrad records nothing", "[autograd]") {
  Tensor x = ones({2});
  x.requires_grad_();
  Tensor y;
  {
    NoGrad ng;
    CHECK_FALSE(grad_enabled());
    y = sum(x * 2.0);
  }
  CHECK(grad_enabled());
  CHECK_FALSE(y.requires_grad());
  CHECK_THROWS_WITH(y.backward(), Contains("does not require grad and has no grad_fn"));
}

TEST_CASE("backward errors say what is wrong", "[autograd]") {
  Tensor x = ones({2, 2});
  x.requires_grad_();
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH(y.backward(),
                    Contains("implied only for a one-element tensor; this one has shape [2, 2]"));
  CHECK_THROWS_WITH(y.backward(ones({3})),
                    Contains("gradient of shape [3] given for a tensor of shape [2, 2]"));
  CHECK_THROWS_WITH(ones({2}, {DType::I64}).requires_grad_(),
                    Contains("only floating-point tensors"));
  CHECK_THROWS_WITH(y.requires_grad_(false), Contains("only leaf tensors can change it"));
  CHECK_THROWS_WITH(add_(x, ones({2, 2})),
                    Contains("in-place update of a tensor that requires grad"));
}

TEST_CASE("the graph is freed after backward unless retained", "[autograd]") {
  Tensor x = tensor({3}, {1});
  x.requires_grad_();
  Tensor y = sum(exp(x));
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  CHECK(x.grad().item() == Approx(2 * std::exp(3.0)));
  CHECK_THROWS_WITH(y.backward(), Contains("a second time"));
}

TEST_CASE("detach cuts the graph", "[autograd]") {
  Tensor x = tensor({3}, {1});
  x.requires_grad_();
  Tensor y = x * x;
  Tensor z = sum(y.detach() * x);  // d/dx of (const 9) * x = 9
  z.backward();
  CHECK(x.grad().item() == 9.0);
}

TEST_CASE("grad() returns gradients without touching .grad", "[autograd]") {
  Tensor x = tensor({1, 2}, {2}), w = tensor({3, 4}, {2});
  x.requires_grad_();
  w.requires_grad_();
  Tensor y = sum(x * w);
  auto g = grad({y}, {x});
  CHECK(g[0].to_vector<float>() == V{3, 4});
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(w.grad().defined());
}

namespace {
// y = x^3 with a hand-written backward; `scale` lets a test break it on purpose.
struct Cube : Function {
  float scale = 1.f;
  bool saw_needs = false;
  std::string name() const override { return "cube"; }
  std::vector<Tensor> forward(FunctionContext& ctx, const std::vector<Tensor>& in) override {
    CHECK_FALSE(grad_enabled());  // forward runs with the graph off
    ctx.save_for_backward({in[0]});
    return {in[0] * in[0] * in[0]};
  }
  std::vector<Tensor> backward(FunctionContext& ctx, const std::vector<Tensor>& g) override {
    saw_needs = ctx.needs_input_grad(0);
    const Tensor& x = ctx.saved()[0];
    return {g[0] * x * x * (3.0 * scale)};
  }
};

struct WrongShape : Function {
  std::string name() const override { return "wrong_shape"; }
  std::vector<Tensor> forward(FunctionContext&, const std::vector<Tensor>& in) override {
    return {in[0] * 1.0};
  }
  std::vector<Tensor> backward(FunctionContext&, const std::vector<Tensor>&) override {
    return {zeros({7})};
  }
};

// Returns its input unchanged: attaching must not rewrite the input tensor.
struct Identity : Function {
  std::string name() const override { return "identity"; }
  std::vector<Tensor> forward(FunctionContext&, const std::vector<Tensor>& in) override {
    return {in[0]};
  }
  std::vector<Tensor> backward(FunctionContext&, const std::vector<Tensor>& g) override {
    return {g[0]};
  }
};
}  // namespace

TEST_CASE("a custom Function supplies its own backward", "[autograd]") {
  Tensor x = tensor({1, 2, -1}, {3});
  x.requires_grad_();
  auto fn = std::make_shared<Cube>();
  Tensor y = apply_function(fn, {x})[0];
  CHECK(y.to_vector<float>() == V{1, 8, -1});
  CHECK(y.grad_fn()->name() == "cube");
  sum(y).backward();
  CHECK(fn->saw_needs);
  CHECK(x.grad().to_vector<float>() == V{3, 12, 3});
}

TEST_CASE("a custom Function's gradient of the wrong shape is refused", "[autograd]") {
  Tensor x = ones({3});
  x.requires_grad_();
  Tensor y = apply_function(std::make_shared<WrongShape>(), {x})[0];
  CHECK_THROWS_WITH(sum(y).backward(),
                    Contains("backward of 'wrong_shape' returned a gradient of shape [7] for an "
                             "input of shape [3]"));
}

TEST_CASE("a Function returning its input leaves the input a leaf", "[autograd]") {
  Tensor x = ones({2});
  x.requires_grad_();
  Tensor y = apply_function(std::make_shared<Identity>(), {x})[0];
  CHECK(x.is_leaf());
  CHECK_FALSE(y.is_leaf());
  sum(y).backward();
  CHECK(x.grad().to_vector<float>() == V{1, 1});
}

TEST_CASE("views are differentiable and route gradients to their base", "[autograd]") {
  Tensor x = arange(0, 6).reshape({2, 3}).detach();
  x.requires_grad_();
  Tensor y = sum(x.t().slice(0, 1, 3) * 2.0);  // rows 1..2 of x^T = columns 1..2 of x
  y.backward();
  CHECK(x.grad().to_vector<float>() == V{0, 2, 2, 0, 2, 2});
}

TEST_CASE("set_grad refuses a gradient that does not fit the tensor", "[autograd]") {
  Tensor x = ones({2, 3});
  CHECK_THROWS_WITH(x.set_grad(ones({3})),
                    Contains("set_grad: a gradient of shape [3] (f32, cpu) for a tensor of shape "
                             "[2, 3] (f32, cpu)"));
  x.set_grad(ones({2, 3}));
  CHECK(x.grad().defined());
}
