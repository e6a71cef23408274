// Parity with PyTorch: runs every case of fixtures/ops.json (written by gen_fixtures.py with
// PyTorch) through the gom op of the same name and compares the output and, for differentiable
// ops, the gradient of every input after out.backward(grad_output).
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gom/gom.h"

namespace {

using gom::Tensor;
using json = nlohmann::json;
using OpFn = std::function<Tensor(const std::vector<Tensor>&, const json&)>;

struct Tol {
  double rtol, atol;
};

// Each op belongs to one family (one TEST_CASE); the family sets the tolerance.
struct OpEntry {
  std::string family;
  OpFn run;
};

const std::map<std::string, Tol>& family_tolerances() {
  static const std::map<std::string, Tol> tols = {
      {"elementwise", {1e-5, 1e-6}}, {"compare", {0, 0}},      {"reduce", {1e-5, 1e-5}},
      {"shape", {1e-5, 1e-6}},       {"matmul", {1e-4, 1e-5}}, {"softmax", {1e-5, 1e-6}},
      {"loss", {1e-5, 1e-6}},        {"index", {1e-5, 1e-6}},
  };
  return tols;
}

// No op gets a looser tolerance: log and log_softmax run as exact loops in the backend because
// oneDNN's log was off by ~2e-6 near log(1) = 0, which these fixtures caught.
Tol tolerance(const std::string&, const std::string& family) {
  return family_tolerances().at(family);
}

const json& fixtures() {
  static const json cases = [] {
    std::ifstream in(GOM_FIXTURE_DIR "/ops.json");
    if (!in) throw gom::Error("cannot open " GOM_FIXTURE_DIR "/ops.json");
    return json::parse(in);
  }();
  return cases;
}

gom::Reduction reduction(const json& args) {
  const std::string r = args.at("reduction");
  if (r == "mean") return gom::Reduction::Mean;
  if (r == "sum") return gom::Reduction::Sum;
  if (r == "none") return gom::Reduction::None;
  throw gom::Error("unknown reduction in fixture: " + r);
}

int64_t ignore_index(const json& args) {
  return args.value("ignore_index", int64_t{-100});
}

gom::Shape shape_arg(const json& args, const char* key) {
  return args.at(key).get<gom::Shape>();
}

// ---------------------------------------------------------------- the op table

using Unary = Tensor (*)(const Tensor&);
using Binary = Tensor (*)(const Tensor&, const Tensor&);

OpEntry unary(Unary f) {
  return {"elementwise", [f](const std::vector<Tensor>& in, const json&) { return f(in.at(0)); }};
}
OpEntry binary(Binary f, const char* family = "elementwise") {
  return {family,
          [f](const std::vector<Tensor>& in, const json&) { return f(in.at(0), in.at(1)); }};
}

// sum/mean over all elements when the case has no "dims".
OpEntry reduction_op(Tensor (*all)(const Tensor&),
                     Tensor (*over)(const Tensor&, const std::vector<int64_t>&, bool)) {
  return {"reduce", [all, over](const std::vector<Tensor>& in, const json& a) {
            if (!a.contains("dims")) return all(in.at(0));
            return over(in.at(0), a.at("dims").get<std::vector<int64_t>>(), a.at("keepdim"));
          }};
}

void add_elementwise(std::map<std::string, OpEntry>& t) {
  t["add"] = binary(gom::add);
  t["sub"] = binary(gom::sub);
  t["mul"] = binary(gom::mul);
  t["div"] = binary(gom::div);
  t["maximum"] = binary(gom::maximum);
  t["minimum"] = binary(gom::minimum);
  t["relu"] = unary(gom::relu);
  t["sigmoid"] = unary(gom::sigmoid);
  t["tanh"] = unary(gom::tanh);
  t["exp"] = unary(gom::exp);
  t["log"] = unary(gom::log);
  t["sqrt"] = unary(gom::sqrt);
  t["abs"] = unary(gom::abs);
  t["neg"] = unary(gom::neg);
  t["affine"] = {"elementwise", [](const std::vector<Tensor>& in, const json& a) {
                   return gom::affine(in.at(0), a.at("alpha"), a.at("beta"));
                 }};
  t["add_scalar"] = {"elementwise", [](const std::vector<Tensor>& in, const json& a) {
                       return gom::add(in.at(0), a.at("value").get<double>());
                     }};
  t["mul_scalar"] = {"elementwise", [](const std::vector<Tensor>& in, const json& a) {
                       return gom::mul(in.at(0), a.at("value").get<double>());
                     }};
  t["pow"] = {"elementwise", [](const std::vector<Tensor>& in, const json& a) {
                return gom::pow(in.at(0), a.at("exponent").get<double>());
              }};
  for (auto [name, f] : {std::pair{"eq", &gom::eq},
                         {"ne", &gom::ne},
                         {"gt", &gom::gt},
                         {"ge", &gom::ge},
                         {"lt", &gom::lt},
                         {"le", &gom::le}})
    t[name] = binary(f, "compare");
}

void add_reductions(std::map<std::string, OpEntry>& t) {
  t["sum"] = reduction_op(gom::sum, gom::sum);
  t["mean"] = reduction_op(gom::mean, gom::mean);
  t["max"] = {"reduce", [](const std::vector<Tensor>& in, const json& a) {
                return gom::max(in.at(0), a.at("dim"), a.at("keepdim"));
              }};
  t["argmax"] = {"compare", [](const std::vector<Tensor>& in, const json& a) {
                   return gom::argmax(in.at(0), a.at("dim"), a.at("keepdim"));
                 }};
  t["sum_to"] = {"reduce", [](const std::vector<Tensor>& in, const json& a) {
                   return gom::sum_to(in.at(0), shape_arg(a, "shape"));
                 }};
}

void add_shape_ops(std::map<std::string, OpEntry>& t) {
  t["transpose"] = {"shape", [](const std::vector<Tensor>& in, const json& a) {
                      return gom::transpose(in.at(0), a.at("d0"), a.at("d1"));
                    }};
  t["reshape"] = {"shape", [](const std::vector<Tensor>& in, const json& a) {
                    return gom::reshape(in.at(0), shape_arg(a, "shape"));
                  }};
  t["flatten"] = {"shape", [](const std::vector<Tensor>& in, const json& a) {
                    return gom::flatten(in.at(0), a.at("start_dim"), a.at("end_dim"));
                  }};
  t["slice"] = {"shape", [](const std::vector<Tensor>& in, const json& a) {
                  return gom::slice(in.at(0), a.at("dim"), a.at("start"), a.at("end"),
                                    a.at("step"));
                }};
  t["expand"] = {"shape", [](const std::vector<Tensor>& in, const json& a) {
                   return gom::expand(in.at(0), shape_arg(a, "shape"));
                 }};
  t["unsqueeze"] = {"shape", [](const std::vector<Tensor>& in, const json& a) {
                      return in.at(0).unsqueeze(a.at("dim"));
                    }};
  t["squeeze"] = {"shape", [](const std::vector<Tensor>& in, const json& a) {
                    return in.at(0).squeeze(a.at("dim"));
                  }};
  t["cat"] = {"shape", [](const std::vector<Tensor>& in, const json& a) {
                return gom::cat(in, a.at("dim"));
              }};
}

void add_nn_ops(std::map<std::string, OpEntry>& t) {
  t["matmul"] = binary(gom::matmul, "matmul");
  t["linear"] = {"matmul", [](const std::vector<Tensor>& in, const json&) {
                   return in.size() == 3 ? gom::linear(in.at(0), in.at(1), in.at(2))
                                         : gom::linear(in.at(0), in.at(1));
                 }};
  t["softmax"] = {"softmax", [](const std::vector<Tensor>& in, const json& a) {
                    return gom::softmax(in.at(0), a.at("dim"));
                  }};
  t["log_softmax"] = {"softmax", [](const std::vector<Tensor>& in, const json& a) {
                        return gom::log_softmax(in.at(0), a.at("dim"));
                      }};
  t["nll_loss"] = {"loss", [](const std::vector<Tensor>& in, const json& a) {
                     return gom::nll_loss(in.at(0), in.at(1), reduction(a), ignore_index(a));
                   }};
  t["cross_entropy"] = {"loss", [](const std::vector<Tensor>& in, const json& a) {
                          return gom::cross_entropy(in.at(0), in.at(1), reduction(a),
                                                    ignore_index(a));
                        }};
  t["mse_loss"] = {"loss", [](const std::vector<Tensor>& in, const json& a) {
                     return gom::mse_loss(in.at(0), in.at(1), reduction(a));
                   }};
}

void add_index_ops(std::map<std::string, OpEntry>& t) {
  t["gather"] = {"index", [](const std::vector<Tensor>& in, const json& a) {
                   return gom::gather(in.at(0), a.at("dim"), in.at(1));
                 }};
  t["scatter_add"] = {"index", [](const std::vector<Tensor>& in, const json& a) {
                        return gom::scatter_add(in.at(0), a.at("dim"), in.at(1), in.at(2));
                      }};
  t["index_select"] = {"index", [](const std::vector<Tensor>& in, const json& a) {
                         return gom::index_select(in.at(0), a.at("dim"), in.at(1));
                       }};
  t["index_add"] = {"index", [](const std::vector<Tensor>& in, const json& a) {
                      return gom::index_add(in.at(0), a.at("dim"), in.at(1), in.at(2));
                    }};
}

const std::map<std::string, OpEntry>& op_table() {
  static const std::map<std::string, OpEntry> table = [] {
    std::map<std::string, OpEntry> t;
    add_elementwise(t);
    add_reductions(t);
    add_shape_ops(t);
    add_nn_ops(t);
    add_index_ops(t);
    return t;
  }();
  return table;
}

// ---------------------------------------------------------------- building and checking

Tensor from_json(const json& j) {
  const gom::Shape shape = j.at("shape").get<gom::Shape>();
  const std::string dtype = j.at("dtype");
  if (dtype == "f32") return gom::tensor(j.at("data").get<std::vector<float>>(), shape);
  if (dtype == "i64") return gom::tensor_i64(j.at("data").get<std::vector<int64_t>>(), shape);
  throw gom::Error("unknown dtype in fixture: " + dtype);
}

// The first few elements outside atol + rtol*|want| (NaN never passes); empty when all agree.
template <class T>
std::string mismatches(const std::vector<T>& got, const std::vector<T>& want, Tol tol) {
  std::ostringstream out;
  int bad = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    if (std::fabs(g - w) <= tol.atol + tol.rtol * std::fabs(w)) continue;
    if (bad++ < 5) out << "[" << i << "] got " << g << " want " << w << "; ";
  }
  if (got.size() != want.size()) out << "got " << got.size() << " values, want " << want.size();
  if (bad > 5) out << "(" << bad << " mismatches in all)";
  return out.str();
}

