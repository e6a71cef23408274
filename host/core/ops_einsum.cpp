// einsum as permute + reshape + batched matmul (and sum for letters only one operand has), so
// it runs on matmul kernels and differentiates through those ops; and PyTorch's t[mask].
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "ops_internal.h"

namespace gom {
using namespace detail;

namespace {

const char* const kEinsumAccepted =
    "accepted: letters per operand, one operand per tensor, optional '->' output "
    "(e.g. \"bhqd,bhkd->bhqk\", \"ij,jk->ik\", \"i,i->\"); not accepted: '...', a letter "
    "repeated within one operand, a letter whose sizes differ";

// A tensor and the letter naming each of its dims.
struct Term {
  Tensor t;
  std::string letters;
};

[[noreturn]] void einsum_error(const std::string& equation, const std::string& what) {
  throw Error(fmt::format("einsum(\"{}\"): {}; {}", equation, what, kEinsumAccepted));
}

bool has(const std::string& s, char c) {
  return s.find(c) != std::string::npos;
}

// Sums `t` over its letters that `keep` lacks.
Term sum_unneeded(Term x, const std::string& keep) {
  std::vector<int64_t> dims;
  std::string left;
  for (size_t i = 0; i < x.letters.size(); ++i) {
    if (has(keep, x.letters[i]))
      left += x.letters[i];
    else
      dims.push_back(int64_t(i));
  }
  if (dims.empty()) return x;
  return {sum(x.t, dims), left};
}

// `x` permuted so its letters come in the order of `order` (which holds exactly its letters).
Tensor arrange(const Term& x, const std::string& order) {
  std::vector<int64_t> p;
  bool identity = true;
  for (char c : order) {
    p.push_back(int64_t(x.letters.find(c)));
    identity = identity && p.back() == int64_t(p.size() - 1);
  }
  return identity ? x.t : permute(x.t, p);
}

int64_t product(const std::string& letters, const std::map<char, int64_t>& size) {
  int64_t n = 1;
  for (char c : letters) n *= size.at(c);
  return n;
}

// One pairwise contraction: a as [batch, a-only, contracted], b as [batch, contracted, b-only],
// one (batched) matmul, then back to [batch, a-only, b-only].
Term contract(const Term& a, const Term& b, const std::string& needed,
              const std::map<char, int64_t>& size) {
  std::string batch, summed, a_only, b_only;
  for (char c : a.letters) {
    if (!has(b.letters, c))
      a_only += c;
    else if (has(needed, c))
      batch += c;
    else
      summed += c;
  }
  for (char c : b.letters)
    if (!has(a.letters, c)) b_only += c;
  const int64_t nb = product(batch, size), m = product(a_only, size), k = product(summed, size),
                n = product(b_only, size);
  Shape sa{m, k}, sb{k, n};
  if (!batch.empty()) {
    sa.insert(sa.begin(), nb);
    sb.insert(sb.begin(), nb);
  }
  Tensor am = reshape(arrange(a, batch + a_only + summed), sa);
  Tensor bm = reshape(arrange(b, batch + summed + b_only), sb);
  const std::string letters = batch + a_only + b_only;
  Shape out;
  for (char c : letters) out.push_back(size.at(c));
  return {reshape(matmul(am, bm), out), letters};
}

}  // namespace

Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands) {
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq += c;
  if (eq.find('.') != std::string::npos)
    einsum_error(equation, "'...' (ellipsis) is not supported");
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> inputs(1);
  for (char c : lhs) {
    if (c == ',')
      inputs.emplace_back();
    else
      inputs.back() += c;
  }
  if (inputs.size() != operands.size())
    einsum_error(equation,
                 fmt::format("{} operand terms for {} tensors", inputs.size(), operands.size()));
  std::map<char, int64_t> size, uses;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string& s = inputs[i];
    if (int64_t(s.size()) != operands[i].dim())
      einsum_error(equation,
                   fmt::format("operand {} (\"{}\") names {} dims of a tensor of shape {}", i, s,
                               s.size(), shape_str(operands[i].shape())));
    for (size_t j = 0; j < s.size(); ++j) {
      const char c = s[j];
      if (!std::isalpha(static_cast<unsigned char>(c)))
        einsum_error(equation, fmt::format("'{}' is not a letter", c));
      if (s.find(c) != j)
        einsum_error(equation, fmt::format("letter '{}' is repeated in operand {}", c, i));
      const int64_t d = operands[i].shape()[j];
      if (size.count(c) && size[c] != d)
        einsum_error(equation, fmt::format("letter '{}' has size {} in operand {} but {} before", c,
                                           d, i, size[c]));
      size[c] = d;
      ++uses[c];
    }
  }
  std::string output;
  if (arrow == std::string::npos) {
    for (const auto& [c, u] : uses)
      if (u == 1) output += c;  // the map orders the letters
  } else {
    output = eq.substr(arrow + 2);
    for (size_t j = 0; j < output.size(); ++j)
      if (!size.count(output[j]) || output.find(output[j]) != j)
        einsum_error(equation, fmt::format("output letter '{}' is repeated or names no input dim",
                                           output[j]));
  }
  // Letters needed after operand i: the output's and those of the operands after it.
  auto needed_after = [&](size_t i) {
    std::string s = output;
    for (size_t j = i + 1; j < inputs.size(); ++j) s += inputs[j];
    return s;
  };
  auto needed_except = [&](size_t i) {
    std::string s = output;
    for (size_t j = 0; j < inputs.size(); ++j)
      if (j != i) s += inputs[j];
    return s;
  };
  // Letters of one operand alone are summed first; then left-to-right pairwise contractions.
  Term acc = sum_unneeded({operands[0], inputs[0]}, needed_except(0));
  for (size_t i = 1; i < inputs.size(); ++i) {
    const Term next = sum_unneeded({operands[i], inputs[i]}, needed_except(i));
    const std::string keep = needed_after(i);
    acc = contract(sum_unneeded(acc, keep + next.letters), next, keep, size);
  }
  acc = sum_unneeded(acc, output);
  return arrange(acc, output);
}

Tensor index_mask(const Tensor& a, const Tensor& mask) {
  const int64_t k = mask.dim();
  const bool leading =
      k <= a.dim() && std::equal(mask.shape().begin(), mask.shape().end(), a.shape().begin());
  if (mask.dtype() != DType::F32 || !leading)
    throw Error(
        fmt::format("index_mask: expected an f32 0/1 mask of the tensor's shape {} or of "
                    "its leading dims, got {} {} (for i64 indices use index_select)",
                    shape_str(a.shape()), dtype_name(mask.dtype()), shape_str(mask.shape())));
  std::vector<int64_t> picked;
  const std::vector<float> m = mask.to(kCPU).contiguous().to_vector<float>();
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] != 0.0f && m[i] != 1.0f)
      throw Error(
          fmt::format("index_mask: the mask holds {} at position {}; only 0 and 1 are "
                      "accepted",
                      m[i], i));
    if (m[i] == 1.0f) picked.push_back(int64_t(i));
  }
  Shape rows{shape_numel(mask.shape())};
  rows.insert(rows.end(), a.shape().begin() + k, a.shape().end());
  Tensor idx = tensor_i64(picked, {int64_t(picked.size())});
  return index_select(reshape(a, rows), 0, a.device() == kCPU ? idx : idx.to(a.device()));
}

}  // namespace gom
