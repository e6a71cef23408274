// Shared pieces of the oneDNN backend: engine and stream, memory descriptors of gom tensors,
// the per-kernel primitive cache, and a strided loop for what oneDNN has no primitive for.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "gom/autograd.h"
#include "gom/kernel.h"
#include "gom/tensor.h"

namespace gom::onednn {

dnnl::engine& engine();
/// One stream per thread: the prefetch thread and the main thread may both run kernels.
dnnl::stream& stream();

/// The tensor's layout as a oneDNN descriptor (a 0-d tensor becomes [1]). `dims` overrides the
/// shape where a primitive wants broadcast dims expressed as 1.
dnnl::memory::desc md_of(const Tensor& t);
dnnl::memory::desc md_with(const Tensor& t, const Shape& dims, const Shape& strides);
dnnl::memory mem_of(const dnnl::memory::desc& md, const Tensor& t);
dnnl::memory::data_type dt_of(DType t);

/// Whether oneDNN can describe `t`'s layout: its memory descriptors need nested strides (each
/// dim's stride at least the next-smaller stride times that dim's size), which a stepped slice
/// of a transposed view, say, does not have.
bool dnnl_layout_ok(const Tensor& t);

/// `t` itself when contiguous, else a dense copy (graph off: kernels never record).
Tensor dense(const Tensor& t);

/// The cache key of a primitive: shapes, strides and small integers, kept inline (no heap
/// allocation up to kInline values, a spill vector beyond) with a running hash.
class Key {
 public:
  static constexpr size_t kInline = 48;
  Key& add(int64_t v) {
    if (n_ < kInline)
      inline_[n_] = v;
    else
      spill_.push_back(v);
    ++n_;
    // boost::hash_combine's mixing, on the 64-bit value.
    hash_ ^= static_cast<size_t>(v) + 0x9e3779b97f4a7c15ULL + (hash_ << 6) + (hash_ >> 2);
    return *this;
  }
  Key& add(const Shape& v) {
    add(static_cast<int64_t>(v.size()));
    for (int64_t x : v) add(x);
    return *this;
  }
  Key& add(const Tensor& t) { return add(t.shape()).add(t.strides()).add(int64_t(t.dtype())); }
  size_t hash() const { return hash_; }
  size_t size() const { return n_; }
  friend bool operator==(const Key& a, const Key& b) {
    return a.n_ == b.n_ && a.hash_ == b.hash_ &&
           std::equal(a.inline_.begin(), a.inline_.begin() + std::min(a.n_, kInline),
                      b.inline_.begin()) &&
           a.spill_ == b.spill_;
  }

 private:
  std::array<int64_t, kInline> inline_;
  size_t n_ = 0;
  size_t hash_ = 0;
  std::vector<int64_t> spill_;
};

struct KeyHash {
  size_t operator()(const Key& k) const { return k.hash(); }
};

/// Primitives built once per (shapes, strides, attributes) and reused: building a primitive
/// descriptor costs far more than running a small primitive. Lookups share the lock; only a
/// miss (building a primitive) takes it exclusively.
template <class Entry>
class PrimitiveCache {
 public:
  template <class Make>
  const Entry& get(const Key& key, Make&& make) {
    {
      std::shared_lock lock(mu_);
      if (auto it = map_.find(key); it != map_.end()) return it->second;
    }
    std::unique_lock lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) it = map_.emplace(key, make()).first;
    return it->second;  // unordered_map never moves its elements
  }

 private:
  std::shared_mutex mu_;
  std::unordered_map<Key, Entry, KeyHash> map_;
};

/// Runs a primitive on this thread's stream. The CPU engine under OpenMP runs it on the
/// calling thread, so it has finished when this returns: no wait is needed.
void execute(const dnnl::primitive& p, const std::unordered_map<int, dnnl::memory>& args);

/// One argument of a primitive: its oneDNN id (DNNL_ARG_SRC), its memory descriptor (kept
/// with the primitive in a cache entry) and the tensor that holds it.
struct Arg {
  int id;
  const dnnl::memory::desc& md;
  const Tensor& t;
};
/// Runs a primitive as execute() does, without creating a dnnl::memory for each argument:
/// each thread keeps one per (primitive, argument) and only points it at the tensor's data.
/// Creating them cost a small op more than its arithmetic (two aligned allocations each).
void execute(const dnnl::primitive& p, std::initializer_list<Arg> args);

/// Registers a CPU kernel. The kernel runs on one thread when its tensors hold fewer than
/// kParallelGrain elements in all. Then oneDNN's primitives (created and run inside it) and
/// parallel_for never fork. On a small model's step, a fork and join cost more than the op.
void register_cpu_kernel(std::string_view op, KernelFn fn, std::string_view provider);

// ---------------------------------------------------------------- strided loops

/// Below this many elements a loop runs on one thread: forking costs more than it saves.
inline constexpr int64_t kParallelGrain = 32768;

