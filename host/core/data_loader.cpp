#include "gom_core/data_loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <random>

#include "gom/autograd.h"
#include "gom/kernel.h"
#include "gom_core/derived_dataset.h"

namespace gom {

DataLoader::DataLoader(std::shared_ptr<Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), opts_(options) {
  if (!dataset_) throw Error("data loader: no dataset");
  if (opts_.batch_size < 1)
    throw Error(fmt::format("data loader: batch_size must be >= 1, got {}", opts_.batch_size));
  if (dataset_->size() == 0)
    throw Error("data loader: the dataset is empty: " + dataset_->describe());
  if (opts_.world < 1 || opts_.rank < 0 || opts_.rank >= opts_.world)
    throw Error(fmt::format("data loader: rank {} of a world of {}", opts_.rank, opts_.world));
  // Each step needs an example on every rank: a smaller global batch leaves a rank nothing.
  if (opts_.even_batches && opts_.batch_size < opts_.world)
    throw Error(
        fmt::format("data loader: batch_size {} is smaller than the {} processes of the "
                    "data-parallel job: each needs at least one example of every batch",
                    opts_.batch_size, opts_.world));
  // A Lua transform runs on the script's thread only.
  if (auto* d = dynamic_cast<const DerivedDataset*>(dataset_.get()); d && d->needs_caller_thread())
    opts_.prefetch = 0;
}

DataLoader::~DataLoader() {
  stop();
}

int64_t DataLoader::num_samples() const {
  const int64_t n = dataset_->size();
  return opts_.drop_last ? n / opts_.batch_size * opts_.batch_size : n;
}

int64_t DataLoader::global_batches() const {
  return (num_samples() + opts_.batch_size - 1) / opts_.batch_size;
}

int64_t DataLoader::global_batch_size(int64_t b) const {
  return std::min(opts_.batch_size, num_samples() - b * opts_.batch_size);
}

// Every global batch but the last holds batch_size examples, so the batches whose share is
// empty (fewer examples than the share's rank) are at most the last one, or all of them.
int64_t DataLoader::num_batches() const {
  const int64_t all = global_batches();
  if (opts_.world == 1) return all;
  // The smallest share is the last rank's: with even batches every rank counts as that one.
  const int64_t needs = (opts_.even_batches ? opts_.world - 1 : opts_.rank) + 1;
  if (opts_.batch_size < needs) return 0;
  return global_batch_size(all - 1) >= needs ? all : all - 1;
}

std::pair<int64_t, int64_t> DataLoader::share(int64_t b) const {
  const int64_t start = b * opts_.batch_size, n = global_batch_size(b);
  const int64_t w = opts_.world, r = opts_.rank, base = n / w, extra = n % w;
  const int64_t begin = start + r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

// Fisher-Yates with mt19937_64, whose output the C++ standard fixes (std::shuffle's is not), so
// an order is the same on every platform and after a resume.
std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(dataset_->size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  if (!opts_.shuffle) return order;
  std::mt19937_64 rng(opts_.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
  for (size_t i = order.size(); i > 1; --i) {
    const uint64_t j = rng() % i;  // modulo bias is below 2^-40 for any real dataset size
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

Batch DataLoader::make_batch(int64_t b) const {
  const auto [start, end] = share(b);
  std::vector<int64_t> idx(order_.begin() + start, order_.begin() + end);
  NoGrad ng;
  // A derived dataset's random transforms draw from (seed, epoch, batch): resumable. Each rank's
  // share draws from a stream of its own (as if the batches were numbered rank by rank).
  const int64_t stream = opts_.world == 1 ? b : b * opts_.world + opts_.rank;
  Batch batch = batch_of(*dataset_, idx, batch_seed(opts_.seed, epoch_, stream));
  if (opts_.device != kCPU) {
    batch.input = batch.input.to(opts_.device);
    for (auto& x : batch.more_inputs) x = x.to(opts_.device);
    if (batch.target.defined()) batch.target = batch.target.to(opts_.device);
  }
  return batch;
}

namespace {
// The stream batches are copied to `device` on from the prefetch thread, one per device, made
// on first use; null where the backend has no streams (the CPU).
void* copy_stream(Device device) {
  static std::mutex mu;
  static void* streams[kNumDeviceTypes][kMaxDevices] = {};
  const BackendInfo* b = find_backend(device.type);
  if (device.type == DeviceType::CPU || !b || !b->new_stream || !b->wait_stream) return nullptr;
  std::lock_guard lock(mu);
  void*& s = streams[static_cast<int>(device.type)][device.index];
  if (!s) s = b->new_stream(device.index);
  return s;
}
}  // namespace

void DataLoader::hand_over(Batch& b) const {
  void* copy = copy_stream(opts_.device);
  if (!copy) return;
  const Stream compute = current_stream(opts_.device), from{opts_.device, copy};
  find_backend(opts_.device.type)->wait_stream(compute, from);
  // Freed on the compute side, the memory goes back to the copy stream's cache: that stream
  // must wait for the compute stream's use of it first.
  auto adopt = [&](const Tensor& t) {
    if (t.defined()) t.storage()->record_stream(compute);
  };
  adopt(b.input);
  adopt(b.target);
  for (const Tensor& x : b.more_inputs) adopt(x);
}

void DataLoader::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void DataLoader::begin_epoch(int64_t epoch) {
  stop();
  order_ = epoch_order(epoch);
  epoch_ = epoch;
  ready_.clear();
  produced_ = consumed_ = cursor_ = 0;
  stopping_ = false;
  error_ = nullptr;
  if (opts_.prefetch <= 0) return;
  worker_ = std::thread([this] {
    // This thread's parallel regions get one thread (OpenMP's thread count is per calling
    // thread): the compute threads keep the cores, batch assembly is only copies.
    set_num_threads(1);
    // Batches go to the device on a stream of their own, overlapping the model's work.
    std::optional<StreamGuard> on_copy_stream;
    if (void* s = copy_stream(opts_.device)) on_copy_stream.emplace(Stream{opts_.device, s});
    const int64_t n = num_batches();
    for (int64_t b = 0; b < n; ++b) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || int64_t(ready_.size()) < opts_.prefetch; });
        if (stopping_) return;
      }
      Batch batch;
      try {
        batch = make_batch(b);
      } catch (...) {
        std::lock_guard lock(mu_);
        error_ = std::current_exception();
        cv_.notify_all();
        return;
      }
      std::lock_guard lock(mu_);
      ready_.push_back(std::move(batch));
      ++produced_;
      cv_.notify_all();
    }
  });
}

bool DataLoader::next(Batch& out) {
  if (order_.empty()) throw Error("data loader: next() before begin_epoch()");
  if (opts_.prefetch <= 0) {
    if (cursor_ >= num_batches()) return false;
    out = make_batch(cursor_++);
    return true;
  }
  std::unique_lock lock(mu_);
  if (consumed_ >= num_batches()) return false;
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty() && error_) std::rethrow_exception(error_);
  out = std::move(ready_.front());
  ready_.pop_front();
  ++consumed_;
  cv_.notify_all();
  lock.unlock();
  hand_over(out);
  return true;
}

}  // namespace gom
