// check_parse.cpp — the check lines of a check file (gom_core/check.h says which), read without
// running Lua.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "gom/error.h"
#include "gom/metric.h"
#include "gom_core/check.h"

namespace gom::check {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAccepted =
    "accepted: '-- check: METRIC >= NUMBER' (or <=, >, <), '-- check: METRIC not worse than "
    "baseline by TOLERANCE' (optionally followed by (maximize) or (minimize)), "
    "'-- check-seeds: N', '-- check-set: KEY=VALUE', '-- check-script: PATH'";

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::optional<double> number(const std::string& s) {
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

struct LineError {
  std::string message;
};

Claim parse_claim(const std::string& text) {
  static const std::regex threshold(R"(^([A-Za-z_][A-Za-z0-9_.\-]*)\s*(>=|<=|>|<)\s*(\S+)$)");
  static const std::regex baseline(
      R"(^([A-Za-z_][A-Za-z0-9_.\-]*)\s+not\s+worse\s+than\s+baseline\s+by\s+(\S+?))"
      R"((?:\s*\((maximize|minimize)\))?$)");
  Claim c;
  c.text = text;
  std::smatch m;
  if (std::regex_match(text, m, threshold)) {
    c.metric = m[1];
    const std::string op = m[2];
    c.comparison = op == ">="   ? Comparison::kAtLeast
                   : op == "<=" ? Comparison::kAtMost
                   : op == ">"  ? Comparison::kAbove
                                : Comparison::kBelow;
    c.maximize = op[0] == '>';
    const auto v = number(m[3]);
    if (!v) throw LineError{fmt::format("the threshold '{}' is not a number", m[3].str())};
    c.value = *v;
    return c;
  }
  if (std::regex_match(text, m, baseline)) {
    c.metric = m[1];
    c.comparison = Comparison::kNotWorseThanBaseline;
    const auto v = number(m[2]);
    if (!v || *v < 0)
      throw LineError{fmt::format("the tolerance '{}' is not a number at least 0", m[2].str())};
    c.value = *v;
    if (m[3].matched) {
      c.maximize = m[3] == "maximize";
    } else {
      const MetricDirection d = metric_info_by_name(c.metric).direction;
      if (d == MetricDirection::None)
        throw LineError{
            fmt::format("gom cannot tell from the name {} whether higher or lower is better; "
                        "end the line with (maximize) or (minimize)",
                        c.metric)};
      c.maximize = d == MetricDirection::Maximize;
    }
    return c;
  }
  throw LineError{fmt::format("'{}' is not a claim", text)};
}

}  // namespace

const char* comparison_text(Comparison c) {
  switch (c) {
    case Comparison::kAtLeast:
      return ">=";
    case Comparison::kAtMost:
      return "<=";
    case Comparison::kAbove:
      return ">";
    case Comparison::kBelow:
      return "<";
    case Comparison::kNotWorseThanBaseline:
      return "not worse than baseline by";
  }
  return "?";
}

CheckFile parse_check_text(const std::string& text, const std::string& path) {
  // "-- check:" or "-- check-WORD:" at the start of a line (after blanks) is a check line.
  static const std::regex check_line(R"(^\s*--\s*check(-[A-Za-z_]+)?\s*:(.*)$)");
  CheckFile f;
  f.path = path;
  f.name = fs::path(path).stem().string();
  std::optional<std::string> script;
  std::istringstream in(text);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    std::smatch m;
    if (!std::regex_match(line, m, check_line)) continue;
    const std::string kind = m[1].matched ? m[1].str().substr(1) : "";
    std::string rest = m[2];
    // A comment may follow: "-- check: acc >= 0.9  -- the paper's value".
    static const std::regex trailing(R"(\s--.*$)");
    rest = trim(std::regex_replace(rest, trailing, ""));
    try {
      if (kind.empty()) {
        Claim c = parse_claim(rest);
        c.line = line_no;
        f.claims.push_back(std::move(c));
      } else if (kind == "seeds") {
        const auto v = number(rest);
        if (!v || *v < 1 || *v != std::floor(*v) || *v > 1e6)
          throw LineError{fmt::format("check-seeds '{}' is not a whole number at least 1", rest)};
        if (f.seeds) throw LineError{"check-seeds is given twice"};
        f.seeds = int64_t(*v);
      } else if (kind == "set") {
        const auto eq = rest.find('=');
        if (eq == std::string::npos || eq == 0)
          throw LineError{fmt::format("check-set '{}' is not KEY=VALUE", rest)};
        f.sets.emplace_back(trim(rest.substr(0, eq)), trim(rest.substr(eq + 1)));
      } else if (kind == "script") {
        if (rest.empty()) throw LineError{"check-script needs a PATH"};
        if (script) throw LineError{"check-script is given twice"};
        script = rest;
      } else {
        throw LineError{fmt::format("check-{} is not a check line", kind)};
      }
    } catch (const LineError& e) {
      throw Error(fmt::format("{}:{}: {}; {}", path, line_no, e.message, kAccepted));
    }
  }
  if (f.claims.empty())
    throw Error(fmt::format("{}: no '-- check:' line states a claim; {}", path, kAccepted));
  if (script) {
    const fs::path p(*script);
    f.script = p.is_absolute() ? p.string() : (fs::path(path).parent_path() / p).string();
  } else {
    f.script = path;
  }
  return f;
}

CheckFile parse_check_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read the check file {}", path));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_check_text(text.str(), path);
}

std::vector<std::string> check_files(const std::string& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {path};
  if (!fs::is_directory(path, ec))
    throw Error(fmt::format("{}: no such check file or folder", path));
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file() && e.path().extension() == ".lua") out.push_back(e.path().string());
  if (ec) throw Error(fmt::format("{}: cannot list the folder: {}", path, ec.message()));
  if (out.empty()) throw Error(fmt::format("{}: the folder has no .lua check files", path));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace gom::check
