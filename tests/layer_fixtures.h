// tests/layer_fixtures.h — runs the layer fixtures written by PyTorch (tests/fixtures/
// gen_{activations,layernorm,attention}_fixtures.py, via layer_fixture_io.py) through gom.
//
// A case names a gom layer and its config, the PyTorch module's state_dict (loaded into the gom
// layer by name, strictly, so every name must match), the inputs, the output, and the gradients
// of the inputs and of every parameter after out.backward(grad_output). (test-only)
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gom/gom.h"

namespace gom_test {

using json = nlohmann::json;

/// All cases of tests/fixtures/<file>, by name.
inline const std::map<std::string, json>& layer_fixtures(const std::string& file) {
  static std::map<std::string, std::map<std::string, json>> cache;
  auto it = cache.find(file);
  if (it != cache.end()) return it->second;
  std::ifstream in(std::string(GOM_FIXTURE_DIR) + "/" + file);
  if (!in) throw gom::Error("cannot open fixture file " + file);
  std::map<std::string, json> cases;
  for (const json& c : json::parse(in)) cases[c.at("name")] = c;
  return cache[file] = cases;
}

inline gom::Tensor decode(const json& t) {
  const gom::Shape shape = t.at("shape").get<gom::Shape>();
  if (t.at("dtype") == "i64")
    return gom::tensor_i64(t.at("data").get<std::vector<int64_t>>(), shape);
  return gom::tensor(t.at("data").get<std::vector<float>>(), shape);
}

/// The gom layer's config: every key of the case's config but "layer".
inline gom::Config config_of(const json& c) {
  gom::Config cfg;
  for (const auto& [k, v] : c.at("config").items()) {
    if (k == "layer") continue;
    if (v.is_boolean()) {
      cfg[k] = v.get<bool>();
    } else if (v.is_number_integer()) {
      cfg[k] = v.get<int64_t>();
    } else if (v.is_number()) {
      cfg[k] = v.get<double>();
    } else if (v.is_string()) {
      cfg[k] = v.get<std::string>();
    } else {
      gom::Value::List l;
      for (const json& e : v) l.emplace_back(e.get<int64_t>());
      cfg[k] = gom::Value(l);
    }
  }
  return cfg;
}

/// The layer of the case with PyTorch's weights loaded, in eval mode.
inline std::shared_ptr<gom::Module> fixture_layer(const json& c) {
  auto m = gom::create_layer(c.at("config").at("layer"), config_of(c));
  std::vector<std::pair<std::string, gom::Tensor>> state;
  for (const auto& [k, v] : c.at("state").items()) state.emplace_back(k, decode(v));
  m->load_state_dict(state);
  m->eval();
  return m;
}

/// Whether |a - b| <= atol + rtol |b| everywhere (and shapes agree), with a Catch INFO line
/// giving the largest difference when not.
inline bool close(const gom::Tensor& a, const gom::Tensor& b, double rtol, double atol,
                  const std::string& what) {
  if (a.shape() != b.shape()) {
    UNSCOPED_INFO(what << ": shape " << gom::shape_str(a.shape()) << " vs "
                       << gom::shape_str(b.shape()));
    return false;
  }
  const auto av = a.contiguous().to_vector<float>(), bv = b.to_vector<float>();
  double worst = 0;
  size_t at = 0;
  bool ok = true;
  for (size_t i = 0; i < av.size(); ++i) {
    const double d = std::fabs(double(av[i]) - bv[i]);
    if (!(d <= atol + rtol * std::fabs(bv[i]))) ok = false;
    if (!(d <= worst)) worst = d, at = i;
  }
  if (!ok) UNSCOPED_INFO(what << ": max |diff| " << worst << " at element " << at);
  return ok;
}

/// Runs one case: forward vs the output, then backward(grad_output) vs every input's and every
/// parameter's gradient. `rtol`/`atol` apply to all comparisons.
inline void check_layer_case(const json& c, double rtol, double atol) {
  INFO("case " << c.at("name").get<std::string>());
  auto m = fixture_layer(c);
  std::vector<gom::Tensor> inputs;
  for (const json& x : c.at("inputs")) {
    gom::Tensor t = decode(x);
    if (t.dtype() == gom::DType::F32) t.requires_grad_(true);
    inputs.push_back(t);
  }
  const gom::Tensor out =
      inputs.size() == 1 ? m->forward(inputs[0]) : m->forward(inputs[0], inputs[1]);
  CHECK(close(out, decode(c.at("output")), rtol, atol, "output"));
  out.backward(decode(c.at("grad_output")));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const json& g = c.at("input_grads")[i];
    if (g.is_null()) continue;
    REQUIRE(inputs[i].grad().defined());
    CHECK(close(inputs[i].grad(), decode(g), rtol, atol, "grad of input " + std::to_string(i)));
  }
  std::map<std::string, gom::Tensor> params;
  for (auto& [k, p] : m->named_parameters()) params[k] = p;
  CHECK(params.size() == c.at("param_grads").size());
  for (const auto& [k, g] : c.at("param_grads").items()) {
    REQUIRE(params.count(k) == 1);
    REQUIRE(params[k].grad().defined());
    CHECK(close(params[k].grad(), decode(g), rtol, atol, "grad of " + k));
  }
}

/// @brief Checks every case of fixture `file` whose name starts with `prefix`; returns how many
/// (a test asserts the count, so a renamed case cannot silently drop out).
inline int check_layer_cases(const std::string& file, const char* prefix, double rtol,
                             double atol) {
  int n = 0;
  for (const auto& [name, c] : layer_fixtures(file))
    if (name.rfind(prefix, 0) == 0) {
      check_layer_case(c, rtol, atol);
      ++n;
    }
  return n;
}

}  // namespace gom_test
