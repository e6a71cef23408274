// gom_core/derived_dataset.h — datasets the host makes from tensors or from other datasets:
// tensors given by a script, a subset (random_split's parts), and a dataset whose examples pass
// through seeded transforms. Host-level API (Lua, the loader, tests), not part of the SDK.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gom/dataset.h"

namespace gom {

/// @brief A dataset made from others. Its batches may depend on a seed (random augmentation):
/// the data loader passes one derived from its seed, the epoch and the batch, so an epoch's
/// batches are the same in every run and after a resume.
class DerivedDataset : public Dataset {
 public:
  /// @brief The examples at `indices`, transformed with randomness drawn from `seed`.
  virtual Batch get_batch_seeded(const std::vector<int64_t>& indices, uint64_t seed) const = 0;
  Batch get_batch(const std::vector<int64_t>& indices) const override {
    return get_batch_seeded(indices, 0);
  }
  /// @brief The dataset this one was made from (nullptr: none, made from tensors).
  virtual const Dataset* base() const { return nullptr; }
  /// @brief Batches must be made on the caller's thread (a Lua function transforms them): the
  /// loader then prefetches nothing.
  virtual bool needs_caller_thread() const {
    auto* d = dynamic_cast<const DerivedDataset*>(base());
    return d && d->needs_caller_thread();
  }
};

/// @brief The first dataset of the chain `d` was derived from (the one that knows its vocabulary
/// or category maps); `d` itself when it was not derived.
const Dataset& root_dataset(const Dataset& d);

/// @brief The batch of `d` at `indices`: seeded where `d` is derived, else its plain batch.
Batch batch_of(const Dataset& d, const std::vector<int64_t>& indices, uint64_t seed);

/// @brief The seed of batch `batch` of epoch `epoch` (both 0-based) of a loader seeded `seed`.
uint64_t batch_seed(uint64_t seed, int64_t epoch, int64_t batch);

/// @brief Examples given as tensors: input [N, ...] (f32 or i64) and target [N, ...] (optional:
/// undefined for unlabelled data), as torch.utils.data.TensorDataset.
class TensorDataset : public DerivedDataset {
 public:
  /// @param num_classes  classes of an i64 target (0: regression, or undefined target).
  /// @param more_inputs  further inputs [N, ...] of each example (Batch::more_inputs): a model
  ///                     with several inputs gets them as further arguments of its forward.
  TensorDataset(Tensor input, Tensor target, int64_t num_classes,
                std::vector<Tensor> more_inputs = {});
  int64_t size() const override { return input_.shape()[0]; }
  Shape input_shape() const override;
  int64_t num_classes() const override { return num_classes_; }
  std::string describe() const override;
  Config info() const override;
  Batch get_batch_seeded(const std::vector<int64_t>& indices, uint64_t seed) const override;

 private:
  Tensor input_, target_;
  int64_t num_classes_;
  std::vector<Tensor> more_inputs_;
};

/// @brief The examples of `base` at `indices` (in that order), as torch.utils.data.Subset.
class SubsetDataset : public DerivedDataset {
 public:
  SubsetDataset(std::shared_ptr<Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return int64_t(indices_.size()); }
  Shape input_shape() const override { return base_->input_shape(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::string describe() const override;
  Config info() const override { return base_->info(); }
  Batch get_batch_seeded(const std::vector<int64_t>& indices, uint64_t seed) const override;
  const Dataset* base() const override { return base_.get(); }
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  std::shared_ptr<Dataset> base_;
  std::vector<int64_t> indices_;
};

/// @brief `base`'s examples passed through `transform` (a batch and its seed -> a new batch).
class TransformedDataset : public DerivedDataset {
 public:
  using Transform = std::function<Batch(Batch, uint64_t seed)>;
  TransformedDataset(std::shared_ptr<Dataset> base, Transform transform, std::string what,
                     bool caller_thread);
  int64_t size() const override { return base_->size(); }
  Shape input_shape() const override;
  int64_t num_classes() const override { return base_->num_classes(); }
  std::string describe() const override;
  Config info() const override { return base_->info(); }
  Batch get_batch_seeded(const std::vector<int64_t>& indices, uint64_t seed) const override;
  const Dataset* base() const override { return base_.get(); }
  bool needs_caller_thread() const override {
    return caller_thread_ || DerivedDataset::needs_caller_thread();
  }

 private:
  std::shared_ptr<Dataset> base_;
  Transform transform_;
  std::string what_;
  bool caller_thread_;
};

/// @brief The parts of a seeded random permutation of [0, n), as
/// torch.utils.data.random_split: `sizes` are counts that sum to n, or fractions that sum to 1
/// (each part gets floor(n * f), and the rest goes one each to the parts in order).
std::vector<std::vector<int64_t>> random_split_indices(int64_t n, const std::vector<double>& sizes,
                                                       uint64_t seed);

}  // namespace gom
