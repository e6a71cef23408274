// gom/ops.h — the op vocabulary. Every op checks its arguments (a bad shape or dtype is a
// gom::Error naming the op and the shapes), dispatches to the kernel of the inputs' device and,
// when the graph is on and an input requires grad, records its backward.
//
// Broadcasting follows NumPy/PyTorch: shapes align from the right; a dimension of 1 stretches.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gom/tensor.h"

namespace gom {

// ---------------------------------------------------------------- random numbers
/// @brief A seeded, counter-based (Philox 4x32-10) random stream. Each fill takes the next
/// `numel` counters, so values depend on the seed and the order of calls, not on threads.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0x9e3779b97f4a7c15ull) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t o) { offset_ = o; }
  /// @brief Reserves `n` counters and returns the first.
  uint64_t take(uint64_t n) {
    uint64_t o = offset_;
    offset_ += (n + 3) / 4 * 4;
    return o;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};
/// @brief The process-wide generator used when none is given.
Generator& default_generator();
/// @brief Seeds the default generator (torch.manual_seed).
void manual_seed(uint64_t seed);

// ---------------------------------------------------------------- creation
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
/// @brief A tensor holding `values` (row-major) with `shape`; the sizes must agree.
Tensor tensor(const std::vector<float>& values, const Shape& shape, Device device = kCPU);
Tensor tensor_i64(const std::vector<int64_t>& values, const Shape& shape, Device device = kCPU);
Tensor tensor_i32(const std::vector<int32_t>& values, const Shape& shape, Device device = kCPU);
/// @brief A 0-d tensor.
Tensor scalar(double value, TensorOptions opts = {});
/// @brief start, start+step, ... below end.
Tensor arange(double start, double end, double step = 1.0, TensorOptions opts = {});
/// @brief Uniform on [0, 1).
Tensor rand(const Shape& shape, Generator* gen = nullptr, TensorOptions opts = {});
/// @brief Standard normal.
Tensor randn(const Shape& shape, Generator* gen = nullptr, TensorOptions opts = {});
/// @brief Integers uniform on [low, high) as i64.
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen = nullptr);

// In-place fills; they record nothing (use them on leaves under NoGrad or before training).
Tensor& uniform_(Tensor& t, double low, double high, Generator* gen = nullptr);
/// @brief 1 with probability p, else 0.
Tensor& bernoulli_(Tensor& t, double p, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);
Tensor& fill_(Tensor& t, double value);
Tensor& zero_(Tensor& t);
/// @brief Copies `src` (broadcast to dst's shape, cast to its dtype) into `dst`.
Tensor& copy_(Tensor& dst, const Tensor& src);

// ---------------------------------------------------------------- elementwise
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
/// @brief alpha * a + beta, in one kernel.
Tensor affine(const Tensor& a, double alpha, double beta);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor pow(const Tensor& a, double exponent);
Tensor neg(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
/// @brief x * Phi(x) with the exact normal CDF (erf); `approximate_tanh` uses torch's
/// approximate="tanh" form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
Tensor gelu(const Tensor& a, bool approximate_tanh = false);
/// @brief x where x >= 0, negative_slope * x elsewhere (torch.nn.functional.leaky_relu).
Tensor leaky_relu(const Tensor& a, double negative_slope = 0.01);
/// @brief log(1 + x), accurate near 0 (torch.log1p).
Tensor log1p(const Tensor& a);
/// @brief exp(x) - 1, accurate near 0 (torch.expm1).
Tensor expm1(const Tensor& a);
/// @brief -1, 0 or 1 by the sign of x (torch.sign); its gradient is 0 everywhere.
Tensor sign(const Tensor& a);
/// @brief min(max(x, min), max) (torch.clamp); either bound may be absent, not both. The
/// gradient passes where min <= x <= max.
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max);
/// @brief x for x > 0, alpha (exp(x) - 1) below (torch.nn.functional.elu).
Tensor elu(const Tensor& a, double alpha = 1.0);
/// @brief scale * elu(x, alpha) with torch's constants alpha = 1.6732632423543772848170429916717
/// and scale = 1.0507009873554804934193349852946 (torch.nn.functional.selu).
Tensor selu(const Tensor& a);
/// @brief log(1 + exp(beta x)) / beta, and x itself where beta x > threshold
/// (torch.nn.functional.softplus).
Tensor softplus(const Tensor& a, double beta = 1.0, double threshold = 20.0);
/// @brief x tanh(softplus(x)) (torch.nn.functional.mish).
Tensor mish(const Tensor& a);
/// @brief 0 for x <= -3, x for x >= 3, x (x + 3) / 6 between (torch.nn.functional.hardswish).
Tensor hardswish(const Tensor& a);
/// @brief x sigmoid(x), also called swish (torch.nn.functional.silu).
Tensor silu(const Tensor& a);
/// @brief Elements of a where cond != 0, else of b; cond, a and b broadcast (torch.where).
/// gom has no bool dtype: cond is an f32 0/1 mask, such as a comparison's result. a and b share
/// a dtype; the gradient flows to a where cond holds and to b elsewhere.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// @brief A copy of t with `value` where mask != 0 (torch.masked_fill); the f32 0/1 mask
/// broadcasts to t's shape. The gradient flows to t where mask is 0.
Tensor masked_fill(const Tensor& t, const Tensor& mask, double value);
/// @brief Comparisons (not differentiable): 1.0 where true, 0.0 where false, as f32. The
/// results are masks for where and masked_fill, and mul(x, mask) zeroes x where false.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);

