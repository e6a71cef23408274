// Dataset `text`: a UTF-8 text file as language-model windows, batched as fastai's LMDataLoader
// does, so a stateful RNN can carry its hidden state from one batch to the next.
//
// The token stream of the split (n tokens) is cut into batch_size contiguous streams of
// L = (n - 1) / batch_size tokens each (the -1 leaves the last stream a target for its last
// input). Example k is window w = k / batch_size of stream s = k % batch_size: input = tokens
// [s*L + w*bptt, s*L + (w+1)*bptt), target = the same one token later. With an unshuffled loader
// of the same batch size, batch w holds window w of every stream, in stream order, so row s of
// consecutive batches is one continuous text. The last (L % bptt) tokens of each stream are not
// used: every window has the full bptt.
//
// The vocabulary comes from the whole file, so the train and valid splits agree on the ids; the
// valid split is the end of the file, so no window spans both.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "datasets.h"
#include "file_bytes.h"
#include "gom/dataset.h"
#include "gom/tensor.h"
#include "text_format.h"

namespace gom::datasets {

namespace {

constexpr const char* kOwner = "dataset 'text'";

Schema text_schema() {
  Schema s;
  s.string("path", "the UTF-8 text file").required();
  s.choice("tokenizer", {"char", "word"},
           "char: one token per Unicode character; word: words, punctuation marks and line "
           "breaks")
      .def("char");
  s.boolean("lowercase", "lowercase ASCII letters before tokenising").def(false);
  s.integer("min_freq", "tokens seen fewer times in the file become <unk>").def(1).min(1);
  s.integer("max_vocab",
            "at most this many tokens, <unk> included: the rarest become <unk> (0: no limit)")
      .def(0)
      .min(0);
  s.integer("batch_size",
            "number of parallel streams; give the data loader the same batch size, unshuffled, "
            "so that consecutive batches continue each stream")
      .required()
      .range(1, 1 << 20);
  s.integer("bptt", "tokens per window (backpropagation through time)").def(64).range(1, 1 << 20);
  s.choice("split", {"train", "valid", "all"},
           "train: the file less its last valid_fraction; valid: that end part; all: the whole "
           "file")
      .def("train");
  s.number("valid_fraction", "share of the tokens, at the end of the file, in the valid split")
      .def(0.1)
      .range(0, 0.99);
  s.integer("limit",
            "read only the first N tokens of the file, as if it ended there (0: all); for smoke "
            "tests")
      .def(0)
      .min(0);
  return s;
}

class TextFileDataset : public TextDataset {
 public:
  explicit TextFileDataset(const Params& p);

  int64_t size() const override { return streams_ * windows_; }
  int64_t num_classes() const override { return int64_t(vocab_.tokens.size()); }
  Shape input_shape() const override { return {bptt_}; }
  std::string describe() const override { return describe_; }
  Config info() const override;
  Batch get_batch(const std::vector<int64_t>& indices) const override;

  const std::vector<std::string>& vocabulary() const override { return vocab_.tokens; }
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;

