// gom/optimizer.h — optimizers over parameter groups, and their registry.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gom/params.h"
#include "gom/tensor.h"

namespace gom {

/// @brief Parameters that share hyperparameters ("lr", "weight_decay", "momentum", ...). A
/// schedule changes options["lr"] between steps.
struct ParamGroup {
  std::vector<Tensor> params;
  std::map<std::string, double> options;
};

/// @brief Named tensors of an optimizer's state, in a stable order. A key is "<index>.<name>",
/// where index counts the parameters of every group in order (group 0's first): "0.exp_avg",
/// "0.step", "3.momentum_buffer". Step counts are 0-d i64 tensors.
using OptimizerState = std::vector<std::pair<std::string, Tensor>>;

class BOOST_SYMBOL_VISIBLE Optimizer {
 public:
  virtual ~Optimizer() = default;
  /// @brief One update of every parameter that has a gradient (under NoGrad).
  virtual void step() = 0;
  /// @brief Drops every gradient (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  /// @brief The lr of group 0, and setting it on every group.
  double lr() const;
  void set_lr(double lr);
  const std::string& type() const { return type_; }
  void set_type(std::string t) { type_ = std::move(t); }

  // Saving and restoring, for checkpoints: state() and every group's options, from which a new
  // optimizer of the same type over parameters of the same shapes continues bit for bit.

  /// @brief The per-parameter state (momentum buffers, moving averages, step counts) of the
  /// parameters that have any. The buffers share storage with the optimizer, so the next step
  /// changes them: clone to keep a snapshot. The default, for an optimizer without state, is
  /// empty.
  virtual OptimizerState state() const { return {}; }
  /// @brief Replaces the whole state with copies of `state`'s tensors: a parameter without keys
  /// starts afresh. Everything is checked before anything changes: an unexpected key, a missing
  /// one, or a wrong shape or dtype is a gom::Error that names the key.
  virtual void load_state(const OptimizerState& state);
  /// @brief Every group's options (lr, ...), in group order.
  std::vector<std::map<std::string, double>> group_options() const;
  /// @brief Sets every group's options; the number of groups must match.
  void load_group_options(const std::vector<std::map<std::string, double>>& options);

 protected:
  explicit Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {}
  std::vector<ParamGroup> groups_;

 private:
  std::string type_;
};

/// @brief Makes an optimizer over `params` with validated hyperparameters; the factory puts
/// them in one group's options.
using OptimizerFactory =
    std::function<std::shared_ptr<Optimizer>(std::vector<Tensor> params, const Params&)>;

void register_optimizer(const std::string& name, const std::string& doc, Schema schema,
                        OptimizerFactory factory);
std::shared_ptr<Optimizer> create_optimizer(const std::string& name, std::vector<Tensor> params,
                                            const Config& config = {});

}  // namespace gom
