// XOR: the problem a single perceptron cannot solve (Minsky & Papert). A linear model stays at
// best at 3 of 4; one hidden layer trained with plain SGD on the C++ API gets all 4.
#include <catch2/catch.hpp>

#include "gom/gom.h"

using namespace gom;

namespace {

const Tensor& xor_x() {
  static Tensor x = tensor({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  return x;
}
const Tensor& xor_y() {
  static Tensor y = tensor_i64({0, 1, 1, 0}, {4});
  return y;
}

double accuracy(const Tensor& logits) {
  return mean(eq(argmax(logits, 1), xor_y())).item();
}

// Plain SGD: p -= lr * grad, then zero the grads.
void sgd_step(std::vector<Tensor*> params, double lr) {
  NoGrad ng;
  for (Tensor* p : params) {
    add_(*p, p->grad(), -lr);
    p->zero_grad();
  }
}

}  // namespace

TEST_CASE("an MLP with one hidden layer learns XOR with plain SGD", "[xor]") {
  Generator g(7);
  // PyTorch's default init for Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  auto init = [&](Shape s, int64_t fan_in) {
    Tensor t = Tensor::empty(s);
    const double k = 1.0 / std::sqrt(double(fan_in));
    uniform_(t, -k, k, &g);
    t.requires_grad_();
    return t;
  };
  Tensor w1 = init({8, 2}, 2), b1 = init({8}, 2), w2 = init({2, 8}, 8), b2 = init({2}, 8);
  double first_loss = 0, loss_v = 0;
  for (int step = 0; step < 2000; ++step) {
    Tensor logits = linear(tanh(linear(xor_x(), w1, b1)), w2, b2);
    Tensor loss = cross_entropy(logits, xor_y());
    loss_v = loss.item();
    if (step == 0) first_loss = loss_v;
    loss.backward();
    sgd_step({&w1, &b1, &w2, &b2}, 0.5);
  }
  NoGrad ng;
  Tensor logits = linear(tanh(linear(xor_x(), w1, b1)), w2, b2);
  CHECK(accuracy(logits) == 1.0);
  CHECK(loss_v < 0.05);
  CHECK(loss_v < first_loss / 10);
}

TEST_CASE("a linear model cannot separate XOR", "[xor]") {
  Generator g(7);
  Tensor w = randn({2, 2}, &g), b = zeros({2});
  w.requires_grad_();
  b.requires_grad_();
  for (int step = 0; step < 2000; ++step) {
    Tensor loss = cross_entropy(linear(xor_x(), w, b), xor_y());
    loss.backward();
    sgd_step({&w, &b}, 0.5);
  }
  NoGrad ng;
  CHECK(accuracy(linear(xor_x(), w, b)) <= 0.75);
}
