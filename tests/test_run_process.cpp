// The run database, schema v2: runs whose process is gone read as crashed, the heartbeat, resume
// refusing a live run, overrides as rows, the migration from v1, read-only opening, a damaged
// schema_version, and git run without the repository's commands.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gom/error.h"
#include "gom_core/recorder.h"
#include "temp_files.h"
#include "recorder_query.h"

using Catch::Matchers::Contains;
using gom_test::TempDir;

namespace fs = std::filesystem;

using gom_test::one;

namespace {

int sh(const std::string& cmd) {
  return std::system(cmd.c_str());
}

// A run started by a child process that then dies without finishing it (as SIGKILL would).
int64_t run_of_dead_child(const std::string& db) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int64_t id = 0;
    try {
      gom::RunRecorder rec(db);
      id = rec.start_run({.experiment = "e", .name = "dies", .detect_git = false});
    } catch (...) {
    }
    const ssize_t w = write(fds[1], &id, sizeof id);
    (void)w;
    _exit(0);  // no destructor, no finish_run
  }
  close(fds[1]);
  int64_t id = 0;
  REQUIRE(read(fds[0], &id, sizeof id) == static_cast<ssize_t>(sizeof id));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(id > 0);
  return id;
}

}  // namespace

TEST_CASE("a run whose process died reads as crashed, and is recorded so", "[recorder]") {
  TempDir dir;
  const std::string db = dir / "runs.db";
  const int64_t dead = run_of_dead_child(db);
  gom::RunRecorder rec(db);
  const int64_t alive = rec.start_run({.experiment = "e", .detect_git = false});
  // Stored as running until a reader looks.
  CHECK(one(rec, "SELECT status FROM runs WHERE id = ?", {std::to_string(dead)}) == "running");
  CHECK(one(rec,
            "SELECT host IS NOT NULL AND pid > 0 AND process_started > 0 AND "
            "heartbeat_at IS NOT NULL FROM runs WHERE id = ?",
            {std::to_string(dead)}) == "1");

  const auto runs = rec.list_runs();
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].id == alive);
  CHECK(runs[0].status == "running");
  CHECK(runs[0].pid == getpid());
  CHECK(runs[1].id == dead);
  CHECK(runs[1].status == "crashed");
  REQUIRE(runs[1].error);
  CHECK_THAT(*runs[1].error, Contains("ended without recording the end of the run") &&
                                 Contains("last heartbeat was at 20"));
  CHECK(runs[1].ended_at == runs[1].heartbeat_at);
  // The reader could write: the status is recorded, and the view and filters agree.
  CHECK(one(rec, "SELECT status || '|' || (ended_at = heartbeat_at) FROM runs WHERE id = ?",
            {std::to_string(dead)}) == "crashed|1");
  CHECK(one(rec, "SELECT status FROM run_summary WHERE id = ?", {std::to_string(dead)}) ==
        "crashed");
  CHECK(rec.list_runs({.status = "crashed"}).size() == 1);
  CHECK(rec.get_run(dead).run.status == "crashed");
  CHECK(gom::parse_run_status("crashed") == gom::RunStatus::kCrashed);

  // A pid that is alive but was started at another time is another process: crashed too.
  rec.query("UPDATE runs SET process_started = process_started + 1 WHERE id = ?",
            {std::to_string(alive)});
  CHECK(rec.get_run(alive).run.status == "crashed");
}

