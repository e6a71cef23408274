// Finite-difference checks of every differentiable op: several shapes, broadcasting, 0-d tensors
// and non-contiguous inputs (transposed, sliced with a step, expanded). Inputs stay away from
// kinks (relu/abs at 0, ties of max/maximum) and outside the domain edges of log/sqrt/pow.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "gradcheck.h"

namespace {

using gom::Shape;
using gom::Tensor;
using gom_test::GradcheckOptions;
using gom_test::GradFn;
using TV = std::vector<Tensor>;

// ---------------------------------------------------------------- inputs

enum class Layout { Contiguous, Transposed, Sliced, Expanded };

enum class Values {
  Normal,        // standard normal
  Positive,      // in [0.5, ~2.5): log, sqrt, fractional powers, denominators
  AwayFromZero,  // |x| >= 0.2: relu, abs
  GridA,         // multiples of 0.25, and
  GridB,         // multiples of 0.25 plus 0.125: a GridA and a GridB value never tie
  Distinct,      // all different, at least 0.1 apart: no ties for max over a dim
};

struct InputSpec {
  Shape shape;
  Layout layout = Layout::Contiguous;
  Values values = Values::Normal;
};

InputSpec in(Shape s, Values v = Values::Normal) {
  return {std::move(s), Layout::Contiguous, v};
}
InputSpec view(Shape s, Layout l, Values v = Values::Normal) {
  return {std::move(s), l, v};
}

std::vector<float> transform(std::vector<float> v, Values kind) {
  switch (kind) {
    case Values::Normal:
      break;
    case Values::Positive:
      for (float& x : v) x = 0.5f + 0.5f * std::fabs(x);
      break;
    case Values::AwayFromZero:
      for (float& x : v) x = x < 0 ? x - 0.2f : x + 0.2f;
      break;
    case Values::GridA:
    case Values::GridB: {
      const float shift = kind == Values::GridB ? 0.125f : 0.0f;
      for (float& x : v) x = std::round(x * 4.0f) / 4.0f + shift;
      break;
    }
    case Values::Distinct: {  // the rank of each value, spaced 0.1 apart and centred
      std::vector<size_t> order(v.size());
      std::iota(order.begin(), order.end(), size_t{0});
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
      const float mid = 0.05f * static_cast<float>(v.size());
      for (size_t r = 0; r < order.size(); ++r) v[order[r]] = 0.1f * static_cast<float>(r) - mid;
      break;
    }
  }
  return v;
}

// The shape of the storage a view of layout `l` with logical shape `s` is cut from.
Shape base_shape(Shape s, Layout l) {
  switch (l) {
    case Layout::Contiguous:
      break;
    case Layout::Transposed:
      std::swap(s[s.size() - 2], s[s.size() - 1]);
      break;
    case Layout::Sliced:
      s.back() = 2 * s.back() + 1;
      break;
    case Layout::Expanded:
      s[0] = 1;
      break;
  }
  return s;
}

Tensor apply_layout(const Tensor& base, const InputSpec& spec) {
  switch (spec.layout) {
    case Layout::Contiguous:
      return base;
    case Layout::Transposed:
      return base.transpose(-1, -2);
    case Layout::Sliced:
      return base.slice(-1, 1, base.size(-1), 2);
    case Layout::Expanded:
      return base.expand(spec.shape);
  }
  return base;
}

Tensor make_input(const InputSpec& spec, gom::Generator& gen) {
  const Shape bs = base_shape(spec.shape, spec.layout);
  const auto values = transform(gom::randn(bs, &gen).to_vector<float>(), spec.values);
  Tensor t = apply_layout(gom::tensor(values, bs), spec);
  // A layout test that silently produced a contiguous tensor would test nothing.
  REQUIRE(t.shape() == spec.shape);
  REQUIRE(t.is_contiguous() == (spec.layout == Layout::Contiguous));
  return t;
}

std::string describe(const InputSpec& s) {
  static const char* names[] = {"", " transposed", " sliced", " expanded"};
  return gom::shape_str(s.shape) + names[static_cast<int>(s.layout)];
}

// ---------------------------------------------------------------- cases

struct GradCase {
  std::string name;
  std::vector<InputSpec> inputs;
  GradFn fn;
  GradcheckOptions opts = {};
};

std::string case_name(const std::string& op, const std::vector<InputSpec>& inputs) {
  std::string n = op;
  for (size_t i = 0; i < inputs.size(); ++i) n += (i ? ", " : " ") + describe(inputs[i]);
  return n;
}

GradCase make_case(const std::string& op, std::vector<InputSpec> inputs, GradFn fn,
                   GradcheckOptions opts = {}) {
  std::string name = case_name(op, inputs);
  return {std::move(name), std::move(inputs), std::move(fn), std::move(opts)};
}

// One section per case, each with its own seeded generator so that cases are reproducible alone.
void run_cases(const std::vector<GradCase>& cases) {
  for (size_t i = 0; i < cases.size(); ++i) {
    const GradCase& c = cases[i];
    DYNAMIC_SECTION(c.name) {
      gom::Generator gen(1000 + i);
      try {
        TV inputs;
        for (const InputSpec& s : c.inputs) inputs.push_back(make_input(s, gen));
        const auto r = gom_test::gradcheck(c.fn, inputs, c.opts);
        INFO(c.name << "\n" << r.report);
        CHECK(r.ok);
        CHECK(r.checked_elements > 0);
      } catch (const std::exception& e) {
        FAIL(c.name << " threw: " << e.what());
      }
    }
  }
}

// Shapes of one operand, in every layout that applies to it.
std::vector<InputSpec> unary_inputs(Values v) {
  std::vector<InputSpec> s = {in({}, v), in({5}, v), in({3, 4}, v), in({2, 3, 4}, v)};
  if (v != Values::Distinct) s.push_back(view({3, 4}, Layout::Expanded, v));
  s.push_back(view({3, 4}, Layout::Transposed, v));
  s.push_back(view({2, 3, 4}, Layout::Transposed, v));
  s.push_back(view({2, 3}, Layout::Sliced, v));
  return s;
}

// Operand pairs: equal shapes, both sides broadcast, lead/trailing dims, 0-d, views.
std::vector<std::vector<InputSpec>> binary_inputs(Values va, Values vb) {
  return {
      {in({3, 4}, va), in({3, 4}, vb)},
      {in({3, 1}, va), in({1, 4}, vb)},
      {in({2, 3, 4}, va), in({4}, vb)},
      {in({4}, va), in({2, 3, 4}, vb)},
      {in({1, 3}, va), in({2, 1, 3}, vb)},
      {in({}, va), in({2, 3}, vb)},
      {in({2, 3}, va), in({}, vb)},
      {in({}, va), in({}, vb)},
      {view({3, 4}, Layout::Transposed, va), view({3, 4}, Layout::Sliced, vb)},
      {view({3, 4}, Layout::Expanded, va), view({3, 4}, Layout::Transposed, vb)},
      {view({2, 3}, Layout::Sliced, va), view({3}, Layout::Sliced, vb)},
  };
}

void add_unary(std::vector<GradCase>& out, const std::string& op, Values v, GradFn fn) {
  for (const InputSpec& s : unary_inputs(v)) out.push_back(make_case(op, {s}, fn));
}

void add_binary(std::vector<GradCase>& out, const std::string& op, Values va, Values vb,
                Tensor (*f)(const Tensor&, const Tensor&)) {
  for (auto& pair : binary_inputs(va, vb))
    out.push_back(make_case(op, pair, [f](const TV& x) { return f(x[0], x[1]); }));
}

}  // namespace

