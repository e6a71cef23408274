#include "gom_core/derived_dataset.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "gom/ops.h"

namespace gom {
namespace {

// splitmix64's finaliser: a well-mixed 64-bit value from any input.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

Tensor rows_of(const Tensor& t, const std::vector<int64_t>& indices) {
  return index_select(t, 0, tensor_i64(indices, {int64_t(indices.size())})).contiguous();
}

}  // namespace

const Dataset& root_dataset(const Dataset& d) {
  const Dataset* p = &d;
  while (auto* derived = dynamic_cast<const DerivedDataset*>(p)) {
    if (!derived->base()) break;
    p = derived->base();
  }
  return *p;
}

Batch batch_of(const Dataset& d, const std::vector<int64_t>& indices, uint64_t seed) {
  if (auto* derived = dynamic_cast<const DerivedDataset*>(&d))
    return derived->get_batch_seeded(indices, seed);
  return d.get_batch(indices);
}

uint64_t batch_seed(uint64_t seed, int64_t epoch, int64_t batch) {
  return mix(mix(mix(seed) ^ uint64_t(epoch)) ^ uint64_t(batch));
}

// ------------------------------------------------------------------------------ tensors
TensorDataset::TensorDataset(Tensor input, Tensor target, int64_t num_classes,
                             std::vector<Tensor> more_inputs)
    : input_(std::move(input)),
      target_(std::move(target)),
      num_classes_(num_classes),
      more_inputs_(std::move(more_inputs)) {
  if (!input_.defined() || input_.dim() < 1)
    throw Error("tensor_dataset: the inputs must be a tensor of at least one dim [N, ...]");
  if (target_.defined() && (target_.dim() < 1 || target_.shape()[0] != input_.shape()[0]))
    throw Error(fmt::format(
        "tensor_dataset: inputs {} and targets {} differ in their first dim (the examples)",
        shape_str(input_.shape()), shape_str(target_.shape())));
  if (input_.shape()[0] == 0) throw Error("tensor_dataset: no examples (the first dim is 0)");
  input_ = input_.to(kCPU).detach().contiguous();
  if (target_.defined()) target_ = target_.to(kCPU).detach().contiguous();
  for (size_t k = 0; k < more_inputs_.size(); ++k) {
    Tensor& t = more_inputs_[k];
    if (!t.defined() || t.dim() < 1 || t.shape()[0] != input_.shape()[0])
      throw Error(fmt::format(
          "tensor_dataset: input {} is {} but input 1 is {}: every input needs the same first dim "
          "(the examples)",
          k + 2, t.defined() ? shape_str(t.shape()) : "undefined", shape_str(input_.shape())));
    t = t.to(kCPU).detach().contiguous();
  }
}

Shape TensorDataset::input_shape() const {
  return Shape(input_.shape().begin() + 1, input_.shape().end());
}

std::string TensorDataset::describe() const {
  std::string more;
  for (const Tensor& t : more_inputs_)
    more += fmt::format(" + {} {}", dtype_name(t.dtype()),
                        shape_str(Shape(t.shape().begin() + 1, t.shape().end())));
  return fmt::format(
      "tensors: {} examples, inputs {} {}{}, targets {}", size(), dtype_name(input_.dtype()),
      shape_str(input_shape()), more,
      target_.defined()
          ? fmt::format("{} {}", dtype_name(target_.dtype()),
                        shape_str(Shape(target_.shape().begin() + 1, target_.shape().end())))
          : "none");
}

Config TensorDataset::info() const {
  Config c{{"examples", size()}};
  if (num_classes_ > 0) c["classes"] = num_classes_;
  if (!more_inputs_.empty()) c["inputs"] = int64_t(more_inputs_.size() + 1);
  return c;
}

Batch TensorDataset::get_batch_seeded(const std::vector<int64_t>& indices, uint64_t) const {
  for (int64_t i : indices)
    if (i < 0 || i >= size())
      throw Error(fmt::format("tensor_dataset: index {} is outside [0, {})", i, size()));
  Batch b;
  b.input = rows_of(input_, indices);
  if (target_.defined()) b.target = rows_of(target_, indices);
  for (const Tensor& t : more_inputs_) b.more_inputs.push_back(rows_of(t, indices));
  return b;
}

// ------------------------------------------------------------------------------ subsets
SubsetDataset::SubsetDataset(std::shared_ptr<Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  if (indices_.empty()) throw Error("subset: no indices");
  for (int64_t i : indices_)
    if (i < 0 || i >= base_->size())
      throw Error(
          fmt::format("subset: index {} is outside the dataset's [0, {})", i, base_->size()));
}

std::string SubsetDataset::describe() const {
  return fmt::format("subset of {} examples of {}", size(), base_->describe());
}

Batch SubsetDataset::get_batch_seeded(const std::vector<int64_t>& indices, uint64_t seed) const {
  std::vector<int64_t> mapped;
  mapped.reserve(indices.size());
  for (int64_t i : indices) {
    if (i < 0 || i >= size())
      throw Error(fmt::format("subset: index {} is outside [0, {})", i, size()));
    mapped.push_back(indices_[size_t(i)]);
  }
  return batch_of(*base_, mapped, seed);
}

// ------------------------------------------------------------------------------ transforms
TransformedDataset::TransformedDataset(std::shared_ptr<Dataset> base, Transform transform,
                                       std::string what, bool caller_thread)
    : base_(std::move(base)),
      transform_(std::move(transform)),
      what_(std::move(what)),
      caller_thread_(caller_thread) {}

Shape TransformedDataset::input_shape() const {
  const Shape s = get_batch_seeded({0}, 0).input.shape();
  return Shape(s.begin() + 1, s.end());
}

std::string TransformedDataset::describe() const {
  return fmt::format("{} transformed by {}", base_->describe(), what_);
}

Batch TransformedDataset::get_batch_seeded(const std::vector<int64_t>& indices,
                                           uint64_t seed) const {
  // The base's own randomness and this transform's draw from different streams.
  return transform_(batch_of(*base_, indices, mix(seed ^ 0x5DEECE66Dull)), seed);
}

// ------------------------------------------------------------------------------ splits
std::vector<std::vector<int64_t>> random_split_indices(int64_t n, const std::vector<double>& sizes,
                                                       uint64_t seed) {
  if (sizes.empty()) throw Error("random_split: no sizes given");
  double total = 0;
  bool counts = true;
  for (double s : sizes) {
    if (!(s >= 0)) throw Error(fmt::format("random_split: a size is {}; sizes are >= 0", s));
    total += s;
    counts = counts && s == std::floor(s);
  }
  std::vector<int64_t> len(sizes.size());
  if (counts && total == double(n) && !(total == 1 && n != 1)) {
    for (size_t i = 0; i < sizes.size(); ++i) len[i] = int64_t(sizes[i]);
  } else if (std::abs(total - 1) < 1e-9) {
    int64_t given = 0;
    for (size_t i = 0; i < sizes.size(); ++i)
      given += len[i] = int64_t(std::floor(double(n) * sizes[i]));
    for (size_t i = 0; given < n; i = (i + 1) % sizes.size(), ++given) ++len[i];
  } else {
    throw Error(
        fmt::format("random_split: sizes must be counts that sum to the dataset's {} "
                    "examples, or fractions that sum to 1 (they sum to {})",
                    n, total));
  }
  // Fisher-Yates with mt19937_64, whose output the standard fixes: the same parts everywhere.
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[size_t(i)] = i;
  std::mt19937_64 rng(mix(seed));
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng() % i]);
  std::vector<std::vector<int64_t>> parts;
  size_t at = 0;
  for (int64_t l : len) {
    parts.emplace_back(perm.begin() + int64_t(at), perm.begin() + int64_t(at) + l);
    at += size_t(l);
  }
  return parts;
}

}  // namespace gom
