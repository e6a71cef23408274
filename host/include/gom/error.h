// gom/error.h — the one exception type of the SDK.
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

}  // namespace gom
