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

/// @brief Reads a safetensors file into CPU tensors. The file must follow the format's rules: a
/// header length within the file and at most 100,000,000 bytes, a JSON object with unique names,
/// a known dtype, a shape whose byte count fits 64 bits and equals end - begin of data_offsets,
/// and the tensors, in the order of their offsets, covering the data with no gap, overlap or
/// trailing byte. Anything else is a gom::Error naming the file, the tensor and the rule broken.
/// `device`: where the tensors end up (read on the host, then copied there one by one).
Safetensors load_safetensors(const std::string& path, Device device = kCPU);

}  // namespace gom
