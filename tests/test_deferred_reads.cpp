// The training path's deferred reads (defer_host_reads), which a CUDA device takes so that the
// host does not wait for it every batch, run here on the CPU: the loop's loss sum, the metrics'
// sums and confusion counts, gradient clipping and the embedding's index check must give what
// reading every batch gives, and a bad value must still be an error.
#include <catch2/catch.hpp>
#include <cmath>

#include "gom/gom.h"
#include "gom_core/trainer.h"

using namespace gom;
using Catch::Matchers::Contains;

namespace {

Tensor indices(std::vector<float> v) {
  const auto n = int64_t(v.size());
  return tensor(v, {n}).to(DType::I64);
}

// Turns the deferred paths on for the CPU for one scope.
struct DeferReads {
  explicit DeferReads(bool on) { set_defer_host_reads(on); }
  ~DeferReads() { set_defer_host_reads(false); }
};

// 3 classes of 4 features: class = argmax of a fixed projection, so a net can learn it.
class Blobs : public Dataset {
 public:
  // nan_from: examples from this index on have NaN features.
  explicit Blobs(int64_t n, int64_t nan_from = -1) : n_(n) {
    Generator g(11);
    x_ = randn({n, 4}, &g);
    y_ = argmax(matmul(x_, randn({4, 3}, &g)), 1);
    if (nan_from >= 0) {
      Tensor tail = x_.slice(0, nan_from, n);
      fill_(tail, std::nan(""));
    }
  }
  int64_t size() const override { return n_; }
  Batch get_batch(const std::vector<int64_t>& idx) const override {
    const Tensor i = indices(std::vector<float>(idx.begin(), idx.end()));
    return {index_select(x_, 0, i), index_select(y_, 0, i)};
  }
  Shape input_shape() const override { return {4}; }
  std::string describe() const override { return "blobs"; }

 private:
  int64_t n_;
  Tensor x_, y_;
};

// Three epochs of an MLP with every metric that defers, and gradient clipping by norm.
FitResult fit_blobs(bool defer, std::map<std::string, double>* final_metrics = nullptr) {
  DeferReads d(defer);
  manual_seed(3);
  auto model = std::static_pointer_cast<Sequential>(create_layer("sequential"));
  model->add(create_layer("linear", {{"in", 4}, {"out", 16}}))
      ->add(create_layer("relu"))
      ->add(create_layer("linear", {{"in", 16}, {"out", 3}}));
  auto data = std::make_shared<Blobs>(200);
  LoaderOptions lo;
  lo.batch_size = 16;
  lo.shuffle = true;
  lo.seed = 5;
  DataLoader train(data, lo), valid(data, lo);
  FitArgs a;
  a.model = model;
  a.loss = create_layer("cross_entropy");
  a.optimizer = create_optimizer("sgd", model->parameters(), {{"lr", 0.5}, {"momentum", 0.9}});
  a.train = &train;
  a.valid = &valid;
  a.epochs = 3;
  a.sync_every = 4;  // several reads per epoch, one of them over a partial window
  a.callbacks = {create_callback("accuracy", {{"train", true}}),
                 create_callback("top_k_accuracy", {{"k", 2}}),
                 create_callback("precision", {{"average", "macro"}}),
                 create_callback("confusion_matrix"),
                 create_callback("gradient_clipping", {{"max_norm", 0.5}, {"log_every", 1}})};
  FitResult r = fit(a);
  if (final_metrics) *final_metrics = r.final_metrics;
  return r;
}

}  // namespace

TEST_CASE("deferred reads give the fit that reading every batch gives", "[deferred]") {
  std::map<std::string, double> now, later;
  fit_blobs(false, &now);
  fit_blobs(true, &later);
  for (const char* key : {"train_loss", "valid_loss", "accuracy", "train_accuracy",
                          "top2_accuracy", "precision"}) {
    INFO(key);
    REQUIRE(now.count(key));
    REQUIRE(later.count(key));
    // The loss sums are float on the device and double on the host: equal to rounding.
    CHECK(later[key] == Approx(now[key]).epsilon(1e-5));
  }
  CHECK(now.at("accuracy") > 0.8);  // it learned: the comparison is not of two failures
}

TEST_CASE("a deferred non-finite loss is caught at the next read, naming the batches",
          "[deferred]") {
  DeferReads d(true);
  auto model = create_layer("linear", {{"in", 4}, {"out", 3}});
  auto data = std::make_shared<Blobs>(64, 44);  // batch 6 (of 8) is the first with a NaN
  LoaderOptions lo;
  lo.batch_size = 8;
  lo.shuffle = false;
  DataLoader train(data, lo);
  FitArgs a;
  a.model = model;
  a.loss = create_layer("cross_entropy");
  a.optimizer = create_optimizer("sgd", model->parameters(), {{"lr", 0.1}});
  a.train = &train;
  a.sync_every = 3;  // reads after batches 3 and 6
  CHECK_THROWS_WITH(fit(a), Contains("nan at epoch 1, training batches 4-6") &&
                                Contains("training diverged"));
}

TEST_CASE("deferred: an embedding's bad index is an error when the pass ends", "[deferred]") {
  auto emb = create_layer("embedding", {{"num_embeddings", 5}, {"embedding_dim", 2}});
  {
    DeferReads d(true);
    const Tensor out = emb->forward(indices({0, 4, 7}));
    CHECK(out.shape() == Shape{3, 2});  // no read, no error yet
    CHECK_THROWS_WITH(emb->train(true),
                      Contains("embedding: 1 indices") && Contains("out of range for 5"));
    emb->forward(tensor(std::vector<float>{1.5f, 2.0f}, {2}));  // f32 that is not whole
    CHECK_THROWS_WITH(emb->eval(), Contains("embedding: 1 indices"));
    emb->forward(indices({0, 1}));
    CHECK_NOTHROW(emb->train(true));  // good indices: nothing to report
  }
  // Reading every batch: the error names the index at once.
  CHECK_THROWS_WITH(emb->forward(indices({7})),
                    Contains("index 7 is out of range"));
}
