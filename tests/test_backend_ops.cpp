// The backend conformance test (issue 17): every kernel op of the built-in plugins, on every
// backend that can run here, against the CPU (backend_ops.h says how). Without a GPU it still
// compares the CPU on strided and broadcast views with the CPU on contiguous copies, and says
// which backends it skipped and why. GOM_CONFORMANCE_TF32=1 lets matmuls and convolutions use
// TensorFloat-32 (it sets GOM_CUDA_TF32=1) and loosens their tolerances to match.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>

#include "backend_ops.h"

namespace gom_test::backend_ops {
namespace {

using gom::Device;
using gom::DeviceType;

bool env_is_one(const char* name) {
  const char* v = std::getenv(name);
  return v && std::string(v) == "1";
}

bool tf32() {
  static const bool on = env_is_one("GOM_CONFORMANCE_TF32") || env_is_one("GOM_CUDA_TF32");
  return on;
}

// The backends other than the CPU: those that can run here, and why the others cannot.
struct Backends {
  std::vector<Device> run;
  std::vector<std::string> skipped;
};

const Backends& backends() {
  static const Backends b = [] {
    // Before any backend reads it: the CUDA backend reads GOM_CUDA_TF32 once.
    if (env_is_one("GOM_CONFORMANCE_TF32")) setenv("GOM_CUDA_TF32", "1", 1);
    Backends r;
    for (int t = 0; t < gom::kNumDeviceTypes; ++t) {
      const Device d{static_cast<DeviceType>(t), 0};
      if (d.type == DeviceType::CPU) continue;
      if (std::string why = gom::device_unavailable(d); why.empty())
        r.run.push_back(d);
      else
        r.skipped.push_back(fmt::format("{} ({})", gom::device_type_name(d.type), why));
    }
    return r;
  }();
  return b;
}

// Says once per process what is compared and what was skipped.
void announce() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> run;
    for (const Device& d : backends().run) run.push_back(d.str());
    WARN(fmt::format("backend ops: compared with the CPU: {}; backends skipped: {}{}",
                     run.empty() ? "none" : fmt::format("{}", fmt::join(run, ", ")),
                     backends().skipped.empty()
                         ? "none"
                         : fmt::format("{}", fmt::join(backends().skipped, "; ")),
                     tf32() ? "; TF32 allowed (looser matmul/conv tolerances)" : ""));
  });
}

// FNV-1a of the case's name: each case draws its own inputs, whatever runs before it.
uint64_t seed_of(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

std::string index_str(const gom::Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return fmt::format("[{}]", fmt::join(idx, ", "));
}

std::string compare_one(const Tensor& want, const Tensor& got, Tol tol) {
  if (want.shape() != got.shape() || want.dtype() != got.dtype())
    return fmt::format("want {} {}, got {} {}", gom::dtype_name(want.dtype()),
                       gom::shape_str(want.shape()), gom::dtype_name(got.dtype()),
                       gom::shape_str(got.shape()));
  int64_t bad = 0, worst = -1;
  double worst_excess = 0;
  auto note = [&](int64_t i, double excess) {
    ++bad;
    if (worst < 0 || excess > worst_excess) worst = i, worst_excess = excess;
  };
  if (want.dtype() != gom::DType::F32) {
    const auto w = want.to_vector<int64_t>(), g = got.to_vector<int64_t>();
    for (size_t i = 0; i < w.size(); ++i)
      if (w[i] != g[i]) note(int64_t(i), std::abs(double(w[i]) - double(g[i])));
    if (bad == 0) return "";
    return fmt::format("{} of {} elements differ; first worst at {}: want {}, got {}", bad,
                       w.size(), index_str(want.shape(), worst), w[size_t(worst)],
                       g[size_t(worst)]);
  }
  const auto w = want.to_vector<float>(), g = got.to_vector<float>();
  for (size_t i = 0; i < w.size(); ++i) {
    const double a = w[i], b = g[i];
    if (std::isnan(a) || std::isnan(b)) {
      if (std::isnan(a) != std::isnan(b)) note(int64_t(i), INFINITY);
      continue;
    }
    if (std::isinf(a) || std::isinf(b)) {
      if (a != b) note(int64_t(i), INFINITY);
      continue;
    }
    const double excess = std::abs(a - b) - (tol.atol + tol.rtol * std::abs(a));
    if (excess > 0) note(int64_t(i), excess);
  }
  if (bad == 0) return "";
  const double a = w[size_t(worst)], b = g[size_t(worst)];
  return fmt::format(
      "{} of {} elements differ; worst at {}: want {:.9g}, got {:.9g} (|diff| {:.3g}, allowed "
      "{:.3g})",
      bad, w.size(), index_str(want.shape(), worst), a, b, std::abs(a - b),
      tol.atol + tol.rtol * std::abs(a));
}

// Runs `body`; an exception fails a CHECK naming the case and where it ran.
template <class F>
bool attempt(const Case& c, const std::string& where, F&& body) {
  try {
    body();
    return true;
  } catch (const std::exception& e) {
    FAIL_CHECK(fmt::format("case '{}' on {}: threw: {}", c.name, where, e.what()));
    return false;
  }
}

void expect_same(const Case& c, const Tensors& want, const Tensors& got, const std::string& where) {
  const std::string diff = compare(want, got, c.tol);
  if (!diff.empty())
    FAIL_CHECK(fmt::format("case '{}' on {} differs from the CPU: {}", c.name, where, diff));
  else
    SUCCEED();
}

}  // namespace

