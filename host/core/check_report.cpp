// check_report.cpp — `gom check`'s report as a text table and as JUnit XML (gom_core/check.h).
#include <fmt/format.h>

#include "gom_core/check.h"
#include "gom_core/text_table.h"

namespace gom::check {
namespace {

std::string num(double v) {
  return std::isnan(v) ? "-" : fmt::format("{:.5g}", v);
}
std::string signed_num(double v) {
  return std::isnan(v) ? "-" : fmt::format("{:+.5g}", v);
}

// "0.8893 ± 0.0021 (n=3)": the mean and half the interval's width.
std::string mean_ci(double mean, const stats::Interval& ci, int n) {
  if (n == 0) return "- (n=0)";
  return fmt::format("{} ± {} (n={})", num(mean), num((ci.high - ci.low) / 2), n);
}

bool is_threshold(const Claim& c) {
  return c.comparison != Comparison::kNotWorseThanBaseline;
}

std::string baseline_cell(const ClaimResult& r) {
  const Judgement& j = r.judgement;
  if (is_threshold(r.claim)) return num(r.claim.value);
  return fmt::format("{}: {}", r.baseline, mean_ci(j.reference, j.baseline_ci, j.baseline_n));
}

std::string relative_cell(double rel) {
  return std::isnan(rel) ? "-" : fmt::format("{:+.2f}%", 100 * rel);
}

// What the table does not show: the interval of a baseline claim's difference, a note.
std::string detail(const ClaimResult& r) {
  const Judgement& j = r.judgement;
  std::string s;
  if (!is_threshold(r.claim) && j.baseline_n > 0 && j.n > 0)
    s = fmt::format("difference in the good direction {} 95% CI [{}, {}] ({}), tolerance {}",
                    signed_num(r.claim.maximize ? j.change : -j.change),
                    signed_num(j.difference_ci.low), signed_num(j.difference_ci.high),
                    j.paired ? "paired by seed" : "unpaired", num(r.claim.value));
  if (!j.note.empty()) s += (s.empty() ? "" : "; ") + j.note;
  return s;
}

int count(const std::vector<FileResult>& files, Verdict v) {
  int n = 0;
  for (const FileResult& f : files)
    for (const ClaimResult& c : f.claims) n += c.judgement.verdict == v;
  return n;
}

void property(std::string& out, const std::string& name, const std::string& value) {
  out += fmt::format("        <property name=\"{}\" value=\"{}\"/>\n", xml_escape(name),
                     xml_escape(value));
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if ((u < 0x20 && ch != '\t' && ch != '\n') || u == 0x7f)
          out += fmt::format("\\x{:02x}", u);
        else
          out += ch;
    }
  }
  return out;
}

std::string report_text(const std::vector<FileResult>& files) {
  std::vector<Row> rows{{"script", "metric", "claim", "direction", "baseline",
                         "candidate (mean ± 95% CI)", "change", "relative", "tolerance",
                         "verdict"}};
  std::string notes;
  int claims = 0;
  for (const FileResult& f : files)
    for (const ClaimResult& r : f.claims) {
      ++claims;
      const Judgement& j = r.judgement;
      const bool threshold = is_threshold(r.claim);
      rows.push_back(
          {f.file.name, r.claim.metric,
           threshold ? fmt::format("{} {}", comparison_text(r.claim.comparison), num(r.claim.value))
                     : "not worse than baseline",
           r.claim.maximize ? "maximize" : "minimize", baseline_cell(r), mean_ci(j.mean, j.ci, j.n),
           signed_num(j.change), relative_cell(j.relative), threshold ? "-" : num(r.claim.value),
           verdict_name(j.verdict)});
      const std::string d = detail(r);
      if (!d.empty())
        notes += fmt::format("  {}:{} {}: {}\n", f.file.name, r.claim.line, r.claim.metric, d);
    }
  return table(rows) + (notes.empty() ? "" : "\n" + notes) +
         fmt::format("\n{} claim{}: {} pass, {} inconclusive, {} fail\n", claims,
                     claims == 1 ? "" : "s", count(files, Verdict::kPass),
                     count(files, Verdict::kInconclusive), count(files, Verdict::kFail));
}

std::string junit_xml(const std::vector<FileResult>& files) {
  int tests = 0;
  double seconds = 0;
  for (const FileResult& f : files) {
    tests += int(f.claims.size());
    seconds += f.seconds;
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format(
      "<testsuites name=\"gom check\" tests=\"{}\" failures=\"{}\" errors=\"0\" "
      "skipped=\"0\" time=\"{:.3f}\">\n",
      tests, count(files, Verdict::kFail), seconds);
  for (const FileResult& f : files) {
    int failures = 0;
    for (const ClaimResult& r : f.claims) failures += r.judgement.verdict == Verdict::kFail;
    out += fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" "
        "time=\"{:.3f}\">\n",
        xml_escape(f.file.name), f.claims.size(), failures, f.seconds);
    out += "    <properties>\n";
    out += fmt::format("      <property name=\"file\" value=\"{}\"/>\n", xml_escape(f.file.path));
    out +=
        fmt::format("      <property name=\"script\" value=\"{}\"/>\n", xml_escape(f.file.script));
    out += fmt::format("      <property name=\"seeds\" value=\"{}\"/>\n", f.seeds);
    out += fmt::format("      <property name=\"run\" value=\"{}\"/>\n",
                       f.run_id ? std::to_string(*f.run_id) : "");
    out += "    </properties>\n";
    const double each = f.claims.empty() ? 0 : f.seconds / double(f.claims.size());
    for (const ClaimResult& r : f.claims) {
      const Judgement& j = r.judgement;
      out += fmt::format("    <testcase name=\"{}\" classname=\"check.{}\" time=\"{:.3f}\">\n",
                         xml_escape(r.claim.text), xml_escape(f.file.name), each);
      out += "      <properties>\n";
      property(out, "metric", r.claim.metric);
      property(out, "direction", r.claim.maximize ? "maximize" : "minimize");
      property(out, "verdict", verdict_name(j.verdict));
      property(out, "candidate_mean", num(j.mean));
      property(out, "candidate_ci_low", num(j.ci.low));
      property(out, "candidate_ci_high", num(j.ci.high));
      property(out, "candidate_n", std::to_string(j.n));
      property(out, "baseline", is_threshold(r.claim) ? "threshold" : r.baseline);
      property(out, "baseline_value", num(j.reference));
      property(out, "change", num(j.change));
      property(out, "relative_change", num(j.relative));
      property(out, "tolerance", is_threshold(r.claim) ? "" : num(r.claim.value));
      out += "      </properties>\n";
      const std::string why = fmt::format(
          "{}: candidate {}, baseline {}{}{}", verdict_name(j.verdict), mean_ci(j.mean, j.ci, j.n),
          baseline_cell(r), detail(r).empty() ? "" : "; ", detail(r));
      if (j.verdict == Verdict::kFail)
        out += fmt::format("      <failure message=\"{}\" type=\"regression\">{}</failure>\n",
                           xml_escape(fmt::format("{}:{}: {}", f.file.path, r.claim.line, why)),
                           xml_escape(why));
      out += fmt::format("      <system-out>{}</system-out>\n", xml_escape(why));
      out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

}  // namespace gom::check
