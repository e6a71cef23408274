// file_bytes.h — a whole file read into memory, with the errors the text, csv and ratings
// datasets share. std only.
#pragma once

#include <string>

namespace gom::datasets {

/// @brief The bytes of the file at `path`. Errors: "PATH: no such file", "PATH: is a directory,
/// not a KIND file", "PATH: cannot read: <reason>".
std::string read_file_bytes(const std::string& path, const std::string& kind);

}  // namespace gom::datasets