// ---------------------------------------------------------------- the checker itself

namespace {

// x*x with a backward that is deliberately twice too large.
class WrongSquare : public gom::Function {
 public:
  std::string name() const override { return "WrongSquare"; }
  TV forward(gom::FunctionContext& ctx, const TV& in) override {
    ctx.save_for_backward({in[0]});
    return {gom::mul(in[0], in[0])};
  }
  TV backward(gom::FunctionContext& ctx, const TV& g) override {
    return {gom::mul(gom::mul(g[0], ctx.saved()[0]), 4.0)};  // right: 2 * x * g
  }
};

// x*x with the right backward: the control for WrongSquare.
class Square : public WrongSquare {
 public:
  TV backward(gom::FunctionContext& ctx, const TV& g) override {
    return {gom::mul(gom::mul(g[0], ctx.saved()[0]), 2.0)};
  }
};

// Reads its input's storage as if it were contiguous: wrong on a transposed view.
class ReadsStorageFlat : public Square {
 public:
  TV forward(gom::FunctionContext& ctx, const TV& in) override {
    ctx.save_for_backward({in[0]});
    const float* p = in[0].data<float>();
    std::vector<float> v(p, p + in[0].numel());
    for (float& x : v) x *= x;
    return {gom::tensor(v, in[0].shape())};
  }
};

GradFn via(std::shared_ptr<gom::Function> f) {
  return [f](const TV& x) { return gom::apply_function(f, x)[0]; };
}

}  // namespace

