// Parameter-free activations: relu, sigmoid, tanh.
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
}  // namespace

void register_activations() {
  add<gom::relu>("relu", "rectified linear unit: max(x, 0)");
  add<gom::sigmoid>("sigmoid", "logistic sigmoid: 1 / (1 + exp(-x))");
  add<gom::tanh>("tanh", "hyperbolic tangent");
}

}  // namespace gom_layers
