// gom/error.h — the one exception type of the SDK.
#pragma once

#include <stdexcept>
#include <string>

namespace gom {

/// @brief Every error gom raises: a message that says what went wrong, where, and what is
/// accepted. Plugins throw it too; the host converts anything else at plugin boundaries.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace gom
