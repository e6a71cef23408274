// Helpers shared by the op implementations (core-internal).
#pragma once

#include "autograd_internal.h"
#include "gom/kernel.h"
#include "gom/ops.h"

namespace gom::detail {

/// Maps a possibly negative dim into [0, ndim); throws naming the op.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);
/// A view of `base`'s storage with the given layout; records nothing.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
/// `t` broadcast to `shape` (left-padded, stride 0 where stretched); records nothing.
Tensor raw_expand(const Tensor& t, const Shape& shape);
void check_float(const Tensor& t, const char* op, const char* arg);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
/// A new contiguous tensor shaped like `shape` with `t`'s options.
inline Tensor empty_as(const Shape& shape, const Tensor& t) {
  return Tensor::empty(shape, t.options());
}

}  // namespace gom::detail
