// Dataset `csv`: a table from a CSV file for classification or regression, preprocessed as
// fastai's TabularPandas procs do (FillMissing, Categorify, Normalize), fitted on the training
// rows only so no statistic of the valid split leaks into the model's inputs.
//
//   continuous columns: the columns in `log` become log1p(x) first; missing cells then get the
//     training median (fill = mean: the mean; constant: fill_value, in the transformed units);
//     then (x - mean) / std with the training rows' mean and std (ddof 0, plus 1e-7 as fastai,
//     so a constant column is 0), unless standardize = false or the column is in `unscaled`
//     (info then has mean 0 and std 1 for it, so (x - mean) / std holds for every column).
//   categorical columns: the training rows' values, sorted (numerically when they are all
//     numbers), become 1..n; 0 ("#na#") is a missing cell or a value not seen in training. With
//     categorical_missing = mode, missing cells get the training mode instead (info fill.<col>).
//   target: classification: the class names of the whole file, sorted (numerically when they
//     are numbers) -> i64 ids; regression: the raw number as f32 [1] (not standardised: the
//     metrics stay in the data's units; info has target_mean/std for a model that wants to).
// Inputs are f32 [n_categorical + n_continuous]: the category indices first (exact in f32),
// then the standardised continuous values, in the order of info's categorical and continuous.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "csv_format.h"
#include "datasets.h"
#include "file_bytes.h"
#include "gom/dataset.h"
#include "gom/tensor.h"
#include "split.h"
#include "table_columns.h"

