// The oneDNN backend's primitive-cache key: equal for equal shapes, strides, dtypes and
// attributes, different when any of them differs, past the inline capacity too.
#include <catch2/catch.hpp>

#include "dnnl_util.h"
#include "gom/gom.h"

using namespace gom;
using gom::onednn::Key;

TEST_CASE("primitive-cache keys are equal for equal inputs and differ otherwise", "[dispatch]") {
  Tensor a = zeros({4, 3}), b = zeros({4, 3});
  CHECK(Key().add(a).add(7) == Key().add(b).add(7));
  CHECK(Key().add(a).add(7).hash() == Key().add(b).add(7).hash());
  CHECK(Key().add(a).size() == 7);  // rank, 2 dims, rank, 2 strides, dtype
  CHECK_FALSE(Key().add(a).add(7) == Key().add(a).add(8));          // attribute
  CHECK_FALSE(Key().add(a) == Key().add(zeros({3, 4})));            // shape
  CHECK_FALSE(Key().add(a) == Key().add(zeros({3, 4}).t()));         // strides
  CHECK_FALSE(Key().add(a) == Key().add(zeros({4, 3}).to(DType::I64)));  // dtype
  CHECK_FALSE(Key().add(a) == Key().add(a).add(0));                   // length
}

TEST_CASE("primitive-cache keys compare values beyond the inline capacity", "[dispatch]") {
  Key x, y, z;
  for (int64_t i = 0; i < int64_t(Key::kInline) + 10; ++i) {
    x.add(i);
    y.add(i);
    z.add(i == int64_t(Key::kInline) + 5 ? -1 : i);
  }
  CHECK(x == y);
  CHECK_FALSE(x == z);
}

TEST_CASE("the primitive cache builds once per key", "[dispatch]") {
  gom::onednn::PrimitiveCache<int> cache;
  int built = 0;
  auto make = [&] { return ++built; };
  CHECK(cache.get(Key().add(1), make) == 1);
  CHECK(cache.get(Key().add(1), make) == 1);
  CHECK(cache.get(Key().add(2), make) == 2);
  CHECK(built == 2);
}