TEST_CASE("gradcheck: passes a correct backward and catches a wrong one", "[gradcheck]") {
  gom::Generator gen(3);
  const Tensor x = gom::randn({3, 4}, &gen);
  SECTION("a correct custom backward passes") {
    const auto r = gom_test::gradcheck(via(std::make_shared<Square>()), {x});
    INFO(r.report);
    CHECK(r.ok);
    CHECK(r.checked_elements == 12);
  }
  SECTION("a backward twice too large fails, naming the input and elements") {
    const auto r = gom_test::gradcheck(via(std::make_shared<WrongSquare>()), {x});
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.report, Catch::Contains("input 0") && Catch::Contains("analytical"));
  }
  SECTION("a forward that ignores strides fails on a transposed view") {
    const Tensor xt = gom::randn({4, 3}, &gen).t();
    const auto r = gom_test::gradcheck(via(std::make_shared<ReadsStorageFlat>()), {xt});
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.report, Catch::Contains("contiguous copies"));
  }
  SECTION("an output that does not require grad fails") {
    const auto r = gom_test::gradcheck([](const TV& in) { return in[0].detach(); }, {x});
    CHECK_FALSE(r.ok);
  }
  SECTION("a gradient that never reaches an input that matters fails") {
    const auto r = gom_test::gradcheck([](const TV& in) { return gom::add(in[0].detach(), in[1]); },
                                       {x, gom::randn({3, 4}, &gen)});
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.report, Catch::Contains("input 0"));
  }
}

// ---------------------------------------------------------------- elementwise

TEST_CASE("gradcheck: unary elementwise ops", "[gradcheck]") {
  std::vector<GradCase> c;
  add_unary(c, "relu", Values::AwayFromZero, [](const TV& x) { return gom::relu(x[0]); });
  add_unary(c, "abs", Values::AwayFromZero, [](const TV& x) { return gom::abs(x[0]); });
  add_unary(c, "sigmoid", Values::Normal, [](const TV& x) { return gom::sigmoid(x[0]); });
  add_unary(c, "tanh", Values::Normal, [](const TV& x) { return gom::tanh(x[0]); });
  add_unary(c, "exp", Values::Normal, [](const TV& x) { return gom::exp(x[0]); });
  add_unary(c, "log", Values::Positive, [](const TV& x) { return gom::log(x[0]); });
  add_unary(c, "sqrt", Values::Positive, [](const TV& x) { return gom::sqrt(x[0]); });
  add_unary(c, "neg", Values::Normal, [](const TV& x) { return gom::neg(x[0]); });
  add_unary(c, "affine", Values::Normal, [](const TV& x) { return gom::affine(x[0], 2.5, -1.0); });
  add_unary(c, "add scalar", Values::Normal, [](const TV& x) { return gom::add(x[0], 0.75); });
  add_unary(c, "mul scalar", Values::Normal, [](const TV& x) { return gom::mul(x[0], -1.5); });
  add_unary(c, "pow 2", Values::Normal, [](const TV& x) { return gom::pow(x[0], 2.0); });
  add_unary(c, "pow 3", Values::Normal, [](const TV& x) { return gom::pow(x[0], 3.0); });
  add_unary(c, "pow 0.5", Values::Positive, [](const TV& x) { return gom::pow(x[0], 0.5); });
  add_unary(c, "pow -1.5", Values::Positive, [](const TV& x) { return gom::pow(x[0], -1.5); });
  add_unary(c, "operators", Values::Positive,
            [](const TV& x) { return 2.0 - x[0] * 3.0 + x[0] / 2.0 - (-x[0]); });
  add_unary(c, "clone", Values::Normal, [](const TV& x) { return x[0].clone(); });
  add_unary(c, "contiguous", Values::Normal, [](const TV& x) { return x[0].contiguous(); });
  run_cases(c);
}

