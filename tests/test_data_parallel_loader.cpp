// The data loader's shares of a data-parallel job (LoaderOptions rank/world), checked without MPI:
// the ranks' shares of each global batch, joined in rank order, are the one-process batch.
#include <catch2/catch.hpp>
#include <vector>

#include "gom/gom.h"
#include "gom_core/trainer.h"

using namespace gom;
using Catch::Matchers::Contains;

namespace {

// Example i has input i (so a batch says which examples it holds).
class Indexed : public Dataset {
 public:
  explicit Indexed(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  Batch get_batch(const std::vector<int64_t>& idx) const override {
    std::vector<float> x(idx.begin(), idx.end());
    const int64_t b = int64_t(idx.size());
    return {tensor(x, {b, 1}), zeros({b, 1})};
  }
  Shape input_shape() const override { return {1}; }
  std::string describe() const override { return "indexed"; }

 private:
  int64_t n_;
};

// Every batch of one epoch, as the examples each holds.
std::vector<std::vector<float>> batches(DataLoader& dl, int64_t epoch) {
  std::vector<std::vector<float>> out;
  dl.begin_epoch(epoch);
  Batch b;
  while (dl.next(b)) out.push_back(b.input.to_vector<float>());
  return out;
}

}  // namespace

TEST_CASE("each rank gets its contiguous share of every global batch", "[loader]") {
  auto data = std::make_shared<Indexed>(50);
  DataLoader one(data, {.batch_size = 16, .seed = 3});
  const auto whole = batches(one, 2);  // 16, 16, 16, 2
  REQUIRE(whole.size() == 4);
  for (const bool even : {false, true}) {
    std::vector<std::vector<std::vector<float>>> ranks;
    for (int r = 0; r < 3; ++r) {
      DataLoader dl(data, {.batch_size = 16,
                           .seed = 3,
                           .prefetch = r % 2 ? 0 : 2,
                           .rank = r,
                           .world = 3,
                           .even_batches = even});
      CHECK(dl.num_samples() == 50);
      CHECK(dl.global_batch_size(0) == 16);
      CHECK(dl.global_batch_size(3) == 2);
      ranks.push_back(batches(dl, 2));
      CHECK(int64_t(ranks.back().size()) == dl.num_batches());
    }
    // 16 = 6 + 5 + 5; the last batch of 2 = 1 + 1 + nothing, or dropped with even batches.
    CHECK(ranks[0][0].size() == 6);
    CHECK(ranks[1][0].size() == 5);
    CHECK(ranks[2][0].size() == 5);
    CHECK(ranks[0].size() == (even ? 3u : 4u));
    CHECK(ranks[1].size() == (even ? 3u : 4u));
    CHECK(ranks[2].size() == 3u);
    for (size_t b = 0; b < ranks[0].size(); ++b) {
      std::vector<float> joined;
      for (const auto& rank : ranks)
        if (b < rank.size()) joined.insert(joined.end(), rank[b].begin(), rank[b].end());
      CHECK(joined == whole[b]);
    }
  }
}

TEST_CASE("a data-parallel loader refuses what leaves a rank without examples", "[loader]") {
  auto data = std::make_shared<Indexed>(10);
  CHECK_THROWS_WITH(
      DataLoader(data, {.batch_size = 2, .rank = 0, .world = 4, .even_batches = true}),
      Contains("batch_size 2 is smaller than the 4 processes"));
  CHECK_THROWS_WITH(DataLoader(data, {.batch_size = 2, .rank = 4, .world = 4}),
                    Contains("rank 4 of a world of 4"));
  // Validation with fewer examples per batch than ranks: the last ranks get none.
  DataLoader last(data, {.batch_size = 2, .shuffle = false, .rank = 3, .world = 4});
  CHECK(last.num_batches() == 0);
  DataLoader first(data, {.batch_size = 2, .shuffle = false, .rank = 1, .world = 4});
  CHECK(first.num_batches() == 5);
}

TEST_CASE("a fit over shared-out data needs the job it was shared for", "[trainer]") {
  auto data = std::make_shared<Indexed>(8);
  DataLoader train(data, {.batch_size = 4, .rank = 1, .world = 2, .even_batches = true});
  auto model = create_layer("linear", {{"in", 1}, {"out", 1}});
  FitArgs a;
  a.model = model;
  a.loss = create_layer("mse");
  a.optimizer = create_optimizer("sgd", model->parameters(), {{"lr", 0.1}});
  a.train = &train;
  CHECK_THROWS_WITH(fit(a), Contains("shared out over 2 ranks, but the job has 1"));
}
