// What a metric's value means (gom/metric.h): the names of directions and phases, and the rule
// for a key nobody declared.
#include "gom/metric.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/algorithm/string/case_conv.hpp>
#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/split.hpp>
#include <string_view>
#include <vector>

#include "gom/error.h"

namespace gom {
namespace {

bool is_one_of(const std::string& word, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// The direction the words of a key (after its phase) say.
MetricDirection direction_of(const std::vector<std::string>& words) {
  // A rate is checked first: "samples_per_sec" has the word "sec" of a duration.
  for (size_t i = 0; i < words.size(); ++i)
    if (words[i] == "throughput" || (words[i] == "per" && i + 1 < words.size() &&
                                     is_one_of(words[i + 1], {"sec", "second", "s"})))
      return MetricDirection::Maximize;
  // A loss of something is a loss ("acc_loss"): the falling words win over the rising ones.
  for (const std::string& w : words)
    if (is_one_of(w, {"loss", "nll", "perplexity", "ppl", "rmse", "mse", "mae", "error", "err",
                      "seconds", "second", "sec", "time"}))
      return MetricDirection::Minimize;
  for (const std::string& w : words)
    if (is_one_of(w, {"accuracy", "acc", "f1", "precision", "recall", "auc", "r2"}))
      return MetricDirection::Maximize;
  return MetricDirection::None;
}

}  // namespace

const char* metric_direction_name(MetricDirection d) {
  switch (d) {
    case MetricDirection::Minimize:
      return "minimize";
    case MetricDirection::Maximize:
      return "maximize";
    case MetricDirection::None:
      break;
  }
  return "";
}

const char* metric_phase_name(MetricPhase p) {
  switch (p) {
    case MetricPhase::Train:
      return "train";
    case MetricPhase::Valid:
      return "valid";
    case MetricPhase::Test:
      return "test";
    case MetricPhase::None:
      break;
  }
  return "";
}

MetricDirection parse_metric_direction(const std::string& s) {
  const std::string w = boost::algorithm::to_lower_copy(s);
  if (w.empty() || w == "none") return MetricDirection::None;
  if (w == "minimize" || w == "min") return MetricDirection::Minimize;
  if (w == "maximize" || w == "max") return MetricDirection::Maximize;
  throw Error(fmt::format(
      "unknown metric direction '{}' (accepted: \"minimize\" or \"min\": lower is better, "
      "\"maximize\" or \"max\": higher is better, \"none\")",
      s));
}

MetricPhase parse_metric_phase(const std::string& s) {
  const std::string w = boost::algorithm::to_lower_copy(s);
  if (w.empty() || w == "none") return MetricPhase::None;
  if (w == "train") return MetricPhase::Train;
  if (w == "valid" || w == "validation" || w == "val") return MetricPhase::Valid;
  if (w == "test") return MetricPhase::Test;
  throw Error(fmt::format(
      "unknown metric phase '{}' (accepted: \"train\", \"valid\", \"test\", \"none\")", s));
}

MetricInfo metric_info_by_name(const std::string& key) {
  std::vector<std::string> words;
  boost::algorithm::split(words, boost::algorithm::to_lower_copy(key),
                          boost::algorithm::is_any_of("_/.- "),
                          boost::algorithm::token_compress_on);
  std::erase(words, std::string());
  MetricInfo info;
  auto first = words.begin();
  if (words.size() > 1) {
    if (words[0] == "train") info.phase = MetricPhase::Train;
    if (words[0] == "valid" || words[0] == "val") info.phase = MetricPhase::Valid;
    if (words[0] == "test") info.phase = MetricPhase::Test;
    if (info.phase != MetricPhase::None) ++first;
  }
  info.direction = direction_of({first, words.end()});
  return info;
}

}  // namespace gom
