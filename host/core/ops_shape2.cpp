// More shape ops: select/permute views, stack, flip, roll, pad, repeat, split/chunk, the
// triangles (tril/triu) and the creation ops one_hot, eye, linspace. Most are compositions of
// slice, cat, expand, reshape and index_select, so their backward comes from those ops.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <numeric>

#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

// A 1-d i64 index tensor of `values` on `device`.
Tensor index_tensor(const std::vector<int64_t>& values, Device device) {
  Tensor t = tensor_i64(values, {int64_t(values.size())});
  return device == kCPU ? t : t.to(device);
}

// Each dim of `dims` wrapped and listed once; throws naming `op` on a repeat.
std::vector<int64_t> unique_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  std::vector<bool> seen(size_t(std::max<int64_t>(ndim, 1)), false);
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, ndim, op);
    if (seen[size_t(w)])
      throw Error(fmt::format("{}: dim {} appears more than once in {}", op, d, dims));
    seen[size_t(w)] = true;
    out.push_back(w);
  }
  return out;
}

}  // namespace

Tensor select(const Tensor& a, int64_t dim, int64_t index) {
  if (a.dim() == 0) throw Error("select: a 0-d tensor has no dimension to index");
  dim = wrap_dim(dim, a.dim(), "select");
  const int64_t n = a.shape()[dim];
  if (index < -n || index >= n)
    throw Error(
        fmt::format("select: index {} is out of range for dimension {} of size {} "
                    "(valid: {} to {})",
                    index, dim, n, -n, n - 1));
  if (index < 0) index += n;
  Shape sh = a.shape(), st = a.strides();
  sh.erase(sh.begin() + dim);
  st.erase(st.begin() + dim);
  Tensor out = make_view(a, sh, st, a.offset() + index * a.strides()[dim]);
  if (needs_grad({&a}))
    record("select", {a}, {out}, [s = a.shape(), dim, index](const std::vector<Tensor>& g) {
      Tensor z = zeros(s, g[0].options());
      Tensor part = select(z, dim, index);
      copy_(part, g[0]);
      return std::vector<Tensor>{z};
    });
  return out;
}

Tensor stack(const std::vector<Tensor>& ts, int64_t dim) {
  if (ts.empty()) throw Error("stack: expected at least one tensor");
  dim = wrap_dim(dim, ts[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (ts[i].shape() != ts[0].shape())
      throw Error(fmt::format("stack: tensor {} has shape {}, tensor 0 has {}; all must match", i,
                              shape_str(ts[i].shape()), shape_str(ts[0].shape())));
    parts.push_back(ts[i].unsqueeze(dim));
  }
  return cat(parts, dim);
}

Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  if (int64_t(dims.size()) != a.dim())
    throw Error(
        fmt::format("permute: {} dims given for a {}-d tensor of shape {}; name each dim "
                    "once",
                    dims.size(), a.dim(), shape_str(a.shape())));
  const std::vector<int64_t> p = unique_dims(dims, a.dim(), "permute");
  Shape sh(p.size()), st(p.size());
  std::vector<int64_t> inverse(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    sh[i] = a.shape()[p[i]];
    st[i] = a.strides()[p[i]];
    inverse[p[i]] = int64_t(i);
  }
  Tensor out = make_view(a, sh, st, a.offset());
  if (needs_grad({&a}))
    record("permute", {a}, {out}, [inverse](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{permute(g[0], inverse)};
    });
  return out;
}

Tensor flip(const Tensor& a, const std::vector<int64_t>& dims) {
  Tensor out = a;
  for (int64_t d : unique_dims(dims, a.dim(), "flip")) {
    std::vector<int64_t> idx(size_t(a.shape()[d]));
    std::iota(idx.rbegin(), idx.rend(), 0);
    out = index_select(out, d, index_tensor(idx, a.device()));
  }
  return out.same(a) ? a.clone() : out;
}

Tensor roll(const Tensor& a, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  if (dims.empty()) {
    if (shifts.size() != 1)
      throw Error(fmt::format("roll: without dims, give one shift (got {})", shifts));
    return reshape(roll(flatten(a), shifts, {0}), a.shape());
  }
  if (shifts.size() != dims.size())
    throw Error(fmt::format("roll: shifts {} and dims {} must have the same length", shifts, dims));
  Tensor out = a;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], a.dim(), "roll"), n = a.dim() == 0 ? 1 : a.shape()[d];
    const int64_t s = n == 0 ? 0 : ((shifts[i] % n) + n) % n;
    if (s == 0 || a.dim() == 0) continue;
    out = cat({slice(out, d, n - s, n), slice(out, d, 0, n - s)}, d);
  }
  return out.same(a) ? a.clone() : out;
}

