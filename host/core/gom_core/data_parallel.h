// gom_core/data_parallel.h — what makes a fit data-parallel over the ranks of an MPI job
// (gom_core/distributed.h): every rank starts from rank 0's weights, and after each backward
// that ends in a step the ranks' gradients are summed, so every rank takes the same step.
// Host-level API (the trainer), not part of the SDK.
//
// The gradients travel as flat f32 buckets of about 4 MB, in the optimizer's parameter order
// (the same on every rank): a header first (one has-a-gradient flag per parameter and a flag the
// caller adds, such as "interrupted"), then each parameter's gradient. A parameter without a
// gradient on a rank contributes zeros there; one without a gradient on every rank keeps none.
// Gradients on a device whose backend has collectives (NCCL on CUDA) are summed there, in one
// buffer, when every rank can: each computes on a device of its own. Otherwise they go through
// the host (copied out, summed by MPI, copied back).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gom/callback.h"
#include "gom/kernel.h"
#include "gom/layer.h"
#include "gom/optimizer.h"
#include "gom_core/data_loader.h"

namespace gom::dp {

/// @brief f32 elements per bucket: 4 MB.
inline constexpr size_t kBucketFloats = size_t(1) << 20;

/// @brief Copies rank 0's parameters and buffers into the model of every rank, in place (by
/// name order; every rank must hold the same model).
void broadcast_module(Module& model);

/// @brief Copies rank 0's optimizer state (momentum buffers, moving averages, step counts) into
/// every rank's optimizer, in place. Every rank must have the same layout (after a --resume,
/// each loaded the same checkpoint): a rank whose keys or sizes differ throws gom::Error.
void broadcast_optimizer_state(Optimizer& optimizer);

/// @brief The bytes one step all-reduces for these parameters: the header and every gradient,
/// as f32.
int64_t gradient_buffer_bytes(const std::vector<Tensor>& params);

/// @brief What each rank sends in a ring all-reduce of `bytes` over `world` ranks:
/// 2 (world - 1) / world x bytes (a reduce-scatter, then an all-gather).
int64_t ring_bytes_per_rank(int64_t bytes, int world);

/// @brief Every parameter of the optimizer's groups, in group order (the all-reduce's order).
std::vector<Tensor> optimizer_params(const Optimizer& optimizer);

/// @brief gom::Error unless the training data is shared out over this job's ranks, and the
/// validation and test data (when given) as it is.
void check_shared_out(const DataLoader& train, const DataLoader* valid, const DataLoader* test);

/// @brief A phase's end: its loss total, example count and samples summed over the ranks in
/// place; true when some rank's `interrupt` was set.
bool sum_phase(double& loss_total, int64_t& seen, double& samples,
               const std::atomic<bool>* interrupt);

/// @brief Sums gradients over the ranks.
class GradientSync {
 public:
  explicit GradientSync(size_t bucket_floats = kBucketFloats) : bucket_floats_(bucket_floats) {}
  /// @brief Replaces the gradient of each of `params` by its sum over the ranks (the scaling
  /// that makes it the global batch's mean is the caller's, on the loss). `flag` is summed
  /// along and returned: the ranks learn in the same call whether any of them set it.
  double all_reduce(const std::vector<Tensor>& params, double flag = 0);
  /// @brief Seconds spent in the collective (MPI or the device's; waiting for the slowest rank
  /// included) and in copies.
  double mpi_seconds() const { return mpi_seconds_; }
  double copy_seconds() const { return copy_seconds_; }
  int64_t calls() const { return calls_; }
  /// @brief How the sums travel, decided by the ranks together at the first call: "mpi" or the
  /// device's ("cuda"), and "" before; why_host() says why not on the device.
  const std::string& path() const { return path_; }
  const std::string& why_host() const { return why_host_; }

 private:
  void choose_path(const std::vector<Tensor>& params);
  double all_reduce_host(const std::vector<Tensor>& params, double flag);
  double all_reduce_device(const std::vector<Tensor>& params, double flag);

  size_t bucket_floats_;
  std::vector<float> bucket_;
  double mpi_seconds_ = 0, copy_seconds_ = 0;
  int64_t calls_ = 0;
  std::string path_, why_host_;
  const BackendInfo* backend_ = nullptr;  // the device path's
  Device device_{};
  std::shared_ptr<void> member_;  // this rank's member of the device communicator
};

/// @brief The trainer's step that makes the gradients global: at after_backward of a training
/// batch that will step (not accumulating), after gradient_accumulation (order 10) has decided
/// that and before anything reads the gradients (terminate_on_nan, which it precedes at order
/// 15; gradient_clipping, 20). The host's interrupt flag rides along, so that every rank stops
/// after the same step.
class GradientAllReduce : public Callback {
 public:
  explicit GradientAllReduce(const std::atomic<bool>* interrupt) : interrupt_(interrupt) {
    set_type("data_parallel");
  }
  int order() const override { return 15; }
  void on(Event e, LoopState& s) override;
  /// @brief Some rank was interrupted by the last all-reduce.
  bool interrupted() const { return interrupted_; }
  const GradientSync& sync() const { return sync_; }

 private:
  const std::atomic<bool>* interrupt_;
  bool interrupted_ = false;
  GradientSync sync_;
};

/// @brief What the gradients' all-reduce cost, as run records: dist.allreduce_path ("mpi" or
/// "cuda", and why not on the device), dist.allreduce_calls, dist.allreduce_mpi_seconds (in the
/// collective, waiting for the slowest rank included) and dist.allreduce_copy_seconds (packing
/// and unpacking).
void record_communication(const GradientSync& sync, std::map<std::string, std::string>& records);

}  // namespace gom::dp
