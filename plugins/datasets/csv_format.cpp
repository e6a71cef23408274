// The RFC 4180 CSV parser; see csv_format.h.
#include "csv_format.h"

#include <charconv>
#include <cmath>
#include <map>

#include "gom/error.h"

namespace gom::csv {

namespace {

class Parser {
 public:
  Parser(std::string_view text, const std::string& name, char delimiter)
      : s_(text), name_(name), delim_(delimiter) {}

  [[noreturn]] void fail(int64_t line, const std::string& problem) const {
    throw Error(name_ + ":" + std::to_string(line) + ": " + problem);
  }

  bool done() const { return i_ >= s_.size(); }
  bool at_line_break() const { return !done() && (s_[i_] == '\n' || s_[i_] == '\r'); }
  int64_t line() const { return line_; }

  // Skips one physical line, its line break included; false at the end of the text.
  bool skip_line() {
    if (done()) return false;
    while (!done() && s_[i_] != '\n' && s_[i_] != '\r') ++i_;
    line_break();
    return true;
  }

  // Reads one record (at least one field); the line break after it is consumed.
  std::vector<std::string> record() {
    std::vector<std::string> fields;
    for (;;) {
      fields.push_back(field(fields.size() + 1));
      if (done()) return fields;
      if (s_[i_] == delim_) {
        ++i_;
        continue;
      }
      line_break();  // field() stops only at a delimiter, a line break or the end
      return fields;
    }
  }

  // The current position is a line break (or the end): consumes it.
  void line_break() {
    if (done()) return;
    if (s_[i_] == '\r' && i_ + 1 < s_.size() && s_[i_ + 1] == '\n') ++i_;
    ++i_;
    ++line_;
  }

 private:
  std::string field(size_t number) {
    std::string out;
    if (!done() && s_[i_] == '"') {
      const int64_t opened = line_;
      ++i_;
      for (;;) {
        if (done())
          fail(opened, "unterminated quoted field: the quote that opens field " +
                           std::to_string(number) + " on line " + std::to_string(opened) +
                           " is never closed");
        const char c = s_[i_];
        if (c == '"') {
          if (i_ + 1 < s_.size() && s_[i_ + 1] == '"') {
            out += '"';
            i_ += 2;
            continue;
          }
          ++i_;
          break;
        }
        if (c == '\r' || c == '\n') {  // a line break inside quotes is part of the field
          const size_t from = i_;
          line_break();
          out.append(s_.substr(from, i_ - from));
          continue;
        }
        out += c;
        ++i_;
      }
      if (!done() && s_[i_] != delim_ && s_[i_] != '\n' && s_[i_] != '\r')
        fail(line_, "text after the closing quote of field " + std::to_string(number) +
                        " (a quote inside a quoted field is written twice: \"\")");
      return out;
    }
    const size_t from = i_;
    while (!done() && s_[i_] != delim_ && s_[i_] != '\n' && s_[i_] != '\r') {
      if (s_[i_] == '"')
        fail(line_, "a quote inside unquoted field " + std::to_string(number) +
                        " (quote the whole field and write the quote twice: \"\")");
      ++i_;
    }
    return std::string(s_.substr(from, i_ - from));
  }

  std::string_view s_;
  const std::string& name_;
  char delim_;
  size_t i_ = 0;
  int64_t line_ = 1;
};

std::string fields(size_t n) {
  return std::to_string(n) + (n == 1 ? " field" : " fields");
}

}  // namespace

Table parse(std::string_view text, const std::string& name, const Options& o) {
  if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r')
    throw Error(name + ": the delimiter cannot be a quote or a line break");
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  Parser p(text, name, o.delimiter);
  for (int64_t k = 0; k < o.skip_rows; ++k)
    if (!p.skip_line())
      throw Error(name + ": skip_rows is " + std::to_string(o.skip_rows) + " but the file has " +
                  std::to_string(k) + (k == 1 ? " line" : " lines"));

  Table t;
  bool have_width = false;
  size_t width = 0;
  int64_t header_line = 0;
  while (!p.done()) {
    if (p.at_line_break()) {  // an empty line
      p.line_break();
      continue;
    }
    const int64_t line = p.line();
    std::vector<std::string> rec = p.record();
    if (!have_width) {
      have_width = true;
      width = rec.size();
      if (o.header) {
        header_line = line;
        std::map<std::string, size_t> seen;
        for (size_t k = 0; k < rec.size(); ++k) {
          if (rec[k].empty()) rec[k] = "Unnamed: " + std::to_string(k);
          const auto [it, fresh] = seen.emplace(rec[k], k + 1);
          if (!fresh)
            p.fail(line, "column '" + rec[k] + "' appears twice in the header (fields " +
                             std::to_string(it->second) + " and " + std::to_string(k + 1) + ")");
        }
        t.columns = std::move(rec);
        continue;
      }
      for (size_t k = 0; k < width; ++k) t.columns.push_back(std::to_string(k));
    }
    if (rec.size() != width)
      p.fail(line, fields(rec.size()) + ", " + (o.header ? "the header has " : "the first row has ") +
                       std::to_string(width));
    t.rows.push_back(std::move(rec));
    t.lines.push_back(line);
  }
  if (!have_width) throw Error(name + ": empty file" + (o.skip_rows ? " after skip_rows" : ""));
  if (t.rows.empty())
    throw Error(name + ": no data rows after the header on line " + std::to_string(header_line));
  return t;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool is_missing(std::string_view cell) {
  cell = trim(cell);
  if (cell.empty() || cell == "NA" || cell == "?") return true;
  if (cell.size() != 3) return false;
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
  return lower(cell[0]) == 'n' && lower(cell[1]) == 'a' && lower(cell[2]) == 'n';
}

std::optional<double> to_number(std::string_view cell) {
  cell = trim(cell);
  if (!cell.empty() && cell.front() == '+') {
    cell.remove_prefix(1);
    if (cell.empty() || cell.front() == '-') return std::nullopt;
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec != std::errc() || end != cell.data() + cell.size() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

}  // namespace gom::csv