namespace {

// Source position of each output position of a dim of size n padded by (before, after).
std::vector<int64_t> pad_source(int64_t n, int64_t before, int64_t after, PadMode mode) {
  std::vector<int64_t> idx;
  for (int64_t j = -before; j < n + after; ++j) {
    int64_t k = j;
    if (mode == PadMode::Reflect)
      k = j < 0 ? -j : (j >= n ? 2 * (n - 1) - j : j);
    else if (mode == PadMode::Replicate)
      k = std::clamp<int64_t>(j, 0, n - 1);
    else
      k = ((j % n) + n) % n;
    idx.push_back(k);
  }
  return idx;
}

Tensor pad_constant(const Tensor& a, const std::vector<int64_t>& pads, double value) {
  // Negative pads crop first (a slice); then the positive ones grow a filled tensor.
  Tensor src = a;
  Shape sh = a.shape();
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int64_t d = a.dim() - 1 - int64_t(k), n = sh[d];
    const int64_t lo = std::max<int64_t>(0, -pads[2 * k]),
                  hi = std::max<int64_t>(0, -pads[2 * k + 1]);
    if (lo + hi > n)
      throw Error(fmt::format("pad: pads {} crop more than dimension {} of shape {} holds", pads, d,
                              shape_str(a.shape())));
    if (lo + hi > 0) src = slice(src, d, lo, n - hi);
    sh[d] = n + pads[2 * k] + pads[2 * k + 1];
  }
  if (sh == src.shape()) return src.same(a) ? a.clone() : src;
  Tensor out = full(sh, value, a.options());
  // The interior: where src lands in out.
  auto interior = [pads, nd = a.dim(), sh_src = src.shape()](const Tensor& t) {
    Tensor v = t;
    for (size_t k = 0; k < pads.size() / 2; ++k) {
      const int64_t d = nd - 1 - int64_t(k), lo = std::max<int64_t>(0, pads[2 * k]);
      v = slice(v, d, lo, lo + sh_src[d]);
    }
    return v;
  };
  {
    NoGrad ng;
    Tensor part = interior(out);
    copy_(part, src);
  }
  if (needs_grad({&src}))
    record("pad", {src}, {out}, [interior](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{interior(g[0])};
    });
  return out;
}

}  // namespace

Tensor pad(const Tensor& a, const std::vector<int64_t>& pads, PadMode mode, double value) {
  if (pads.size() % 2 != 0 || int64_t(pads.size() / 2) > a.dim())
    throw Error(
        fmt::format("pad: expected (before, after) pairs for at most the {} dims of shape "
                    "{}, last dim first; got {}",
                    a.dim(), shape_str(a.shape()), pads));
  if (mode == PadMode::Constant) return pad_constant(a, pads, value);
  if (pads.size() > 6)
    throw Error(
        fmt::format("pad: reflect, replicate and circular pad at most the last 3 dims, "
                    "got {} pads",
                    pads.size()));
  Tensor out = a;
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int64_t d = a.dim() - 1 - int64_t(k), n = a.shape()[d];
    const int64_t before = pads[2 * k], after = pads[2 * k + 1];
    const int64_t limit = mode == PadMode::Reflect ? n - 1 : mode == PadMode::Circular ? n : -1;
    if (before < 0 || after < 0 || n == 0 || (limit >= 0 && (before > limit || after > limit)))
      throw Error(
          fmt::format("pad: {} padding ({}, {}) of dimension {} of size {} (shape {}) "
                      "is not accepted: pads must be >= 0{}",
                      mode == PadMode::Reflect    ? "reflect"
                      : mode == PadMode::Circular ? "circular"
                                                  : "replicate",
                      before, after, d, n, shape_str(a.shape()),
                      mode == PadMode::Reflect    ? " and smaller than the dim"
                      : mode == PadMode::Circular ? " and at most the dim"
                                                  : " on a non-empty dim"));
    if (before == 0 && after == 0) continue;
    out = index_select(out, d, index_tensor(pad_source(n, before, after, mode), a.device()));
  }
  return out.same(a) ? a.clone() : out;
}

Tensor repeat(const Tensor& a, const std::vector<int64_t>& reps) {
  if (int64_t(reps.size()) < a.dim())
    throw Error(
        fmt::format("repeat: {} repeats given for a {}-d tensor of shape {}; give at "
                    "least one per dim",
                    reps.size(), a.dim(), shape_str(a.shape())));
  const size_t lead = reps.size() - size_t(a.dim());
  // a seen as [1, s0, 1, s1, ...], expanded to [r0, s0, r1, s1, ...], then merged pairwise.
  Shape inter, expanded, final_shape;
  for (size_t i = 0; i < reps.size(); ++i) {
    if (reps[i] < 0) throw Error(fmt::format("repeat: negative repeat in {}", reps));
    const int64_t s = i < lead ? 1 : a.shape()[i - lead];
    inter.insert(inter.end(), {1, s});
    expanded.insert(expanded.end(), {reps[i], s});
    final_shape.push_back(reps[i] * s);
  }
  return reshape(expand(reshape(a, inter), expanded), final_shape);
}

