// What a metric's value means (gom/metric.h): the rule for a key nobody declared, and the run
// database's metric_info table (schema v4) with what reads it: metric_summary, run_summary's
// best_* and test_accuracy, result_value, and the backfill of a migrated v1 file.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "gom/error.h"
#include "gom/metric.h"
#include "gom_core/recorder.h"
#include "recorder_query.h"
#include "temp_files.h"

using namespace gom;
using Catch::Matchers::Contains;
using gom_test::one;
using gom_test::TempDir;

namespace {

constexpr auto kMin = MetricDirection::Minimize;
constexpr auto kMax = MetricDirection::Maximize;
constexpr auto kNone = MetricDirection::None;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

int64_t start(RunRecorder& rec, const std::string& name = "r") {
  return rec.start_run({.experiment = "e", .name = name, .detect_git = false});
}

const MetricSummaryRow& row_of(const std::vector<MetricSummaryRow>& rows, const std::string& key) {
  for (const MetricSummaryRow& r : rows)
    if (r.key == key) return r;
  FAIL("no metric_summary row for " << key);
  return rows.front();
}

}  // namespace

TEST_CASE("metric_info_by_name: phase from the first word, direction from the others",
          "[metric_info]") {
  struct Case {
    const char* key;
    MetricDirection direction;
    MetricPhase phase;
  };
  const std::vector<Case> cases = {
      {"train_loss", kMin, MetricPhase::Train},
      {"valid_loss", kMin, MetricPhase::Valid},
      {"val_acc", kMax, MetricPhase::Valid},
      {"test_accuracy", kMax, MetricPhase::Test},
      {"Test/Accuracy", kMax, MetricPhase::Test},  // any case, '/' separates words
      {"perplexity", kMin, MetricPhase::None},
      {"valid_ppl", kMin, MetricPhase::Valid},
      {"nll", kMin, MetricPhase::None},
      {"rmse", kMin, MetricPhase::None},
      {"mse", kMin, MetricPhase::None},
      {"mae", kMin, MetricPhase::None},
      {"error_rate", kMin, MetricPhase::None},
      {"val_err", kMin, MetricPhase::Valid},
      {"epoch_seconds", kMin, MetricPhase::None},  // a duration
      {"step_time", kMin, MetricPhase::None},
      {"samples_per_sec", kMax, MetricPhase::None},  // a rate, though it has "sec"
      {"tokens_per_second", kMax, MetricPhase::None},
      {"throughput", kMax, MetricPhase::None},
      {"accuracy", kMax, MetricPhase::None},
      {"top5_accuracy", kMax, MetricPhase::None},
      {"f1_micro", kMax, MetricPhase::None},
      {"precision_weighted", kMax, MetricPhase::None},
      {"recall", kMax, MetricPhase::None},
      {"roc_auc", kMax, MetricPhase::None},
      {"r2", kMax, MetricPhase::None},
      {"acc_loss", kMin, MetricPhase::None},  // a loss of something is a loss
      {"lr", kNone, MetricPhase::None},
      {"train", kNone, MetricPhase::None},        // a phase word alone is a name, not a phase
      {"errors_seen", kNone, MetricPhase::None},  // whole words only: "errors" is not "error"
      {"losses", kNone, MetricPhase::None},
      {"trainer_loss", kMin, MetricPhase::None},
      {"", kNone, MetricPhase::None},
  };
  for (const Case& c : cases) {
    INFO(c.key);
    const MetricInfo info = metric_info_by_name(c.key);
    CHECK(info.direction == c.direction);
    CHECK(info.phase == c.phase);
  }
}

TEST_CASE("metric directions and phases by name, and what is accepted", "[metric_info]") {
  CHECK(parse_metric_direction("minimize") == kMin);
  CHECK(parse_metric_direction("MIN") == kMin);
  CHECK(parse_metric_direction("maximize") == kMax);
  CHECK(parse_metric_direction("max") == kMax);
  CHECK(parse_metric_direction("none") == kNone);
  CHECK(parse_metric_direction("") == kNone);
  CHECK_THROWS_WITH(parse_metric_direction("lower"), Contains("'lower'") &&
                                                         Contains("\"minimize\" or \"min\"") &&
                                                         Contains("\"maximize\" or \"max\""));
  CHECK(parse_metric_phase("valid") == MetricPhase::Valid);
  CHECK(parse_metric_phase("validation") == MetricPhase::Valid);
  CHECK(parse_metric_phase("test") == MetricPhase::Test);
  CHECK_THROWS_WITH(parse_metric_phase("eval"),
                    Contains("'eval'") && Contains("\"train\", \"valid\", \"test\""));
  for (MetricDirection d : {kMin, kMax, kNone})
    CHECK(parse_metric_direction(metric_direction_name(d)) == d);
  for (MetricPhase p :
       {MetricPhase::Train, MetricPhase::Valid, MetricPhase::Test, MetricPhase::None})
    CHECK(parse_metric_phase(metric_phase_name(p)) == p);
}

