// recorder_schema.cpp — the run database's schema: the DDL of each version and the migration
// that brings a file up to kRunSchemaVersion. The schema is a public contract (`sqlite3 runs.db`
// users, the CLI): change it only by appending a migration, never by editing an applied one.
#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gom/error.h"
#include "gom_core/recorder.h"
#include "recorder_internal.h"

namespace gom::recorder_detail {
namespace {

struct Migration {
  int version;  // the version the file has after this step
  std::string sql;
  // Run after the SQL, in the same transaction: data the SQL cannot make (rows by a C++ rule).
  void (*after)(SQLite::Database&) = nullptr;
};

// v1: experiments, runs, params, metrics, tags, artifacts and the run_summary view.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE experiments(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE runs(
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  name TEXT,
  status TEXT NOT NULL
    CHECK (status IN ('running', 'finished', 'failed', 'interrupted', 'diverged')),
  started_at TEXT NOT NULL,
  ended_at TEXT,
  error TEXT,
  script_path TEXT,
  script_text TEXT,
  script_sha256 TEXT,
  seed INTEGER,
  backend TEXT,
  device TEXT,
  threads INTEGER,
  gom_version TEXT,
  git_commit TEXT,
  git_dirty INTEGER CHECK (git_dirty IN (0, 1)),
  command_line TEXT,
  parent_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL
);
CREATE INDEX runs_by_experiment ON runs(experiment_id);
CREATE INDEX runs_by_parent ON runs(parent_run_id);
CREATE INDEX runs_by_status ON runs(status);
CREATE TABLE params(
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE metrics(
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  step INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  value REAL,
  wall_time REAL NOT NULL
);
CREATE INDEX metrics_by_run_key ON metrics(run_id, key, step);
CREATE TABLE tags(
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE artifacts(
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT,
  bytes INTEGER,
  created_at TEXT NOT NULL
);
CREATE INDEX artifacts_by_run ON artifacts(run_id);

-- One row per run. "final" is the value at the highest step (then epoch, then the latest row);
-- "best" is the minimum of a loss and the maximum of an accuracy. duration_s runs up to now while
-- the run is running. lr and batch_size are the params optimizer.lr and fit.batch_size.
CREATE VIEW run_summary AS
SELECT
  r.id AS id,
  e.name AS experiment,
  r.name AS name,
  r.status AS status,
  r.started_at AS started_at,
  r.ended_at AS ended_at,
  ROUND((julianday(COALESCE(r.ended_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
         - julianday(r.started_at)) * 86400.0, 3) AS duration_s,
  (SELECT MAX(m.epoch) FROM metrics m WHERE m.run_id = r.id) AS epochs,
  (SELECT m.value FROM metrics m WHERE m.run_id = r.id AND m.key = 'train_loss'
     ORDER BY m.step DESC, m.epoch DESC, m.rowid DESC LIMIT 1) AS final_train_loss,
  (SELECT m.value FROM metrics m WHERE m.run_id = r.id AND m.key = 'valid_loss'
     ORDER BY m.step DESC, m.epoch DESC, m.rowid DESC LIMIT 1) AS final_valid_loss,
  (SELECT m.value FROM metrics m WHERE m.run_id = r.id AND m.key = 'accuracy'
     ORDER BY m.step DESC, m.epoch DESC, m.rowid DESC LIMIT 1) AS final_accuracy,
  (SELECT MIN(m.value) FROM metrics m WHERE m.run_id = r.id AND m.key = 'train_loss')
    AS best_train_loss,
  (SELECT MIN(m.value) FROM metrics m WHERE m.run_id = r.id AND m.key = 'valid_loss')
    AS best_valid_loss,
  (SELECT MAX(m.value) FROM metrics m WHERE m.run_id = r.id AND m.key = 'accuracy')
    AS best_accuracy,
  (SELECT p.value FROM params p WHERE p.run_id = r.id AND p.key = 'optimizer.lr') AS lr,
  (SELECT p.value FROM params p WHERE p.run_id = r.id AND p.key = 'fit.batch_size')
    AS batch_size,
  r.seed AS seed,
  r.backend AS backend,
  r.git_commit AS git_commit,
  r.parent_run_id AS parent_run_id,
  r.error AS error
FROM runs r JOIN experiments e ON e.id = r.experiment_id;
)sql";

// v2: the process of a run and its heartbeat (host, pid, process_started, heartbeat_at), the
// status 'crashed', the overrides table, and run_summary showing a run whose heartbeat stopped
// as crashed. A CHECK constraint cannot be altered, so runs is rebuilt as
// https://www.sqlite.org/lang_altertable.html#otheralter describes (migrate() runs every step
// with foreign keys off: dropping the old runs would otherwise delete every row that refers to
// it). The view refers to runs, so it is dropped first and made anew.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE runs_v2(
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  name TEXT,
  status TEXT NOT NULL
    CHECK (status IN ('running', 'finished', 'failed', 'interrupted', 'diverged', 'crashed')),
  started_at TEXT NOT NULL,
  ended_at TEXT,
  error TEXT,
  script_path TEXT,
  script_text TEXT,
  script_sha256 TEXT,
  seed INTEGER,
  backend TEXT,
  device TEXT,
  threads INTEGER,
  gom_version TEXT,
  git_commit TEXT,
  git_dirty INTEGER CHECK (git_dirty IN (0, 1)),
  command_line TEXT,
  parent_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  host TEXT,
  pid INTEGER,
  process_started INTEGER,
  heartbeat_at TEXT
);
INSERT INTO runs_v2(id, experiment_id, name, status, started_at, ended_at, error, script_path,
                    script_text, script_sha256, seed, backend, device, threads, gom_version,
                    git_commit, git_dirty, command_line, parent_run_id)
SELECT id, experiment_id, name, status, started_at, ended_at, error, script_path, script_text,
       script_sha256, seed, backend, device, threads, gom_version, git_commit, git_dirty,
       command_line, parent_run_id
FROM runs;
DROP VIEW run_summary;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
CREATE INDEX runs_by_experiment ON runs(experiment_id);
CREATE INDEX runs_by_parent ON runs(parent_run_id);
CREATE INDEX runs_by_status ON runs(status);

-- The --set overrides of a run, in the order given; value is everything after the first '='.
CREATE TABLE overrides(
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;

-- As in v1, plus: a running run whose heartbeat is older than 120 s (kHeartbeatTimeoutS) is
-- 'crashed', its duration up to that heartbeat; host, pid and heartbeat_at at the end. (gom
-- itself also calls a run crashed at once when its process on this host is gone.)
CREATE VIEW run_summary AS
SELECT
  r.id AS id,
  e.name AS experiment,
  r.name AS name,
  CASE WHEN r.status = 'running' AND r.heartbeat_at IS NOT NULL
            AND julianday(r.heartbeat_at) < julianday('now', '-120 seconds')
       THEN 'crashed' ELSE r.status END AS status,
  r.started_at AS started_at,
  r.ended_at AS ended_at,
  ROUND((julianday(COALESCE(r.ended_at,
                            CASE WHEN r.status = 'running' AND r.heartbeat_at IS NOT NULL
                                      AND julianday(r.heartbeat_at)
                                          < julianday('now', '-120 seconds')
                                 THEN r.heartbeat_at
                                 ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END))
         - julianday(r.started_at)) * 86400.0, 3) AS duration_s,
  (SELECT MAX(m.epoch) FROM metrics m WHERE m.run_id = r.id) AS epochs,
  (SELECT m.value FROM metrics m WHERE m.run_id = r.id AND m.key = 'train_loss'
     ORDER BY m.step DESC, m.epoch DESC, m.rowid DESC LIMIT 1) AS final_train_loss,
  (SELECT m.value FROM metrics m WHERE m.run_id = r.id AND m.key = 'valid_loss'
     ORDER BY m.step DESC, m.epoch DESC, m.rowid DESC LIMIT 1) AS final_valid_loss,
  (SELECT m.value FROM metrics m WHERE m.run_id = r.id AND m.key = 'accuracy'
     ORDER BY m.step DESC, m.epoch DESC, m.rowid DESC LIMIT 1) AS final_accuracy,
  (SELECT MIN(m.value) FROM metrics m WHERE m.run_id = r.id AND m.key = 'train_loss')
    AS best_train_loss,
  (SELECT MIN(m.value) FROM metrics m WHERE m.run_id = r.id AND m.key = 'valid_loss')
    AS best_valid_loss,
  (SELECT MAX(m.value) FROM metrics m WHERE m.run_id = r.id AND m.key = 'accuracy')
    AS best_accuracy,
  (SELECT p.value FROM params p WHERE p.run_id = r.id AND p.key = 'optimizer.lr') AS lr,
  (SELECT p.value FROM params p WHERE p.run_id = r.id AND p.key = 'fit.batch_size')
    AS batch_size,
  r.seed AS seed,
  r.backend AS backend,
  r.git_commit AS git_commit,
  r.parent_run_id AS parent_run_id,
  r.error AS error,
  r.host AS host,
  r.pid AS pid,
  r.heartbeat_at AS heartbeat_at
FROM runs r JOIN experiments e ON e.id = r.experiment_id;
)sql";

// v3: the database's identity, a random id made once (when the file is created or migrated). A
// run's checkpoints carry it, so a checkpoint of another database's run of the same id is told
// apart (`gom run --resume`).
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE database(
  uid TEXT NOT NULL
);
INSERT INTO database(uid) VALUES (lower(hex(randomblob(16))));
)sql";

}  // namespace

// Part of v4's metric_summary view: never edit it (a later version that changes the view gets a
// constant of its own). One row per metric of a run (a metric_info row):
// - n: its rows, NaN (NULL) ones too;
// - final_value, final_epoch: the row at the highest step, then epoch, then the latest row (as
//   run_summary's final_* always were);
// - best_value, best_epoch: the lowest value of a metric to minimize, the highest of one to
//   maximize, NULL values ignored, at the first step it was reached; NULL without a direction.
const char* const kMetricSummarySelect = R"sql(
SELECT
  i.run_id AS run_id,
  i.key AS key,
  i.direction AS direction,
  i.phase AS phase,
  (SELECT COUNT(*) FROM metrics m WHERE m.run_id = i.run_id AND m.key = i.key) AS n,
  f.value AS final_value,
  f.epoch AS final_epoch,
  b.value AS best_value,
  b.epoch AS best_epoch
FROM metric_info i
LEFT JOIN metrics f ON f.rowid = (
  SELECT m.rowid FROM metrics m WHERE m.run_id = i.run_id AND m.key = i.key
  ORDER BY m.step DESC, m.epoch DESC, m.rowid DESC LIMIT 1)
LEFT JOIN metrics b ON b.rowid = CASE i.direction
  WHEN 'minimize' THEN (
    SELECT m.rowid FROM metrics m
    WHERE m.run_id = i.run_id AND m.key = i.key AND m.value IS NOT NULL
    ORDER BY m.value, m.step, m.epoch, m.rowid LIMIT 1)
  WHEN 'maximize' THEN (
    SELECT m.rowid FROM metrics m
    WHERE m.run_id = i.run_id AND m.key = i.key AND m.value IS NOT NULL
    ORDER BY m.value DESC, m.step, m.epoch, m.rowid LIMIT 1)
  END
)sql";

