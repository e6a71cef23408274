// The text dataset's UTF-8 check, tokenizers and vocabulary; see text_format.h.
#include "text_format.h"

#include <algorithm>
#include <cstdio>

#include "gom/error.h"

namespace gom::text {

namespace {

bool continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
size_t sequence_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // a continuation byte, C0/C1 (overlong) or F5..FF
  }
  if (s.size() - i < n) return 0;
  const auto c1 = static_cast<unsigned char>(s[i + 1]);
  if (c1 < lo || c1 > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (!continuation(static_cast<unsigned char>(s[i + k]))) return 0;
  return n;
}

bool word_char(unsigned char c) {
  return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '_' || c == '\'';
}

bool separator(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

size_t invalid_utf8_at(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = sequence_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

void check_utf8(std::string_view s, const std::string& name) {
  const size_t at = invalid_utf8_at(s);
  if (at != std::string_view::npos)
    throw Error("invalid UTF-8 at byte " + std::to_string(at) + " of " + name);
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

std::vector<std::string_view> tokenize(std::string_view text, Tokenizer t) {
  std::vector<std::string_view> out;
  if (t == Tokenizer::Char) {
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::max<size_t>(1, sequence_length(text, i));  // valid text: n >= 1
      out.push_back(text.substr(i, n));
      i += n;
    }
    return out;
  }
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (separator(c)) {
      ++i;
    } else if (word_char(c)) {
      size_t j = i + 1;
      while (j < text.size() && word_char(static_cast<unsigned char>(text[j]))) ++j;
      out.push_back(text.substr(i, j - i));
      i = j;
    } else {  // "\n", punctuation, other control characters: one token each
      out.push_back(text.substr(i, 1));
      ++i;
    }
  }
  return out;
}

Vocabulary build_vocabulary(const std::vector<std::string_view>& tokens, int64_t min_freq,
                            int64_t max_vocab) {
  std::map<std::string_view, int64_t> counts;
  for (std::string_view tok : tokens) ++counts[tok];
  std::vector<std::pair<std::string_view, int64_t>> kept;
  int64_t below_min = 0;
  for (const auto& [tok, n] : counts) {
    if (n >= min_freq)
      kept.emplace_back(tok, n);
    else
      ++below_min;
  }
  // "<unk>" joins when a token is dropped, and then takes one of the max_vocab places.
  const bool unknown = below_min > 0 || (max_vocab > 0 && int64_t(kept.size()) > max_vocab);
  const int64_t room = max_vocab - (unknown ? 1 : 0);
  int64_t over_max = 0;
  if (max_vocab > 0 && int64_t(kept.size()) > room) {
    // Most frequent first; stable, so ties keep the byte order of the map.
    std::stable_sort(kept.begin(), kept.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    over_max = int64_t(kept.size()) - room;
    kept.resize(size_t(room));
  }
  Vocabulary v;
  for (const auto& kv : kept) v.tokens.emplace_back(kv.first);
  if (below_min + over_max > 0) {
    v.tokens.emplace_back(kUnknown);
    v.dropped = std::to_string(below_min + over_max) + " rare tokens became " + kUnknown;
  }
  std::sort(v.tokens.begin(), v.tokens.end());
  for (size_t i = 0; i < v.tokens.size(); ++i) v.ids.emplace(v.tokens[i], int64_t(i));
  if (below_min + over_max > 0) v.unknown = v.ids.at(kUnknown);
  return v;
}

std::vector<int64_t> encode(const Vocabulary& v, const std::vector<std::string_view>& tokens) {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (std::string_view tok : tokens) {
    const auto it = v.ids.find(tok);
    if (it != v.ids.end()) {
      ids.push_back(it->second);
    } else if (v.unknown >= 0) {
      ids.push_back(v.unknown);
    } else {
      throw Error("token '" + printable(tok) + "' is not in the corpus vocabulary (" +
                  std::to_string(v.tokens.size()) + " tokens)");
    }
  }
  return ids;
}

std::string decode(const Vocabulary& v, const std::vector<int64_t>& ids, Tokenizer t) {
  std::string out;
  for (size_t k = 0; k < ids.size(); ++k) {
    const int64_t id = ids[k];
    if (id < 0 || id >= int64_t(v.tokens.size()))
      throw Error("id " + std::to_string(id) + " is out of range [0, " +
                  std::to_string(v.tokens.size()) + ") of the vocabulary");
    if (t == Tokenizer::Word && k > 0) out += ' ';
    out += v.tokens[size_t(id)];
  }
  return out;
}

std::string printable(std::string_view token) {
  std::string out;
  for (char ch : token) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace gom::text
