// Activations: relu, sigmoid, tanh (no parameters); gelu, leaky_relu, softmax and log_softmax
// (torch.nn's modules of those names, with the same defaults).
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

  add_softmax<gom::softmax>("softmax", "exp(x) / sum(exp(x)) along dim");
  add_softmax<gom::log_softmax>("log_softmax", "log(softmax(x)) along dim, computed stably");
}

}  // namespace gom_layers