TEST_CASE("every logged key has a metric_info row: declared, else the name rule's",
          "[metric_info][recorder]") {
  TempDir dir;
  RunRecorder rec(dir / "runs.db");
  const int64_t id = start(rec);
  // Declared before its first row, and after: either way the declaration stands.
  rec.describe_metric(id, "score", {kMin, MetricPhase::Valid});
  rec.log_metric(id, "score", 1, 1, 0.5);
  rec.log_metric(id, "error_budget", 1, 1, 0.5);
  rec.describe_metric(id, "error_budget", {kMax, MetricPhase::None});
  rec.log_metric(id, "valid_loss", 1, 1, 0.5);
  rec.log_metric(id, "lr", 1, 1, 0.1);
  rec.log_metric(id, "lr", 2, 2, 0.01);                        // once per key
  CHECK(one(rec, "SELECT count(*) FROM metric_info") == "0");  // buffered with the metrics
  rec.flush();
  CHECK(one(rec,
            "SELECT group_concat(key || ':' || IFNULL(direction, '-') || ':' || "
            "IFNULL(phase, '-'), ' ') FROM (SELECT * FROM metric_info WHERE run_id = ? "
            "ORDER BY key)",
            {std::to_string(id)}) ==
        "error_budget:maximize:- lr:-:- score:minimize:valid valid_loss:minimize:valid");
  // A second recorder (a resumed run's process) logging the key again keeps the declaration.
  {
    RunRecorder again(dir / "runs.db");
    again.log_metric(id, "error_budget", 3, 3, 0.7);
    again.flush();
  }
  CHECK(one(rec, "SELECT direction FROM metric_info WHERE key = 'error_budget'") == "maximize");
  // The CHECK constraints hold the names.
  CHECK_THROWS_WITH(
      rec.query("INSERT INTO metric_info VALUES (?, 'x', 'lower', NULL)", {std::to_string(id)}),
      Contains("CHECK constraint failed"));
  CHECK_THROWS_WITH(rec.describe_metric(99, "x", {}), Contains("no run 99"));
}

TEST_CASE("metric_summary: final by step, best by direction, NaN ignored for best",
          "[metric_info][recorder]") {
  TempDir dir;
  RunRecorder rec(dir / "runs.db");
  const int64_t id = start(rec);
  auto log = [&](const std::string& key, std::vector<double> values) {
    for (size_t i = 0; i < values.size(); ++i)
      rec.log_metric(id, key, int64_t(i + 1) * 10, int64_t(i + 1), values[i]);
  };
  log("perplexity", {7.51, 5.10, 6.0});  // best is the lowest, not the highest
  log("accuracy", {0.5, kNaN, 0.9, 0.8});
  log("epoch_seconds", {12.5, 9.75, 11.0});
  log("samples_per_sec", {800, 1200, 1000});
  log("lr", {0.1, 0.01});
  log("valid_loss", {0.4, 0.3, kNaN});  // the final value is NaN; the best is not
  log("error_budget", {0.2, 0.5, 0.3});
  rec.describe_metric(id, "error_budget", {kMax, MetricPhase::None});
  log("train_loss", {0.7, 0.3, 0.3});  // a tie: the first epoch that reached it
  rec.flush();
  const auto rows = rec.metric_summary(id);
  REQUIRE(rows.size() == 8);
  CHECK(rows.front().key == "accuracy");  // by key

  const auto& ppl = row_of(rows, "perplexity");
  CHECK(ppl.info.direction == kMin);
  CHECK(ppl.n == 3);
  CHECK(ppl.final_value == 6.0);
  CHECK(ppl.final_epoch == 3);
  CHECK(ppl.best_value == 5.10);
  CHECK(ppl.best_epoch == 2);
  const auto& acc = row_of(rows, "accuracy");
  CHECK(acc.n == 4);  // the NaN row counts as a row
  CHECK(acc.best_value == 0.9);
  CHECK(acc.best_epoch == 3);
  CHECK(acc.final_value == 0.8);
  CHECK(row_of(rows, "epoch_seconds").best_value == 9.75);  // the fastest epoch
  CHECK(row_of(rows, "samples_per_sec").best_value == 1200);
  const auto& lr = row_of(rows, "lr");
  CHECK(lr.info.direction == kNone);
  CHECK_FALSE(lr.best_value);
  CHECK(lr.final_value == 0.01);
  const auto& vl = row_of(rows, "valid_loss");
  CHECK(vl.info.phase == MetricPhase::Valid);
  CHECK(std::isnan(vl.final_value));
  CHECK(vl.final_epoch == 3);
  CHECK(vl.best_value == 0.3);
  CHECK(row_of(rows, "error_budget").best_value == 0.5);  // declared max, named min
  CHECK(row_of(rows, "train_loss").best_epoch == 2);

  // run_summary's best_* follow the same view.
  CHECK(one(rec,
            "SELECT best_valid_loss || '|' || best_accuracy || '|' || final_accuracy || '|' || "
            "IFNULL(final_valid_loss, 'NULL') FROM run_summary WHERE id = ?",
            {std::to_string(id)}) == "0.3|0.9|0.8|NULL");
  CHECK(rec.metric_summary(id + 1).empty());
}

