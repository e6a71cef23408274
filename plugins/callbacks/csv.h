// RFC 4180 text, for csv_logger: quoting a field, and splitting a file into records and fields.
#pragma once

#include <string>
#include <vector>

namespace gom::callbacks::csv {

/// @brief The field as written: quoted, with its quotes doubled, when it holds a comma, a quote or
/// a line break; else as it is.
inline std::string quote(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

/// @brief The records of a CSV text, without their line ends (CRLF or LF); a line break inside
/// quotes stays in its record.
inline std::vector<std::string> records(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == '\n' || c == '\r')) {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

/// @brief The fields of one record, unquoted.
inline std::vector<std::string> fields(const std::string& record) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < record.size(); ++i) {
    const char c = record[i];
    if (quoted && c == '"' && i + 1 < record.size() && record[i + 1] == '"') {
      out.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

}  // namespace gom::callbacks::csv
