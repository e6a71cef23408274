// gom/safetensors.h — named tensors in the safetensors format (Hugging Face's): an 8-byte
// little-endian header length, a JSON header {"name": {"dtype", "shape", "data_offsets"},
// "__metadata__": {...}}, then the raw little-endian data. PyTorch's and Hugging Face's tools
// read what gom writes, and gom reads theirs (F32, I32 and I64; F64 is read as F32).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gom/tensor.h"

namespace gom {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct Safetensors {
  NamedTensors tensors;                         ///< in the file's order of data
  std::map<std::string, std::string> metadata;  ///< the header's "__metadata__"
};

/// @brief Writes `tensors` (any device, any strides) to `path` atomically: a temporary file in
/// the same folder, fsync, then rename over `path`. If anything fails, `path` keeps its previous
/// content and no temporary file is left; the gom::Error names the file and the reason.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// @brief Reads a safetensors file into CPU tensors. Malformed input (a truncated file, a header
/// that is not a JSON object, an unknown dtype, offsets that do not match the shape or leave the
/// file) is a gom::Error naming the file, the tensor and what was expected.
Safetensors load_safetensors(const std::string& path);

}  // namespace gom
