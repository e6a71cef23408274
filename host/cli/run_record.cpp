// What `gom run` records to resume a run, and the checks before it resumes one.
#include "run_record.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <regex>
#include <utility>

#include "commands.h"

namespace gom::cli {

void record_overrides(RunRecorder& db, int64_t run_id, const std::vector<std::string>& sets) {
  if (sets.empty()) return;
  std::vector<std::pair<std::string, std::string>> rows;
  for (const std::string& s : sets) {
    const auto eq = s.find('=');  // parse_sets has checked there is one
    rows.emplace_back(s.substr(0, eq), eq == std::string::npos ? "" : s.substr(eq + 1));
  }
  db.log_overrides(run_id, rows);
  db.add_tag(run_id, "overrides", fmt::format("{}", fmt::join(sets, " ")));
}

std::vector<std::string> recorded_overrides(RunRecorder& db, const RunDetails& d) {
  std::vector<std::string> sets;
  if (auto rows = db.run_overrides(d.run.id)) {
    for (const auto& [k, v] : *rows) sets.push_back(k + "=" + v);
    return sets;
  }
  // The tag ("fit.epochs=1 lr=3e-3") is ambiguous where a value holds " KEY=": an item starts
  // only where a space is followed by KEY=, the best guess that is left.
  static const std::regex item_start(R"( (?=[A-Za-z_][A-Za-z0-9_.]*=))");
  for (const auto& [k, tag] : d.tags) {
    if (k != "overrides") continue;
    for (std::sregex_token_iterator it(tag.begin(), tag.end(), item_start, -1), end; it != end;
         ++it)
      if (it->length() > 0) sets.push_back(*it);
  }
  return sets;
}

void check_resumable(const RunDetails& d) {
  const RunRecord& r = d.run;
  if (r.status == "running" && r.pid && r.host)
    throw UsageError(fmt::format(
        "--resume {}: the run is still running (pid {} on {}, last heartbeat {}); stop it, or "
        "wait for it to end, before resuming it",
        r.id, *r.pid, *r.host, r.heartbeat_at.value_or("-")));
  // The script is run as stored: one whose text was changed in the database is not.
  const std::string actual = sha256_hex(d.script_text);
  if (r.script_sha256 != actual)
    throw UsageError(fmt::format(
        "--resume {}: the stored script text does not match its script_sha256 (recorded {}, the "
        "text has {}): the run database was changed; refusing to run it",
        r.id, r.script_sha256.empty() ? "none" : r.script_sha256, actual));
}

// A script is a regular file of at most this size: /dev/zero or a FIFO would be read forever,
// and the whole text is recorded with the run.
constexpr std::uintmax_t kMaxScriptBytes = 16u << 20;

std::string read_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!ec && fs::exists(st) && !fs::is_regular_file(st)) {
    const char* kind = fs::is_directory(st)        ? "a directory"
                       : fs::is_character_file(st) ? "a character device"
                       : fs::is_block_file(st)     ? "a block device"
                       : fs::is_fifo(st)           ? "a FIFO"
                       : fs::is_socket(st)         ? "a socket"
                                                   : "not a regular file";
    throw UsageError(fmt::format("the script {} is {}; give a Lua script file", path, kind));
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > kMaxScriptBytes)
    throw UsageError(
        fmt::format("the script {} has {} bytes; a script may have at most 16 MiB "
                    "({} bytes)",
                    path, size, kMaxScriptBytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("cannot read the script {}", path));
  std::string text;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, size_t(in.gcount()));
    if (text.size() > kMaxScriptBytes)  // it grew since it was measured
      throw UsageError(
          fmt::format("the script {} has more than 16 MiB ({} bytes)", path, kMaxScriptBytes));
  }
  return text;
}

std::map<std::string, std::string> parse_sets(const std::vector<std::string>& sets) {
  std::map<std::string, std::string> out;
  for (const std::string& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError(
          fmt::format("--set {}: expected KEY=VALUE (such as --set optimizer.lr=3e-3)", s));
    const std::string key = s.substr(0, eq);
    if (out.count(key)) throw UsageError(fmt::format("--set {}: '{}' is set twice", s, key));
    out[key] = s.substr(eq + 1);
  }
  return out;
}

CLI::Validator integer_range(int64_t lo, int64_t hi) {
  const std::string range = fmt::format("an integer from {} to {}", lo, hi);
  return CLI::Validator(
      [lo, hi, range](std::string& s) -> std::string {
        int64_t v = 0;
        const char* end = s.data() + s.size();
        const auto [p, ec] = std::from_chars(s.data(), end, v);
        if (ec == std::errc() && p == end && v >= lo && v <= hi) return "";
        return fmt::format("'{}' is not {}", s, range);
      },
      fmt::format("INT in [{} - {}]", lo, hi));
}

}  // namespace gom::cli