TEST_CASE("run_summary has test_accuracy, and runs may be pruned", "[metric_info][recorder]") {
  TempDir dir;
  RunRecorder rec(dir / "runs.db");
  const int64_t id = start(rec);
  rec.log_metric(id, "accuracy", 10, 1, 0.8);
  rec.log_metric(id, "accuracy", 20, 2, 0.85);
  rec.log_metric(id, "test_accuracy", 20, 2, 0.83);
  CHECK(rec.finish_run(id, RunStatus::kPruned) == RunStatus::kPruned);
  CHECK(one(rec,
            "SELECT status || '|' || test_accuracy || '|' || final_accuracy FROM "
            "run_summary WHERE id = ?",
            {std::to_string(id)}) == "pruned|0.83|0.85");
  CHECK(parse_run_status("pruned") == RunStatus::kPruned);
  CHECK(rec.list_runs({.status = "pruned"}).size() == 1);
  CHECK_THROWS_WITH(parse_run_status("pruning"), Contains("crashed, pruned"));
}

TEST_CASE("result_value: the metric at the epoch of the weights the run ended with",
          "[metric_info][recorder]") {
  TempDir dir;
  RunRecorder rec(dir / "runs.db");
  const int64_t id = start(rec);
  const std::vector<double> acc = {0.7, 0.9, 0.8, 0.75};
  for (size_t e = 0; e < acc.size(); ++e)
    rec.log_metric(id, "accuracy", int64_t(e + 1) * 10, int64_t(e + 1), acc[e]);
  rec.log_metric(id, "test_accuracy", 40, 4, 0.88);  // measured once, at the last epoch
  rec.log_metric(id, "gap", 10, 1, kNaN);
  rec.flush();
  // Without the tag: the final value.
  CHECK(rec.result_value(id, "accuracy") == 0.75);
  // Early stopping put back epoch 2's weights: its value is the run's result.
  rec.add_tag(id, "weights_epoch", "2");
  CHECK(rec.result_value(id, "accuracy") == 0.9);
  // A key without a row at that epoch: its final value (the test accuracy of those weights).
  CHECK(rec.result_value(id, "test_accuracy") == 0.88);
  CHECK(std::isnan(*rec.result_value(id, "gap")));
  CHECK_FALSE(rec.result_value(id, "missing"));
}

TEST_CASE("a v1 database migrates to the current schema with metric_info rows by the name rule",
          "[metric_info][recorder]") {
  TempDir dir;
  const std::string db = dir / "runs.db";
  REQUIRE(std::system(
              ("sqlite3 '" + db + "' < '" GOM_FIXTURE_DIR "/runs_v1.sql' > /dev/null").c_str()) ==
          0);
  // A v1 file that cannot be written is read as it is: its keys get the name rule's rows.
  const std::string shm = db + "-shm";
  std::filesystem::remove(shm);
  std::filesystem::create_symlink(std::filesystem::path(dir / "missing") / "shm", shm);
  {
    RunRecorder ro(db, OpenMode::kRead);
    REQUIRE(ro.read_only());
    REQUIRE(ro.schema_version() == 1);
    const auto rows = ro.metric_summary(1);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].key == "valid_loss");
    CHECK(rows[0].info == MetricInfo{kMin, MetricPhase::Valid});
    CHECK(rows[0].n == 2);
    CHECK(rows[0].final_value == 0.25);
    CHECK(rows[0].best_value == 0.25);
    CHECK(rows[0].best_epoch == 2);
    CHECK(ro.metric_summary(3).empty());
  }
  std::filesystem::remove(shm);
  RunRecorder rec(db);
  CHECK(rec.schema_version() == kRunSchemaVersion);
  CHECK(one(rec, "SELECT group_concat(version) FROM schema_version") == "1,2,3,4,5,6");
  CHECK(one(rec,
            "SELECT group_concat(run_id || ':' || key || ':' || direction || ':' || phase) "
            "FROM metric_info") == "1:valid_loss:minimize:valid,2:valid_loss:minimize:valid");
  // Rebuilding runs again lost nothing that refers to it.
  CHECK(one(rec,
            "SELECT (SELECT count(*) FROM runs) || (SELECT count(*) FROM params) || "
            "(SELECT count(*) FROM metrics) || (SELECT count(*) FROM tags) || "
            "(SELECT count(*) FROM artifacts)") == "22311");
  CHECK(one(rec, "SELECT count(*) FROM pragma_foreign_key_check") == "0");
  CHECK(one(rec, "SELECT best_valid_loss FROM run_summary WHERE id = 1") == "0.25");
  rec.query("UPDATE runs SET status = 'pruned' WHERE id = 2");
  CHECK_THROWS_WITH(rec.query("UPDATE runs SET status = 'done' WHERE id = 2"),
                    Contains("CHECK constraint failed"));
  // Deleting a run deletes its rows.
  rec.query("DELETE FROM runs WHERE id = 2");
  CHECK(one(rec, "SELECT count(*) FROM metric_info WHERE run_id = 2") == "0");
}