TEST_CASE("gradcheck: binary elementwise ops with broadcasting", "[gradcheck]") {
  std::vector<GradCase> c;
  add_binary(c, "add", Values::Normal, Values::Normal, gom::add);
  add_binary(c, "sub", Values::Normal, Values::Normal, gom::sub);
  add_binary(c, "mul", Values::Normal, Values::Normal, gom::mul);
  add_binary(c, "div", Values::Normal, Values::Positive, gom::div);
  add_binary(c, "maximum", Values::GridA, Values::GridB, gom::maximum);
  add_binary(c, "minimum", Values::GridA, Values::GridB, gom::minimum);
  // The same tensor on both sides: the two gradients must be summed.
  c.push_back(make_case("mul (x, x)", {in({3, 4})}, [](const TV& x) { return x[0] * x[0]; }));
  c.push_back(make_case("div (x, x+3)", {in({3, 4}, Values::Positive)},
                        [](const TV& x) { return x[0] / (x[0] + 3.0); }));
  run_cases(c);
}

// ---------------------------------------------------------------- reductions

TEST_CASE("gradcheck: reductions", "[gradcheck]") {
  std::vector<GradCase> c;
  for (const InputSpec& s : unary_inputs(Values::Normal)) {
    c.push_back(make_case("sum", {s}, [](const TV& x) { return gom::sum(x[0]); }));
    c.push_back(make_case("mean", {s}, [](const TV& x) { return gom::mean(x[0]); }));
  }
  const std::vector<std::vector<int64_t>> dim_sets = {{0}, {1}, {-1}, {0, 2}, {2, 0}, {0, 1, 2}};
  for (const InputSpec& s :
       {in({2, 3, 4}), view({2, 3, 4}, Layout::Transposed), view({2, 3, 4}, Layout::Expanded)})
    for (const auto& dims : dim_sets)
      for (bool keep : {false, true}) {
        const std::string tag = " dims " + gom::shape_str(dims) + (keep ? " keepdim" : "");
        c.push_back(make_case("sum" + tag, {s},
                              [dims, keep](const TV& x) { return gom::sum(x[0], dims, keep); }));
        c.push_back(make_case("mean" + tag, {s},
                              [dims, keep](const TV& x) { return gom::mean(x[0], dims, keep); }));
      }
  for (const InputSpec& s :
       {in({3, 4}, Values::Distinct), in({2, 3, 4}, Values::Distinct), in({5}, Values::Distinct),
        view({3, 4}, Layout::Transposed, Values::Distinct),
        view({3, 4}, Layout::Sliced, Values::Distinct)})
    for (int64_t dim : {0, -1})
      for (bool keep : {false, true})
        c.push_back(make_case("max dim " + std::to_string(dim) + (keep ? " keepdim" : ""), {s},
                              [dim, keep](const TV& x) { return gom::max(x[0], dim, keep); }));
  for (const Shape& to : {Shape{3, 4}, Shape{3, 1}, Shape{2, 1, 4}, Shape{}})
    c.push_back(make_case("sum_to " + gom::shape_str(to), {in({2, 3, 4})},
                          [to](const TV& x) { return gom::sum_to(x[0], to); }));
  run_cases(c);
}

