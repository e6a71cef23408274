// Shape, sorting, einsum and mask-indexing ops (ops.h's "more shape ops" sections): every case
// of fixtures/shape_ops.json (written by fixtures/gen_shape_fixtures.py with PyTorch) run on
// contiguous inputs and again on non-contiguous views of the same values, outputs and gradients
// compared; gradients against finite differences on views; einsum against matmul; ties, NaN,
// -inf and the error messages worked by hand.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "fixture_file.h"
#include "gradcheck.h"

using namespace gom;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {

const json& fixtures() {
  static const json cases = gom_test::read_fixture("shape_ops.json");
  return cases;
}

Tensor from_json(const json& t) {
  const Shape shape = t.at("shape").get<Shape>();
  if (t.at("dtype") == "i64") return tensor_i64(t.at("data").get<std::vector<int64_t>>(), shape);
  return tensor(t.at("data").get<std::vector<float>>(), shape);
}

// The same values in a non-contiguous layout: a transposed copy transposed back (2-d and up), or
// every other element of an interleaved copy (1-d).
Tensor strided_copy(const Tensor& x) {
  NoGrad ng;
  if (x.dim() >= 2) return x.transpose(-1, -2).contiguous().transpose(-1, -2);
  if (x.dim() == 1) return select(stack({x, zeros_like(x)}, -1), -1, 0);
  return x;
}

PadMode pad_mode(const std::string& m) {
  if (m == "reflect") return PadMode::Reflect;
  if (m == "replicate") return PadMode::Replicate;
  if (m == "circular") return PadMode::Circular;
  return PadMode::Constant;
}

std::vector<int64_t> ints(const json& a, const char* key) {
  return a.at(key).get<std::vector<int64_t>>();
}

std::vector<Tensor> run_op(const std::string& op, const std::vector<Tensor>& in, const json& a) {
  if (op == "select") return {select(in[0], a.at("dim"), a.at("index"))};
  if (op == "stack") return {stack(in, a.at("dim"))};
  if (op == "permute") return {permute(in[0], ints(a, "dims"))};
  if (op == "flip") return {flip(in[0], ints(a, "dims"))};
  if (op == "roll") return {roll(in[0], ints(a, "shifts"), ints(a, "dims"))};
  if (op == "repeat") return {repeat(in[0], ints(a, "reps"))};
  if (op == "tril") return {tril(in[0], a.at("diagonal"))};
  if (op == "triu") return {triu(in[0], a.at("diagonal"))};
  if (op == "pad")
    return {pad(in[0], ints(a, "pads"), pad_mode(a.at("mode")), a.value("value", 0.0))};
  if (op == "chunk") return chunk(in[0], a.at("chunks"), a.at("dim"));
  if (op == "split")
    return a.contains("sizes") ? split(in[0], ints(a, "sizes"), a.at("dim"))
                               : split(in[0], a.at("split_size").get<int64_t>(), a.at("dim"));
  if (op == "one_hot") return {one_hot(in[0], a.at("num_classes"))};
  if (op == "eye") return {eye(a.at("n"), a.at("m"))};
  if (op == "linspace") return {linspace(a.at("start"), a.at("end"), a.at("steps"))};
  if (op == "sort") {
    auto [v, i] = sort(in[0], a.at("dim"), a.at("descending"));
    return {v, i};
  }
  if (op == "argsort") return {argsort(in[0], a.at("dim"), a.at("descending"))};
  if (op == "topk") {
    auto [v, i] = topk(in[0], a.at("k"), a.at("dim"), a.at("largest"));
    return {v, i};
  }
  if (op == "unique") {
    UniqueResult r = unique(in[0], true, true);
    return {r.values, r.inverse, r.counts};
  }
  if (op == "einsum") return {einsum(a.at("equation"), in)};
  if (op == "index_mask") return {index_mask(in[0], in[1])};
  throw Error("unknown op in shape_ops.json: " + op);
}

void check_equal(const Tensor& got, const json& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.defined());
  REQUIRE(got.shape() == want.at("shape").get<Shape>());
  REQUIRE(dtype_name(got.dtype()) == want.at("dtype").get<std::string>());
  if (got.dtype() == DType::I64) {
    CHECK(got.to_vector<int64_t>() == want.at("data").get<std::vector<int64_t>>());
    return;
  }
  const auto g = got.to_vector<float>();
  const auto w = want.at("data").get<std::vector<float>>();
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i << ": got " << g[i] << ", want " << w[i]);
    CHECK(std::fabs(g[i] - w[i]) <= 1e-5 + 1e-5 * std::fabs(w[i]));
  }
}

