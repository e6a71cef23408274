// dropout: inverted dropout in training mode, the identity in eval mode (torch.nn.Dropout).
#include "gom/layer.h"
#include "gom/ops.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

class Dropout : public Module {
 public:
  explicit Dropout(const Params& p) : p_(p.f("p")) {}
  // Draws from the default generator, which the trainer seeds: runs stay reproducible.
  Tensor forward(const Tensor& x) override { return gom::dropout(x, p_, is_training()); }

 private:
  double p_;
};

void register_dropout() {
  Schema s;
  s.number("p", "probability of zeroing an element").def(0.5).range(0.0, 0.999999);
  register_layer("dropout",
                 "zeroes elements with probability p in training, scaling the rest by 1/(1-p)",
                 std::move(s), [](const Params& p) { return std::make_shared<Dropout>(p); });
}

}  // namespace gom_layers
