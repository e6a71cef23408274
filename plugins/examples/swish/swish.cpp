// swish: x * sigmoid(beta * x), the self-gated activation (SiLU when beta = 1).
// Written with ops only, so autograd derives the backward:
//   d/dx = s + beta * x * s * (1 - s),  s = sigmoid(beta * x).
#include <memory>

#include "gom/layer.h"
#include "gom/ops.h"
#include "gom/plugin.h"

namespace {

class Swish : public gom::Module {
 public:
  explicit Swish(double beta) : beta_(beta) {}
  gom::Tensor forward(const gom::Tensor& x) override { return x * gom::sigmoid(x * beta_); }

 private:
  double beta_;
};

void register_all(const gom::PluginContext&) {
  gom::Schema schema;
  schema.number("beta", "slope of the gate: 1 is SiLU, large values approach ReLU").def(1.0);
  gom::register_layer("swish", "self-gated activation: x * sigmoid(beta * x)", std::move(schema),
                      [](const gom::Params& p) { return std::make_shared<Swish>(p.f("beta")); });
}

}  // namespace

GOM_PLUGIN(register_all)
