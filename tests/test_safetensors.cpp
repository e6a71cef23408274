// safetensors files and module weights: round trips, every malformed header refused with its
// message, atomic writes that leave the previous file intact when a write fails midway, and
// load_state_dict's report of missing, unexpected and mis-shaped tensors.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gom/gom.h"

using namespace gom;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("gom_st_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// A file made of a length prefix, a header text and `data_bytes` zero bytes.
std::string write_raw(const std::string& name, const std::string& header, size_t data_bytes,
                      int64_t claimed_len = -1) {
  const std::string path = (temp_dir() / name).string();
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = claimed_len >= 0 ? uint64_t(claimed_len) : header.size();
  for (int i = 0; i < 8; ++i) out.put(char((len >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\0');
  return path;
}

std::string load_error(const std::string& path) {
  try {
    load_safetensors(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("safetensors: tensors and metadata survive a round trip", "[safetensors]") {
  const std::string path = (temp_dir() / "round.safetensors").string();
  Tensor w = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor wt = w.t();  // strided: written as its contiguous values
  Tensor idx = tensor_i64({7, -8, 1LL << 40}, {3});
  Tensor i32 = tensor_i32({-1, 2}, {2});
  Tensor s = scalar(2.5);
  Tensor empty = zeros({0, 4});
  save_safetensors(path, {{"w", wt}, {"idx", idx}, {"i32", i32}, {"s", s}, {"empty", empty}},
                   {{"format", "pt"}, {"epoch", "3"}});
  const Safetensors f = load_safetensors(path);
  REQUIRE(f.tensors.size() == 5);
  CHECK(f.tensors[0].first == "w");  // the order of the data, as written
  CHECK(f.tensors[0].second.shape() == Shape{3, 2});
  CHECK(f.tensors[0].second.to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(f.tensors[1].second.to_vector<int64_t>() == std::vector<int64_t>{7, -8, 1LL << 40});
  CHECK(f.tensors[2].second.dtype() == DType::I32);
  CHECK(f.tensors[3].second.dim() == 0);
  CHECK(f.tensors[3].second.item() == 2.5);
  CHECK(f.tensors[4].second.shape() == Shape{0, 4});
  CHECK(f.metadata.at("epoch") == "3");
  // The header is padded so the data starts 8-byte aligned, as the format recommends.
  std::ifstream in(path, std::ios::binary);
  uint64_t len = 0;
  in.read(reinterpret_cast<char*>(&len), 8);
  CHECK(len % 8 == 0);
}

TEST_CASE("safetensors: malformed files are refused with what is wrong", "[safetensors]") {
  CHECK_THAT(load_error((temp_dir() / "no_such_file").string()), Catch::Contains("cannot open"));
  {
    const std::string p = (temp_dir() / "tiny").string();
    std::ofstream(p) << "abc";
    CHECK_THAT(load_error(p), Catch::EndsWith("3 bytes: too short for a safetensors file"));
  }
  CHECK_THAT(load_error(write_raw("long", "{}", 0, 1000)),
             Catch::EndsWith("the header claims 1000 bytes, but the file has 2 after the length"));
  CHECK_THAT(load_error(write_raw("json", "{\"a\": ", 0)),
             Catch::Contains("the header is not valid JSON"));
  CHECK_THAT(load_error(write_raw("array", "[1, 2]", 0)),
             Catch::EndsWith("the header does not start with '{' (it must be a JSON object)"));
  CHECK_THAT(load_error(write_raw("nodtype", R"({"w": {"shape": [2]}})", 8)),
             Catch::EndsWith("tensor 'w' has no 'dtype' (expected dtype, shape, data_offsets)"));
  CHECK_THAT(
      load_error(write_raw("f16", R"({"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}})", 4)),
      Catch::EndsWith("tensor 'w' has dtype F16; gom reads F32, I32, I64 and F64"));
  CHECK_THAT(
      load_error(write_raw("neg", R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8)),
      Catch::EndsWith("tensor 'w': shape [-2] has a negative or non-integer size"));
  CHECK_THAT(
      load_error(write_raw("size", R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", 24)),
      Catch::EndsWith("tensor 'w': data_offsets [0, 20] hold 20 bytes, but F32 [2, 3] needs 24"));
  CHECK_THAT(
      load_error(write_raw("trunc", R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 10)),
      Catch::EndsWith("tensor 'w': data_offsets end at 16, past the 10 bytes of data (is the file "
                      "truncated?)"));
  CHECK_THAT(load_error(write_raw("meta", R"({"__metadata__": {"a": 1}})", 0)),
             Catch::EndsWith("__metadata__ 'a' is not a string"));
}

TEST_CASE("safetensors: the format's layout rules, each named when broken", "[safetensors]") {
  const auto tensor_json = [](const std::string& name, const std::string& shape, int b, int e) {
    return "\"" + name + "\": {\"dtype\": \"F32\", \"shape\": " + shape +
           ", \"data_offsets\": [" + std::to_string(b) + ", " + std::to_string(e) + "]}";
  };
  const auto file = [&](const std::string& name, const std::vector<std::string>& tensors,
                        size_t data) {
    std::string h = "{";
    for (size_t i = 0; i < tensors.size(); ++i) h += (i ? ", " : "") + tensors[i];
    return write_raw(name, h + "}", data);
  };
  // 2^62 + 3 elements × 4 bytes wrap to 12: it used to load, and fill_ or sum ran off the end.
  CHECK_THAT(load_error(file("overflow", {tensor_json("0.bias", "[4611686018427387907]", 0, 12)},
                             12)),
             Catch::EndsWith("tensor '0.bias': shape [4611686018427387907] × 4 bytes (F32) "
                             "overflows 64 bits"));
  // [2^62, 4] × 4 wraps to exactly 0 bytes: it used to say "needs 0".
  CHECK_THAT(load_error(file("overflow0", {tensor_json("w", "[4611686018427387904, 4]", 0, 0)}, 0)),
             Catch::EndsWith("tensor 'w': shape [4611686018427387904, 4] × 4 bytes (F32) "
                             "overflows 64 bits"));
  // Two tensors sharing bytes 8..12 used to load, one with the other's weights.
  CHECK_THAT(load_error(file("overlap", {tensor_json("a", "[3]", 0, 12),
                                         tensor_json("b", "[3]", 8, 20)}, 20)),
             Catch::EndsWith("tensors 'a' [0, 12] and 'b' [8, 20] overlap (each tensor's bytes "
                             "must begin where the previous one's end)"));
  CHECK_THAT(load_error(file("gap", {tensor_json("b", "[1]", 8, 12),
                                     tensor_json("a", "[1]", 0, 4)}, 12)),
             Catch::EndsWith("a gap of 4 bytes between tensors 'a' [0, 4] and 'b' [8, 12] (the "
                             "tensors must cover the data with no gap)"));
  CHECK_THAT(load_error(file("late", {tensor_json("a", "[1]", 4, 8)}, 8)),
             Catch::EndsWith("tensor 'a' [4, 8] does not begin the data at 0 (the tensors must "
                             "cover the data with no gap)"));
  CHECK_THAT(load_error(file("trailing", {tensor_json("a", "[1]", 0, 4)}, 6)),
             Catch::EndsWith("2 trailing bytes: the tensors cover 4 of the 6 bytes of data (the "
                             "format allows no trailing bytes)"));
  CHECK_THAT(load_error(file("none", {}, 3)),
             Catch::EndsWith("3 trailing bytes: the tensors cover 0 of the 3 bytes of data (the "
                             "format allows no trailing bytes)"));
  CHECK_THAT(load_error(file("twice", {tensor_json("w", "[1]", 0, 4),
                                       tensor_json("w", "[1]", 4, 8)}, 8)),
             Catch::EndsWith("the header names 'w' twice (names must be unique)"));
  CHECK_THAT(load_error(file("backwards", {tensor_json("w", "[0]", 8, 4)}, 8)),
             Catch::EndsWith("tensor 'w': data_offsets [8, 4] end before they begin"));
  CHECK_THAT(load_error(write_raw("space", " {}", 0)),
             Catch::EndsWith("the header does not start with '{' (it must be a JSON object)"));
  CHECK_THAT(load_error(write_raw("limit", "{}", 0, 100000001)),
             Catch::EndsWith("the header claims 100000001 bytes, more than the format's limit of "
                             "100000000"));
  CHECK_THAT(load_error(file("big", {tensor_json("w", "[9223372036854775808]", 0, 4)}, 4)),
             Catch::EndsWith("tensor 'w': shape [9223372036854775808] has a size over 2^63 - 1"));

  // What the rules allow: empty tensors anywhere (even at one offset), a header padded with
  // spaces, and data in any order of the header's keys.
  const Safetensors ok = load_safetensors(file("ok", {tensor_json("z", "[2]", 4, 12),
                                                      tensor_json("e", "[0, 3]", 4, 4),
                                                      tensor_json("a", "[1]", 0, 4),
                                                      tensor_json("f", "[0]", 4, 4)}, 12));
  REQUIRE(ok.tensors.size() == 4);
  CHECK(ok.tensors[0].first == "a");
  CHECK(ok.tensors[3].first == "z");
  CHECK(ok.tensors[3].second.shape() == Shape{2});
  CHECK(load_safetensors(write_raw("pad", "{}    ", 0)).tensors.empty());
}

TEST_CASE("safetensors: F64 from other tools is read as F32", "[safetensors]") {
  const std::string path = write_raw(
      "f64", R"({"x": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}})", 0);
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    const double v[2] = {0.25, -3.0};
    out.write(reinterpret_cast<const char*>(v), sizeof v);
  }
  const Safetensors f = load_safetensors(path);
  CHECK(f.tensors.at(0).second.to_vector<float>() == std::vector<float>{0.25f, -3.0f});
}

TEST_CASE("safetensors: a write that fails midway leaves the previous file whole", "[safetensors]") {
  const fs::path dir = temp_dir() / "atomic";
  fs::create_directories(dir);
  const std::string path = (dir / "ckpt.safetensors").string();
  save_safetensors(path, {{"w", full({4}, 1.0)}});
  // A child process whose files may not grow past 64 KiB writes 1 MB: the write fails midway
  // (EFBIG), as on a full disk.
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{65536, 65536};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      save_safetensors(path, {{"w", full({256 * 1024}, 2.0)}});
    } catch (const Error& e) {
      const std::string msg = e.what();
      ::_exit(msg.find("writing " + path) == 0 ? 0 : 2);
    }
    ::_exit(1);  // it should have failed
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const Safetensors f = load_safetensors(path);
  CHECK(f.tensors.at(0).second.to_vector<float>() == std::vector<float>{1, 1, 1, 1});
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++files;
    CHECK(e.path().filename() == "ckpt.safetensors");  // no temporary file left behind
  }
  CHECK(files == 1);
}

TEST_CASE("modules load weights by name and report what does not fit", "[safetensors]") {
  auto make = [](int64_t hidden) {
    auto seq = std::static_pointer_cast<Sequential>(create_layer("sequential"));
    seq->add(create_layer("linear", {{"in", 4}, {"out", hidden}}))
        ->add(create_layer("relu"))
        ->add(create_layer("linear", {{"in", hidden}, {"out", 2}}));
    return seq;
  };
  auto a = make(3), b = make(3);
  const std::string path = (temp_dir() / "model.safetensors").string();
  save_safetensors(path, a->state_dict());
  const auto report = b->load_state_dict(load_safetensors(path).tensors);
  CHECK(report.ok());
  const Tensor x = randn({5, 4});
  CHECK(allclose(a->forward(x), b->forward(x), 0, 0));  // the same weights, bit for bit

  // A body of another width: strict refuses and copies nothing; non-strict loads what fits.
  auto c = make(5);
  NamedTensors src = a->state_dict();
  src.emplace_back("head.weight", zeros({2}));
  src.erase(src.begin() + 1);  // drop 0.bias
  const Tensor before = c->state_dict()[0].second.clone();
  try {
    c->load_state_dict(src);
    FAIL("strict load of mismatched weights should throw");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("missing from the source: 0.bias"));
    CHECK_THAT(msg, Catch::Contains("not in the model: head.weight"));
    CHECK_THAT(msg, Catch::Contains("wrong shape: 0.weight: [3, 4] in the source, [5, 4] in the model"));
    CHECK_THAT(msg, Catch::Contains("wrong shape: 2.weight: [2, 3] in the source, [2, 5] in the model"));
  }
  CHECK(allclose(c->state_dict()[0].second, before, 0, 0));
  const auto loose = c->load_state_dict(src, false);
  CHECK(loose.missing == std::vector<std::string>{"0.bias"});
  CHECK(loose.unexpected == std::vector<std::string>{"head.weight"});
  CHECK(loose.mismatched.size() == 2);
  CHECK(allclose(c->state_dict()[3].second, a->state_dict()[3].second, 0, 0));  // 2.bias fits
}