// ---------------------------------------------------------------- shape ops

TEST_CASE("gradcheck: shape ops", "[gradcheck]") {
  std::vector<GradCase> c;
  const std::vector<InputSpec> sources = {in({2, 3, 4}), view({2, 3, 4}, Layout::Transposed),
                                          view({2, 3, 4}, Layout::Sliced),
                                          view({2, 3, 4}, Layout::Expanded)};
  for (const InputSpec& s : sources) {
    c.push_back(make_case("reshape [6, 4]", {s}, [](const TV& x) { return x[0].reshape({6, 4}); }));
    c.push_back(make_case("reshape [4, -1]", {s}, [](const TV& x) {
      return x[0].reshape({4, -1});
    }));
    c.push_back(make_case("transpose 0 2", {s}, [](const TV& x) { return x[0].transpose(0, 2); }));
    c.push_back(make_case("flatten", {s}, [](const TV& x) { return x[0].flatten(); }));
    c.push_back(make_case("flatten 1", {s}, [](const TV& x) { return x[0].flatten(1); }));
    c.push_back(
        make_case("slice dim 2 step 2", {s}, [](const TV& x) { return x[0].slice(2, 0, 4, 2); }));
    // A step over a middle dim interleaves the strides ([12, 8, 1] for [2, 2, 4]).
    c.push_back(
        make_case("slice dim 1 step 2", {s}, [](const TV& x) { return x[0].slice(1, 0, 3, 2); }));
    c.push_back(
        make_case("slice dim 1 from -2", {s}, [](const TV& x) { return x[0].slice(1, -2, 3); }));
    c.push_back(make_case("unsqueeze 1", {s}, [](const TV& x) { return x[0].unsqueeze(1); }));
    // A view of a view: the gradient must travel back through both.
    c.push_back(make_case("transpose then slice", {s}, [](const TV& x) {
      return gom::transpose(x[0], 0, 1).slice(0, 0, 3, 2);
    }));
  }
  c.push_back(make_case("squeeze 1", {in({3, 1, 4})}, [](const TV& x) { return x[0].squeeze(1); }));
  c.push_back(make_case("reshape 0-d", {in({})}, [](const TV& x) { return x[0].reshape({1, 1}); }));
  c.push_back(make_case("flatten 0-d", {in({})}, [](const TV& x) { return x[0].flatten(); }));
  for (const auto& [from, to_] :
       {std::pair{Shape{3, 1}, Shape{3, 4}}, std::pair{Shape{3, 1}, Shape{2, 3, 5}},
        std::pair{Shape{}, Shape{2, 3}}}) {
    const Shape to = to_;
    c.push_back(make_case("expand to " + gom::shape_str(to), {in(from)},
                          [to](const TV& x) { return x[0].expand(to); }));
  }
  c.push_back(make_case("cat dim 0", {in({2, 3}), view({1, 3}, Layout::Sliced), in({3, 3})},
                        [](const TV& x) { return gom::cat(x, 0); }));
  c.push_back(make_case("cat dim -1", {view({2, 3}, Layout::Transposed), in({2, 1})},
                        [](const TV& x) { return gom::cat(x, -1); }));
  c.push_back(make_case("cat dim 1", {in({2, 2, 3}), view({2, 3, 3}, Layout::Expanded)},
                        [](const TV& x) { return gom::cat(x, 1); }));
  c.push_back(make_case("cat (x, x)", {in({2, 3})}, [](const TV& x) {
    return gom::cat({x[0], x[0]}, 0);
  }));
  run_cases(c);
}

// ---------------------------------------------------------------- matmul and linear

