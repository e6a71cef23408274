// flatten: merges dims start_dim..end_dim, as torch.nn.Flatten (which keeps the batch dim).
#include "gom/layer.h"
#include "gom/ops.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

class Flatten : public Module {
 public:
  explicit Flatten(const Params& p) : start_(p.i("start_dim")), end_(p.i("end_dim")) {}
  Tensor forward(const Tensor& x) override { return gom::flatten(x, start_, end_); }

 private:
  int64_t start_, end_;
};

void register_flatten() {
  Schema s;
  s.integer("start_dim", "first dim to flatten").def(1);
  s.integer("end_dim", "last dim to flatten (negative counts from the end)").def(-1);
  register_layer("flatten", "flattens a range of dims into one (keeps the batch dim)", std::move(s),
                 [](const Params& p) { return std::make_shared<Flatten>(p); });
}

}  // namespace gom_layers
