// gom_lstm_train_bench — training throughput of a character-level LSTM language model through
// the code path a user runs: gom::init(), the `text` dataset plugin (char tokens, windows of
// --seq, batch --batch), the core DataLoader (shuffled, seeded), layers from the registry
// (sequential of embedding V->64, lstm 64->256 batch_first, linear 256->V), the cross_entropy
// loss over the [B, T, V] logits, adam (lr 2e-3), the gradient_clipping callback (norm 1.0) and
// gom::fit.
//
// Protocol (bench/torch_lstm_train.py does the same in PyTorch): --warmup untimed batches, then
// --rounds timed groups of --batches/--rounds batches, each group one gom::fit epoch over a
// fixed subset of the windows (its own shuffle). tokens/s is the best group's (other work on the
// machine only ever slows a group down); the slowest is printed too. --backend cuda trains on
// the GPU: the model moved there (Module::to), the loaders' batches put there
// (LoaderOptions::device), the clock read after the device has finished (exit code 77 where no
// CUDA device can be used).

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_fit.h"
#include "gom/gom.h"
#include "gom_core/data_loader.h"
#include "gom_core/trainer.h"

namespace {

constexpr const char* kUsage =
    "usage: gom_lstm_train_bench [--threads N] [--batches N] [--warmup N] [--rounds N] "
    "[--seq N] [--batch N] [--corpus FILE] [--backend B]\n"
    "  --threads N   compute threads (default 2; 0: gom's default, the free cores)\n"
    "  --batches N   timed batches in all (default 60), in --rounds groups (default 3)\n"
    "  --warmup N    untimed batches first (default 5)\n"
    "  --seq N       characters per window (default 64); --batch N windows (32)\n"
    "  --corpus F    the text (default ../shared/data/tinyshakespeare.txt)\n"
    "  --backend B   onednn (the CPU, default) or cuda (exit code 77 without a CUDA device)\n";

// The first `n` examples of a dataset: a fixed number of batches per epoch.
class Head : public gom::Dataset {
 public:
  Head(std::shared_ptr<gom::Dataset> d, int64_t n)
      : d_(std::move(d)), n_(std::min(n, d_->size())) {}
  int64_t size() const override { return n_; }
  gom::Batch get_batch(const std::vector<int64_t>& i) const override { return d_->get_batch(i); }
  gom::Shape input_shape() const override { return d_->input_shape(); }
  int64_t num_classes() const override { return d_->num_classes(); }
  std::string describe() const override { return d_->describe(); }

 private:
  std::shared_ptr<gom::Dataset> d_;
  int64_t n_;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, batches = 60, warmup = 5, rounds = 3, seq = 64, batch = 32;
  std::string corpus = "../shared/data/tinyshakespeare.txt", backend;
  bench::parse_flags(argc, argv, "gom_lstm_train_bench", kUsage,
                     {{"--threads", &threads, 0},
                      {"--batches", &batches, 1},
                      {"--warmup", &warmup, 0},
                      {"--rounds", &rounds, 1},
                      {"--seq", &seq, 1},
                      {"--batch", &batch, 1},
                      {"--corpus", &corpus},
                      {"--backend", &backend}});
  return bench::guarded_main("gom_lstm_train_bench", [&] {
    bench::start_gom(threads);
    const gom::Device device = bench::device_for_backend("gom_lstm_train_bench", backend);
    auto text = gom::create_dataset(
        "text", {{"path", corpus}, {"batch_size", batch}, {"bptt", seq}, {"split", "all"}});
    const int64_t vocab = text->num_classes();
    const int per_round = std::max(1, batches / rounds);
    auto make_loader = [&](int n) {  // n batches
      return std::make_unique<gom::DataLoader>(
          std::make_shared<Head>(text, int64_t(n) * batch),
          gom::LoaderOptions{.batch_size = batch, .shuffle = true, .seed = 1, .device = device});
    };
    using gom::create_layer;
    gom::FitArgs args = bench::adam_cross_entropy(
        bench::sequential(
            {create_layer("embedding", {{"num_embeddings", vocab}, {"embedding_dim", 64}}),
             create_layer("lstm",
                          {{"input_size", 64}, {"hidden_size", 256}, {"batch_first", true}}),
             create_layer("linear", {{"in", 256}, {"out", vocab}})}),
        2e-3, device);
    args.callbacks.push_back(gom::create_callback("gradient_clipping", {{"max_norm", 1.0}}));
    fmt::print("gom_lstm_train_bench: {}; vocabulary {}, batch {}x{}, threads {}{}\n",
               text->describe(), vocab, batch, seq, threads, bench::on_device(device));
    if (device.type != gom::DeviceType::CPU)  // the CPU's output stays as it always was
      fmt::print("backend: {}\n", bench::device_line(device));

    if (warmup > 0) {
      auto warm = make_loader(warmup);
      args.train = warm.get();
      const auto [secs, loss] = bench::fit_epoch(args, 0);
      fmt::print("warm-up: {} batches, {:.2f} s, train_loss {:.4f}\n", warmup, secs, loss);
    }
    auto loader = make_loader(per_round);
    args.train = loader.get();
    const double tokens = double(per_round) * batch * seq;
    std::vector<double> rates;
    double last_loss = 0;
    for (int r = 1; r <= rounds; ++r) {
      const auto [secs, loss] = bench::fit_epoch(args, r);
      rates.push_back(tokens / secs);
      last_loss = loss;
      fmt::print("group {}: {} batches, {:.3f} s, {:.0f} tokens/s, train_loss {:.4f}\n", r,
                 per_round, secs, tokens / secs, loss);
    }
    const auto [lo, hi] = std::minmax_element(rates.begin(), rates.end());
    fmt::print(
        "lstm train{}: gom {:.0f} tokens/s (best of {} groups of {} batches of {}x{}, vocabulary "
        "{}, {:.0f}..{:.0f}; last loss {:.4f})\n",
        bench::device_tag(device), *hi, rounds, per_round, batch, seq, vocab, *lo, *hi, last_loss);
    return 0;
  });
}
