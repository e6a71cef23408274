// The safetensors header check (host-internal): std + nlohmann-json only, so the fuzz target
// (fuzz/safetensors_fuzz.cpp) compiles it alone. load_safetensors reads data only after this has
// accepted the header, and reads exactly the bytes it describes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gom::safetensors_format {

/// The safetensors reference reader's bound on the header (MAX_HEADER_SIZE).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct Entry {
  std::string name;
  std::string dtype;           ///< as in the file: F32, I32, I64 or F64
  std::vector<int64_t> shape;  ///< each size >= 0, their product × elem_size fits 64 bits
  uint64_t elem_size = 0;
  uint64_t begin = 0, end = 0;  ///< relative to the data section; end - begin = numel × elem_size
};

struct Header {
  uint64_t header_bytes = 0;  ///< the JSON text's length; the data starts at 8 + header_bytes
  uint64_t data_bytes = 0;
  std::vector<Entry> entries;  ///< in the order of their data: contiguous from 0 to data_bytes
  std::map<std::string, std::string> metadata;
};

/// @brief The header length of a file of `file_size` bytes whose first 8 (or fewer, when the
/// file is shorter) are `first`. Throws gom::Error ("PATH: ...") when it is too short or the
/// length breaks the format's bound or passes the end of the file.
uint64_t header_length(const uint8_t* first, uint64_t file_size, const std::string& path);

/// @brief Checks the JSON header `text` of a file of `file_size` bytes against every rule of the
/// format: a JSON object that starts with '{', unique names, "__metadata__" an object of strings,
/// each tensor a known dtype, a shape of sizes >= 0 whose byte count fits 64 bits, data_offsets
/// [begin, end] holding exactly that many bytes, and the tensors in the order of their offsets
/// covering the data section from 0 to its end with no gap, no overlap and no trailing byte.
/// Throws gom::Error naming the file, the tensor and the rule it breaks.
Header parse_header(std::string_view text, uint64_t file_size, const std::string& path);

}  // namespace gom::safetensors_format
