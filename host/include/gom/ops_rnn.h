// gom/ops_rnn.h — recurrent ops (vanilla RNN, LSTM, GRU) over whole sequences.
#pragma once

#include "gom/tensor.h"

namespace gom {}  // namespace gom
