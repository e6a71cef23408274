// The Lua binding of the shape ops (host/lua/lua_tensor_shape.cpp): t[i] indexing (0-based,
// negative from the end, errors with the valid range, gradients), t[i] = v, mask and index
// selection, the shape/sort methods and the functional conv2d, pooling and batch_norm, all with
// values worked by hand.
#include <catch2/catch.hpp>
#include <string>

#include "gom/gom.h"
#include "gom_lua/runtime.h"
#include "lua_script.h"

using gom::lua::ScriptResult;
using gom_test::require_ok;
using gom_test::run_lua;

TEST_CASE("lua: t[i] selects like PyTorch, 0-based and negative from the end", "[lua][shape_ops]") {
  require_ok(run_lua(R"lua(
    local t = gom.tensor({{1, 2, 3}, {4, 5, 6}})
    local r = t[0]:totable()
    assert(#r == 3 and r[1] == 1 and r[3] == 3, "t[0]")
    assert(t[-1]:totable()[1] == 4, "t[-1]")
    assert(t[1][2]:item() == 6 and t[-2][-1]:item() == 3 and t[0][-3]:item() == 1, "t[i][j]")
    assert(t:sum():item() == 21, "methods still work through __index")
    assert(t[1]:dim() == 1 and t[1][0]:dim() == 0)
    assert(t:select(1, -1):totable()[2] == 6, "select(dim, i)")
    -- A view: writing through it changes t.
    local z = gom.zeros({2, 3})
    z[1] = 7
    z[0] = gom.tensor({1, 2, 3})
    z[0][1] = 10
    local zt = z:totable()
    assert(zt[1][1] == 1 and zt[1][2] == 10 and zt[1][3] == 3 and zt[2][2] == 7, "t[i] = v")
    -- Gradient through t[i]: d/dw sum(w[1] * w[1]) = 2 w in row 1, plus 5 at w[0][1].
    local w = gom.tensor({{1, 2}, {3, 4}}):requires_grad_()
    local y = (w[1] * w[1]):sum() + w[0][1] * 5
    y:backward()
    local g = w.grad:totable()
    assert(g[1][1] == 0 and g[1][2] == 5 and g[2][1] == 6 and g[2][2] == 8, "grad through t[i]")
  )lua"));
  const ScriptResult out = run_lua("local t = gom.tensor({{1, 2}, {3, 4}}); return t[2]");
  REQUIRE(out.status == ScriptResult::Status::Failed);
  CHECK_THAT(out.error, Catch::Contains("test.lua:1:") &&
                            Catch::Contains("index 2 is out of range for dimension 0 of size 2 "
                                            "(valid: -2 to 1)"));
  const ScriptResult neg = run_lua("local t = gom.tensor({1, 2, 3}); return t[-4]");
  CHECK_THAT(neg.error,
             Catch::Contains("index -4 is out of range") && Catch::Contains("(valid: -3 to 2)"));
  const ScriptResult frac = run_lua("local t = gom.tensor({1, 2, 3}); return t[0.5]");
  CHECK_THAT(frac.error, Catch::Contains("tensor index 0.5 is not an integer"));
  const ScriptResult grad = run_lua("local w = gom.ones({2, 2}):requires_grad_(); w[0] = 3");
  CHECK_THAT(grad.error, Catch::Contains("requires grad"));
}

TEST_CASE("lua: t:index with a 0/1 mask or i64 rows, differentiable", "[lua][shape_ops]") {
  require_ok(run_lua(R"lua(
    local t = gom.tensor({{1, 2, 3}, {4, 5, 6}})
    local picked = t:index(t:gt(2.5)):totable()
    assert(#picked == 4 and picked[1] == 3 and picked[4] == 6, "elementwise mask")
    local row = t:index(gom.tensor({0, 1})):totable()
    assert(#row == 1 and row[1][3] == 6, "mask of the leading dim picks rows")
    local rows = t:index(gom.tensor({1, 1, 0}, "i64")):totable()
    assert(#rows == 3 and rows[2][1] == 4 and rows[3][1] == 1, "i64 rows")
    local x = gom.tensor({1, -2, 3}):requires_grad_();
    (x:index(x:gt(0)) * 2):sum():backward()
    local g = x.grad:totable()
    assert(g[1] == 2 and g[2] == 0 and g[3] == 2, "gradient through the mask")
  )lua"));
  const ScriptResult bad = run_lua("local t = gom.ones({2, 3}); return t:index(gom.ones({3}))");
  CHECK_THAT(bad.error, Catch::Contains("leading dims"));
}

TEST_CASE("lua: shape, sort and creation functions", "[lua][shape_ops]") {
  require_ok(run_lua(R"lua(
    local function same(a, b) return gom.allclose(a, gom.tensor(b)) end
    local a, b = gom.tensor({1, 2}), gom.tensor({3, 4})
    assert(same(gom.stack({a, b}), {{1, 2}, {3, 4}}) and same(gom.stack({a, b}, 1), {{1, 3}, {2, 4}}))
    local m = gom.tensor({{1, 2, 3}, {4, 5, 6}})
    assert(same(m:permute(1, 0), {{1, 4}, {2, 5}, {3, 6}}) and same(m:permute({1, 0}), m:t():totable()))
    assert(same(m:flip(1), {{3, 2, 1}, {6, 5, 4}}) and same(m:roll(1, 1), {{3, 1, 2}, {6, 4, 5}}))
    assert(same(a:tile({2}), {1, 2, 1, 2}) and same(a["repeat"](a, {2, 1}), {{1, 2}, {1, 2}}))
    local parts = m:chunk(2, 1)
    assert(#parts == 2 and same(parts[2], {{3}, {6}}))
    local s = m:split({1, 2}, 1)
    assert(#s == 2 and same(s[2], {{2, 3}, {5, 6}}) and #m:split(2, 1) == 2)
    assert(same(gom.ones({2, 2}):triu(1), {{0, 1}, {0, 0}}) and same(gom.ones({2, 2}):tril(), {{1, 0}, {1, 1}}))
    assert(same(gom.pad(a, {1, 2}, "constant", 9), {9, 1, 2, 9, 9}))
    assert(same(gom.pad(gom.tensor({{1, 2, 3}}), {2, 1}, "reflect"), {{3, 2, 1, 2, 3, 2}}))
    local v, i = gom.tensor({3, 1, 2}):sort()
    assert(same(v, {1, 2, 3}) and i:totable()[1] == 1 and i:dtype() == "i64")
    local vd = gom.tensor({3, 1, 2}):sort(0, true)
    assert(same(vd, {3, 2, 1}) and gom.tensor({3, 1, 2}):argsort():totable()[3] == 0)
    local tv, ti = gom.tensor({5, 9, 1, 7}):topk(2)
    assert(same(tv, {9, 7}) and ti:totable()[2] == 3)
    local u, inv, cnt = gom.tensor({2, 0, 2, 5}, "i64"):unique(true, true)
    assert(u:totable()[3] == 5 and inv:totable()[4] == 2 and cnt:totable()[2] == 2)
    local oh = gom.one_hot(gom.tensor({2, 0}, "i64"), 3)
    assert(oh:dtype() == "i64" and oh:totable()[1][3] == 1 and oh:float():sum():item() == 2)
    assert(same(gom.eye(2), {{1, 0}, {0, 1}}) and same(gom.linspace(0, 1, 5), {0, 0.25, 0.5, 0.75, 1}))
    assert(gom.einsum("i,i->", a, b):item() == 11 and gom.einsum("ij->ji", {m}):shape()[1] == 3)
    assert(same(gom.einsum("ij,jk->ik", m, m:t()), {{14, 32}, {32, 77}}))
  )lua"));
  const ScriptResult bad = run_lua(R"(return gom.einsum("ii->i", gom.ones({2, 2})))");
  CHECK_THAT(bad.error, Catch::Contains("repeated in operand 0") && Catch::Contains("accepted"));
}

TEST_CASE("lua: functional conv2d, pooling and batch_norm by hand", "[lua][shape_ops]") {
  require_ok(run_lua(R"lua(
    local function same(a, b) return gom.allclose(a, gom.tensor(b), 1e-5, 1e-6) end
    -- A vertical edge in the last column under a fixed Sobel-x kernel (no layer).
    local img = gom.tensor({{{{0, 0, 0, 1}, {0, 0, 0, 1}, {0, 0, 0, 1}, {0, 0, 0, 1}}}})
    local sobel = gom.tensor({{{{-1, 0, 1}, {-2, 0, 2}, {-1, 0, 1}}}})
    assert(same(gom.conv2d(img, sobel), {{{{0, 4}, {0, 4}}}}), "valid")
    -- Padding 1, stride 2: the top windows lose their zero-padded first row (weight 1): 3.
    assert(same(gom.conv2d(img, sobel, nil, 2, 1), {{{{0, 3}, {0, 4}}}}), "stride 2, padding 1")
    assert(same(gom.conv2d(img, sobel, gom.tensor({0.5}), {1, 1}), {{{{0.5, 4.5}, {0.5, 4.5}}}}), "bias")
    local x = gom.arange(1, 17):reshape({1, 1, 4, 4})
    assert(same(gom.max_pool2d(x, 2), {{{{6, 8}, {14, 16}}}}), "max_pool2d")
    assert(same(gom.avg_pool2d(x, 2), {{{{3.5, 5.5}, {11.5, 13.5}}}}), "avg_pool2d")
    assert(same(gom.max_pool2d(x, 3, 1), {{{{11, 12}, {15, 16}}}}), "max_pool2d stride 1")
    assert(same(gom.adaptive_avg_pool2d(x, 1), {{{{8.5}}}}), "global average")
    -- Training: per-channel batch mean (2, 15) and biased variance (1, 25); with eps 0 the
    -- output is exactly -1 / +1. Running stats with momentum 0.5 take the unbiased variance.
    local rm, rv = gom.zeros({2}), gom.ones({2})
    local b = gom.tensor({{1, 10}, {3, 20}})
    assert(same(gom.batch_norm(b, rm, rv, nil, nil, true, 0.5, 0), {{-1, -1}, {1, 1}}), "train")
    assert(same(rm, {1, 7.5}) and same(rv, {1.5, 25.5}), "running stats")
    local y = gom.batch_norm(gom.tensor({{1, 10}}), rm, rv, gom.tensor({2, 1}), gom.tensor({0, 1}),
                             false, 0.1, 0)
    assert(same(y, {{0, 2.5 / math.sqrt(25.5) + 1}}), "inference with running stats")
  )lua"));
}
