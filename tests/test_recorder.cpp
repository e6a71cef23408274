// The run recorder: rows written for a run, the summary view, schema versioning, refusal of bad
// files, git detection, and several processes creating and writing one database at once.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gom/error.h"
#include "gom_core/recorder.h"
#include "recorder_query.h"

using Catch::Matchers::Contains;

namespace fs = std::filesystem;

using gom_test::one;

namespace {

// A fresh path under the temp folder; the database and its -wal/-shm files go when it ends.
struct TempDb {
  fs::path path;
  TempDb() {
    std::random_device rd;
    path = fs::temp_directory_path() /
           ("gom_recorder_" + std::to_string(getpid()) + "_" + std::to_string(rd()) + ".db");
  }
  ~TempDb() {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      fs::remove(path.string() + suffix, ec);
  }
  std::string str() const { return path.string(); }
};

struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() /
           ("gom_recorder_dir_" + std::to_string(getpid()) + "_" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[256];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  REQUIRE(pclose(p) == 0);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// Forks procs children that wait on a pipe until all are forked, then run body(p) at the same
// moment (so they really race, on opening a new file too). Returns what the children reported:
// the text of every exception and every abnormal exit; empty when all succeeded.
template <class F>
std::string race_children(int procs, F body) {
  int go[2], report[2];
  REQUIRE(pipe(go) == 0);
  REQUIRE(pipe(report) == 0);
  std::vector<pid_t> kids;
  for (int p = 0; p < procs; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(go[1]);
      close(report[0]);
      char c;
      const ssize_t got = read(go[0], &c, 1);  // 0 (end of file) once the parent closes go[1]
      int rc = got == 0 ? 0 : 1;
      std::string msg = rc ? "child " + std::to_string(p) + ": the barrier failed\n" : "";
      try {
        if (rc == 0) body(p);
      } catch (const std::exception& e) {
        msg = "child " + std::to_string(p) + ": " + e.what() + "\n";
        rc = 1;
      }
      if (!msg.empty()) {
        const ssize_t w = write(report[1], msg.data(), msg.size());
        (void)w;
      }
      _exit(rc);  // no Catch2 teardown in the child
    }
    kids.push_back(pid);
  }
  close(go[0]);
  close(report[1]);
  close(go[1]);  // the barrier: every child's read returns now
  std::string errors;
  char buf[4096];
  ssize_t n;
  while ((n = read(report[0], buf, sizeof buf)) > 0) errors.append(buf, static_cast<size_t>(n));
  close(report[0]);
  for (pid_t pid : kids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      errors += "child pid " + std::to_string(pid) + " exited with status " +
                std::to_string(status) + "\n";
  }
  return errors;
}

}  // namespace

