// Dataset `idx`: MNIST-style IDX image/label files (Fashion-MNIST by default) as a classification
// dataset, with a seeded train/valid hold-out, a limit for smoke tests and pixel normalisation.
//
// Memory and speed: the pixels stay u8 in memory (47 MB for 60k 28x28 images instead of 188 MB
// as f32) and a batch converts them through a 256-entry table holding the normalised value of
// each byte, which costs less than copying f32 would. Parsed files are shared between datasets
// (idx_cache.h), so a train and a valid split of one file inflate it once.
#include <algorithm>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "datasets.h"
#include "gom/dataset.h"
#include "gom/tensor.h"
#include "idx_cache.h"
#include "split.h"

namespace gom::datasets {

namespace {

namespace fs = std::filesystem;

constexpr const char* kOwner = "dataset 'idx'";
constexpr const char* kDefaultDir = "/usr/share/datasets/fashion-mnist";
constexpr const char* kPackageHint =
    "Fashion-MNIST comes with the Debian package dataset-fashion-mnist (apt-get install "
    "dataset-fashion-mnist), or set dir to a folder with IDX files";

Schema idx_schema() {
  Schema s;
  s.string("dir", "folder of the IDX files").def(kDefaultDir);
  s.string("images",
           "images file in dir (or an absolute path); default train-images-idx3-ubyte.gz, "
           "t10k-images-idx3-ubyte.gz for split=test");
  s.string("labels",
           "labels file in dir (or an absolute path); default train-labels-idx1-ubyte.gz, "
           "t10k-labels-idx1-ubyte.gz for split=test");
  s.choice("split", {"train", "valid", "test"},
           "train and valid divide the training file (valid: the held-out fraction); test: the "
           "t10k files")
      .def("train");
  s.number("valid_fraction",
           "fraction of the training file held out as the valid split (0: none); 0.1 gives "
           "Fashion-MNIST's 54000/6000")
      .def(0.1)
      .range(0, 1);  // 1 itself is refused below: it would leave no training part
  s.integer("split_seed", "seed of the permutation that picks the held-out examples").def(42);
  s.integer("classes", "number of classes; a label outside [0, classes) is an error")
      .def(10)
      .range(1, 256);
  s.list("select",
         "keep only the examples of these classes, relabelled 0, 1, ... in this order (e.g. [5, "
         "6, 7, 8, 9]: a task of its own, for transfer learning)");
  s.integer("limit", "take only the first N examples of the split (0: all); for smoke tests")
      .def(0)
      .min(0);
  s.boolean("flatten", "inputs [B, rows*cols] instead of [B, 1, rows, cols]").def(false);
  s.choice("normalize", {"none", "unit", "standardize"},
           "pixels as 0..255 (none), scaled to [0, 1] (unit), or unit minus the mean over the "
           "std of the training part's pixels (standardize)")
      .def("unit");
  s.number("mean",
           "with normalize=standardize: this mean (of [0, 1] pixels) instead of the "
           "training part's")
      .range(0, 1);
  s.number("std",
           "with normalize=standardize: this std (of [0, 1] pixels) instead of the "
           "training part's")
      .range(1e-6, 1);
  return s;
}

// "fashion-mnist" from "/usr/share/datasets/fashion-mnist/".
std::string short_name(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().empty() ? dir : p.filename().string();
}

std::string file_in(const std::string& dir, const std::string& name) {
  const std::string path = (fs::path(dir) / name).string();  // an absolute name replaces dir
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(fmt::format("{}: no such file; {}", path, kPackageHint));
  return path;
}

struct Stats {
  double mean, std;
};

// Mean and std of the pixels (scaled to [0, 1]) of `rows`, from a histogram of the bytes: exact,
// and one pass over 42 million bytes for Fashion-MNIST's training part.
Stats pixel_stats(const idx::Array& images, const std::vector<int64_t>& rows,
                  const std::string& path) {
  const int64_t px = images.dims[1] * images.dims[2];
  uint64_t hist[256] = {};
  for (int64_t r : rows) {
    const uint8_t* p = images.data() + r * px;
    for (int64_t k = 0; k < px; ++k) ++hist[p[k]];
  }
  const double total = double(rows.size()) * double(px);
  if (total == 0) throw Error(fmt::format("{}: cannot standardize: no training pixels", path));
  double sum = 0;
  for (int v = 0; v < 256; ++v) sum += double(hist[v]) * (v / 255.0);
  const double mean = sum / total;
  double var = 0;
  for (int v = 0; v < 256; ++v) var += double(hist[v]) * (v / 255.0 - mean) * (v / 255.0 - mean);
  const double std = std::sqrt(var / total);
  if (std == 0)
    throw Error(fmt::format("{}: cannot standardize: every training pixel is {} (std 0)", path,
                            std::lround(mean * 255)));
  return {mean, std};
}

class IdxDataset : public Dataset {
 public:
  explicit IdxDataset(const Params& p);