namespace gom::datasets {

namespace {

constexpr const char* kOwner = "dataset 'csv'";

Schema csv_schema() {
  Schema s;
  s.string("path", "the CSV file").required();
  s.string("target", "name of the target column").required();
  s.choice("task", {"classification", "regression"},
           "classification: the target's values are classes; regression: a number")
      .def("classification");
  // Names as a list ({"sex", "class"}) or one comma-separated string ("sex,class", what --set
  // gives a script).
  s.list("categorical",
         "names of the categorical columns (default: those with a value that is not a number)")
      .of_strings()
      .or_scalar();
  s.list("continuous",
         "names of the continuous columns (default: the others, less the target and ignore)")
      .of_strings()
      .or_scalar();
  s.list("ignore", "names of columns to drop").of_strings().or_scalar();
  s.choice("categorical_missing", {"na", "mode"},
           "a missing categorical cell: category 0 (#na#, as fastai), or the training rows' "
           "most frequent value")
      .def("na");
  s.choice("fill", {"median", "mean", "constant"},
           "a missing continuous cell: the training rows' median or mean, or fill_value")
      .def("median");
  s.number("fill_value", "fill = constant: what a missing continuous cell becomes").def(0);
  s.boolean("standardize", "standardise the continuous columns with the training mean and std")
      .def(true);
  s.list("unscaled", "continuous columns left as they are (not standardised)")
      .of_strings()
      .or_scalar();
  s.list("log", "continuous columns transformed by log1p(x) = ln(1 + x) first (x > -1)")
      .of_strings()
      .or_scalar();
  s.choice("split", {"train", "valid", "all"},
           "train and valid divide the rows (valid: a seeded random valid_fraction); all: "
           "every row")
      .def("train");
  s.number("valid_fraction", "share of the rows in the valid split").def(0.2).range(0, 0.99);
  s.integer("seed", "seed of the permutation that picks the valid rows").def(42).min(0);
  s.boolean("header", "the first row names the columns (else they are named 0, 1, ...)")
      .def(true);
  s.string("delimiter", "the field separator, one character").def(",");
  s.integer("skip_rows",
            "lines to skip before the header (1 for scikit-learn's CSVs, whose first line is "
            "'569,30,malignant,benign')")
      .def(0)
      .min(0);
  return s;
}

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};

Stats stats_of(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / double(v.size());
  double var = 0;
  for (double x : v) var += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(var / double(v.size()));
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

class CsvDataset : public CategoricalDataset {
 public:
  explicit CsvDataset(const Params& p);
  std::vector<std::string> category_columns() const override { return map_order_; }
  const std::vector<std::string>& categories(const std::string& column) const override {
    if (auto it = maps_.find(column); it != maps_.end()) return it->second;
    throw Error(fmt::format("{}: column '{}' has no category map (maps: {})", kOwner, column,
                            fmt::join(map_order_, ", ")));
  }

  int64_t size() const override { return int64_t(target_class_.size() + target_value_.size()); }
  int64_t num_classes() const override { return int64_t(classes_.size()); }
  Shape input_shape() const override { return {features_}; }
  std::string describe() const override { return describe_; }
  Config info() const override { return info_; }
  Batch get_batch(const std::vector<int64_t>& indices) const override;

 private:
  int64_t features_ = 0;
  std::vector<float> x_;  // [rows, features_]
  std::vector<int64_t> target_class_;
  std::vector<float> target_value_;
  std::vector<std::string> classes_;
  std::map<std::string, std::vector<std::string>> maps_;  // raw values by index, per column
  std::vector<std::string> map_order_;
  Config info_;
  std::string describe_;
};

CsvDataset::CsvDataset(const Params& p) {
  const std::string path = p.s("path");
  const std::string split = p.s("split");
  const bool classification = p.s("task") == "classification";
  csv::Options opt;
  if (p.s("delimiter").size() != 1)
    throw Error(fmt::format("delimiter must be one character, not '{}'", p.s("delimiter")));
  opt.delimiter = p.s("delimiter")[0];
  opt.header = p.b("header");
  opt.skip_rows = p.i("skip_rows");
  const csv::Table t = csv::parse(read_file_bytes(path, "csv"), path, opt);
  const ColumnLookup cols(t.columns, path);
  const auto n = int64_t(t.rows.size());

  const size_t target = cols.find(p.s("target"), "target");
  const ColumnRoles roles = assign_roles(p, cols, t, target);

  // The rows of this split, and the training rows that every statistic comes from.
  const double fraction = p.f("valid_fraction");
  Holdout h = holdout(n, fraction, uint64_t(p.i("seed")));
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[size_t(i)] = i;
  const std::vector<int64_t>& train = split == "all" ? all : h.train;
  const std::vector<int64_t>& rows = split == "valid" ? h.valid : train;
  if (rows.empty() || train.empty())
    throw Error(fmt::format("split '{}' of {} has no {}rows ({} rows, valid_fraction {})", split,
                            path, rows.empty() ? "" : "training ", n, fraction));
  auto line_of = [&](int64_t r) { return fmt::format("{}:{}", path, t.lines[size_t(r)]); };

  // The target.
  const std::string& tname = t.columns[target];
  for (int64_t r = 0; r < n; ++r)
    if (csv::is_missing(t.rows[size_t(r)][target]))
      throw Error(fmt::format("{}: the target '{}' is missing", line_of(r), tname));
  if (classification) {
    std::vector<std::string> values;
    for (const auto& row : t.rows) values.push_back(row[target]);
    classes_ = sorted_distinct(values);
    const std::map<std::string, int64_t> id = index_of(classes_, 0);
    for (int64_t r : rows) target_class_.push_back(id.at(t.rows[size_t(r)][target]));
    Value::List names(classes_.begin(), classes_.end());
    info_["classes"] = names;
    maps_[tname] = classes_;
  } else {
    std::vector<double> train_values;
    for (int64_t r = 0; r < n; ++r) {
      const auto v = csv::to_number(t.rows[size_t(r)][target]);
      if (!v)
        throw Error(fmt::format("{}: the target '{}' is '{}', not a number (task = regression)",
                                line_of(r), tname, t.rows[size_t(r)][target]));
    }
    for (int64_t r : train) train_values.push_back(*csv::to_number(t.rows[size_t(r)][target]));
    for (int64_t r : rows) target_value_.push_back(float(*csv::to_number(t.rows[size_t(r)][target])));
    const Stats s = stats_of(train_values);
    info_["target_mean"] = s.mean;
    info_["target_std"] = s.std;
    info_["target_min"] = s.min;
    info_["target_max"] = s.max;
  }

  // Categorical columns: indices fitted on the training rows.
  const bool mode_fill = p.s("categorical_missing") == "mode";
  features_ = int64_t(roles.categorical.size() + roles.continuous.size());
  x_.assign(rows.size() * size_t(features_), 0.f);
  Value::List cat_names, cardinalities, cont_names, means, stds;
  int64_t f = 0;
  for (size_t c : roles.categorical) {
    std::vector<std::string> seen;
    for (int64_t r : train)
      if (!csv::is_missing(t.rows[size_t(r)][c])) seen.push_back(t.rows[size_t(r)][c]);
    const std::vector<std::string> categories = sorted_distinct(seen);
    const std::map<std::string, int64_t> id = index_of(categories, 1);
    int64_t fill = 0;
    std::string fill_name = "#na#";
    if (mode_fill && !seen.empty()) {
      fill_name = mode_of(seen, categories);
      fill = id.at(fill_name);
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::string& cell = t.rows[size_t(rows[i])][c];
      int64_t v = 0;
      if (csv::is_missing(cell)) {
        v = fill;
      } else if (auto it = id.find(cell); it != id.end()) {
        v = it->second;
      }
      x_[i * size_t(features_) + size_t(f)] = float(v);
    }
    cat_names.emplace_back(t.columns[c]);
    cardinalities.emplace_back(int64_t(categories.size() + 1));
    info_["fill." + t.columns[c]] = fill_name;
    std::vector<std::string>& map = maps_[t.columns[c]];
    map.push_back("#na#");
    map.insert(map.end(), categories.begin(), categories.end());
    map_order_.push_back(t.columns[c]);
    ++f;
  }

  // Continuous columns: log1p where asked, the fill (fitted on the training rows), then the
  // training mean and std standardise.
  std::vector<std::string> cont_columns;
  for (size_t c : roles.continuous) cont_columns.push_back(t.columns[c]);
  const auto named = [&](const char* key) {
    const std::vector<std::string> names = p.has(key) ? p.list_s(key) : std::vector<std::string>{};
    for (const auto& n : names)
      if (std::find(cont_columns.begin(), cont_columns.end(), n) == cont_columns.end())
        throw Error(fmt::format("{}: '{}' is not a continuous column (continuous: {})", key, n,
                                fmt::join(cont_columns, ", ")));
    return std::set<std::string>(names.begin(), names.end());
  };
  const std::set<std::string> logged = named("log"), unscaled = named("unscaled");
  const std::string fill_by = p.s("fill");
  Value::List log_names;
  for (size_t c : roles.continuous) {
    const bool log = logged.count(t.columns[c]) > 0;
    auto value = [&](int64_t r) -> std::optional<double> {
      auto v = csv::to_number(t.rows[size_t(r)][c]);
      if (!v || !log) return v;
      if (*v <= -1)
        throw Error(fmt::format("{}: '{}' is {}, but log1p needs values above -1", line_of(r),
                                t.columns[c], *v));
      return std::log1p(*v);
    };
    std::vector<double> present;
    for (int64_t r : train)
      if (auto v = value(r)) present.push_back(*v);
    if (present.empty() && fill_by != "constant")
      throw Error(fmt::format("continuous column '{}' of {} has no value in the {} training rows",
                              t.columns[c], path, train.size()));
    const double fill = fill_by == "median" ? median_of(present)
                        : fill_by == "mean" ? stats_of(present).mean
                                            : p.f("fill_value");
    std::vector<double> filled;
    for (int64_t r : train) filled.push_back(value(r).value_or(fill));
    const Stats s = stats_of(filled);
    const bool scale = p.b("standardize") && !unscaled.count(t.columns[c]);
    const double mean = scale ? s.mean : 0, std = scale ? s.std + 1e-7 : 1;
    for (size_t i = 0; i < rows.size(); ++i)
      x_[i * size_t(features_) + size_t(f)] = float((value(rows[i]).value_or(fill) - mean) / std);
    cont_names.emplace_back(t.columns[c]);
    means.emplace_back(mean);
    stds.emplace_back(std);
    info_["fill." + t.columns[c]] = fill;
    if (log) log_names.emplace_back(t.columns[c]);
    ++f;
  }
  info_["fill"] = fill_by;
  info_["log"] = log_names;
  if (classification) map_order_.push_back(tname);  // the target's map last
  info_["categorical"] = cat_names;
  info_["cardinalities"] = cardinalities;
  info_["continuous"] = cont_names;
  info_["means"] = means;
  info_["stds"] = stds;
  info_["categorical_missing"] = p.s("categorical_missing");
  info_["rows"] = int64_t(rows.size());
  describe_ = fmt::format("csv {} {}: {} of {} rows, {} categorical + {} continuous columns, {}",
                          std::filesystem::path(path).filename().string(), split, rows.size(), n,
                          roles.categorical.size(), roles.continuous.size(),
                          classification ? fmt::format("{} classes of '{}'", classes_.size(), tname)
                                         : fmt::format("regression of '{}'", tname));
}

Batch CsvDataset::get_batch(const std::vector<int64_t>& indices) const {
  const auto b = int64_t(indices.size());
  const bool classification = !classes_.empty();
  Batch out;
  out.input = Tensor::empty({b, features_});
  out.target = classification ? Tensor::empty({b}, {DType::I64}) : Tensor::empty({b, 1});
  float* x = b && features_ ? out.input.data<float>() : nullptr;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t k = indices[size_t(i)];
    if (k < 0 || k >= size())
      throw Error(fmt::format("{}: index {} is out of range [0, {})", kOwner, k, size()));
    if (x)
      std::copy_n(x_.data() + k * features_, features_, x + i * features_);
    if (classification)
      out.target.data<int64_t>()[i] = target_class_[size_t(k)];
    else
      out.target.data<float>()[i] = target_value_[size_t(k)];
  }
  return out;
}

}  // namespace

void register_csv() {
  register_dataset("csv", "a CSV table for classification or regression (fastai-style preprocessing)",
                   csv_schema(), [](const Params& p) -> std::shared_ptr<Dataset> {
                     return std::make_shared<CsvDataset>(p);
                   });
}

}  // namespace gom::datasets
