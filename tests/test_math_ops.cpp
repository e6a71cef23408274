// Math ops against PyTorch (fixtures/math_ops.json, written by fixtures/gen_math_fixtures.py):
// log1p, expm1, sign, clamp, elu, selu, softplus, mish, hardswish, silu, where, masked_fill,
// min, argmin, var, std and cumsum forward and backward, on contiguous inputs and on
// non-contiguous views of the same values, plus finite differences; svd and pca_lowrank up to
// the sign of the singular vectors; the activation layers; edge cases worked by hand.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "gom_lua/runtime.h"
#include "fixture_file.h"
#include "gradcheck.h"

using namespace gom;
using json = nlohmann::json;
using Catch::Matchers::Contains;
using TV = std::vector<Tensor>;

namespace {

const json& cases() {
  static const json c = gom_test::read_fixture("math_ops.json").at("cases");
  return c;
}

Tensor from_entry(const json& e) {
  const Shape shape = e.at("shape").get<Shape>();
  const json& d = e.at("data");
  if (!d.empty() && d[0].is_number_integer() && !d[0].is_number_float())
    return tensor_i64(d.get<std::vector<int64_t>>(), shape);
  return tensor(d.get<std::vector<float>>(), shape);
}

// The same values as a non-contiguous view: a transposed copy transposed back (rank >= 2), or
// every other element of a doubled vector (rank 1).
Tensor non_contiguous(const Tensor& t) {
  if (t.dim() >= 2) return t.transpose(-1, -2).contiguous().transpose(-1, -2);
  if (t.dim() == 1) {
    const Tensor col = t.unsqueeze(1);
    return cat({col, col}, 1).reshape({2 * t.numel()}).slice(0, 0, 2 * t.numel(), 2);
  }
  return t;
}

using OpFn = std::function<Tensor(const TV&, const json&)>;

template <Tensor (*F)(const Tensor&)>
OpFn unary() {
  return [](const TV& in, const json&) { return F(in[0]); };
}

std::optional<double> opt(const json& args, const char* key) {
  if (!args.contains(key)) return std::nullopt;
  return args.at(key).get<double>();
}

const std::map<std::string, OpFn>& ops() {
  static const std::map<std::string, OpFn> table = {
      {"log1p", unary<log1p>()},
      {"expm1", unary<expm1>()},
      {"sign", unary<sign>()},
      {"selu", unary<selu>()},
      {"mish", unary<mish>()},
      {"hardswish", unary<hardswish>()},
      {"silu", unary<silu>()},
      {"clamp",
       [](const TV& in, const json& a) { return clamp(in[0], opt(a, "min"), opt(a, "max")); }},
      {"elu", [](const TV& in, const json& a) { return elu(in[0], a.value("alpha", 1.0)); }},
      {"softplus",
       [](const TV& in, const json& a) {
         return softplus(in[0], a.value("beta", 1.0), a.value("threshold", 20.0));
       }},
      {"where", [](const TV& in, const json&) { return where(in[0], in[1], in[2]); }},
      {"masked_fill",
       [](const TV& in, const json& a) { return masked_fill(in[0], in[1], a.at("value")); }},
      {"min", [](const TV& in, const json& a) { return min(in[0], a.at("dim"), a.at("keepdim")); }},
      {"argmin",
       [](const TV& in, const json& a) { return argmin(in[0], a.at("dim"), a.at("keepdim")); }},
      {"var",
       [](const TV& in, const json& a) {
         if (!a.contains("dims")) return var(in[0], a.at("unbiased").get<bool>());
         return var(in[0], a.at("dims").get<std::vector<int64_t>>(), a.at("unbiased"),
                    a.at("keepdim"));
       }},
      {"std",
       [](const TV& in, const json& a) {
         if (!a.contains("dims")) return gom::std(in[0], a.at("unbiased").get<bool>());
         return gom::std(in[0], a.at("dims").get<std::vector<int64_t>>(), a.at("unbiased"),
                         a.at("keepdim"));
       }},
      {"cumsum", [](const TV& in, const json& a) { return cumsum(in[0], a.at("dim")); }},
  };
  return table;
}

void check_close(const Tensor& got, const json& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == want.at("shape").get<Shape>());
  if (got.dtype() == DType::I64) {
    CHECK(got.to_vector<int64_t>() == want.at("data").get<std::vector<int64_t>>());
    return;
  }
  const auto g = got.contiguous().to_vector<float>();
  const auto w = want.at("data").get<std::vector<float>>();
  REQUIRE(g.size() == w.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i << ": got " << g[i] << ", want " << w[i]);
    CHECK(std::abs(g[i] - w[i]) <= 1e-5 + 1e-5 * std::abs(w[i]));
  }
}

