// The dataset plugin (gom_datasets): the IDX reader's values and exact error messages on small
// files written here (raw, and gzipped with the gzip command), the train/valid split, limit,
// normalisation and shapes; the real Fashion-MNIST; and the synthetic problems.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <set>

#include "gom/dataset.h"
#include "gom/gom.h"
#include "temp_files.h"

using namespace gom;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

using gom_test::TempDir;

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

Bytes idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, const Bytes& data) {
  Bytes b;
  put_be32(b, magic);
  for (uint32_t d : dims) put_be32(b, d);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

// Gzip through the gzip command (tests do not link zlib). -n: no name or time in the header, so
// the deflate data starts at byte 10.
Bytes gzipped(const TempDir& dir, const Bytes& raw) {
  const std::string in = dir / "gzip-in", out = dir / "gzip-out";
  write_file(in, raw);
  REQUIRE(std::system(fmt::format("gzip -n -c < '{}' > '{}'", in, out).c_str()) == 0);
  Bytes gz = read_bytes(out);
  REQUIRE(gz.size() > 18);
  return gz;
}

// Ten 2x3 images; pixel k of image i is 10 * i + k (so the first pixel names the image), and
// image i has label i % 3.
constexpr uint32_t kN = 10, kRows = 2, kCols = 3;
Bytes pixels() {
  Bytes d;
  for (uint32_t i = 0; i < kN; ++i)
    for (uint32_t k = 0; k < kRows * kCols; ++k) d.push_back(uint8_t(10 * i + k));
  return d;
}
Bytes images_file() {
  return idx_bytes(0x803, {kN, kRows, kCols}, pixels());
}
Bytes labels_file(uint32_t n = kN) {
  Bytes d;
  for (uint32_t i = 0; i < n; ++i) d.push_back(uint8_t(i % 3));
  return idx_bytes(0x801, {n}, d);
}

Config idx_config(const TempDir& dir, const std::string& images, const std::string& labels) {
  return {{"dir", dir.path.string()}, {"images", images}, {"labels", labels}, {"classes", 3}};
}

std::vector<int64_t> all_indices(const Dataset& ds) {
  std::vector<int64_t> idx(size_t(ds.size()));
  std::iota(idx.begin(), idx.end(), 0);
  return idx;
}

// The image numbers (first pixel / 10) of every example of a dataset made with normalize=none.
std::vector<int64_t> image_ids(const Dataset& ds) {
  const int64_t px = shape_numel(ds.input_shape());
  const std::vector<float> x = ds.get_batch(all_indices(ds)).input.to_vector<float>();
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < ds.size(); ++i) ids.push_back(int64_t(x[size_t(i * px)]) / 10);
  return ids;
}

const std::string kExpectedMagic =
    "(expected 0x00000803 for u8 images or 0x00000801 for u8 labels)";

}  // namespace

TEST_CASE("datasets: idx and synthetic are registered", "[datasets]") {
  CHECK(find_component(ComponentKind::Dataset, "idx").library.find("gom_datasets") !=
        std::string::npos);
  CHECK(find_component(ComponentKind::Dataset, "synthetic").schema.find("task")->is_required);
}