// In-place updates for optimizers (no graph): t += alpha * other, t *= s.
Tensor& add_(Tensor& t, const Tensor& other, double alpha = 1.0);
Tensor& mul_(Tensor& t, double s);
Tensor& mul_(Tensor& t, const Tensor& other);

// ---------------------------------------------------------------- reductions
/// @brief Sum of all elements (0-d).
Tensor sum(const Tensor& a);
/// @brief Sum over `dims` (negative dims count from the end).
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
/// @brief Maximum over one dim (values; differentiable to the arg-max element).
Tensor max(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);
/// @brief Minimum over one dim (values; differentiable to the arg-min element), as torch.min's
/// values.
Tensor min(const Tensor& a, int64_t dim, bool keepdim = false);
/// @brief Index of the first minimum over one dim, as i64.
Tensor argmin(const Tensor& a, int64_t dim, bool keepdim = false);
/// @brief Variance of all elements (0-d); `unbiased` divides by n - 1 (torch's default), else n.
Tensor var(const Tensor& a, bool unbiased = true);
/// @brief Variance over `dims` (negative dims count from the end), as torch.var.
Tensor var(const Tensor& a, const std::vector<int64_t>& dims, bool unbiased = true,
           bool keepdim = false);
/// @brief sqrt(var(a, unbiased)) of all elements (torch.std).
Tensor std(const Tensor& a, bool unbiased = true);
/// @brief sqrt(var(a, dims, unbiased, keepdim)) (torch.std).
Tensor std(const Tensor& a, const std::vector<int64_t>& dims, bool unbiased = true,
           bool keepdim = false);
/// @brief Running sums along `dim` (torch.cumsum); integer tensors keep their dtype.
Tensor cumsum(const Tensor& a, int64_t dim);
/// @brief Sums `a` down to `shape` (the reverse of broadcasting it there).
Tensor sum_to(const Tensor& a, const Shape& shape);

// ---------------------------------------------------------------- linear algebra
/// @brief U, S and Vh of a = U diag(S) Vh (torch.linalg.svd's names).
struct Svd {
  Tensor U, S, Vh;
};
/// @brief Singular value decomposition of an f32 [..., M, N] tensor (torch.linalg.svd): S
/// [..., K] descending with K = min(M, N); U [..., M, K] and Vh [..., K, N], or [..., M, M] and
/// [..., N, N] with `full_matrices`. Not differentiable: it runs without the graph, and its
/// results do not require grad. Singular vectors are unique only up to sign.
Svd svd(const Tensor& a, bool full_matrices = false);
/// @brief U, S and V of a principal component analysis (torch.pca_lowrank's names).
struct PcaLowrank {
  Tensor U, S, V;
};
/// @brief Principal components of an f32 [..., M, N] tensor like torch.pca_lowrank, but exact
/// (not randomized): the svd of a (minus its column means over dim -2 when `center`) cut to
/// U [..., M, q], S [..., q], V [..., N, q]. q defaults to min(6, M, N). Not differentiable.
PcaLowrank pca_lowrank(const Tensor& a, std::optional<int64_t> q = std::nullopt,
                       bool center = true);

// ---------------------------------------------------------------- shape (views where possible)
Tensor reshape(const Tensor& a, const Shape& shape);
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
Tensor flatten(const Tensor& a, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor expand(const Tensor& a, const Shape& shape);
/// @brief Joins tensors along `dim`; the other dims must agree.
Tensor cat(const std::vector<Tensor>& ts, int64_t dim);
/// @brief The broadcast shape of `a` and `b`; throws naming `op` if they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op = "broadcast");

// ---------------------------------------------------------------- neural-network ops
/// @brief Matrix product: [M,K]x[K,N], batched [..,M,K]x[..,K,N] with broadcast batch dims,
/// and 1-d operands as in numpy.matmul.
Tensor matmul(const Tensor& a, const Tensor& b);
/// @brief x W^T + b for x [..,in], W [out,in], b [out] (optional): torch.nn.functional.linear.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = {});
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);

