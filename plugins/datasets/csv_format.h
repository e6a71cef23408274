// csv_format.h — an RFC 4180 CSV parser and the cell conventions of the csv and ratings
// datasets, on std only (the fuzz target fuzz/csv_fuzz.cpp compiles this file alone).
//
// Fields are separated by the delimiter; records end with CRLF, LF or CR, and the last one may
// end without. A field in double quotes may hold delimiters, line breaks and quotes written
// twice (""). A quote anywhere else, or text after a closing quote, is an error, as is a row
// with another number of fields than the header (or the first row). Lines with nothing on them
// are skipped; a UTF-8 byte order mark at the start is dropped. Errors are gom::Errors
// "NAME:LINE: problem" (lines count from 1 and include the skipped ones) or "NAME: problem".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gom::csv {

struct Options {
  char delimiter = ',';
  bool header = true;     ///< the first record names the columns; else they are "0", "1", ...
  int64_t skip_rows = 0;  ///< lines skipped before the header (or the first row), unparsed
};

struct Table {
  std::vector<std::string> columns;  ///< an empty header cell K is named "Unnamed: K"
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;  ///< line on which each row starts
};

/// @brief Parses `text`; `name` (the file's path) starts every message. Throws for malformed
/// input, an empty file and a file without data rows.
Table parse(std::string_view text, const std::string& name, const Options& o = {});

/// @brief A missing value: an empty cell, "NA", "?" or "nan" (any case), spaces around allowed.
bool is_missing(std::string_view cell);

/// @brief The finite number in `cell` (spaces around and a leading '+' allowed; "." decimal
/// point whatever the locale), or nothing.
std::optional<double> to_number(std::string_view cell);

}  // namespace gom::csv