// Runs every case of `op` with contiguous inputs, then with non-contiguous views; returns how
// many cases ran.
int run_fixtures(const std::string& op) {
  int n = 0;
  for (const json& c : fixtures()) {
    if (c.at("op") != op) continue;
    ++n;
    for (bool strided : {false, true}) {
      const std::string name =
          c.at("name").get<std::string>() + (strided ? " (non-contiguous inputs)" : "");
      std::vector<Tensor> in;
      const bool grads = !c.at("grad_outputs").is_null();
      for (const json& t : c.at("inputs")) {
        Tensor x = from_json(t);
        if (strided) x = strided_copy(x);
        if (grads && x.dtype() == DType::F32) x.requires_grad_();
        in.push_back(x);
      }
      if (strided) {
        bool any_view = false;
        for (const Tensor& x : in) any_view = any_view || !x.is_contiguous();
        if (!any_view) continue;  // nothing to lay out differently (creation ops)
      }
      const std::vector<Tensor> out = run_op(op, in, c.at("args"));
      const json& want = c.at("outputs");
      REQUIRE(out.size() == want.size());
      for (size_t k = 0; k < out.size(); ++k)
        check_equal(out[k], want[k], name + ": output " + std::to_string(k));
      if (!grads) continue;
      Tensor total;
      for (size_t k = 0; k < out.size(); ++k) {
        const json& g = c.at("grad_outputs")[k];
        if (g.is_null()) continue;
        Tensor term = sum(out[k] * from_json(g));
        total = total.defined() ? total + term : term;
      }
      total.backward();
      for (size_t i = 0; i < in.size(); ++i) {
        const json& g = c.at("grads")[i];
        if (g.is_null()) continue;
        Tensor got = in[i].grad().defined() ? in[i].grad() : zeros(in[i].shape());
        check_equal(got, g, name + ": gradient of input " + std::to_string(i));
      }
    }
  }
  return n;
}

void require_gradcheck(const gom_test::GradFn& f, const std::vector<Tensor>& inputs,
                       const std::string& what) {
  const gom_test::GradcheckResult r = gom_test::gradcheck(f, inputs);
  INFO(what << "\n" << r.report);
  CHECK(r.ok);
}

Tensor view_of(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return strided_copy(randn(shape, &gen));
}

}  // namespace

TEST_CASE("shape ops match PyTorch on contiguous and strided inputs", "[shape_ops]") {
  for (const char* op : {"select", "stack", "permute", "flip", "roll", "repeat", "tril", "triu",
                         "pad", "chunk", "split"}) {
    INFO(op);
    CHECK(run_fixtures(op) >= 1);
  }
}

TEST_CASE("one_hot, eye and linspace match PyTorch", "[shape_ops]") {
  for (const char* op : {"one_hot", "eye", "linspace"}) {
    INFO(op);
    CHECK(run_fixtures(op) >= 1);
  }
}

TEST_CASE("sort, argsort, topk and unique match PyTorch", "[shape_ops]") {
  for (const char* op : {"sort", "argsort", "topk", "unique"}) {
    INFO(op);
    CHECK(run_fixtures(op) >= 1);
  }
}

TEST_CASE("einsum and index_mask match PyTorch", "[shape_ops]") {
  CHECK(run_fixtures("einsum") == 13);
  CHECK(run_fixtures("index_mask") == 3);
}