// One fixture case on the given inputs: forward, then backward of sum(out * grad_output).
void run_case(const json& c, const TV& inputs, const std::string& layout) {
  const std::string name = c.at("name").get<std::string>() + " (" + layout + ")";
  TV leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor l = inputs[i].detach();
    if (c.at("inputs")[i].at("grad").get<bool>()) l.requires_grad_(true);
    leaves.push_back(l);
  }
  const Tensor out = ops().at(c.at("op"))(leaves, c.at("args"));
  check_close(out, c.at("outputs")[0], name + ": output");
  if (!c.contains("grads")) return;
  const auto go = c.at("grad_output").get<std::vector<float>>();
  out.backward(tensor(go, out.shape()));
  for (size_t i = 0; i < leaves.size(); ++i) {
    const json& want = c.at("grads")[i];
    if (want.is_null()) continue;
    check_close(leaves[i].grad(), {{"shape", inputs[i].shape()}, {"data", want}},
                name + ": grad of input " + std::to_string(i));
  }
}

int run_elementwise_cases(const std::vector<std::string>& op_names) {
  int n = 0;
  for (const json& c : cases()) {
    const std::string op = c.at("op");
    if (std::find(op_names.begin(), op_names.end(), op) == op_names.end()) continue;
    TV contiguous, strided;
    for (const json& e : c.at("inputs")) {
      contiguous.push_back(from_entry(e));
      strided.push_back(non_contiguous(contiguous.back()));
    }
    CHECK(std::any_of(strided.begin(), strided.end(),
                      [](const Tensor& t) { return !t.is_contiguous(); }));
    run_case(c, contiguous, "contiguous");
    run_case(c, strided, "non-contiguous");
    if (c.contains("grads")) {
      std::vector<bool> check;
      for (const json& e : c.at("inputs")) check.push_back(e.at("grad").get<bool>());
      const OpFn f = ops().at(op);
      const json args = c.at("args");
      const auto r = gom_test::gradcheck([&](const TV& in) { return f(in, args); }, strided,
                                         {.eps = 1e-2, .atol = 5e-3, .rtol = 5e-3, .check = check});
      INFO(c.at("name").get<std::string>() << ": " << r.report);
      CHECK(r.ok);
    }
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("log1p, expm1, sign and clamp match PyTorch and finite differences", "[math]") {
  CHECK(run_elementwise_cases({"log1p", "expm1", "sign", "clamp"}) == 7);
}

TEST_CASE("elu, selu, softplus, mish, hardswish and silu match PyTorch", "[math][activations]") {
  CHECK(run_elementwise_cases({"elu", "selu", "softplus", "mish", "hardswish", "silu"}) == 8);
}

TEST_CASE("where and masked_fill broadcast and route the gradient as PyTorch", "[math]") {
  CHECK(run_elementwise_cases({"where", "masked_fill"}) == 4);
}

TEST_CASE("min, argmin, var, std and cumsum match PyTorch", "[math]") {
  CHECK(run_elementwise_cases({"min", "argmin", "var", "std", "cumsum"}) == 17);
}

TEST_CASE("math ops by hand: exact values, edge cases and errors", "[math]") {
  const Tensor x = tensor({-2.f, 0.f, 3.f}, {3});
  CHECK(sign(x).to_vector<float>() == std::vector<float>{-1.f, 0.f, 1.f});
  CHECK(clamp(x, -1.0, 2.0).to_vector<float>() == std::vector<float>{-1.f, 0.f, 2.f});
  CHECK(clamp(x, std::nullopt, 1.0).to_vector<float>() == std::vector<float>{-2.f, 0.f, 1.f});
  // min > max gives max everywhere (torch.clamp).
  CHECK(clamp(x, 2.0, 1.0).to_vector<float>() == std::vector<float>{1.f, 1.f, 1.f});
  CHECK(hardswish(x).to_vector<float>() == std::vector<float>{-2.f * 1.f / 6.f, 0.f, 3.f});
  CHECK(cumsum(tensor_i64({1, 2, 3, 4}, {4}), 0).to_vector<int64_t>() ==
        std::vector<int64_t>{1, 3, 6, 10});
  CHECK(var(tensor({1.f, 2.f, 3.f, 4.f}, {4})).item<float>() == Approx(5.0 / 3.0));
  CHECK(var(tensor({1.f, 2.f, 3.f, 4.f}, {4}), false).item<float>() == Approx(1.25));
  CHECK(std::isnan(var(tensor({1.f}, {1})).item<float>()));                  // n - 1 = 0, as torch
  CHECK(argmin(tensor({3.f, 1.f, 1.f, 2.f}, {4}), 0).item<int64_t>() == 1);  // first minimum
  // Comparison results are masks for where, masked_fill and mul.
  const Tensor a = tensor({1.f, 5.f, 3.f}, {3}), b = tensor({2.f, 4.f, 3.f}, {3});
  CHECK(where(gt(a, b), a, b).to_vector<float>() == std::vector<float>{2.f, 5.f, 3.f});
  CHECK(masked_fill(a, ge(a, b), 0.0).to_vector<float>() == std::vector<float>{1.f, 0.f, 0.f});
  CHECK(mul(a, lt(a, b)).to_vector<float>() == std::vector<float>{1.f, 0.f, 0.f});
  // A masked-out inf does not leak NaN into where (as a * m + b * (1 - m) would).
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(where(tensor({0.f}, {1}), tensor({inf}, {1}), tensor({1.f}, {1})).item<float>() == 1.f);

  CHECK_THROWS_WITH(clamp(x, std::nullopt, std::nullopt),
                    Contains("clamp: at least one of min and max"));
  CHECK_THROWS_WITH(where(tensor_i64({1}, {1}), x, x), Contains("where: the condition must be"));
  CHECK_THROWS_WITH(where(ones({2}), x, x), Contains("where: shapes"));
  CHECK_THROWS_WITH(masked_fill(x, ones({2, 3}), 1.0),
                    Contains("masked_fill: the mask of shape [2, 3] does not broadcast"));
  CHECK_THROWS_WITH(log1p(tensor_i64({1}, {1})), Contains("log1p"));
}

TEST_CASE("svd matches torch.linalg.svd up to the signs of the singular vectors", "[math]") {
  int n = 0;
  for (const json& c : cases()) {
    if (c.at("op") != "svd") continue;
    INFO(c.at("name").get<std::string>());
    const Tensor a = from_entry(c.at("inputs")[0]);
    const bool full = c.at("args").at("full_matrices");
    for (const Tensor& in : {a, non_contiguous(a)}) {
      const Svd r = svd(in, full);
      check_close(r.S, c.at("outputs")[1], "S");
      const json& u = c.at("outputs")[0];
      const json& vh = c.at("outputs")[2];
      CHECK(r.U.shape() == u.at("shape").get<Shape>());
      CHECK(r.Vh.shape() == vh.at("shape").get<Shape>());
      CHECK(allclose(abs(r.U), abs(from_entry(u)), 1e-4, 1e-4));
      CHECK(allclose(abs(r.Vh), abs(from_entry(vh)), 1e-4, 1e-4));
      // a = U[:, :k] diag(S) Vh[:k]
      const int64_t k = r.S.shape().back();
      const Tensor us = mul(r.U.slice(-1, 0, k), r.S.unsqueeze(-2));
      CHECK(allclose(matmul(us, r.Vh.slice(-2, 0, k)), a, 1e-4, 1e-4));
    }
    ++n;
  }
  CHECK(n == 5);
  // No gradient: the results do not require grad even for an input that does.
  Tensor w = randn({4, 3});
  w.requires_grad_(true);
  const Svd r = svd(w);
  CHECK_FALSE(r.S.requires_grad());
  CHECK_FALSE(r.U.requires_grad());
  CHECK_THROWS_WITH(svd(ones({3})), Contains("svd: expects a matrix"));
  // An exact case: diag(3, 2) has S = (3, 2) and |U| = |Vh| = I.
  const Svd d = svd(tensor({0.f, 2.f, 3.f, 0.f}, {2, 2}));
  CHECK(d.S.to_vector<float>() == std::vector<float>{3.f, 2.f});
  CHECK(abs(d.U).to_vector<float>() == std::vector<float>{0.f, 1.f, 1.f, 0.f});
  CHECK(abs(d.Vh).to_vector<float>() == std::vector<float>{1.f, 0.f, 0.f, 1.f});
}

TEST_CASE("pca_lowrank is the exact svd of the centred matrix", "[math]") {
  int n = 0;
  for (const json& c : cases()) {
    if (c.at("op") != "pca_lowrank") continue;
    INFO(c.at("name").get<std::string>());
    const Tensor a = from_entry(c.at("inputs")[0]);
    const PcaLowrank r =
        pca_lowrank(a, c.at("args").at("q").get<int64_t>(), c.at("args").at("center").get<bool>());
    check_close(r.S, c.at("outputs")[1], "S");
    CHECK(allclose(abs(r.U), abs(from_entry(c.at("outputs")[0])), 1e-4, 1e-4));
    CHECK(allclose(abs(r.V), abs(from_entry(c.at("outputs")[2])), 1e-4, 1e-4));
    ++n;
  }
  CHECK(n == 3);
  CHECK(pca_lowrank(randn({10, 8})).S.shape() == Shape{6});  // q = min(6, M, N)
  CHECK_THROWS_WITH(pca_lowrank(randn({4, 3}), 4),
                    Contains("pca_lowrank: q = 4 is out of range for a 4x3 matrix"));
}

TEST_CASE("activation layers elu, selu, softplus, mish, hardswish, silu equal their ops",
          "[math][activations]") {
  const Tensor x = tensor({-3.5f, -1.f, -0.2f, 0.3f, 1.5f, 4.f}, {2, 3});
  CHECK(allclose(create_layer("elu")->forward(x), elu(x), 0, 0));
  CHECK(allclose(create_layer("elu", {{"alpha", 0.3}})->forward(x), elu(x, 0.3), 0, 0));
  CHECK(allclose(create_layer("selu")->forward(x), selu(x), 0, 0));
  CHECK(allclose(create_layer("softplus")->forward(x), softplus(x), 0, 0));
  CHECK(allclose(create_layer("softplus", {{"beta", 2.0}, {"threshold", 1.0}})->forward(x),
                 softplus(x, 2.0, 1.0), 0, 0));
  CHECK(allclose(create_layer("mish")->forward(x), mish(x), 0, 0));
  CHECK(allclose(create_layer("hardswish")->forward(x), hardswish(x), 0, 0));
  CHECK(allclose(create_layer("silu")->forward(x), silu(x), 0, 0));
  CHECK(create_layer("elu")->repr() == "elu(alpha=1)");
  CHECK(create_layer("softplus")->repr() == "softplus(beta=1, threshold=20)");
  // softplus with threshold 1, beta 2: x itself where 2x > 1.
  CHECK(softplus(x, 2.0, 1.0).to_vector<float>()[4] == 1.5f);
}

TEST_CASE("lua: the math ops, activations, svd and pca_lowrank by their torch names",
          "[math][lua]") {
  gom::lua::RunContext ctx;
  gom::lua::Runtime rt(ctx);
  const auto r = rt.run_string(R"(
    local function near(a, b) return math.abs(a - b) < 1e-6 end
    local function same(t, want)
      local got = t:totable()
      assert(#got == #want, "length " .. #got .. " vs " .. #want)
      for i = 1, #want do assert(near(got[i], want[i]), i .. ": " .. got[i] .. " vs " .. want[i]) end
    end
    local x = gom.tensor({-2, 0.5, 3})
    same(gom.tensor({0, math.exp(1) - 1}):log1p(), {0, 1})
    same(gom.expm1(gom.tensor({0, math.log(3)})), {0, 2})
    same(gom.tensor({-2, 0, 3}):sign(), {-1, 0, 1})
    same(x:clamp(-1, 1), {-1, 0.5, 1})
    same(x:clip(nil, 0), {-2, 0, 0})
    same(gom.clip(x, 0), {0, 0.5, 3})
    same(gom.clamp(x, -1, nil), {-1, 0.5, 3})
    -- comparisons are f32 0/1 masks for where, masked_fill and *
    same(gom.where(x:gt(0), x, 0), {0, 0.5, 3})
    same(x:where(x:lt(1), 10), {-2, 0.5, 10})
    same(x:masked_fill(x:ge(0.5), -1), {-2, -1, -1})
    same(x * x:le(0.5), {-2, 0.5, 0})
    local m = gom.tensor({{3, 1}, {0, 5}})
    same(m:min(1), {1, 0})
    same(m:argmin(0), {1, 0})
    assert(m:min():item() == 0 and m:argmin():item() == 2)
    assert(m:min(1, true):shape()[2] == 1)
    local v = gom.tensor({1, 2, 3, 4})
    assert(near(v:var():item(), 5 / 3) and near(v:var(0, false):item(), 1.25))
    assert(near(v:std():item(), math.sqrt(5 / 3)) and near(gom.std(v, {0}, false):item(), math.sqrt(1.25)))
    same(m:var(1), {2, 12.5})
    same(v:cumsum(0), {1, 3, 6, 10})
    same(gom.cumsum(m, 1):reshape({4}), {3, 4, 0, 5})
    local a = gom.tensor({-1, 0, 1, 3})
    same(a:elu(), {math.exp(-1) - 1, 0, 1, 3})
    same(a:elu(2), {2 * (math.exp(-1) - 1), 0, 1, 3})
    same(gom.selu(a), {1.0507009873554805 * 1.6732632423543772 * (math.exp(-1) - 1), 0,
                       1.0507009873554805, 3 * 1.0507009873554805})
    same(a:softplus(), {math.log(1 + math.exp(-1)), math.log(2), math.log(1 + math.exp(1)),
                        math.log(1 + math.exp(3))})
    same(a:softplus(2, 1), {math.log(1 + math.exp(-2)) / 2, math.log(2) / 2, 1, 3})
    same(a:mish(), {-math.tanh(math.log(1 + math.exp(-1))), 0, math.tanh(math.log(1 + math.exp(1))),
                    3 * math.tanh(math.log(1 + math.exp(3)))})
    same(a:hardswish(), {-1 * 2 / 6, 0, 4 / 6, 3})
    same(gom.silu(a), {-1 / (1 + math.exp(1)), 0, 1 / (1 + math.exp(-1)), 3 / (1 + math.exp(-3))})
    for _, name in ipairs({"elu", "selu", "softplus", "mish", "hardswish", "silu"}) do
      assert(gom.allclose(gom.layer(name)(a), a[name](a)), name)
    end
    -- svd of [[0, 2], [3, 0]]: S = (3, 2); U diag(S) Vh rebuilds it
    local A = gom.tensor({{0, 2}, {3, 0}})
    local U, S, Vh = gom.svd(A)
    same(S, {3, 2})
    assert(gom.allclose(gom.matmul(U * S:reshape({1, 2}), Vh), A, 1e-5, 1e-5))
    local U2, S2, Vh2 = A:svd(true)
    same(S2, {3, 2})
    local P, Q, V = gom.pca_lowrank(gom.tensor({{1, 0}, {-1, 0}, {0, 0}}), 1)
    same(Q, {math.sqrt(2)})
    assert(near(math.abs(V:totable()[1][1]), 1))
    local ok, err = pcall(function() return x:clamp() end)
    assert(not ok and err:find("at least one of min and max", 1, true), err)
  )",
                               "@test.lua");
  INFO(r.error);
  CHECK(r.status == gom::lua::ScriptResult::Status::Finished);
}
