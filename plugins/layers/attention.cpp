// multihead_attention: self-attention with torch.nn.MultiheadAttention's math, parameter names
// (in_proj_weight [3E, E], in_proj_bias [3E], out_proj.weight, out_proj.bias) and default init
// (xavier_uniform in_proj_weight, zero biases, out_proj.weight as nn.Linear's). It is torch's
// attn(x, x, x, need_weights=False), with causal = true passing the mask that hides later
// positions. Composed of ops, so autograd derives the backward.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "gom/autograd.h"
#include "gom/layer.h"
#include "gom/ops.h"
#include "init.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

void register_transformer();  // transformer.cpp: the encoder block built on this layer

namespace {

/// [T, T]: 0 where key position j <= query position i, -inf after (torch's
/// generate_square_subsequent_mask); softmax then gives the later positions weight 0.
Tensor causal_mask(int64_t t, Device device) {
  std::vector<float> m(size_t(t * t), 0.f);
  for (int64_t i = 0; i < t; ++i)
    for (int64_t j = i + 1; j < t; ++j)
      m[size_t(i * t + j)] = -std::numeric_limits<float>::infinity();
  return tensor(m, {t, t}, device);
}

class MultiheadAttention : public Module {
 public:
  explicit MultiheadAttention(const Params& p)
      : e_(p.i("embed_dim")),
        h_(p.i("num_heads")),
        p_(p.f("dropout")),
        batch_first_(p.b("batch_first")),
        causal_(p.b("causal")) {
    if (e_ % h_ != 0)
      throw Error(fmt::format(
          "layer 'multihead_attention': embed_dim = {} is not divisible by num_heads = {}; "
          "expected embed_dim to be a multiple of num_heads (each head gets embed_dim / "
          "num_heads features)",
          e_, h_));
    const std::string& init = p.s("init");
    const bool bias = p.b("bias");
    Tensor w = Tensor::empty({3 * e_, e_});
    init_weight(w, init == "default" ? "xavier_uniform" : init, e_, 3 * e_);
    in_proj_weight_ = register_parameter("in_proj_weight", w);
    if (bias) in_proj_bias_ = register_parameter("in_proj_bias", zeros({3 * e_}));
    out_proj_ = register_module(
        "out_proj",
        create_layer("linear", {{"in", e_}, {"out", e_}, {"bias", bias}, {"init", init}}));
    NoGrad ng;
    for (auto& [name, t] : out_proj_->named_parameters())
      if (name == "bias") zero_(t);  // torch zeroes out_proj.bias in _reset_parameters
  }

  Tensor forward(const Tensor& x_in) override {
    if (x_in.dim() != 3 || x_in.shape()[2] != e_)
      throw Error(fmt::format(
          "layer 'multihead_attention': input of shape {} does not fit; expected {} with "
          "E = embed_dim = {}",
          shape_str(x_in.shape()),
          batch_first_ ? "[B, T, E] (batch_first = true)" : "[T, B, E] (batch_first = false)", e_));
    const Tensor x = batch_first_ ? x_in : transpose(x_in, 0, 1);  // [B, T, E]
    const int64_t b = x.shape()[0], t = x.shape()[1], hd = e_ / h_;
    const Tensor qkv = linear(x, in_proj_weight_, in_proj_bias_);  // [B, T, 3E]
    auto heads = [&](int64_t k) {  // the k-th third as [B, H, T, hd]
      return transpose(reshape(slice(qkv, 2, k * e_, (k + 1) * e_), {b, t, h_, hd}), 1, 2);
    };
    const Tensor q = mul(heads(0), 1.0 / std::sqrt(double(hd)));
    Tensor scores = matmul(q, transpose(heads(1), -1, -2));  // [B, H, T, T]
    if (causal_) scores = add(scores, causal_mask(t, x.device()));
    const Tensor attn = dropout(softmax(scores, -1), p_, is_training());
    const Tensor ctx = reshape(transpose(matmul(attn, heads(2)), 1, 2), {b, t, e_});
    const Tensor out = out_proj_->call(ctx);
    return batch_first_ ? out : transpose(out, 0, 1);
  }

 private:
  int64_t e_, h_;
  double p_;
  bool batch_first_, causal_;
  Tensor in_proj_weight_, in_proj_bias_;
  std::shared_ptr<Module> out_proj_;
};

}  // namespace

void register_attention() {
  Schema s;
  s.integer("embed_dim", "features per position (E); a multiple of num_heads").required().min(1);
  s.integer("num_heads", "attention heads, each of embed_dim / num_heads features")
      .required()
      .min(1);
  s.number("dropout", "dropout on the attention weights in training").def(0.0).range(0.0, 0.999999);
  s.boolean("bias", "learn in_proj_bias and out_proj.bias").def(true);
  s.boolean("batch_first", "input [B, T, E] (true) or [T, B, E] (false)").def(true);
  s.boolean("causal", "position t attends only to positions <= t").def(false);
  s.choice("init", init_choices(),
           "projection weight initialisation (default: PyTorch's, xavier_uniform for in_proj)")
      .def("default");
  register_layer(
      "multihead_attention", "multi-head self-attention (torch.nn.MultiheadAttention on (x, x, x))",
      std::move(s), [](const Params& p) { return std::make_shared<MultiheadAttention>(p); });
  register_transformer();
}

}  // namespace gom_layers