TEST_CASE("shape ops' gradients match finite differences on views", "[shape_ops]") {
  const Tensor a = view_of({3, 4}, 1), b = view_of({3, 4}, 2), c = view_of({2, 3, 4}, 3);
  using V = std::vector<Tensor>;
  require_gradcheck([](const V& x) { return select(x[0], 1, -2); }, {a}, "select");
  require_gradcheck([](const V& x) { return stack(x, 1); }, {a, b}, "stack");
  require_gradcheck([](const V& x) { return permute(x[0], {1, 2, 0}); }, {c}, "permute");
  require_gradcheck([](const V& x) { return flip(x[0], {0, 2}); }, {c}, "flip");
  require_gradcheck([](const V& x) { return roll(x[0], {-1, 5}, {0, 1}); }, {a}, "roll");
  require_gradcheck([](const V& x) { return repeat(x[0], {2, 1, 2}); }, {a}, "repeat");
  require_gradcheck([](const V& x) { return tril(x[0], 1); }, {c}, "tril");
  require_gradcheck([](const V& x) { return triu(x[0], -1); }, {c}, "triu");
  require_gradcheck(
      [](const V& x) {
        return pad(x[0], {1, 2, -1, 1}, PadMode::Constant, 2.0);
      },
      {c}, "pad constant");
  for (PadMode m : {PadMode::Reflect, PadMode::Replicate, PadMode::Circular})
    require_gradcheck(
        [m](const V& x) {
          return pad(x[0], {2, 1, 1, 2}, m);
        },
        {c}, "pad mode " + std::to_string(int(m)));
  require_gradcheck(
      [](const V& x) {
        std::vector<Tensor> parts = chunk(x[0], 3, 0);  // three rows
        return cat({parts.at(2) * 2.0, parts.at(0), parts.at(1) * 3.0}, 1);
      },
      {a}, "chunk");
  require_gradcheck(
      [](const V& x) {
        std::vector<Tensor> parts = split(x[0], std::vector<int64_t>{1, 2}, 0);
        return parts.at(1) * 2.0;
      },
      {a}, "split");
  // Distinct values, so a small perturbation does not reorder them.
  const Tensor d = strided_copy(tensor({0.3f, -1.2f, 2.5f, 0.9f, -0.4f, 1.7f}, {2, 3}));
  require_gradcheck([](const V& x) { return sort(x[0], 0, true).values; }, {d}, "sort");
  require_gradcheck([](const V& x) { return topk(x[0], 2, 1).values; }, {d}, "topk");
  const Tensor mask = tensor({1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0}, {3, 4});
  require_gradcheck([mask](const V& x) { return index_mask(x[0], mask); }, {a}, "index_mask");
}

TEST_CASE("einsum equals matmul for attention and bilinear forms, on views too", "[shape_ops]") {
  const Tensor q = view_of({2, 3, 4, 5}, 4), k = view_of({2, 3, 6, 5}, 5);
  CHECK(allclose(einsum("bhqd,bhkd->bhqk", {q, k}), matmul(q, k.transpose(-1, -2)), 1e-5, 1e-6));
  const Tensor p = softmax(view_of({2, 3, 4, 6}, 6), -1), v = view_of({2, 3, 6, 5}, 7);
  CHECK(allclose(einsum("bhqk,bhkd->bhqd", {p, v}), matmul(p, v), 1e-5, 1e-6));
  const Tensor x = view_of({3, 4}, 8), w = view_of({4, 2}, 9);
  CHECK(allclose(einsum("ij,jk->ik", {x, w}), matmul(x, w), 1e-5, 1e-6));
  CHECK(allclose(einsum("ij->ji", {x}), x.t()));
  CHECK(allclose(einsum("bi,bi->b", {x, x}), sum(x * x, {1}), 1e-5, 1e-6));
  using V = std::vector<Tensor>;
  require_gradcheck([](const V& t) { return einsum("bhqd,bhkd->bhqk", t); }, {q, k}, "scores");
  require_gradcheck([](const V& t) { return einsum("bhqk,bhkd->bhqd", t); }, {p, v}, "values");
  require_gradcheck([](const V& t) { return einsum("i,i->", t); },
                    {view_of({5}, 10), view_of({5}, 11)}, "dot");
  require_gradcheck([](const V& t) { return einsum("bi,oij,bj->bo", t); },
                    {view_of({2, 3}, 12), view_of({4, 3, 2}, 13), view_of({2, 2}, 14)}, "bilinear");
}

