// The IDX parser and the gzip inflater it uses. See idx_format.h for the format.
#include "idx_format.h"

#define ZLIB_CONST  // next_in is const: we inflate straight from the caller's buffer
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "gom/error.h"

namespace gom::idx {

namespace {

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw Error(name + ": " + problem);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string hex8(uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v);
  return buf;
}

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// The element types the IDX format defines; gom reads only u8, but names the others in errors.
const char* type_name(uint8_t t) {
  switch (t) {
    case 0x08:
      return "u8";
    case 0x09:
      return "i8";
    case 0x0b:
      return "i16";
    case 0x0c:
      return "i32";
    case 0x0d:
      return "f32";
    case 0x0e:
      return "f64";
    default:
      return nullptr;
  }
}

std::string plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// zlib counts in uInt (32 bits): larger buffers go in and out in chunks.
constexpr size_t kMaxChunk = size_t(1) << 30;

// First guess of the inflated size: the gzip trailer's ISIZE (the size mod 2^32 of the last
// member; exact for a usual single-member file), so the 47 MB of Fashion-MNIST's training images
// inflate with no reallocation. Capped by deflate's maximum ratio (1032:1) so a lying trailer
// cannot make us allocate gigabytes for a small input.
size_t initial_capacity(const uint8_t* bytes, size_t size) {
  size_t hint = 0;
  if (size >= 4) {
    const uint8_t* t = bytes + size - 4;
    hint = size_t(t[0]) | size_t(t[1]) << 8 | size_t(t[2]) << 16 | size_t(t[3]) << 24;
  }
  const size_t bound =
      size < (std::numeric_limits<size_t>::max() - 4096) / 1032 ? size * 1032 + 4096 : kMaxChunk;
  // +1: inflate may want room for one more output byte before it reports the end of the stream.
  return std::min(std::max<size_t>(hint, 4096), bound) + 1;
}

}  // namespace

bool is_gzip(const uint8_t* bytes, size_t size) {
  return size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

std::vector<uint8_t> gunzip(const uint8_t* bytes, size_t size, const std::string& name) {
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail(name, "cannot start zlib's inflate");
  const std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);

  std::vector<uint8_t> out(initial_capacity(bytes, size));
  size_t produced = 0;
  zs.next_in = bytes;
  for (;;) {
    if (produced == out.size()) out.resize(out.size() * 2);
    zs.next_out = out.data() + produced;
    zs.avail_out = uInt(std::min(out.size() - produced, kMaxChunk));
    const size_t pos = size_t(zs.next_in - bytes);
    if (zs.avail_in == 0) zs.avail_in = uInt(std::min(size - pos, kMaxChunk));

    const int ret = inflate(&zs, Z_NO_FLUSH);
    produced = size_t(zs.next_out - out.data());
    const size_t at = size_t(zs.next_in - bytes);
    switch (ret) {
      case Z_OK:
        continue;
      case Z_STREAM_END:
        if (at == size) {
          out.resize(produced);
          return out;
        }
        // gunzip reads concatenated members as one stream; anything else after the end is damage.
        if (is_gzip(bytes + at, size - at)) {
          inflateReset(&zs);
          continue;
        }
        fail(name, "corrupt gzip stream: " + plural(size - at, "byte", "bytes") +
                       " of garbage after the end of the stream");
      case Z_BUF_ERROR:  // no progress: there is output space, so the input ran out
        if (at == size) fail(name, "corrupt gzip stream: unexpected end of the compressed data");
        continue;
      case Z_MEM_ERROR:
        fail(name, "out of memory while inflating");
      case Z_NEED_DICT:
        fail(name, "corrupt gzip stream: asks for a preset dictionary");
      default:  // Z_DATA_ERROR: zlib says what (incorrect data check, invalid block type, ...)
        fail(name, std::string("corrupt gzip stream: ") + (zs.msg ? zs.msg : "invalid data"));
    }
  }
}