TEST_CASE("datasets: idx reads raw and gzip files with the right values", "[datasets]") {
  TempDir dir;
  write_file(dir / "img", images_file());
  write_file(dir / "lbl", labels_file());
  write_file(dir / "img.gz", gzipped(dir, images_file()));
  write_file(dir / "lbl.gz", gzipped(dir, labels_file()));
  // Two gzip members one after the other are one stream, as for gunzip.
  const Bytes images = images_file();
  Bytes two = gzipped(dir, Bytes(images.begin(), images.begin() + 20));
  const Bytes rest = gzipped(dir, Bytes(images.begin() + 20, images.end()));
  two.insert(two.end(), rest.begin(), rest.end());
  write_file(dir / "img2.gz", two);

  for (auto [img, lbl] : {std::pair{"img", "lbl"}, {"img.gz", "lbl.gz"}, {"img2.gz", "lbl"}}) {
    INFO(img << " " << lbl);
    Config c = idx_config(dir, img, lbl);
    c["split"] = "test";  // the whole file, in order
    c["normalize"] = "none";
    auto ds = create_dataset("idx", c);
    REQUIRE(ds->size() == kN);
    CHECK(ds->num_classes() == 3);
    CHECK(ds->input_shape() == Shape{1, kRows, kCols});
    Batch b = ds->get_batch({3, 0, 9});
    CHECK(b.input.shape() == Shape{3, 1, kRows, kCols});
    CHECK(b.input.dtype() == DType::F32);
    CHECK(b.target.shape() == Shape{3});
    CHECK(b.target.dtype() == DType::I64);
    CHECK(b.input.to_vector<float>() ==
          std::vector<float>{30, 31, 32, 33, 34, 35, 0, 1, 2, 3, 4, 5, 90, 91, 92, 93, 94, 95});
    CHECK(b.target.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 0});
    CHECK(ds->get_batch({4, 5}).target.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
    CHECK(ds->describe() ==
          fmt::format("idx {} test: 10 of 10 images 1x2x3, 3 classes, pixels 0..255",
                      dir.path.filename().string()));
    CHECK(ds->get_batch({}).input.shape() == Shape{0, 1, kRows, kCols});
    CHECK_THROWS_WITH(ds->get_batch({10}), "dataset 'idx': index 10 is out of range [0, 10)");
    CHECK_THROWS_WITH(ds->get_batch({-1}), "dataset 'idx': index -1 is out of range [0, 10)");
  }
}

