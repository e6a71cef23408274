// Reading a whole file; see file_bytes.h.
#include "file_bytes.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "gom/error.h"

namespace gom::datasets {

std::string read_file_bytes(const std::string& path, const std::string& kind) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) throw Error(path + ": no such file");
  if (fs::is_directory(st)) throw Error(path + ": is a directory, not a " + kind + " file");
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"),
                                                          std::fclose);
  if (!f) throw Error(path + ": cannot read: " + std::strerror(errno));
  std::string bytes;
  char chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f.get())) > 0) bytes.append(chunk, got);
  if (std::ferror(f.get())) throw Error(path + ": cannot read: " + std::strerror(errno));
  return bytes;
}

}  // namespace gom::datasets
