// report_html.cpp — the page of `gom report` around its JSON (gom_core/html_report.h), and the
// atomic write of the file.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "gom/error.h"
#include "gom_core/html_report.h"

namespace gom::report {

using json = nlohmann::json;

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
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
      default:
        out += c;
    }
  }
  return out;
}

// Text inlined in a <script> or <style> element must not close it early.
void check_inlinable(std::string_view text, std::string_view tag, std::string_view what) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find(fmt::format("</{}", tag)) != std::string::npos)
    throw Error(fmt::format("gom report: {} holds '</{}' and cannot be inlined", what, tag));
}

std::string sys_error() {
  return std::strerror(errno);
}

}  // namespace

std::string script_json(const json& data) {
  // Invalid UTF-8 in a recorded string (a script's output) becomes U+FFFD, not an exception.
  std::string s = data.dump(-1, ' ', false, json::error_handler_t::replace);
  // '<' only occurs inside JSON strings, where these escapes mean the same characters.
  replace_all(s, "</", "<\\/");
  replace_all(s, "<!--", "\\u003c!--");
  replace_all(s, "\u2028", "\\u2028");
  replace_all(s, "\u2029", "\\u2029");
  return s;
}

std::string html_page(const json& data, std::string_view chart_js, std::string_view script,
                      std::string_view css) {
  check_inlinable(chart_js, "script", "Chart.js");
  check_inlinable(script, "script", "the report script");
  check_inlinable(css, "style", "the report style sheet");
  const std::string title = data.contains("title") && data["title"].is_string()
                                ? data["title"].get<std::string>()
                                : std::string("gom report");
  std::string page = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"generator\" content=\"gom report\">\n<title>{}</title>\n<style>\n",
      html_escape(title));
  page += css;
  page += "\n</style>\n</head>\n<body>\n<main id=\"gom-report\"></main>\n";
  page += "<script type=\"application/json\" id=\"gom-data\">";
  page += script_json(data);
  page += "</script>\n<script>\n";
  page += chart_js;
  page += "\n</script>\n<script>\n";
  page += script;
  page += "\n</script>\n</body>\n</html>\n";
  return page;
}

void write_text_atomic(const std::string& path, std::string_view text) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw Error(fmt::format("cannot write {}: {}", path, sys_error()));
  ::fchmod(fd, 0644);  // mkstemp makes it 0600; a report is as readable as any other file
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string err = sys_error();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(fmt::format("cannot write {}: {}", path, err));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const std::string sync_err = synced ? "" : sys_error();
  if (::close(fd) != 0 || !synced) {
    const std::string err = synced ? sys_error() : sync_err;
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot write {}: {}", path, err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = sys_error();
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot write {}: {}", path, err));
  }
}

}  // namespace gom::report
