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
  const char* sql;
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

// v5: leagues and sweeps (gom_core/study.h). A study is a parent run and its trials; each trial
// is run as its own `gom run` process whose run points to the trial's (trials.run_id). A
// trial's worker (host, pid, process start time) and heartbeat let another worker tell that it
// died. trial_summary and league_table are views for sqlite3 users.
constexpr const char* kSchemaStudies = R"sql(
CREATE TABLE studies(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('league', 'sweep')),
  run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  script_path TEXT NOT NULL,
  metric TEXT NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('minimize', 'maximize')),
  definition TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE trials(
  id INTEGER PRIMARY KEY,
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  number INTEGER NOT NULL,
  contender TEXT,
  seed INTEGER NOT NULL,
  params TEXT NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('waiting', 'running', 'finished', 'pruned', 'failed', 'crashed')),
  run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  value REAL,
  attempts INTEGER NOT NULL DEFAULT 0,
  worker_host TEXT,
  worker_pid INTEGER,
  worker_started INTEGER,
  heartbeat_at TEXT,
  started_at TEXT,
  ended_at TEXT,
  UNIQUE (study_id, number)
);
CREATE INDEX trials_by_state ON trials(study_id, state);
CREATE INDEX trials_by_run ON trials(run_id);

-- One row per trial: its study, what it tried (contender or params, as JSON), its seed, state,
-- the value of the study's metric and its run.
CREATE VIEW trial_summary AS
SELECT
  s.name AS study,
  s.kind AS kind,
  t.number AS number,
  t.contender AS contender,
  t.params AS params,
  t.seed AS seed,
  t.state AS state,
  s.metric AS metric,
  s.direction AS direction,
  t.value AS value,
  t.run_id AS run_id,
  t.attempts AS attempts,
  t.started_at AS started_at,
  t.ended_at AS ended_at,
  ROUND((julianday(t.ended_at) - julianday(t.started_at)) * 86400.0, 3) AS duration_s
FROM trials t JOIN studies s ON s.id = t.study_id;

-- One row per league contender over its finished trials: runs, mean, sample standard deviation,
-- min and max of the league's metric (`gom league show` adds bootstrap intervals, IQM and the
-- paired tests).
CREATE VIEW league_table AS
SELECT
  s.name AS league,
  t.contender AS contender,
  s.metric AS metric,
  s.direction AS direction,
  COUNT(t.value) AS runs,
  AVG(t.value) AS mean,
  CASE WHEN COUNT(t.value) > 1
       THEN sqrt(MAX(0.0, (SUM(t.value * t.value) - COUNT(t.value) * AVG(t.value) * AVG(t.value))
                          / (COUNT(t.value) - 1)))
  END AS sd,
  MIN(t.value) AS min,
  MAX(t.value) AS max
FROM trials t JOIN studies s ON s.id = t.study_id
WHERE s.kind = 'league' AND t.state = 'finished'
GROUP BY s.id, t.contender;
)sql";

// Applied in order; each inside the same BEGIN IMMEDIATE transaction as its version row.
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> m = {{1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3}, {4, kSchemaStudies}};
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
    SQLite::Statement ins(db, "INSERT INTO schema_version(version) VALUES (?)");
    ins.bind(1, m.version);
    ins.exec();
  }
  tx.commit();
}

}  // namespace gom::recorder_detail
