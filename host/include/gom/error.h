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

}  // namespace gom