TEST_CASE("sha256 matches the standard test vectors", "[recorder]") {
  CHECK(gom::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(gom::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(gom::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(gom::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  TempDir dir;
  write_file(dir.path / "f", "abc");
  CHECK(gom::sha256_file_hex((dir.path / "f").string()) == gom::sha256_hex("abc"));
}

TEST_CASE("a run records its info, params, metrics and status", "[recorder]") {
  TempDb db;
  gom::RunRecorder rec(db.str());
  gom::RunInfo info;
  info.experiment = "mnist";
  info.name = "baseline";
  info.script_path = "/nonexistent/exp.lua";  // not read: the text is given
  info.script_text = "abc";
  info.seed = 42;
  info.backend = "onednn";
  info.device = "cpu";
  info.threads = 8;
  info.gom_version = "0.1.0";
  info.command_line = "gom run exp.lua --set optimizer.lr=0.1";
  const int64_t id = rec.start_run(info);
  CHECK(rec.current_run() == id);

  rec.log_params(id, {{"optimizer.lr", "0.1"}, {"fit.batch_size", "64"}, {"model.3.out", "10"}});
  rec.log_params(id, {{"optimizer.lr", "0.03"}});  // replaced, not duplicated
  CHECK(rec.run_params(id) ==
        std::vector<std::pair<std::string, std::string>>{
            {"fit.batch_size", "64"}, {"model.3.out", "10"}, {"optimizer.lr", "0.03"}});

  gom::MetricSink& sink = rec;  // as the trainer sees it
  const double train[] = {1.0, 0.5, 0.25}, valid[] = {0.9, 0.4, 0.6}, acc[] = {0.5, 0.8, 0.7};
  for (int e = 0; e < 3; ++e) {
    sink.log("train_loss", 10 * (e + 1), e + 1, train[e]);
    sink.log("valid_loss", 10 * (e + 1), e + 1, valid[e]);
    sink.log("accuracy", 10 * (e + 1), e + 1, acc[e]);
    if (e == 0) CHECK(one(rec, "SELECT count(*) FROM metrics") == "0");  // buffered
    sink.flush();
  }
  CHECK(one(rec, "SELECT status FROM runs WHERE id = ?", {std::to_string(id)}) == "running");
  CHECK(one(rec, "SELECT ended_at FROM runs WHERE id = ?", {std::to_string(id)}) == "NULL");
  rec.finish_run(id, gom::RunStatus::kFinished);
  CHECK_FALSE(rec.current_run());

  gom::RunDetails d = rec.get_run(id);
  CHECK(d.run.experiment == "mnist");
  CHECK(d.run.name == "baseline");
  CHECK(d.run.status == "finished");
  CHECK(d.run.ended_at.has_value());
  CHECK_FALSE(d.run.error.has_value());
  CHECK(d.run.script_sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(d.script_text == "abc");
  CHECK(d.run.seed == 42);
  CHECK(d.run.threads == 8);
  CHECK(d.run.backend == "onednn");
  CHECK(d.run.gom_version == "0.1.0");
  CHECK(d.run.command_line == info.command_line);
  CHECK_FALSE(d.run.git_commit.has_value());  // /nonexistent is no work tree
  CHECK(d.run.duration_s.has_value());
  CHECK(*d.run.duration_s >= 0);
  REQUIRE(d.metrics.size() == 9);
  CHECK(d.metrics[0].key == "accuracy");
  CHECK(d.metrics[0].epoch == 1);
  CHECK(d.metrics[0].step == 10);
  CHECK(d.metrics[0].value == 0.5);
  CHECK(d.metrics[0].wall_time > 1.6e9);
  // Exactly one row per (key, epoch).
  CHECK(
      rec.query("SELECT key, epoch FROM metrics GROUP BY key, epoch HAVING count(*) <> 1").empty());
  CHECK(one(rec, "SELECT count(DISTINCT key || '/' || epoch) FROM metrics") == "9");

  // The summary view: final = last epoch's value, best = min loss / max accuracy.
  auto rows = rec.query(
      "SELECT experiment, name, status, final_train_loss, final_valid_loss, final_accuracy, "
      "best_valid_loss, best_accuracy, epochs, lr, batch_size, duration_s >= 0 "
      "FROM run_summary WHERE id = ?",
      {std::to_string(id)});
  REQUIRE(rows.size() == 1);
  const auto& r = rows[0];
  CHECK(r[0] == "mnist");
  CHECK(r[1] == "baseline");
  CHECK(r[2] == "finished");
  CHECK(std::stod(*r[3]) == 0.25);
  CHECK(std::stod(*r[4]) == 0.6);
  CHECK(std::stod(*r[5]) == 0.7);
  CHECK(std::stod(*r[6]) == 0.4);
  CHECK(std::stod(*r[7]) == 0.8);
  CHECK(r[8] == "3");
  CHECK(r[9] == "0.03");
  CHECK(r[10] == "64");
  CHECK(r[11] == "1");

  rec.add_tag(id, "note", "first");
  rec.add_tag(id, "note", "second");
  TempDir dir;
  write_file(dir.path / "ckpt.safetensors", "abc");
  rec.add_artifact(id, "checkpoint", (dir.path / "ckpt.safetensors").string());
  d = rec.get_run(id);
  CHECK(d.tags == std::vector<std::pair<std::string, std::string>>{{"note", "second"}});
  REQUIRE(d.artifacts.size() == 1);
  CHECK(d.artifacts[0].kind == "checkpoint");
  CHECK(d.artifacts[0].bytes == 3);
  CHECK(d.artifacts[0].sha256 == gom::sha256_hex("abc"));

  CHECK_THROWS_WITH(rec.get_run(id + 100), Contains("no run"));
  CHECK_THROWS_WITH(rec.log_metric(id + 100, "x", 0, 0, 1.0), Contains("no run"));
}

TEST_CASE("a failed run keeps its metrics and error text", "[recorder]") {
  TempDb db;
  int64_t id = 0;
  {
    gom::RunRecorder rec(db.str());
    id = rec.start_run({.experiment = "e", .name = "boom"});
    rec.log("train_loss", 1, 1, 2.0);
    rec.flush();
    rec.log("train_loss", 2, 2, 1.0);  // still buffered when the run fails
    rec.finish_run(id, gom::RunStatus::kFailed, "fit: non-finite loss at epoch 3, batch 7");
    CHECK_THROWS_WITH(rec.log("train_loss", 3, 3, 0.5), Contains("before start_run"));
  }
  gom::RunRecorder rec(db.str());  // a fresh connection sees it all
  gom::RunDetails d = rec.get_run(id);
  CHECK(d.run.status == "failed");
  CHECK(d.run.error == "fit: non-finite loss at epoch 3, batch 7");
  REQUIRE(d.metrics.size() == 2);
  CHECK(d.metrics[1].value == 1.0);
  CHECK(d.run.script_sha256.empty());  // no script at all: NULL

  // A NaN is stored as NULL and read back as NaN.
  const int64_t id2 = rec.start_run({.experiment = "e"});
  rec.log("train_loss", 1, 1, std::nan(""));
  rec.finish_run(id2, gom::RunStatus::kDiverged, "loss is nan");
  CHECK(std::isnan(rec.run_metrics(id2).at(0).value));

  // list_runs: newest first, filters.
  auto runs = rec.list_runs();
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].id == id2);
  CHECK(rec.list_runs({.status = "failed"}).size() == 1);
  CHECK(rec.list_runs({.experiment = "other"}).empty());
  CHECK(rec.list_runs({.limit = 1}).size() == 1);
  CHECK_THROWS_WITH(rec.list_runs({.status = "done"}), Contains("accepted: running"));

  // resume_run sets it back to running.
  rec.resume_run(id);
  CHECK(rec.get_run(id).run.status == "running");
  CHECK_FALSE(rec.get_run(id).run.ended_at);
  rec.finish_run(id, gom::RunStatus::kInterrupted);
  CHECK(rec.get_run(id).run.status == "interrupted");
}

TEST_CASE("the schema is versioned and a newer one is refused", "[recorder]") {
  TempDb db;
  {
    gom::RunRecorder rec(db.str());
    CHECK(rec.schema_version() == gom::kRunSchemaVersion);
    CHECK(one(rec, "SELECT max(version) FROM schema_version") ==
          std::to_string(gom::kRunSchemaVersion));
    // One row per migration step, each applied once.
    CHECK(one(rec, "SELECT count(*) FROM schema_version") ==
          std::to_string(gom::kRunSchemaVersion));
    CHECK(one(rec, "PRAGMA journal_mode") == "wal");
    CHECK(one(rec, "PRAGMA foreign_keys") == "1");
    for (const char* t :
         {"experiments", "runs", "params", "metrics", "tags", "artifacts", "overrides"})
      CHECK(one(rec, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", {t}) ==
            "1");
    CHECK(one(rec, "SELECT count(*) FROM sqlite_master WHERE name = 'run_summary'") == "1");
    // The CHECK constraint holds the status vocabulary.
    const int64_t id = rec.start_run({});
    CHECK_THROWS_WITH(
        rec.query("UPDATE runs SET status = 'done' WHERE id = ?", {std::to_string(id)}),
        Contains("CHECK constraint failed"));
  }
  {
    gom::RunRecorder rec(db.str());  // reopening a current file is a no-op
    CHECK(one(rec, "SELECT count(*) FROM schema_version") ==
          std::to_string(gom::kRunSchemaVersion));
    rec.query("INSERT INTO schema_version(version) VALUES (?)",
              {std::to_string(gom::kRunSchemaVersion + 1)});
  }
  CHECK_THROWS_WITH(
      gom::RunRecorder(db.str()),
      Contains(db.str()) &&
          Contains("schema version " + std::to_string(gom::kRunSchemaVersion + 1)) &&
          Contains("up to " + std::to_string(gom::kRunSchemaVersion)));
}

TEST_CASE("a database has its own uid, made once", "[recorder]") {
  TempDb a, b;
  std::string uid;
  {
    gom::RunRecorder rec(a.str());
    uid = rec.uid();
    CHECK(uid.size() == 32);
    CHECK(uid.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(one(rec, "SELECT count(*) FROM database") == "1");
  }
  gom::RunRecorder again(a.str());
  CHECK(again.uid() == uid);  // reopening keeps it
  CHECK(gom::RunRecorder(b.str()).uid() != uid);
}

TEST_CASE("a run's end is recorded when its metric rows cannot be written", "[recorder]") {
  TempDb db;
  gom::RunRecorder rec(db.str());
  const int64_t id = rec.start_run({});
  // Another connection makes every metric insert fail, as a full disk would.
  {
    gom::RunRecorder other(db.str());
    other.query("CREATE TRIGGER full BEFORE INSERT ON metrics BEGIN "
                "SELECT RAISE(ABORT, 'database or disk is full'); END");
  }
  rec.log("train_loss", 1, 1, 0.5);
  CHECK_FALSE(rec.try_flush());  // no throw: the rows stay buffered
  CHECK(rec.buffered_rows() == 1);
  CHECK_THAT(rec.last_write_error(),
             Contains(db.str()) && Contains("writing metrics: database or disk is full"));
  CHECK_THROWS_WITH(rec.flush(), Contains("database or disk is full"));
  rec.log("train_loss", 2, 2, 0.25);
  // The script's own error is kept, the status is written (failed), and what was lost is said.
  CHECK(rec.finish_run(id, gom::RunStatus::kFinished, "script.lua:3: boom") ==
        gom::RunStatus::kFailed);
  const auto run = rec.get_run(id).run;
  CHECK(run.status == "failed");
  REQUIRE(run.error);
  CHECK_THAT(*run.error, Contains("script.lua:3: boom\n2 metric rows could not be written: ") &&
                             Contains("database or disk is full"));
  // Once the database takes them again, the kept rows are written.
  rec.query("DROP TRIGGER full");
  CHECK(rec.try_flush());
  CHECK(one(rec, "SELECT group_concat(value) FROM metrics WHERE run_id = ?",
            {std::to_string(id)}) == "0.5,0.25");
}

TEST_CASE("a file that is not a run database is refused clearly", "[recorder]") {
  TempDir dir;
  const fs::path text = dir.path / "runs.db";
  write_file(text, "this is a text file, not a database\n" + std::string(2000, 'x'));
  CHECK_THROWS_WITH(gom::RunRecorder(text.string()),
                    Contains(text.string() + " is not a gom run database: file is not a database"));

  const std::string missing = (dir.path / "no" / "such" / "dir" / "runs.db").string();
  CHECK_THROWS_WITH(gom::RunRecorder(missing),
                    Contains(missing) && Contains("unable to open database file"));
  CHECK_THROWS_AS(gom::RunRecorder(missing), gom::Error);
}

TEST_CASE("the git commit is recorded when the script is in a work tree", "[recorder]") {
  TempDir dir;
  const std::string q = "'" + dir.path.string() + "'";
  sh("git -C " + q + " init -q");
  write_file(dir.path / "exp.lua", "return {}\n");
  sh("git -C " + q + " add exp.lua");
  sh("git -C " + q + " -c user.name=t -c user.email=t@example.com commit -q -m init");
  const std::string head = sh("git -C " + q + " rev-parse HEAD");
  REQUIRE(head.size() == 40);

  TempDb db;
  gom::RunRecorder rec(db.str());
  const std::string script = (dir.path / "exp.lua").string();
  const int64_t clean = rec.start_run({.experiment = "g", .script_path = script});
  gom::RunDetails d = rec.get_run(clean);
  CHECK(d.run.git_commit == head);
  CHECK(d.run.git_dirty == false);
  CHECK(d.script_text == "return {}\n");  // read from the file
  CHECK(d.run.script_sha256 == gom::sha256_hex("return {}\n"));

  write_file(dir.path / "untracked.txt", "x");  // untracked files do not make it dirty
  CHECK(rec.get_run(rec.start_run({.script_path = script})).run.git_dirty == false);
  write_file(dir.path / "exp.lua", "return {lr = 1}\n");
  CHECK(rec.get_run(rec.start_run({.script_path = script})).run.git_dirty == true);

  TempDir plain;  // not a work tree
  write_file(plain.path / "exp.lua", "x");
  d = rec.get_run(rec.start_run({.script_path = (plain.path / "exp.lua").string()}));
  CHECK_FALSE(d.run.git_commit);
  CHECK_FALSE(d.run.git_dirty);
}

TEST_CASE("several processes record into one database without losing a row", "[recorder]") {
  TempDb db;
  constexpr int kProcs = 4, kRows = 300;
  // The children open a file that does not exist yet, all at once: creation, the switch to WAL
  // and the migration race too, and then every write.
  const std::string errors = race_children(kProcs, [&](int p) {
    gom::RunRecorder rec(db.str());
    const int64_t id =
        rec.start_run({.experiment = "concurrent", .name = "proc" + std::to_string(p)});
    for (int i = 0; i < kRows; ++i) {
      rec.log("train_loss", i, i / 100 + 1, 1.0 / (i + 1));
      rec.flush();  // one small transaction per row: the worst case for contention
      if (i % 100 == 0) {
        rec.log_params(id, {{"step" + std::to_string(i), "x"}});
        rec.add_tag(id, "tag" + std::to_string(i), "x");
        rec.add_artifact(id, "plot", "/nonexistent/" + std::to_string(i) + ".png");
        rec.list_runs();  // reads while the others write
        rec.run_metrics(id);
      }
    }
    rec.finish_run(id, gom::RunStatus::kFinished);
  });
  CHECK(errors == "");
  gom::RunRecorder rec(db.str());
  CHECK(one(rec, "SELECT count(*) FROM schema_version") ==
        std::to_string(gom::kRunSchemaVersion));  // each step once
  auto runs = rec.list_runs({.experiment = "concurrent"});
  REQUIRE(runs.size() == kProcs);
  for (const auto& r : runs) {
    CHECK(r.status == "finished");
    CHECK(rec.run_metrics(r.id).size() == kRows);
    CHECK(rec.run_params(r.id).size() == kRows / 100);
    gom::RunDetails d = rec.get_run(r.id);
    CHECK(d.tags.size() == kRows / 100);
    CHECK(d.artifacts.size() == kRows / 100);
  }
  CHECK(one(rec, "SELECT count(*) FROM metrics") == std::to_string(kProcs * kRows));
  CHECK(one(rec, "SELECT count(*) FROM experiments") == "1");
}

TEST_CASE("processes racing to create a database all open it", "[recorder]") {
  // Each round: several processes open one brand-new file at the same moment (switch to WAL,
  // create the schema) and record a run. Before the schema check read one snapshot, about one
  // round in fifty failed with "has tables but no schema_version table".
  constexpr int kRounds = 20, kProcs = 6, kRows = 20;
  for (int round = 0; round < kRounds; ++round) {
    TempDb db;
    const std::string errors = race_children(kProcs, [&](int p) {
      gom::RunRecorder rec(db.str());
      const int64_t id = rec.start_run({.experiment = "race", .name = std::to_string(p)});
      for (int i = 0; i < kRows; ++i) rec.log("train_loss", i, 1, i);
      rec.finish_run(id, gom::RunStatus::kFinished);
    });
    INFO("round " << round);
    REQUIRE(errors == "");
    gom::RunRecorder rec(db.str());
    CHECK(rec.schema_version() == gom::kRunSchemaVersion);
    CHECK(one(rec, "PRAGMA journal_mode") == "wal");
    CHECK(one(rec, "SELECT count(*) FROM schema_version") ==
          std::to_string(gom::kRunSchemaVersion));
    CHECK(one(rec, "SELECT count(*) FROM runs WHERE status = 'finished'") ==
          std::to_string(kProcs));
    CHECK(one(rec, "SELECT count(*) FROM metrics") == std::to_string(kProcs * kRows));
  }
}

TEST_CASE("threads share a recorder or use their own connections", "[recorder]") {
  TempDb db;
  gom::RunRecorder shared(db.str());
  const int64_t id = shared.start_run({.experiment = "threads"});
  constexpr int kRows = 300;
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t)  // two threads through one recorder (its mutex)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kRows; ++i) {
        shared.log_metric(id, "m" + std::to_string(t), i, 1, i);
        if (i % 7 == 0) shared.flush();
      }
    });
  bool other_ok = true;
  ts.emplace_back([&] {  // and one with its own connection
    try {
      gom::RunRecorder own(db.str());
      const int64_t mine = own.start_run({.experiment = "threads"});
      for (int i = 0; i < kRows; ++i) {
        own.log_metric(mine, "m", i, 1, i);
        own.flush();
      }
      own.finish_run(mine, gom::RunStatus::kFinished);
    } catch (...) {
      other_ok = false;
    }
  });
  for (auto& t : ts) t.join();
  CHECK(other_ok);
  shared.finish_run(id, gom::RunStatus::kFinished);
  CHECK(shared.run_metrics(id).size() == 2 * kRows);
  CHECK(one(shared, "SELECT count(*) FROM metrics") == std::to_string(3 * kRows));
}