void check_tensor(const std::string& what, const Tensor& got, const json& want, Tol tol) {
  INFO(what);
  REQUIRE(got.defined());
  REQUIRE(gom::shape_str(got.shape()) == gom::shape_str(want.at("shape").get<gom::Shape>()));
  const std::string dtype = want.value("dtype", std::string("f32"));
  REQUIRE(gom::dtype_name(got.dtype()) == dtype);
  if (dtype == "i64")
    CHECK(mismatches(got.to_vector<int64_t>(), want.at("data").get<std::vector<int64_t>>(), tol) ==
          "");
  else
    CHECK(mismatches(got.to_vector<float>(), want.at("data").get<std::vector<float>>(), tol) == "");
}

void run_case(const json& c, const OpEntry& op) {
  const bool differentiable = !c.at("grad_output").is_null();
  const Tol tol = tolerance(c.at("op"), op.family);
  std::vector<Tensor> inputs;
  // Non-differentiable ops get inputs that require grad too: their output must not.
  for (const json& j : c.at("inputs")) {
    Tensor t = from_json(j);
    if (t.dtype() == gom::DType::F32) t.requires_grad_();
    inputs.push_back(t);
  }
  const Tensor out = op.run(inputs, c.at("args"));
  check_tensor("output", out, c.at("output"), tol);
  if (!differentiable) {
    CHECK_FALSE(out.requires_grad());
    return;
  }
  REQUIRE(out.requires_grad());
  out.backward(from_json(c.at("grad_output")));
  const json& grads = c.at("grads");
  REQUIRE(grads.size() == inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (grads[i].is_null()) {  // only an index input may have no expected gradient
      CHECK(inputs[i].dtype() != gom::DType::F32);
      continue;
    }
    check_tensor("gradient of input " + std::to_string(i), inputs[i].grad(), grads[i], tol);
  }
}

