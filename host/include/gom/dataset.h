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
  Tensor input;   ///< [B, ...] f32, or i64 indices (tokens, user/item ids)
  Tensor target;  ///< [B] i64 class indices, or [B, ...] f32 for regression
  /// @brief The inputs after `input` of a dataset whose examples have several (a wide-and-deep
  /// net's two tensors), each [B, ...]: fit passes {input, more_inputs...} to the model's
  /// forward_inputs. Empty for the usual one input.
  std::vector<Tensor> more_inputs;
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
  /// @brief What was derived from the data and a model or a reader of the run needs to know
  /// (vocabulary size, category cardinalities, fill values of missing cells, standardisation
  /// statistics). Recorded with the run as params data.<split>.info.<key>; ds:info() in Lua.
  virtual Config info() const { return {}; }
};

/// @brief A dataset of token ids with a vocabulary (the text dataset): what a script needs to
/// turn a prompt into ids and generated ids back into text.
class BOOST_SYMBOL_VISIBLE TextDataset : public Dataset {
 public:
  /// @brief The tokens by id.
  virtual const std::vector<std::string>& vocabulary() const = 0;
  /// @brief Tokenises `text` as the corpus was; an unknown token is a gom::Error naming it
  /// (or maps to the unknown token where the vocabulary has one).
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  /// @brief Joins the tokens of `ids` (characters as they are, words with spaces).
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
};

/// @brief A dataset whose examples hold indices of named categories (a csv table's categorical
/// columns and class target, the ratings' users and items): the raw values by index, so a
/// script can map raw ids to indices and back (ds:classes(column) in Lua).
class BOOST_SYMBOL_VISIBLE CategoricalDataset : public Dataset {
 public:
  /// @brief The columns that have a map, in the order of the inputs (a class target last).
  virtual std::vector<std::string> category_columns() const = 0;
  /// @brief The raw values of `column` by index; a gom::Error naming the columns for another.
  virtual const std::vector<std::string>& categories(const std::string& column) const = 0;
};

using DatasetFactory = std::function<std::shared_ptr<Dataset>(const Params&)>;

void register_dataset(const std::string& name, const std::string& doc, Schema schema,
                      DatasetFactory factory);
std::shared_ptr<Dataset> create_dataset(const std::string& name, const Config& config = {});

}  // namespace gom
