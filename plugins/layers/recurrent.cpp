// rnn, lstm, gru: stacked recurrent layers as torch.nn.RNN/LSTM/GRU (same parameter names,
// shapes, gate order and default init), on the whole-sequence ops of gom/ops_rnn.h.
//
// forward(x) returns the output sequence only, so the layer sits in a sequential before a
// linear; forward_state gives the final state too. A stateful layer carries its final state,
// cut from the graph, into the next forward (truncated backpropagation through time) when the
// batch size matches, and starts from zeros otherwise or after reset_state().
#include <fmt/format.h>

#include <cmath>

#include "gom/layer.h"
#include "gom/ops.h"
#include "gom/ops_rnn.h"
#include "init.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

class RecurrentLayer : public Recurrent {
 public:
  RecurrentLayer(const Params& p, RnnMode mode)
      : mode_(mode),
        input_size_(p.i("input_size")),
        hidden_(p.i("hidden_size")),
        layers_(p.i("num_layers")),
        batch_first_(p.b("batch_first")),
        stateful_(p.b("stateful")),
        dropout_(p.f("dropout")) {
    if (mode_ == RnnMode::Tanh && p.s("nonlinearity") == "relu") mode_ = RnnMode::Relu;
    const int64_t G = mode_ == RnnMode::Lstm ? 4 : mode_ == RnnMode::Gru ? 3 : 1;
    const std::string& how = p.s("init");
    // PyTorch: every weight and bias from U(-1/sqrt(hidden), 1/sqrt(hidden)).
    const double k = 1.0 / std::sqrt(double(hidden_));
    auto weight = [&](const std::string& name, int64_t in) {
      Tensor w = Tensor::empty({G * hidden_, in});
      if (how == "default")
        uniform_(w, -k, k);
      else
        init_weight(w, how, in, G * hidden_);
      return register_parameter(name, w);
    };
    auto bias = [&](const std::string& name) {
      Tensor b = Tensor::empty({G * hidden_});
      if (how == "zeros")
        zero_(b);
      else
        uniform_(b, -k, k);
      return register_parameter(name, b);
    };
    for (int64_t l = 0; l < layers_; ++l) {
      const std::string s = "_l" + std::to_string(l);
      RnnWeights w;
      w.w_ih = weight("weight_ih" + s, l == 0 ? input_size_ : hidden_);
      w.w_hh = weight("weight_hh" + s, hidden_);
      if (p.b("bias")) {
        w.b_ih = bias("bias_ih" + s);
        w.b_hh = bias("bias_hh" + s);
      }
      weights_.push_back(w);
    }
  }

  std::pair<Tensor, std::vector<Tensor>> forward_state(const Tensor& x,
                                                       const std::vector<Tensor>& state) override {
    check_input(x);
    const int64_t B = x.shape()[batch_first_ ? 0 : 1];
    const size_t want = mode_ == RnnMode::Lstm ? 2 : 1;
    if (!state.empty() && state.size() != want)
      throw Error(fmt::format("{}: the state is {} tensor(s); expected {} ({})", name(),
                              state.size(), want, want == 2 ? "h0, c0" : "h0"));
    const Shape shape{layers_, B, hidden_};
    for (size_t i = 0; i < state.size(); ++i)
      if (!state[i].defined() || state[i].shape() != shape)
        throw Error(fmt::format("{}: {} has shape {}; expected {} (num_layers, batch, hidden)",
                                name(), i == 0 ? "h0" : "c0",
                                state[i].defined() ? shape_str(state[i].shape()) : "undefined",
                                shape_str(shape)));
    const Tensor xt = batch_first_ ? transpose(x, 0, 1) : x;
    const Tensor h0 = state.empty() ? Tensor() : state[0];
    const RnnDropout drop{dropout_, is_training(), nullptr};
    RnnOutput r;
    if (mode_ == RnnMode::Lstm)
      r = lstm(xt, h0, state.empty() ? Tensor() : state[1], weights_, drop);
    else if (mode_ == RnnMode::Gru)
      r = gru(xt, h0, weights_, drop);
    else
      r = rnn(xt, h0, weights_, mode_ == RnnMode::Relu, drop);
    std::vector<Tensor> final_state{r.h_n};
    if (r.c_n.defined()) final_state.push_back(r.c_n);
    return {batch_first_ ? transpose(r.output, 0, 1) : r.output, final_state};
  }

  Tensor forward(const Tensor& x) override {
    check_input(x);
    const int64_t B = x.shape()[batch_first_ ? 0 : 1];
    std::vector<Tensor> start;
    if (stateful_ && !carried_.empty() && carried_[0].shape()[1] == B) start = carried_;
    auto [out, state] = forward_state(x, start);
    if (stateful_) {
      carried_.clear();
      for (const Tensor& s : state) carried_.push_back(s.detach());
    }
    return out;
  }

  void reset_state() override {
    carried_.clear();
    Module::reset_state();
  }

 private:
  const char* name() const {
    return mode_ == RnnMode::Lstm ? "lstm" : mode_ == RnnMode::Gru ? "gru" : "rnn";
  }

  void check_input(const Tensor& x) const {
    if (x.dim() != 3)
      throw Error(fmt::format(
          "{}: input {} must have 3 dims, {}", name(), shape_str(x.shape()),
          batch_first_ ? "[batch, time, features] (batch_first)" : "[time, batch, features]"));
    if (x.shape()[2] != input_size_)
      throw Error(fmt::format("{}: input {} has {} features, the layer expects {}", name(),
                              shape_str(x.shape()), x.shape()[2], input_size_));
  }

  RnnMode mode_;
  int64_t input_size_, hidden_, layers_;
  bool batch_first_, stateful_;
  double dropout_;
  std::vector<RnnWeights> weights_;
  std::vector<Tensor> carried_;  // the stateful layer's final state, detached
};

namespace {

Schema recurrent_schema(bool with_nonlinearity) {
  Schema s;
  s.integer("input_size", "features of each step's input").required().min(1);
  s.integer("hidden_size", "features of the hidden state").required().min(1);
  s.integer("num_layers", "stacked layers").def(1).min(1);
  if (with_nonlinearity)
    s.choice("nonlinearity", {"tanh", "relu"}, "the cell's activation").def("tanh");
  s.boolean("bias", "learn the biases b_ih and b_hh").def(true);
  s.boolean("batch_first", "input and output are [batch, time, features]").def(false);
  s.number("dropout", "dropout on the outputs of every layer but the last (training)")
      .def(0.0)
      .range(0.0, 0.999999);
  s.boolean("stateful",
            "carry the final state (detached) into the next batch of the same size; "
            "reset_state() and each pass of fit start from zeros")
      .def(false);
  s.choice("init", init_choices(),
           "weight initialisation (default: PyTorch's U(-1/sqrt(hidden), 1/sqrt(hidden)))")
      .def("default");
  return s;
}

}  // namespace

void register_recurrent() {
  register_layer(
      "rnn", "Elman RNN over a sequence (tanh or relu), as torch.nn.RNN", recurrent_schema(true),
      [](const Params& p) { return std::make_shared<RecurrentLayer>(p, RnnMode::Tanh); });
  register_layer(
      "lstm", "long short-term memory over a sequence, as torch.nn.LSTM", recurrent_schema(false),
      [](const Params& p) { return std::make_shared<RecurrentLayer>(p, RnnMode::Lstm); });
  register_layer("gru", "gated recurrent unit over a sequence, as torch.nn.GRU",
                 recurrent_schema(false),
                 [](const Params& p) { return std::make_shared<RecurrentLayer>(p, RnnMode::Gru); });
}

}  // namespace gom_layers
