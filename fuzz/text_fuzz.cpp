// libFuzzer target for the text dataset's UTF-8 check, tokenizers and vocabulary
// (plugins/datasets/text_format.cpp).
//
// Besides the sanitizers' findings, a crash is: an exception that is not gom::Error; an invalid
// offset (not in the input, or with invalid UTF-8 before it); on valid text, char tokens that
// are not single code points or do not concatenate to the text, word tokens that do not come
// back from their decoded text, encode/decode not inverse, a vocabulary that is not sorted or is
// larger than max_vocab, or lowercasing that breaks the UTF-8.
//
// Built by fuzz/build.sh --target text; the ctest fuzz_text_corpus runs it over
// fuzz/corpus/text through corpus_main.cpp.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gom/error.h"
#include "text_format.h"

namespace {

using gom::text::Tokenizer;

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "text_fuzz: %s: %s\n", what, gom::text::printable(detail).c_str());
  std::abort();
}

void check_vocabulary(const gom::text::Vocabulary& v, int64_t max_vocab) {
  if (!std::is_sorted(v.tokens.begin(), v.tokens.end())) broken("vocabulary not sorted", "");
  if (std::adjacent_find(v.tokens.begin(), v.tokens.end()) != v.tokens.end())
    broken("vocabulary repeats a token", "");
  if (max_vocab > 0 && int64_t(v.tokens.size()) > max_vocab)
    broken("vocabulary over max_vocab", std::to_string(v.tokens.size()));
  if (v.ids.size() != v.tokens.size()) broken("ids and tokens differ", "");
}

void check_tokens(std::string_view text, Tokenizer t) {
  const auto tokens = gom::text::tokenize(text, t);
  if (t == Tokenizer::Char) {
    std::string joined;
    for (std::string_view tok : tokens) {
      if (tok.empty() || gom::text::invalid_utf8_at(tok) != std::string_view::npos ||
          gom::text::tokenize(tok, Tokenizer::Char).size() != 1)
        broken("char token is not one code point", std::string(tok));
      joined += tok;
    }
    if (joined != text) broken("char tokens do not make the text", std::string(text));
  }
  const gom::text::Vocabulary full = gom::text::build_vocabulary(tokens, 1, 0);
  check_vocabulary(full, 0);
  if (full.unknown != -1) broken("<unk> without a dropped token", "");
  const std::vector<int64_t> ids = gom::text::encode(full, tokens);
  const std::string back = gom::text::decode(full, ids, t);
  if (t == Tokenizer::Char && back != text) broken("decode(encode(text)) != text", back);
  if (t == Tokenizer::Word && gom::text::tokenize(back, t) != tokens)
    broken("word tokens do not survive decode", back);
  for (int64_t max_vocab : {1, 2, 5}) {
    const gom::text::Vocabulary small = gom::text::build_vocabulary(tokens, 2, max_vocab);
    check_vocabulary(small, max_vocab);
    for (int64_t id : gom::text::encode(small, tokens))  // never throws: <unk> takes the rest
      if (id < 0 || id >= int64_t(small.tokens.size())) broken("id out of range", "");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const size_t at = gom::text::invalid_utf8_at(text);
    if (at != std::string_view::npos) {
      if (at >= size) broken("offset past the end", std::to_string(at));
      if (gom::text::invalid_utf8_at(text.substr(0, at)) != std::string_view::npos)
        broken("invalid UTF-8 before the offset", std::to_string(at));
      try {
        gom::text::check_utf8(text, "fuzz.txt");
        broken("check_utf8 accepted invalid UTF-8", "");
      } catch (const gom::Error& e) {
        if (std::string(e.what()) != "invalid UTF-8 at byte " + std::to_string(at) + " of fuzz.txt")
          broken("message", e.what());
      }
      return 0;
    }
    gom::text::check_utf8(text, "fuzz.txt");
    const std::string lower = gom::text::ascii_lower(text);
    if (lower.size() != size || gom::text::invalid_utf8_at(lower) != std::string_view::npos)
      broken("lowercase broke the text", lower);
    check_tokens(text, Tokenizer::Char);
    check_tokens(text, Tokenizer::Word);
  } catch (const gom::Error& e) {
    broken("unexpected gom::Error", e.what());
  }
  return 0;
}
