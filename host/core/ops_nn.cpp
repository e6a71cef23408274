// Neural-network ops: matmul, linear, softmax and the losses.
#include <fmt/format.h>

#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

// a [..,M,K] x b [..,K,N] with batch dims already of equal rank (each equal or 1).
Tensor matmul_raw(const Tensor& a, const Tensor& b, const Tensor& bias = {}) {
  const int64_t r = a.dim();
  Shape out_shape(r);
  for (int64_t d = 0; d < r - 2; ++d) out_shape[d] = std::max(a.shape()[d], b.shape()[d]);
  out_shape[r - 2] = a.shape()[r - 2];
  out_shape[r - 1] = b.shape()[r - 1];
  Tensor out = empty_as(out_shape, a);
  if (bias.defined())
    run_kernel("matmul", {a, b, bias}, {out});
  else
    run_kernel("matmul", {a, b}, {out});
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  check_float(a_in, "matmul", "first operand");
  check_float(b_in, "matmul", "second operand");
  check_same_device(a_in, b_in, "matmul");
  if (a_in.dim() == 0 || b_in.dim() == 0)
    throw Error("matmul: both operands need at least one dimension");
  // numpy.matmul: a 1-d operand becomes a row (left) or a column (right), removed afterwards.
  Tensor a = a_in.dim() == 1 ? a_in.unsqueeze(0) : a_in;
  Tensor b = b_in.dim() == 1 ? b_in.unsqueeze(1) : b_in;
  const int64_t K = a.shape().back();
  if (b.shape()[b.dim() - 2] != K)
    throw Error(fmt::format("matmul: shapes {} and {} do not multiply ({} columns vs {} rows)",
                            shape_str(a_in.shape()), shape_str(b_in.shape()), K,
                            b.shape()[b.dim() - 2]));
  const Shape ba(a.shape().begin(), a.shape().end() - 2),
      bb(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(ba, bb, "matmul (batch dimensions)");
  // Give both operands the output's rank by prepending batch dims of one.
  const int64_t rank = static_cast<int64_t>(batch.size()) + 2;
  auto pad = [rank](const Tensor& t) {
    Shape s(rank - t.dim(), 1), st(rank - t.dim(), 0);
    s.insert(s.end(), t.shape().begin(), t.shape().end());
    st.insert(st.end(), t.strides().begin(), t.strides().end());
    return make_view(t, s, st, t.offset());
  };
  Tensor out = matmul_raw(pad(a), pad(b));
  if (needs_grad({&a, &b}))
    record("matmul", {a, b}, {out},
           [a, b, ra = a.requires_grad(), rb = b.requires_grad()](const std::vector<Tensor>& g) {
             return std::vector<Tensor>{
                 ra ? sum_to(matmul(g[0], transpose(b, -1, -2)), a.shape()) : Tensor(),
                 rb ? sum_to(matmul(transpose(a, -1, -2), g[0]), b.shape()) : Tensor()};
           });
  if (a_in.dim() == 1) out = out.squeeze(-2);
  if (b_in.dim() == 1) out = out.squeeze(-1);
  return out;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_float(x, "linear", "input");
  check_float(w, "linear", "weight");
  check_same_device(x, w, "linear");
  if (w.dim() != 2 || x.dim() == 0 || x.shape().back() != w.shape()[1])
    throw Error(
        fmt::format("linear: input of shape {} does not fit a weight of shape {} "
                    "(expected [..., {}] and [out, in])",
                    shape_str(x.shape()), shape_str(w.shape()), w.dim() == 2 ? w.shape()[1] : -1));
  if (b.defined() && (b.dim() != 1 || b.shape()[0] != w.shape()[0]))
    throw Error(fmt::format("linear: bias of shape {} does not match {} outputs",
                            shape_str(b.shape()), w.shape()[0]));
  const int64_t in = w.shape()[1], outf = w.shape()[0];
  Tensor x2 = x.dim() == 2 ? x.detach() : reshape(x.detach(), {-1, in});
  Tensor out = matmul_raw(x2, w.detach().t(), b.defined() ? b.detach() : Tensor());
  if (x.dim() != 2) {
    Shape s = x.shape();
    s.back() = outf;
    out = make_view(out, s, contiguous_strides(s), 0);
  }
  if (needs_grad({&x, &w, &b}))
    record("linear", {x, w, b}, {out},
           [x2, w, xs = x.shape(), outf, rx = x.requires_grad(), rw = w.requires_grad(),
            rb = b.defined() && b.requires_grad()](const std::vector<Tensor>& g) {
             Tensor g2 = g[0].dim() == 2 ? g[0] : reshape(g[0], {-1, outf});
             Tensor gx = rx ? reshape(matmul_raw(g2, w), xs) : Tensor();
             Tensor gw = rw ? matmul_raw(g2.t(), x2) : Tensor();
             Tensor gb = rb ? sum(g2, {0}) : Tensor();
             return std::vector<Tensor>{gx, gw, gb};
           });
  return out;
}

static Tensor softmax_like(const Tensor& a, int64_t dim, const char* fwd, const char* bwd) {
  check_float(a, fwd, "input");
  dim = wrap_dim(dim, a.dim(), fwd);
  Tensor out = empty_as(a.shape(), a);
  run_kernel(fwd, {a}, {out}, {{"dim", dim}});
  if (needs_grad({&a}))
    record(fwd, {a}, {out}, [y = out.detach(), dim, bwd](const std::vector<Tensor>& g) {
      Tensor gi = empty_as(y.shape(), y);
      run_kernel(bwd, {g[0], y}, {gi}, {{"dim", dim}});
      return std::vector<Tensor>{gi};
    });
  return out;
}

Tensor softmax(const Tensor& a, int64_t dim) {
  return softmax_like(a, dim, "softmax", "softmax_backward");
}
Tensor log_softmax(const Tensor& a, int64_t dim) {
  return softmax_like(a, dim, "log_softmax", "log_softmax_backward");
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  if (p < 0 || p >= 1) throw Error(fmt::format("dropout: p = {} is not in [0, 1)", p));
  if (!training || p == 0) return x;
  Tensor keep = Tensor::empty(x.shape(), x.options());
  bernoulli_(keep, 1.0 - p, gen);
  return mul(x, affine(keep, 1.0 / (1.0 - p), 0.0));  // the mask is a constant for autograd
}

static Tensor reduce_loss(const Tensor& per, Reduction r, const Tensor& count = {}) {
  switch (r) {
    case Reduction::None:
      return per;
    case Reduction::Sum:
      return sum(per);
    case Reduction::Mean:
      return count.defined() ? div(sum(per), count) : mean(per);
  }
  return per;
}

// The accepted (input, target) shapes of nll_loss and cross_entropy: [N, C] with [N], as torch,
// or [..., C] of rank >= 3 with [...], the class dim last (a language model's [B, T, C] logits
// with [B, T] targets). Throws naming the op, both shapes and what is accepted.
static void check_class_shapes(const Tensor& in, const Tensor& target, const char* op) {
  bool ok = in.dim() >= 2 && target.dim() == in.dim() - 1;
  for (int64_t d = 0; ok && d < target.dim(); ++d) ok = target.shape()[d] == in.shape()[d];
  if (!ok)
    throw Error(fmt::format(
        "{}: input {} and target {} do not fit; expected input [N, C] with target [N], or "
        "input [..., C] of rank >= 3 with target [...] of the same leading shape (the class "
        "dim last, unlike torch's class dim 1)",
        op, shape_str(in.shape()), shape_str(target.shape())));
}

Tensor nll_loss(const Tensor& logp, const Tensor& target, Reduction r, int64_t ignore_index) {
  check_float(logp, "nll_loss", "input");
  check_same_device(logp, target, "nll_loss");
  if (target.dtype() != DType::I64)
    throw Error(fmt::format("nll_loss: target must be i64 class indices, got {}",
                            dtype_name(target.dtype())));
  check_class_shapes(logp, target, "nll_loss");
  if (logp.dim() > 2) {  // class dim last: flatten the leading dims
    Tensor per =
        nll_loss(reshape(logp, {-1, logp.shape().back()}), reshape(target, {-1}), r, ignore_index);
    return r == Reduction::None ? reshape(per, target.shape()) : per;
  }
  const int64_t n = logp.shape()[0];
  Tensor per = Tensor::empty({n}, logp.options());
  Tensor count = Tensor::empty({}, logp.options());  // targets not ignored
  run_kernel("nll_loss", {logp, target}, {per, count}, {{"ignore_index", ignore_index}});
  if (needs_grad({&logp}))
    record(
        "nll_loss", {logp}, {per},
        [target, ignore_index, s = logp.shape()](const std::vector<Tensor>& g) {
          Tensor gi = Tensor::empty(s, g[0].options());
          run_kernel("nll_loss_backward", {g[0], target}, {gi}, {{"ignore_index", ignore_index}});
          return std::vector<Tensor>{gi};
        });
  return reduce_loss(per, r, count);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction r,
                     int64_t ignore_index) {
  check_class_shapes(logits, target, "cross_entropy");
  return nll_loss(log_softmax(logits, logits.dim() > 2 ? -1 : 1), target, r, ignore_index);
}

Tensor mse_loss(const Tensor& pred, const Tensor& target, Reduction r) {
  if (pred.shape() != target.shape())
    throw Error(
        fmt::format("mse_loss: prediction {} and target {} must have the same shape "
                    "(broadcasting here is almost always a bug)",
                    shape_str(pred.shape()), shape_str(target.shape())));
  Tensor d = sub(pred, target);
  return reduce_loss(mul(d, d), r);
}

Tensor l1_loss(const Tensor& pred, const Tensor& target, Reduction r) {
  if (pred.shape() != target.shape())
    throw Error(fmt::format("l1_loss: prediction {} and target {} must have the same shape",
                            shape_str(pred.shape()), shape_str(target.shape())));
  return reduce_loss(abs(sub(pred, target)), r);
}

// Never exponentiates a large positive number, so logits of +-100 give finite losses where
// log(sigmoid(x)) would give -inf.
Tensor bce_with_logits(const Tensor& x, const Tensor& y, Reduction r) {
  if (x.shape() != y.shape())
    throw Error(fmt::format("bce_with_logits: logits {} and targets {} must have the same shape",
                            shape_str(x.shape()), shape_str(y.shape())));
  return reduce_loss(relu(x) - x * y + log(exp(neg(abs(x))) + 1.0), r);
}

}  // namespace gom
