// rnn_forward, rnn_backward and rnn_workspace on oneDNN's RNN primitives: vanilla_rnn (tanh or
// relu), vanilla_lstm and lbr_gru, which is PyTorch's GRU (the reset gate multiplies the hidden
// n-gate product, bias included: "linear before reset").
//
// PyTorch's weight [G*H, in] is oneDNN's ldgoi layout for one layer; the primitives pick their
// own weight layouts (format any) and the weights are reordered into them at every call (they
// change at every step; the reorder is small next to the sequence's GEMMs). LSTM's gate order is
// the same in both (i, f, g, o); GRU's is r, z, n in PyTorch and z, r, n in oneDNN, so the first
// two gate blocks are swapped on the way in and out. oneDNN takes one bias per gate, b_ih + b_hh;
// lbr_gru takes a fourth for the hidden n-gate part, so its bias is [b_z, b_r, b_in, b_hn]. The
// bias gradient goes to both b_ih and b_hh (split the same way for GRU).
//
// The output gradient dy goes in as tnc (time-major, dense) or ntc (a transposed view of a
// batch-major tensor, what a batch_first layer hands back), read in place. x is made dense tnc:
// with x in ntc, oneDNN 2.6's backward gives wrong weight_ih gradients (the PyTorch fixtures of
// the batch_first cases caught it), and the copy is small next to the recurrence.
#include "dnnl_util.h"
#include "gom/ops_rnn.h"

