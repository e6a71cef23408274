// Pooling layers over [N, C, H, W]: maxpool2d, avgpool2d and adaptive_avgpool2d, as
// torch.nn.MaxPool2d, AvgPool2d and AdaptiveAvgPool2d. No parameters.
#include "conv_params.h"
#include "gom/layer.h"
#include "gom/ops_conv.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

// Kernel, stride (default: the kernel) and padding, shared by the two windowed poolings.
struct WindowParams {
  Pair kernel, stride, padding;
  WindowParams(const Params& p, const char* layer)
      : kernel(pair_param(p, "kernel", layer)),
        stride(p.has("stride") ? pair_param(p, "stride", layer) : kernel),
        padding(pair_param(p, "padding", layer)) {}
};

void window_schema(Schema& s) {
  s.list("kernel", "window size: an integer or [height, width]").or_scalar().required().min(1);
  s.list("stride", "window step: an integer or [height, width] (default: the kernel)")
      .or_scalar()
      .min(1);
  s.list("padding", "implicit padding on each side, at most half the kernel")
      .or_scalar()
      .def(0)
      .min(0);
  s.boolean("ceil_mode", "round the output size up (a last, partial window)").def(false);
}

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const Params& p)
      : w_(p, "maxpool2d"),
        dilation_(pair_param(p, "dilation", "maxpool2d")),
        ceil_(p.b("ceil_mode")) {}
  Tensor forward(const Tensor& x) override {
    return max_pool2d(x, w_.kernel, w_.stride, w_.padding, dilation_, ceil_);
  }

 private:
  WindowParams w_;
  Pair dilation_;
  bool ceil_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const Params& p)
      : w_(p, "avgpool2d"), ceil_(p.b("ceil_mode")), count_pad_(p.b("count_include_pad")) {}
  Tensor forward(const Tensor& x) override {
    return avg_pool2d(x, w_.kernel, w_.stride, w_.padding, ceil_, count_pad_);
  }

 private:
  WindowParams w_;
  bool ceil_, count_pad_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(const Params& p)
      : size_(pair_param(p, "output_size", "adaptive_avgpool2d")) {}
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, size_[0], size_[1]); }

 private:
  Pair size_;
};

void register_pooling() {
  Schema mx;
  window_schema(mx);
  mx.list("dilation", "spacing of the window taps: an integer or [height, width]")
      .or_scalar()
      .def(1)
      .min(1);
  register_layer("maxpool2d", "maximum over each window of [N, C, H, W] (torch.nn.MaxPool2d)",
                 std::move(mx), [](const Params& p) { return std::make_shared<MaxPool2d>(p); });

  Schema avg;
  window_schema(avg);
  avg.boolean("count_include_pad", "the divisor counts the zero padding").def(true);
  register_layer("avgpool2d", "mean over each window of [N, C, H, W] (torch.nn.AvgPool2d)",
                 std::move(avg), [](const Params& p) { return std::make_shared<AvgPool2d>(p); });

  Schema ad;
  ad.list("output_size",
          "output height and width: an integer or [height, width] (1: global "
          "average pooling)")
      .or_scalar()
      .required()
      .min(1);
  register_layer("adaptive_avgpool2d",
                 "mean over an output_size grid of windows covering [N, C, H, W] "
                 "(torch.nn.AdaptiveAvgPool2d)",
                 std::move(ad),
                 [](const Params& p) { return std::make_shared<AdaptiveAvgPool2d>(p); });
}

}  // namespace gom_layers
