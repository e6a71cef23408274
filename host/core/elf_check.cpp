#include "elf_check.h"

#include <elf.h>
#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "gom/error.h"

namespace gom::detail {

void check_elf_shared_object(const std::string& path, const std::string& shown) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error(fmt::format("plugin {}: cannot be opened", shown));
  const auto size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  Elf64_Ehdr eh{};
  if (size < sizeof eh || !f.read(reinterpret_cast<char*>(&eh), sizeof eh) ||
      std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
    throw Error(
        fmt::format("plugin {}: cannot be loaded as a shared library: not an ELF file", shown));
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_type != ET_DYN)
    throw Error(
        fmt::format("plugin {}: cannot be loaded as a shared library: not a 64-bit ELF "
                    "shared object",
                    shown));
  const uint64_t ph_end = eh.e_phoff + uint64_t(eh.e_phnum) * eh.e_phentsize;
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || ph_end > size)
    throw Error(
        fmt::format("plugin {}: cannot be loaded as a shared library: truncated (its "
                    "program headers end at byte {}, the file has {})",
                    shown, ph_end, size));
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  f.seekg(static_cast<std::streamoff>(eh.e_phoff));
  f.read(reinterpret_cast<char*>(ph.data()),
         static_cast<std::streamsize>(ph.size() * sizeof(Elf64_Phdr)));
  for (const Elf64_Phdr& p : ph)
    if (p.p_type == PT_LOAD && p.p_offset + p.p_filesz > size)
      throw Error(
          fmt::format("plugin {}: cannot be loaded as a shared library: truncated (a "
                      "segment ends at byte {}, the file has {})",
                      shown, p.p_offset + p.p_filesz, size));
}

}  // namespace gom::detail