namespace gom::onednn {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

int64_t gate_count(RnnMode m) {
  return m == RnnMode::Lstm ? 4 : m == RnnMode::Gru ? 3 : 1;
}
// lbr_gru's bias has an extra gate: the hidden part of n.
int64_t bias_gates(RnnMode m) {
  return m == RnnMode::Gru ? 4 : gate_count(m);
}

// A gradient sequence [T, B, C] in a layout oneDNN's RNN reads: tnc or ntc; else made dense.
Tensor seq_layout(const Tensor& t) {
  const int64_t T = t.shape()[0], B = t.shape()[1], C = t.shape()[2];
  const Shape& s = t.strides();
  const bool c_ok = C == 1 || s[2] == 1;
  const bool tnc = (B == 1 || s[1] == C) && (T == 1 || s[0] == B * C);
  const bool ntc = (T == 1 || s[0] == C) && (B == 1 || s[1] == T * C);
  return c_ok && (tnc || ntc) ? t : dense(t);
}

bool is_ntc(const Tensor& t) {
  const int64_t T = t.shape()[0], B = t.shape()[1];
  return T > 1 && B > 1 && t.strides()[0] == t.shape()[2];
}

memory::desc state_md(int64_t B, int64_t H) {
  return memory::desc({1, 1, B, H}, Dt::f32, Tag::ldnc);
}
memory::desc any_weights(int64_t in, int64_t G, int64_t H) {
  return memory::desc({1, 1, in, G, H}, Dt::f32, Tag::any);
}
memory::desc user_weights(int64_t in, int64_t G, int64_t H) {
  return memory::desc({1, 1, in, G, H}, Dt::f32, Tag::ldgoi);
}

struct Sizes {
  RnnMode mode;
  int64_t T, B, I, H;
};

// The memory descriptors of one call, in the primitives' argument order.
struct Descs {
  memory::desc src_layer, src_iter, src_iter_c, weights_layer, weights_iter, bias, dst_layer,
      dst_iter, dst_iter_c;
};

Descs fwd_descs(const Sizes& s) {
  const int64_t G = gate_count(s.mode);
  const bool lstm = s.mode == RnnMode::Lstm;
  return {memory::desc({s.T, s.B, s.I}, Dt::f32, Tag::tnc),
          state_md(s.B, s.H),
          lstm ? state_md(s.B, s.H) : memory::desc(),
          any_weights(s.I, G, s.H),
          any_weights(s.H, G, s.H),
          memory::desc({1, 1, bias_gates(s.mode), s.H}, Dt::f32, Tag::ldgo),
          memory::desc({s.T, s.B, s.H}, Dt::f32, Tag::tnc),
          state_md(s.B, s.H),
          lstm ? state_md(s.B, s.H) : memory::desc()};
}

// A reorder between the user's weight layout and a primitive's; empty when they agree.
struct WeightReorder {
  memory::desc md;  // the primitive's layout
  dnnl::reorder r;
};

WeightReorder weight_reorder(const memory::desc& md, const memory::desc& user, bool to_user) {
  WeightReorder w{md, {}};
  if (md != user)
    w.r = to_user ? dnnl::reorder(dnnl::reorder::primitive_desc(engine(), md, engine(), user))
                  : dnnl::reorder(dnnl::reorder::primitive_desc(engine(), user, engine(), md));
  return w;
}

// A built forward (and, for training, backward) primitive with the layouts it chose.
struct Built {
  dnnl::primitive fwd, bwd;
  memory::desc ws;
  WeightReorder f_wl, f_wi;  // into the forward's weight layouts
  WeightReorder b_wl, b_wi;  // into the backward's
  WeightReorder d_wl, d_wi;  // from the backward's weight-gradient layouts
};

constexpr auto kDir = dnnl::rnn_direction::unidirectional_left2right;

template <class Fwd, class Bwd>
void fill(Built& b, const Sizes& s, const typename Fwd::primitive_desc& f,
          const typename Bwd::primitive_desc* bw) {
  const int64_t G = gate_count(s.mode);
  const memory::desc ul = user_weights(s.I, G, s.H), ui = user_weights(s.H, G, s.H);
  b.fwd = Fwd(f);
  b.ws = f.workspace_desc();
  b.f_wl = weight_reorder(f.weights_layer_desc(), ul, false);
  b.f_wi = weight_reorder(f.weights_iter_desc(), ui, false);
  if (!bw) return;
  b.bwd = Bwd(*bw);
  b.b_wl = weight_reorder(bw->weights_layer_desc(), ul, false);
  b.b_wi = weight_reorder(bw->weights_iter_desc(), ui, false);
  b.d_wl = weight_reorder(bw->diff_weights_layer_desc(), ul, true);
  b.d_wi = weight_reorder(bw->diff_weights_iter_desc(), ui, true);
}

// The forward primitive for `s` (training when `backward`, with its backward primitive whose
// gradient sequences have layouts dx (tnc) and dy (dy_ntc)).
Built build(const Sizes& s, bool training, bool backward, bool dy_ntc) {
  const Descs d = fwd_descs(s);
  const auto prop =
      training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  const auto& eng = engine();
  const int64_t G = gate_count(s.mode);
  const memory::desc dx({s.T, s.B, s.I}, Dt::f32, Tag::tnc);
  const memory::desc dy({s.T, s.B, s.H}, Dt::f32, dy_ntc ? Tag::ntc : Tag::tnc);
  const memory::desc dwl = any_weights(s.I, G, s.H), dwi = any_weights(s.H, G, s.H);
  Built b;
  switch (s.mode) {
    case RnnMode::Tanh:
    case RnnMode::Relu: {
      using F = dnnl::vanilla_rnn_forward;
      using Bw = dnnl::vanilla_rnn_backward;
      const auto act =
          s.mode == RnnMode::Relu ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_tanh;
      F::primitive_desc f(F::desc(prop, act, kDir, d.src_layer, d.src_iter, d.weights_layer,
                                  d.weights_iter, d.bias, d.dst_layer, d.dst_iter),
                          eng);
      if (!backward) {
        fill<F, Bw>(b, s, f, nullptr);
        break;
      }
      Bw::primitive_desc bw(Bw::desc(dnnl::prop_kind::backward, act, kDir, d.src_layer, d.src_iter,
                                     d.weights_layer, d.weights_iter, d.bias, d.dst_layer,
                                     d.dst_iter, dx, d.src_iter, dwl, dwi, d.bias, dy, d.dst_iter),
                            eng, f);
      fill<F, Bw>(b, s, f, &bw);
      break;
    }
    case RnnMode::Lstm: {
      using F = dnnl::lstm_forward;
      using Bw = dnnl::lstm_backward;
      F::primitive_desc f(
          F::desc(prop, kDir, d.src_layer, d.src_iter, d.src_iter_c, d.weights_layer,
                  d.weights_iter, d.bias, d.dst_layer, d.dst_iter, d.dst_iter_c),
          eng);
      if (!backward) {
        fill<F, Bw>(b, s, f, nullptr);
        break;
      }
      Bw::primitive_desc bw(
          Bw::desc(dnnl::prop_kind::backward, kDir, d.src_layer, d.src_iter, d.src_iter_c,
                   d.weights_layer, d.weights_iter, d.bias, d.dst_layer, d.dst_iter, d.dst_iter_c,
                   dx, d.src_iter, d.src_iter_c, dwl, dwi, d.bias, dy, d.dst_iter, d.dst_iter_c),
          eng, f);
      fill<F, Bw>(b, s, f, &bw);
      break;
    }
    case RnnMode::Gru: {
      using F = dnnl::lbr_gru_forward;
      using Bw = dnnl::lbr_gru_backward;
      F::primitive_desc f(F::desc(prop, kDir, d.src_layer, d.src_iter, d.weights_layer,
                                  d.weights_iter, d.bias, d.dst_layer, d.dst_iter),
                          eng);
      if (!backward) {
        fill<F, Bw>(b, s, f, nullptr);
        break;
      }
      Bw::primitive_desc bw(Bw::desc(dnnl::prop_kind::backward, kDir, d.src_layer, d.src_iter,
                                     d.weights_layer, d.weights_iter, d.bias, d.dst_layer,
                                     d.dst_iter, dx, d.src_iter, dwl, dwi, d.bias, dy, d.dst_iter),
                            eng, f);
      fill<F, Bw>(b, s, f, &bw);
      break;
    }
  }
  return b;
}

Key key_of(const Sizes& s, int64_t variant) {
  Key k;
  k.add(int64_t(s.mode)).add(s.T).add(s.B).add(s.I).add(s.H).add(variant);
  return k;
}

// variant: 0 inference, 1 training forward, 2 + dy_ntc training with backward.
const Built& primitives(const Sizes& s, int64_t variant) {
  static PrimitiveCache<Built> cache;
  return cache.get(key_of(s, variant),
                   [&] { return build(s, variant >= 1, variant >= 2, variant == 3); });
}

Tensor scratch(const memory::desc& md) {
  return Tensor::empty({static_cast<int64_t>((md.get_size() + 3) / 4)});
}

// GRU: PyTorch's gate blocks r, z, n <-> oneDNN's z, r, n (the swap is its own inverse).
Tensor swap_gru_gates(const Tensor& w, int64_t H) {
  Tensor out = Tensor::empty(w.shape());
  const int64_t block = H * (w.numel() / (3 * H));
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  std::memcpy(dst, src + block, block * sizeof(float));
  std::memcpy(dst + block, src, block * sizeof(float));
  std::memcpy(dst + 2 * block, src + 2 * block, block * sizeof(float));
  return out;
}

// The user's weight [G*H, in] in the primitive's layout (itself when that is ldgoi).
Tensor weights_for(const Tensor& w, RnnMode mode, int64_t H, const WeightReorder& to) {
  const Tensor src = mode == RnnMode::Gru ? swap_gru_gates(w, H) : w;
  if (!to.r) return src;
  Tensor dst = scratch(to.md);
  const int64_t G = gate_count(mode);
  const memory::desc user = user_weights(w.shape()[1], G, H);
  execute(to.r, {{DNNL_ARG_FROM, user, src}, {DNNL_ARG_TO, to.md, dst}});
  return dst;
}

// A weight gradient `g` in the primitive's layout into the user's dw [G*H, in].
void weights_back(const Tensor& g, RnnMode mode, int64_t H, const WeightReorder& from,
                  const Tensor& dw) {
  const memory::desc user = user_weights(dw.shape()[1], gate_count(mode), H);
  Tensor target = mode == RnnMode::Gru ? Tensor::empty(dw.shape()) : dw;
  if (from.r)
    execute(from.r, {{DNNL_ARG_FROM, from.md, g}, {DNNL_ARG_TO, user, target}});
  else
    std::memcpy(target.raw_data(), g.raw_data(), dw.numel() * sizeof(float));
  if (mode == RnnMode::Gru) {
    const Tensor swapped = swap_gru_gates(target, H);
    std::memcpy(dw.raw_data(), swapped.raw_data(), dw.numel() * sizeof(float));
  }
}

// oneDNN's bias from PyTorch's two: b_ih + b_hh per gate; for GRU [z, r, in, hn].
Tensor combined_bias(RnnMode mode, const Tensor& b_ih, const Tensor& b_hh, int64_t H) {
  Tensor out = Tensor::empty({bias_gates(mode) * H});
  const float* bi = b_ih.data<float>();
  const float* bh = b_hh.data<float>();
  float* o = out.data<float>();
  if (mode != RnnMode::Gru) {
    for (int64_t k = 0; k < gate_count(mode) * H; ++k) o[k] = bi[k] + bh[k];
    return out;
  }
  for (int64_t k = 0; k < H; ++k) {
    o[k] = bi[H + k] + bh[H + k];  // z
    o[H + k] = bi[k] + bh[k];      // r
    o[2 * H + k] = bi[2 * H + k];  // n, input part
    o[3 * H + k] = bh[2 * H + k];  // n, hidden part
  }
  return out;
}

// oneDNN's bias gradient into PyTorch's two.
void split_bias_grad(RnnMode mode, const Tensor& db, const Tensor& db_ih, const Tensor& db_hh,
                     int64_t H) {
  const float* g = db.data<float>();
  float* gi = db_ih.data<float>();
  float* gh = db_hh.data<float>();
  if (mode != RnnMode::Gru) {
    for (int64_t k = 0; k < gate_count(mode) * H; ++k) gi[k] = gh[k] = g[k];
    return;
  }
  for (int64_t k = 0; k < H; ++k) {
    gi[k] = gh[k] = g[H + k];      // r
    gi[H + k] = gh[H + k] = g[k];  // z
    gi[2 * H + k] = g[2 * H + k];  // n, input part
    gh[2 * H + k] = g[3 * H + k];  // n, hidden part
  }
}

Sizes sizes_of(const KernelCall& c, const Tensor& x) {
  return {RnnMode(c.attrs.i("mode")), x.shape()[0], x.shape()[1], x.shape()[2],
          c.attrs.i("hidden")};
}

void rnn_workspace(const KernelCall& c) {
  const Tensor x = dense(c.in[0]);
  const Sizes s = sizes_of(c, x);
  const size_t bytes = primitives(s, 1).ws.get_size();
  *c.out[0].data<int64_t>() = static_cast<int64_t>((bytes + 3) / 4);
}

void rnn_forward(const KernelCall& c) {
  const Tensor x = dense(c.in[0]);
  const Tensor& y = c.out[0];
  const Sizes s = sizes_of(c, x);
  const bool lstm = s.mode == RnnMode::Lstm;
  const Tensor& ws = c.out[3];
  const Built& p = primitives(s, ws.defined() ? 1 : 0);
  const Tensor h0 = dense(c.in[1]), w_ih = dense(c.in[3]), w_hh = dense(c.in[4]);
  const Tensor wl = weights_for(w_ih, s.mode, s.H, p.f_wl);
  const Tensor wi = weights_for(w_hh, s.mode, s.H, p.f_wi);
  const Tensor bias = combined_bias(s.mode, dense(c.in[5]), dense(c.in[6]), s.H);
  const Descs d = fwd_descs(s);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC_LAYER, mem_of(d.src_layer, x)},
                                       {DNNL_ARG_SRC_ITER, mem_of(d.src_iter, h0)},
                                       {DNNL_ARG_WEIGHTS_LAYER, mem_of(p.f_wl.md, wl)},
                                       {DNNL_ARG_WEIGHTS_ITER, mem_of(p.f_wi.md, wi)},
                                       {DNNL_ARG_BIAS, mem_of(d.bias, bias)},
                                       {DNNL_ARG_DST_LAYER, mem_of(d.dst_layer, y)},
                                       {DNNL_ARG_DST_ITER, mem_of(d.dst_iter, c.out[1])}};
  if (lstm) {
    args.emplace(DNNL_ARG_SRC_ITER_C, mem_of(d.src_iter_c, dense(c.in[2])));
    args.emplace(DNNL_ARG_DST_ITER_C, mem_of(d.dst_iter_c, c.out[2]));
  }
  if (ws.defined()) args.emplace(DNNL_ARG_WORKSPACE, mem_of(p.ws, ws));
  execute(p.fwd, args);
}

