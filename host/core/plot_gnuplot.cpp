// plot_gnuplot.cpp — `gom plot`'s data blocks and gnuplot scripts (see gom_core/plot_gnuplot.h).
#include "gom_core/plot_gnuplot.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "gom/error.h"

namespace gom::plot {

using nlohmann::json;

namespace {

// A JSON number as gnuplot reads it: integers as they are, doubles shortest round trip, null
// (NaN or infinite when recorded) as NaN, which gnuplot leaves out.
std::string num(const json& v) {
  if (v.is_number_integer()) return fmt::format("{}", v.get<int64_t>());
  if (v.is_number()) return fmt::format("{}", v.get<double>());
  return "NaN";
}

// A gnuplot double-quoted string.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

// The data blocks and the plot command's clauses, built together.
struct Builder {
  std::string data;
  std::vector<std::string> clauses;
  int blocks = 0;
  // A new block "$dN" holding rows (each a line of numbers); returns its name.
  std::string block(const std::string& label, const std::vector<std::string>& rows) {
    const std::string name = fmt::format("$d{}", ++blocks);
    data += fmt::format("{} << EOD\n# {}\n", name, label);
    for (const std::string& r : rows) data += r + "\n";
    data += "EOD\n";
    return name;
  }
};

std::string direction_words(const json& direction) {
  if (direction == "maximize") return " (higher is better)";
  if (direction == "minimize") return " (lower is better)";
  return "";
}

std::string terminal_line(const PlotOptions& o) {
  if (o.terminal == "dumb")
    return fmt::format("set terminal dumb size {},{} noenhanced\n", o.width, o.height);
  if (o.terminal == "svg" || o.terminal == "pngcairo")
    return fmt::format("set terminal {} size {},{} noenhanced background rgb \"white\"\n",
                       o.terminal, o.width, o.height);
  throw Error(fmt::format("unknown gnuplot terminal '{}' (svg, pngcairo or dumb)", o.terminal));
}

GnuplotScript finish(const Builder& b, const PlotOptions& o, const std::string& title,
                     const std::string& xlabel, const std::string& ylabel) {
  std::string s = b.data + terminal_line(o);
  // The dumb terminal cannot turn text, and draws a y label across the tics: there it goes
  // under the title.
  if (o.terminal == "dumb")
    s += fmt::format("set title {} . \"\\n\" . {}\nset xlabel {}\n", quoted(title), quoted(ylabel),
                     quoted(xlabel));
  else
    s += fmt::format("set title {}\nset xlabel {}\nset ylabel {}\n", quoted(title), quoted(xlabel),
                     quoted(ylabel));
  // A margin inside the axes, so that points on the range's edges are not drawn on the border.
  s += "set key outside right top\nset grid\nset offsets graph 0.02, graph 0.02, graph 0.05, "
       "graph 0.05\n";
  if (o.log_y) s += "set logscale y\n";
  s += fmt::format("plot {}\n", fmt::join(b.clauses, ", \\\n     "));
  return {b.data, s};
}

// The metric entry of data["metrics"] with the key; gom::Error naming those there are.
const json& find_metric(const json& data, const std::string& key) {
  for (const json& m : data.at("metrics"))
    if (m.at("key") == key) return m;
  const std::vector<std::string> keys = metric_keys(data);
  throw Error(fmt::format("no metric '{}' recorded (metrics: {})", key,
                          keys.empty() ? "none" : fmt::format("{}", fmt::join(keys, ", "))));
}

}  // namespace

std::vector<std::string> metric_keys(const json& data) {
  std::vector<std::string> keys;
  for (const json& m : data.at("metrics")) keys.push_back(m.at("key").get<std::string>());
  std::sort(keys.begin(), keys.end());
  return keys;
}

GnuplotScript runs_plot(const json& data, const PlotOptions& o) {
  if (o.x != "epoch" && o.x != "step" && o.x != "time")
    throw Error(fmt::format("unknown x axis '{}' (epoch, step or time)", o.x));
  const json& m = find_metric(data, o.metric);
  Builder b;
  for (const json& s : m.at("series")) {
    const json& points = s.at("points");
    const json& xs = s.at("xs").at(o.x);
    std::vector<std::string> rows;
    for (size_t i = 0; i < points.size(); ++i)
      rows.push_back(fmt::format("{} {}", num(xs.at(i)), num(points[i].at(1))));
    const std::string label = s.at("label").get<std::string>();
    const std::string name = b.block(label, rows);
    b.clauses.push_back(
        fmt::format("{} using 1:2 with linespoints pt 7 ps 0.5 title {}", name, quoted(label)));
  }
  const std::string title =
      data.at("runs").size() == 1
          ? fmt::format("{}: run {}", o.metric, data["runs"][0].at("id").dump())
          : fmt::format("{}: {} runs", o.metric, data["runs"].size());
  return finish(b, o, title, o.x == "time" ? "time (s)" : o.x,
                o.metric + direction_words(m.at("direction")));
}

GnuplotScript league_plot(const json& data, const PlotOptions& o) {
  const json& m = find_metric(data, o.metric);
  Builder b;
  int lt = 0;
  for (const json& s : m.at("series")) {
    std::vector<std::string> rows;
    for (const json& p : s.at("points"))
      rows.push_back(
          fmt::format("{} {} {} {}", num(p.at(0)), num(p.at(1)), num(p.at(2)), num(p.at(3))));
    const std::string label = s.at("label").get<std::string>();
    const std::string name = b.block(label, rows);
    ++lt;
    b.clauses.push_back(fmt::format(
        "{} using 1:3:4 with filledcurves lt {} fs transparent solid 0.2 noborder notitle", name,
        lt));
    b.clauses.push_back(fmt::format("{} using 1:2 with linespoints lt {} pt 7 ps 0.5 title {}",
                                    name, lt, quoted(label)));
  }
  const std::string league = data.at("league").value("league", std::string());
  return finish(b, o,
                fmt::format("league {}: {} (mean over seeds, confidence band)", league, o.metric),
                "epoch", o.metric + direction_words(m.at("direction")));
}

GnuplotScript sweep_plot(const json& data, const PlotOptions& o) {
  const json& sw = data.at("sweep");
  const std::string metric = sw.at("metric").get<std::string>();
  const bool maximize = sw.at("direction") == "maximize";
  const std::string ylabel = metric + direction_words(sw.at("direction"));
  Builder b;
  // A trial's intermediate values by epoch (the JSON object's keys are epochs as text).
  auto curve = [](const json& t) {
    std::map<int64_t, json> c;
    for (const auto& [e, v] : t.at("intermediate").items()) c[std::stoll(e)] = v;
    return c;
  };
  if (o.intermediate) {
    for (const json& t : sw.at("trials")) {
      const auto c = curve(t);
      if (c.empty()) continue;
      std::vector<std::string> rows;
      for (const auto& [e, v] : c) rows.push_back(fmt::format("{} {}", e, num(v)));
      const bool pruned = t.at("state") == "pruned";
      const std::string label =
          fmt::format("trial {}{}", t.at("number").get<int64_t>(), pruned ? " (pruned)" : "");
      const std::string name = b.block(label, rows);
      b.clauses.push_back(fmt::format("{} using 1:2 with linespoints dt {} pt 7 ps 0.5 title {}",
                                      name, pruned ? 2 : 1, quoted(label)));
    }
    return finish(b, o,
                  fmt::format("sweep {}: intermediate values", sw.at("sweep").get<std::string>()),
                  "epoch", ylabel);
  }
  std::vector<std::string> finished, pruned, best;
  double best_value = std::numeric_limits<double>::quiet_NaN();
  for (const json& t : sw.at("trials")) {
    const int64_t number = t.at("number").get<int64_t>();
    if (t.at("state") == "finished" && t.at("value").is_number()) {
      const double v = t["value"].get<double>();
      finished.push_back(fmt::format("{} {}", number, num(t["value"])));
      if (std::isnan(best_value) || (maximize ? v > best_value : v < best_value)) best_value = v;
      best.push_back(fmt::format("{} {}", number, best_value));
    } else if (t.at("state") == "pruned") {
      const auto c = curve(t);
      if (!c.empty()) pruned.push_back(fmt::format("{} {}", number, num(c.rbegin()->second)));
    }
  }
  if (!finished.empty())
    b.clauses.push_back(fmt::format("{} using 1:2 with points pt 7 title \"finished\"",
                                    b.block("finished trials: number, value", finished)));
  if (!pruned.empty())
    b.clauses.push_back(
        fmt::format("{} using 1:2 with points pt 2 title \"pruned (last value)\"",
                    b.block("pruned trials: number, last intermediate value", pruned)));
  if (!best.empty())
    b.clauses.push_back(fmt::format("{} using 1:2 with steps lw 2 title \"best so far\"",
                                    b.block("best so far: number, value", best)));
  if (b.clauses.empty())
    throw Error(fmt::format("sweep {} has no finished or pruned trial with a value to plot",
                            sw.at("sweep").get<std::string>()));
  return finish(b, o,
                fmt::format("sweep {}: optimization history", sw.at("sweep").get<std::string>()),
                "trial", ylabel);
}

std::string terminal_for_file(const std::string& path) {
  auto ends = [&](const std::string& ext) {
    return path.size() >= ext.size() &&
           path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
  };
  if (ends(".svg")) return "svg";
  if (ends(".png")) return "pngcairo";
  throw Error(fmt::format("cannot tell the format of '{}': name it FILE.svg or FILE.png", path));
}

}  // namespace gom::plot
