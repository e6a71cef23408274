// XOR with a two-layer MLP written against the C++ SDK: forward, loss, backward, SGD update,
// zero grads — the loop every later experiment builds on. A single perceptron cannot solve XOR
// (Minsky & Papert, 1969); one hidden layer can.
//
//   build/experiments/xor_mlp [--steps N] [--lr X] [--hidden H] [--seed S]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gom/gom.h"

using namespace gom;

namespace {
struct Args {
  int steps = 2000;
  double lr = 0.5;
  int64_t hidden = 8;
  uint64_t seed = 7;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw Error("option " + k + " needs a value");
    const char* v = argv[++i];
    if (k == "--steps")
      a.steps = std::atoi(v);
    else if (k == "--lr")
      a.lr = std::atof(v);
    else if (k == "--hidden")
      a.hidden = std::atoll(v);
    else if (k == "--seed")
      a.seed = std::strtoull(v, nullptr, 10);
    else
      throw Error("unknown option " + k + " (accepted: --steps --lr --hidden --seed)");
  }
  return a;
}

// PyTorch's nn.Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
Tensor param(Shape s, int64_t fan_in, Generator& g) {
  Tensor t = Tensor::empty(s);
  const double k = 1.0 / std::sqrt(double(fan_in));
  uniform_(t, -k, k, &g);
  return t.requires_grad_();
}
}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  init();
  std::printf("backend: %s\n", find_backend(DeviceType::CPU)->description.c_str());
  Generator g(a.seed);
  const Tensor x = tensor({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  const Tensor y = tensor_i64({0, 1, 1, 0}, {4});
  Tensor w1 = param({a.hidden, 2}, 2, g), b1 = param({a.hidden}, 2, g);
  Tensor w2 = param({2, a.hidden}, a.hidden, g), b2 = param({2}, a.hidden, g);
  auto model = [&] { return linear(tanh(linear(x, w1, b1)), w2, b2); };
  for (int step = 0; step <= a.steps; ++step) {
    Tensor logits = model();
    Tensor loss = cross_entropy(logits, y);
    if (step % (a.steps / 10 ? a.steps / 10 : 1) == 0) {
      NoGrad ng;
      const double acc = mean(eq(argmax(logits, 1), y)).item();
      std::printf("step %5d  loss %.5f  accuracy %.2f\n", step, loss.item(), acc);
    }
    loss.backward();
    NoGrad ng;
    for (Tensor* p : {&w1, &b1, &w2, &b2}) {
      add_(*p, p->grad(), -a.lr);
      p->zero_grad();
    }
  }
  NoGrad ng;
  const auto pred = argmax(model(), 1).to_vector<int64_t>();
  std::printf("predictions for (0,0) (0,1) (1,0) (1,1): %ld %ld %ld %ld\n", long(pred[0]),
              long(pred[1]), long(pred[2]), long(pred[3]));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "xor_mlp: %s\n", e.what());
  return 1;
}