TEST_CASE("datasets: idx error messages are exact", "[datasets]") {
  TempDir dir;
  write_file(dir / "img", images_file());
  write_file(dir / "lbl", labels_file());
  const std::string img = dir / "img", lbl = dir / "lbl", bad = dir / "bad";
  auto fails_with = [&](const Bytes& bad_bytes, bool as_images) {
    write_file(bad, bad_bytes);
    try {
      create_dataset("idx", idx_config(dir, as_images ? "bad" : "img", as_images ? "lbl" : "bad"));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string p = "dataset 'idx': " + bad + ": ";

  SECTION("bad magic") {
    CHECK(fails_with(idx_bytes(0x12345678, {}, {}), true) ==
          p + "bad magic 0x12345678 " + kExpectedMagic);
    CHECK(fails_with(idx_bytes(0x00000703, {1, 1, 1}, {0}), true) ==
          p + "bad magic 0x00000703 " + kExpectedMagic);
  }
  SECTION("an IDX type other than u8") {
    CHECK(fails_with(idx_bytes(0x00000d03, {1, 1, 1}, {0, 0, 0, 0}), true) ==
          p + "unsupported element type 0x0d (f32) in magic 0x00000d03 " + kExpectedMagic);
  }
  SECTION("wrong number of dimensions") {
    CHECK(fails_with(idx_bytes(0x802, {10, 6}, pixels()), true) ==
          p + "wrong number of dimensions: 2 (expected 3 for images)");
    CHECK(fails_with(labels_file(), true) ==
          p + "wrong number of dimensions: 1 (expected 3 for images)");
    CHECK(fails_with(images_file(), false) ==
          p + "wrong number of dimensions: 3 (expected 1 for labels)");
  }
  SECTION("truncated") {
    Bytes cut = images_file();
    cut.resize(cut.size() - 10);
    CHECK(fails_with(cut, true) == p + "truncated: header says 60 bytes of data, file has 50");
    cut.resize(6);
    CHECK(fails_with(cut, true) ==
          p + "truncated: file has 6 bytes, the header of a 3-d IDX file needs 16");
    cut.resize(3);
    CHECK(fails_with(cut, true) == p + "truncated: file has 3 bytes, the IDX magic needs 4");
    CHECK(fails_with({}, true) == p + "empty file");
    CHECK(fails_with(idx_bytes(0x803, {60000, 28, 28}, Bytes(1000)), true) ==
          p + "truncated: header says 47040000 bytes of data, file has 1000");
    // (2^32 - 1)^3: more than 64 bits can count.
    CHECK(fails_with(idx_bytes(0x803, {~0u, ~0u, ~0u}, {}), true) ==
          p + "truncated: header says more than 18446744073709551615 bytes of data, file has 0");
  }
  SECTION("trailing bytes") {
    Bytes more = images_file();
    more.push_back(1);
    CHECK(fails_with(more, true) == p + "1 trailing byte after the data");
    more.push_back(2);
    CHECK(fails_with(more, true) == p + "2 trailing bytes after the data");
  }
  SECTION("a zero dimension") {
    CHECK(fails_with(idx_bytes(0x803, {0, 28, 28}, {}), true) ==
          p + "dimension 1 of 3 is 0 (sizes [0, 28, 28]): every dimension must be at least 1");
    CHECK(fails_with(idx_bytes(0x803, {10, 2, 0}, {}), true) ==
          p + "dimension 3 of 3 is 0 (sizes [10, 2, 0]): every dimension must be at least 1");
    CHECK(fails_with(idx_bytes(0x801, {0}, {}), false) ==
          p + "dimension 1 of 1 is 0 (sizes [0]): every dimension must be at least 1");
  }
  SECTION("images and labels disagree") {
    write_file(bad, labels_file(9));
    CHECK_THROWS_WITH(create_dataset("idx", idx_config(dir, "img", "bad")),
                      fmt::format("dataset 'idx': {} and {}: 10 images but 9 labels", img, bad));
  }
  SECTION("label out of range") {
    Bytes l = labels_file();
    l[8 + 5] = 7;
    CHECK(fails_with(l, false) == p + "label 7 at index 5 is out of range for 3 classes");
  }
  SECTION("corrupt gzip streams") {
    const Bytes gz = gzipped(dir, images_file());
    Bytes crc = gz;
    crc[crc.size() - 8] ^= 0xff;  // the CRC-32 in the trailer
    CHECK(fails_with(crc, true) == p + "corrupt gzip stream: incorrect data check");
    Bytes cut(gz.begin(), gz.end() - 12);
    CHECK(fails_with(cut, true) ==
          p + "corrupt gzip stream: unexpected end of the compressed data");
    Bytes block = gz;
    block[10] = 0x07;  // BFINAL=1, BTYPE=11: the reserved block type
    CHECK(fails_with(block, true) == p + "corrupt gzip stream: invalid block type");
    Bytes garbage = gz;
    garbage.insert(garbage.end(), {1, 2, 3});
    CHECK(fails_with(garbage, true) ==
          p + "corrupt gzip stream: 3 bytes of garbage after the end of the stream");
    // Damage inside a well-formed gzip reads as the same damage in a raw file.
    Bytes short_data = images_file();
    short_data.resize(short_data.size() - 10);
    CHECK(fails_with(gzipped(dir, short_data), true) ==
          p + "truncated: header says 60 bytes of data, file has 50");
  }
  SECTION("missing folder and files name the package") {
    const std::string hint =
        "Fashion-MNIST comes with the Debian package dataset-fashion-mnist (apt-get install "
        "dataset-fashion-mnist), or set dir to a folder with IDX files";
    CHECK_THROWS_WITH(create_dataset("idx", {{"dir", "/nonexistent/fmnist"}}),
                      "dataset 'idx': /nonexistent/fmnist: no such directory; " + hint);
    CHECK_THROWS_WITH(create_dataset("idx", {{"dir", img}}),
                      fmt::format("dataset 'idx': {}: not a directory; {}", img, hint));
    CHECK_THROWS_WITH(create_dataset("idx", {{"dir", dir.path.string()}}),
                      fmt::format("dataset 'idx': {}: no such file; {}",
                                  dir / "train-images-idx3-ubyte.gz", hint));
    CHECK_THROWS_WITH(create_dataset("idx", idx_config(dir, "img", "nope")),
                      fmt::format("dataset 'idx': {}: no such file; {}", dir / "nope", hint));
  }
}

TEST_CASE("datasets: idx train/valid split is disjoint, covering and stable", "[datasets]") {
  TempDir dir;
  write_file(dir / "img", images_file());
  write_file(dir / "lbl", labels_file());
  auto make = [&](const std::string& split, double fraction, int seed) {
    Config c = idx_config(dir, "img", "lbl");
    c["split"] = split;
    c["valid_fraction"] = fraction;
    c["split_seed"] = seed;
    c["normalize"] = "none";
    return create_dataset("idx", c);
  };
  const auto train = image_ids(*make("train", 0.3, 42));
  const auto valid = image_ids(*make("valid", 0.3, 42));
  CHECK(train.size() == 7);
  CHECK(valid.size() == 3);
  CHECK(std::is_sorted(train.begin(), train.end()));  // file order: the loader shuffles
  std::set<int64_t> all(train.begin(), train.end());
  all.insert(valid.begin(), valid.end());
  CHECK(all.size() == kN);  // disjoint and covering
  CHECK(image_ids(*make("valid", 0.3, 42)) == valid);
  std::set<std::vector<int64_t>> seen;
  for (int seed = 0; seed < 20; ++seed) seen.insert(image_ids(*make("valid", 0.3, seed)));
  CHECK(seen.size() > 10);  // the seed picks the held-out examples
  CHECK(make("train", 0, 42)->size() == kN);
  CHECK_THROWS_WITH(make("valid", 0, 42), fmt::format("dataset 'idx': split 'valid' of {} is "
                                                      "empty (10 examples, valid_fraction 0)",
                                                      dir / "img"));
  CHECK_THROWS_WITH(make("train", 1, 42),
                    "dataset 'idx': valid_fraction = 1 would hold out the whole training file; "
                    "use a value below 1");
}

TEST_CASE("datasets: idx limit, normalize and flatten", "[datasets]") {
  TempDir dir;
  write_file(dir / "img", images_file());
  write_file(dir / "lbl", labels_file());
  Config base = idx_config(dir, "img", "lbl");
  base["valid_fraction"] = 0.2;
  auto with = [&](Config extra) {
    Config c = base;
    for (auto& [k, v] : extra) c[k] = v;
    return create_dataset("idx", c);
  };

  SECTION("limit takes the first examples of the split") {
    auto full = with({{"normalize", "none"}});
    auto few = with({{"normalize", "none"}, {"limit", 3}});
    REQUIRE(few->size() == 3);
    auto ids = image_ids(*full);
    ids.resize(3);
    CHECK(image_ids(*few) == ids);
    CHECK(few->describe().ends_with("(limit 3 of the split's 8)"));
    CHECK(with({{"limit", 100}})->size() == 8);
  }
  SECTION("unit scales to [0, 1]") {
    auto ds = with({});  // unit is the default
    const auto x = ds->get_batch({0}).input.to_vector<float>();
    const auto raw = with({{"normalize", "none"}})->get_batch({0}).input.to_vector<float>();
    for (size_t k = 0; k < x.size(); ++k) CHECK(x[k] == Approx(raw[k] / 255.0));
  }
  SECTION("standardize uses the training part's statistics") {
    auto train = with({{"normalize", "standardize"}});
    const auto x = train->get_batch(all_indices(*train)).input.to_vector<float>();
    const double mean = std::accumulate(x.begin(), x.end(), 0.0) / double(x.size());
    double var = 0;
    for (float v : x) var += (v - mean) * (v - mean);
    CHECK(mean == Approx(0).margin(1e-5));
    CHECK(std::sqrt(var / double(x.size())) == Approx(1).epsilon(1e-5));
    // The valid split is scaled with the training part's statistics, not its own.
    auto train_raw = with({{"normalize", "none"}});
    const auto r = train_raw->get_batch(all_indices(*train_raw)).input.to_vector<float>();
    double m = 0, v = 0;
    for (float u : r) m += u / 255.0 / double(r.size());
    for (float u : r) v += (u / 255.0 - m) * (u / 255.0 - m) / double(r.size());
    auto valid = with({{"normalize", "standardize"}, {"split", "valid"}});
    auto valid_raw = with({{"normalize", "none"}, {"split", "valid"}});
    const auto got = valid->get_batch({0, 1}).input.to_vector<float>();
    const auto raw = valid_raw->get_batch({0, 1}).input.to_vector<float>();
    for (size_t k = 0; k < got.size(); ++k)
      CHECK(got[k] == Approx((raw[k] / 255.0 - m) / std::sqrt(v)).epsilon(1e-5));
    CHECK(train->describe().find(", standardized (mean ") != std::string::npos);
  }
  SECTION("standardize with a given mean and std") {
    auto ds = with({{"normalize", "standardize"}, {"mean", 0.5}, {"std", 0.25}, {"split", "test"}});
    const auto x = ds->get_batch({1}).input.to_vector<float>();
    CHECK(x[0] == Approx((10 / 255.0 - 0.5) / 0.25));
    CHECK_THROWS_WITH(with({{"mean", 0.5}, {"std", 0.25}}),
                      "dataset 'idx': mean and std apply to normalize=standardize, not "
                      "normalize=unit");
    CHECK_THROWS_WITH(with({{"normalize", "standardize"}, {"mean", 0.5}}),
                      "dataset 'idx': give both mean and std (or neither, to use the training "
                      "part's)");
  }
  SECTION("flatten") {
    auto flat = with({{"flatten", true}});
    CHECK(flat->input_shape() == Shape{kRows * kCols});
    CHECK(flat->get_batch({0, 1}).input.shape() == Shape{2, kRows * kCols});
    auto image = with({});
    CHECK(image->input_shape() == Shape{1, kRows, kCols});
    CHECK(image->get_batch({0, 1}).input.shape() == Shape{2, 1, kRows, kCols});
    CHECK(flat->get_batch({0, 1}).input.to_vector<float>() ==
          image->get_batch({0, 1}).input.to_vector<float>());
  }
}

TEST_CASE("datasets: Fashion-MNIST", "[datasets][fashion-mnist]") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  auto histogram = [](const Dataset& ds) {
    const auto y = ds.get_batch(all_indices(ds)).target.to_vector<int64_t>();
    std::vector<int64_t> h(10);
    for (int64_t v : y) ++h.at(size_t(v));
    return h;
  };

  const auto t0 = std::chrono::steady_clock::now();
  auto train = create_dataset("idx", {{"dir", dir}});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  WARN(fmt::format("loading Fashion-MNIST's 60000 training images took {:.3f} s", secs));
  CHECK(secs < 3.0);

  auto valid = create_dataset("idx", {{"dir", dir}, {"split", "valid"}});
  auto whole = create_dataset("idx", {{"dir", dir}, {"valid_fraction", 0}});
  auto test = create_dataset("idx", {{"dir", dir}, {"split", "test"}});
  CHECK(train->size() == 54000);
  CHECK(valid->size() == 6000);
  CHECK(whole->size() == 60000);
  CHECK(test->size() == 10000);
  CHECK(train->describe() == "idx fashion-mnist train: 54000 of 60000 images 1x28x28, 10 classes");
  CHECK(test->describe() == "idx fashion-mnist test: 10000 of 10000 images 1x28x28, 10 classes");
  CHECK(train->input_shape() == Shape{1, 28, 28});
  CHECK(histogram(*whole) == std::vector<int64_t>(10, 6000));
  CHECK(histogram(*test) == std::vector<int64_t>(10, 1000));
  const auto ht = histogram(*train), hv = histogram(*valid);
  for (size_t c = 0; c < 10; ++c) CHECK(ht[c] + hv[c] == 6000);

  // Pixels in [0, 1], and the usual statistics (0.2860, 0.3530 over all 60000).
  const auto x = train->get_batch({0, 1, 2, 3}).input.to_vector<float>();
  CHECK(*std::max_element(x.begin(), x.end()) <= 1.0f);
  CHECK(*std::min_element(x.begin(), x.end()) >= 0.0f);
  auto standard = create_dataset(
      "idx", {{"dir", dir}, {"normalize", "standardize"}, {"valid_fraction", 0}, {"limit", 2}});
  CHECK(standard->describe() ==
        "idx fashion-mnist train: 2 of 60000 images 1x28x28, 10 classes, standardized (mean "
        "0.2860, std 0.3530) (limit 2 of the split's 60000)");
}

TEST_CASE("datasets: synthetic problems", "[datasets]") {
  auto make = [](Config c) { return create_dataset("synthetic", c); };

  SECTION("xor: the truth table") {
    auto ds = make({{"task", "xor"}, {"n", 4}, {"noise", 0}});
    Batch b = ds->get_batch({0, 1, 2, 3});
    CHECK(b.input.shape() == Shape{4, 2});
    CHECK(b.input.to_vector<float>() == std::vector<float>{0, 0, 0, 1, 1, 0, 1, 1});
    CHECK(b.target.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1, 0});
    CHECK(ds->num_classes() == 2);
    CHECK(ds->describe() == "synthetic xor: 4 examples, 2 features, 2 classes, noise 0, seed 0");
  }
  SECTION("the same seed gives the same data, another seed other data") {
    for (const char* task : {"xor", "spirals", "quadratic", "blobs"}) {
      INFO(task);
      auto a = make({{"task", task}, {"seed", 3}});
      auto b = make({{"task", task}, {"seed", 3}});
      auto c = make({{"task", task}, {"seed", 4}});
      const auto all = all_indices(*a);
      CHECK(a->get_batch(all).input.to_vector<float>() ==
            b->get_batch(all).input.to_vector<float>());
      CHECK(a->get_batch(all).input.to_vector<float>() !=
            c->get_batch(all).input.to_vector<float>());
    }
  }
  SECTION("shapes and balanced labels") {
    auto blobs = make({{"task", "blobs"}, {"n", 99}, {"classes", 3}, {"dim", 5}});
    CHECK(blobs->size() == 99);
    CHECK(blobs->input_shape() == Shape{5});
    CHECK(blobs->num_classes() == 3);
    Batch b = blobs->get_batch(all_indices(*blobs));
    CHECK(b.input.shape() == Shape{99, 5});
    std::vector<int64_t> count(3);
    for (int64_t y : b.target.to_vector<int64_t>()) ++count.at(size_t(y));
    CHECK(count == std::vector<int64_t>{33, 33, 33});

    auto spirals = make({{"task", "spirals"}, {"n", 101}, {"noise", 0}});
    Batch s = spirals->get_batch(all_indices(*spirals));
    CHECK(s.input.shape() == Shape{101, 2});
    const auto y = s.target.to_vector<int64_t>();
    CHECK(std::count(y.begin(), y.end(), 0) == 51);
    CHECK(std::count(y.begin(), y.end(), 1) == 50);
    const auto xy = s.input.to_vector<float>();
    for (size_t i = 0; i < xy.size(); i += 2)
      CHECK(std::hypot(xy[i], xy[i + 1]) <= 1.0 + 1e-6);  // within radius 1 without noise

    auto quad =
        make({{"task", "quadratic"}, {"n", 50}, {"noise", 0}, {"a", 2.0}, {"b", -1.0}, {"c", 0.5}});
    CHECK(quad->num_classes() == 0);
    Batch q = quad->get_batch(all_indices(*quad));
    CHECK(q.input.shape() == Shape{50, 1});
    CHECK(q.target.shape() == Shape{50, 1});
    CHECK(q.target.dtype() == DType::F32);
    const auto qx = q.input.to_vector<float>(), qy = q.target.to_vector<float>();
    for (size_t i = 0; i < qx.size(); ++i) {
      CHECK(qx[i] >= -1.0f);
      CHECK(qx[i] < 1.0f);
      CHECK(qy[i] == Approx(2 * qx[i] * qx[i] - qx[i] + 0.5).margin(1e-5));
    }
  }
  SECTION("the schema is honest") {
    CHECK_THROWS_WITH(make({{"task", "xor"}, {"dim", 3}}),
                      "dataset 'synthetic': parameter 'dim' = 3 applies to blobs only, not task "
                      "xor");
    CHECK_THROWS_WITH(make({{"task", "blobs"}, {"a", 3}}),
                      "dataset 'synthetic': parameter 'a' = 3 applies to quadratic only, not "
                      "task blobs");
    CHECK_THROWS_WITH(make({{"task", "xor"}, {"classes", 3}}),
                      "dataset 'synthetic': parameter 'classes' = 3 applies to spirals and "
                      "blobs only, not task xor");
    CHECK_THROWS_WITH(make({}), Catch::Contains("missing required parameter 'task'"));
    CHECK_THROWS_WITH(make({{"task", "xor"}, {"n", 3}})->get_batch({3}),
                      "dataset 'synthetic': index 3 is out of range [0, 3)");
  }
}
