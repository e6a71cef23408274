// Shape ops: views that share storage where the layout allows, copies where it does not.
#include <fmt/format.h>

#include "ops_internal.h"

namespace gom {

namespace detail {

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  if (d < -n || d >= n)
    throw Error(fmt::format("{}: dimension {} out of range for a {}-d tensor (expected {} to {})",
                            op, d, ndim, -n, n - 1));
  return d < 0 ? d + n : d;
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  // Every view must stay inside its storage: its last element, computed without overflow, is
  // checked against the storage's size (a wrapped size or offset would read memory it does not
  // own). shape_numel refuses a shape whose element count overflows.
  for (int64_t d : shape)
    if (d < 0) throw Error(fmt::format("view of shape {}: negative size", shape_str(shape)));
  if (shape_numel(shape) > 0) {
    int64_t last = offset, step = 0;
    bool ok = offset >= 0;
    for (size_t i = 0; ok && i < shape.size(); ++i)
      ok = strides[i] >= 0 && !__builtin_mul_overflow(shape[i] - 1, strides[i], &step) &&
           !__builtin_add_overflow(last, step, &last);
    const int64_t have = int64_t(base.storage()->nbytes() / dtype_size(base.dtype()));
    if (!ok || last >= have)
      throw Error(fmt::format("view of shape {} (strides {}, offset {}) does not fit its storage of "
                              "{} elements",
                              shape_str(shape), shape_str(strides), offset, have));
  }
  auto im = std::make_shared<TensorImpl>();
  im->storage = base.storage();
  im->shape = std::move(shape);
  im->strides = std::move(strides);
  im->offset = offset;
  im->dtype = base.dtype();
  return Tensor(std::move(im));
}

Tensor raw_expand(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const size_t pad = shape.size() - t.shape().size();
  Shape st(shape.size(), 0);
  for (size_t i = 0; i < t.shape().size(); ++i)
    st[pad + i] = t.shape()[i] == shape[pad + i] ? t.strides()[i] : 0;
  return make_view(t, shape, std::move(st), t.offset());
}

void check_float(const Tensor& t, const char* op, const char* arg) {
  if (t.dtype() != DType::F32)
    throw Error(fmt::format("{}: {} must be f32, got {}", op, arg, dtype_name(t.dtype())));
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  if (a.device() != b.device())
    throw Error(
        fmt::format("{}: tensors are on different devices ({} and {}); move one with "
                    ".to(device)",
                    op, a.device().str(), b.device().str()));
}

}  // namespace detail

using namespace detail;

namespace {

// Strides that let `shape` view data laid out as (old_shape, old_strides) without a copy, or
// nothing when the layout does not allow it (PyTorch's computeStride).
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides,
                                  const Shape& shape) {
  if (old_shape.empty() || shape_numel(old_shape) == 0) return contiguous_strides(shape);
  Shape st(shape.size());
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();  // stride of the innermost dim of a chunk
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    // A chunk ends where the next-outer dim is not laid out right after this one.
    if (d == 0 ||
        (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        st[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return st;
}

Shape infer_shape(Shape shape, int64_t numel, const Shape& from) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) throw Error("reshape: only one dimension can be -1, got " + shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else if (shape[i] < 0) {
      throw Error("reshape: invalid dimension in " + shape_str(shape));
    } else if (__builtin_mul_overflow(known, shape[i], &known)) {
      throw Error(fmt::format("reshape: shape {} is too large: its number of elements overflows "
                              "64 bits",
                              shape_str(shape)));
    }
  }
  if (infer >= 0 && known > 0 && numel % known == 0) shape[infer] = numel / known;
  if (shape_numel(shape) != numel || (infer >= 0 && known == 0))
    throw Error(fmt::format("reshape: cannot view a tensor of shape {} ({} elements) as {}",
                            shape_str(from), numel, shape_str(shape)));
  return shape;
}

}  // namespace

Tensor reshape(const Tensor& a, const Shape& requested) {
  const Shape shape = infer_shape(requested, a.numel(), a.shape());
  Tensor out;
  if (auto st = view_strides(a.shape(), a.strides(), shape))
    out = make_view(a, shape, *st, a.offset());
  else
    out = make_view(a.clone().detach(), shape, contiguous_strides(shape), 0);
  if (needs_grad({&a}))
    record("reshape", {a}, {out}, [s = a.shape()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{reshape(g[0], s)};
    });
  return out;
}

Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) {
  d0 = wrap_dim(d0, a.dim(), "transpose");
  d1 = wrap_dim(d1, a.dim(), "transpose");
  Shape sh = a.shape(), st = a.strides();
  if (a.dim() > 0) {
    std::swap(sh[d0], sh[d1]);
    std::swap(st[d0], st[d1]);
  }
  Tensor out = make_view(a, sh, st, a.offset());
  if (needs_grad({&a}))
    record("transpose", {a}, {out}, [d0, d1](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{transpose(g[0], d0, d1)};
    });
  return out;
}

