// Recurrent ops: rnn, lstm and gru over whole sequences, one fused kernel call per layer (the
// backend's RNN primitive), with a hand-written backward that calls the backward kernel on the
// workspace the training forward kept.
#include "gom/ops_rnn.h"

#include <fmt/format.h>

#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

const char* op_name(RnnMode m) {
  switch (m) {
    case RnnMode::Tanh:
    case RnnMode::Relu:
      return "rnn";
    case RnnMode::Lstm:
      return "lstm";
    case RnnMode::Gru:
      return "gru";
  }
  return "rnn";
}

int64_t gate_count(RnnMode m) {
  return m == RnnMode::Lstm ? 4 : m == RnnMode::Gru ? 3 : 1;
}

struct LayerResult {
  Tensor y, h, c;
};

// One layer over the sequence. Biases are defined here (zeros stand in for a layer without).
LayerResult run_layer(RnnMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0,
                      const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                      const Tensor& b_hh) {
  const bool is_lstm = mode == RnnMode::Lstm;
  const int64_t T = x.shape()[0], B = x.shape()[1], H = w_hh.shape()[1];
  const Attrs attrs{{"mode", static_cast<int64_t>(mode)}, {"hidden", H}};
  Tensor y = empty_as({T, B, H}, x), hn = empty_as({B, H}, x);
  Tensor cn = is_lstm ? empty_as({B, H}, x) : Tensor();
  const bool train = needs_grad({&x, &h0, &c0, &w_ih, &w_hh, &b_ih, &b_hh});
  Tensor ws;
  if (train) {
    // The size is a host value on every backend: x's device kernel writes it to a CPU tensor.
    static const OpId workspace = op_id("rnn_workspace");
    const Tensor xd = x.detach(), n = Tensor::empty({}, {DType::I64, kCPU});
    const Device dev = x.device();
    find_kernel(workspace, dev.type)(KernelCall{
        std::span<const Tensor>(&xd, 1), std::span<const Tensor>(&n, 1), attrs,
        dev.type == DeviceType::CPU ? Stream{} : current_stream(dev)});
    ws = Tensor::empty({*n.data<int64_t>()}, x.options());
  }
  run_kernel("rnn_forward",
             {x.detach(), h0.detach(), is_lstm ? c0.detach() : Tensor(), w_ih.detach(),
              w_hh.detach(), b_ih.detach(), b_hh.detach()},
             {y, hn, cn, ws}, attrs);
  if (!train) return {y, hn, cn};
  std::vector<Tensor> outs{y, hn};
  if (is_lstm) outs.push_back(cn);
  // Saved without their graph (detach): a node holding its own outputs would never be freed.
  record(op_name(mode), {x, h0, c0, w_ih, w_hh, b_ih, b_hh}, outs,
         [mode, is_lstm, attrs, ws,
          saved = std::vector<Tensor>{x.detach(), h0.detach(), is_lstm ? c0.detach() : Tensor(),
                                      w_ih.detach(), w_hh.detach(), b_ih.detach(), b_hh.detach(),
                                      y.detach(), hn.detach(), is_lstm ? cn.detach() : Tensor()},
          need = std::vector<bool>{x.requires_grad(), h0.requires_grad(),
                                   c0.defined() && c0.requires_grad(), w_ih.requires_grad(),
                                   w_hh.requires_grad(), b_ih.requires_grad(),
                                   b_hh.requires_grad()}](const std::vector<Tensor>& g) {
           const Tensor &sx = saved[0], &sh0 = saved[1];
           Tensor dx = empty_as(sx.shape(), sx), dh0 = empty_as(sh0.shape(), sh0);
           Tensor dc0 = is_lstm ? empty_as(sh0.shape(), sh0) : Tensor();
           Tensor dwih = empty_as(saved[3].shape(), sx), dwhh = empty_as(saved[4].shape(), sx);
           Tensor dbih = empty_as(saved[5].shape(), sx), dbhh = empty_as(saved[6].shape(), sx);
           run_kernel(
               "rnn_backward",
               {sx, sh0, is_lstm ? saved[2] : Tensor(), saved[3], saved[4], saved[5], saved[6],
                saved[7], saved[8], saved[9], ws, g[0], g[1], is_lstm ? g[2] : Tensor()},
               {dx, dh0, dc0, dwih, dwhh, dbih, dbhh}, attrs);
           const Tensor all[] = {dx, dh0, dc0, dwih, dwhh, dbih, dbhh};
           std::vector<Tensor> r(7);
           for (size_t i = 0; i < 7; ++i)
             if (need[i]) r[i] = all[i];
           return r;
         });
  return {y, hn, cn};
}