void rnn_backward(const KernelCall& c) {
  const Tensor x = dense(c.in[0]);
  const Tensor y = c.in[7];
  const Sizes s = sizes_of(c, x);
  const bool lstm = s.mode == RnnMode::Lstm;
  const Tensor dy = seq_layout(c.in[11]);
  const bool dy_ntc = is_ntc(dy);
  const Built& p = primitives(s, 2 + int64_t(dy_ntc));
  const Descs d = fwd_descs(s);
  const Tensor wl = weights_for(dense(c.in[3]), s.mode, s.H, p.b_wl);
  const Tensor wi = weights_for(dense(c.in[4]), s.mode, s.H, p.b_wi);
  const Tensor bias = combined_bias(s.mode, dense(c.in[5]), dense(c.in[6]), s.H);
  // The primitive adds into the weight gradients: start them at zero.
  Tensor dwl = scratch(p.d_wl.md), dwi = scratch(p.d_wi.md);
  Tensor db = Tensor::empty({bias_gates(s.mode) * s.H});
  for (const Tensor* t : {&dwl, &dwi, &db})
    std::memset(t->raw_data(), 0, t->numel() * sizeof(float));
  const memory::desc dy_md({s.T, s.B, s.H}, Dt::f32, dy_ntc ? Tag::ntc : Tag::tnc);
  const memory::desc dx_md({s.T, s.B, s.I}, Dt::f32, Tag::tnc);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC_LAYER, mem_of(d.src_layer, x)},
      {DNNL_ARG_SRC_ITER, mem_of(d.src_iter, dense(c.in[1]))},
      {DNNL_ARG_WEIGHTS_LAYER, mem_of(p.b_wl.md, wl)},
      {DNNL_ARG_WEIGHTS_ITER, mem_of(p.b_wi.md, wi)},
      {DNNL_ARG_BIAS, mem_of(d.bias, bias)},
      {DNNL_ARG_DST_LAYER, mem_of(d.dst_layer, y)},
      {DNNL_ARG_DST_ITER, mem_of(d.dst_iter, c.in[8])},
      {DNNL_ARG_WORKSPACE, mem_of(p.ws, c.in[10])},
      {DNNL_ARG_DIFF_SRC_LAYER, mem_of(dx_md, c.out[0])},
      {DNNL_ARG_DIFF_SRC_ITER, mem_of(d.src_iter, c.out[1])},
      {DNNL_ARG_DIFF_WEIGHTS_LAYER, mem_of(p.d_wl.md, dwl)},
      {DNNL_ARG_DIFF_WEIGHTS_ITER, mem_of(p.d_wi.md, dwi)},
      {DNNL_ARG_DIFF_BIAS, mem_of(d.bias, db)},
      {DNNL_ARG_DIFF_DST_LAYER, mem_of(dy_md, dy)},
      {DNNL_ARG_DIFF_DST_ITER, mem_of(d.dst_iter, dense(c.in[12]))}};
  if (lstm) {
    args.emplace(DNNL_ARG_SRC_ITER_C, mem_of(d.src_iter_c, dense(c.in[2])));
    args.emplace(DNNL_ARG_DST_ITER_C, mem_of(d.dst_iter_c, c.in[9]));
    args.emplace(DNNL_ARG_DIFF_SRC_ITER_C, mem_of(d.src_iter_c, c.out[2]));
    args.emplace(DNNL_ARG_DIFF_DST_ITER_C, mem_of(d.dst_iter_c, dense(c.in[13])));
  }
  execute(p.bwd, args);
  weights_back(dwl, s.mode, s.H, p.d_wl, c.out[3]);
  weights_back(dwi, s.mode, s.H, p.d_wi, c.out[4]);
  split_bias_grad(s.mode, db, c.out[5], c.out[6], s.H);
}

}  // namespace

void register_rnn(const std::string& provider) {
  register_cpu_kernel("rnn_workspace", rnn_workspace, provider);
  register_cpu_kernel("rnn_forward", rnn_forward, provider);
  register_cpu_kernel("rnn_backward", rnn_backward, provider);
}

}  // namespace gom::onednn
