// csv_logger: the epoch's metrics as one row of a CSV file (Keras' CSVLogger), written at
// after_epoch so that a crashed run keeps the epochs it finished.
// - path: given, or <run_dir>/metrics.csv, or metrics.csv in the working folder without a run
//   folder. Parent folders are created.
// - Columns: "epoch" (the fit's, 1-based), then the first epoch's metric keys in sorted order. A
//   key that appears later gets a new column at the end: the file is rewritten (atomically) with
//   the new header and empty cells in the earlier rows. A key missing from an epoch: an empty cell.
// - RFC 4180 (csv.h): CRLF line ends, a field with a comma, quote or line break quoted. Numbers
//   are written in the shortest form that reads back exactly (nan, inf, -inf).
// - append=false starts the file afresh at the first epoch a process writes to it (a later fit of
//   the same script, with a new csv_logger, continues it); append=true keeps an existing file and
//   its columns. A resumed fit (load_state) keeps the rows of the epochs before the one it resumes
//   at and drops the later ones, which it logs again.
// - The file is added to the run's artifacts as ("csv", path) once, at after_fit, when it is
//   complete (its recorded size and hash are those of the whole file).
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "callbacks.h"
#include "csv.h"

namespace gom::callbacks {
namespace {

namespace fs = std::filesystem;

// The files this process has started: a later logger continues them instead of truncating.
std::set<std::string>& started(std::unique_lock<std::mutex>& lock) {
  static std::mutex mu;
  static std::set<std::string> paths;
  lock = std::unique_lock<std::mutex>(mu);
  return paths;
}

class CsvLogger : public Callback {
 public:
  explicit CsvLogger(const Params& p) : path_param_(p.s("path")), append_(p.b("append")) {}

  // After the metrics (-10) and early stopping (100), before checkpoint (200): a checkpoint
  // written at after_epoch finds this epoch's row in the file.
  int order() const override { return 150; }

  void on(Event e, LoopState& s) override {
    if (world_rank() != 0) return;  // rank 0 writes the file of a data-parallel job
    if (e == Event::AfterEpoch) row(s);
    if (e == Event::AfterFit && !path_.empty() && !registered_) {
      s.artifacts.emplace_back("csv", path_);
      registered_ = true;
    }
  }

  std::string state() const override { return nlohmann::json{{"columns", columns_}}.dump(); }
  void load_state(const std::string& text) override {
    try {
      columns_ = nlohmann::json::parse(text).at("columns").get<std::vector<std::string>>();
    } catch (const std::exception& e) {
      throw Error(fmt::format("csv_logger: cannot use the saved state '{}': {}", text, e.what()));
    }
    path_.clear();
    resumed_ = true;
  }

 private:
  void row(const LoopState& s) {
    if (path_.empty()) open(s);
    std::vector<std::string> fresh;
    for (const auto& [k, v] : s.metrics)
      if (std::find(columns_.begin(), columns_.end(), k) == columns_.end()) fresh.push_back(k);
    if (!fresh.empty()) widen(fresh);
    std::string line;
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i) line += ',';
      auto it = s.metrics.find(columns_[i]);
      if (columns_[i] == "epoch")
        line += std::to_string(s.epoch + 1);
      else if (it != s.metrics.end())
        line += fmt::format("{}", it->second);
    }
    std::ofstream out(path_, std::ios::binary | std::ios::app);
    out << line << "\r\n";
    out.close();
    if (!out)
      throw Error(fmt::format("csv_logger: cannot write {}: {}", path_, std::strerror(errno)));
  }

  // The first write of this callback (or of a resumed one): where, and which columns.
  void open(const LoopState& s) {
    path_ = !path_param_.empty() ? path_param_
            : !s.run_dir.empty() ? (fs::path(s.run_dir) / "metrics.csv").string()
                                 : "metrics.csv";
    if (const fs::path dir = fs::path(path_).parent_path(); !dir.empty()) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec)
        throw Error(fmt::format("csv_logger: cannot create {}: {}", dir.string(), ec.message()));
    }
    std::unique_lock<std::mutex> lock;
    auto& paths = started(lock);
    const std::string key = fs::absolute(path_).lexically_normal().string();
    std::vector<std::string> recs;
    if (append_ || resumed_ || paths.count(key)) recs = csv::records(read());
    if (!recs.empty()) {
      columns_ = csv::fields(recs[0]);
      const auto at = std::find(columns_.begin(), columns_.end(), "epoch") - columns_.begin();
      if (resumed_ && at < std::ssize(columns_)) {  // the epochs from this one on come again
        auto later = [&](const std::string& r) {
          const auto f = csv::fields(r);
          return std::ssize(f) > at && std::atoll(f[size_t(at)].c_str()) > s.epoch;
        };
        recs.erase(std::remove_if(recs.begin() + 1, recs.end(), later), recs.end());
        rewrite(recs);
      }
    } else {
      if (!resumed_) {
        columns_ = {"epoch"};
        for (const auto& [k, v] : s.metrics)
          if (k != "epoch") columns_.push_back(k);
      }
      rewrite({header()});
    }
    paths.insert(key);
    resumed_ = false;
  }

  // New keys: columns at the end, and empty cells for them in the rows already written.
  void widen(const std::vector<std::string>& fresh) {
    std::vector<std::string> recs = csv::records(read());
    columns_.insert(columns_.end(), fresh.begin(), fresh.end());
    if (recs.empty()) recs.emplace_back();
    recs[0] = header();
    for (size_t i = 1; i < recs.size(); ++i) recs[i] += std::string(fresh.size(), ',');
    rewrite(recs);
  }

  std::string header() const {
    std::string h;
    for (size_t i = 0; i < columns_.size(); ++i) h += (i ? "," : "") + csv::quote(columns_[i]);
    return h;
  }

  std::string read() const {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Atomically: a temporary file beside it, then a rename.
  void rewrite(const std::vector<std::string>& recs) const {
    const std::string tmp = path_ + ".tmp";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    for (const std::string& r : recs) out << r << "\r\n";
    out.close();
    std::error_code ec;
    if (out) fs::rename(tmp, path_, ec);
    if (!out || ec)
      throw Error(fmt::format("csv_logger: cannot write {}: {}", path_,
                              ec ? ec.message() : std::strerror(errno)));
  }

  std::string path_param_;
  bool append_;
  std::string path_;  // resolved at the first epoch
  std::vector<std::string> columns_;
  bool resumed_ = false, registered_ = false;
};

}  // namespace

void register_csv_logger() {
  Schema s;
  s.string("path", "the CSV file; empty: <run folder>/metrics.csv, or metrics.csv without one")
      .def("");
  s.boolean("append",
            "keep an existing file and its columns (false: start afresh, once per process)")
      .def(false);
  register_callback("csv_logger",
                    "writes one CSV row per epoch (epoch and every metric; RFC 4180), added to "
                    "the run's artifacts as \"csv\"",
                    std::move(s), [](const Params& p) { return std::make_shared<CsvLogger>(p); });
}

}  // namespace gom::callbacks
