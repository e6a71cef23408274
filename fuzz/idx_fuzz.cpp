// libFuzzer target for the IDX parser (plugins/datasets/idx_format.cpp).
//
// Each input is parsed as it is (a gzip stream when it starts with 1f 8b, raw IDX otherwise) for
// each expected kind. A raw input is also gzipped here and parsed again: the gzip path must then
// give exactly the same array or the same error message, since both share every check. Besides
// the sanitizers' findings, a crash is: an exception that is not gom::Error, a message that does
// not start with the file's name, a result that breaks the format's invariants, or raw and gzip
// disagreeing.
//
// Built by fuzz/build.sh (clang, -fsanitize=fuzzer) or, when the compiler is clang, by CMake; the
// same entry runs under g++ over the committed corpus through corpus_main.cpp (ctest
// fuzz_idx_corpus).
#define ZLIB_CONST
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gom/error.h"
#include "idx_format.h"

namespace {

using gom::idx::Kind;

struct Outcome {
  bool ok = false;
  std::string error;
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "idx_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

Outcome parse(const uint8_t* bytes, size_t size, Kind kind) {
  Outcome o;
  try {
    const gom::idx::Array a = gom::idx::parse(bytes, size, "fuzz.idx", kind);
    uint64_t count = 1;
    for (int64_t d : a.dims) count *= uint64_t(d);
    if (a.dims.empty() || a.dims.size() > 255) broken("bad rank", std::to_string(a.dims.size()));
    if (kind == Kind::Images && a.dims.size() != 3) broken("images not 3-d", "");
    if (kind == Kind::Labels && a.dims.size() != 1) broken("labels not 1-d", "");
    if (a.offset != 4 + 4 * a.dims.size()) broken("data offset", std::to_string(a.offset));
    if (count != a.size()) broken("size is not the product of the dims", std::to_string(count));
    o.ok = true;
    o.dims = a.dims;
    o.data.assign(a.data(), a.data() + a.size());
  } catch (const gom::Error& e) {
    o.error = e.what();
    if (o.error.rfind("fuzz.idx: ", 0) != 0) broken("message does not name the file", o.error);
  }
  return o;
}

std::vector<uint8_t> gzip(const uint8_t* bytes, size_t size) {
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    broken("deflateInit2", "failed");
  std::vector<uint8_t> out(deflateBound(&zs, uLong(size)) + 32);
  zs.next_in = bytes;
  zs.avail_in = uInt(size);
  zs.next_out = out.data();
  zs.avail_out = uInt(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) broken("deflate", "did not finish");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool raw = !gom::idx::is_gzip(data, size);
  const std::vector<uint8_t> gz = raw ? gzip(data, size) : std::vector<uint8_t>();
  for (Kind kind : {Kind::Any, Kind::Images, Kind::Labels}) {
    const Outcome direct = parse(data, size, kind);
    if (!raw) continue;
    const Outcome inflated = parse(gz.data(), gz.size(), kind);
    if (direct.ok != inflated.ok || direct.error != inflated.error ||
        direct.dims != inflated.dims || direct.data != inflated.data)
      broken("raw and gzip disagree", "raw: " + (direct.ok ? "ok" : direct.error) +
                                          "; gzip: " + (inflated.ok ? "ok" : inflated.error));
  }
  return 0;
}
