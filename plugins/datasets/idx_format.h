// idx_format.h — the IDX file format (MNIST, Fashion-MNIST, EMNIST, KMNIST) parsed from bytes.
//
// An IDX file is a big-endian header, then the data row-major:
//   magic   u32: 0x00 0x00 TYPE NDIMS   (TYPE 0x08 = u8, the only type gom reads)
//   dims    NDIMS x u32
//   data    prod(dims) elements
// Images are 0x00000803 [N, rows, cols]; labels are 0x00000801 [N]. A file that starts with the
// gzip magic 1f 8b is inflated first (several concatenated gzip members are one stream, as for
// gunzip). Every error is a gom::Error "NAME: problem" with a stable wording (tests and the
// fuzz harness depend on it); a gzipped file gives the same messages as its inflated bytes.
//
// This file depends only on zlib and gom/error.h, so the fuzz target compiles it on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gom::idx {

/// @brief What the caller expects: any u8 IDX array, images (3-d) or labels (1-d).
enum class Kind { Any, Images, Labels };

/// @brief A parsed u8 IDX array. The data stays in the buffer it was read into (no copy of a
/// 47 MB image file); `data()` points past the header.
struct Array {
  std::vector<int64_t> dims;
  std::vector<uint8_t> buffer;  ///< the whole (inflated) file
  size_t offset = 0;            ///< where the data starts in `buffer`

  const uint8_t* data() const { return buffer.data() + offset; }
  /// @brief Number of elements: the product of `dims`.
  size_t size() const { return buffer.size() - offset; }
};

/// @brief True when `bytes` starts with the gzip magic 1f 8b.
bool is_gzip(const uint8_t* bytes, size_t size);

/// @brief Inflates a gzip stream (one or more members). Errors name `name`:
/// "NAME: corrupt gzip stream: <zlib's reason>", "...: unexpected end of the compressed data",
/// "...: N bytes of garbage after the end of the stream".
std::vector<uint8_t> gunzip(const uint8_t* bytes, size_t size, const std::string& name);

/// @brief Parses an IDX file held in `bytes` (raw, or gzip when it starts with 1f 8b); `name`
/// (the file's path) starts every error message.
Array parse(std::vector<uint8_t> bytes, const std::string& name, Kind kind = Kind::Any);
Array parse(const uint8_t* bytes, size_t size, const std::string& name, Kind kind = Kind::Any);

/// @brief Reads and parses the file at `path`. A missing or unreadable file is an error naming
/// the path ("PATH: no such file", "PATH: cannot read: <reason>").
Array read_file(const std::string& path, Kind kind = Kind::Any);

}  // namespace gom::idx