void check_state(const Tensor& s, const char* op, const char* what, const Shape& want) {
  if (!s.defined()) return;
  check_float(s, op, what);
  if (s.shape() != want)
    throw Error(fmt::format("{}: {} has shape {}, expected {} (layers, batch, hidden)", op, what,
                            shape_str(s.shape()), shape_str(want)));
}

RnnOutput run(RnnMode mode, const Tensor& x, const Tensor& h0_in, const Tensor& c0_in,
              const std::vector<RnnWeights>& layers, const RnnDropout& drop) {
  const char* op = op_name(mode);
  check_float(x, op, "input");
  if (x.dim() != 3)
    throw Error(fmt::format("{}: input has shape {}; expected [T, B, features] (time-major)", op,
                            shape_str(x.shape())));
  if (x.shape()[0] == 0 || x.shape()[1] == 0)
    throw Error(
        fmt::format("{}: input {} is empty: the sequence needs at least one step and one "
                    "batch element",
                    op, shape_str(x.shape())));
  if (layers.empty()) throw Error(fmt::format("{}: no layers given", op));
  const int64_t L = static_cast<int64_t>(layers.size()), B = x.shape()[1];
  const int64_t G = gate_count(mode);
  if (!layers[0].w_hh.defined() || layers[0].w_hh.dim() != 2)
    throw Error(fmt::format("{}: weight_hh_l0 must be a [{}*hidden, hidden] matrix", op, G));
  const int64_t H = layers[0].w_hh.shape()[1];
  for (int64_t l = 0; l < L; ++l) {
    const RnnWeights& w = layers[l];
    const int64_t in = l == 0 ? x.shape()[2] : H;
    auto check = [&](const Tensor& t, const char* name, const Shape& want, bool optional) {
      if (optional && !t.defined()) return;
      if (!t.defined()) throw Error(fmt::format("{}: {}_l{} is missing", op, name, l));
      check_float(t, op, name);
      check_same_device(x, t, op);
      if (t.shape() != want)
        throw Error(fmt::format("{}: {}_l{} has shape {}, expected {}", op, name, l,
                                shape_str(t.shape()), shape_str(want)));
    };
    check(w.w_ih, "weight_ih", {G * H, in}, false);
    check(w.w_hh, "weight_hh", {G * H, H}, false);
    check(w.b_ih, "bias_ih", {G * H}, true);
    check(w.b_hh, "bias_hh", {G * H}, true);
  }
  const Shape state_shape{L, B, H};
  check_state(h0_in, op, "h0", state_shape);
  check_state(c0_in, op, "c0", state_shape);
  const Tensor zero_state = (!h0_in.defined() || (mode == RnnMode::Lstm && !c0_in.defined()))
                                ? zeros({B, H}, x.options())
                                : Tensor();
  const Tensor zero_bias = (!layers[0].b_ih.defined() || !layers[0].b_hh.defined())
                               ? zeros({G * H}, x.options())
                               : Tensor();
  RnnOutput out;
  std::vector<Tensor> hs, cs;
  Tensor input = x;
  for (int64_t l = 0; l < L; ++l) {
    if (l > 0) input = dropout(input, drop.p, drop.training, drop.gen);
    const RnnWeights& w = layers[l];
    const Tensor h0 = h0_in.defined() ? h0_in.slice(0, l, l + 1).squeeze(0) : zero_state;
    Tensor c0;
    if (mode == RnnMode::Lstm)
      c0 = c0_in.defined() ? c0_in.slice(0, l, l + 1).squeeze(0) : zero_state;
    LayerResult r =
        run_layer(mode, input, h0, c0, w.w_ih, w.w_hh, w.b_ih.defined() ? w.b_ih : zero_bias,
                  w.b_hh.defined() ? w.b_hh : zero_bias);
    input = r.y;
    hs.push_back(r.h.unsqueeze(0));
    if (r.c.defined()) cs.push_back(r.c.unsqueeze(0));
  }
  out.output = input;
  out.h_n = L == 1 ? hs[0] : cat(hs, 0);
  if (!cs.empty()) out.c_n = L == 1 ? cs[0] : cat(cs, 0);
  return out;
}

}  // namespace

RnnOutput rnn(const Tensor& x, const Tensor& h0, const std::vector<RnnWeights>& layers, bool relu,
              RnnDropout dropout) {
  return run(relu ? RnnMode::Relu : RnnMode::Tanh, x, h0, Tensor(), layers, dropout);
}

RnnOutput lstm(const Tensor& x, const Tensor& h0, const Tensor& c0,
               const std::vector<RnnWeights>& layers, RnnDropout dropout) {
  return run(RnnMode::Lstm, x, h0, c0, layers, dropout);
}

RnnOutput gru(const Tensor& x, const Tensor& h0, const std::vector<RnnWeights>& layers,
              RnnDropout dropout) {
  return run(RnnMode::Gru, x, h0, Tensor(), layers, dropout);
}

}  // namespace gom
