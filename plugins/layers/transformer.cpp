// transformer_block: torch.nn.TransformerEncoderLayer with the same children and names
// (self_attn, linear1, dropout, linear2, norm1, norm2, dropout1, dropout2), built from the
// multihead_attention, linear, layernorm and dropout layers:
//   post-norm (norm_first = false): x = norm1(x + sa(x));  x = norm2(x + ff(x))
//   pre-norm  (norm_first = true):  x = x + sa(norm1(x));  x = x + ff(norm2(x))
// with sa(x) = dropout1(self_attn(x)), ff(x) = dropout2(linear2(dropout(act(linear1(x))))).
#include <fmt/format.h>

#include "gom/layer.h"
#include "gom/ops.h"
#include "init.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

namespace {

class TransformerBlock : public Module {
 public:
  explicit TransformerBlock(const Params& p)
      : d_(p.i("d_model")), gelu_(p.s("activation") == "gelu"), norm_first_(p.b("norm_first")) {
    const int64_t nhead = p.i("nhead"), ff = p.i("dim_feedforward");
    if (d_ % nhead != 0)
      throw Error(fmt::format(
          "layer 'transformer_block': d_model = {} is not divisible by nhead = {}; expected "
          "d_model to be a multiple of nhead",
          d_, nhead));
    const double drop = p.f("dropout");
    const Value init = p.s("init");
    self_attn_ = register_module(
        "self_attn", create_layer("multihead_attention", {{"embed_dim", d_},
                                                          {"num_heads", nhead},
                                                          {"dropout", drop},
                                                          {"batch_first", p.b("batch_first")},
                                                          {"causal", p.b("causal")},
                                                          {"init", init}}));
    linear1_ = register_module("linear1",
                               create_layer("linear", {{"in", d_}, {"out", ff}, {"init", init}}));
    dropout_ = register_module("dropout", create_layer("dropout", {{"p", drop}}));
    linear2_ = register_module("linear2",
                               create_layer("linear", {{"in", ff}, {"out", d_}, {"init", init}}));
    const Config norm{{"normalized_shape", Value::List{Value(d_)}}, {"eps", p.f("layer_norm_eps")}};
    norm1_ = register_module("norm1", create_layer("layernorm", norm));
    norm2_ = register_module("norm2", create_layer("layernorm", norm));
    dropout1_ = register_module("dropout1", create_layer("dropout", {{"p", drop}}));
    dropout2_ = register_module("dropout2", create_layer("dropout", {{"p", drop}}));
  }

  Tensor forward(const Tensor& x) override {
    if (x.dim() != 3 || x.shape()[2] != d_)
      throw Error(fmt::format(
          "layer 'transformer_block': input of shape {} does not fit; expected [B, T, {}] "
          "(or [T, B, {}] with batch_first = false)",
          shape_str(x.shape()), d_, d_));
    if (norm_first_) {
      const Tensor h = add(x, sa(norm1_->call(x)));
      return add(h, ff(norm2_->call(h)));
    }
    const Tensor h = norm1_->call(add(x, sa(x)));
    return norm2_->call(add(h, ff(h)));
  }

 private:
  Tensor sa(const Tensor& x) { return dropout1_->call(self_attn_->call(x)); }
  Tensor ff(const Tensor& x) {
    const Tensor h = linear1_->call(x);
    return dropout2_->call(linear2_->call(dropout_->call(gelu_ ? gelu(h) : relu(h))));
  }

  int64_t d_;
  bool gelu_, norm_first_;
  std::shared_ptr<Module> self_attn_, linear1_, dropout_, linear2_, norm1_, norm2_, dropout1_,
      dropout2_;
};

}  // namespace

void register_transformer() {
  Schema s;
  s.integer("d_model", "features per position; a multiple of nhead").required().min(1);
  s.integer("nhead", "attention heads").required().min(1);
  s.integer("dim_feedforward", "hidden features of the feed-forward part").def(2048).min(1);
  s.number("dropout", "dropout after attention, in and after the feed-forward part")
      .def(0.1)
      .range(0.0, 0.999999);
  s.choice("activation", {"relu", "gelu"}, "activation of the feed-forward part").def("relu");
  s.number("layer_norm_eps", "eps of norm1 and norm2").def(1e-5).min(0.0);
  s.boolean("norm_first", "layer norm before attention and feed-forward (pre-norm)").def(false);
  s.boolean("batch_first", "input [B, T, E] (true) or [T, B, E] (false)").def(true);
  s.boolean("causal", "position t attends only to positions <= t").def(false);
  s.choice("init", init_choices(), "weight initialisation of every projection (default: PyTorch's)")
      .def("default");
  register_layer("transformer_block",
                 "transformer encoder layer: self-attention and feed-forward, each with a "
                 "residual and layer norm (torch.nn.TransformerEncoderLayer)",
                 std::move(s),
                 [](const Params& p) { return std::make_shared<TransformerBlock>(p); });
}

}  // namespace gom_layers
