// gom_core/text_table.h — plain-text layout for the terminal (the CLI, league tables printed by
// scripts): aligned columns and wrapped lists. Host-level API, not the SDK.
#pragma once

#include <string>
#include <vector>

namespace gom {

using Row = std::vector<std::string>;

/// @brief s with control characters (newlines, escape sequences, C1 controls) written as
/// \n, \t, \r, \x1b, \u009b: stored text (run names, errors) cannot move the cursor or
/// recolour the terminal.
std::string escape_text(const std::string& s);

/// @brief Rows as columns two spaces apart (each cell through escape_text), each line prefixed
/// by `indent`; the last column is not padded. Widths count UTF-8 characters, so docs with "β"
/// or "—" still line up.
std::string table(const std::vector<Row>& rows, const std::string& indent = "  ");

/// @brief Words joined by ", " and wrapped before `width` columns, each line prefixed by
/// `indent`.
std::string wrap_list(const std::vector<std::string>& words, const std::string& indent,
                      size_t width = 100);

}  // namespace gom