enum class Reduction { None, Mean, Sum };
/// @brief Negative log-likelihood of log-probabilities `logp` [N,C] at i64 targets [N].
/// Targets equal to `ignore_index` count neither in the loss nor in the mean's denominator.
/// Also takes `logp` [..., C] of rank >= 3 with targets [...] (the same leading shape), the
/// class dim LAST, as a language model's head gives (fastai's CrossEntropyLossFlat): it is
/// flattened to [N, C] / [N], and Reduction::None returns the leading shape. PyTorch puts the
/// class in dim 1 instead ([N, C, d1, ...]); that form is not accepted.
Tensor nll_loss(const Tensor& logp, const Tensor& target, Reduction r = Reduction::Mean,
                int64_t ignore_index = -100);
/// @brief log_softmax over the class dim, then nll_loss: logits [N, C] (class dim 1, as torch)
/// or [..., C] of rank >= 3 (class dim last, see nll_loss).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction r = Reduction::Mean,
                     int64_t ignore_index = -100);
/// @brief Mean (or sum) of absolute differences; shapes must match (torch's l1_loss).
Tensor l1_loss(const Tensor& pred, const Tensor& target, Reduction r = Reduction::Mean);
/// @brief Mean (or sum) of squared differences; shapes must match.
Tensor mse_loss(const Tensor& pred, const Tensor& target, Reduction r = Reduction::Mean);
/// @brief Binary cross entropy of logits x and 0/1 targets y of one shape, in the stable form
/// max(x, 0) - x*y + log(1 + exp(-|x|)) (torch's binary_cross_entropy_with_logits).
Tensor bce_with_logits(const Tensor& logits, const Tensor& target, Reduction r = Reduction::Mean);

/// @brief Inverted dropout: in training, zeroes each element with probability p and scales the
/// rest by 1/(1-p); outside training (or p == 0), x itself.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

// ---------------------------------------------------------------- indexing
/// @brief out[i][j] = src[index[i][j]][j] for dim 0 (torch.gather).
Tensor gather(const Tensor& src, int64_t dim, const Tensor& index);
/// @brief A copy of `t` with src added at `index` along `dim` (torch.scatter_add).
Tensor scatter_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src);
/// @brief Rows (or slices along `dim`) of `src` picked by a 1-d i64 index (embedding lookup).
Tensor index_select(const Tensor& src, int64_t dim, const Tensor& index);
/// @brief A copy of `t` with slices of `src` added at `index` along `dim`.
Tensor index_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src);

// ---------------------------------------------------------------- more shape ops (views,
// copies, padding, triangles, creation)
/// @brief The slice at `index` of `dim`, that dim removed (torch.select, Python's t[i]): a view.
/// A negative index counts from the end; one outside [-size, size) is an error naming the range.
Tensor select(const Tensor& a, int64_t dim, int64_t index);
/// @brief Joins same-shaped tensors along a new dim `dim` (torch.stack); dim may be -1 .. -(n+1).
Tensor stack(const std::vector<Tensor>& ts, int64_t dim = 0);
/// @brief The dims of `a` reordered: out dim i is a's dim dims[i] (torch.permute): a view.
Tensor permute(const Tensor& a, const std::vector<int64_t>& dims);
/// @brief A copy of `a` reversed along each of `dims` (torch.flip).
Tensor flip(const Tensor& a, const std::vector<int64_t>& dims);
/// @brief Elements shifted by shifts[i] along dims[i], wrapping around (torch.roll); with no
/// dims, the flattened tensor is rolled by shifts[0] and reshaped back.
Tensor roll(const Tensor& a, const std::vector<int64_t>& shifts,
            const std::vector<int64_t>& dims = {});
/// @brief How pad fills the border: `Constant` with a value, `Reflect` mirrors without
/// repeating the edge, `Replicate` repeats the edge, `Circular` wraps around.
enum class PadMode { Constant, Reflect, Replicate, Circular };
/// @brief torch.nn.functional.pad: `pads` holds (before, after) pairs starting with the LAST dim
/// ({left, right, top, bottom} pads width then height). Constant mode pads any number of dims and
/// takes negative pads (cropping); the other modes pad up to the last 3 dims with non-negative
/// pads, and reflect needs each pad smaller than its dim. Differentiable.
Tensor pad(const Tensor& a, const std::vector<int64_t>& pads, PadMode mode = PadMode::Constant,
           double value = 0.0);
