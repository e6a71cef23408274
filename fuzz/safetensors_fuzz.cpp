// libFuzzer target for the safetensors header check (host/core/safetensors_format.cpp), which
// load_safetensors runs before it reads any data.
//
// Each input is a whole file: its first 8 bytes are the header length, as on disk. Besides the
// sanitizers' findings, a crash is: an exception that is not gom::Error, a message that does not
// start with the file's name, or an accepted header that breaks a rule of the format: names not
// unique, a byte count that is not the shape's (recomputed here in 128 bits), or tensors that do
// not cover the data section exactly, in order, with no gap or overlap.
//
// Built by fuzz/build.sh --target safetensors (clang, -fsanitize=fuzzer) or, when the compiler is
// clang, by CMake; the same entry runs under g++ over the committed corpus through
// corpus_main.cpp (ctest fuzz_safetensors_corpus).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "gom/error.h"
#include "safetensors_format.h"

namespace {

namespace st = gom::safetensors_format;
__extension__ typedef unsigned __int128 u128;  // __extension__: no -Wpedantic warning

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "safetensors_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check(const st::Header& h, uint64_t size) {
  if (8 + h.header_bytes + h.data_bytes != size) broken("sizes do not add up", "");
  std::set<std::string> names;
  uint64_t at = 0;
  for (const st::Entry& e : h.entries) {
    if (!names.insert(e.name).second) broken("a name twice", e.name);
    if (e.name == "__metadata__") broken("__metadata__ taken as a tensor", "");
    if (e.begin != at) broken("not contiguous", e.name);
    // The product of the non-zero sizes × the element size must fit 63 bits (each step fits
    // 128); a zero size then makes 0 bytes.
    u128 bytes = e.elem_size;
    bool zero = false;
    for (int64_t d : e.shape) {
      if (d < 0) broken("negative size", e.name);
      if (d == 0) zero = true;
      else bytes *= uint64_t(d);
      if (bytes > uint64_t(INT64_MAX)) broken("byte count over 63 bits", e.name);
    }
    if (zero) bytes = 0;
    if (bytes != e.end - e.begin) broken("bytes are not the shape's", e.name);
    at = e.end;
  }
  if (at != h.data_bytes) broken("data not covered exactly", std::to_string(at));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name = "fuzz.safetensors";
  try {
    uint8_t first[8] = {};
    for (size_t i = 0; i < 8 && i < size; ++i) first[i] = data[i];
    const uint64_t len = st::header_length(first, size, name);
    const std::string_view text(reinterpret_cast<const char*>(data) + 8, size_t(len));
    check(st::parse_header(text, size, name), size);
  } catch (const gom::Error& e) {
    if (std::string(e.what()).rfind(name + ": ", 0) != 0)
      broken("message does not name the file", e.what());
  }
  return 0;
}
