// libFuzzer target for the ratings reader (plugins/datasets/ratings_format.cpp, with the CSV
// parser under it).
//
// Each input is read as u.data, as CSV with the default column names and with a semicolon, and
// in the detected format. Besides the sanitizers' findings, a crash is: an exception that is not
// gom::Error, a message that does not start with the file's name, or a result with an empty id,
// a rating that is not finite, no ratings, or lines out of order.
//
// Built by fuzz/build.sh --target ratings; the ctest fuzz_ratings_corpus runs it over
// fuzz/corpus/ratings through corpus_main.cpp.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gom/error.h"
#include "ratings_format.h"

namespace {

using gom::ratings::Format;

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "ratings_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void run(std::string_view text, Format f, char delimiter) {
  gom::ratings::CsvColumns cols;
  cols.delimiter = delimiter;
  try {
    const auto r = gom::ratings::parse(text, "fuzz.ratings", f, cols);
    if (r.empty()) broken("no ratings and no error", "");
    for (size_t k = 0; k < r.size(); ++k) {
      if (r[k].user.empty() || r[k].item.empty()) broken("empty id", std::to_string(r[k].line));
      if (!std::isfinite(r[k].rating)) broken("rating not finite", std::to_string(r[k].line));
      if (r[k].line < 1 || (k && r[k].line <= r[k - 1].line))
        broken("lines out of order", std::to_string(r[k].line));
    }
  } catch (const gom::Error& e) {
    const std::string what = e.what();
    if (what.rfind("fuzz.ratings:", 0) != 0) broken("message does not name the file", what);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  run(text, Format::Udata, ',');
  run(text, Format::Csv, ',');
  run(text, Format::Csv, ';');
  run(text, gom::ratings::detect("fuzz.ratings", text), ',');
  return 0;
}
