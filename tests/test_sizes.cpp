// Sizes that overflow or cannot be allocated: every element count, byte count, stride and view
// offset is checked where it is made, and refused with a gom::Error naming the shape, in C++ and
// through the Lua binding.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

#include "gom/gom.h"
#include "gom_lua/runtime.h"

using namespace gom;
using Catch::Matchers::Contains;
using gom::lua::RunContext;
using gom::lua::Runtime;
using gom::lua::ScriptResult;

namespace {

std::string lua_error(const std::string& code) {
  RunContext ctx;
  Runtime rt(ctx);
  const ScriptResult r = rt.run_string(code, "@sizes.lua");
  return r.status == ScriptResult::Status::Failed ? r.error : "(no error)";
}

}  // namespace

TEST_CASE("sizes: an element count that overflows 64 bits is refused", "[tensor][sizes]") {
  // 2^62 + 3 elements of 4 bytes wrap to 12 bytes; 3037000500^2 wraps to a negative count.
  CHECK_THROWS_WITH(Tensor::empty({int64_t(1) << 62, 2, 2}),
                    "shape [4611686018427387904, 2, 2] is too large: its number of elements "
                    "overflows 64 bits");
  CHECK_THROWS_WITH(ones({3037000500, 3037000500}),
                    "shape [3037000500, 3037000500] is too large: its number of elements "
                    "overflows 64 bits");
  // A zero does not hide the others: they still become strides.
  CHECK_THROWS_WITH(zeros({0, int64_t(1) << 32, int64_t(1) << 32}),
                    Contains("shape [0, 4294967296, 4294967296] is too large"));
  CHECK(zeros({0, int64_t(1) << 31, int64_t(1) << 31}).numel() == 0);
  CHECK(shape_numel({int64_t(1) << 31, int64_t(1) << 31}) == int64_t(1) << 62);
}

TEST_CASE("sizes: a byte count that overflows 64 bits is refused", "[tensor][sizes]") {
  CHECK_THROWS_WITH(zeros({4611686018427387907}),
                    "shape [4611686018427387907] is too large: 4611686018427387907 elements × 4 "
                    "bytes (f32) overflows 64 bits");
  CHECK_THROWS_WITH(Tensor::empty({int64_t(1) << 61, 2}, {DType::I64, kCPU}),
                    "shape [2305843009213693952, 2] is too large: 4611686018427387904 elements "
                    "× 8 bytes (i64) overflows 64 bits");
}

TEST_CASE("sizes: more memory than the machine has is an error naming the shape",
          "[tensor][sizes]") {
  // 8 TB: representable, but never allocatable here; without the check, an overcommitting
  // malloc could say yes and the first fill would kill the process.
  const std::string e = [] {
    try {
      zeros({1000000000000, 2});
    } catch (const Error& err) {
      return std::string(err.what());
    }
    return std::string("(no error)");
  }();
  CHECK_THAT(e, Catch::StartsWith("cannot allocate a tensor of shape [1000000000000, 2] (f32, "
                                  "8000000000000 bytes): out of CPU memory: the machine has "));
}

TEST_CASE("sizes: views stay inside their storage", "[tensor][sizes]") {
  Tensor a = arange(0, 10);
  // A huge step used to wrap (end - start + step - 1) into a negative size.
  Tensor s = a.slice(0, 2, 10, INT64_MAX);
  CHECK(s.shape() == Shape{1});
  CHECK(s.item() == 2);
  CHECK(a.slice(0, 1, 10, 4).to_vector<float>() == std::vector<float>{1, 5, 9});
  // An expand whose element count overflows is refused, not a view of 2^64 elements.
  CHECK_THROWS_WITH(a.reshape({10, 1}).expand({10, int64_t(1) << 62}),
                    Contains("shape [10, 4611686018427387904] is too large"));
  CHECK_THROWS_WITH(a.reshape({-1, int64_t(1) << 62, 4}),
                    Contains("reshape: shape [-1, 4611686018427387904, 4] is too large"));
}

TEST_CASE("sizes: arange with more values than 64 bits count is refused", "[tensor][sizes]") {
  CHECK_THROWS_WITH(arange(0, 1e300), Contains("arange: 1e+300 values from 0 to 1e+300 in steps "
                                               "of 1 are too many"));
}

TEST_CASE("sizes: Lua shapes too large, and whole numbers written as floats",
          "[lua][sizes]") {
  CHECK_THAT(lua_error("gom.zeros({4611686018427387907})"),
             Contains("sizes.lua:1: shape [4611686018427387907] is too large: "
                      "4611686018427387907 elements × 4 bytes (f32) overflows 64 bits"));
  CHECK_THAT(lua_error("gom.ones({3037000500, 3037000500})"),
             Contains("sizes.lua:1: shape [3037000500, 3037000500] is too large"));
  // 1e6 is a whole number: the shape is fine, the memory is not there.
  CHECK_THAT(lua_error("gom.zeros({1e6, 1e6})"),
             Contains("sizes.lua:1: cannot allocate a tensor of shape [1000000, 1000000] (f32, "
                      "4000000000000 bytes): out of CPU memory"));
  CHECK_THAT(lua_error("gom.zeros({1e20, 2})"),
             Contains("sizes.lua:1: shape: element 1 (1e+20) is too large for a size (at most "
                      "2^63 - 1)"));
  CHECK_THAT(lua_error("gom.zeros({2, 2.5})"),
             Contains("sizes.lua:1: shape: element 2 is a number, not an integer"));
  CHECK_THAT(lua_error("gom.zeros({2, '3'})"),
             Contains("sizes.lua:1: shape: element 2 is a string, not an integer"));
  CHECK(lua_error("assert(gom.zeros({2e0, 3}):numel() == 6)") == "(no error)");
}
