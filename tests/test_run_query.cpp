// `gom runs --where/--sort` (gom_core/run_query.h) and the view param_values (schema v6) on a
// database of three runs with known params and metrics.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "gom_core/run_query.h"
#include "recorder_query.h"
#include "temp_files.h"

using Catch::Matchers::Contains;
using gom::QueryOp;
using gom_test::one;

namespace {

// Run 1 "a" (experiment x): adam, lr 0.001, 10 epochs, accuracy 0.80 then 0.90 (final = best).
// Run 2 "b" (experiment x): sgd, lr 0.1, 5 epochs, accuracy 0.95 then 0.85 (best 0.95).
// Run 3 "c" (experiment y): adam, lr 1e-05, no epochs, no metrics.
// Params are stored as gom writes them: strings quoted, numbers and booleans as text, lists in
// brackets, optimizer.type as given.
struct Runs {
  gom_test::TempDir dir;
  gom::RunRecorder db{(dir.path / "runs.db").string()};
  Runs() {
    auto start = [&](const std::string& experiment, const std::string& name) {
      gom::RunInfo info;
      info.experiment = experiment;
      info.name = name;
      info.detect_git = false;
      return db.start_run(info);
    };
    const int64_t a = start("x", "a");
    db.log_params(a, {{"optimizer", "\"adam\""},
                      {"optimizer.lr", "0.001"},
                      {"fit.epochs", "10"},
                      {"fit.shuffle", "true"},
                      {"model.sizes", "[64, 32]"},
                      {"optimizer.type", "adam"}});
    db.log_metric(a, "accuracy", 1, 1, 0.80);
    db.log_metric(a, "accuracy", 2, 2, 0.90);
    db.finish_run(a, gom::RunStatus::kFinished);
    const int64_t b = start("x", "b");
    db.log_params(b, {{"optimizer", "\"sgd\""},
                      {"optimizer.lr", "0.1"},
                      {"fit.epochs", "5"},
                      {"fit.shuffle", "false"}});
    db.log_metric(b, "accuracy", 1, 1, 0.95);
    db.log_metric(b, "accuracy", 2, 2, 0.85);
    db.finish_run(b, gom::RunStatus::kFailed, "boom");
    const int64_t c = start("y", "c");
    db.log_params(c, {{"optimizer", "\"adam\""}, {"optimizer.lr", "1e-05"}});
    db.finish_run(c, gom::RunStatus::kFinished);
  }

  std::vector<int64_t> ids(const std::vector<std::string>& where, const std::string& sort = "",
                           gom::RunFilter filter = {}) {
    gom::RunQuery q;
    for (const std::string& w : where) q.where.push_back(gom::parse_condition(w));
    if (!sort.empty()) q.sort = gom::parse_sort(sort);
    std::vector<int64_t> out;
    for (const gom::QueryRow& r : gom::query_runs(db, q, filter).rows) out.push_back(r.run.id);
    return out;
  }
};

}  // namespace

TEST_CASE("param_values types the params as recorded", "[run_query][recorder]") {
  Runs runs;
  auto row = [&](const std::string& key) {
    return one(runs.db,
               "SELECT type || '|' || IFNULL(number, 'NULL') || '|' || typeof(number) || '|' || "
               "IFNULL(text, 'NULL') FROM param_values WHERE run_id = 1 AND key = ?",
               {key});
  };
  CHECK(row("optimizer") == "string|NULL|null|adam");
  CHECK(row("optimizer.type") == "string|NULL|null|adam");
  CHECK(row("optimizer.lr") == "real|0.001|real|NULL");
  CHECK(row("fit.epochs") == "integer|10|integer|NULL");
  CHECK(row("fit.shuffle") == "boolean|1|integer|NULL");
  CHECK(row("model.sizes") == "list|NULL|null|NULL");
  CHECK(one(runs.db, "SELECT number FROM param_values WHERE run_id = 2 AND key = 'fit.shuffle'") ==
        "0");
  // The README's examples.
  CHECK(one(runs.db,
            "SELECT group_concat(run_id) FROM param_values WHERE key = 'optimizer.lr' AND "
            "number < 1e-2") == "1,3");
  CHECK(one(runs.db,
            "SELECT group_concat(run_id) FROM param_values WHERE key = 'optimizer' AND "
            "text = 'adam'") == "1,3");
}

