// text_format.h — the text dataset's UTF-8 check, tokenizers and vocabulary, on std only (the fuzz
// target fuzz/text_fuzz.cpp compiles this file alone).
//
// Text is UTF-8. Two tokenizers:
//   Char  one token per code point (its bytes), every character kept, so decode(encode(t)) == t.
//   Word  a line break is the token "\n"; a run of word characters (ASCII letters, digits, '_',
//         '\'' and every non-ASCII character) is a token; every other visible ASCII character
//         (punctuation) is a token of its own; spaces, tabs and '\r' only separate. Tokens joined
//         by single spaces tokenise back to the same tokens.
// Every error is a gom::Error with a stable wording (the tests compare it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gom::text {

enum class Tokenizer { Char, Word };

/// @brief The unknown token, in the vocabulary when min_freq or max_vocab dropped a token.
inline constexpr const char* kUnknown = "<unk>";

/// @brief Offset (from 0) of the first byte of the first invalid UTF-8 sequence (overlong,
/// surrogate, above U+10FFFF, truncated, stray continuation byte), or npos when `s` is valid.
size_t invalid_utf8_at(std::string_view s);

/// @brief Throws "invalid UTF-8 at byte N of NAME" unless `s` is valid UTF-8.
void check_utf8(std::string_view s, const std::string& name);

/// @brief `s` with ASCII letters lowercased (other characters, non-ASCII ones included, as they
/// are; UTF-8 stays valid and every offset stays the same).
std::string ascii_lower(std::string_view s);

/// @brief The tokens of valid UTF-8 `text`, as views into it.
std::vector<std::string_view> tokenize(std::string_view text, Tokenizer t);

/// @brief Tokens by id, sorted by their bytes (the ids do not depend on the order of the corpus).
struct Vocabulary {
  std::vector<std::string> tokens;
  std::map<std::string, int64_t, std::less<>> ids;
  int64_t unknown = -1;  ///< id of "<unk>", or -1 when every corpus token was kept
  /// @brief A short summary of the tokens dropped by min_freq/max_vocab ("" when none).
  std::string dropped;
};

/// @brief The vocabulary of `tokens`: those seen at least `min_freq` times. When a token is
/// dropped (by min_freq, or because there are more than `max_vocab`), "<unk>" joins and takes
/// one of the max_vocab places: then the max_vocab - 1 most frequent stay (ties: the smaller
/// token), so the size never exceeds max_vocab (0: no limit).
Vocabulary build_vocabulary(const std::vector<std::string_view>& tokens, int64_t min_freq,
                            int64_t max_vocab);

/// @brief Ids of `tokens`; a token not in the vocabulary becomes "<unk>" when the vocabulary has
/// it, else throws "token 'X' is not in the corpus vocabulary (N tokens)".
std::vector<int64_t> encode(const Vocabulary& v, const std::vector<std::string_view>& tokens);

/// @brief The text of `ids`: characters concatenated (Char), tokens joined by spaces (Word).
/// An id outside the vocabulary throws "id 70 is out of range [0, 65) of the vocabulary".
std::string decode(const Vocabulary& v, const std::vector<int64_t>& ids, Tokenizer t);

/// @brief A token as it reads in a message: control characters escaped (\n, \t, \r, \xNN).
std::string printable(std::string_view token);

}  // namespace gom::text