TEST_CASE("gradcheck: matmul and linear", "[gradcheck]") {
  std::vector<GradCase> c;
  const std::vector<std::vector<InputSpec>> mm = {
      {in({3, 4}), in({4, 5})},
      {in({2, 3, 4}), in({2, 4, 5})},
      {in({2, 3, 4}), in({4, 5})},
      {in({3, 4}), in({2, 4, 2})},
      {in({2, 1, 3, 4}), in({3, 4, 2})},
      {in({4}), in({4, 3})},
      {in({3, 4}), in({4})},
      {in({4}), in({4})},
      {in({4}), in({2, 4, 3})},
      {in({2, 3, 4}), in({4})},
      {view({3, 4}, Layout::Transposed), view({4, 5}, Layout::Transposed)},
      {view({3, 4}, Layout::Sliced), view({2, 4, 5}, Layout::Expanded)},
      {view({2, 3, 4}, Layout::Expanded), view({4, 2}, Layout::Sliced)},
  };
  for (const auto& pair : mm)
    c.push_back(make_case("matmul", pair, [](const TV& x) { return gom::matmul(x[0], x[1]); }));
  const std::vector<std::vector<InputSpec>> lin = {
      {in({4, 3}), in({5, 3}), in({5})},
      {in({4, 3}), in({5, 3})},
      {in({2, 3, 4}), in({2, 4}), in({2})},
      {in({2, 3, 4}), in({5, 4})},
      {in({3}), in({2, 3}), in({2})},
      {view({4, 3}, Layout::Transposed), view({5, 3}, Layout::Transposed),
       view({5}, Layout::Sliced)},
      {view({2, 3, 4}, Layout::Transposed), view({2, 4}, Layout::Sliced)},
      {view({3, 4}, Layout::Expanded), in({2, 4}), view({2}, Layout::Expanded)},
  };
  for (const auto& args : lin)
    c.push_back(make_case("linear", args, [](const TV& x) {
      return x.size() == 3 ? gom::linear(x[0], x[1], x[2]) : gom::linear(x[0], x[1]);
    }));
  run_cases(c);
}

// ---------------------------------------------------------------- softmax and losses

TEST_CASE("gradcheck: softmax and log_softmax", "[gradcheck]") {
  std::vector<GradCase> c;
  const std::vector<std::pair<InputSpec, int64_t>> args = {
      {in({3, 5}), 0},
      {in({3, 5}), 1},
      {in({2, 3, 4}), 1},
      {in({2, 3, 4}), -1},
      {in({6}), 0},
      {view({3, 5}, Layout::Transposed), 1},
      {view({2, 3, 4}, Layout::Sliced), 2},
      {view({3, 4}, Layout::Expanded), 0},
  };
  for (const auto& [s, dim] : args) {
    const std::string tag = " dim " + std::to_string(dim);
    c.push_back(
        make_case("softmax" + tag, {s}, [dim](const TV& x) { return gom::softmax(x[0], dim); }));
    c.push_back(make_case("log_softmax" + tag, {s},
                          [dim](const TV& x) { return gom::log_softmax(x[0], dim); }));
  }
  run_cases(c);
}

TEST_CASE("gradcheck: losses", "[gradcheck]") {
  using gom::Reduction;
  std::vector<GradCase> c;
  const Tensor target = gom::tensor_i64({0, 3, 1, 2, 3}, {5});
  const Tensor with_ignored = gom::tensor_i64({0, 2, 1, 2, 3}, {5});
  for (const auto& [red_, rname] :
       {std::pair{Reduction::Mean, "mean"}, std::pair{Reduction::Sum, "sum"},
        std::pair{Reduction::None, "none"}}) {
    const Reduction red = red_;
    const std::string tag = std::string(" ") + rname;
    for (const InputSpec& s : {in({5, 4}), view({5, 4}, Layout::Transposed)}) {
      c.push_back(make_case("nll_loss" + tag, {s},
                            [=](const TV& x) { return gom::nll_loss(x[0], target, red); }));
      c.push_back(make_case("nll_loss ignore 2" + tag, {s}, [=](const TV& x) {
        return gom::nll_loss(x[0], with_ignored, red, 2);
      }));
      c.push_back(make_case("cross_entropy" + tag, {s},
                            [=](const TV& x) { return gom::cross_entropy(x[0], target, red); }));
      c.push_back(make_case("cross_entropy ignore 2" + tag, {s}, [=](const TV& x) {
        return gom::cross_entropy(x[0], with_ignored, red, 2);
      }));
    }
    for (const auto& pair : std::vector<std::vector<InputSpec>>{
             {in({3, 4}), in({3, 4})},
             {in({}), in({})},
             {view({3, 4}, Layout::Transposed), view({3, 4}, Layout::Expanded)}})
      c.push_back(make_case("mse_loss" + tag, pair,
                            [=](const TV& x) { return gom::mse_loss(x[0], x[1], red); }));
  }
  run_cases(c);
}

