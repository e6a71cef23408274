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
// machine only ever slows a group down); the slowest is printed too.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "gom/gom.h"
#include "gom_core/data_loader.h"
#include "gom_core/trainer.h"

namespace {

struct Options {
  int threads = 2, batches = 60, warmup = 5, rounds = 3, seq = 64, batch = 32;
  std::string corpus = "../shared/data/tinyshakespeare.txt";
};

[[noreturn]] void usage(int rc) {
  std::fprintf(rc ? stderr : stdout,
               "usage: gom_lstm_train_bench [--threads N] [--batches N] [--warmup N] "
               "[--rounds N] [--seq N] [--batch N] [--corpus FILE]\n"
               "  --threads N   compute threads (default 2)\n"
               "  --batches N   timed batches in all (default 60), in --rounds groups (default 3)\n"
               "  --warmup N    untimed batches first (default 5)\n"
               "  --seq N       characters per window (default 64); --batch N windows (32)\n"
               "  --corpus F    the text (default ../shared/data/tinyshakespeare.txt)\n");
  std::exit(rc);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") usage(0);
    const std::string name(arg);
    int* target = name == "--threads"   ? &o.threads
                  : name == "--batches" ? &o.batches
                  : name == "--warmup"  ? &o.warmup
                  : name == "--rounds"  ? &o.rounds
                  : name == "--seq"     ? &o.seq
                  : name == "--batch"   ? &o.batch
                                        : nullptr;
    if (!target && name != "--corpus") {
      std::fprintf(stderr, "gom_lstm_train_bench: unknown option '%s'\n", name.c_str());
      usage(2);
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "gom_lstm_train_bench: %s needs a value\n", name.c_str());
      usage(2);
    }
    const std::string value = argv[++i];
    if (!target) {
      o.corpus = value;
      continue;
    }
    try {
      size_t used = 0;
      *target = std::stoi(value, &used);
      if (used != value.size() || *target < (target == &o.warmup ? 0 : 1))
        throw std::invalid_argument(value);
    } catch (const std::logic_error&) {
      std::fprintf(stderr, "gom_lstm_train_bench: bad value '%s' for %s\n", value.c_str(),
                   name.c_str());
      usage(2);
    }
  }
  return o;
}

using Clock = std::chrono::steady_clock;

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

std::shared_ptr<gom::Module> make_model(int64_t vocab) {
  auto seq = std::dynamic_pointer_cast<gom::Sequential>(gom::create_layer("sequential"));
  if (!seq) throw gom::Error("layer 'sequential' is not a gom::Sequential");
  seq->add(gom::create_layer("embedding", {{"num_embeddings", vocab}, {"embedding_dim", 64}}))
      ->add(gom::create_layer("lstm",
                              {{"input_size", 64}, {"hidden_size", 256}, {"batch_first", true}}))
      ->add(gom::create_layer("linear", {{"in", 256}, {"out", vocab}}));
  return seq;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  try {
    gom::init();
    gom::set_num_threads(opt.threads);
    gom::manual_seed(0);
    auto text = gom::create_dataset(
        "text",
        {{"path", opt.corpus}, {"batch_size", opt.batch}, {"bptt", opt.seq}, {"split", "all"}});
    const int64_t vocab = text->num_classes();
    const int per_round = std::max(1, opt.batches / opt.rounds);
    auto make_loader = [&](int batches) {
      return std::make_unique<gom::DataLoader>(
          std::make_shared<Head>(text, int64_t(batches) * opt.batch),
          gom::LoaderOptions{.batch_size = opt.batch, .shuffle = true, .seed = 1});
    };
    gom::FitArgs args;
    args.model = make_model(vocab);
    args.loss = gom::create_layer("cross_entropy");
    args.optimizer = gom::create_optimizer("adam", args.model->parameters(), {{"lr", 2e-3}});
    args.callbacks.push_back(gom::create_callback("gradient_clipping", {{"max_norm", 1.0}}));
    fmt::print("gom_lstm_train_bench: {}; vocabulary {}, batch {}x{}, threads {}\n",
               text->describe(), vocab, opt.batch, opt.seq, opt.threads);

    auto run = [&](gom::DataLoader& loader, int64_t epoch) {
      args.train = &loader;
      args.first_epoch = epoch;
      args.epochs = epoch + 1;
      const auto t0 = Clock::now();
      const gom::FitResult r = gom::fit(args);
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      const auto loss = r.final_metrics.find("train_loss");
      return std::pair{secs, loss == r.final_metrics.end() ? 0.0 : loss->second};
    };
    if (opt.warmup > 0) {
      auto warm = make_loader(opt.warmup);
      const auto [secs, loss] = run(*warm, 0);
      fmt::print("warm-up: {} batches, {:.2f} s, train_loss {:.4f}\n", opt.warmup, secs, loss);
    }
    auto loader = make_loader(per_round);
    const double tokens = double(per_round) * opt.batch * opt.seq;
    std::vector<double> rates;
    double last_loss = 0;
    for (int r = 1; r <= opt.rounds; ++r) {
      const auto [secs, loss] = run(*loader, r);
      rates.push_back(tokens / secs);
      last_loss = loss;
      fmt::print("group {}: {} batches, {:.3f} s, {:.0f} tokens/s, train_loss {:.4f}\n", r,
                 per_round, secs, tokens / secs, loss);
    }
    const auto [lo, hi] = std::minmax_element(rates.begin(), rates.end());
    fmt::print(
        "lstm train: gom {:.0f} tokens/s (best of {} groups of {} batches of {}x{}, vocabulary "
        "{}, {:.0f}..{:.0f}; last loss {:.4f})\n",
        *hi, opt.rounds, per_round, opt.batch, opt.seq, vocab, *lo, *hi, last_loss);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gom_lstm_train_bench: error: %s\n", e.what());
    return 1;
  }
}