  int64_t size() const override { return int64_t(rows_.size()); }
  int64_t num_classes() const override { return classes_; }
  Shape input_shape() const override {
    return flatten_ ? Shape{height_ * width_} : Shape{1, height_, width_};
  }
  std::string describe() const override { return describe_; }
  Batch get_batch(const std::vector<int64_t>& indices) const override;

 private:
  std::shared_ptr<const idx::Array> images_, labels_;
  std::vector<int64_t> rows_;  // index in the files of each example of this split, in order
  int64_t height_ = 0, width_ = 0, classes_ = 0;
  bool flatten_ = false;
  float lut_[256];  // normalised value of each byte
  int64_t label_map_[256];  // the label each file label becomes (identity without select)
  std::string describe_;
};

IdxDataset::IdxDataset(const Params& p) {
  const std::string dir = p.s("dir");
  const std::string split = p.s("split");
  const bool test = split == "test";
  classes_ = p.i("classes");
  flatten_ = p.b("flatten");

  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(fmt::format("{}: {}; {}", dir,
                            fs::exists(dir, ec) ? "not a directory" : "no such directory",
                            kPackageHint));
  const std::string prefix = test ? "t10k" : "train";
  const std::string images_path =
      file_in(dir, p.has("images") ? p.s("images") : prefix + "-images-idx3-ubyte.gz");
  const std::string labels_path =
      file_in(dir, p.has("labels") ? p.s("labels") : prefix + "-labels-idx1-ubyte.gz");

  images_ = load_idx_shared(images_path, idx::Kind::Images);
  labels_ = load_idx_shared(labels_path, idx::Kind::Labels);
  const int64_t count = images_->dims[0];
  height_ = images_->dims[1];
  width_ = images_->dims[2];
  if (labels_->dims[0] != count)
    throw Error(fmt::format("{} and {}: {} images but {} labels", images_path, labels_path, count,
                            labels_->dims[0]));
  const uint8_t* labels = labels_->data();
  for (int64_t i = 0; i < count; ++i)
    if (labels[i] >= classes_)
      throw Error(fmt::format("{}: label {} at index {} is out of range for {} classes",
                              labels_path, labels[i], i, classes_));

  // The training part: the training file minus the held-out examples. Its pixels give the
  // standardisation statistics of every split, test included (as a model would see them).
  const double fraction = p.f("valid_fraction");
  if (fraction >= 1)
    throw Error("valid_fraction = 1 would hold out the whole training file; use a value below 1");
  const uint64_t seed = uint64_t(p.i("split_seed"));
  std::vector<int64_t> train_rows;
  if (test) {
    rows_.resize(size_t(count));
    for (int64_t i = 0; i < count; ++i) rows_[size_t(i)] = i;
  } else {
    Holdout h = holdout(count, fraction, seed);
    train_rows = std::move(h.train);
    rows_ = split == "valid" ? std::move(h.valid) : train_rows;
  }
  if (rows_.empty())
    throw Error(fmt::format("split '{}' of {} is empty ({} examples, valid_fraction {})", split,
                            images_path, count, fraction));
  for (int v = 0; v < 256; ++v) label_map_[v] = v;
  if (p.has("select")) {
    const std::vector<int64_t> keep = p.list_i("select");
    if (keep.empty()) throw Error("select: give at least one class");
    std::fill(std::begin(label_map_), std::end(label_map_), -1);
    for (size_t k = 0; k < keep.size(); ++k) {
      if (keep[k] < 0 || keep[k] >= classes_ || label_map_[keep[k]] >= 0)
        throw Error(fmt::format("select: class {} is {} (classes are 0 to {}, each at most once)",
                                keep[k], keep[k] < 0 || keep[k] >= classes_ ? "out of range" : "given twice",
                                classes_ - 1));
      label_map_[keep[k]] = int64_t(k);
    }
    std::erase_if(rows_, [&](int64_t r) { return label_map_[labels[r]] < 0; });
    classes_ = int64_t(keep.size());
  }
  const size_t split_size = rows_.size();
  const int64_t limit = p.i("limit");
  if (limit > 0 && size_t(limit) < rows_.size()) rows_.resize(size_t(limit));

  const std::string normalize = p.s("normalize");
  if ((p.has("mean") || p.has("std")) && normalize != "standardize")
    throw Error(
        fmt::format("mean and std apply to normalize=standardize, not normalize={}", normalize));
  if (p.has("mean") != p.has("std"))
    throw Error("give both mean and std (or neither, to use the training part's)");
  std::string how;
  double scale = 1, shift = 0;  // value = byte * scale + shift
  if (normalize == "none") {
    how = ", pixels 0..255";
  } else if (normalize == "unit") {
    scale = 1 / 255.0;
  } else {
    Stats st{};
    if (p.has("mean")) {
      st = {p.f("mean"), p.f("std")};
    } else if (!test) {
      st = pixel_stats(*images_, train_rows, images_path);
    } else {
      const std::string train_path = file_in(dir, "train-images-idx3-ubyte.gz");
      auto train = load_idx_shared(train_path, idx::Kind::Images);
      st = pixel_stats(*train, holdout(train->dims[0], fraction, seed).train, train_path);
    }
    scale = 1 / (255.0 * st.std);
    shift = -st.mean / st.std;
    how = fmt::format(", standardized (mean {:.4f}, std {:.4f})", st.mean, st.std);
  }
  for (int v = 0; v < 256; ++v) lut_[v] = float(v * scale + shift);

  describe_ = fmt::format("idx {} {}: {} of {} images 1x{}x{}, {} classes{}", short_name(dir),
                          split, rows_.size(), count, height_, width_, classes_, how);
  if (rows_.size() < split_size)
    describe_ += fmt::format(" (limit {} of the split's {})", rows_.size(), split_size);
}

Batch IdxDataset::get_batch(const std::vector<int64_t>& indices) const {
  const auto b = int64_t(indices.size());
  const int64_t px = height_ * width_;
  Batch out;
  out.input = Tensor::empty(flatten_ ? Shape{b, px} : Shape{b, 1, height_, width_});
  out.target = Tensor::empty({b}, {DType::I64});
  float* x = b ? out.input.data<float>() : nullptr;
  int64_t* y = b ? out.target.data<int64_t>() : nullptr;
  const uint8_t* pixels = images_->data();
  const uint8_t* labels = labels_->data();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t at = indices[size_t(i)];
    if (at < 0 || at >= size())
      throw Error(fmt::format("{}: index {} is out of range [0, {})", kOwner, at, size()));
    const int64_t row = rows_[size_t(at)];
    // A shuffled batch reads scattered rows of a file far larger than the caches: ask for the
    // next row while this one converts (about 1.5x faster for Fashion-MNIST's 784-byte rows).
    if (i + 1 < b) {
      const int64_t next = indices[size_t(i + 1)];
      if (next >= 0 && next < size()) {
        const uint8_t* ahead = pixels + rows_[size_t(next)] * px;
        for (int64_t k = 0; k < px; k += 64) __builtin_prefetch(ahead + k);
      }
    }
    const uint8_t* src = pixels + row * px;
    float* dst = x + i * px;
    for (int64_t k = 0; k < px; ++k) dst[k] = lut_[src[k]];
    y[i] = label_map_[labels[row]];
  }
  return out;
}

}  // namespace

void register_idx() {
  register_dataset("idx", "MNIST-style IDX images and labels (Fashion-MNIST by default)",
                   idx_schema(), [](const Params& p) -> std::shared_ptr<Dataset> {
                     return std::make_shared<IdxDataset>(p);  // the registry names the dataset
                   });
}

}  // namespace gom::datasets