TEST_CASE("run query conditions parse in every form", "[run_query]") {
  auto c = gom::parse_condition("accuracy > 0.88");
  CHECK(c.key == "accuracy");
  CHECK(c.op == QueryOp::kGt);
  CHECK(c.text == "0.88");
  CHECK(c.number == 0.88);
  c = gom::parse_condition("optimizer.lr<1e-2");
  CHECK((c.key == "optimizer.lr" && c.op == QueryOp::kLt && c.number == 0.01));
  CHECK(gom::parse_condition("a<=1").op == QueryOp::kLe);
  CHECK(gom::parse_condition("a >=1").op == QueryOp::kGe);
  CHECK(gom::parse_condition("a!= 1").op == QueryOp::kNe);
  CHECK(gom::parse_condition("a == 1").op == QueryOp::kEq);
  CHECK(gom::parse_condition("a = 1").op == QueryOp::kEq);
  c = gom::parse_condition("name ~ 'b*'");
  CHECK((c.op == QueryOp::kGlob && c.text == "b*" && !c.number));
  c = gom::parse_condition("x = \"1e-3\"");  // quoted: text
  CHECK((c.text == "1e-3" && !c.number));
  c = gom::parse_condition("optimizer = adam");
  CHECK((c.text == "adam" && !c.number));
  CHECK(gom::parse_condition("fit.shuffle = true").number == 1.0);
  CHECK(gom::parse_condition("fit.shuffle = false").number == 0.0);
  CHECK(gom::parse_condition("s = a=b").text == "a=b");  // the first operator splits

  for (const char* bad : {"accuracy", "> 3", "a ! 3", "a =", "a <  "})
    CHECK_THROWS_WITH(gom::parse_condition(bad), Contains("accepted: KEY OP VALUE"));

  auto s = gom::parse_sort("-accuracy");
  CHECK((s.key == "accuracy" && s.descending));
  s = gom::parse_sort("best:accuracy");
  CHECK((s.key == "best:accuracy" && !s.descending));
  CHECK_THROWS_AS(gom::parse_sort("-"), gom::RunQueryError);
  CHECK_THROWS_AS(gom::parse_sort(""), gom::RunQueryError);
}

TEST_CASE("run queries select by metrics, params and columns", "[run_query]") {
  Runs runs;
  using V = std::vector<int64_t>;
  CHECK(runs.ids({}) == V{3, 2, 1});
  CHECK(runs.ids({"accuracy > 0.88"}) == V{1});          // final values: 0.90, 0.85
  CHECK(runs.ids({"best:accuracy > 0.88"}) == V{2, 1});  // best: 0.90, 0.95
  CHECK(runs.ids({"accuracy = 0.9"}) == V{1});
  CHECK(runs.ids({"optimizer.lr < 1e-2"}) == V{3, 1});  // as numbers: 1e-05 and 0.001
  CHECK(runs.ids({"optimizer.lr >= 0.001", "optimizer.lr <= 0.001"}) == V{1});
  CHECK(runs.ids({"optimizer = adam"}) == V{3, 1});
  CHECK(runs.ids({"optimizer != adam"}) == V{2});
  CHECK(runs.ids({"optimizer ~ 'a*'"}) == V{3, 1});
  CHECK(runs.ids({"optimizer.type = adam"}) == V{1});
  CHECK(runs.ids({"fit.shuffle = true"}) == V{1});
  CHECK(runs.ids({"fit.epochs != 10"}) == V{2});  // run 3 has none: no match
  CHECK(runs.ids({"param:optimizer.lr > 0.01"}) == V{2});
  CHECK(runs.ids({"status = failed"}) == V{2});
  CHECK(runs.ids({"experiment = x", "name ~ '[bc]'"}) == V{2});
  CHECK(runs.ids({"seed = 1"}).empty());  // no seed recorded
  CHECK(runs.ids({"duration_s >= 0"}) == V{3, 2, 1});
  CHECK(runs.ids({"optimizer = adam", "accuracy < 0.5"}).empty());

  gom::RunFilter x;
  x.experiment = "x";
  CHECK(runs.ids({"optimizer.lr > 0"}, "", x) == V{2, 1});
  x.limit = 1;
  CHECK(runs.ids({"optimizer.lr > 0"}, "", x) == V{2});  // the limit counts matches
}

