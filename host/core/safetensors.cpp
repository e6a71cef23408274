// safetensors reading and writing (gom/safetensors.h). Writes are atomic (temp file, fsync,
// rename, fsync of the folder); reads check every field of the header before touching data.
#include "gom/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gom/ops.h"
#include "safetensors_format.h"

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

Safetensors load_safetensors(const std::string& path, Device device) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open {}: {}", path, sys_error()));
  const auto size = uint64_t(std::filesystem::file_size(path));
  unsigned char len_le[8] = {};
  in.read(reinterpret_cast<char*>(len_le), 8);
  const uint64_t len = safetensors_format::header_length(len_le, size, path);
  std::string text(len, '\0');
  in.read(text.data(), std::streamsize(len));
  if (!in) throw Error(fmt::format("{}: cannot read the header: {}", path, sys_error()));
  // Every rule is checked before any data is read: each entry's bytes are exactly its shape's,
  // inside the file, and no two entries share a byte.
  const safetensors_format::Header h = safetensors_format::parse_header(text, size, path);

  Safetensors out;
  out.metadata = h.metadata;
  for (const safetensors_format::Entry& e : h.entries) {
    const DType target = e.dtype == "I32" ? DType::I32 : e.dtype == "I64" ? DType::I64 : DType::F32;
    Tensor t = Tensor::empty(e.shape, {target, kCPU});
    const uint64_t bytes = e.end - e.begin;
    in.seekg(std::streamoff(8 + len + e.begin));
    if (e.dtype == "F64") {
      std::vector<double> tmp(size_t(t.numel()));
      in.read(reinterpret_cast<char*>(tmp.data()), std::streamsize(bytes));
      float* dst = t.data<float>();
      for (size_t i = 0; i < tmp.size(); ++i) dst[i] = float(tmp[i]);
    } else if (bytes > 0) {
      in.read(static_cast<char*>(t.raw_data()), std::streamsize(bytes));
    }
    if (!in) throw Error(fmt::format("{}: tensor '{}': cannot read its data", path, e.name));
    out.tensors.emplace_back(e.name, device == kCPU ? t : t.to(device));
  }
  return out;
}

}  // namespace gom
