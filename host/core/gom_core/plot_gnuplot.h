// gom_core/plot_gnuplot.h — what `gom plot` gives gnuplot: the data of a plot as inline data
// blocks ($d1 << EOD ... EOD) and a script that draws them, from the JSON of
// gom_core/html_report.h (runs_data, league_data, sweep_data). gnuplot itself is run by
// run_gnuplot, a child process whose standard output (the picture) is returned. Host-level API.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gom::plot {

/// @brief What to draw and how. terminal is gnuplot's: "svg", "pngcairo" or "dumb".
struct PlotOptions {
  std::string metric;         ///< the metric key (runs, league); a sweep plots its own
  std::string x = "epoch";    ///< runs: "epoch", "step" or "time" (seconds since the start)
  bool log_y = false;         ///< a logarithmic y axis
  bool intermediate = false;  ///< sweep: the trials' curves instead of the history
  std::string terminal = "dumb";
  int width = 100, height = 30;  ///< characters (dumb) or pixels (svg, pngcairo)
};

/// @brief A plot for gnuplot: data holds exactly the data blocks (each "$dN << EOD", a
/// "# label" comment, rows of numbers, "EOD"); script is data followed by the commands.
struct GnuplotScript {
  std::string data;
  std::string script;
};

/// @brief The metric keys the data has curves of, sorted.
std::vector<std::string> metric_keys(const nlohmann::json& data);
/// @brief Runs (runs_data): one line with points per run, columns x, value.
/// gom::Error when no run has the metric (naming those they have) or x is not known.
GnuplotScript runs_plot(const nlohmann::json& data, const PlotOptions& o);
/// @brief A league (league_data): per contender its mean (columns epoch, mean, low, high) as a
/// line with points over its confidence band (filledcurves).
GnuplotScript league_plot(const nlohmann::json& data, const PlotOptions& o);
/// @brief A sweep (sweep_data). History: the finished trials' values by trial number
/// ($d1: number, value), the pruned trials at their last intermediate value ($d2, another point
/// type) and the best so far as a step line ($d3). Intermediate: each trial's curve (epoch,
/// value), pruned trials dashed.
GnuplotScript sweep_plot(const nlohmann::json& data, const PlotOptions& o);

/// @brief The gnuplot terminal for an output file: "svg" for .svg, "pngcairo" for .png;
/// gom::Error naming the formats otherwise.
std::string terminal_for_file(const std::string& path);

/// @brief Runs gnuplot ($GOM_GNUPLOT, else "gnuplot" on PATH) on the script and returns what
/// it wrote to standard output. gom::Error when gnuplot is missing (naming the Debian package
/// gnuplot-nox) or fails (with what it said).
std::string run_gnuplot(const std::string& script);

}  // namespace gom::plot