Tol matmul_tol() {
  return tf32() ? Tol{2e-2, 3e-2} : Tol{1e-4, 1e-4};
}
Tol rnn_tol() {
  return tf32() ? Tol{2e-2, 2e-2} : Tol{1e-4, 1e-5};
}

std::string compare(const Tensors& want, const Tensors& got, Tol tol) {
  if (want.size() != got.size())
    return fmt::format("{} outputs, expected {}", got.size(), want.size());
  std::string all;
  for (size_t i = 0; i < want.size(); ++i) {
    std::string d;
    if (want[i].defined() != got[i].defined())
      d = want[i].defined() ? "undefined, expected a tensor" : "a tensor, expected undefined";
    else if (want[i].defined())
      d = compare_one(want[i], got[i], tol);
    if (!d.empty()) all += fmt::format("{}output {}: {}", all.empty() ? "" : "; ", i, d);
  }
  return all;
}

Tensors run_on(const Case& c, const Tensors& cpu_inputs, Device device, bool dense,
               bool* used_views) {
  Tensors in;
  for (const Tensor& t : cpu_inputs)
    in.push_back(!t.defined() ? t : device == gom::kCPU ? t.clone() : t.to(device));
  Run run(device, dense);
  const Tensors out = c.run(in, run);
  if (used_views) *used_views = run.used_views();
  gom::NoGrad no_grad;
  Tensors back;
  for (const Tensor& t : out) back.push_back(t.defined() ? t.detach().to(gom::kCPU) : t);
  return c.post ? c.post(back) : back;
}

void check_case(const Case& c) {
  Tensors in, ref;
  gom::Generator gen(seed_of(c.name));
  bool strided = false;
  if (!attempt(c, "cpu (inputs)", [&] { in = c.inputs(gen); })) return;
  if (!attempt(c, "cpu", [&] { ref = run_on(c, in, gom::kCPU, false, &strided); })) return;
  if (strided) {
    Tensors dense;
    if (attempt(c, "cpu, views copied", [&] { dense = run_on(c, in, gom::kCPU, true); }))
      expect_same(c, ref, dense, "cpu with contiguous copies of the views");
  }
  for (const Device& d : backends().run) {
    bool missing = false;
    for (const std::string& op : c.ops)
      if (!gom::has_kernel(op, d.type)) {
        FAIL_CHECK(fmt::format("case '{}': op '{}' has no kernel on {}", c.name, op, d.str()));
        missing = true;
      }
    if (missing) continue;
    for (bool dense : {false, true}) {
      if (dense && !strided) continue;
      const std::string where = dense ? d.str() + " with contiguous copies of the views" : d.str();
      Tensors got;
      if (attempt(c, where, [&] { got = run_on(c, in, d, dense); }))
        expect_same(c, ref, got, where);
    }
  }
}

