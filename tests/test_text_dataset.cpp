// Dataset `text`: language-model windows of a tiny corpus checked by hand, batch continuity
// through the real data loader, word tokens with min_freq/max_vocab/<unk>, encode/decode, the
// train/valid split at the end of the file, exact error messages, and tinyshakespeare.
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "gom/dataset.h"
#include "gom/gom.h"
#include "temp_files.h"
#include "gom_core/data_loader.h"

using namespace gom;
namespace fs = std::filesystem;

namespace {

using gom_test::TempDir;

std::shared_ptr<TextDataset> text(Config c) {
  auto ds = std::dynamic_pointer_cast<TextDataset>(create_dataset("text", c));
  REQUIRE(ds);
  return ds;
}

std::string error_of(const Config& c) {
  return gom_test::dataset_error("text", c);
}

std::string letters(int64_t n) {
  std::string s;
  for (int64_t i = 0; i < n; ++i) s += char('a' + i % 26);
  return s;
}

}  // namespace

TEST_CASE("text: language-model windows of a tiny corpus", "[text_dataset]") {
  TempDir dir;
  const std::string path = dir.write("abc.txt", letters(26));
  // 26 tokens, 2 streams of (26 - 1) / 2 = 12 tokens, 4 windows of 3 in each: 8 examples.
  auto ds = text({{"path", path}, {"batch_size", 2}, {"bptt", 3}, {"split", "all"}});
  REQUIRE(ds->size() == 8);
  CHECK(ds->input_shape() == Shape{3});
  CHECK(ds->num_classes() == 26);
  CHECK(ds->vocabulary().front() == "a");
  CHECK(ds->vocabulary().back() == "z");
  // Example k is window k / 2 of stream k % 2; stream 1 starts at token 12 ('m').
  Batch b = ds->get_batch({0, 1, 2, 7});
  CHECK(b.input.shape() == Shape{4, 3});
  CHECK(b.input.dtype() == DType::I64);
  CHECK(b.target.shape() == Shape{4, 3});
  CHECK(b.target.dtype() == DType::I64);
  CHECK(b.input.to_vector<int64_t>() ==
        std::vector<int64_t>{0, 1, 2, 12, 13, 14, 3, 4, 5, 21, 22, 23});
  CHECK(b.target.to_vector<int64_t>() ==
        std::vector<int64_t>{1, 2, 3, 13, 14, 15, 4, 5, 6, 22, 23, 24});
  const Config info = ds->info();
  CHECK(info.at("vocab_size").as_int() == 26);
  CHECK(info.at("tokens").as_int() == 26);
  CHECK(info.at("batch_size").as_int() == 2);
  CHECK(info.at("bptt").as_int() == 3);
  CHECK(info.at("tokenizer").as_string() == "char");
  CHECK(ds->describe() == "text abc.txt all: 26 char tokens of 26, vocabulary 26; 2 streams x 4 "
                          "windows of 3");
  CHECK_THROWS_WITH(ds->get_batch({8}), "dataset 'text': index 8 is out of range [0, 8)");
}

TEST_CASE("text: an unshuffled loader of the same batch size continues every stream",
          "[text_dataset]") {
  TempDir dir;
  const std::string corpus = letters(200);
  const std::string path = dir.write("c.txt", corpus);
  auto ds = text({{"path", path}, {"batch_size", 4}, {"bptt", 5}, {"split", "all"}});
  // (200 - 1) / 4 = 49 tokens per stream, 9 windows of 5.
  REQUIRE(ds->size() == 36);
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  DataLoader loader(ds, o);
  loader.begin_epoch(0);
  std::vector<std::string> rows(4), next(4);
  Batch b;
  int64_t batches = 0;
  while (loader.next(b)) {
    ++batches;
    const auto x = b.input.to_vector<int64_t>();
    const auto y = b.target.to_vector<int64_t>();
    REQUIRE(x.size() == 20);
    for (size_t s = 0; s < 4; ++s) {
      rows[s] += ds->decode(std::vector<int64_t>(x.begin() + long(5 * s), x.begin() + long(5 * s + 5)));
      next[s] += ds->decode(std::vector<int64_t>(y.begin() + long(5 * s), y.begin() + long(5 * s + 5)));
    }
  }
  CHECK(batches == 9);
  for (size_t s = 0; s < 4; ++s) {
    INFO("stream " << s);
    CHECK(rows[s] == corpus.substr(49 * s, 45));    // one continuous piece of the text
    CHECK(next[s] == corpus.substr(49 * s + 1, 45));  // the same, one token later
  }
}

