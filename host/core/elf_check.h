// Checks a file's ELF headers before dlopen: the dynamic loader maps segments as the headers
// say and dies with SIGBUS when a truncated file ends before them, taking the host down.
#pragma once

#include <string>

namespace gom::detail {

/// Throws gom::Error (naming `shown`) unless `path` is a 64-bit ELF shared object whose
/// program headers and loaded segments all lie inside the file.
void check_elf_shared_object(const std::string& path, const std::string& shown);

}  // namespace gom::detail