void check_cases(const std::vector<Case>& cases) {
  announce();
  REQUIRE_FALSE(cases.empty());
  for (const Case& c : cases) check_case(c);
}

std::vector<Case> all_cases() {
  std::vector<Case> all;
  for (auto family :
       {elementwise_cases, creation_cases, reduction_cases, matmul_cases, softmax_loss_cases,
        index_cases, conv_pool_cases, norm_cases, rnn_cases, optimizer_cases, sort_linalg_cases})
    for (Case& c : family()) all.push_back(std::move(c));
  return all;
}

Tensor normal(const gom::Shape& shape, gom::Generator& g, double scale) {
  Tensor t = gom::randn(shape, &g);
  return scale == 1.0 ? t : gom::mul(t, scale);
}
Tensor uniform(const gom::Shape& shape, double lo, double hi, gom::Generator& g) {
  Tensor t = Tensor::empty(shape);
  return gom::uniform_(t, lo, hi, &g);
}
Tensor small_ints(const gom::Shape& shape, int64_t lo, int64_t hi, gom::Generator& g) {
  return gom::randint(lo, hi, shape, &g).to(gom::DType::F32);
}
Tensor indices(const gom::Shape& shape, int64_t n, gom::Generator& g) {
  return gom::randint(0, n, shape, &g);
}
Tensor leaf(const Tensor& t) {
  Tensor x = t;
  x.requires_grad_();
  return x;
}
Tensor grad_of(const Tensor& leaf) {
  return leaf.grad().defined() ? leaf.grad() : gom::zeros_like(leaf);
}

}  // namespace gom_test::backend_ops

using namespace gom_test::backend_ops;

TEST_CASE("backend ops: elementwise (unary, unary_backward, binary, where)", "[backend_ops]") {
  check_cases(elementwise_cases());
}
TEST_CASE("backend ops: creation, copy and random", "[backend_ops]") {
  check_cases(creation_cases());
}
TEST_CASE("backend ops: reductions (reduce, argmax, argmin, cumsum)", "[backend_ops]") {
  check_cases(reduction_cases());
}
TEST_CASE("backend ops: matmul", "[backend_ops]") {
  check_cases(matmul_cases());
}
TEST_CASE("backend ops: softmax, log_softmax and nll_loss", "[backend_ops]") {
  check_cases(softmax_loss_cases());
}
TEST_CASE("backend ops: indexing (gather, scatter_add, index_select, index_add)", "[backend_ops]") {
  check_cases(index_cases());
}
TEST_CASE("backend ops: convolution and pooling", "[backend_ops]") {
  check_cases(conv_pool_cases());
}
TEST_CASE("backend ops: batch_norm and layer_norm", "[backend_ops]") {
  check_cases(norm_cases());
}
TEST_CASE("backend ops: recurrent layers", "[backend_ops]") {
  check_cases(rnn_cases());
}
TEST_CASE("backend ops: optimizer updates", "[backend_ops]") {
  check_cases(optimizer_cases());
}
TEST_CASE("backend ops: sort, svd and triangle", "[backend_ops]") {
  check_cases(sort_linalg_cases());
}

namespace {

// Kernel ops registered by the built-in plugins (gom_onednn, gom_optimizers, gom_cuda, ...), on
// any device; test plugins (gomtest_*) and kernels registered by other tests are not theirs.
std::set<std::string> builtin_ops() {
  std::set<std::string> ops;
  for (const std::string& op : gom::kernel_ops())
    for (int t = 0; t < gom::kNumDeviceTypes; ++t) {
      const auto type = static_cast<gom::DeviceType>(t);
      if (gom::has_kernel(op, type) && gom::kernel_provider(op, type).rfind("gom_", 0) == 0)
        ops.insert(op);
    }
  return ops;
}

// Wraps every CPU kernel of `ops` to note which ran, and puts the originals back when it goes.
class KernelSpy {
 public:
  explicit KernelSpy(const std::set<std::string>& ops) {
    for (const std::string& op : ops) {
      if (!gom::has_kernel(op, gom::DeviceType::CPU)) continue;
      Original o{gom::find_kernel(op, gom::DeviceType::CPU),
                 gom::kernel_provider(op, gom::DeviceType::CPU)};
      gom::register_kernel(
          op, gom::DeviceType::CPU,
          [this, op, fn = o.fn](const gom::KernelCall& c) {
            {
              std::lock_guard lock(mu_);
              called_.insert(op);
            }
            fn(c);
          },
          o.provider);
      originals_.emplace(op, std::move(o));
    }
  }
  ~KernelSpy() {
    for (auto& [op, o] : originals_)
      gom::register_kernel(op, gom::DeviceType::CPU, o.fn, o.provider);
  }
  KernelSpy(const KernelSpy&) = delete;
  KernelSpy& operator=(const KernelSpy&) = delete;
  std::set<std::string> take() {
    std::lock_guard lock(mu_);
    return std::exchange(called_, {});
  }