std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim) {
  dim = wrap_dim(dim, a.dim(), "split");
  const int64_t n = a.dim() == 0 ? 0 : a.shape()[dim];
  int64_t total = 0;
  for (int64_t s : sizes) total += s < 0 ? n + 1 : s;  // a negative size can never add up
  if (total != n)
    throw Error(
        fmt::format("split: sizes {} must be >= 0 and sum to the size {} of dimension {} "
                    "(shape {})",
                    sizes, n, dim, shape_str(a.shape())));
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(slice(a, dim, at, at + s));
    at += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& a, int64_t split_size, int64_t dim) {
  dim = wrap_dim(dim, a.dim(), "split");
  const int64_t n = a.dim() == 0 ? 0 : a.shape()[dim];
  if (split_size <= 0 && n > 0)
    throw Error(fmt::format("split: split_size must be positive, got {}", split_size));
  std::vector<int64_t> sizes;
  for (int64_t at = 0; at < n; at += split_size) sizes.push_back(std::min(split_size, n - at));
  if (sizes.empty()) sizes.push_back(0);
  return split(a, sizes, dim);
}

std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim) {
  if (chunks <= 0) throw Error(fmt::format("chunk: chunks must be positive, got {}", chunks));
  dim = wrap_dim(dim, a.dim(), "chunk");
  const int64_t n = a.dim() == 0 ? 0 : a.shape()[dim];
  return split(a, std::max<int64_t>((n + chunks - 1) / chunks, 1), dim);
}

namespace {

Tensor triangle(const Tensor& a, int64_t diagonal, bool upper) {
  const char* op = upper ? "triu" : "tril";
  if (a.dim() < 2)
    throw Error(fmt::format("{}: expected a tensor of at least 2 dims, got shape {}", op,
                            shape_str(a.shape())));
  Tensor out = empty_as(a.shape(), a);
  run_kernel("triangle", {a}, {out}, {{"diagonal", diagonal}, {"upper", int64_t(upper)}});
  if (needs_grad({&a}))
    record(op, {a}, {out}, [diagonal, upper](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{upper ? triu(g[0], diagonal) : tril(g[0], diagonal)};
    });
  return out;
}

}  // namespace

Tensor tril(const Tensor& a, int64_t diagonal) {
  return triangle(a, diagonal, false);
}
Tensor triu(const Tensor& a, int64_t diagonal) {
  return triangle(a, diagonal, true);
}

Tensor one_hot(const Tensor& index, int64_t num_classes) {
  if (index.dtype() != DType::I64)
    throw Error(
        fmt::format("one_hot: expected i64 class indices, got {}", dtype_name(index.dtype())));
  const std::vector<int64_t> v = index.to(kCPU).contiguous().to_vector<int64_t>();
  if (num_classes < 0) {
    if (v.empty()) throw Error("one_hot: cannot infer num_classes from an empty tensor");
    num_classes = *std::max_element(v.begin(), v.end()) + 1;
  }
  for (int64_t c : v)
    if (c < 0 || c >= num_classes)
      throw Error(fmt::format("one_hot: class {} is outside [0, {}) (num_classes {})", c,
                              num_classes, num_classes));
  Shape sh = index.shape();
  sh.push_back(num_classes);
  Shape col = index.shape();
  col.push_back(1);
  NoGrad ng;
  return scatter_add(zeros(sh, {DType::I64, index.device()}), -1, index.reshape(col),
                     ones(col, {DType::I64, index.device()}));
}

Tensor eye(int64_t n, int64_t m, TensorOptions opts) {
  if (m < 0) m = n;
  if (n < 0) throw Error(fmt::format("eye: n must be >= 0, got {}", n));
  std::vector<float> v(size_t(n * m), 0.0f);
  for (int64_t i = 0; i < std::min(n, m); ++i) v[size_t(i * m + i)] = 1.0f;
  Tensor t = tensor(v, {n, m});
  if (opts.dtype != DType::F32) t = t.to(opts.dtype);
  return opts.device == kCPU ? t : t.to(opts.device);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts) {
  if (steps < 0) throw Error(fmt::format("linspace: steps must be >= 0, got {}", steps));
  // PyTorch's form: the first half counts up from start, the second down from end, so both
  // ends are exact.
  if (steps == 1) end = start;  // the one value is start
  const double step = steps > 1 ? (end - start) / double(steps - 1) : 0.0;
  std::vector<double> v(static_cast<size_t>(steps));
  for (int64_t i = 0; i < steps; ++i)
    v[size_t(i)] = i < steps / 2 ? start + double(i) * step : end - double(steps - 1 - i) * step;
  Tensor t;
  if (opts.dtype == DType::F32)
    t = tensor(std::vector<float>(v.begin(), v.end()), {steps});
  else
    t = tensor_i64(std::vector<int64_t>(v.begin(), v.end()), {steps}).to(opts.dtype);
  return opts.device == kCPU ? t : t.to(opts.device);
}

}  // namespace gom