namespace {

// v4: what each metric means, metric_info (a row for every key logged for a run: its
// direction and phase), the view metric_summary over it, the status 'pruned' (a sweep's trial
// stopped early), and run_summary with its best_* by the metric's direction and test_accuracy
// (the final value of test_accuracy). runs is rebuilt for the new CHECK as in v2, the views that
// refer to it dropped first and made anew. The rows of the keys already logged are made by the
// C++ rule (backfill_metric_info) right after this SQL.
const std::string kSchemaV4 = std::string(R"sql(
CREATE TABLE runs_v4(
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  name TEXT,
  status TEXT NOT NULL
    CHECK (status IN ('running', 'finished', 'failed', 'interrupted', 'diverged', 'crashed',
                      'pruned')),
  started_at TEXT NOT NULL,
  ended_at TEXT,
  error TEXT,
  script_path TEXT,
  script_text TEXT,
  script_sha256 TEXT,
  seed INTEGER,
  backend TEXT,
  device TEXT,
  threads INTEGER,
  gom_version TEXT,
  git_commit TEXT,
  git_dirty INTEGER CHECK (git_dirty IN (0, 1)),
  command_line TEXT,
  parent_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  host TEXT,
  pid INTEGER,
  process_started INTEGER,
  heartbeat_at TEXT
);
INSERT INTO runs_v4(id, experiment_id, name, status, started_at, ended_at, error, script_path,
                    script_text, script_sha256, seed, backend, device, threads, gom_version,
                    git_commit, git_dirty, command_line, parent_run_id, host, pid,
                    process_started, heartbeat_at)
SELECT id, experiment_id, name, status, started_at, ended_at, error, script_path, script_text,
       script_sha256, seed, backend, device, threads, gom_version, git_commit, git_dirty,
       command_line, parent_run_id, host, pid, process_started, heartbeat_at
FROM runs;
DROP VIEW run_summary;
DROP TABLE runs;
ALTER TABLE runs_v4 RENAME TO runs;
CREATE INDEX runs_by_experiment ON runs(experiment_id);
CREATE INDEX runs_by_parent ON runs(parent_run_id);
CREATE INDEX runs_by_status ON runs(status);

CREATE TABLE metric_info(
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  direction TEXT CHECK (direction IN ('minimize', 'maximize')),
  phase TEXT CHECK (phase IN ('train', 'valid', 'test')),
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

CREATE VIEW metric_summary AS)sql") + kMetricSummarySelect + R"sql(;

-- As in v2, with final_* and best_* read from metric_summary (best by the metric's direction),
-- and test_accuracy, the final value of test_accuracy (gom.fit's test = data), after
-- best_accuracy.
CREATE VIEW run_summary AS
SELECT
  r.id AS id,
  e.name AS experiment,
  r.name AS name,
  CASE WHEN r.status = 'running' AND r.heartbeat_at IS NOT NULL
            AND julianday(r.heartbeat_at) < julianday('now', '-120 seconds')
       THEN 'crashed' ELSE r.status END AS status,
  r.started_at AS started_at,
  r.ended_at AS ended_at,
  ROUND((julianday(COALESCE(r.ended_at,
                            CASE WHEN r.status = 'running' AND r.heartbeat_at IS NOT NULL
                                      AND julianday(r.heartbeat_at)
                                          < julianday('now', '-120 seconds')
                                 THEN r.heartbeat_at
                                 ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END))
         - julianday(r.started_at)) * 86400.0, 3) AS duration_s,
  (SELECT MAX(m.epoch) FROM metrics m WHERE m.run_id = r.id) AS epochs,
  (SELECT s.final_value FROM metric_summary s WHERE s.run_id = r.id AND s.key = 'train_loss')
    AS final_train_loss,
  (SELECT s.final_value FROM metric_summary s WHERE s.run_id = r.id AND s.key = 'valid_loss')
    AS final_valid_loss,
  (SELECT s.final_value FROM metric_summary s WHERE s.run_id = r.id AND s.key = 'accuracy')
    AS final_accuracy,
  (SELECT s.best_value FROM metric_summary s WHERE s.run_id = r.id AND s.key = 'train_loss')
    AS best_train_loss,
  (SELECT s.best_value FROM metric_summary s WHERE s.run_id = r.id AND s.key = 'valid_loss')
    AS best_valid_loss,
  (SELECT s.best_value FROM metric_summary s WHERE s.run_id = r.id AND s.key = 'accuracy')
    AS best_accuracy,
  (SELECT s.final_value FROM metric_summary s WHERE s.run_id = r.id AND s.key = 'test_accuracy')
    AS test_accuracy,
  (SELECT p.value FROM params p WHERE p.run_id = r.id AND p.key = 'optimizer.lr') AS lr,
  (SELECT p.value FROM params p WHERE p.run_id = r.id AND p.key = 'fit.batch_size')
    AS batch_size,
  r.seed AS seed,
  r.backend AS backend,
  r.git_commit AS git_commit,
  r.parent_run_id AS parent_run_id,
  r.error AS error,
  r.host AS host,
  r.pid AS pid,
  r.heartbeat_at AS heartbeat_at
FROM runs r JOIN experiments e ON e.id = r.experiment_id;
)sql";

// The metric_info rows of every key logged before v4, by the one rule for a key nobody
// declared (metric_info_by_name), so that every logged key has one.
void backfill_metric_info(SQLite::Database& db) {
  SQLite::Statement keys(db, "SELECT DISTINCT run_id, key FROM metrics");
  while (keys.executeStep()) {
    const std::string key = keys.getColumn(1).getString();
    write_metric_info(db, keys.getColumn(0).getInt64(), key, metric_info_by_name(key), false);
  }
}

// Applied in order; each inside the same BEGIN IMMEDIATE transaction as its version row.
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> m = {{1, kSchemaV1},
                                           {2, kSchemaV2},
                                           {3, kSchemaV3},
                                           {4, kSchemaV4, backfill_metric_info},
                                           {5, kSchemaV5Studies},
                                           {6, kSchemaV6Params}};
  return m;
}

// 0 for an empty file. A SQLite file with other tables but no schema_version is someone else's.
// Whether schema_version exists and whether there are tables at all are read by one statement,
// so from one snapshot: read apart, another process creating the schema between them would make
// a new file look like someone else's. Once schema_version exists it stays, so its version can be
// read by a second statement.
int read_version(SQLite::Database& db, const std::string& path) {
  SQLite::Statement q(db,
                      "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                      "name = 'schema_version'), (SELECT count(*) FROM sqlite_master)");
  q.executeStep();
  const bool versioned = q.getColumn(0).getInt() > 0;
  const int objects = q.getColumn(1).getInt();
  q.reset();
  if (!versioned) {
    if (objects > 0)
      throw Error(path + " is not a gom run database: it has tables but no schema_version table");
    return 0;
  }
  const int v = db.execAndGet("SELECT COALESCE(MAX(version), 0) FROM schema_version").getInt();
  // Version rows are written with the schema they describe, so a table that says 0 (or holds no
  // row) was edited or damaged: migrating it would fail on tables that already exist.
  if (v < 1)
    throw Error(path + " is damaged: its schema_version table says version " + std::to_string(v) +
                " (a gom run database has version 1 to " + std::to_string(kRunSchemaVersion) +
                "); restore the file or use another --db");
  return v;
}

}  // namespace

void check_not_newer(int version, const std::string& path) {
  if (version > kRunSchemaVersion)
    throw Error(path + " has run database schema version " + std::to_string(version) +
                ", but this gom knows versions up to " + std::to_string(kRunSchemaVersion) +
                ": use a newer gom (or another --db file)");
}


int schema_version(SQLite::Database& db, const std::string& path) {
  return read_version(db, path);
}

int busy_timeout_ms() {
  if (const char* env = std::getenv("GOM_DB_BUSY_TIMEOUT_MS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0 && v <= 3600000) return int(v);
  }
  return kBusyTimeoutMs;
}

void migrate(SQLite::Database& db, const std::string& path) {
  // The common case (already current) needs no write lock.
  int v = read_version(db, path);
  check_not_newer(v, path);
  if (v == kRunSchemaVersion) return;
  // Outside the transaction (the pragma is a no-op inside one); the opener turns it back on.
  db.exec("PRAGMA foreign_keys = OFF");
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  v = read_version(db, path);  // another process may have migrated while we waited
  check_not_newer(v, path);
  if (v == 0) {
    // One row per applied step: the current version is MAX(version), the rest is history.
    db.exec(
        "CREATE TABLE schema_version(version INTEGER PRIMARY KEY, "
        "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))");
  }
  for (const Migration& m : migrations()) {
    if (m.version <= v) continue;
    db.exec(m.sql);
    if (m.after) m.after(db);
    SQLite::Statement ins(db, "INSERT INTO schema_version(version) VALUES (?)");
    ins.bind(1, m.version);
    ins.exec();
  }
  tx.commit();
}

}  // namespace gom::recorder_detail
