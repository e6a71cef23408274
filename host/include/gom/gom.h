// gom/gom.h — the whole SDK in one include.
#pragma once

#include "gom/autograd.h"
#include "gom/callback.h"
#include "gom/dataset.h"
#include "gom/error.h"
#include "gom/kernel.h"
#include "gom/layer.h"
#include "gom/metric.h"
#include "gom/ops.h"
#include "gom/ops_conv.h"
#include "gom/ops_norm.h"
#include "gom/ops_rnn.h"
#include "gom/optimizer.h"
#include "gom/params.h"
#include "gom/plugin.h"
#include "gom/safetensors.h"
#include "gom/tensor.h"
