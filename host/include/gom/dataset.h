// gom/dataset.h — datasets and their registry.
//
// A dataset is a random-access collection of examples that gives whole batches as CPU tensors;
// the core data loader shuffles (seeded), batches and moves batches to the device.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gom/params.h"
#include "gom/tensor.h"

namespace gom {

struct Batch {
  Tensor input;   ///< [B, ...] f32
  Tensor target;  ///< [B] i64 class indices, or [B, ...] f32 for regression
};

class BOOST_SYMBOL_VISIBLE Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  /// @brief The examples at `indices`, stacked in that order. Indices are in [0, size()).
  virtual Batch get_batch(const std::vector<int64_t>& indices) const = 0;
  /// @brief Shape of one example's input (without the batch dim).
  virtual Shape input_shape() const = 0;
  /// @brief Number of classes for classification, 0 for regression.
  virtual int64_t num_classes() const { return 0; }
  /// @brief One line for logs: what it is and how big.
  virtual std::string describe() const = 0;
};

using DatasetFactory = std::function<std::shared_ptr<Dataset>(const Params&)>;

void register_dataset(const std::string& name, const std::string& doc, Schema schema,
                      DatasetFactory factory);
std::shared_ptr<Dataset> create_dataset(const std::string& name, const Config& config = {});

}  // namespace gom
