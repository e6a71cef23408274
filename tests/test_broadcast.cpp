// Broadcasting binary ops and the reductions of their gradients, on the fast paths the backend
// takes for them (oneDNN with a size-1 broadcast operand, the vectorised loops for a broadcast
// first operand and for integers, a stride-0 reduced dim summed as value x size): every result
// against a naive loop over the broadcast indices, every gradient against finite differences.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "gradcheck.h"

namespace {

using gom::Shape;
using gom::Tensor;

// The flat index of `out_index` (a multi-index of the broadcast shape) in a tensor of `shape`.
int64_t source_index(const Shape& shape, const Shape& out_shape, const Shape& out_index) {
  const size_t lead = out_shape.size() - shape.size();
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    flat = flat * shape[d] + (shape[d] == 1 ? 0 : out_index[lead + d]);
  return flat;
}

// The op applied element by element over the broadcast shape, on contiguous copies.
template <class T>
std::vector<double> naive(const Tensor& a, const Tensor& b, const Shape& out_shape,
                          const std::function<double(T, T)>& f) {
  const std::vector<T> va = a.contiguous().to_vector<T>(), vb = b.contiguous().to_vector<T>();
  int64_t n = 1;
  for (int64_t d : out_shape) n *= d;
  std::vector<double> out(static_cast<size_t>(n));
  Shape idx(out_shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i;
    for (size_t d = out_shape.size(); d-- > 0;) {
      idx[d] = rem % out_shape[d];
      rem /= out_shape[d];
    }
    out[size_t(i)] = f(va[size_t(source_index(a.shape(), out_shape, idx))],
                       vb[size_t(source_index(b.shape(), out_shape, idx))]);
  }
  return out;
}

struct Op {
  const char* name;
  Tensor (*run)(const Tensor&, const Tensor&);
  std::function<double(double, double)> f;
};

const std::vector<Op>& ops() {
  static const std::vector<Op> all = {
      {"add", gom::add, [](double u, double v) { return u + v; }},
      {"sub", gom::sub, [](double u, double v) { return u - v; }},
      {"mul", gom::mul, [](double u, double v) { return u * v; }},
      {"div", gom::div, [](double u, double v) { return u / v; }},
      {"maximum", gom::maximum, [](double u, double v) { return std::max(u, v); }},
      {"minimum", gom::minimum, [](double u, double v) { return std::min(u, v); }},
      {"eq", gom::eq, [](double u, double v) { return double(u == v); }},
      {"ne", gom::ne, [](double u, double v) { return double(u != v); }},
      {"gt", gom::gt, [](double u, double v) { return double(u > v); }},
      {"ge", gom::ge, [](double u, double v) { return double(u >= v); }},
      {"lt", gom::lt, [](double u, double v) { return double(u < v); }},
      {"le", gom::le, [](double u, double v) { return double(u <= v); }},
  };
  return all;
}

// Shape pairs: row, column, scalar, middle dim, both operands broadcast, rank difference, and
// the broadcast operand first (the non-commutative ops take another path for it).
const std::vector<std::pair<Shape, Shape>>& shape_pairs() {
  static const std::vector<std::pair<Shape, Shape>> all = {
      {{37, 19}, {19}}, {{19}, {37, 19}},       {{37, 19}, {37, 1}},    {{37, 1}, {37, 19}},
      {{37, 19}, {1}},  {{1}, {37, 19}},        {{5, 1, 7}, {5, 6, 7}}, {{5, 6, 7}, {1, 6, 1}},
      {{5, 1}, {1, 7}}, {{2, 3, 4, 5}, {4, 5}}, {{129, 257}, {257}},    {{257}, {129, 257}},
  };
  return all;
}

// Values with exact ties between the operands (small integers), so eq/ge/le and max/min ties
// are exercised; denominators stay away from 0.
Tensor values(const Shape& shape, uint64_t seed, bool denominator) {
  gom::Generator gen(seed);
  Tensor r = gom::randint(-4, 5, shape, &gen).to(gom::DType::F32);
  return denominator ? gom::add(gom::mul(gom::abs(r), 0.5), 0.75) : r;
}

void check_against_naive(const Op& op, const Tensor& a, const Tensor& b) {
  const Tensor out = op.run(a, b);
  const Shape shape = gom::broadcast_shapes(a.shape(), b.shape());
  REQUIRE(out.shape() == shape);
  std::vector<double> want;
  std::vector<double> got;
  if (a.dtype() == gom::DType::F32) {
    want = naive<float>(a, b, shape, [&](float u, float v) { return float(op.f(u, v)); });
  } else {
    want = naive<int64_t>(a, b, shape, [&](int64_t u, int64_t v) {
      if (std::string(op.name) == "div") return v == 0 ? 0.0 : double(u / v);
      return op.f(double(u), double(v));
    });
  }
  if (out.dtype() == gom::DType::F32)
    for (float v : out.to_vector<float>()) got.push_back(v);
  else
    for (int64_t v : out.to_vector<int64_t>()) got.push_back(double(v));
  REQUIRE(got.size() == want.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::abs(got[i] - want[i]) > 1e-6 * (1 + std::abs(want[i]))) ++bad;
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("broadcast: every binary op on every broadcast pattern equals the naive loop",
          "[ops][broadcast]") {
  for (const auto& [sa, sb] : shape_pairs())
    for (const Op& op : ops()) {
      INFO(op.name << " " << gom::shape_str(sa) << " with " << gom::shape_str(sb));
      const bool div = std::string(op.name) == "div";
      check_against_naive(op, values(sa, 1, false), values(sb, 2, div));
    }
}

TEST_CASE("broadcast: integer operands take the loop and agree too", "[ops][broadcast]") {
  for (const auto& [sa, sb] : shape_pairs())
    for (const Op& op : ops()) {
      INFO(op.name << " " << gom::shape_str(sa) << " with " << gom::shape_str(sb));
      gom::Generator g1(3), g2(4);
      const bool div = std::string(op.name) == "div";
      Tensor a = gom::randint(-6, 7, sa, &g1);
      Tensor b = div ? gom::randint(1, 4, sb, &g2) : gom::randint(-6, 7, sb, &g2);
      check_against_naive(op, a, b);
    }
}

TEST_CASE("broadcast: non-contiguous operands (transposed, stepped, expanded)",
          "[ops][broadcast]") {
  const Tensor base = values({19, 37}, 5, false);
  const Tensor transposed = base.t();                                   // [37, 19], strides (1, 37)
  const Tensor stepped = values({37, 38}, 6, true).slice(1, 0, 38, 2);  // [37, 19], step 2
  const Tensor column = values({37, 2}, 7, true).slice(1, 1, 2);        // [37, 1], stride 2
  const Tensor row = values({2, 19}, 8, true).slice(0, 1, 2).squeeze(0);  // [19], offset
  for (const Op& op : ops()) {
    INFO(op.name);
    check_against_naive(op, transposed, stepped);
    check_against_naive(op, stepped, transposed);
    check_against_naive(op, transposed, column);
    check_against_naive(op, column, transposed);
    check_against_naive(op, row, transposed);
    check_against_naive(op, transposed, row);
    check_against_naive(op, row.expand({37, 19}), stepped);
  }
}

TEST_CASE("broadcast: gradients of every differentiable op by finite differences",
          "[ops][broadcast][gradcheck]") {
  using Fn = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<const char*, Fn>> diff = {
      {"add", gom::add}, {"sub", gom::sub}, {"mul", gom::mul}, {"div", gom::div}};
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{6, 5}, {5}},          {{5}, {6, 5}}, {{6, 5}, {6, 1}}, {{6, 1}, {6, 5}},
      {{3, 1, 4}, {3, 2, 4}}, {{1}, {3, 4}}, {{3, 1}, {1, 4}}};
  for (const auto& [sa, sb] : pairs)
    for (const auto& [name, fn] : diff) {
      INFO(name << " " << gom::shape_str(sa) << " with " << gom::shape_str(sb));
      gom::Generator gen(11);
      Tensor a = gom::randn(sa, &gen);
      Tensor b = gom::add(gom::rand(sb, &gen), 0.5);  // a denominator away from 0
      auto r = gom_test::gradcheck([fn](const std::vector<Tensor>& in) { return fn(in[0], in[1]); },
                                   {a, b});
      INFO(r.report);
      CHECK(r.ok);
    }
}