// ---------------------------------------------------------------- indexing

TEST_CASE("gradcheck: gather, scatter_add, index_select, index_add", "[gradcheck]") {
  std::vector<GradCase> c;
  const Tensor g0 = gom::tensor_i64({0, 2, 1, 2, 1, 1, 0, 0}, {2, 4});
  const Tensor g1 = gom::tensor_i64({3, 3, 0, 1, 2, 2}, {3, 2});
  const Tensor idx = gom::tensor_i64({2, 0, 2, 1}, {4});
  for (const InputSpec& s : {in({3, 4}), view({3, 4}, Layout::Transposed),
                             view({3, 4}, Layout::Sliced), view({3, 4}, Layout::Expanded)}) {
    c.push_back(
        make_case("gather dim 0", {s}, [=](const TV& x) { return gom::gather(x[0], 0, g0); }));
    c.push_back(
        make_case("gather dim 1", {s}, [=](const TV& x) { return gom::gather(x[0], 1, g1); }));
    c.push_back(make_case("index_select dim 0", {s},
                          [=](const TV& x) { return gom::index_select(x[0], 0, idx); }));
    c.push_back(make_case("index_select dim 1", {s},
                          [=](const TV& x) { return gom::index_select(x[0], 1, idx); }));
  }
  // Colliding indices: several src elements land on one element of t.
  for (const auto& [t, src] :
       {std::pair{in({3, 4}), in({2, 4})},
        std::pair{view({3, 4}, Layout::Transposed), view({2, 4}, Layout::Sliced)}})
    c.push_back(make_case("scatter_add dim 0", {t, src},
                          [=](const TV& x) { return gom::scatter_add(x[0], 0, g0, x[1]); }));
  c.push_back(make_case("scatter_add dim 1", {in({3, 4}), in({3, 2})},
                        [=](const TV& x) { return gom::scatter_add(x[0], 1, g1, x[1]); }));
  for (const auto& [t, src] :
       {std::pair{in({3, 5}), in({4, 5})},
        std::pair{view({3, 5}, Layout::Transposed), view({4, 5}, Layout::Expanded)}})
    c.push_back(make_case("index_add dim 0", {t, src},
                          [=](const TV& x) { return gom::index_add(x[0], 0, idx, x[1]); }));
  c.push_back(make_case("index_add dim 1", {in({2, 3}), in({2, 4})},
                        [=](const TV& x) { return gom::index_add(x[0], 1, idx, x[1]); }));
  run_cases(c);
}

// ---------------------------------------------------------------- compositions

TEST_CASE("gradcheck: a small network end to end", "[gradcheck]") {
  // Several ops sharing inputs, so gradients from different paths must be summed correctly.
  const Tensor target = gom::tensor_i64({1, 0, 2, 1}, {4});
  std::vector<GradCase> c;
  c.push_back(
      make_case("mlp", {in({4, 3}), in({5, 3}), in({5}), in({3, 5}), in({3})}, [=](const TV& x) {
        Tensor h = gom::tanh(gom::linear(x[0], x[1], x[2]));
        Tensor logits = gom::linear(h, x[3], x[4]) + gom::mean(h, {1}, true);
        return gom::cross_entropy(logits, target);
      }));
  c.push_back(make_case("attention-like", {in({2, 3, 4}), in({2, 3, 4})}, [](const TV& x) {
    Tensor scores = gom::matmul(x[0], gom::transpose(x[1], -1, -2)) * 0.5;
    return gom::matmul(gom::softmax(scores, -1), x[1]);
  }));
  run_cases(c);
}
