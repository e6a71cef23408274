// study_run_transfer.cpp — a trial's run read from its worker's database and written into the
// study's, as JSON snapshots (study_run_transfer.h). Rows are copied column by column with their
// SQLite types, so a run arrives as its trial process recorded it: its times, its process (host,
// pid) and its metrics' wall times.
#include "study_run_transfer.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "gom/error.h"
#include "recorder_internal.h"

namespace gom::study_detail {

using json = nlohmann::json;
using recorder_detail::guarded;

namespace {

constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
// The tables whose rows belong to a run (by run_id), in the order they are written.
constexpr const char* kRunTables[] = {"params",    "metrics",   "tags",
                                      "overrides", "artifacts", "metric_info"};

std::string hex_of(const void* data, size_t n) {
  std::string hex;
  for (size_t i = 0; i < n; ++i)
    hex += fmt::format("{:02x}", static_cast<const unsigned char*>(data)[i]);
  return hex;
}

std::string bytes_of(const std::string& hex) {
  std::string bytes;
  for (size_t k = 0; k + 1 < hex.size(); k += 2)
    bytes += char(std::stoi(hex.substr(k, 2), nullptr, 16));
  return bytes;
}

json cell(const SQLite::Column& c) {
  switch (c.getType()) {
    case SQLITE_NULL:
      return nullptr;
    case SQLITE_INTEGER:
      return c.getInt64();
    case SQLITE_FLOAT: {
      const double v = c.getDouble();
      if (std::isfinite(v)) return v;
      return {{"real", std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"}};
    }
    case SQLITE_BLOB:
      return {{"blob", hex_of(c.getBlob(), size_t(c.getBytes()))}};
    default: {
      std::string text = c.getString();
      try {
        (void)json(text).dump();  // JSON holds UTF-8 only
        return text;
      } catch (const json::type_error&) {
        return {{"text", hex_of(text.data(), text.size())}};
      }
    }
  }
}

void bind_cell(SQLite::Statement& s, int i, const json& v) {
  if (v.is_null()) {
    s.bind(i);
  } else if (v.is_number_integer()) {
    s.bind(i, v.get<int64_t>());
  } else if (v.is_number()) {
    s.bind(i, v.get<double>());
  } else if (v.is_string()) {
    s.bind(i, v.get<std::string>());
  } else if (v.is_object() && v.contains("real")) {
    const std::string r = v.at("real").get<std::string>();
    s.bind(i, r == "inf"    ? std::numeric_limits<double>::infinity()
              : r == "-inf" ? -std::numeric_limits<double>::infinity()
                            : std::numeric_limits<double>::quiet_NaN());
  } else if (v.is_object() && v.contains("blob")) {
    const std::string bytes = bytes_of(v.at("blob").get<std::string>());
    s.bind(i, bytes.data(), int(bytes.size()));
  } else if (v.is_object() && v.contains("text")) {
    s.bind(i, bytes_of(v.at("text").get<std::string>()));
  } else {
    throw Error(fmt::format("a trial's run: a cell that is no SQLite value: {}", v.dump()));
  }
}

// The rows of a query as {"columns", "rows"}, less the columns in `skip`. A column named
// gom_rowid is not copied either; its largest value goes to *last_rowid.
json read_rows(SQLite::Statement& q, const std::set<std::string>& skip,
               int64_t* last_rowid = nullptr) {
  json columns = json::array(), rows = json::array();
  std::vector<int> kept;
  int rowid_at = -1;
  for (int i = 0; i < q.getColumnCount(); ++i) {
    const std::string name = q.getColumnName(i);
    if (name == "gom_rowid")
      rowid_at = i;
    else if (!skip.count(name)) {
      kept.push_back(i);
      columns.push_back(name);
    }
  }
  while (q.executeStep()) {
    json row = json::array();
    for (int i : kept) row.push_back(cell(q.getColumn(i)));
    rows.push_back(std::move(row));
    if (rowid_at >= 0 && last_rowid) *last_rowid = q.getColumn(rowid_at).getInt64();
  }
  return {{"columns", columns}, {"rows", rows}};
}

std::set<std::string> columns_of(SQLite::Database& db, const std::string& table) {
  std::set<std::string> out;
  SQLite::Statement q(db, fmt::format("SELECT name FROM pragma_table_info('{}')", table));
  while (q.executeStep()) out.insert(q.getColumn(0).getString());
  return out;
}

}  // namespace

// ----------------------------------------------------------------------------- LocalRunReader

struct LocalRunReader::Impl {
  std::unique_ptr<SQLite::Database> db;
  std::optional<int64_t> run;
  int64_t last_metric_rowid = 0;
};

LocalRunReader::LocalRunReader(std::string db_path)
    : path_(std::move(db_path)), impl_(std::make_unique<Impl>()) {}
LocalRunReader::~LocalRunReader() = default;

std::optional<int64_t> LocalRunReader::run() {
  if (impl_->run) return impl_->run;
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) return std::nullopt;
  try {
    if (!impl_->db)
      impl_->db = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READWRITE,
                                                     recorder_detail::busy_timeout_ms());
    SQLite::Statement q(*impl_->db, "SELECT id FROM runs ORDER BY id LIMIT 1");
    if (q.executeStep()) impl_->run = q.getColumn(0).getInt64();
  } catch (const SQLite::Exception&) {
    // Not ready: the trial's process is making the file and its schema.
  }
  return impl_->run;
}

json LocalRunReader::snapshot() {
  const auto id = run();
  if (!id) throw Error(fmt::format("run database {}: the trial recorded no run", path_));
  return guarded(path_, "reading a trial's run", [&] {
    SQLite::Database& db = *impl_->db;
    SQLite::Transaction tx(db);  // deferred: one read snapshot of every table
    json snap;
    {
      SQLite::Statement q(db,
                          "SELECT e.name, r.* FROM runs r JOIN experiments e ON e.id = "
                          "r.experiment_id WHERE r.id = ?");
      q.bind(1, *id);
      if (!q.executeStep()) throw Error(fmt::format("run database {}: run {} is gone", path_, *id));
      snap["experiment"] = q.getColumn(0).getString();
      json row = json::object();
      for (int i = 1; i < q.getColumnCount(); ++i) {
        const std::string name = q.getColumnName(i);
        if (name != "id" && name != "experiment_id" && name != "parent_run_id")
          row[name] = cell(q.getColumn(i));
      }
      snap["run"] = std::move(row);
    }
    json tables = json::object();
    for (const char* t : kRunTables) {
      const std::string table = t;
      // In the order they were recorded where a table has one (params, tags and metric_info
      // are keyed by name; the others' rowid is their order).
      const std::string order = table == "metrics" || table == "artifacts" ? " ORDER BY rowid"
                                : table == "overrides"                     ? " ORDER BY position"
                                                                           : "";
      const std::string rowid = table == "metrics" ? "rowid AS gom_rowid, " : "";
      SQLite::Statement q(
          db, fmt::format("SELECT {}* FROM {} WHERE run_id = ?{}", rowid, table, order));
      q.bind(1, *id);
      tables[table] =
          read_rows(q, {"run_id", "id"}, table == "metrics" ? &impl_->last_metric_rowid : nullptr);
    }
    snap["tables"] = std::move(tables);
    tx.commit();

    // Its process is gone (the worker saw it end) without recording the end: crashed.
    json& r = snap["run"];
    const auto text = [&](const char* k) -> std::optional<std::string> {
      return r.contains(k) && r[k].is_string() ? std::optional(r[k].get<std::string>())
                                               : std::nullopt;
    };
    const auto integer = [&](const char* k) -> std::optional<int64_t> {
      return r.contains(k) && r[k].is_number_integer() ? std::optional(r[k].get<int64_t>())
                                                       : std::nullopt;
    };
    if (text("status") == "running" &&
        recorder_detail::process_gone(text("host"), integer("pid"), integer("process_started"),
                                      false)) {
      const auto beat = text("heartbeat_at");
      r["status"] = "crashed";
      r["ended_at"] = beat ? *beat : text("started_at").value_or("");
      if (!text("error"))
        r["error"] = recorder_detail::crashed_error(*text("host"), *integer("pid"), beat);
    }
    return snap;
  });
}

std::optional<json> LocalRunReader::new_metrics() {
  const auto id = run();
  if (!id) return std::nullopt;
  return guarded(path_, "reading a trial's metrics", [&]() -> std::optional<json> {
    SQLite::Statement q(*impl_->db,
                        "SELECT rowid AS gom_rowid, * FROM metrics WHERE run_id = ? AND rowid > ? "
                        "ORDER BY rowid");
    q.bind(1, *id);
    q.bind(2, impl_->last_metric_rowid);
    json rows = read_rows(q, {"run_id"}, &impl_->last_metric_rowid);
    if (rows["rows"].empty()) return std::nullopt;
    return rows;
  });
}

// ----------------------------------------------------------------------------- TrialRunWriter

struct TrialRunWriter::Impl {
  explicit Impl(const std::string& path)
      : db(path, SQLite::OPEN_READWRITE, recorder_detail::busy_timeout_ms()) {
    db.exec("PRAGMA foreign_keys = ON");
  }
  SQLite::Database db;
  std::map<std::string, std::set<std::string>> columns;  // of each table, as this file has them

