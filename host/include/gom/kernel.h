// gom/kernel.h — the kernel registry: (op, device type) -> kernel.
//
// The core ops in ops.h validate their arguments, infer and allocate outputs, and then call the
// kernel registered for the op on the inputs' device. A kernel only computes: it receives
// tensors whose shapes are already checked and writes into preallocated outputs. Backend plugins
// register kernels from their registration entry; a layer plugin may register a fused kernel of
// its own under a new op name. A missing kernel is an error naming the op and the device.
//
// The kernel contracts (inputs, outputs, attributes) of the built-in ops are listed in
// docs at the end of this file.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "gom/tensor.h"

namespace gom {

/// @brief Named scalar attributes of one kernel call (an op code, a dim, a seed, ...).
class Attrs {
 public:
  using Value = std::variant<int64_t, double, std::vector<int64_t>>;
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const char*, Value>> items) : items_(items) {}
  Attrs& set(const char* name, Value v);
  int64_t i(std::string_view name) const;
  double f(std::string_view name) const;
  const std::vector<int64_t>& ints(std::string_view name) const;
  bool has(std::string_view name) const;

 private:
  const Value& get(std::string_view name) const;
  std::vector<std::pair<const char*, Value>> items_;
};

/// @brief What a kernel gets: its inputs, its (preallocated) outputs and its attributes.
struct KernelCall {
  std::span<const Tensor> in;
  std::span<const Tensor> out;
  const Attrs& attrs;
  /// The stream to queue the work on: the calling thread's current stream of the device the
  /// kernel runs on (see current_stream). CPU kernels ignore it.
  Stream stream{};
};

using KernelFn = std::function<void(const KernelCall&)>;

/// @brief An interned op name: resolve it once per call site
/// (`static const OpId id = op_id("binary");`) and the kernel lookup is an array index with no
/// lock and no string hashing. Ids are stable for the life of the process.
struct OpId {
  int32_t value = -1;
  friend bool operator==(OpId, OpId) = default;
};
/// @brief The id of `op`, the same on every call; a name with no kernel yet gets one too.
OpId op_id(std::string_view op);
/// @brief The name `id` was interned from; throws gom::Error for an id op_id never returned.
std::string_view op_name(OpId id);

/// @brief Registers `fn` as the kernel of `op` on `device`. `provider` names the plugin for
/// messages. Registering the same (op, device) twice keeps the later one (a fused kernel may
/// replace a backend's), and `kernel_provider` reports who won.
void register_kernel(std::string_view op, DeviceType device, KernelFn fn,
                     std::string_view provider);

/// @brief The kernel of `op` on `device`; throws gom::Error naming the op, the device and the
/// devices that do have it.
/// Lookups take no lock: registration publishes an immutable snapshot.
const KernelFn& find_kernel(std::string_view op, DeviceType device);
const KernelFn& find_kernel(OpId op, DeviceType device);
bool has_kernel(std::string_view op, DeviceType device);
std::string kernel_provider(std::string_view op, DeviceType device);
/// @brief Every registered op name, sorted.
std::vector<std::string> kernel_ops();

/// @brief Runs the kernel of `op` on the device of the first output.
void run_kernel(std::string_view op, std::initializer_list<Tensor> in,
                std::initializer_list<Tensor> out, const Attrs& attrs = {});
void run_kernel(OpId op, std::initializer_list<Tensor> in, std::initializer_list<Tensor> out,
                const Attrs& attrs = {});

/// @brief A device's raw memory. The core wraps it in a caching allocator per device and stream,
/// so a training step does not reach the device allocator once the cache is warm.
struct BOOST_SYMBOL_VISIBLE DeviceAllocator {
  virtual ~DeviceAllocator() = default;
  /// @brief `nbytes` on `device` (cuda:1 is device index 1 of its type); throws gom::Error.
  virtual void* allocate(size_t nbytes, Device device) = 0;
  virtual void deallocate(void* p, size_t nbytes, Device device) = 0;
};

/// @brief Counters of the caching allocator of one device (the DeviceType overloads: its
/// device 0).
struct AllocatorStats {
  uint64_t device_allocs = 0;  ///< calls that reached the device allocator
  uint64_t cache_hits = 0;     ///< allocations served from the cache
  uint64_t bytes_in_use = 0;
  uint64_t bytes_cached = 0;  ///< freed blocks kept for reuse
};
AllocatorStats allocator_stats(Device device);
AllocatorStats allocator_stats(DeviceType device);
/// @brief Returns every cached block of the device to the device allocator.
void empty_cache(Device device);
void empty_cache(DeviceType device);