TEST_CASE("text: the valid split is the end of the file, with the whole file's vocabulary",
          "[text_dataset]") {
  TempDir dir;
  // 100 tokens; 'z' appears only in the last ten, which are the valid split.
  std::string corpus = std::string(90, 'a') + "zzzzzbbbbb";
  for (int i = 0; i < 90; ++i) corpus[size_t(i)] = "ab"[i % 2];
  const std::string path = dir.write("c.txt", corpus);
  Config c{{"path", path}, {"batch_size", 1}, {"bptt", 4}};
  auto train = text(c);
  c["split"] = "valid";
  auto valid = text(c);
  CHECK(train->vocabulary() == std::vector<std::string>{"a", "b", "z"});
  CHECK(valid->vocabulary() == train->vocabulary());
  CHECK(train->info().at("tokens").as_int() == 90);
  CHECK(valid->info().at("tokens").as_int() == 10);
  CHECK(valid->size() == 2);  // (10 - 1) / 4 = 2 windows
  CHECK(valid->get_batch({0}).input.to_vector<int64_t>() == std::vector<int64_t>{2, 2, 2, 2});
  CHECK(valid->get_batch({1}).input.to_vector<int64_t>() == std::vector<int64_t>{2, 1, 1, 1});
  // limit: as if the file ended after 50 tokens ('z' is then not in the vocabulary).
  c["limit"] = 50;
  auto short_valid = text(c);
  CHECK(short_valid->vocabulary() == std::vector<std::string>{"a", "b"});
  CHECK(short_valid->info().at("tokens").as_int() == 5);
  CHECK(train->size() == 22);  // (90 - 1) / 4
  // The last train window stays inside the train part: its last target is token 88.
  CHECK(train->get_batch({21}).target.to_vector<int64_t>() ==
        std::vector<int64_t>{1, 0, 1, 0});
}

TEST_CASE("text: word tokens, lowercase, min_freq and max_vocab with <unk>", "[text_dataset]") {
  TempDir dir;
  const std::string path = dir.write("w.txt", "The cat sat.\nThe dog  sat!\r\n");
  Config c{{"path", path}, {"tokenizer", "word"}, {"lowercase", true}, {"batch_size", 1},
           {"bptt", 2}, {"split", "all"}};
  auto all = text(c);
  CHECK(all->vocabulary() ==
        std::vector<std::string>{"\n", "!", ".", "cat", "dog", "sat", "the"});
  CHECK(all->encode("THE dog sat.") == std::vector<int64_t>{6, 4, 5, 2});
  CHECK(all->decode({6, 3, 5, 2, 0}) == "the cat sat . \n");
  CHECK_THROWS_WITH(all->encode("the cow"),
                    "dataset 'text': token 'cow' is not in the corpus vocabulary (7 tokens)");
  CHECK_THROWS_WITH(all->decode({7}),
                    "dataset 'text': id 7 is out of range [0, 7) of the vocabulary");
  CHECK(all->info().at("tokens").as_int() == 10);
  CHECK(all->info().at("tokenizer").as_string() == "word");

  c["min_freq"] = 2;  // the, sat and the line break twice; the rest once
  auto rare = text(c);
  CHECK(rare->vocabulary() == std::vector<std::string>{"\n", "<unk>", "sat", "the"});
  CHECK(rare->encode("the cow sat") == std::vector<int64_t>{3, 1, 2});
  CHECK(rare->decode({3, 1, 2}) == "the <unk> sat");
  CHECK_THAT(rare->describe(), Catch::Contains("vocabulary 4 (4 rare tokens became <unk>)"));

  c.erase("min_freq");
  c["max_vocab"] = 3;  // the two most frequent (ties by bytes: "\n", "sat") and <unk>
  CHECK(text(c)->vocabulary() == std::vector<std::string>{"\n", "<unk>", "sat"});
}

TEST_CASE("text: characters are UTF-8 code points", "[text_dataset]") {
  TempDir dir;
  const std::string path = dir.write("u.txt", "h\xC3\xA9llo w\xE2\x82\xAC!");  // héllo w€!
  auto ds = text({{"path", path}, {"batch_size", 1}, {"bptt", 2}, {"split", "all"}});
  CHECK(ds->vocabulary() ==
        std::vector<std::string>{" ", "!", "h", "l", "o", "w", "\xC3\xA9", "\xE2\x82\xAC"});
  const std::vector<int64_t> ids = ds->encode("w\xE2\x82\xAC\xC3\xA9");
  CHECK(ids == std::vector<int64_t>{5, 7, 6});
  CHECK(ds->decode(ids) == "w\xE2\x82\xAC\xC3\xA9");
  CHECK_THROWS_WITH(ds->encode("h\xC3"),
                    "dataset 'text': invalid UTF-8 at byte 1 of the text to encode");
}

