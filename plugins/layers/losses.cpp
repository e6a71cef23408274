// Losses: modules whose forward takes (prediction, target).
//   cross_entropy    logits [N, C], i64 class indices [N]       (torch.nn.CrossEntropyLoss)
//   nll              log-probabilities [N, C], class indices [N] (torch.nn.NLLLoss)
//   mse              prediction and target of one shape          (torch.nn.MSELoss)
//   l1               prediction and target of one shape          (torch.nn.L1Loss)
//   bce_with_logits  logits and 0/1 targets of one shape         (torch.nn.BCEWithLogitsLoss)
// cross_entropy and nll also take [..., C] (rank >= 3) with targets [...], the class dim LAST
// (a language model's [B, T, C] head with [B, T] targets; fastai's CrossEntropyLossFlat), where
// torch would want the class in dim 1.
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

// cross_entropy or nll_loss with a reduction and an ignored class.
template <Tensor (*F)(const Tensor&, const Tensor&, Reduction, int64_t)>
class ClassLoss : public Module {
 public:
  explicit ClassLoss(const Params& p) : r_(reduction_of(p)), ignore_(p.i("ignore_index")) {}
  int arity() const override { return 2; }
  Tensor forward(const Tensor& input, const Tensor& target) override {
    return F(input, target, r_, ignore_);
  }

 private:
  Reduction r_;
  int64_t ignore_;
};

// A loss of (prediction, target) of one shape with a reduction: mse, l1.
template <Tensor (*F)(const Tensor&, const Tensor&, Reduction)>
class PairLoss : public Module {
 public:
  explicit PairLoss(const Params& p) : r_(reduction_of(p)) {}
  int arity() const override { return 2; }
  Tensor forward(const Tensor& pred, const Tensor& target) override { return F(pred, target, r_); }

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

Schema class_loss_schema() {
  Schema s;
  add_reduction(s);
  s.integer("ignore_index", "targets with this class count neither in the loss nor the mean")
      .def(-100);
  return s;
}

}  // namespace

void register_losses() {
  register_layer("cross_entropy",
                 "softmax cross entropy of logits [N, C] and class indices [N], or of [..., C] "
                 "and [...] with the class dim last",
                 class_loss_schema(),
                 [](const Params& p) { return std::make_shared<ClassLoss<cross_entropy>>(p); });
  register_layer("nll",
                 "negative log-likelihood of log-probabilities [N, C] and class indices [N], or "
                 "of [..., C] and [...] with the class dim last",
                 class_loss_schema(),
                 [](const Params& p) { return std::make_shared<ClassLoss<nll_loss>>(p); });
  Schema mse;
  add_reduction(mse);
  register_layer("mse", "mean squared error", std::move(mse),
                 [](const Params& p) { return std::make_shared<PairLoss<mse_loss>>(p); });
  Schema l1;
  add_reduction(l1);
  register_layer("l1", "mean absolute error", std::move(l1),
                 [](const Params& p) { return std::make_shared<PairLoss<l1_loss>>(p); });
  Schema bce;
  add_reduction(bce);
  register_layer("bce_with_logits", "binary cross entropy on logits (sigmoid folded in, stable)",
                 std::move(bce),
                 [](const Params& p) { return std::make_shared<BceWithLogits>(p); });
}

}  // namespace gom_layers
