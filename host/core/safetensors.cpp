// safetensors reading and writing (gom/safetensors.h). Writes are atomic (temp file, fsync,
// rename, fsync of the folder); reads check every field of the header before touching data.
#include "gom/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gom/ops.h"

namespace gom {
namespace {

using json = nlohmann::json;

const char* st_dtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
  }
  return "?";
}

std::string sys_error() {
  return std::strerror(errno);
}

// Writes all of [data, data+n) or throws.
void write_all(int fd, const void* data, size_t n, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Error(fmt::format("{}: {}", what, w < 0 ? sys_error() : "short write"));
    p += w;
    n -= size_t(w);
  }
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string what = "writing " + path;
  std::vector<Tensor> data;
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.contains(name))
      throw Error(fmt::format("{}: tensor name '{}' is {}", what, name,
                              name == "__metadata__" ? "reserved" : "given twice"));
    Tensor c = t.detach().to(kCPU).contiguous();
    const uint64_t bytes = uint64_t(c.numel()) * dtype_size(c.dtype());
    header[name] = {{"dtype", st_dtype(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(c));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  const uint64_t len = text.size();
  unsigned char len_le[8];
  for (int i = 0; i < 8; ++i) len_le[i] = static_cast<unsigned char>(len >> (8 * i));

  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw Error(fmt::format("{}: cannot create a temporary file: {}", what, sys_error()));
  ::fchmod(fd, 0644);  // mkstemp makes it 0600; a weights file is as readable as any other
  try {
    write_all(fd, len_le, 8, what);
    write_all(fd, text.data(), text.size(), what);
    for (const Tensor& c : data)
      if (c.numel() > 0)
        write_all(fd, c.raw_data(), size_t(c.numel()) * dtype_size(c.dtype()), what);
    if (::fsync(fd) != 0) throw Error(fmt::format("{}: fsync: {}", what, sys_error()));
    if (::close(fd) != 0) {
      ::unlink(tmp.c_str());
      throw Error(fmt::format("{}: close: {}", what, sys_error()));
    }
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = sys_error();
    ::unlink(tmp.c_str());
    throw Error(fmt::format("{}: rename: {}", what, err));
  }
  // Make the rename itself durable.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = std::filesystem::current_path();
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

Safetensors load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open {}: {}", path, sys_error()));
  const auto size = uint64_t(std::filesystem::file_size(path));
  const auto bad = [&](const std::string& msg) { return Error(fmt::format("{}: {}", path, msg)); };
  if (size < 8) throw bad(fmt::format("{} bytes: too short for a safetensors file", size));
  unsigned char len_le[8];
  in.read(reinterpret_cast<char*>(len_le), 8);
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= uint64_t(len_le[i]) << (8 * i);
  if (len > size - 8 || len > (uint64_t(100) << 20))
    throw bad(fmt::format("the header claims {} bytes, but the file has {} after the length", len,
                          size - 8));
  std::string text(len, '\0');
  in.read(text.data(), std::streamsize(len));
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    throw bad(fmt::format("the header is not valid JSON ({})", e.what()));
  }
  if (!header.is_object()) throw bad("the header is not a JSON object");

  Safetensors out;
  const uint64_t data_size = size - 8 - len;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw bad("__metadata__ is not an object of strings");
      for (const auto& [k, m] : v.items()) {
        if (!m.is_string()) throw bad(fmt::format("__metadata__ '{}' is not a string", k));
        out.metadata[k] = m.get<std::string>();
      }
      continue;
    }
    const auto field = [&](const char* f) -> const json& {
      if (!v.is_object() || !v.contains(f))
        throw bad(fmt::format("tensor '{}' has no '{}' (expected dtype, shape, data_offsets)", name,
                              f));
      return v.at(f);
    };
    const json& dt = field("dtype");
    const json& sh = field("shape");
    const json& off = field("data_offsets");
    const std::string dtype = dt.is_string() ? dt.get<std::string>() : dt.dump();
    size_t elem = 0;
    if (dtype == "F32" || dtype == "I32") elem = 4;
    else if (dtype == "I64" || dtype == "F64") elem = 8;
    else
      throw bad(fmt::format("tensor '{}' has dtype {}; gom reads F32, I32, I64 and F64", name,
                            dtype));
    Shape shape;
    if (!sh.is_array()) throw bad(fmt::format("tensor '{}': shape is not a list", name));
    for (const auto& d : sh) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        throw bad(fmt::format("tensor '{}': shape {} has a negative or non-integer size", name,
                              sh.dump()));
      shape.push_back(d.get<int64_t>());
    }
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned())
      throw bad(fmt::format("tensor '{}': data_offsets {} is not [begin, end]", name, off.dump()));
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    const uint64_t want = uint64_t(shape_numel(shape)) * elem;
    if (e < b || e - b != want)
      throw bad(fmt::format("tensor '{}': data_offsets [{}, {}] hold {} bytes, but {} {} needs {}",
                            name, b, e, e < b ? 0 : e - b, dtype, shape_str(shape), want));
    if (e > data_size)
      throw bad(fmt::format("tensor '{}': data_offsets end at {}, past the {} bytes of data (is "
                            "the file truncated?)",
                            name, e, data_size));
    const DType target = dtype == "I32" ? DType::I32 : dtype == "I64" ? DType::I64 : DType::F32;
    Tensor t = Tensor::empty(shape, {target, kCPU});
    in.seekg(std::streamoff(8 + len + b));
    if (dtype == "F64") {
      std::vector<double> tmp(size_t(shape_numel(shape)));
      in.read(reinterpret_cast<char*>(tmp.data()), std::streamsize(want));
      float* dst = t.data<float>();
      for (size_t i = 0; i < tmp.size(); ++i) dst[i] = float(tmp[i]);
    } else if (want > 0) {
      in.read(static_cast<char*>(t.raw_data()), std::streamsize(want));
    }
    if (!in) throw bad(fmt::format("tensor '{}': cannot read its data", name));
    out.tensors.emplace_back(name, t);
  }
  // nlohmann's object is ordered by key; report tensors in the order of their data, like the file.
  std::stable_sort(out.tensors.begin(), out.tensors.end(), [&](const auto& x, const auto& y) {
    return header.at(x.first).at("data_offsets").at(0).template get<uint64_t>() <
           header.at(y.first).at("data_offsets").at(0).template get<uint64_t>();
  });
  return out;
}

}  // namespace gom
