// linear: y = x W^T + b, as torch.nn.Linear (weight [out, in], same default init).
#include "gom/layer.h"
#include "gom/ops.h"
#include "init.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

class Linear : public Module {
 public:
  explicit Linear(const Params& p) {
    const int64_t in = p.i("in"), out = p.i("out");
    Tensor w = Tensor::empty({out, in});
    init_weight(w, p.s("init"), in, out);
    weight_ = register_parameter("weight", w);
    if (p.b("bias")) {
      Tensor b = Tensor::empty({out});
      // PyTorch draws the bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) whatever the weight's init.
      if (p.s("init") == "zeros")
        zero_(b);
      else
        uniform_(b, -1.0 / std::sqrt(double(in)), 1.0 / std::sqrt(double(in)));
      bias_ = register_parameter("bias", b);
    }
  }
  Tensor forward(const Tensor& x) override { return linear(x, weight_, bias_); }

 private:
  Tensor weight_, bias_;
};

void register_linear() {
  Schema s;
  s.integer("in", "input features").required().min(1);
  s.integer("out", "output features").required().min(1);
  s.boolean("bias", "learn an additive bias").def(true);
  s.choice("init", init_choices(), "weight initialisation (default: PyTorch's)").def("default");
  register_layer("linear", "fully connected layer: y = x W^T + b", std::move(s),
                 [](const Params& p) { return std::make_shared<Linear>(p); });
}

}  // namespace gom_layers
