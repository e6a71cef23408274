// The study store: a league's trials made in seed-major order, claims that never hand one trial
// to two workers, the states a trial goes through, a dead worker's trial noticed, a sweep's
// trials sampled up to its budget, and the pruner fed from the database.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <set>
#include <thread>

#include "gom/error.h"
#include "gom_core/recorder.h"
#include "gom_core/study.h"
#include "temp_files.h"

using Catch::Matchers::Contains;
using gom::StudyStore;
using gom::TrialState;

namespace {

gom::StudyDefinition league_def() {
  gom::StudyDefinition d;
  d.kind = gom::StudyKind::kLeague;
  d.name = "L";
  d.script = "/nowhere/trial.lua";
  d.metric = "accuracy";
  d.contenders = {{"adam", {{"optimizer", "adam"}}},
                  {"sgd", {{"optimizer", "sgd"}, {"lr", "0.1"}}}};
  d.seeds = {0, 1, 2};
  return d;
}

// A pid that was this host's and is no more: a child that has exited and been reaped.
int64_t dead_pid() {
  const pid_t p = fork();
  if (p == 0) _exit(0);
  int status = 0;
  waitpid(p, &status, 0);
  return p;
}

}  // namespace

TEST_CASE("a league's trials are every contender on every seed, claimed seed by seed", "[study]") {
  gom_test::TempDir dir;
  gom::RunRecorder db(dir / "runs.db");
  StudyStore store(db.path());
  const auto league = store.create_or_join(league_def(), std::nullopt);
  const auto trials = store.trials(league.id);
  REQUIRE(trials.size() == 6);
  std::vector<std::pair<int64_t, std::string>> order;
  for (int i = 0; i < 6; ++i) {
    auto t = store.claim(league.id);
    REQUIRE(t);
    CHECK(t->state == TrialState::kRunning);
    CHECK(t->attempts == 1);
    order.emplace_back(t->seed, t->contender);
  }
  CHECK(order == std::vector<std::pair<int64_t, std::string>>{
                     {0, "adam"}, {0, "sgd"}, {1, "adam"}, {1, "sgd"}, {2, "adam"}, {2, "sgd"}});
  CHECK_FALSE(store.claim(league.id));
  const auto sgd = store.trial(trials[1].id);
  CHECK(sgd.params == nlohmann::json{{"optimizer", "sgd"}, {"lr", "0.1"}});

  // The same definition joins the league; another is refused, naming what differs.
  CHECK(store.create_or_join(league_def(), std::nullopt).id == league.id);
  auto other = league_def();
  other.seeds = {0, 1};
  CHECK_THROWS_WITH(
      store.create_or_join(other, std::nullopt),
      Contains("another definition") && Contains("seeds ([0,1] here, [0,1,2] recorded)"));
}

TEST_CASE("workers in several threads never claim one trial twice", "[study]") {
  gom_test::TempDir dir;
  gom::RunRecorder db(dir / "runs.db");
  auto def = league_def();
  def.seeds = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const int64_t id = StudyStore(db.path()).create_or_join(def, std::nullopt).id;
  std::vector<std::vector<int64_t>> got(4);
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&, w] {
      StudyStore mine(db.path());  // a connection of its own, as a process would have
      while (auto t = mine.claim(id)) got[size_t(w)].push_back(t->number);
    });
  for (auto& t : workers) t.join();
  std::set<int64_t> all;
  size_t total = 0;
  for (const auto& g : got) {
    total += g.size();
    all.insert(g.begin(), g.end());
  }
  CHECK(total == 20);
  CHECK(all.size() == 20);
}

TEST_CASE("a trial ends, is handed back, retried once and then crashed", "[study]") {
  gom_test::TempDir dir;
  gom::RunRecorder db(dir / "runs.db");
  StudyStore store(db.path());
  const int64_t id = store.create_or_join(league_def(), std::nullopt).id;
  auto t = *store.claim(id);
  store.finish(t.id, TrialState::kFinished, 0.875);
  CHECK(store.trial(t.id).state == TrialState::kFinished);
  CHECK(*store.trial(t.id).value == 0.875);

  // Interrupted: back to waiting, the attempt not counted; claimed again it is attempt 1.
  t = *store.claim(id);
  store.release(t.id);
  CHECK(store.trial(t.id).state == TrialState::kWaiting);
  CHECK(store.trial(t.id).attempts == 0);
  t = *store.claim(id);
  CHECK(t.attempts == 1);

  // Its process died: waiting again (attempt 2 when claimed), then crashed.
  CHECK(store.retry_or_crash(t.id) == TrialState::kWaiting);
  t = *store.claim(id);
  CHECK(t.attempts == 2);
  CHECK(store.retry_or_crash(t.id) == TrialState::kCrashed);
  CHECK(store.trial(t.id).ended_at);
}