Tensor flatten(const Tensor& a, int64_t start, int64_t end) {
  if (a.dim() == 0) return reshape(a, {1});
  start = wrap_dim(start, a.dim(), "flatten");
  end = wrap_dim(end, a.dim(), "flatten");
  if (start > end) throw Error("flatten: start_dim must not come after end_dim");
  Shape sh(a.shape().begin(), a.shape().begin() + start);
  int64_t n = 1;
  for (int64_t i = start; i <= end; ++i) n *= a.shape()[i];
  sh.push_back(n);
  sh.insert(sh.end(), a.shape().begin() + end + 1, a.shape().end());
  return reshape(a, sh);
}

Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step) {
  dim = wrap_dim(dim, a.dim(), "slice");
  if (step <= 0) throw Error(fmt::format("slice: step must be positive, got {}", step));
  const int64_t n = a.shape()[dim];
  // Python's rules: negative indices count from the end, out-of-range ones clamp.
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sh = a.shape(), st = a.strides();
  sh[dim] = end == start ? 0 : (end - start - 1) / step + 1;  // no overflow for a huge step
  if (sh[dim] > 1) st[dim] *= step;  // then step < n, so the product stays inside the storage
  Tensor out = make_view(a, sh, st, a.offset() + start * a.strides()[dim]);
  if (needs_grad({&a}))
    record("slice", {a}, {out},
           [s = a.shape(), dim, start, end, step](const std::vector<Tensor>& g) {
             Tensor z = zeros(s, g[0].options());
             Tensor part = slice(z, dim, start, end, step);
             copy_(part, g[0]);
             return std::vector<Tensor>{z};
           });
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape sh = shape(), st = strides();
  const int64_t s = d < dim() ? st[d] * sh[d] : 1;
  sh.insert(sh.begin() + d, 1);
  st.insert(st.begin() + d, s);
  Tensor out = make_view(*this, sh, st, offset());
  if (needs_grad({this}))
    record("unsqueeze", {*this}, {out}, [s0 = shape()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{gom::reshape(g[0], s0)};
    });
  return out;
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (dim() == 0 || shape()[d] != 1) return *this;
  Shape sh = shape(), st = strides();
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, sh, st, offset());
  if (needs_grad({this}))
    record("squeeze", {*this}, {out}, [s0 = shape()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{gom::reshape(g[0], s0)};
    });
  return out;
}

Tensor expand(const Tensor& a, const Shape& requested) {
  if (requested.size() < a.shape().size())
    throw Error(fmt::format("expand: cannot expand shape {} to fewer dimensions {}",
                            shape_str(a.shape()), shape_str(requested)));
  Shape shape = requested;
  const size_t pad = shape.size() - a.shape().size();
  for (size_t i = 0; i < shape.size(); ++i) {
    const int64_t have = i < pad ? 1 : a.shape()[i - pad];
    if (shape[i] == -1) shape[i] = have;
    if (have != 1 && have != shape[i])
      throw Error(fmt::format("expand: shape {} cannot be expanded to {} (dimension {})",
                              shape_str(a.shape()), shape_str(requested), i));
  }
  Tensor out = raw_expand(a, shape);
  if (out.same(a)) return a;
  if (needs_grad({&a}))
    record("expand", {a}, {out}, [s = a.shape()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{sum_to(g[0], s)};
    });
  return out;
}

Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  if (ts.empty()) throw Error("cat: expected at least one tensor");
  const Tensor& first = ts[0];
  dim = wrap_dim(dim, first.dim(), "cat");
  Shape sh = first.shape();
  sh[dim] = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    check_same_device(first, t, "cat");
    bool ok = t.dim() == first.dim() && t.dtype() == first.dtype();
    for (int64_t d = 0; ok && d < t.dim(); ++d) ok = d == dim || t.shape()[d] == first.shape()[d];
    if (!ok)
      throw Error(
          fmt::format("cat: tensor {} has shape {} ({}), which does not match {} ({}) "
                      "outside dimension {}",
                      i, shape_str(t.shape()), dtype_name(t.dtype()), shape_str(first.shape()),
                      dtype_name(first.dtype()), dim));
    sh[dim] += t.shape()[dim];
  }
  Tensor out = empty_as(sh, first);
  std::vector<int64_t> starts;
  int64_t at = 0;
  {
    NoGrad ng;
    for (const Tensor& t : ts) {
      starts.push_back(at);
      Tensor part = slice(out, dim, at, at + t.shape()[dim]);
      copy_(part, t);
      at += t.shape()[dim];
    }
  }
  if (needs_grad(ts))
    record("cat", ts, {out}, [dim, starts, at](const std::vector<Tensor>& g) {
      std::vector<Tensor> gs;
      for (size_t i = 0; i < starts.size(); ++i)
        gs.push_back(slice(g[0], dim, starts[i], i + 1 < starts.size() ? starts[i + 1] : at));
      return gs;
    });
  return out;
}

}  // namespace gom
