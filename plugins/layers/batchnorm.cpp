// batchnorm1d, batchnorm2d: batch normalisation with running statistics, as
// torch.nn.BatchNorm1d/2d (same parameter and buffer names, same defaults, same updates).
#include <fmt/format.h>

#include <algorithm>

#include "gom/autograd.h"
#include "gom/layer.h"
#include "gom/ops.h"
#include "gom/ops_norm.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

class BatchNorm : public Module {
 public:
  // ranks: the input ranks the layer accepts; accepted: them in words, for messages.
  BatchNorm(const Params& p, std::vector<int64_t> ranks, std::string accepted)
      : c_(p.i("num_features")),
        eps_(p.f("eps")),
        momentum_(p.f("momentum")),
        track_(p.b("track_running_stats")),
        ranks_(std::move(ranks)),
        accepted_(std::move(accepted)) {
    // No `init` choice here: the schemes of init.h draw from a fan-in/fan-out, and a batch-norm
    // weight is a per-channel scale with no fan; PyTorch starts it at 1 and the bias at 0 (the
    // identity map), and anything else only delays training.
    if (p.b("affine")) {
      weight_ = register_parameter("weight", ones({c_}));
      bias_ = register_parameter("bias", zeros({c_}));
    }
    if (track_) {
      running_mean_ = register_buffer("running_mean", zeros({c_}));
      running_var_ = register_buffer("running_var", ones({c_}));
      // An i64 scalar, as in PyTorch's state_dict, so weights files carry over both ways.
      batches_ = register_buffer("num_batches_tracked", zeros({}, {DType::I64}));
    }
  }

  Tensor forward(const Tensor& x) override {
    if (std::find(ranks_.begin(), ranks_.end(), x.dim()) == ranks_.end())
      throw Error(fmt::format("{}: expected {} input, got shape {}", type(), accepted_,
                              shape_str(x.shape())));
    if (x.shape()[1] != c_)
      throw Error(
          fmt::format("{}: input of shape {} has {} channels in dim 1, the layer has "
                      "num_features = {}",
                      type(), shape_str(x.shape()), x.shape()[1], c_));
    // Without running statistics the batch's normalise in eval mode too (PyTorch's rule).
    const bool batch_stats = is_training() || !track_;
    if (is_training() && track_) {
      NoGrad ng;
      add_(batches_, scalar(1, batches_.options()));  // on the device: no read back
    }
    return batch_norm(x, weight_, bias_, running_mean_, running_var_, batch_stats, momentum_, eps_);
  }

 private:
  int64_t c_;
  double eps_, momentum_;
  bool track_;
  std::vector<int64_t> ranks_;
  std::string accepted_;
  Tensor weight_, bias_, running_mean_, running_var_, batches_;
};

namespace {
Schema batchnorm_schema() {
  Schema s;
  s.integer("num_features", "channels C (dim 1 of the input)").required().min(1);
  s.number("eps", "added to the variance for stability").def(1e-5).min(0.0);
  s.number("momentum", "weight of the new batch in the running statistics")
      .def(0.1)
      .range(0.0, 1.0);
  s.boolean("affine", "learn a per-channel scale (weight) and shift (bias)").def(true);
  s.boolean("track_running_stats",
            "keep running statistics for eval mode (false: batch statistics always)")
      .def(true);
  return s;
}
}  // namespace

void register_batchnorm() {
  register_layer(
      "batchnorm1d", "batch normalisation of [N, C] or [N, C, L] over N (and L), per channel",
      batchnorm_schema(), [](const Params& p) {
        return std::make_shared<BatchNorm>(p, std::vector<int64_t>{2, 3}, "a [N, C] or [N, C, L]");
      });
  register_layer("batchnorm2d", "batch normalisation of [N, C, H, W] over N, H, W, per channel",
                 batchnorm_schema(), [](const Params& p) {
                   return std::make_shared<BatchNorm>(p, std::vector<int64_t>{4},
                                                      "an [N, C, H, W]");
                 });
}

}  // namespace gom_layers