  const std::set<std::string>& columns_of(const std::string& table) {
    auto it = columns.find(table);
    if (it == columns.end()) it = columns.emplace(table, study_detail::columns_of(db, table)).first;
    return it->second;
  }

  // Inserts a table's rows for run_id: the columns both sides have.
  void insert_rows(const std::string& table, int64_t run_id, const json& t) {
    const auto& have = columns_of(table);
    std::vector<size_t> at;
    std::string names = "run_id", marks = "?";
    const json& cols = t.at("columns");
    for (size_t i = 0; i < cols.size(); ++i) {
      const std::string c = cols[i].get<std::string>();
      if (c == "run_id" || c == "id" || !have.count(c)) continue;
      at.push_back(i);
      names += ", " + c;
      marks += ", ?";
    }
    SQLite::Statement ins(
        db, fmt::format("INSERT OR REPLACE INTO {}({}) VALUES ({})", table, names, marks));
    for (const json& row : t.at("rows")) {
      ins.bind(1, run_id);
      for (size_t k = 0; k < at.size(); ++k) bind_cell(ins, int(k) + 2, row.at(at[k]));
      ins.exec();
      ins.reset();
    }
  }
};

TrialRunWriter::TrialRunWriter(const std::string& db_path) : path_(db_path) {
  try {
    impl_ = std::make_unique<Impl>(db_path);
  } catch (const SQLite::Exception& e) {
    throw Error(
        fmt::format("run database {}: cannot open it for trials' runs: {}", db_path, e.what()));
  }
}
TrialRunWriter::~TrialRunWriter() = default;

int64_t TrialRunWriter::write(const json& snapshot, std::optional<int64_t> run_id,
                              const TrialRunPlace& place) {
  return guarded(path_, "recording a trial's run", [&] {
    SQLite::Database& db = impl_->db;
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    const std::string experiment = snapshot.at("experiment").get<std::string>();
    SQLite::Statement ins_exp(
        db,
        fmt::format("INSERT OR IGNORE INTO experiments(name, created_at) VALUES (?, {})", kNow));
    ins_exp.bind(1, experiment);
    ins_exp.exec();
    SQLite::Statement get_exp(db, "SELECT id FROM experiments WHERE name = ?");
    get_exp.bind(1, experiment);
    get_exp.executeStep();
    const int64_t experiment_id = get_exp.getColumn(0).getInt64();

    const auto& have = impl_->columns_of("runs");
    std::vector<std::pair<std::string, const json*>> cells;
    for (const auto& [k, v] : snapshot.at("run").items())
      if (have.count(k) && k != "id" && k != "experiment_id" && k != "parent_run_id")
        cells.emplace_back(k, &v);
    std::string names = "experiment_id, parent_run_id", marks = "?, ?",
                sets = "experiment_id = ?, parent_run_id = ?";
    for (const auto& [k, v] : cells) {
      names += ", " + k;
      marks += ", ?";
      sets += ", " + k + " = ?";
    }
    SQLite::Statement q(db, run_id ? fmt::format("UPDATE runs SET {} WHERE id = ?", sets)
                                   : fmt::format("INSERT INTO runs({}) VALUES ({})", names, marks));
    q.bind(1, experiment_id);
    if (place.parent_run)
      q.bind(2, *place.parent_run);
    else
      q.bind(2);
    for (size_t i = 0; i < cells.size(); ++i) bind_cell(q, int(i) + 3, *cells[i].second);
    if (run_id) q.bind(int(cells.size()) + 3, *run_id);
    q.exec();
    const int64_t id = run_id ? *run_id : db.getLastInsertRowid();

    for (const char* t : kRunTables) {
      if (run_id) {
        SQLite::Statement del(db, fmt::format("DELETE FROM {} WHERE run_id = ?", t));
        del.bind(1, id);
        del.exec();
      }
      if (snapshot.at("tables").contains(t)) impl_->insert_rows(t, id, snapshot["tables"][t]);
    }
    SQLite::Statement tag(db, "INSERT OR REPLACE INTO tags(run_id, key, value) VALUES (?, ?, ?)");
    tag.bind(1, id);
    tag.bind(2, place.tag_key);
    tag.bind(3, place.tag_value);
    tag.exec();
    tx.commit();
    return id;
  });
}

void TrialRunWriter::append_metrics(int64_t run_id, const json& table) {
  guarded(path_, "recording a trial's metrics", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    impl_->insert_rows("metrics", run_id, table);
    tx.commit();
  });
}

void TrialRunWriter::beat(int64_t run_id) {
  guarded(path_, "renewing a trial's heartbeat", [&] {
    SQLite::Statement q(
        impl_->db,
        fmt::format("UPDATE runs SET heartbeat_at = {} WHERE id = ? AND status = 'running'", kNow));
    q.bind(1, run_id);
    q.exec();
  });
}

void TrialRunWriter::erase(int64_t run_id) {
  guarded(path_, "deleting a lost trial's run", [&] {
    SQLite::Statement q(impl_->db, "DELETE FROM runs WHERE id = ?");
    q.bind(1, run_id);
    q.exec();
  });
}

}  // namespace gom::study_detail
