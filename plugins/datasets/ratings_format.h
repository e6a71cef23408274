// ratings_format.h — (user, item, rating) triples from a CSV file with a header, or from
// MovieLens' u.data (user TAB item TAB rating TAB timestamp, no header). std only: the fuzz
// target fuzz/ratings_fuzz.cpp compiles this file (with csv_format.cpp) alone.
//
// Errors are gom::Errors "NAME:LINE: problem" or "NAME: problem" with a stable wording.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gom::ratings {

enum class Format { Csv, Udata };

struct Rating {
  std::string user, item;  ///< the ids as written in the file
  double rating = 0;
  int64_t line = 0;  ///< where it was read
};

/// @brief The columns of a CSV file to read, and its delimiter.
struct CsvColumns {
  std::string user = "user", item = "item", rating = "rating";
  char delimiter = ',';
};

/// @brief Udata for a name ending in .data or .tsv, Csv for .csv; otherwise Udata when the
/// first line has a tab, else Csv.
Format detect(const std::string& name, std::string_view text);

/// @brief The ratings in `text`; `name` starts every message. An empty user or item id, a
/// rating that is not a finite number, a wrong number of fields and a file without ratings are
/// errors.
std::vector<Rating> parse(std::string_view text, const std::string& name, Format f,
                          const CsvColumns& columns = {});

}  // namespace gom::ratings