/// @brief What a backend tells the host about itself.
struct BackendInfo {
  std::string name;                             ///< "onednn", "cuda"
  DeviceType device;                            ///< the device its kernels run on
  std::string description;                      ///< one line: library and version
  std::function<void(int)> set_num_threads;     ///< may be empty
  std::function<std::string(int)> device_name;  ///< e.g. the CPU model; may be empty
  std::shared_ptr<DeviceAllocator> allocator;   ///< null: the host's CPU allocator
  /// Why the backend cannot run on this machine ("no CUDA device: ..."), or "" when it can.
  /// Empty: it always can. A plugin loads wherever it was built and says so here.
  std::function<std::string()> unavailable;
  std::function<int()> device_count;  ///< devices of its type here; empty: one
  // Streams, for devices that queue work (all may be empty: the work is done when a kernel
  // returns, as on the CPU).
  std::function<void(Stream)> synchronize;     ///< waits on the host for the stream's work
  std::function<void*(int index)> new_stream;  ///< a new stream on device `index`
  /// Work queued on `waiter` from now on starts after the work queued on `producer` so far;
  /// the host does not wait.
  std::function<void(Stream waiter, Stream producer)> wait_stream;
  // Collectives among the ranks of a job, on the device (NCCL on CUDA), for data-parallel
  // training; all empty when the backend has none, and gom sums through the host with MPI.
  /// A new communicator's id (opaque bytes): one rank makes it and sends it to the others.
  std::function<std::string()> collective_id;
  /// This rank's member of the communicator `id` of `world` ranks, on `device`; every rank
  /// calls it at once (it returns when all have joined). Freed when the last copy goes.
  std::function<std::shared_ptr<void>(const std::string& id, int rank, int world, Device device)>
      collective_join;
  /// Sums `count` floats at `data` (memory of the member's device) over the ranks, in place,
  /// queued on `stream`; the host does not wait. Every rank calls it in the same order.
  std::function<void(void* member, float* data, size_t count, Stream stream)> collective_sum;
};

/// @brief Registers a backend; a second backend for the same device type is an error.
void register_backend(BackendInfo info);
/// @brief The backend registered for `device`, or nullptr.
const BackendInfo* find_backend(DeviceType device);
/// @brief Sets the number of compute threads of every backend that has threads.
void set_num_threads(int n);
/// @brief "" when `device` can run here (its backend is loaded, available and has that
/// ordinal), else why not, in words a user can act on.
std::string device_unavailable(Device device);
/// @brief Waits on the host until the work queued on `device`'s current stream is done.
void synchronize(Device device);
/// @brief Whether code on the training path should keep values (losses, metric sums, counts of
/// bad indices) on `device` and read them back rarely, instead of once a batch: true for a
/// device that queues work (CUDA), where each read makes the host wait for the device; false
/// for the CPU, where a read is free, unless set_defer_host_reads(true) (tests use it to run the
/// deferred paths on the CPU).
bool defer_host_reads(Device device);
void set_defer_host_reads(bool on_cpu_too);

