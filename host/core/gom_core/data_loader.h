// gom_core/data_loader.h — batches from a Dataset: seeded shuffling, a prefetch thread, and the
// move to the training device. Host-level API (the trainer, Lua, tests), not part of the SDK.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "gom/dataset.h"

namespace gom {

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;  ///< drop a last batch smaller than batch_size
  uint64_t seed = 0;       ///< the order of epoch e depends only on (seed, e)
  Device device = kCPU;
  int prefetch = 2;  ///< batches prepared ahead by the background thread (0: none, no thread)
  /// @brief Data-parallel training (gom_core/data_parallel.h): this process is rank `rank` of
  /// `world`. Every global batch of batch_size (of the one seeded order) is cut into `world`
  /// contiguous shares whose sizes differ by at most one, and rank r gets share r of each.
  int rank = 0;
  int world = 1;
  /// @brief With world > 1: every rank gets the same number of batches (training: each batch is
  /// one optimizer step on every rank). A last global batch with fewer examples than ranks is
  /// then dropped on all of them. Without it a rank skips the batches where its share is empty
  /// (validation: at most the last one).
  bool even_batches = false;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<Dataset> dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// @brief The batches this rank gets per epoch (all of them outside a data-parallel job).
  int64_t num_batches() const;
  int64_t num_samples() const;  ///< samples per epoch over every rank (after drop_last)
  /// @brief The size of global batch `b` (0-based): the examples all ranks share in it.
  int64_t global_batch_size(int64_t b) const;
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return opts_; }

  /// @brief Starts epoch `epoch` (0-based): computes its order and starts prefetching.
  void begin_epoch(int64_t epoch);
  /// @brief The next batch of the epoch; false when the epoch is over. Rethrows an error of the
  /// prefetch thread (a corrupt file, say) here, on the caller's thread.
  bool next(Batch& out);
  /// @brief The order of the examples in epoch `epoch` (what begin_epoch uses).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  Batch make_batch(int64_t b) const;
  int64_t global_batches() const;
  // This rank's share [begin, end) of the epoch's order in global batch b.
  std::pair<int64_t, int64_t> share(int64_t b) const;
  // A prefetched batch was copied on the loader's stream: the consumer's stream waits for it.
  void hand_over(Batch& b) const;
  void stop();

  std::shared_ptr<Dataset> dataset_;
  LoaderOptions opts_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0;   // the epoch begun last
  int64_t cursor_ = 0;  // next batch to hand out (no-prefetch mode)
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  int64_t produced_ = 0, consumed_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace gom
