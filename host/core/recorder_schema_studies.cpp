// recorder_schema_studies.cpp — schema v5 of the run database: leagues and sweeps. Kept apart
// from recorder_schema.cpp (v1–v4) so that no file grows past a screenful of SQL.
#include "recorder_internal.h"

namespace gom::recorder_detail {

// v5: leagues and sweeps (gom_core/study.h). A study is a parent run and its trials; each trial
// is run as its own `gom run` process whose run points to the trial's (trials.run_id). A
// trial's worker (host, pid, process start time) and heartbeat let another worker tell that it
// died. trial_summary and league_table are views for sqlite3 users.
const char* const kSchemaV5Studies = R"sql(
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
  t.number + 1 AS number,  -- as gom prints it: trial 1 is the first
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

}  // namespace gom::recorder_detail