TEST_CASE("text: error messages are exact", "[text_dataset]") {
  TempDir dir;
  const Config base{{"batch_size", 2}, {"bptt", 3}};
  auto with = [&](const std::string& path, Config extra = {}) {
    Config c = base;
    c["path"] = path;
    for (auto& [k, v] : extra) c[k] = v;
    return error_of(c);
  };
  SECTION("invalid UTF-8 names the byte offset and the file") {
    for (auto [bytes, at] : {std::pair<std::string, int>{"ab\xC3\x28xyz", 2},
                             {"\xC0\x80 overlong", 0},
                             {"abc\xED\xA0\x80 surrogate", 3},
                             {"abcd\xF4\x90\x80\x80 above U+10FFFF", 4},
                             {"abcde\x80 stray continuation", 5},
                             {"truncated at the end \xE2\x82", 21}}) {
      const std::string p = dir.write("bad.txt", bytes);
      CHECK(with(p) == fmt::format("dataset 'text': invalid UTF-8 at byte {} of {}", at, p));
    }
  }
  SECTION("an empty file or a split too short for one window") {
    const std::string empty = dir.write("empty.txt", "");
    CHECK(with(empty) == "dataset 'text': " + empty +
                             ": empty file (0 tokens); one window of bptt 3 in each of "
                             "batch_size 2 streams needs 7 tokens (batch_size * bptt + 1)");
    const std::string p = dir.write("abc.txt", letters(26));
    CHECK(with(p, {{"split", "valid"}}) ==
          "dataset 'text': split 'valid' of " + p +
              " has 3 tokens (valid_fraction 0.1 of 26); one window of bptt 3 in each of "
              "batch_size 2 streams needs 7 tokens (batch_size * bptt + 1)");
    CHECK(with(p, {{"split", "all"}, {"batch_size", 9}}) ==
          "dataset 'text': split 'all' of " + p +
              " has 26 tokens; one window of bptt 3 in each of batch_size 9 streams needs 28 "
              "tokens (batch_size * bptt + 1)");
  }
  SECTION("files and parameters") {
    const std::string missing = (dir.path / "nope.txt").string();
    CHECK(with(missing) == "dataset 'text': " + missing + ": no such file");
    CHECK(with(dir.path.string()) ==
          "dataset 'text': " + dir.path.string() + ": is a directory, not a text file");
    CHECK_THAT(error_of({{"path", missing}}),
               Catch::Contains("batch_size") && Catch::Contains("required"));
    CHECK_THAT(with(missing, {{"tokenizer", "bpe"}}), Catch::Contains("tokenizer") &&
                                                          Catch::Contains("char, word"));
  }
}

TEST_CASE("text: tinyshakespeare has 65 characters", "[text_dataset]") {
  const std::string path = std::string(GOM_SHARED_DATA_DIR) + "/tinyshakespeare.txt";
  if (!fs::exists(path)) {  // Catch2 v2 has no SKIP: say so and pass
    WARN("SKIPPED: no " + path + " (the shared data folder has no tinyshakespeare)");
    return;
  }
  auto train = text({{"path", path}, {"batch_size", 32}, {"bptt", 64}});
  auto valid = text({{"path", path}, {"batch_size", 32}, {"bptt", 64}, {"split", "valid"}});
  CHECK(train->vocabulary().size() == 65);
  CHECK(train->vocabulary() == valid->vocabulary());
  CHECK(train->vocabulary()[0] == "\n");
  CHECK(train->vocabulary()[1] == " ");
  const int64_t n = 1115394;  // characters of the file
  const int64_t n_valid = 111539;
  CHECK(train->info().at("tokens").as_int() == n - n_valid);
  CHECK(valid->info().at("tokens").as_int() == n_valid);
  CHECK(train->size() == 32 * ((n - n_valid - 1) / 32 / 64));
  const std::string first = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:";
  CHECK(train->decode(train->get_batch({0}).input.to_vector<int64_t>()) == first.substr(0, 64));
  CHECK(train->decode(train->encode(first)) == first);
}
