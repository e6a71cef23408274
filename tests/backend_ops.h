// tests/backend_ops.h — the backend conformance harness (ggml's test-backend-ops idea), shared
// by test_backend_ops*.cpp.
//
// A Case builds its inputs on the CPU from a seeded generator and runs one or more kernel ops
// through the public ops (so the core prepares the outputs as in real use), or through
// run_kernel with prepared outputs where no op reaches a kernel mode. check_case runs it:
//  - on the CPU: the reference;
//  - on the CPU again with every strided or broadcast view the case marks with Run::view replaced
//    by a contiguous copy of the same values: this one can fail on a machine without a GPU;
//  - on every other backend that can run here (device_unavailable(...) == ""), the inputs moved
//    there, with the views and with the contiguous copies, the results brought back and
//    compared with the CPU's under the case's tolerance (integer outputs compare exactly, NaN
//    equals NaN).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gom/gom.h"

namespace gom_test::backend_ops {

using gom::Tensor;
using Tensors = std::vector<Tensor>;

/// @brief |got - want| <= atol + rtol * |want| for f32 outputs.
struct Tol {
  double rtol = 0, atol = 0;
};

// The tolerances of the cases, by the arithmetic their ops do. Each case names the one it uses.
/// No arithmetic, or exactly rounded arithmetic the backends must reproduce bit for bit:
/// copies, fills, casts, indexing, comparisons, max/min, sorting, random streams.
inline constexpr Tol kExact{0, 0};
/// One or two roundings per element (add, mul, div, where, optimizer updates): a GPU compiler may
/// contract a*b+c into one fma, which changes the last bit.
inline constexpr Tol kUlp{2e-6, 1e-7};
/// exp, log, tanh, erf and what is built from them: CUDA's libdevice and oneDNN's polynomials
/// are each within a few ulp of the true value (the PyTorch fixtures use the same bound).
inline constexpr Tol kTranscendental{1e-5, 1e-6};
/// Sums of up to a few thousand terms of magnitude ~1 (reductions, softmax, scatter_add with
/// atomics): the order of summation differs between a sequential loop and a tree.
inline constexpr Tol kSum{1e-5, 1e-5};
/// Normalisations divide by sqrt(var + eps), which scales the summation error up.
inline constexpr Tol kNorm{1e-4, 2e-5};
/// Up to ~150-term dot products of N(0, 1) values in f32: {1e-4, 1e-4}. With
/// GOM_CONFORMANCE_TF32=1 (which sets GOM_CUDA_TF32=1 for the CUDA backend) or GOM_CUDA_TF32=1
/// already set, TensorFloat-32's 10-bit mantissa: ~1e-3 relative error per product, growing
/// with sqrt(K): {2e-2, 3e-2}.
Tol matmul_tol();
/// Recurrent layers: a matmul per step, then tanh/sigmoid, over the whole sequence (TF32 loosens
/// it as it does matmuls).
Tol rnn_tol();

/// @brief What a case's computation gets besides its inputs: the device it runs on, and how
/// it lays out the views it marks: as built (strided, transposed, sliced, expanded with stride
/// 0), or, in the dense run, as contiguous copies of their values.
class Run {
 public:
  Run(gom::Device device, bool dense) : device_(device), dense_(dense) {}
  gom::Device device() const { return device_; }
  /// @brief `v` itself, or in the dense run a contiguous copy of it.
  Tensor view(const Tensor& v) {
    used_ = true;
    return dense_ ? v.contiguous() : v;
  }
  /// @brief Whether the case marked any view (then the dense run is compared too).
  bool used_views() const { return used_; }

 private:
  gom::Device device_;
  bool dense_;
  bool used_ = false;
};

struct Case {
  std::string name;
  /// The kernel ops it runs; the coverage test checks it calls each on the CPU.
  std::vector<std::string> ops;
  Tol tol;
  /// Its inputs, on the CPU (undefined entries stay undefined).
  std::function<Tensors(gom::Generator&)> inputs;
  /// The computation, on the inputs moved to the device under test; returns what to compare.
  std::function<Tensors(const Tensors& in, Run& run)> run;
  /// Optional: turns the results (back on the CPU) into what is compared (svd, sort).
  std::function<Tensors(const Tensors& out)> post;
};

/// @brief The families of cases, one TEST_CASE each.
std::vector<Case> elementwise_cases();
std::vector<Case> creation_cases();
std::vector<Case> reduction_cases();
std::vector<Case> matmul_cases();
std::vector<Case> softmax_loss_cases();
std::vector<Case> index_cases();
std::vector<Case> conv_pool_cases();
std::vector<Case> norm_cases();
std::vector<Case> rnn_cases();
std::vector<Case> optimizer_cases();
std::vector<Case> sort_linalg_cases();
/// @brief Every case of every family.
std::vector<Case> all_cases();

/// @brief "" when every output matches, else what differs (output, index, values, how many).
std::string compare(const Tensors& want, const Tensors& got, Tol tol);
/// @brief Runs `c` on the CPU, on the CPU with dense inputs, and on every available backend,
/// failing a CHECK for each mismatch or error.
void check_case(const Case& c);
/// @brief Runs every case of a family.
void check_cases(const std::vector<Case>& cases);
/// @brief The results of `c` on `device` (inputs moved there; dense: contiguous copies of the
/// views), back on the CPU.
Tensors run_on(const Case& c, const Tensors& cpu_inputs, gom::Device device, bool dense,
               bool* used_views = nullptr);

// Input helpers, on the CPU.
Tensor normal(const gom::Shape& shape, gom::Generator& g, double scale = 1.0);
Tensor uniform(const gom::Shape& shape, double lo, double hi, gom::Generator& g);
/// Integers in [lo, hi) as f32: many ties, for comparisons, argmax and sorting.
Tensor small_ints(const gom::Shape& shape, int64_t lo, int64_t hi, gom::Generator& g);
Tensor indices(const gom::Shape& shape, int64_t n, gom::Generator& g);  ///< i64 in [0, n)
/// A copy of `t` with leaf status and requires_grad set (the inputs are shared by the runs).
Tensor leaf(const Tensor& t);
/// The gradient of a leaf, or zeros of its shape when backward gave it none.
Tensor grad_of(const Tensor& leaf);

}  // namespace gom_test::backend_ops
