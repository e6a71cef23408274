// Dataset `ratings`: index maps of CSV and MovieLens u.data files checked by hand, format
// detection, exact error messages with file:line, and the seeded synthetic low-rank ratings
// (determinism, distinct pairs, complementary splits, the noise's size).
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "gom/dataset.h"
#include "gom/gom.h"
#include "temp_files.h"

using namespace gom;
namespace fs = std::filesystem;

namespace {

using gom_test::TempDir;

std::string error_of(const Config& c) {
  return gom_test::dataset_error("ratings", c);
}

using gom_test::all_indices;

}  // namespace

TEST_CASE("ratings: a CSV file's ids become sorted indices", "[ratings_dataset]") {
  TempDir dir;
  const std::string path =
      dir.write("r.csv", "user,item,rating\n10,b,4\n2,a,3.5\n33,b,5\n2,b,1\n");
  auto ds = create_dataset("ratings", {{"path", path}, {"split", "all"}});
  REQUIRE(ds->size() == 4);
  CHECK(ds->input_shape() == Shape{2});
  CHECK(ds->num_classes() == 0);
  const Batch b = ds->get_batch({0, 1, 2, 3});
  CHECK(b.input.dtype() == DType::I64);
  CHECK(b.input.shape() == Shape{4, 2});
  // users 2, 10, 33 (numeric order) -> 0, 1, 2; items a, b -> 0, 1.
  CHECK(b.input.to_vector<int64_t>() == std::vector<int64_t>{1, 1, 0, 0, 2, 1, 0, 1});
  CHECK(b.target.shape() == Shape{4, 1});
  CHECK(b.target.to_vector<float>() == std::vector<float>{4, 3.5f, 5, 1});
  const Config info = ds->info();
  CHECK(info.at("n_users").as_int() == 3);
  CHECK(info.at("n_items").as_int() == 2);
  CHECK(info.at("rating_min").as_number() == 1);
  CHECK(info.at("rating_max").as_number() == 5);
  CHECK(info.at("ratings").as_int() == 4);
  CHECK(ds->describe() == "ratings r.csv (csv) all: 4 of 4 ratings, 3 users x 2 items, ratings 1 to 5");
  CHECK_THROWS_WITH(ds->get_batch({4}), "dataset 'ratings': index 4 is out of range [0, 4)");

  // MovieLens' ratings.csv names its columns userId and movieId.
  const std::string ml = dir.write("ml.csv", "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n"
                                             "1,1029,3.0,1260759179\n7,31,4,1\n");
  auto m = create_dataset("ratings", {{"path", ml}, {"user", "userId"}, {"item", "movieId"},
                                      {"split", "all"}});
  CHECK(m->get_batch({0, 1, 2}).input.to_vector<int64_t>() ==
        std::vector<int64_t>{0, 0, 0, 1, 1, 0});
}

TEST_CASE("ratings: MovieLens u.data, by extension or by content", "[ratings_dataset]") {
  TempDir dir;
  const std::string data = "196\t242\t3\t881250949\n186\t302\t3\t891717742\r\n\n22\t377\t1\t878887116";
  for (const char* name : {"u.data", "ratings.txt"}) {
    INFO(name);
    const std::string path = dir.write(name, data);
    auto ds = create_dataset("ratings", {{"path", path}, {"split", "all"}});
    REQUIRE(ds->size() == 3);
    // users 22, 186, 196; items 242, 302, 377.
    CHECK(ds->get_batch({0, 1, 2}).input.to_vector<int64_t>() ==
          std::vector<int64_t>{2, 0, 1, 1, 0, 2});
    CHECK(ds->get_batch({0, 1, 2}).target.to_vector<float>() == std::vector<float>{3, 3, 1});
    CHECK_THAT(ds->describe(), Catch::Contains("(udata)"));
  }
  // format = csv overrides the extension; the tab-separated lines then are one column.
  const std::string path = dir.write("u2.data", data);
  CHECK(error_of({{"path", path}, {"format", "csv"}}) ==
        "dataset 'ratings': " + path +
            ": no column 'user' in the header (columns: 196\t242\t3\t881250949); set user to the "
            "name of the user column");
}