/// Runs body(i) for i in [0, n): split over the OpenMP threads when `parallel` is set and
/// there is more than one thread, else as a plain loop. A plain loop never enters an OpenMP
/// region: even a one-thread region (`omp parallel if (false)`) costs libgomp a futex call,
/// which is more than a small op itself.
template <class Body>
void parallel_for(int64_t n, bool parallel, const Body& body) {
  if (parallel && n > 1 && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

/// Calls body(offsets, n, inner_strides) for each innermost run of `shape`, where offsets[k] is
/// the element offset of operand k at the run's start. Dims that are contiguous in every operand
/// are merged first, so dense operands give one long run per thread.
template <size_t N, class Body>
void strided_loop(const Shape& shape, const std::array<const Shape*, N>& strides, Body&& body) {
  // Merge adjacent dims that are laid out consecutively in all operands; drop size-1 dims.
  Shape sh;
  std::array<Shape, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !sh.empty();
    for (size_t k = 0; merge && k < N; ++k) merge = st[k].back() == (*strides[k])[d] * shape[d];
    if (merge) {
      sh.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) st[k].back() = (*strides[k])[d];
    } else {
      sh.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) st[k].push_back((*strides[k])[d]);
    }
  }
  if (sh.empty()) {
    sh.push_back(1);
    for (size_t k = 0; k < N; ++k) st[k].push_back(1);
  }
  const int64_t inner = sh.back();
  std::array<int64_t, N> inner_st;
  for (size_t k = 0; k < N; ++k) inner_st[k] = st[k].back();
  int64_t outer = 1;
  for (size_t d = 0; d + 1 < sh.size(); ++d) outer *= sh[d];
  const int64_t ndo = static_cast<int64_t>(sh.size()) - 1;
  auto run = [&](int64_t o) {
    std::array<int64_t, N> off{};
    int64_t rem = o;
    for (int64_t d = ndo - 1; d >= 0; --d) {
      const int64_t i = rem % sh[d];
      rem /= sh[d];
      for (size_t k = 0; k < N; ++k) off[k] += i * st[k][d];
    }
    body(off, inner, inner_st);
  };
  if (outer == 1 && inner >= kParallelGrain) {
    // One long run: split it into chunks across threads.
    const int64_t chunk = 16384;
    parallel_for((inner + chunk - 1) / chunk, true, [&](int64_t c) {
      std::array<int64_t, N> off;
      for (size_t k = 0; k < N; ++k) off[k] = c * chunk * inner_st[k];
      body(off, std::min(chunk, inner - c * chunk), inner_st);
    });
  } else {
    parallel_for(outer, outer * inner >= kParallelGrain, run);
  }
}

/// A shape seen as [outer, n, inner] around `dim`: the dims before it, it, and those after
/// (all 1 for a 0-d shape). Loops along one dim of a dense tensor index (o * n + k) * inner + i.
struct Split {
  int64_t outer = 1, n = 1, inner = 1;
};
inline Split split(const Shape& s, int64_t dim) {
  Split r;
  if (s.empty()) return r;
  for (int64_t d = 0; d < dim; ++d) r.outer *= s[d];
  r.n = s[dim];
  for (size_t d = dim + 1; d < s.size(); ++d) r.inner *= s[d];
  return r;
}

/// Dispatches on a dtype to a generic lambda taking a typed null pointer.
template <class F>
void visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::F32:
      f(static_cast<float*>(nullptr));
      break;
    case DType::I32:
      f(static_cast<int32_t*>(nullptr));
      break;
    case DType::I64:
      f(static_cast<int64_t*>(nullptr));
      break;
  }
}

// Kernel registration of each file, called by the plugin's entry.
void register_elementwise(const std::string& provider);
void register_binary(const std::string& provider);
void register_copy(const std::string& provider);
void register_matmul(const std::string& provider);
void register_reduce(const std::string& provider);
void register_softmax_loss(const std::string& provider);
void register_index(const std::string& provider);
void register_random(const std::string& provider);
void register_conv(const std::string& provider);        // kernels_conv.cpp: conv2d, pooling
void register_batch_norm(const std::string& provider);  // kernels_batch_norm.cpp
void register_layer_norm(const std::string& provider);  // kernels_layer_norm.cpp
void register_rnn(const std::string& provider);         // kernels_rnn.cpp: rnn, lstm, gru
// kernels_math.cpp: where, cumsum; kernels_linalg.cpp: svd (LAPACKE).
void register_math(const std::string& provider);
void register_linalg(const std::string& provider);

/// The unary ops from UnaryOp::Log1p on (kernels_math.cpp), which `unary` and
/// `unary_backward` hand over: strided loops, f32 only.
void math_unary(UnaryOp op, double alpha, double beta, const Tensor& src, const Tensor& out);
void math_unary_backward(UnaryOp op, double alpha, double beta, const Tensor& grad, const Tensor& x,
                         const Tensor& out);
void register_sort(const std::string& provider);  // kernels_sort.cpp: sort, triangle

}  // namespace gom::onednn
