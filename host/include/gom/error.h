// gom/error.h — the exception types of the SDK: Error, and DivergedError for a diverged fit.
#pragma once

#include <boost/config.hpp>  // BOOST_SYMBOL_VISIBLE
#include <stdexcept>
#include <string>

namespace gom {

/// @brief Every error gom raises: a message that says what went wrong, where, and what is
/// accepted. Plugins throw it too; the host converts anything else at plugin boundaries.
// Visible across plugins built with -fvisibility=hidden: one type for catch and dynamic_cast.
class BOOST_SYMBOL_VISIBLE Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// @brief Training diverged (a non-finite loss or gradient). The fit loop throws it, and a
/// callback may too (terminate_on_nan): the fit passes it on as a DivergedError, and the run is
/// recorded as "diverged" instead of "failed".
class BOOST_SYMBOL_VISIBLE DivergedError : public Error {
 public:
  using Error::Error;
};

/// @brief An error in a child of a container, with where it happened: the child's path from
/// the outermost container ("2", "1.0": the names of the weights, "1.0.weight") and its type.
/// It reads "model.1.0 (linear): input of shape [64, 8] does not fit ...", the model being the
/// outermost container (its hyperparameters are recorded as "model.1.0.out"). Containers throw
/// it (Container::forward_child), each one adding its child's name in front.
class BOOST_SYMBOL_VISIBLE LayerError : public Error {
 public:
  LayerError(const std::string& path, const std::string& type, const std::string& detail)
      : Error("model." + path + " (" + type + "): " + detail),
        path_(path),
        type_(type),
        detail_(detail) {}
  const std::string& path() const { return path_; }
  const std::string& type() const { return type_; }
  /// @brief The layer's own message.
  const std::string& detail() const { return detail_; }

 private:
  std::string path_, type_, detail_;
};

}  // namespace gom
