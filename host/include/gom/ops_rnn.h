// gom/ops_rnn.h — recurrent ops (vanilla RNN, LSTM, GRU) over whole sequences.
//
// Each op runs L stacked layers over a time-major sequence x [T, B, in] (batch_first is the
// layer's business: it hands in a transposed view) and returns
// the top layer's outputs [T, B, H] with every layer's final state [L, B, H]. The equations and
// weights are PyTorch's (torch.nn.RNN, LSTM, GRU), so weights interoperate:
//   rnn:  h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh or relu
//   lstm: gates i, f, g, o (in that order in W_ih [4H, in], W_hh [4H, H], b [4H]);
//         c' = f*c + i*g, h' = o*tanh(c')
//   gru:  gates r, z, n; n = tanh(W_in x + b_in + r*(W_hn h + b_hn)); h' = (1-z)*n + z*h
// Every output is differentiable for x, the initial states and every weight and bias. Layer l>0
// takes layer l-1's output, through dropout when dropout > 0 and training.
#pragma once

#include <cstdint>
#include <vector>

#include "gom/ops.h"
#include "gom/tensor.h"

namespace gom {

/// @brief The weights of one layer, in PyTorch's layout: w_ih [G*H, in], w_hh [G*H, H],
/// b_ih and b_hh [G*H], with G = 1 (rnn), 4 (lstm) or 3 (gru). The biases may be undefined
/// (a layer without bias).
struct RnnWeights {
  Tensor w_ih, w_hh, b_ih, b_hh;
};

/// @brief What the recurrent ops return: the top layer's outputs [T, B, H] and the final
/// hidden state h_n [L, B, H] (and the final cell state c_n [L, B, H] for lstm; undefined for
/// rnn and gru).
struct RnnOutput {
  Tensor output, h_n, c_n;
};

/// @brief Dropout between stacked layers (torch's `dropout` argument): applied to the output
/// of every layer but the last when `training`.
struct RnnDropout {
  double p = 0.0;
  bool training = false;
  Generator* gen = nullptr;
};

/// @brief Elman RNN (tanh, or relu when `relu`). h0 [L, B, H] may be undefined (zeros).
RnnOutput rnn(const Tensor& x, const Tensor& h0, const std::vector<RnnWeights>& layers,
              bool relu = false, RnnDropout dropout = {});
/// @brief LSTM. h0 and c0 [L, B, H] may each be undefined (zeros).
RnnOutput lstm(const Tensor& x, const Tensor& h0, const Tensor& c0,
               const std::vector<RnnWeights>& layers, RnnDropout dropout = {});
/// @brief GRU (PyTorch's: the reset gate multiplies W_hn h + b_hn). h0 may be undefined.
RnnOutput gru(const Tensor& x, const Tensor& h0, const std::vector<RnnWeights>& layers,
              RnnDropout dropout = {});

/// @brief The cell kind, the `mode` attribute of the recurrent kernels.
enum class RnnMode : int64_t { Tanh, Relu, Lstm, Gru };

// Kernel contracts of one layer over the whole sequence (attrs mode(i: RnnMode)). Shapes:
// x [T, B, I], states [B, H], w_ih [G*H, I], w_hh [G*H, H], biases [G*H] (zeros when the layer
// has none), all in PyTorch's layout and gate order. Inputs may be strided (x and dy are often
// transposed views of batch-major tensors); outputs are contiguous. c0/c_n/dc0 and the other
// cell-state entries are absent (undefined tensors) for rnn and gru.
//   rnn_workspace  in {x} -> out[0] i64 0-d, on the CPU whatever x's device (a host value: the
//                  core never reads a device back for it): the f32 elements the training
//                  forward's workspace needs for this x and H          attrs mode, hidden(i)
//   rnn_forward    in {x, h0, c0, w_ih, w_hh, b_ih, b_hh}
//                  -> out {y [T,B,H], h_n, c_n, workspace}; workspace undefined: inference,
//                  else training, and it keeps what rnn_backward needs
//   rnn_backward   in {x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, h_n, c_n, workspace, dy, dh_n, dc_n}
//                  -> out {dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh} (overwritten)

}  // namespace gom