TEST_CASE("a run of another host is crashed once its heartbeat is old", "[recorder]") {
  TempDir dir;
  gom::RunRecorder rec(dir / "runs.db");
  const int64_t id = rec.start_run({.detect_git = false});
  const std::string sid = std::to_string(id);
  rec.query(
      "UPDATE runs SET host = 'elsewhere', heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', "
      "'now', '-60 seconds') WHERE id = ?",
      {sid});
  CHECK(rec.get_run(id).run.status == "running");
  CHECK(one(rec, "SELECT status FROM run_summary WHERE id = ?", {sid}) == "running");
  CHECK_THROWS_WITH(rec.resume_run(id), Contains("still running") && Contains("elsewhere") &&
                                            Contains("less than 120 s old"));
  rec.query(
      "UPDATE runs SET heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-300 "
      "seconds') WHERE id = ?",
      {sid});
  const gom::RunRecord r = rec.get_run(id).run;
  CHECK(r.status == "crashed");
  REQUIRE(r.duration_s);
  CHECK(*r.duration_s < 1e-3);  // up to its last heartbeat, which predates its start here
  CHECK(one(rec, "SELECT status || '|' || (duration_s <= 0) FROM run_summary WHERE id = ?",
            {sid}) == "crashed|1");
  // Another host's run is not written as crashed (its heartbeat may only be late).
  CHECK(one(rec, "SELECT status FROM runs WHERE id = ?", {sid}) == "running");
  rec.resume_run(id);  // a crashed run can be resumed, by this process now
  CHECK(one(rec, "SELECT host <> 'elsewhere' AND pid = ? FROM runs WHERE id = ?",
            {std::to_string(getpid()), sid}) == "1");
}

TEST_CASE("resume_run refuses a run whose process is alive", "[recorder]") {
  TempDir dir;
  const std::string db = dir / "runs.db";
  const int64_t dead = run_of_dead_child(db);  // forked before this process has threads
  gom::RunRecorder rec(db);
  const int64_t id = rec.start_run({.detect_git = false});
  gom::RunRecorder other(db);
  CHECK_THROWS_WITH(other.resume_run(id),
                    Contains("run " + std::to_string(id) + " is still running") &&
                        Contains("pid " + std::to_string(getpid())));
  rec.finish_run(id, gom::RunStatus::kFailed, "boom");
  other.resume_run(id);
  CHECK(other.get_run(id).run.status == "running");
  other.resume_run(dead);
  CHECK(one(other, "SELECT pid FROM runs WHERE id = ?", {std::to_string(dead)}) ==
        std::to_string(getpid()));
}

TEST_CASE("the heartbeat is renewed while a run is running", "[recorder]") {
  TempDir dir;
  gom::RunRecorder rec(dir / "runs.db");
  rec.set_heartbeat_interval(std::chrono::milliseconds(20));
  const int64_t id = rec.start_run({.detect_git = false});
  const std::string sid = std::to_string(id);
  rec.query("UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", {sid});
  bool renewed = false;
  for (int i = 0; i < 250 && !renewed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    renewed = one(rec, "SELECT heartbeat_at > '2001' FROM runs WHERE id = ?", {sid}) == "1";
  }
  CHECK(renewed);
  rec.finish_run(id, gom::RunStatus::kFinished);
  rec.query("UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", {sid});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(one(rec, "SELECT heartbeat_at FROM runs WHERE id = ?", {sid}) ==
        "2000-01-01T00:00:00.000Z");  // a finished run has no heartbeat
}

TEST_CASE("overrides are rows, in order, values kept whole", "[recorder]") {
  TempDir dir;
  gom::RunRecorder rec(dir / "runs.db");
  const int64_t id = rec.start_run({.detect_git = false});
  CHECK_FALSE(rec.run_overrides(id));
  rec.log_overrides(id, {{"tag", "a n=32"}, {"fit.epochs", "2"}, {"empty", ""}});
  const auto rows = rec.run_overrides(id);
  REQUIRE(rows);
  CHECK(*rows == std::vector<std::pair<std::string, std::string>>{
                     {"tag", "a n=32"}, {"fit.epochs", "2"}, {"empty", ""}});
}

