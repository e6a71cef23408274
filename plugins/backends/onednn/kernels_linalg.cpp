// svd through LAPACK's divide-and-conquer sgesdd (LAPACKE, row-major), the driver
// torch.linalg.svd uses on the CPU, once per matrix of a batch.
#include <fmt/format.h>
#include <lapacke.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "dnnl_util.h"

namespace gom::onednn {
namespace {

// An identity-like [rows, cols] block (1 on the diagonal): the singular vectors of an empty
// matrix, where LAPACK has nothing to compute.
void fill_eye(float* p, int64_t rows, int64_t cols) {
  std::fill(p, p + rows * cols, 0.f);
  for (int64_t i = 0; i < std::min(rows, cols); ++i) p[i * cols + i] = 1.f;
}

void svd(const KernelCall& c) {
  const Tensor& a = c.in[0];
  const Tensor &u = c.out[0], &s = c.out[1], &vh = c.out[2];
  if (a.dtype() != DType::F32 || !a.is_contiguous() || a.dim() != 3)
    throw Error("onednn svd: expects a contiguous f32 [B, M, N] input");
  const int64_t batch = a.shape()[0], m = a.shape()[1], n = a.shape()[2];
  const bool full = c.attrs.i("full_matrices") != 0;
  const int64_t k = std::min(m, n), ucols = full ? m : k, vrows = full ? n : k;
  std::vector<float> work(static_cast<size_t>(m * n));
  for (int64_t b = 0; b < batch; ++b) {
    float* pu = u.data<float>() + b * m * ucols;
    float* pv = vh.data<float>() + b * vrows * n;
    float* ps = s.data<float>() + b * k;
    if (k == 0) {
      fill_eye(pu, m, ucols);
      fill_eye(pv, vrows, n);
      continue;
    }
    // sgesdd overwrites its input.
    std::memcpy(work.data(), a.data<float>() + b * m * n, sizeof(float) * m * n);
    const lapack_int info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, full ? 'A' : 'S', m, n, work.data(), n,
                                           ps, pu, ucols, pv, n);
    if (info != 0)
      throw Error(fmt::format("svd: LAPACK sgesdd failed on matrix {} of the batch (info {}{})", b,
                              info, info > 0 ? ": it did not converge" : ": a bad argument"));
  }
}

}  // namespace

void register_linalg(const std::string& provider) {
  register_cpu_kernel("svd", svd, provider);
}

}  // namespace gom::onednn
