// conv2d: 2-d convolution over [N, C, H, W], as torch.nn.Conv2d (weight [out, in/groups, kh, kw],
// bias [out], the same default init: kaiming_uniform(a = sqrt(5)), i.e. U(+-1/sqrt(fan_in)) with
// fan_in = in/groups * kh * kw, and the bias from the same range).
#include <fmt/format.h>

#include "conv_params.h"
#include "gom/layer.h"
#include "gom/ops.h"
#include "gom/ops_conv.h"
#include "init.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

class Conv2d : public Module {
 public:
  explicit Conv2d(const Params& p)
      : in_(p.i("in")),
        groups_(p.i("groups")),
        kernel_(pair_param(p, "kernel", "conv2d")),
        stride_(pair_param(p, "stride", "conv2d")),
        padding_(pair_param(p, "padding", "conv2d")),
        dilation_(pair_param(p, "dilation", "conv2d")) {
    const int64_t out = p.i("out");
    if (in_ % groups_ || out % groups_)
      throw Error(fmt::format("layer 'conv2d': groups = {} must divide both in = {} and out = {}",
                              groups_, in_, out));
    const int64_t area = kernel_[0] * kernel_[1];
    const int64_t fan_in = in_ / groups_ * area, fan_out = out * area;  // torch's fans
    Tensor w = Tensor::empty({out, in_ / groups_, kernel_[0], kernel_[1]});
    init_weight(w, p.s("init"), fan_in, fan_out);
    weight_ = register_parameter("weight", w);
    if (p.b("bias")) {
      Tensor b = Tensor::empty({out});
      const double bound = 1.0 / std::sqrt(double(fan_in));
      if (p.s("init") == "zeros")
        zero_(b);
      else
        uniform_(b, -bound, bound);
      bias_ = register_parameter("bias", b);
    }
  }

  Tensor forward(const Tensor& x) override {
    if (x.dim() != 4 || x.size(1) != in_)
      throw Error(fmt::format("layer 'conv2d' (in = {}): expected input [N, {}, H, W], got {}", in_,
                              in_, shape_str(x.shape())));
    return conv2d(x, weight_, bias_, stride_, padding_, dilation_, groups_);
  }

 private:
  int64_t in_, groups_;
  Pair kernel_, stride_, padding_, dilation_;
  Tensor weight_, bias_;
};

void register_conv() {
  Schema s;
  s.integer("in", "input channels").required().min(1);
  s.integer("out", "output channels").required().min(1);
  s.list("kernel", "kernel size: an integer or [height, width]").or_scalar().required().min(1);
  s.list("stride", "stride: an integer or [height, width]").or_scalar().def(1).min(1);
  s.list("padding", "zero padding on each side: an integer or [height, width]")
      .or_scalar()
      .def(0)
      .min(0);
  s.list("dilation", "spacing of the kernel taps: an integer or [height, width]")
      .or_scalar()
      .def(1)
      .min(1);
  s.integer("groups", "channel groups (in and out must be multiples; in = groups: depthwise)")
      .def(1)
      .min(1);
  s.boolean("bias", "learn an additive bias per output channel").def(true);
  s.choice("init", init_choices(), "weight initialisation (default: PyTorch's)").def("default");
  register_layer("conv2d", "2-d convolution over [N, C, H, W] (torch.nn.Conv2d)", std::move(s),
                 [](const Params& p) { return std::make_shared<Conv2d>(p); });
}

}  // namespace gom_layers
