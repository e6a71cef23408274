// safetensors between gom and PyTorch, gom's side (tests/sdk/safetensors_interop.sh runs both):
//   safetensors_interop write OUT   writes OUT with gom::save_safetensors, for
//                                   `tests/fixtures/safetensors_torch.py check OUT`
//   safetensors_interop check IN    reads IN, written by `safetensors_torch.py write IN`, and
//                                   checks every name, dtype, shape, value (bit for bit) and the
//                                   metadata
// The values must match those of tests/fixtures/safetensors_torch.py.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "gom/safetensors.h"

namespace {

const char* const kNonAscii = "gom \u00e9t\u00e9 \u2713";
int failures = 0;

void fail(const std::string& what) {
  std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  ++failures;
}

std::string shape_of(const gom::Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Same dtype, shape and bytes (so -0.0 differs from 0.0, and every NaN payload counts).
template <class T>
void expect(const gom::NamedTensors& got, const std::string& name, gom::DType dtype,
            const gom::Shape& shape, const std::vector<T>& values) {
  const gom::Tensor* t = nullptr;
  for (const auto& [n, v] : got)
    if (n == name) t = &v;
  if (!t) return fail("no tensor '" + name + "'");
  if (t->dtype() != dtype) return fail(name + ": dtype " + gom::dtype_name(t->dtype()));
  if (t->shape() != shape) return fail(name + ": shape " + shape_of(t->shape()));
  const std::vector<T> v = t->to_vector<T>();
  if (v.size() != values.size() ||
      (!v.empty() && std::memcmp(v.data(), values.data(), v.size() * sizeof(T)) != 0)) {
    std::string text;
    for (const T& x : v) text += " " + std::to_string(x);
    fail(name + ": values" + text);
  }
}

void write(const std::string& path) {
  using gom::tensor;
  gom::Tensor strided = tensor({0, 1, 2, 3, 4, 5}, {2, 3}).t();  // [[0, 3], [1, 4], [2, 5]]
  if (strided.is_contiguous()) throw gom::Error("the transpose is contiguous");
  const float third = float(-1.0 / 3), big = float(-3.0e38), tiny = float(1e-40);
  const float pow100 = std::ldexp(1.0f, 100);
  gom::save_safetensors(
      path,
      {{"weight", tensor({0.5f, third, tiny, -0.0f, pow100, big}, {2, 3})},
       {"strided", strided},
       {"index",
        gom::tensor_i64({5, -6, (int64_t(1) << 33) + 1, std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max()},
                        {5})},
       {"labels", gom::tensor_i32({3, std::numeric_limits<int32_t>::min(), 0}, {3})},
       {"scalar", gom::scalar(-1.75)},
       {"step", gom::tensor_i64({12345678901}, {})},
       {"empty", gom::zeros({0, 5})},
       {"last", tensor({1, 2, 3}, {3})}},
      {{"format", "pt"}, {"epoch", "7"}, {"note", kNonAscii}});
}

void check(const std::string& path) {
  using gom::DType;
  const gom::Safetensors f = gom::load_safetensors(path);
  const auto& ts = f.tensors;
  expect<float>(ts, "weight", DType::F32, {2, 3},
                {float(1.0 / 3), -0.0f, float(1e-40), float(3.4e38), -7.25f, float(0.1)});
  expect<int64_t>(
      ts, "index", DType::I64, {5},
      {0, -1, (int64_t(1) << 40) + 3, -(int64_t(1) << 62), std::numeric_limits<int64_t>::max()});
  expect<float>(ts, "scalar", DType::F32, {}, {3.25f});
  expect<int32_t>(ts, "labels", DType::I32, {3}, {-7, 7, std::numeric_limits<int32_t>::max()});
  expect<float>(ts, "empty", DType::F32, {0, 3}, {});
  expect<float>(ts, "double", DType::F32, {3}, {float(0.1), -2.5f, 1e10f});  // F64, read as F32
  expect<float>(ts, "transposed", DType::F32, {3, 2}, {-2, 2.5f, -0.5f, 4, 1, 5.5f});
  if (ts.size() != 7) fail("expected 7 tensors, got " + std::to_string(ts.size()));
  // In the order of their data (the empty one, of no bytes, may come anywhere).
  std::vector<std::string> order;
  for (const auto& [n, t] : ts)
    if (n != "empty") order.push_back(n);
  const std::vector<std::string> want{"weight", "index",  "scalar",
                                      "labels", "double", "transposed"};
  if (order != want) fail("the tensors are not in the order of their data");
  if (f.metadata.size() != 3 || f.metadata.count("format") != 1 ||
      f.metadata.at("format") != "pt" || f.metadata.count("note") != 1 ||
      f.metadata.at("note") != kNonAscii || f.metadata.count("writer") != 1 ||
      f.metadata.at("writer").rfind("torch ", 0) != 0)
    fail("metadata is not {format: pt, writer: torch <version>, note: " + std::string(kNonAscii) +
         "}");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 3 ? argv[1] : "";
  if (mode != "write" && mode != "check") {
    std::fprintf(stderr, "usage: %s write OUT | check IN\n", argv[0]);
    return 2;
  }
  try {
    gom::init();
    gom::set_num_threads(1);
    if (mode == "write")
      write(argv[2]);
    else
      check(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL: %s\n", e.what());
    return 1;
  }
  if (failures) return 1;
  std::printf("safetensors_interop: %s %s: ok\n", mode.c_str(), argv[2]);
  return 0;
}
