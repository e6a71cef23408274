// Losses: modules whose forward takes (prediction, target).
//   cross_entropy    logits [N, C], i64 class indices [N]       (torch.nn.CrossEntropyLoss)
//   mse              prediction and target of one shape          (torch.nn.MSELoss)
//   bce_with_logits  logits and 0/1 targets of one shape         (torch.nn.BCEWithLogitsLoss)
#include "gom/layer.h"
#include "gom/ops.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

namespace {

Reduction reduction_of(const Params& p) {
  const std::string& r = p.s("reduction");
  return r == "none" ? Reduction::None : r == "sum" ? Reduction::Sum : Reduction::Mean;
}

void add_reduction(Schema& s) {
  s.choice("reduction", {"mean", "sum", "none"}, "how per-element losses are combined").def("mean");
}

class CrossEntropy : public Module {
 public:
  explicit CrossEntropy(const Params& p) : r_(reduction_of(p)), ignore_(p.i("ignore_index")) {}
  int arity() const override { return 2; }
  Tensor forward(const Tensor& logits, const Tensor& target) override {
    return cross_entropy(logits, target, r_, ignore_);
  }

 private:
  Reduction r_;
  int64_t ignore_;
};

class Mse : public Module {
 public:
  explicit Mse(const Params& p) : r_(reduction_of(p)) {}
  int arity() const override { return 2; }
  Tensor forward(const Tensor& pred, const Tensor& target) override {
    return mse_loss(pred, target, r_);
  }

 private:
  Reduction r_;
};

class BceWithLogits : public Module {
 public:
  explicit BceWithLogits(const Params& p) : r_(reduction_of(p)) {}
  int arity() const override { return 2; }
  Tensor forward(const Tensor& x, const Tensor& y) override { return bce_with_logits(x, y, r_); }

 private:
  Reduction r_;
};

}  // namespace

void register_losses() {
  Schema ce;
  add_reduction(ce);
  ce.integer("ignore_index", "targets with this class count neither in the loss nor the mean")
      .def(-100);
  register_layer("cross_entropy", "softmax cross entropy of logits [N, C] and class indices [N]",
                 std::move(ce), [](const Params& p) { return std::make_shared<CrossEntropy>(p); });
  Schema mse;
  add_reduction(mse);
  register_layer("mse", "mean squared error", std::move(mse),
                 [](const Params& p) { return std::make_shared<Mse>(p); });
  Schema bce;
  add_reduction(bce);
  register_layer("bce_with_logits", "binary cross entropy on logits (sigmoid folded in, stable)",
                 std::move(bce),
                 [](const Params& p) { return std::make_shared<BceWithLogits>(p); });
}

}  // namespace gom_layers
