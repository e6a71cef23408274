// Activations: relu, sigmoid, tanh, selu, mish, hardswish, silu (no parameters); gelu,
// leaky_relu, elu, softplus, softmax and log_softmax (torch.nn's modules of those names,
// lowercased, with the same defaults).
#include "gom/layer.h"
#include "gom/ops.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

namespace {
template <Tensor (*F)(const Tensor&)>
class Activation : public Module {
 public:
  Tensor forward(const Tensor& x) override { return F(x); }
};

template <Tensor (*F)(const Tensor&)>
void add(const char* name, const char* doc) {
  register_layer(name, doc, Schema{},
                 [](const Params&) { return std::make_shared<Activation<F>>(); });
}

class Gelu : public Module {
 public:
  explicit Gelu(const Params& p) : tanh_(p.s("approximate") == "tanh") {}
  Tensor forward(const Tensor& x) override { return gelu(x, tanh_); }

 private:
  bool tanh_;
};

class LeakyRelu : public Module {
 public:
  explicit LeakyRelu(const Params& p) : slope_(p.f("negative_slope")) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, slope_); }

 private:
  double slope_;
};

class Elu : public Module {
 public:
  explicit Elu(const Params& p) : alpha_(p.f("alpha")) {}
  Tensor forward(const Tensor& x) override { return elu(x, alpha_); }

 private:
  double alpha_;
};

class Softplus : public Module {
 public:
  explicit Softplus(const Params& p) : beta_(p.f("beta")), threshold_(p.f("threshold")) {}
  Tensor forward(const Tensor& x) override { return softplus(x, beta_, threshold_); }

 private:
  double beta_, threshold_;
};

template <Tensor (*F)(const Tensor&, int64_t)>
class SoftmaxLike : public Module {
 public:
  explicit SoftmaxLike(const Params& p) : dim_(p.i("dim")) {}
  Tensor forward(const Tensor& x) override { return F(x, dim_); }

 private:
  int64_t dim_;
};

template <Tensor (*F)(const Tensor&, int64_t)>
void add_softmax(const char* name, const char* doc) {
  Schema s;
  s.integer("dim", "the dim that sums to one (negative counts from the end)").def(-1);
  register_layer(name, doc, std::move(s),
                 [](const Params& p) { return std::make_shared<SoftmaxLike<F>>(p); });
}
}  // namespace

void register_activations() {
  add<gom::relu>("relu", "rectified linear unit: max(x, 0)");
  add<gom::sigmoid>("sigmoid", "logistic sigmoid: 1 / (1 + exp(-x))");
  add<gom::tanh>("tanh", "hyperbolic tangent");

  Schema g;
  g.choice("approximate", {"none", "tanh"},
           "'none': exact x * Phi(x) with erf; 'tanh': "
           "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))")
      .def("none");
  register_layer("gelu", "Gaussian error linear unit: x * Phi(x)", std::move(g),
                 [](const Params& p) { return std::make_shared<Gelu>(p); });
  Schema lr;
  lr.number("negative_slope", "slope for x < 0").def(0.01);
  register_layer("leaky_relu", "x for x >= 0, negative_slope * x below", std::move(lr),
                 [](const Params& p) { return std::make_shared<LeakyRelu>(p); });

  add<gom::selu>("selu", "scale * elu(x, alpha) with alpha = 1.6733, scale = 1.0507 (torch's)");
  add<gom::mish>("mish", "x * tanh(softplus(x))");
  add<gom::hardswish>("hardswish", "0 for x <= -3, x for x >= 3, x (x + 3) / 6 between");
  add<gom::silu>("silu", "x * sigmoid(x) (swish)");
  Schema el;
  el.number("alpha", "scale of the negative part alpha (exp(x) - 1)").def(1.0);
  register_layer("elu", "x for x > 0, alpha (exp(x) - 1) below", std::move(el),
                 [](const Params& p) { return std::make_shared<Elu>(p); });
  Schema sp;
  sp.number("beta", "sharpness: log(1 + exp(beta x)) / beta").def(1.0);
  sp.number("threshold", "x itself where beta x exceeds it").def(20.0);
  register_layer("softplus", "log(1 + exp(beta x)) / beta, a smooth relu", std::move(sp),
                 [](const Params& p) { return std::make_shared<Softplus>(p); });

  add_softmax<gom::softmax>("softmax", "exp(x) / sum(exp(x)) along dim");
  add_softmax<gom::log_softmax>("log_softmax", "log(softmax(x)) along dim, computed stably");
}

}  // namespace gom_layers
