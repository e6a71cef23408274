// Ratings files; see ratings_format.h.
#include "ratings_format.h"

#include "csv_format.h"
#include "gom/error.h"

namespace gom::ratings {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

[[noreturn]] void fail(const std::string& name, int64_t line, const std::string& problem) {
  throw Error(name + ":" + std::to_string(line) + ": " + problem);
}

Rating make(const std::string& name, int64_t line, std::string user, std::string item,
            std::string_view rating) {
  if (user.empty()) fail(name, line, "empty user id");
  if (item.empty()) fail(name, line, "empty item id");
  const auto r = csv::to_number(rating);
  if (!r) fail(name, line, "rating '" + std::string(rating) + "' is not a number");
  return {std::move(user), std::move(item), *r, line};
}

std::vector<Rating> parse_udata(std::string_view text, const std::string& name) {
  std::vector<Rating> out;
  int64_t line = 0;
  size_t from = 0;
  while (from < text.size()) {
    ++line;
    size_t to = text.find('\n', from);
    if (to == std::string_view::npos) to = text.size();
    std::string_view l = text.substr(from, to - from);
    from = to + 1;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty()) continue;
    std::vector<std::string_view> f;
    for (size_t a = 0;;) {
      const size_t b = l.find('\t', a);
      f.push_back(l.substr(a, b == std::string_view::npos ? std::string_view::npos : b - a));
      if (b == std::string_view::npos) break;
      a = b + 1;
    }
    if (f.size() != 3 && f.size() != 4)
      fail(name, line,
           std::to_string(f.size()) + (f.size() == 1 ? " field" : " fields") +
               "; u.data lines have 4 separated by tabs (user, item, rating, timestamp) or 3");
    out.push_back(make(name, line, std::string(f[0]), std::string(f[1]), f[2]));
  }
  if (out.empty()) throw Error(name + ": no ratings (empty file)");
  return out;
}

size_t column(const csv::Table& t, const std::string& name, const std::string& wanted,
              const char* key) {
  for (size_t c = 0; c < t.columns.size(); ++c)
    if (t.columns[c] == wanted) return c;
  std::string list;
  for (const std::string& c : t.columns) list += (list.empty() ? "" : ", ") + c;
  throw Error(name + ": no column '" + wanted + "' in the header (columns: " + list + "); set " +
              key + " to the name of the " + key + " column");
}

std::vector<Rating> parse_csv(std::string_view text, const std::string& name,
                              const CsvColumns& cols) {
  csv::Options o;
  o.delimiter = cols.delimiter;
  const csv::Table t = csv::parse(text, name, o);
  const size_t u = column(t, name, cols.user, "user");
  const size_t i = column(t, name, cols.item, "item");
  const size_t r = column(t, name, cols.rating, "rating");
  std::vector<Rating> out;
  out.reserve(t.rows.size());
  for (size_t k = 0; k < t.rows.size(); ++k)
    out.push_back(make(name, t.lines[k], t.rows[k][u], t.rows[k][i], t.rows[k][r]));
  return out;
}

}  // namespace

Format detect(const std::string& name, std::string_view text) {
  if (ends_with(name, ".data") || ends_with(name, ".tsv")) return Format::Udata;
  if (ends_with(name, ".csv")) return Format::Csv;
  const std::string_view first = text.substr(0, text.find('\n'));
  return first.find('\t') != std::string_view::npos ? Format::Udata : Format::Csv;
}

std::vector<Rating> parse(std::string_view text, const std::string& name, Format f,
                          const CsvColumns& columns) {
  return f == Format::Udata ? parse_udata(text, name) : parse_csv(text, name, columns);
}

}  // namespace gom::ratings