TEST_CASE("a trial claimed by a dead worker is noticed and run again", "[study]") {
  gom_test::TempDir dir;
  gom::RunRecorder db(dir / "runs.db");
  StudyStore store(db.path());
  const int64_t id = store.create_or_join(league_def(), std::nullopt).id;
  const auto mine = *store.claim(id);
  const auto theirs = *store.claim(id);
  // Make the second look claimed by a process of this host that has ended.
  db.query("UPDATE trials SET worker_pid = ?, worker_started = 1 WHERE id = ?",
           {std::to_string(dead_pid()), std::to_string(theirs.id)});
  const auto changed = store.recover(id);
  REQUIRE(changed.size() == 1);
  CHECK(changed[0].id == theirs.id);
  CHECK(changed[0].state == TrialState::kWaiting);
  CHECK(store.trial(mine.id).state == TrialState::kRunning);  // its worker (this process) lives
  // One with a live worker on another host and a fresh heartbeat is left alone; a stale one not.
  db.query(
      "UPDATE trials SET worker_host = 'elsewhere', heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', "
      "'now') WHERE id = ?",
      {std::to_string(mine.id)});
  CHECK(store.recover(id).empty());
  db.query("UPDATE trials SET heartbeat_at = '2020-01-01T00:00:00.000Z' WHERE id = ?",
           {std::to_string(mine.id)});
  CHECK(store.recover(id).size() == 1);
}

TEST_CASE("a sweep samples trials up to its budget, reproducibly", "[study]") {
  gom_test::TempDir dir;
  gom::RunRecorder db(dir / "runs.db");
  StudyStore store(db.path());
  gom::StudyDefinition d;
  d.kind = gom::StudyKind::kSweep;
  d.name = "S";
  d.script = "/nowhere/trial.lua";
  d.metric = "loss";
  d.maximize = false;
  d.space = {{"lr", {{"type", "loguniform"}, {"low", 1e-4}, {"high", 1e-1}}}};
  d.sampler = "random";
  d.trials = 4;
  const int64_t id = store.create_or_join(d, std::nullopt).id;
  std::vector<double> lrs;
  while (auto t = store.claim(id)) {
    const double lr = t->params.at("lr").get<double>();
    CHECK(lr >= 1e-4);
    CHECK(lr <= 1e-1);
    lrs.push_back(lr);
    store.finish(t->id, TrialState::kFinished, lr);
  }
  CHECK(lrs.size() == 4);
  // Another study of the same definition in another database draws the same values.
  gom::RunRecorder db2(dir / "other.db");
  StudyStore store2(db2.path());
  const int64_t id2 = store2.create_or_join(d, std::nullopt).id;
  for (double lr : lrs) CHECK(store2.claim(id2)->params.at("lr").get<double>() == lr);
}

TEST_CASE("the pruner reads the other trials' curves from their runs", "[study]") {
  gom_test::TempDir dir;
  gom::RunRecorder db(dir / "runs.db");
  StudyStore store(db.path());
  gom::StudyDefinition d;
  d.kind = gom::StudyKind::kSweep;
  d.name = "P";
  d.script = "/nowhere/trial.lua";
  d.metric = "accuracy";
  d.space = {{"x", {{"type", "choice"}, {"choices", {1, 2, 3, 4, 5, 6}}}}};
  d.sampler = "grid";
  d.pruner = "median";
  d.trials = 6;
  const int64_t id = store.create_or_join(d, std::nullopt).id;
  // Five finished trials with accuracy 0.1 x at epoch 1 (x = 1..5): the median is 0.3.
  for (int i = 0; i < 5; ++i) {
    auto t = *store.claim(id);
    gom::RunInfo info;
    info.detect_git = false;
    const int64_t run = db.start_run(info);
    store.attach_run(t.id, run);
    db.log_metric(run, "accuracy", 1, 1, 0.1 * t.params.at("x").get<double>());
    db.finish_run(run, gom::RunStatus::kFinished);
    store.finish(t.id, TrialState::kFinished, 0.1 * t.params.at("x").get<double>());
  }
  const auto sixth = *store.claim(id);
  CHECK(store.should_prune(sixth.id, {{1, 0.25}}));  // below the median
  CHECK_FALSE(store.should_prune(sixth.id, {{1, 0.35}}));
  CHECK_FALSE(store.should_prune(sixth.id, {{2, 0.0}, {1, 0.35}}));  // nobody has epoch 2 yet
}