 private:
  text::Tokenizer tokenizer_;
  bool lowercase_;
  text::Vocabulary vocab_;
  std::vector<int64_t> ids_;  // the split's tokens
  int64_t streams_, bptt_, stream_len_ = 0, windows_ = 0;
  std::string describe_;
};

TextFileDataset::TextFileDataset(const Params& p)
    : tokenizer_(p.s("tokenizer") == "word" ? text::Tokenizer::Word : text::Tokenizer::Char),
      lowercase_(p.b("lowercase")),
      streams_(p.i("batch_size")),
      bptt_(p.i("bptt")) {
  const std::string path = p.s("path");
  const std::string split = p.s("split");
  std::string bytes = read_file_bytes(path, "text");
  text::check_utf8(bytes, path);
  if (lowercase_) bytes = text::ascii_lower(bytes);
  std::vector<std::string_view> tokens = text::tokenize(bytes, tokenizer_);
  const int64_t limit = p.i("limit");
  if (limit > 0 && size_t(limit) < tokens.size()) tokens.resize(size_t(limit));
  const int64_t needed = streams_ * bptt_ + 1;
  const std::string need = fmt::format(
      "one window of bptt {} in each of batch_size {} streams needs {} tokens (batch_size * "
      "bptt + 1)",
      bptt_, streams_, needed);
  if (tokens.empty()) throw Error(fmt::format("{}: empty file (0 tokens); {}", path, need));

  vocab_ = text::build_vocabulary(tokens, p.i("min_freq"), p.i("max_vocab"));
  const auto n = int64_t(tokens.size());
  const double fraction = p.f("valid_fraction");
  const int64_t n_valid = std::min<int64_t>(n, std::llround(double(n) * fraction));
  int64_t begin = 0, end = n;
  if (split == "train") end = n - n_valid;
  if (split == "valid") begin = n - n_valid;
  if (end - begin < needed) {
    const std::string part =
        split == "all" ? "" : fmt::format(" (valid_fraction {} of {})", fraction, n);
    throw Error(fmt::format("split '{}' of {} has {} tokens{}; {}", split, path, end - begin,
                            part, need));
  }
  const std::vector<std::string_view> mine(tokens.begin() + begin, tokens.begin() + end);
  ids_ = text::encode(vocab_, mine);
  stream_len_ = (int64_t(ids_.size()) - 1) / streams_;
  windows_ = stream_len_ / bptt_;
  describe_ = fmt::format(
      "text {} {}: {} {} tokens of {}, vocabulary {}{}; {} streams x {} windows of {}",
      std::filesystem::path(path).filename().string(), split, ids_.size(), p.s("tokenizer"), n,
      vocab_.tokens.size(), vocab_.dropped.empty() ? "" : " (" + vocab_.dropped + ")", streams_,
      windows_, bptt_);
}

Config TextFileDataset::info() const {
  return {{"vocab_size", int64_t(vocab_.tokens.size())},
          {"tokens", int64_t(ids_.size())},
          {"batch_size", streams_},
          {"bptt", bptt_},
          {"windows", windows_},
          {"tokenizer", tokenizer_ == text::Tokenizer::Char ? "char" : "word"}};
}

Batch TextFileDataset::get_batch(const std::vector<int64_t>& indices) const {
  const auto b = int64_t(indices.size());
  Batch out;
  out.input = Tensor::empty({b, bptt_}, {DType::I64});
  out.target = Tensor::empty({b, bptt_}, {DType::I64});
  int64_t* x = b ? out.input.data<int64_t>() : nullptr;
  int64_t* y = b ? out.target.data<int64_t>() : nullptr;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t k = indices[size_t(i)];
    if (k < 0 || k >= size())
      throw Error(fmt::format("{}: index {} is out of range [0, {})", kOwner, k, size()));
    const int64_t start = (k % streams_) * stream_len_ + (k / streams_) * bptt_;
    const int64_t* src = ids_.data() + start;
    std::copy(src, src + bptt_, x + i * bptt_);
    std::copy(src + 1, src + 1 + bptt_, y + i * bptt_);
  }
  return out;
}

std::vector<int64_t> TextFileDataset::encode(const std::string& text) const {
  try {
    const std::string t = lowercase_ ? text::ascii_lower(text) : text;
    text::check_utf8(t, "the text to encode");
    return text::encode(vocab_, text::tokenize(t, tokenizer_));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", kOwner, e.what()));
  }
}

std::string TextFileDataset::decode(const std::vector<int64_t>& ids) const {
  try {
    return text::decode(vocab_, ids, tokenizer_);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", kOwner, e.what()));
  }
}

}  // namespace

void register_text() {
  register_dataset("text", "a UTF-8 text file as language-model windows (char or word tokens)",
                   text_schema(), [](const Params& p) -> std::shared_ptr<Dataset> {
                     return std::make_shared<TextFileDataset>(p);
                   });
}

}  // namespace gom::datasets
