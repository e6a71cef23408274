// gom/gom.h — the whole SDK in one include.
#pragma once

#include "gom/autograd.h"
#include "gom/error.h"
#include "gom/kernel.h"
#include "gom/ops.h"
#include "gom/plugin.h"
#include "gom/tensor.h"