TEST_CASE("run queries sort with the runs lacking the key last", "[run_query]") {
  Runs runs;
  using V = std::vector<int64_t>;
  CHECK(runs.ids({}, "-accuracy") == V{1, 2, 3});  // 0.90, 0.85, none
  CHECK(runs.ids({}, "accuracy") == V{2, 1, 3});
  CHECK(runs.ids({}, "-best:accuracy") == V{2, 1, 3});
  CHECK(runs.ids({}, "optimizer.lr") == V{3, 1, 2});  // numbers, not text: 1e-05 < 0.001
  CHECK(runs.ids({}, "-fit.epochs") == V{1, 2, 3});
  CHECK(runs.ids({}, "name") == V{1, 2, 3});
  gom::RunFilter one_run;
  one_run.limit = 1;
  CHECK(runs.ids({}, "-accuracy", one_run) == V{1});

  // The values of the keys, where keys then the sort key, each once.
  gom::RunQuery q;
  q.where.push_back(gom::parse_condition("optimizer.lr > 0"));
  q.where.push_back(gom::parse_condition("optimizer ~ '*'"));
  q.sort = gom::parse_sort("-optimizer.lr");
  const auto r = gom::query_runs(runs.db, q);
  REQUIRE(r.keys == std::vector<std::string>{"optimizer.lr", "optimizer"});
  REQUIRE(r.rows.size() == 3);
  CHECK(r.rows[0].run.id == 2);
  CHECK(r.rows[0].values[0].number == 0.1);
  CHECK(r.rows[0].values[1].text == "sgd");
  CHECK(r.rows[2].values[0].number == 1e-05);
  CHECK(r.rows[2].run.name == "c");

  q.where = {gom::parse_condition("fit.shuffle = false")};
  q.sort = gom::parse_sort("fit.epochs");
  const auto b = gom::query_runs(runs.db, q);
  REQUIRE(b.rows.size() == 1);
  CHECK(b.rows[0].values[0].text == "false");  // a boolean shows as written
  CHECK(b.rows[0].values[1].number == 5);
}

TEST_CASE("run queries refuse unknown keys and values of the wrong kind", "[run_query]") {
  Runs runs;
  CHECK_THROWS_WITH(
      runs.ids({"acuracy > 0.5"}),
      Contains("no metric, param or run column 'acuracy'") && Contains("did you mean 'accuracy'?"));
  CHECK_THROWS_WITH(runs.ids({}, "optimizer.l"), Contains("did you mean 'optimizer.lr'?"));
  CHECK_THROWS_WITH(runs.ids({"best:optimizer.lr > 1"}), Contains("no metric 'best:optimizer.lr'"));
  CHECK_THROWS_WITH(runs.ids({"param:accuracy > 1"}), Contains("no param 'param:accuracy'"));
  CHECK_THROWS_WITH(runs.ids({"accuracy > high"}), Contains("accuracy is a number"));
  CHECK_THROWS_WITH(runs.ids({"seed ~ '1*'"}), Contains("seed is a number"));
}
