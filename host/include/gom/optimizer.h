// gom/optimizer.h — optimizers over parameter groups, and their registry.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
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