namespace {

// The header and size checks, on bytes that are already inflated.
Array parse_raw(std::vector<uint8_t> bytes, const std::string& name, Kind kind) {
  const size_t n = bytes.size();
  if (n == 0) fail(name, "empty file");
  if (n < 4)
    fail(name, "truncated: file has " + plural(n, "byte", "bytes") + ", the IDX magic needs 4");

  const uint32_t magic = be32(bytes.data());
  const uint8_t type = bytes[2];
  const size_t ndims = bytes[3];
  const std::string expected = "(expected 0x00000803 for u8 images or 0x00000801 for u8 labels)";
  if (bytes[0] != 0 || bytes[1] != 0 || !type_name(type))
    fail(name, "bad magic " + hex32(magic) + " " + expected);
  if (type != 0x08)
    fail(name, "unsupported element type " + hex8(type) + " (" + type_name(type) + ") in magic " +
                   hex32(magic) + " " + expected);
  if (kind == Kind::Images && ndims != 3)
    fail(name, "wrong number of dimensions: " + std::to_string(ndims) + " (expected 3 for images)");
  if (kind == Kind::Labels && ndims != 1)
    fail(name, "wrong number of dimensions: " + std::to_string(ndims) + " (expected 1 for labels)");
  if (ndims == 0) fail(name, "wrong number of dimensions: 0 (expected at least 1)");

  const size_t header = 4 + 4 * ndims;
  if (n < header)
    fail(name, "truncated: file has " + plural(n, "byte", "bytes") + ", the header of a " +
                   std::to_string(ndims) + "-d IDX file needs " + std::to_string(header));

  Array a;
  a.dims.resize(ndims);
  for (size_t d = 0; d < ndims; ++d) a.dims[d] = be32(bytes.data() + 4 + 4 * d);
  // An array with no examples (or empty examples) is no data set, and would reach the loader as
  // a tensor of zero elements.
  for (size_t d = 0; d < ndims; ++d)
    if (a.dims[d] == 0) {
      std::string sizes;
      for (int64_t x : a.dims) sizes += (sizes.empty() ? "" : ", ") + std::to_string(x);
      fail(name, "dimension " + std::to_string(d + 1) + " of " + std::to_string(ndims) +
                     " is 0 (sizes [" + sizes + "]): every dimension must be at least 1");
    }
  uint64_t count = 1;
  bool overflow = false;  // 255 dims of up to 2^32 - 1 each can describe more than 2^64 bytes
  for (size_t d = 0; d < ndims && !overflow; ++d) {
    const uint64_t dim = uint64_t(a.dims[d]);
    if (count > std::numeric_limits<uint64_t>::max() / dim) overflow = true;
    count *= dim;
  }
  const uint64_t avail = n - header;
  if (overflow)
    fail(name, "truncated: header says more than 18446744073709551615 bytes of data, file has " +
                   std::to_string(avail));
  if (count > avail)
    fail(name, "truncated: header says " + std::to_string(count) + " bytes of data, file has " +
                   std::to_string(avail));
  if (count < avail)
    fail(name, plural(avail - count, "trailing byte", "trailing bytes") + " after the data");

  a.buffer = std::move(bytes);
  a.offset = header;
  return a;
}

}  // namespace

// Inflate once only: a gzip inside a gzip is not IDX (and nesting would multiply a bomb's ratio).
Array parse(const uint8_t* bytes, size_t size, const std::string& name, Kind kind) {
  if (is_gzip(bytes, size)) return parse_raw(gunzip(bytes, size, name), name, kind);
  return parse_raw(std::vector<uint8_t>(bytes, bytes + size), name, kind);
}

Array parse(std::vector<uint8_t> bytes, const std::string& name, Kind kind) {
  if (is_gzip(bytes.data(), bytes.size())) return parse(bytes.data(), bytes.size(), name, kind);
  return parse_raw(std::move(bytes), name, kind);
}

Array read_file(const std::string& path, Kind kind) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) fail(path, "no such file");
  if (fs::is_directory(st)) fail(path, "is a directory, not an IDX file");

  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"),
                                                          std::fclose);
  if (!f) fail(path, std::string("cannot read: ") + std::strerror(errno));
  // Read straight into the buffer at the size stat gave, then on in chunks in case it grew.
  const uintmax_t expect = fs::file_size(path, ec);
  std::vector<uint8_t> bytes;
  bytes.reserve((ec ? 0 : size_t(expect)) + (size_t(1) << 16));  // growing below stays in place
  bytes.resize(ec ? 0 : size_t(expect));
  size_t have = std::fread(bytes.data(), 1, bytes.size(), f.get());
  while (have == bytes.size() && !std::feof(f.get()) && !std::ferror(f.get())) {
    bytes.resize(have + (size_t(1) << 16));
    have += std::fread(bytes.data() + have, 1, bytes.size() - have, f.get());
  }
  bytes.resize(have);
  if (std::ferror(f.get())) fail(path, std::string("cannot read: ") + std::strerror(errno));
  return parse(std::move(bytes), path, kind);
}

}  // namespace gom::idx