TEST_CASE("einsum refuses what it does not support, saying what is accepted", "[shape_ops]") {
  const Tensor m = ones({3, 3});
  CHECK_THROWS_WITH(einsum("ii->i", {m}),
                    Contains("repeated in operand 0") && Contains("accepted: letters per operand"));
  CHECK_THROWS_WITH(einsum("...ij->ji", {m}), Contains("ellipsis"));
  CHECK_THROWS_WITH(einsum("ij,jk->ik", {m, ones({4, 2})}), Contains("letter 'j' has size 4"));
  CHECK_THROWS_WITH(einsum("ij,jk->ik", {m}), Contains("2 operand terms for 1 tensors"));
  CHECK_THROWS_WITH(einsum("ijk->i", {m}), Contains("names 3 dims of a tensor of shape [3, 3]"));
  CHECK_THROWS_WITH(einsum("ij->iz", {m}), Contains("output letter 'z'"));
}

TEST_CASE("sort breaks ties by position and puts NaN last (first when descending)", "[shape_ops]") {
  const Tensor t = tensor({1, 3, 1, 2, 3}, {5});
  auto [v, i] = sort(t);
  CHECK(v.to_vector<float>() == std::vector<float>{1, 1, 2, 3, 3});
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{0, 2, 3, 1, 4});
  auto [vd, id] = sort(t, 0, true);
  CHECK(vd.to_vector<float>() == std::vector<float>{3, 3, 2, 1, 1});
  CHECK(id.to_vector<int64_t>() == std::vector<int64_t>{1, 4, 3, 0, 2});
  CHECK(topk(t, 3).indices.to_vector<int64_t>() == std::vector<int64_t>{1, 4, 3});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor n = tensor({2, nan, 1}, {3});
  CHECK(argsort(n).to_vector<int64_t>() == std::vector<int64_t>{2, 0, 1});
  CHECK(argsort(n, 0, true).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 2});
  const Tensor ints = tensor_i64({4, -2, 7, -2}, {4});
  CHECK(sort(ints).values.to_vector<int64_t>() == std::vector<int64_t>{-2, -2, 4, 7});
  CHECK_THROWS_WITH(topk(t, 6), Contains("k = 6 is out of range for dimension 0 of size 5"));
  CHECK_THROWS_WITH(unique(n), Contains("NaN"));
}

TEST_CASE("triu of -inf makes a causal mask: zeros below, not NaN", "[shape_ops]") {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor m = triu(full({3, 3}, -inf), 1);
  CHECK(m.to_vector<float>() == std::vector<float>{0, -inf, -inf, 0, 0, -inf, 0, 0, 0});
  CHECK(tril(tensor_i64({1, 2, 3, 4}, {2, 2})).to_vector<int64_t>() ==
        std::vector<int64_t>{1, 0, 3, 4});
  CHECK_THROWS_WITH(tril(ones({3})), Contains("tril: expected a tensor of at least 2 dims"));
}

TEST_CASE("select, pad, split, one_hot and index_mask name what is wrong", "[shape_ops]") {
  const Tensor t = ones({3, 4});
  CHECK_THROWS_WITH(select(t, 0, 3),
                    Contains("index 3 is out of range for dimension 0 of size 3 (valid: -3 to 2)"));
  CHECK(select(t, 1, -4).shape() == Shape{3});
  CHECK_THROWS_WITH(pad(t, {4, 0}, PadMode::Reflect), Contains("smaller than the dim"));
  CHECK_THROWS_WITH(pad(t, {1, 1, 1}), Contains("(before, after) pairs"));
  CHECK_THROWS_WITH(split(t, std::vector<int64_t>{1, 2}, 1), Contains("sum to the size 4"));
  CHECK_THROWS_WITH(one_hot(tensor_i64({0, 5}, {2}), 5), Contains("class 5 is outside [0, 5)"));
  CHECK_THROWS_WITH(one_hot(t), Contains("expected i64 class indices"));
  CHECK_THROWS_WITH(index_mask(t, tensor({1, 0}, {2})), Contains("leading dims"));
  CHECK_THROWS_WITH(index_mask(t, full({3}, 2.0)), Contains("holds 2 at position 0"));
  CHECK_THROWS_WITH(permute(ones({2, 3, 4}), {0, 0, 1}), Contains("more than once"));
  CHECK(chunk(ones({6}), 4).size() == 3);  // sizes 2, 2, 2 as in PyTorch
}
