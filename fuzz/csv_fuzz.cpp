// libFuzzer target for the CSV parser (plugins/datasets/csv_format.cpp).
//
// Each input is parsed with several option sets (delimiters, header or not, a skipped line).
// Besides the sanitizers' findings, a crash is: an exception that is not gom::Error, a message
// that does not start with the file's name, a table that breaks the format's promises (ragged
// rows, lines out of order, empty or repeated column names), a table that does not come back
// the same after being written out again fully quoted with CRLF line ends, or a cell that is
// both missing and a number.
//
// Built by fuzz/build.sh --target csv (clang, -fsanitize=fuzzer) or, when the compiler is
// clang, by CMake; the same entry runs under g++ over fuzz/corpus/csv through corpus_main.cpp
// (ctest fuzz_csv_corpus).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "csv_format.h"
#include "gom/error.h"

namespace {

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "csv_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

std::string quoted(const std::string& cell) {
  std::string out = "\"";
  for (char c : cell) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string write_back(const gom::csv::Table& t, const gom::csv::Options& o) {
  std::string out;
  auto row = [&](const std::vector<std::string>& r) {
    for (size_t k = 0; k < r.size(); ++k) out += (k ? std::string(1, o.delimiter) : "") + quoted(r[k]);
    out += "\r\n";
  };
  if (o.header) row(t.columns);
  for (const auto& r : t.rows) row(r);
  return out;
}

void check(const gom::csv::Table& t, const gom::csv::Options& o, std::string_view text) {
  if (t.columns.empty() || t.rows.empty()) broken("empty table", "");
  std::set<std::string> names;
  for (const std::string& c : t.columns) {
    if (c.empty()) broken("empty column name", "");
    if (!names.insert(c).second) broken("repeated column name", c);
  }
  if (t.lines.size() != t.rows.size()) broken("lines", "one per row");
  for (size_t r = 0; r < t.rows.size(); ++r) {
    if (t.rows[r].size() != t.columns.size()) broken("ragged row", std::to_string(r));
    if (t.lines[r] < 1 || (r && t.lines[r] <= t.lines[r - 1]))
      broken("lines out of order", std::to_string(t.lines[r]));
    for (const std::string& cell : t.rows[r])
      if (gom::csv::is_missing(cell) && gom::csv::to_number(cell))
        broken("missing and a number", cell);
  }
  if (t.lines.back() > int64_t(text.size()) + 1) broken("line past the end", "");
  gom::csv::Options again = o;
  again.skip_rows = 0;
  const std::string out = write_back(t, again);
  const gom::csv::Table u = gom::csv::parse(out, "again.csv", again);
  if (u.columns != t.columns || u.rows != t.rows) broken("write-back differs", out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (char delimiter : {',', ';', '\t'})
    for (bool header : {true, false})
      for (int64_t skip : {0, 1}) {
        gom::csv::Options o;
        o.delimiter = delimiter;
        o.header = header;
        o.skip_rows = skip;
        try {
          check(gom::csv::parse(text, "fuzz.csv", o), o, text);
        } catch (const gom::Error& e) {
          const std::string what = e.what();
          if (what.rfind("fuzz.csv:", 0) != 0) broken("message does not name the file", what);
        }
      }
  return 0;
}
