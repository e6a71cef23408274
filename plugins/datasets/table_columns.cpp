// Columns of a parsed table; see table_columns.h.
#include "table_columns.h"

#include <fmt/format.h>

#include <algorithm>

namespace gom::datasets {

ColumnLookup::ColumnLookup(const std::vector<std::string>& columns, std::string path)
    : columns_(columns), path_(std::move(path)) {}

size_t ColumnLookup::find(const std::string& name, const std::string& role) const {
  const auto it = std::find(columns_.begin(), columns_.end(), name);
  if (it != columns_.end()) return size_t(it - columns_.begin());
  const auto near = closest(name, columns_);
  constexpr size_t kShown = 40;
  std::vector<std::string> shown(columns_.begin(),
                                 columns_.begin() + std::min(columns_.size(), kShown));
  std::string list = fmt::format("{}", fmt::join(shown, ", "));
  if (columns_.size() > kShown) list += fmt::format(", ... ({} more)", columns_.size() - kShown);
  throw Error(fmt::format("{} '{}' is not a column of {}{}; columns: {}", role, name, path_,
                          near ? " (did you mean '" + *near + "'?)" : "", list));
}

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  size_t from = 0;
  while (from <= list.size()) {
    size_t to = list.find(',', from);
    if (to == std::string::npos) to = list.size();
    std::string name = list.substr(from, to - from);
    const size_t a = name.find_first_not_of(" \t"), b = name.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(name.substr(a, b - a + 1));
    from = to + 1;
  }
  return out;
}

ColumnRoles assign_roles(const Params& p, const ColumnLookup& cols, const csv::Table& t,
                         size_t target) {
  const std::vector<std::string>& names = cols.columns();
  enum Role { Unset, Target, Ignored, Categorical, Continuous };
  std::vector<Role> role(names.size(), Unset);
  role[target] = Target;
  const char* role_name[] = {"", "the target", "ignore", "categorical", "continuous"};
  ColumnRoles out;
  auto take = [&](const char* key, Role r, std::vector<size_t>* into) {
    if (!p.has(key)) return false;
    std::vector<std::string> names_given;
    for (const std::string& item : p.list_s(key))
      for (std::string& name : split_names(item)) names_given.push_back(std::move(name));
    for (const std::string& name : names_given) {
      const size_t c = cols.find(name, key);
      if (role[c] != Unset)
        throw Error(fmt::format("column '{}' is listed in {} but is already {}", name, key,
                                role[c] == Target ? "the target"
                                                  : fmt::format("in {}", role_name[role[c]])));
      role[c] = r;
      if (into) into->push_back(c);
    }
    return true;
  };
  take("ignore", Ignored, nullptr);
  const bool cat_given = take("categorical", Categorical, &out.categorical);
  const bool cont_given = take("continuous", Continuous, &out.continuous);

  auto all_numbers = [&](size_t c) {
    for (const auto& row : t.rows)
      if (!csv::is_missing(row[c]) && !csv::to_number(row[c])) return false;
    return true;
  };
  for (size_t c = 0; c < names.size(); ++c) {
    if (role[c] != Unset) continue;
    if (cat_given && cont_given)
      throw Error(fmt::format("column '{}' is in neither categorical nor continuous; add it to "
                              "one, or to ignore to drop it",
                              names[c]));
    const bool categorical = cont_given || (!cat_given && !all_numbers(c));
    (categorical ? out.categorical : out.continuous).push_back(c);
  }
  for (size_t c : out.continuous)
    for (size_t r = 0; r < t.rows.size(); ++r) {
      const std::string& cell = t.rows[r][c];
      if (!csv::is_missing(cell) && !csv::to_number(cell))
        throw Error(fmt::format(
            "{}:{}: column '{}' is continuous but has '{}', not a number; list it in "
            "categorical or ignore",
            cols.path(), t.lines[r], names[c], cell));
    }
  return out;
}

std::vector<std::string> sorted_distinct(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  bool numbers = true;
  for (const std::string& v : values) numbers = numbers && csv::to_number(v).has_value();
  if (numbers)
    std::stable_sort(values.begin(), values.end(), [](const std::string& a, const std::string& b) {
      return *csv::to_number(a) < *csv::to_number(b);
    });
  return values;
}

std::map<std::string, int64_t> index_of(const std::vector<std::string>& sorted, int64_t first) {
  std::map<std::string, int64_t> id;
  for (size_t k = 0; k < sorted.size(); ++k) id.emplace(sorted[k], int64_t(k) + first);
  return id;
}

std::string mode_of(const std::vector<std::string>& values,
                    const std::vector<std::string>& sorted) {
  std::map<std::string, int64_t> count;
  for (const std::string& v : values) ++count[v];
  std::string best;
  int64_t most = -1;
  for (const std::string& v : sorted)
    if (count[v] > most) {
      most = count[v];
      best = v;
    }
  return best;
}

}  // namespace gom::datasets