TEST_CASE("ratings: error messages are exact", "[ratings_dataset]") {
  TempDir dir;
  auto fails = [&](const std::string& name, const std::string& text) {
    const std::string p = dir.write(name, text);
    return std::pair{error_of({{"path", p}}), "dataset 'ratings': " + p};
  };
  {
    auto [e, p] = fails("a.data", "196\t242\t3\t1\n186\t302\tx\t2\n");
    CHECK(e == p + ":2: rating 'x' is not a number");
  }
  {
    auto [e, p] = fails("b.data", "196\t242\t3\t1\n196\t242\n");
    CHECK(e == p + ":2: 2 fields; u.data lines have 4 separated by tabs (user, item, rating, "
                   "timestamp) or 3");
  }
  {
    auto [e, p] = fails("c.data", "");
    CHECK(e == p + ": no ratings (empty file)");
  }
  {
    auto [e, p] = fails("d.csv", "u,i,r\n1,2,3\n");
    CHECK(e == p + ": no column 'user' in the header (columns: u, i, r); set user to the name of "
                   "the user column");
  }
  {
    auto [e, p] = fails("e.csv", "user,item,rating\n1,2,3\n1,2\n");
    CHECK(e == p + ":3: 2 fields, the header has 3");
  }
  {
    auto [e, p] = fails("f.csv", "user,item,rating\n1,2,3\n\n,2,3\n");
    CHECK(e == p + ":4: empty user id");
  }
  {
    auto [e, p] = fails("g.csv", "user,item,rating\n1,2,five\n");
    CHECK(e == p + ":2: rating 'five' is not a number");
  }
  CHECK(error_of({{"path", "x.csv"}, {"rank", 3}}) ==
        "dataset 'ratings': rank applies to synthetic ratings (no path), not to a file");
  CHECK(error_of({{"users", 20}, {"items", 10}, {"count", 201}}) ==
        "dataset 'ratings': count 201 is more than the 200 distinct pairs of 20 users and 10 "
        "items");
}

TEST_CASE("ratings: synthetic low-rank ratings", "[ratings_dataset]") {
  Config c{{"users", 20}, {"items", 10}, {"rank", 2}, {"count", 50}, {"noise", 0.0},
           {"seed", 3}, {"split", "all"}};
  auto pairs_of = [](const Dataset& ds) {
    const auto x = ds.get_batch(all_indices(ds)).input.to_vector<int64_t>();
    std::vector<std::pair<int64_t, int64_t>> p;
    for (size_t k = 0; k < x.size(); k += 2) p.emplace_back(x[k], x[k + 1]);
    return p;
  };
  for (int64_t count : {50, 150}) {  // sparse (rejection) and dense (permutation) draws
    INFO("count " << count);
    c["count"] = count;
    auto a = create_dataset("ratings", c);
    auto b = create_dataset("ratings", c);
    REQUIRE(a->size() == count);
    const Batch ba = a->get_batch(all_indices(*a)), bb = b->get_batch(all_indices(*b));
    CHECK(ba.input.to_vector<int64_t>() == bb.input.to_vector<int64_t>());
    CHECK(ba.target.to_vector<float>() == bb.target.to_vector<float>());
    const auto pairs = pairs_of(*a);
    CHECK(std::set(pairs.begin(), pairs.end()).size() == size_t(count));
    CHECK(a->info().at("n_users").as_int() <= 20);
    CHECK(a->info().at("n_items").as_int() <= 10);
    CHECK(a->info().at("rating_mean").as_number() == Approx(3).margin(1));
    CHECK_THAT(a->describe(), Catch::Contains("synthetic rank 2 noise 0"));
  }
  // Noise adds N(0, noise^2) to the same ratings of the same pairs.
  c["noise"] = 0.5;
  auto noisy = create_dataset("ratings", c);
  c["noise"] = 0.0;
  auto clean = create_dataset("ratings", c);
  CHECK(pairs_of(*noisy) == pairs_of(*clean));
  const auto yn = noisy->get_batch(all_indices(*noisy)).target.to_vector<float>();
  const auto yc = clean->get_batch(all_indices(*clean)).target.to_vector<float>();
  double sq = 0;
  for (size_t k = 0; k < yn.size(); ++k) sq += (yn[k] - yc[k]) * (yn[k] - yc[k]);
  CHECK(std::sqrt(sq / double(yn.size())) == Approx(0.5).margin(0.1));

  // train and valid: complementary.
  c["split"] = "train";
  auto train = create_dataset("ratings", c);
  c["split"] = "valid";
  auto valid = create_dataset("ratings", c);
  CHECK(train->size() == 120);
  CHECK(valid->size() == 30);
  auto all = pairs_of(*train);
  for (auto p : pairs_of(*valid)) all.push_back(p);
  std::sort(all.begin(), all.end());
  auto whole = pairs_of(*clean);
  std::sort(whole.begin(), whole.end());
  CHECK(all == whole);
}
