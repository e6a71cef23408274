// Dataset `ratings`: (user, item, rating) triples for collaborative filtering, from a CSV file,
// MovieLens' u.data, or (no path) a seeded synthetic low-rank generator.
//
// User and item ids become indices 0..n-1 in the order of the original ids (numeric order when
// every id is a number), over the whole file, so the train and valid splits share the maps and
// an embedding sized n_users x k fits both. Inputs are i64 [2] (user index, item index); the
// target is the rating as f32 [1].
//
// Synthetic: user u and item i get factors U_u, V_i ~ N(0, 1/sqrt(rank)) per entry (so U_u.V_i
// has variance about 1) and biases b_u, b_i ~ N(0, 0.5^2); the rating of a pair is
//   3 + b_u + b_i + U_u.V_i + noise * N(0, 1),
// continuous and not clamped (a model's fit can then reach the noise floor exactly). `count`
// distinct (user, item) pairs are drawn uniformly, then sorted. The numbers come from gom's
// Philox Generator seeded with `seed`, so they are the same on every machine.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "datasets.h"
#include "file_bytes.h"
#include "gom/dataset.h"
#include "gom/ops.h"
#include "gom/tensor.h"
#include "ratings_format.h"
#include "split.h"
#include "table_columns.h"

namespace gom::datasets {

namespace {

constexpr const char* kOwner = "dataset 'ratings'";

Schema ratings_schema() {
  Schema s;
  s.string("path", "the ratings file; without it, synthetic ratings (users, items, rank, ...)");
  s.choice("format", {"auto", "csv", "udata"},
           "csv: a header naming the user, item and rating columns; udata: MovieLens' u.data "
           "(user, item, rating, timestamp separated by tabs, no header); auto: udata for "
           ".data/.tsv or a tab in the first line, else csv")
      .def("auto");
  s.string("user", "csv: the user id column").def("user");
  s.string("item", "csv: the item id column").def("item");
  s.string("rating", "csv: the rating column").def("rating");
  s.string("delimiter", "csv: the field separator, one character").def(",");
  s.choice("split", {"train", "valid", "all"},
           "train and valid divide the ratings (valid: a seeded random valid_fraction); all: "
           "every rating")
      .def("train");
  s.number("valid_fraction", "share of the ratings in the valid split").def(0.2).range(0, 0.99);
  s.integer("seed", "seed of the valid split's permutation and of the synthetic ratings")
      .def(42)
      .min(0);
  s.integer("users", "synthetic: number of users").def(100).range(1, 1 << 20);
  s.integer("items", "synthetic: number of items").def(100).range(1, 1 << 20);
  s.integer("rank", "synthetic: rank of the user-item interaction").def(4).range(1, 1024);
  s.integer("count", "synthetic: number of distinct (user, item) ratings").def(2000).min(1);
  s.number("noise", "synthetic: std of the Gaussian noise on each rating").def(0.1).min(0);
  return s;
}

// `count` distinct values in [0, total), sorted, drawn with `gen`.
std::vector<int64_t> distinct_draws(int64_t total, int64_t count, uint64_t seed, Generator& gen) {
  std::vector<int64_t> out;
  if (count * 2 > total) {  // dense: a prefix of a permutation
    out = seeded_permutation(total, seed);
    out.resize(size_t(count));
  } else {  // sparse: rejection, in rounds of fresh draws
    std::set<int64_t> seen;
    while (int64_t(seen.size()) < count) {
      const Tensor d = randint(0, total, {count}, &gen);
      for (int64_t v : d.to_vector<int64_t>())
        if (int64_t(seen.size()) < count) seen.insert(v);
    }
    out.assign(seen.begin(), seen.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<ratings::Rating> synthetic(const Params& p) {
  const int64_t users = p.i("users"), items = p.i("items"), rank = p.i("rank");
  const int64_t count = p.i("count");
  if (count > users * items)
    throw Error(fmt::format("count {} is more than the {} distinct pairs of {} users and {} items",
                            count, users * items, users, items));
  Generator gen(uint64_t(p.i("seed")));
  const double scale = std::pow(double(rank), -0.25);
  const std::vector<float> U = randn({users, rank}, &gen).to_vector<float>();
  const std::vector<float> V = randn({items, rank}, &gen).to_vector<float>();
  const std::vector<float> bu = randn({users}, &gen).to_vector<float>();
  const std::vector<float> bi = randn({items}, &gen).to_vector<float>();
  const std::vector<int64_t> pairs = distinct_draws(users * items, count, uint64_t(p.i("seed")), gen);
  const std::vector<float> eps = randn({count}, &gen).to_vector<float>();
  const double noise = p.f("noise");
  std::vector<ratings::Rating> out;
  out.reserve(size_t(count));
  for (size_t k = 0; k < pairs.size(); ++k) {
    const int64_t u = pairs[k] / items, i = pairs[k] % items;
    double dot = 0;
    for (int64_t r = 0; r < rank; ++r)
      dot += double(U[size_t(u * rank + r)]) * double(V[size_t(i * rank + r)]);
    const double rating = 3 + 0.5 * (bu[size_t(u)] + bi[size_t(i)]) + scale * scale * dot +
                          noise * eps[k];
    out.push_back({std::to_string(u), std::to_string(i), rating, 0});
  }
  return out;
}

class RatingsDataset : public CategoricalDataset {
 public:
  explicit RatingsDataset(const Params& p);
  std::vector<std::string> category_columns() const override { return {"user", "item"}; }
  const std::vector<std::string>& categories(const std::string& column) const override {
    if (column == "user") return users_;
    if (column == "item") return items_;
    throw Error(fmt::format("{}: no category map '{}' (maps: user, item)", kOwner, column));
  }

  int64_t size() const override { return int64_t(rating_.size()); }
  Shape input_shape() const override { return {2}; }
  std::string describe() const override { return describe_; }
  Config info() const override { return info_; }
  Batch get_batch(const std::vector<int64_t>& indices) const override;

 private:
  std::vector<int64_t> user_, item_;
  std::vector<std::string> users_, items_;  // the raw ids by index
  std::vector<float> rating_;
  Config info_;
  std::string describe_;
};

RatingsDataset::RatingsDataset(const Params& p) {
  const std::string split = p.s("split");
  std::vector<ratings::Rating> all;
  std::string source;
  if (p.has("path")) {
    const Schema schema = ratings_schema();
    for (const char* key : {"users", "items", "rank", "count", "noise"})
      if (!(p.get(key) == schema.find(key)->default_value))
        throw Error(fmt::format("{} applies to synthetic ratings (no path), not to a file", key));
    const std::string path = p.s("path");
    const std::string bytes = read_file_bytes(path, "ratings");
    ratings::CsvColumns cols{p.s("user"), p.s("item"), p.s("rating"), ','};
    if (p.s("delimiter").size() != 1)
      throw Error(fmt::format("delimiter must be one character, not '{}'", p.s("delimiter")));
    cols.delimiter = p.s("delimiter")[0];
    const std::string f = p.s("format");
    const ratings::Format format = f == "csv"     ? ratings::Format::Csv
                                   : f == "udata" ? ratings::Format::Udata
                                                  : ratings::detect(path, bytes);
    all = ratings::parse(bytes, path, format, cols);
    source = fmt::format("{} ({})", std::filesystem::path(path).filename().string(),
                         format == ratings::Format::Csv ? "csv" : "udata");
  } else {
    all = synthetic(p);
    source = fmt::format("synthetic rank {} noise {}", p.i("rank"), p.f("noise"));
  }
  const auto n = int64_t(all.size());

  std::vector<std::string> users, items;
  for (const auto& r : all) {
    users.push_back(r.user);
    items.push_back(r.item);
  }
  users_ = sorted_distinct(users);
  items_ = sorted_distinct(items);
  const std::map<std::string, int64_t> user_id = index_of(users_, 0);
  const std::map<std::string, int64_t> item_id = index_of(items_, 0);

  const double fraction = p.f("valid_fraction");
  Holdout h = holdout(n, fraction, uint64_t(p.i("seed")));
  std::vector<int64_t> every(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) every[size_t(i)] = i;
  const std::vector<int64_t>& rows =
      split == "all" ? every : split == "valid" ? h.valid : h.train;
  if (rows.empty())
    throw Error(fmt::format("split '{}' of {} has no ratings ({} ratings, valid_fraction {})",
                            split, source, n, fraction));
  double lo = all[0].rating, hi = all[0].rating, sum = 0;
  for (const auto& r : all) {
    lo = std::min(lo, r.rating);
    hi = std::max(hi, r.rating);
  }
  for (int64_t k : rows) {
    const ratings::Rating& r = all[size_t(k)];
    user_.push_back(user_id.at(r.user));
    item_.push_back(item_id.at(r.item));
    rating_.push_back(float(r.rating));
    sum += r.rating;
  }
  info_ = {{"n_users", int64_t(user_id.size())},
           {"n_items", int64_t(item_id.size())},
           {"rating_min", lo},
           {"rating_max", hi},
           {"rating_mean", sum / double(rows.size())},
           {"ratings", int64_t(rows.size())}};
  describe_ = fmt::format("ratings {} {}: {} of {} ratings, {} users x {} items, ratings {} to {}",
                          source, split, rows.size(), n, user_id.size(), item_id.size(), lo, hi);
}

Batch RatingsDataset::get_batch(const std::vector<int64_t>& indices) const {
  const auto b = int64_t(indices.size());
  Batch out;
  out.input = Tensor::empty({b, 2}, {DType::I64});
  out.target = Tensor::empty({b, 1});
  int64_t* x = b ? out.input.data<int64_t>() : nullptr;
  float* y = b ? out.target.data<float>() : nullptr;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t k = indices[size_t(i)];
    if (k < 0 || k >= size())
      throw Error(fmt::format("{}: index {} is out of range [0, {})", kOwner, k, size()));
    x[2 * i] = user_[size_t(k)];
    x[2 * i + 1] = item_[size_t(k)];
    y[i] = rating_[size_t(k)];
  }
  return out;
}

}  // namespace

void register_ratings() {
  register_dataset("ratings",
                   "(user, item, rating) triples: a CSV file, MovieLens u.data, or synthetic "
                   "low-rank ratings",
                   ratings_schema(), [](const Params& p) -> std::shared_ptr<Dataset> {
                     return std::make_shared<RatingsDataset>(p);
                   });
}

}  // namespace gom::datasets