// Runs every fixture of one family, one section per case.
void run_family(const std::string& family) {
  int count = 0;
  for (const json& c : fixtures()) {
    const auto it = op_table().find(c.at("op").get<std::string>());
    if (it == op_table().end() || it->second.family != family) continue;
    ++count;
    const std::string name = c.at("name");
    DYNAMIC_SECTION(name) {
      INFO("fixture " << name << " (op " << c.at("op").get<std::string>() << ")");
      try {
        run_case(c, it->second);
      } catch (const std::exception& e) {
        FAIL("threw: " << e.what());
      }
    }
  }
  CHECK(count > 0);  // a family with no fixtures means the file is stale
}

}  // namespace

TEST_CASE("fixtures: the file loads and names only known ops", "[fixtures]") {
  REQUIRE(fixtures().is_array());
  CHECK(fixtures().size() > 100);
  std::map<std::string, int> per_family;
  for (const json& c : fixtures()) {
    const std::string op = c.at("op");
    INFO("fixture " << c.at("name").get<std::string>());
    const auto it = op_table().find(op);
    CHECK(it != op_table().end());  // an op this test does not know how to run
    if (it != op_table().end()) ++per_family[it->second.family];
  }
  for (const auto& [family, tol] : family_tolerances()) {
    INFO("family " << family);
    CHECK(per_family[family] > 0);
  }
  // Every op of the table has a fixture, so an op cannot drop out of the file unnoticed.
  for (const auto& [op, entry] : op_table()) {
    bool found = false;
    for (const json& c : fixtures()) found = found || c.at("op") == op;
    INFO("op " << op);
    CHECK(found);
  }
}

TEST_CASE("fixtures: elementwise ops match PyTorch", "[fixtures]") {
  run_family("elementwise");
}
TEST_CASE("fixtures: comparisons and argmax match PyTorch", "[fixtures]") {
  run_family("compare");
}
TEST_CASE("fixtures: reductions match PyTorch", "[fixtures]") {
  run_family("reduce");
}
TEST_CASE("fixtures: shape ops match PyTorch", "[fixtures]") {
  run_family("shape");
}
TEST_CASE("fixtures: matmul and linear match PyTorch", "[fixtures]") {
  run_family("matmul");
}
TEST_CASE("fixtures: softmax and log_softmax match PyTorch", "[fixtures]") {
  run_family("softmax");
}
TEST_CASE("fixtures: losses match PyTorch", "[fixtures]") {
  run_family("loss");
}
TEST_CASE("fixtures: indexing ops match PyTorch", "[fixtures]") {
  run_family("index");
}
