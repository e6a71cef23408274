// select: one index along a dim, which disappears (torch.select; x[:, -1] for dim 1, index -1)
// — what takes a recurrent layer's last time step to a classifier head.
#include <fmt/format.h>

#include "gom/layer.h"
#include "gom/ops.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

class Select : public Module {
 public:
  explicit Select(const Params& p) : dim_(p.i("dim")), index_(p.i("index")) {}
  Tensor forward(const Tensor& x) override {
    const int64_t rank = x.dim();
    const int64_t d = dim_ < 0 ? dim_ + rank : dim_;
    if (d < 0 || d >= rank)
      throw Error(fmt::format("select: dim {} is out of range for an input of shape {}", dim_,
                              shape_str(x.shape())));
    const int64_t n = x.size(d), i = index_ < 0 ? index_ + n : index_;
    if (i < 0 || i >= n)
      throw Error(fmt::format("select: index {} is out of range for dim {} of size {} (input {})",
                              index_, dim_, n, shape_str(x.shape())));
    return x.slice(d, i, i + 1).squeeze(d);
  }

 private:
  int64_t dim_, index_;
};

void register_select() {
  Schema s;
  s.integer("dim", "the dim to index (negative counts from the end)").def(1);
  s.integer("index", "the index along it (negative counts from the end)").def(-1);
  register_layer("select", "takes one index along a dim and drops the dim (torch.select)",
                 std::move(s), [](const Params& p) { return std::make_shared<Select>(p); });
}

}  // namespace gom_layers