TEST_CASE("broadcast: sum and mean over stride-0 dims count every repeat", "[ops][broadcast]") {
  // [4, 1, 3] expanded to [2, 4, 5, 3]: dims 0 and 2 have stride 0.
  const Tensor x = gom::arange(0, 12).reshape({4, 1, 3});
  const Tensor e = x.expand({2, 4, 5, 3});
  const Tensor c = e.contiguous();
  for (const std::vector<int64_t>& dims :
       std::vector<std::vector<int64_t>>{{0}, {2}, {0, 2}, {1}, {0, 1, 2, 3}, {2, 3}, {0, 3}}) {
    INFO("dims of size " << dims.size() << ", first " << dims[0]);
    CHECK(gom::allclose(gom::sum(e, dims), gom::sum(c, dims), 1e-6, 1e-5));
    CHECK(gom::allclose(gom::mean(e, dims, true), gom::mean(c, dims, true), 1e-6, 1e-6));
  }
  CHECK(gom::sum(e).item<float>() == Approx(2 * 5 * 66.0));
  // The gradient of sum() is such a tensor; summing it back to a bias gives the batch size.
  Tensor bias = gom::zeros({3});
  bias.requires_grad_(true);
  gom::sum(gom::add(gom::zeros({8, 3}), bias)).backward();
  CHECK(bias.grad().to_vector<float>() == std::vector<float>{8, 8, 8});
}
