// The embedding layer: lookup, the scatter-add backward of repeated indices, padding_idx,
// f32 indices, init and the error messages.
#include <catch2/catch.hpp>
#include <cmath>

#include "gom/gom.h"

using namespace gom;
using Catch::Matchers::Contains;
using V = std::vector<float>;

namespace {

Tensor weight_of(const std::shared_ptr<Module>& m) {
  const auto named = m->named_parameters();
  REQUIRE(named.size() == 1);
  CHECK(named[0].first == "weight");
  return named[0].second;
}

}  // namespace

TEST_CASE("embedding looks rows up for indices of any shape and scatter-adds their gradients",
          "[embedding]") {
  manual_seed(1);
  auto emb = create_layer("embedding", {{"num_embeddings", 4}, {"embedding_dim", 2}});
  Tensor w = weight_of(emb);
  CHECK(w.shape() == Shape{4, 2});
  {
    NoGrad ng;
    copy_(w, tensor({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2}));
  }
  const Tensor idx = tensor_i64({1, 2, 1, 0, 3, 1}, {2, 3});
  Tensor out = emb->forward(idx);
  CHECK(out.shape() == Shape{2, 3, 2});
  CHECK(out.to_vector<float>() == V{10, 11, 20, 21, 10, 11, 0, 1, 30, 31, 10, 11});
  // Row 1 is used three times: its gradient is the sum of the three upstream rows.
  const Tensor g = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 3, 2});
  out.backward(g);
  CHECK(w.grad().to_vector<float>() == V{7, 8, 1 + 5 + 11, 2 + 6 + 12, 3, 4, 9, 10});
  // f32 batches with whole numbers (tabular and ratings datasets) work as indices.
  CHECK(allclose(emb->forward(tensor({3, 0}, {2})), tensor({30, 31, 0, 1}, {2, 2})));
  // A 0-d index gives one row.
  CHECK(emb->forward(tensor_i64({2}, {})).shape() == Shape{2});
}

TEST_CASE("embedding's padding_idx row starts at zero and never gets a gradient", "[embedding]") {
  manual_seed(2);
  auto emb =
      create_layer("embedding", {{"num_embeddings", 5}, {"embedding_dim", 3}, {"padding_idx", 0}});
  Tensor w = weight_of(emb);
  CHECK(w.slice(0, 0, 1).contiguous().to_vector<float>() == V{0, 0, 0});
  CHECK(sum(abs(w.slice(0, 1, 5))).item() > 0);
  Tensor out = emb->forward(tensor_i64({0, 2, 0, 4}, {4}));
  CHECK(out.slice(0, 0, 1).contiguous().to_vector<float>() == V{0, 0, 0});
  sum(out * 3.0).backward();
  CHECK(w.grad().to_vector<float>() == V{0, 0, 0, 0, 0, 0, 3, 3, 3, 0, 0, 0, 3, 3, 3});
  // A negative padding_idx counts from the end, as in torch.
  auto neg =
      create_layer("embedding", {{"num_embeddings", 5}, {"embedding_dim", 3}, {"padding_idx", -1}});
  CHECK(weight_of(neg).slice(0, 4, 5).contiguous().to_vector<float>() == V{0, 0, 0});
}

TEST_CASE("embedding's default init is N(0, 1) like torch's; the init choice applies",
          "[embedding]") {
  manual_seed(3);
  auto emb = create_layer("embedding", {{"num_embeddings", 1000}, {"embedding_dim", 64}});
  const Tensor w = weight_of(emb);
  const double m = mean(w).item();
  const double sd = std::sqrt(mean(w * w).item() - m * m);
  CHECK(std::fabs(m) < 0.01);
  CHECK(std::fabs(sd - 1.0) < 0.01);
  auto z =
      create_layer("embedding", {{"num_embeddings", 3}, {"embedding_dim", 2}, {"init", "zeros"}});
  CHECK(weight_of(z).to_vector<float>() == V(6, 0.0f));
  auto x = create_layer(
      "embedding", {{"num_embeddings", 300}, {"embedding_dim", 100}, {"init", "xavier_uniform"}});
  const auto v = weight_of(x).to_vector<float>();
  const float bound = std::sqrt(6.0f / 400.0f);
  CHECK(*std::max_element(v.begin(), v.end()) <= bound);
  CHECK(*std::max_element(v.begin(), v.end()) > 0.9f * bound);
}

TEST_CASE("embedding's errors name the index, the layer and the range", "[embedding]") {
  auto emb = create_layer("embedding", {{"num_embeddings", 65}, {"embedding_dim", 4}});
  CHECK_THROWS_WITH(emb->forward(tensor_i64({3, 70}, {2})),
                    Contains("embedding: index 70 is out of range for 65 embeddings (expected "
                             "0 <= index < 65)"));
  CHECK_THROWS_WITH(emb->forward(tensor_i64({-1}, {1})),
                    Contains("embedding: index -1 is out of range for 65 embeddings"));
  CHECK_THROWS_WITH(emb->forward(tensor({1.5f}, {1})),
                    Contains("embedding: index 1.5 is not a whole number (f32 indices must hold "
                             "integers)"));
  CHECK_THROWS_WITH(emb->forward(tensor_i32({1}, {1})),
                    Contains("embedding: indices must be i64 (or f32 whole numbers), got i32"));
  CHECK_THROWS_WITH(
      create_layer("embedding", {{"num_embeddings", 5}, {"embedding_dim", 3}, {"padding_idx", 5}}),
      Contains("embedding: padding_idx 5 is out of range for 5 embeddings (expected -5 <= "
               "padding_idx < 5)"));
  CHECK_THROWS_WITH(create_layer("embedding", {{"num_embeddings", 5}}),
                    Contains("missing required parameter 'embedding_dim'"));
}
