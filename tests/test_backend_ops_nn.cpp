// Backend conformance cases (backend_ops.h): convolution and pooling, batch and layer
// normalisation, recurrent layers and the fused optimizer updates, each with its backward.
#include <cmath>
#include <functional>
#include <string>

#include "backend_ops.h"

namespace gom_test::backend_ops {

using gom::Generator;
using gom::Pair;
using gom::Shape;

namespace {

struct ConvSpec {
  const char* name;
  Shape x, w;
  bool bias;
  Pair stride, padding, dilation;
  int64_t groups;
  bool nhwc_view;  // x given as a permuted view of an NHWC tensor
};

Case conv_case(const ConvSpec& s) {
  return {std::string("conv2d ") + s.name,
          {"conv2d", "conv2d_backward_data", "conv2d_backward_weights"},
          matmul_tol(),  // dot products of C/groups * kh * kw terms (and TF32 when allowed)
          [s](Generator& g) {
            const Shape stored = s.nhwc_view ? Shape{s.x[0], s.x[2], s.x[3], s.x[1]} : s.x;
            auto out = [&](int d) {  // ops_conv.h's output size
              return (s.x[2 + d] + 2 * s.padding[d] - s.dilation[d] * (s.w[2 + d] - 1) - 1) /
                         s.stride[d] +
                     1;
            };
            return Tensors{normal(stored, g), normal(s.w, g, 0.5),
                           s.bias ? normal({s.w[0]}, g) : Tensor(),
                           normal({s.x[0], s.w[0], out(0), out(1)}, g)};
          },
          [s](const Tensors& in, Run& r) {
            Tensor x = leaf(in[0]), w = leaf(in[1]), b = in[2].defined() ? leaf(in[2]) : Tensor();
            const Tensor xv = s.nhwc_view ? r.view(gom::permute(x, {0, 3, 1, 2})) : x;
            Tensor y = gom::conv2d(xv, w, b, s.stride, s.padding, s.dilation, s.groups);
            y.backward(in[3]);
            return Tensors{y, grad_of(x), grad_of(w), b.defined() ? grad_of(b) : Tensor()};
          }};
}

using PoolFn = std::function<Tensor(const Tensor&)>;

// A pooling op and its backward for a random upstream; `ties`: small integers, so windows have
// several maxima (the first one wins, in the forward's indices and the backward).
Case pool_case(std::string name, std::vector<std::string> ops, Tol tol, Shape x, bool ties,
               PoolFn f) {
  return {std::move(name), std::move(ops), tol,
          [=](Generator& g) {
            const Tensor x0 = ties ? small_ints(x, -2, 3, g) : normal(x, g);
            return Tensors{x0, normal(f(x0).shape(), g)};
          },
          [f](const Tensors& in, Run& r) {
            Tensor x = leaf(in[0]);
            // A transposed view in H and W, transposed back: strided, same values.
            Tensor y = f(r.view(x.transpose(2, 3)).transpose(2, 3));
            y.backward(in[1]);
            return Tensors{y, grad_of(x)};
          }};
}

// The layers of a stacked recurrent op: G gates, weights scaled by 1/sqrt(H) as torch inits.
Tensors rnn_inputs(Generator& g, int64_t gates, int64_t layers, int64_t T, int64_t B, int64_t I,
                   int64_t H, bool bias, bool cell) {
  const double s = 1.0 / std::sqrt(double(H));
  Tensors in{normal({B, T, I}, g),
             normal({layers, B, H}, g, 0.5),
             cell ? normal({layers, B, H}, g, 0.5) : Tensor(),
             normal({T, B, H}, g),
             normal({layers, B, H}, g),
             cell ? normal({layers, B, H}, g) : Tensor()};
  for (int64_t l = 0; l < layers; ++l) {
    in.push_back(uniform({gates * H, l == 0 ? I : H}, -s, s, g));
    in.push_back(uniform({gates * H, H}, -s, s, g));
    in.push_back(bias ? uniform({gates * H}, -s, s, g) : Tensor());
    in.push_back(bias ? uniform({gates * H}, -s, s, g) : Tensor());
  }
  return in;
}

enum class Cell { Tanh, Relu, Lstm, Gru };

// Outputs, final states and (when `grads`) the gradient of every input for random upstreams.
Case rnn_case(std::string name, Cell cell, int64_t layers, int64_t T, int64_t B, int64_t I,
              int64_t H, bool bias, bool grads) {
  const int64_t gates = cell == Cell::Lstm ? 4 : cell == Cell::Gru ? 3 : 1;
  std::vector<std::string> ops{"rnn_forward"};
  if (grads) ops.insert(ops.end(), {"rnn_workspace", "rnn_backward"});
  return {std::move(name), ops, rnn_tol(),
          [=](Generator& g) {
            return rnn_inputs(g, gates, layers, T, B, I, H, bias, cell == Cell::Lstm);
          },
          [=](const Tensors& in, Run& r) {
            std::vector<Tensor> leaves;
            auto maybe_leaf = [&](const Tensor& t) {
              if (!grads || !t.defined()) return t;
              leaves.push_back(leaf(t));
              return leaves.back();
            };
            Tensor x = maybe_leaf(in[0]), h0 = maybe_leaf(in[1]), c0 = maybe_leaf(in[2]);
            std::vector<gom::RnnWeights> w;
            for (int64_t l = 0; l < layers; ++l) {
              const size_t k = 6 + size_t(4 * l);
              w.push_back({maybe_leaf(in[k]), maybe_leaf(in[k + 1]), maybe_leaf(in[k + 2]),
                           maybe_leaf(in[k + 3])});
            }
            const Tensor xt = r.view(x.transpose(0, 1));  // batch-first storage, time-major view
            gom::RnnOutput o = cell == Cell::Lstm  ? gom::lstm(xt, h0, c0, w)
                               : cell == Cell::Gru ? gom::gru(xt, h0, w)
                                                   : gom::rnn(xt, h0, w, cell == Cell::Relu);
            Tensors out{o.output, o.h_n, o.c_n};
            if (!grads) return out;
            Tensor loss = gom::sum(gom::mul(o.output, in[3])) + gom::sum(gom::mul(o.h_n, in[4]));
            if (o.c_n.defined()) loss = loss + gom::sum(gom::mul(o.c_n, in[5]));
            loss.backward();
            for (const Tensor& t : leaves) out.push_back(grad_of(t));
            return out;
          }};
}

// `steps` steps of an optimizer over one parameter, with the gradients of `grads` [steps, ...]:
// the parameter and every state tensor after them.
Case optimizer_case(std::string name, const char* type, gom::Config config, Shape shape,
                    const char* op) {
  // Each step is a few roundings per element (fma contraction, sqrt and a division), over
  // three steps.
  constexpr Tol kUpdate{1e-5, 1e-6};
  constexpr int64_t steps = 3;
  Shape g_shape{steps};
  g_shape.insert(g_shape.end(), shape.begin(), shape.end());
  return {std::move(name),
          {op},
          kUpdate,
          [=](Generator& g) {
            return Tensors{normal(shape, g), normal(g_shape, g)};
          },
          [=](const Tensors& in, Run&) {
            Tensor p = leaf(in[0]);
            auto opt = gom::create_optimizer(type, {p}, config);
            for (int64_t s = 0; s < steps; ++s) {
              p.set_grad(gom::select(in[1], 0, s).contiguous());
              opt->step();
            }
            Tensors out{p};
            for (const auto& [key, t] : opt->state()) out.push_back(t);
            return out;
          }};
}

}  // namespace

std::vector<Case> conv_pool_cases() {
  const ConvSpec convs[] = {
      {"3x3, padding 1, bias", {2, 3, 7, 7}, {4, 3, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 1, false},
      {"stride (2, 1), padding (0, 1), dilation (2, 1)",
       {2, 3, 9, 8},
       {5, 3, 3, 2},
       false,
       {2, 1},
       {0, 1},
       {2, 1},
       1,
       false},
      {"2 groups", {2, 4, 6, 6}, {6, 2, 3, 3}, true, {1, 1}, {0, 0}, {1, 1}, 2, false},
      {"depthwise", {1, 4, 5, 5}, {4, 1, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 4, false},
      {"1x1", {2, 8, 4, 4}, {16, 8, 1, 1}, false, {1, 1}, {0, 0}, {1, 1}, 1, false},
      {"of an NHWC view", {2, 3, 6, 5}, {4, 3, 3, 3}, true, {2, 2}, {1, 1}, {1, 1}, 1, true},
      {"larger", {4, 16, 16, 16}, {32, 16, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 1, false},
  };
  std::vector<Case> cases;
  for (const ConvSpec& s : convs) cases.push_back(conv_case(s));

  using gom::adaptive_avg_pool2d;
  using gom::avg_pool2d;
  using gom::max_pool2d;
  const std::vector<std::string> max_ops{"max_pool2d", "max_pool2d_backward"};
  const std::vector<std::string> avg_ops{"avg_pool2d", "avg_pool2d_backward"};
  const std::vector<std::string> adaptive_ops{"adaptive_avg_pool2d",
                                              "adaptive_avg_pool2d_backward"};
  // Max pooling selects, but its backward adds the upstream of windows sharing a maximum, in
  // any order (atomics): kSum, as the averages, which sum a window in some order.
  cases.push_back(
      pool_case("max_pool2d 2x2 with ties", max_ops, kSum, {2, 3, 6, 6}, true, [](const Tensor& x) {
        return max_pool2d(x, {2, 2});
      }));
  cases.push_back(pool_case("max_pool2d 3x3 stride 2 padding 1, overlapping, ties", max_ops, kSum,
                            {2, 2, 7, 7}, true, [](const Tensor& x) {
                              return max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
                            }));
  cases.push_back(pool_case("max_pool2d dilation 2, ceil_mode", max_ops, kSum, {1, 3, 8, 9}, false,
                            [](const Tensor& x) {
                              return max_pool2d(x, {2, 3}, {2, 2}, {0, 1}, {2, 2}, true);
                            }));
  cases.push_back(
      pool_case("avg_pool2d 2x2", avg_ops, kSum, {2, 3, 6, 6}, false, [](const Tensor& x) {
        return avg_pool2d(x, {2, 2});
      }));
  cases.push_back(pool_case("avg_pool2d 3x3 stride 2 padding 1, counting the padding", avg_ops,
                            kSum, {2, 2, 7, 6}, false, [](const Tensor& x) {
                              return avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false, true);
                            }));
  cases.push_back(pool_case("avg_pool2d 3x3 stride 2 padding 1, ceil_mode, not counting padding",
                            avg_ops, kSum, {2, 2, 8, 7}, false, [](const Tensor& x) {
                              return avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, true, false);
                            }));
  cases.push_back(pool_case("adaptive_avg_pool2d 7x7 to 3x3 (overlapping windows)", adaptive_ops,
                            kSum, {2, 3, 7, 7}, false,
                            [](const Tensor& x) { return adaptive_avg_pool2d(x, 3, 3); }));
  cases.push_back(pool_case("adaptive_avg_pool2d global", adaptive_ops, kSum, {2, 5, 6, 4}, false,
                            [](const Tensor& x) { return adaptive_avg_pool2d(x, 1, 1); }));
  cases.push_back(pool_case("adaptive_avg_pool2d 5x5 to 2x4", adaptive_ops, kSum, {1, 2, 5, 5},
                            false, [](const Tensor& x) { return adaptive_avg_pool2d(x, 2, 4); }));
  return cases;
}

std::vector<Case> norm_cases() {
  // x, weight, bias, running mean, running var, upstream.
  auto bn = [](std::string name, Shape x, bool affine, bool training) {
    std::vector<std::string> ops{training ? "batch_norm_training" : "batch_norm_inference",
                                 "batch_norm_backward"};
    return Case{"batch_norm " + std::move(name) + " " + gom::shape_str(x), ops, kNorm,
                [=](Generator& g) {
                  const int64_t c = x[1];
                  return Tensors{normal(x, g, 2.0) + 0.5,
                                 affine ? normal({c}, g) : Tensor(),
                                 affine ? normal({c}, g) : Tensor(),
                                 normal({c}, g),
                                 uniform({c}, 0.5, 2, g),
                                 normal(x, g)};
                },
                [=](const Tensors& in, Run&) {
                  Tensor xl = leaf(in[0]);
                  Tensor w = affine ? leaf(in[1]) : Tensor(), b = affine ? leaf(in[2]) : Tensor();
                  Tensor rm = in[3], rv = in[4];
                  Tensor y = gom::batch_norm(xl, w, b, rm, rv, training, 0.1, 1e-5);
                  y.backward(in[5]);
                  return Tensors{y,
                                 rm,
                                 rv,
                                 grad_of(xl),
                                 affine ? grad_of(w) : Tensor(),
                                 affine ? grad_of(b) : Tensor()};
                }};
  };
  auto ln = [](std::string name, Shape x, Shape normalized, bool weight, bool bias) {
    return Case{"layer_norm " + std::move(name) + " " + gom::shape_str(x),
                {"layer_norm", "layer_norm_backward"},
                kNorm,
                [=](Generator& g) {
                  return Tensors{normal(x, g, 2.0) + 0.5, weight ? normal(normalized, g) : Tensor(),
                                 bias ? normal(normalized, g) : Tensor(), normal(x, g)};
                },
                [=](const Tensors& in, Run& r) {
                  Tensor xl = leaf(in[0]);
                  Tensor w = weight ? leaf(in[1]) : Tensor(), b = bias ? leaf(in[2]) : Tensor();
                  // A view through a transpose and back: strided, same values.
                  Tensor xv = r.view(xl.transpose(0, 1)).transpose(0, 1);
                  Tensor y = gom::layer_norm(xv, normalized, w, b, 1e-5);
                  y.backward(in[3]);
                  return Tensors{y, grad_of(xl), weight ? grad_of(w) : Tensor(),
                                 bias ? grad_of(b) : Tensor()};
                }};
  };
  return {
      bn("training, affine, running stats", {4, 3, 5, 5}, true, true),
      bn("training without affine", {8, 6}, false, true),
      bn("training, [N, C, L]", {4, 3, 7}, true, true),
      bn("inference, affine", {4, 3, 5, 5}, true, false),
      bn("inference without affine", {6, 4}, false, false),
      bn("training, larger", {32, 16, 8, 8}, true, true),
      ln("weight and bias", {4, 6}, {6}, true, true),
      ln("over two dims, no weight or bias", {2, 3, 4}, {3, 4}, false, false),
      ln("weight only", {5, 3, 4}, {4}, true, false),
      ln("bias only", {5, 8}, {8}, false, true),
      ln("large", {64, 1000}, {1000}, true, true),
  };
}

std::vector<Case> rnn_cases() {
  return {
      rnn_case("rnn tanh, 2 layers, gradients", Cell::Tanh, 2, 5, 3, 4, 6, true, true),
      rnn_case("rnn relu, gradients", Cell::Relu, 1, 4, 2, 3, 5, true, true),
      rnn_case("lstm, 2 layers, gradients", Cell::Lstm, 2, 5, 3, 4, 6, true, true),
      rnn_case("gru, 2 layers, gradients", Cell::Gru, 2, 5, 3, 4, 6, true, true),
      rnn_case("gru without bias, gradients", Cell::Gru, 1, 3, 2, 4, 5, false, true),
      rnn_case("lstm inference", Cell::Lstm, 2, 6, 4, 5, 7, true, false),
      rnn_case("lstm, larger, gradients", Cell::Lstm, 1, 20, 16, 32, 64, true, true),
  };
}

std::vector<Case> optimizer_cases() {
  const Shape s{6, 7};
  return {
      optimizer_case("sgd", "sgd", {{"lr", 0.1}}, s, "sgd_update"),
      optimizer_case("sgd momentum, weight decay", "sgd",
                     {{"lr", 0.1}, {"momentum", 0.9}, {"weight_decay", 0.01}}, s, "sgd_update"),
      optimizer_case("sgd nesterov", "sgd", {{"lr", 0.1}, {"momentum", 0.9}, {"nesterov", true}}, s,
                     "sgd_update"),
      optimizer_case("sgd dampening", "sgd", {{"lr", 0.1}, {"momentum", 0.8}, {"dampening", 0.3}},
                     s, "sgd_update"),
      optimizer_case("adam", "adam", {{"lr", 0.01}}, s, "adam_update"),
      optimizer_case("adam amsgrad, weight decay", "adam",
                     {{"lr", 0.01}, {"weight_decay", 0.1}, {"amsgrad", true}}, s, "adam_update"),
      optimizer_case("adam, large", "adam", {{"lr", 0.01}}, {100003}, "adam_update"),
      optimizer_case("adamw", "adamw", {{"lr", 0.01}, {"weight_decay", 0.1}}, s, "adamw_update"),
      optimizer_case("adamw amsgrad", "adamw", {{"lr", 0.01}, {"amsgrad", true}}, s,
                     "adamw_update"),
      optimizer_case("rmsprop", "rmsprop", {{"lr", 0.01}}, s, "rmsprop_update"),
      optimizer_case("rmsprop centered, momentum, weight decay", "rmsprop",
                     {{"lr", 0.01}, {"momentum", 0.9}, {"centered", true}, {"weight_decay", 0.1}},
                     s, "rmsprop_update"),
      optimizer_case("adagrad lr_decay, weight decay", "adagrad",
                     {{"lr", 0.1}, {"lr_decay", 0.01}, {"weight_decay", 0.1}}, s, "adagrad_update"),
  };
}

}  // namespace gom_test::backend_ops
