// tabular_embedding: the input end of fastai's TabularModel. Input [B, n_cat + n_cont] as the
// csv dataset gives it: categorical indices first (0 = missing/unknown), then the continuous
// columns. Output [B, sum(sizes) + n_cont]: each categorical column through its own embedding
// (embeds.N.weight, fastai's names), embedding dropout, then the continuous columns unchanged.
#include <fmt/format.h>

#include "categorical.h"
#include "gom/layer.h"
#include "gom/ops.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

namespace {

std::vector<int64_t> whole_numbers(const Params& p, const std::string& key) {
  std::vector<int64_t> out;
  for (double v : p.list_f(key)) {
    if (v != std::floor(v))
      throw Error(fmt::format("layer 'tabular_embedding': {} must list whole numbers, got {}", key,
                              p.get(key).str()));
    out.push_back(static_cast<int64_t>(v));
  }
  return out;
}

class TabularEmbedding : public Module {
 public:
  explicit TabularEmbedding(const Params& p)
      : n_cont_(p.i("n_cont")), dropout_(p.f("embed_dropout")) {
    const std::vector<int64_t> card = whole_numbers(p, "cardinalities");
    std::vector<int64_t> sizes;
    if (p.has("sizes")) {
      sizes = whole_numbers(p, "sizes");
      if (sizes.size() != card.size())
        throw Error(fmt::format("layer 'tabular_embedding': sizes has {} entries, cardinalities "
                                "{}; give one size per categorical column (or none: fastai's "
                                "emb_sz_rule)",
                                sizes.size(), card.size()));
    } else {
      for (int64_t n : card) sizes.push_back(emb_sz_rule(n));
    }
    if (card.empty() && n_cont_ == 0)
      throw Error("layer 'tabular_embedding': no columns: give cardinalities, n_cont or both");
    for (size_t c = 0; c < card.size(); ++c) {
      tables_.push_back(register_parameter(fmt::format("embeds.{}.weight", c),
                                           embedding_table(card[c], sizes[c], p.s("init"))));
      columns_.push_back({fmt::format("categorical column {}", c),
                          fmt::format("its cardinality {}", card[c]), card[c]});
    }
  }

  Tensor forward(const Tensor& x) override {
    const int64_t n_cat = static_cast<int64_t>(columns_.size()), cols = n_cat + n_cont_;
    if (x.dim() != 2 || x.size(1) != cols || (x.dtype() != DType::F32 && x.dtype() != DType::I64))
      throw Error(fmt::format("layer 'tabular_embedding': expected input [B, {}] ({} categorical "
                              "then {} continuous columns) as f32 or i64, got {} {}",
                              cols, n_cat, n_cont_, shape_str(x.shape()), dtype_name(x.dtype())));
    std::vector<Tensor> parts;
    if (n_cat > 0) {
      const std::vector<Tensor> idx = index_columns(x, columns_, "tabular_embedding");
      for (int64_t c = 0; c < n_cat; ++c)
        parts.push_back(index_select(tables_[size_t(c)], 0, idx[size_t(c)]));
      Tensor emb = parts.size() == 1 ? parts[0] : cat(parts, 1);
      parts = {dropout(emb, dropout_, is_training())};
    }
    if (n_cont_ > 0) {
      Tensor cont = x.slice(1, n_cat, cols);
      parts.push_back(cont.dtype() == DType::F32 ? cont : cont.to(DType::F32));
    }
    return parts.size() == 1 ? parts[0] : cat(parts, 1);
  }

 private:
  int64_t n_cont_;
  double dropout_;
  std::vector<Tensor> tables_;
  std::vector<CategoricalColumn> columns_;
};

}  // namespace

void register_tabular() {
  Schema s;
  s.list("cardinalities",
         "categories of each categorical column, counting the 0 slot (missing/unknown)")
      .def(Value::List{})
      .min(1);
  s.list("sizes", "embedding width of each categorical column (default: fastai's emb_sz_rule, "
                  "min(600, round(1.6 * n^0.56)))")
      .min(1);
  s.integer("n_cont", "continuous columns, after the categorical ones").def(0).min(0);
  s.number("embed_dropout", "dropout on the concatenated embeddings (training only)")
      .def(0.0)
      .range(0.0, 0.999999);
  s.choice("init", embedding_init_choices(),
           "embedding init (default: fastai's truncated normal, std 0.01)")
      .def("default");
  register_layer("tabular_embedding",
                 "tabular input: an embedding per categorical column, concatenated with the "
                 "continuous columns; [B, n_cat + n_cont] -> [B, sum(sizes) + n_cont]",
                 std::move(s),
                 [](const Params& p) { return std::make_shared<TabularEmbedding>(p); });
}

}  // namespace gom_layers