 private:
  struct Original {
    gom::KernelFn fn;
    std::string provider;
  };
  std::map<std::string, Original> originals_;
  std::mutex mu_;
  std::set<std::string> called_;
};

}  // namespace

TEST_CASE("backend ops: every kernel op of the built-in plugins has a case", "[backend_ops]") {
  const std::set<std::string> builtin = builtin_ops();
  // Guards against a vacuous pass (a renamed provider would empty the set).
  REQUIRE(builtin.count("matmul") == 1);
  REQUIRE(builtin.count("sgd_update") == 1);
  std::set<std::string> covered;
  for (const Case& c : all_cases()) covered.insert(c.ops.begin(), c.ops.end());
  std::vector<std::string> untested;
  for (const std::string& op : builtin)
    if (!covered.count(op)) untested.push_back(op);
  INFO("add a case to tests/test_backend_ops_*.cpp for each of these kernel ops");
  CHECK(fmt::format("{}", fmt::join(untested, ", ")) == "");
}

TEST_CASE("backend ops: each case calls the kernel ops it names", "[backend_ops]") {
  const std::vector<Case> cases = all_cases();
  KernelSpy spy(builtin_ops());
  for (const Case& c : cases) {
    gom::Generator gen(seed_of(c.name));
    Tensors in;
    try {
      in = c.inputs(gen);
      run_on(c, in, gom::kCPU, false);
    } catch (const std::exception& e) {
      FAIL_CHECK(fmt::format("case '{}' threw: {}", c.name, e.what()));
      continue;
    }
    const std::set<std::string> called = spy.take();
    for (const std::string& op : c.ops)
      if (!called.count(op))
        FAIL_CHECK(fmt::format("case '{}' names op '{}' but did not call its kernel", c.name, op));
  }
}

TEST_CASE("backend ops: the comparison tells what differs", "[backend_ops]") {
  const Tensor a = gom::tensor({1, 2, NAN, INFINITY}, {2, 2});
  CHECK(compare({a}, {a.clone()}, kExact) == "");
  const Tensor b = gom::tensor({1, 2.5f, NAN, INFINITY}, {2, 2});
  CHECK_THAT(compare({a}, {b}, kExact),
             Catch::Contains("output 0: 1 of 4 elements differ; worst at [0, 1]: want 2, got 2.5"));
  CHECK(compare({a}, {b}, Tol{0.0, 0.5}) == "");
  const Tensor nan_for_inf = gom::tensor({1, 2, NAN, NAN}, {2, 2});
  CHECK_THAT(compare({a}, {nan_for_inf}, Tol{1, 1}), Catch::Contains("1 of 4 elements differ"));
  // Integers compare exactly whatever the tolerance; shapes, dtypes and counts must agree.
  const Tensor i = gom::tensor_i64({1, 2, 3}, {3}), j = gom::tensor_i64({1, 2, 4}, {3});
  CHECK_THAT(compare({i}, {j}, Tol{1, 1}), Catch::Contains("want 3, got 4"));
  CHECK_THAT(compare({i}, {i.to(gom::DType::F32)}, kExact), Catch::Contains("want i64 [3]"));
  CHECK_THAT(compare({i, i}, {i}, kExact), Catch::Contains("1 outputs, expected 2"));
  CHECK_THAT(compare({Tensor()}, {i}, kExact), Catch::Contains("a tensor, expected undefined"));
}
