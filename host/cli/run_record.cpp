// What `gom run` records to resume a run, and the checks before it resumes one.
#include "run_record.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
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