/// @brief `a` tiled reps[i] times along dim i (torch.Tensor.repeat); reps may have more entries
/// than a has dims (new leading dims).
Tensor repeat(const Tensor& a, const std::vector<int64_t>& reps);
/// @brief Views of `a` along `dim`, each `split_size` long but the last (torch.split).
std::vector<Tensor> split(const Tensor& a, int64_t split_size, int64_t dim = 0);
/// @brief Views of `a` along `dim` of the given sizes, which must sum to the dim's size.
std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim = 0);
/// @brief At most `chunks` views of `a` along `dim`, each ceil(size/chunks) long but the last
/// (torch.chunk: may return fewer than `chunks`).
std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim = 0);
/// @brief The lower triangle of the last two dims: elements with col - row <= diagonal kept, the
/// rest 0 (torch.tril; -inf and NaN outside the triangle become 0 too).
Tensor tril(const Tensor& a, int64_t diagonal = 0);
/// @brief The upper triangle: elements with col - row >= diagonal kept (torch.triu).
Tensor triu(const Tensor& a, int64_t diagonal = 0);
/// @brief One-hot rows of i64 class indices: shape [..., num_classes], i64 as in PyTorch (cast
/// with .to(DType::F32) for a float target). num_classes -1 means max(index) + 1. An index
/// outside [0, num_classes) is an error. Not differentiable.
Tensor one_hot(const Tensor& index, int64_t num_classes = -1);
/// @brief The n x m identity (m = n when m < 0) (torch.eye).
Tensor eye(int64_t n, int64_t m = -1, TensorOptions opts = {});
/// @brief `steps` evenly spaced values from start to end inclusive (torch.linspace).
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});

// ---------------------------------------------------------------- sorting
/// @brief Values and their i64 positions along the dim (what sort, topk return).
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};
/// @brief `a` sorted along `dim` (torch.sort). The sort is stable: equal values keep their order
/// (ascending index) in both directions, and NaN sorts as the largest value. The values are
/// differentiable (the gradient goes back to the positions they came from).
ValuesIndices sort(const Tensor& a, int64_t dim = -1, bool descending = false);
/// @brief The indices of sort (torch.argsort).
Tensor argsort(const Tensor& a, int64_t dim = -1, bool descending = false);
/// @brief The k largest (or smallest) values along `dim` and their indices, in sorted order
/// (torch.topk with sorted=True); ties as in sort. Values differentiable.
ValuesIndices topk(const Tensor& a, int64_t k, int64_t dim = -1, bool largest = true);
/// @brief What unique returns: the sorted distinct values (1-d), and when asked, the position of
/// each input element in them (inverse, i64 of the input's shape) and how often each occurs
/// (counts, i64) - undefined when not asked.
struct UniqueResult {
  Tensor values;
  Tensor inverse;
  Tensor counts;
};
/// @brief The distinct elements of the flattened `a`, sorted ascending (torch.unique with
/// sorted=True and dim=None). Not differentiable; computed on the host (the output size depends
/// on the data).
UniqueResult unique(const Tensor& a, bool return_inverse = false, bool return_counts = false);

// ---------------------------------------------------------------- einsum and mask indexing
/// @brief Einstein summation (torch.einsum) over one or more operands, routed to permute,
/// reshape, sum and batched matmul, so it is differentiable through them. The equation names
/// each operand's dims with letters ("bhqd,bhkd->bhqk"); without "->" the output is the letters
/// used once, sorted. Letters in both operands of a pair and not needed later are contracted;
/// a letter used by one operand only and not in the output is summed. Not accepted (an error
/// saying so): "...", a letter repeated within one operand (diagonals), sizes that differ for
/// one letter.
Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands);
/// @brief PyTorch's t[mask] for an f32 0/1 mask (gom's comparison ops give those): a mask of
/// t's shape picks elements (1-d result); a mask of t's leading k dims picks the slices there
/// (result [n, rest of t's shape]). Differentiable (through index_select); the mask is read on
/// the host.
Tensor index_mask(const Tensor& a, const Tensor& mask);

// ---------------------------------------------------------------- operators
inline Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
inline Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
inline Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
inline Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
inline Tensor operator+(const Tensor& a, double b) {
  return affine(a, 1.0, b);
}
inline Tensor operator-(const Tensor& a, double b) {
  return affine(a, 1.0, -b);
}
inline Tensor operator*(const Tensor& a, double b) {
  return affine(a, b, 0.0);
}
inline Tensor operator/(const Tensor& a, double b) {
  return affine(a, 1.0 / b, 0.0);
}
inline Tensor operator+(double a, const Tensor& b) {
  return affine(b, 1.0, a);
}
inline Tensor operator-(double a, const Tensor& b) {
  return affine(b, -1.0, a);
}
inline Tensor operator*(double a, const Tensor& b) {
  return affine(b, a, 0.0);
}
inline Tensor operator-(const Tensor& a) {
  return neg(a);
}

/// @brief Whether all elements of a and b differ by at most atol + rtol*|b|.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);

}  // namespace gom