// Built-in kernel contracts (all tensors may be strided views unless noted; outputs are
// contiguous and allocated by the core):
//   fill        out[0]                        attrs value(f)
//   arange      out[0] (1-d)                  attrs start(f), step(f)
//   copy        in[0] -> out[0], same shape, may differ in dtype (a cast) and be strided
//   unary       in[0] -> out[0]               attrs op(i: UnaryOp), alpha(f), beta(f)
//   unary_backward  in {grad_out, saved} -> out[0]  attrs op, alpha(f); saved is the forward's
//               output for relu/sigmoid/tanh/exp/sqrt, its input for log/abs/pow/gelu/
//               gelu_tanh/leaky_relu (alpha: pow's exponent, leaky_relu's negative slope)
//   binary      in {a, b} -> out[0]; a and b have out's shape, broadcast dims have stride 0;
//               attrs op(i: BinaryOp). Comparisons write 1/0 in out's dtype.
//   reduce      in[0] -> out[0]; out has in's rank, 1 in reduced dims; attrs op(i: ReduceOp)
//   argmax      in[0] -> out[0] (i64, keepdim shape)   attrs dim(i)
//   matmul      in {a [..,M,K], b [..,K,N] (, bias [N])} -> out[0] [..,M,N]; batch dims of
//               a and b equal or 1 (stride 0)
//   softmax, log_softmax            in[0] -> out[0]         attrs dim(i)
//   softmax_backward, log_softmax_backward   in {grad_out, out} -> out[0]   attrs dim(i)
//   nll_loss    in {logp [N,C], target i64 [N]} -> out[0] [N]   attrs ignore_index(i)
//   nll_loss_backward  in {grad [N], target [N]} -> out[0] [N,C]  attrs ignore_index(i)
//   gather      in {src, index i64} -> out[0] (index's shape)       attrs dim(i)
//   scatter_add in {index i64, src} -> out[0] (updated in place)    attrs dim(i)
//   index_select in {src, index i64 1-d} -> out[0]                  attrs dim(i)
//   index_add   in {index i64 1-d, src} -> out[0] (updated in place) attrs dim(i)
//   random      out[0]  attrs dist(i: 0 uniform[a,b), 1 normal(a,b), 2 bernoulli(a)),
//               a(f), b(f), seed(i), offset(i); values depend only on (seed, offset, index)
//   layer_norm  in {x, weight [D] | undefined, bias [D] | undefined} -> out {y (x's shape),
//               mean [M], variance [M]}; x seen as [M, D]; attrs d(i), eps(f)
//   layer_norm_backward  in {grad_y, x, mean, variance, weight | undefined} ->
//               out {grad_x, grad_weight | undefined, grad_bias | undefined}; attrs d(i), eps(f)
//   unary (math ops, UnaryOp::Log1p and after): alpha(f), beta(f) are clamp's min and max
//               (+-inf when absent), elu's alpha, softplus's beta and threshold; the rest take none
//   unary_backward (UnaryOp::Log1p and after)  saved is the forward's input; attrs alpha(f),
//               beta(f) as the forward's; sign's gradient is 0
//   where       in {cond f32, a, b} -> out[0]; all have out's shape, broadcast dims have stride
//               0; out = a where cond != 0, else b; a, b and out share one dtype
//   cumsum      in[0] -> out[0] (same shape and dtype)   attrs dim(i), reverse(i: 0 or 1, sums
//               from the end of dim, the backward of cumsum)
//   argmin      in[0] -> out[0] (i64, keepdim shape)   attrs dim(i); the first minimum wins
//   svd         in {a [B,M,N] f32 contiguous} -> out {U [B,M,K'], S [B,K], Vh [B,K'',N]} with
//               K = min(M,N), K' = M, K'' = N when attrs full_matrices(i) is 1, else K
//   sort        in[0] -> out {values, indices i64}, each in's shape with k along dim: the first
//               k of each line sorted (ties by position, NaN largest); attrs dim(i), k(i),
//               descending(i)
//   triangle    in[0] (>= 2-d) -> out[0]: elements with col - row >= diagonal (upper) or
//               <= diagonal (lower) kept, the rest 0; attrs diagonal(i), upper(i)

/// @brief Op codes of the `unary` kernel. `linear` is alpha*x + beta, `pow` is x^alpha,
/// `gelu` uses erf, `gelu_tanh` torch's tanh approximation, `leaky_relu` slope alpha below 0.
enum class UnaryOp : int64_t {
  Relu,
  Sigmoid,
  Tanh,
  Exp,
  Log,
  Sqrt,
  Abs,
  Linear,
  Pow,
  Gelu,
  GeluTanh,
  LeakyRelu,
  // Math ops and further activations (torch's formulas; see the contracts above).
  Log1p,
  Expm1,
  Sign,
  Clamp,
  Elu,
  Selu,
  Softplus,
  Mish,
  Hardswish,
  Silu
};
/// @brief Op codes of the `binary` kernel.
enum class BinaryOp : int64_t { Add, Sub, Mul, Div, Max, Min, Eq, Ne, Gt, Ge, Lt, Le };
/// @brief Op codes of the `reduce` kernel.
enum class ReduceOp : int64_t { Sum, Mean, Max, Min };

}  // namespace gom
