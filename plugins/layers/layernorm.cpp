// layernorm: layer normalisation over the trailing dims, as torch.nn.LayerNorm (weight ones,
// bias zeros, both of shape normalized_shape, named weight and bias).
#include <fmt/format.h>

#include "gom/layer.h"
#include "gom/ops.h"
#include "gom/ops_norm.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

namespace {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(const Params& p) : eps_(p.f("eps")) {
    for (int64_t d : p.list_i("normalized_shape")) shape_.push_back(d);
    if (shape_.empty())
      throw Error(
          "layer 'layernorm': parameter 'normalized_shape' is empty; expected a list of "
          "integers >= 1 (the trailing dims to normalise, e.g. [512])");
    if (p.b("elementwise_affine")) {
      weight_ = register_parameter("weight", ones(shape_));
      bias_ = register_parameter("bias", zeros(shape_));
    }
  }
  Tensor forward(const Tensor& x) override { return layer_norm(x, shape_, weight_, bias_, eps_); }

 private:
  Shape shape_;
  double eps_;
  Tensor weight_, bias_;
};

}  // namespace

void register_layernorm() {
  Schema s;
  s.list("normalized_shape", "the trailing dims to normalise over: 512, [512] or [C, H, W]")
      .required()
      .min(1)
      .or_scalar();
  s.number("eps", "added to the variance").def(1e-5).min(0.0);
  s.boolean("elementwise_affine", "learn a weight (ones) and a bias (zeros) per element").def(true);
  register_layer("layernorm", "layer normalisation over the trailing dims (torch.nn.LayerNorm)",
                 std::move(s), [](const Params& p) { return std::make_shared<LayerNorm>(p); });
}

}  // namespace gom_layers
