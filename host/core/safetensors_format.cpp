// The safetensors header check (safetensors_format.h). Every rule of the format is checked here,
// before a byte of data is read, and each refusal names the rule: a file whose offsets overlap
// would otherwise load one tensor's bytes as another's, silently.
#include "safetensors_format.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "gom/error.h"

namespace gom::safetensors_format {
namespace {

using json = nlohmann::json;
using std::to_string;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + to_string(shape[i]);
  return s + "]";
}

std::string range_text(const Entry& e) {
  return "[" + to_string(e.begin) + ", " + to_string(e.end) + "]";
}

uint64_t dtype_size(const std::string& dtype) {
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "I64" || dtype == "F64") return 8;
  return 0;
}

}  // namespace

uint64_t header_length(const uint8_t* first, uint64_t file_size, const std::string& path) {
  if (file_size < 8)
    throw Error(path + ": " + to_string(file_size) + " bytes: too short for a safetensors file");
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= uint64_t(first[i]) << (8 * i);
  if (len > kMaxHeaderBytes)
    throw Error(path + ": the header claims " + to_string(len) +
                " bytes, more than the format's limit of " + to_string(kMaxHeaderBytes));
  if (len > file_size - 8)
    throw Error(path + ": the header claims " + to_string(len) + " bytes, but the file has " +
                to_string(file_size - 8) + " after the length");
  return len;
}

Header parse_header(std::string_view text, uint64_t file_size, const std::string& path) {
  const auto bad = [&](const std::string& msg) { return Error(path + ": " + msg); };
  Header out;
  out.header_bytes = text.size();
  if (file_size < 8 + text.size()) throw bad("the header runs past the end of the file");
  out.data_bytes = file_size - 8 - text.size();
  if (text.empty() || text.front() != '{')
    throw bad("the header does not start with '{' (it must be a JSON object)");

  // nlohmann keeps the last of two equal keys; the format wants unique names, so watch them go by.
  std::set<std::string> seen;
  std::string twice;
  const json::parser_callback_t unique = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && !seen.insert(parsed.get<std::string>()).second &&
        twice.empty())
      twice = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), unique);
  } catch (const json::exception& e) {
    throw bad(std::string("the header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw bad("the header is not a JSON object");
  if (!twice.empty()) throw bad("the header names '" + twice + "' twice (names must be unique)");

  for (auto it = header.begin(); it != header.end(); ++it) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw bad("__metadata__ is not an object of strings");
      for (const auto& [k, m] : v.items()) {
        if (!m.is_string()) throw bad("__metadata__ '" + k + "' is not a string");
        out.metadata[k] = m.get<std::string>();
      }
      continue;
    }
    const auto field = [&](const char* f) -> const json& {
      if (!v.is_object() || !v.contains(f))
        throw bad("tensor '" + name + "' has no '" + f + "' (expected dtype, shape, data_offsets)");
      return v.at(f);
    };
    const json& dt = field("dtype");
    const json& sh = field("shape");
    const json& off = field("data_offsets");
    Entry e;
    e.name = name;
    e.dtype = dt.is_string() ? dt.get<std::string>() : dt.dump();
    e.elem_size = dtype_size(e.dtype);
    if (e.elem_size == 0)
      throw bad("tensor '" + name + "' has dtype " + e.dtype + "; gom reads F32, I32, I64 and F64");
    if (!sh.is_array()) throw bad("tensor '" + name + "': shape is not a list");
    for (const auto& d : sh) {
      if (!d.is_number_unsigned())
        throw bad("tensor '" + name + "': shape " + sh.dump() +
                  " has a negative or non-integer size");
      if (d.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        throw bad("tensor '" + name + "': shape " + sh.dump() + " has a size over 2^63 - 1");
      e.shape.push_back(d.get<int64_t>());
    }
    // Bytes = product of the sizes × the dtype's size, in 63 bits (a zero size makes 0 bytes,
    // but the other sizes must still multiply without overflow: they become strides).
    int64_t bytes = int64_t(e.elem_size);
    bool zero = false;
    for (int64_t d : e.shape) {
      if (d == 0) zero = true;
      else if (__builtin_mul_overflow(bytes, d, &bytes))
        throw bad("tensor '" + name + "': shape " + shape_text(e.shape) + " × " +
                  to_string(e.elem_size) + " bytes (" + e.dtype + ") overflows 64 bits");
    }
    if (zero) bytes = 0;
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned())
      throw bad("tensor '" + name + "': data_offsets " + off.dump() + " is not [begin, end]");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.end < e.begin)
      throw bad("tensor '" + name + "': data_offsets " + range_text(e) +
                " end before they begin");
    if (e.end - e.begin != uint64_t(bytes))
      throw bad("tensor '" + name + "': data_offsets " + range_text(e) + " hold " +
                to_string(e.end - e.begin) + " bytes, but " + e.dtype + " " + shape_text(e.shape) +
                " needs " + to_string(bytes));
    out.entries.push_back(std::move(e));
  }

  // The data section is the tensors' bytes one after another, in the order of their offsets.
  std::stable_sort(out.entries.begin(), out.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : out.entries) {
    if (e.end > out.data_bytes)
      throw bad("tensor '" + e.name + "': data_offsets end at " + to_string(e.end) + ", past the " +
                to_string(out.data_bytes) + " bytes of data (is the file truncated?)");
    if (e.begin < at)
      throw bad("tensors '" + prev->name + "' " + range_text(*prev) + " and '" + e.name + "' " +
                range_text(e) + " overlap (each tensor's bytes must begin where the previous "
                "one's end)");
    if (e.begin > at)
      throw bad(prev ? "a gap of " + to_string(e.begin - at) + " bytes between tensors '" +
                           prev->name + "' " + range_text(*prev) + " and '" + e.name + "' " +
                           range_text(e) + " (the tensors must cover the data with no gap)"
                     : "tensor '" + e.name + "' " + range_text(e) +
                           " does not begin the data at 0 (the tensors must cover the data with "
                           "no gap)");
    at = e.end;
    prev = &e;
  }
  if (at != out.data_bytes)
    throw bad(to_string(out.data_bytes - at) + " trailing bytes: the tensors cover " +
              to_string(at) + " of the " + to_string(out.data_bytes) +
              " bytes of data (the format allows no trailing bytes)");
  return out;
}

}  // namespace gom::safetensors_format