TEST_CASE("a v1 database is migrated to v2 without losing a row", "[recorder]") {
  TempDir dir;
  const std::string db = dir / "runs.db";
  REQUIRE(sh("sqlite3 '" + db + "' < '" GOM_FIXTURE_DIR "/runs_v1.sql' > /dev/null") == 0);
  gom::RunRecorder rec(db);
  CHECK(rec.schema_version() == gom::kRunSchemaVersion);
  CHECK(one(rec, "SELECT count(*) FROM schema_version WHERE version IN (1, 2)") == "2");
  // Rebuilding runs deleted nothing that refers to it (foreign keys were off).
  CHECK(one(rec,
            "SELECT (SELECT count(*) FROM runs) || (SELECT count(*) FROM params) || "
            "(SELECT count(*) FROM metrics) || (SELECT count(*) FROM tags) || "
            "(SELECT count(*) FROM artifacts)") == "22311");
  CHECK(one(rec, "SELECT parent_run_id FROM runs WHERE id = 2") == "1");
  CHECK(one(rec, "PRAGMA foreign_keys") == "1");
  CHECK(one(rec, "SELECT count(*) FROM pragma_foreign_key_check") == "0");
  CHECK(one(rec,
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE "
            "'runs_by_%'") == "3");
  // A run left running before v2 has no process to check: it stays running.
  CHECK(rec.get_run(2).run.status == "running");
  CHECK_FALSE(rec.run_overrides(2));
  CHECK(one(rec, "SELECT final_valid_loss || '|' || lr FROM run_summary WHERE id = 1") ==
        "0.25|0.1");
  rec.query("UPDATE runs SET status = 'crashed' WHERE id = 2");  // the new CHECK allows it
  CHECK_THROWS_WITH(rec.query("UPDATE runs SET status = 'done' WHERE id = 2"),
                    Contains("CHECK constraint failed"));
}

TEST_CASE("a schema_version of 0 is a clear error", "[recorder]") {
  TempDir dir;
  const std::string db = dir / "runs.db";
  {
    gom::RunRecorder rec(db);
    rec.query("DELETE FROM schema_version");
    rec.query("INSERT INTO schema_version(version) VALUES (0)");
  }
  CHECK_THROWS_WITH(gom::RunRecorder(db),
                    Contains(db + " is damaged: its schema_version table says version 0"));
}

TEST_CASE("a database that cannot be written is read read-only", "[recorder]") {
  TempDir dir;
  const std::string db = dir / "runs.db";
  int64_t id = 0;
  {
    gom::RunRecorder rec(db);
    id = rec.start_run({.experiment = "e", .name = "ro", .detect_git = false});
    rec.finish_run(id, gom::RunStatus::kFinished);
  }
  // Even as root: a WAL database whose -shm file cannot be made (a link into a missing folder)
  // cannot be opened, to write or to read, as on a read-only filesystem.
  REQUIRE_FALSE(fs::exists(db + "-shm"));
  fs::create_symlink(fs::path(dir / "missing") / "shm", db + "-shm");
  CHECK_THROWS_WITH(gom::RunRecorder(db), Contains("cannot open run database " + db));
  gom::RunRecorder rec(db, gom::OpenMode::kRead);
  CHECK(rec.read_only());
  const auto runs = rec.list_runs();
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].name == "ro");
  CHECK(rec.get_run(id).run.status == "finished");
  CHECK_THROWS_AS(rec.start_run({}), gom::Error);
  // A missing file is not created by a reader.
  CHECK_THROWS(gom::RunRecorder(dir / "none.db", gom::OpenMode::kRead));
  CHECK_FALSE(fs::exists(dir / "none.db"));
}

TEST_CASE("git is asked without running the repository's commands", "[recorder]") {
  TempDir dir;
  const std::string repo = dir / "repo";
  const std::string marker = dir / "fsmonitor-ran";
  REQUIRE(sh("git init -q '" + repo + "' && echo x > '" + repo + "/exp.lua' && git -C '" + repo +
             "' add exp.lua && git -C '" + repo +
             "' -c user.name=t -c user.email=t@example.com commit -q -m i") == 0);
  REQUIRE(sh("git -C '" + repo + "' config core.fsmonitor 'touch " + marker + "; false'") == 0);
  REQUIRE(sh("echo y > '" + repo + "/exp.lua'") == 0);
  // The test means something: plain git status does run it.
  REQUIRE(sh("git -C '" + repo + "' status --porcelain > /dev/null 2>&1") == 0);
  REQUIRE(fs::exists(marker));
  fs::remove(marker);

  gom::RunRecorder rec(dir / "runs.db");
  const int64_t id = rec.start_run({.script_path = repo + "/exp.lua"});
  const gom::RunRecord r = rec.get_run(id).run;
  CHECK(r.git_commit);
  CHECK(r.git_dirty == true);
  CHECK_FALSE(fs::exists(marker));
}
