// Collaborative filtering (fastai, chapter 8 of the book):
//   sigmoid_range     sigmoid(x) * (high - low) + low                        (fastai SigmoidRange)
//   dot_product_bias  user . item + user bias + item bias, optionally squashed into y_range
//                     (fastai EmbeddingDotBias: u_weight, i_weight, u_bias, i_bias)
//   collab_nn         concat(user, item embeddings) -> linear/relu ... -> 1, optionally squashed
//                     (the book's CollabNN: user_factors, item_factors, layers.N)
// Both models take [B, 2] (user index, item index), i64 or f32 holding whole numbers — what the
// ratings dataset gives — and return [B, 1], the shape of its targets.
#include <fmt/format.h>

#include "categorical.h"
#include "gom/layer.h"
#include "gom/ops.h"
#include "init.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

namespace {

// sigmoid(x) * (high - low) + low in two ops: affine is one kernel.
Tensor squash(const Tensor& x, double low, double high) {
  return affine(sigmoid(x), high - low, low);
}

void check_range_pair(const std::string& layer, double low, double high, const char* what) {
  if (!(low < high))
    throw Error(fmt::format("layer '{}': {} must have low < high, got [{}, {}]", layer, what, low,
                            high));
}

// The optional y_range of a collab model: {low, high} or none.
struct YRange {
  bool on = false;
  double low = 0, high = 0;
};

YRange y_range_of(const Params& p, const std::string& layer) {
  if (!p.has("y_range")) return {};
  const std::vector<double> r = p.list_f("y_range");
  if (r.size() != 2)
    throw Error(fmt::format("layer '{}': y_range must be a list of two numbers [low, high], got {}",
                            layer, p.get("y_range").str()));
  check_range_pair(layer, r[0], r[1], "y_range");
  return {true, r[0], r[1]};
}

void add_y_range(Schema& s) {
  s.list("y_range", "[low, high]: the output goes through sigmoid_range(low, high) (default: none)");
}

// [B, 2] i64 or f32 -> user and item indices, each [B], checked against the table sizes.
std::pair<Tensor, Tensor> users_items(const Tensor& x, int64_t n_users, int64_t n_items,
                                      const std::string& layer) {
  if (x.dim() != 2 || x.size(1) != 2 || (x.dtype() != DType::I64 && x.dtype() != DType::F32))
    throw Error(fmt::format("layer '{}': expected input [B, 2] (user index, item index) as i64 "
                            "or f32, got {} {}",
                            layer, shape_str(x.shape()), dtype_name(x.dtype())));
  const std::vector<Tensor> idx = index_columns(
      x,
      {{"user column 0", fmt::format("n_users = {}", n_users), n_users},
       {"item column 1", fmt::format("n_items = {}", n_items), n_items}},
      layer);
  return {idx[0], idx[1]};
}

class SigmoidRange : public Module {
 public:
  explicit SigmoidRange(const Params& p) : low_(p.f("low")), high_(p.f("high")) {
    check_range_pair("sigmoid_range", low_, high_, "[low, high]");
  }
  Tensor forward(const Tensor& x) override { return squash(x, low_, high_); }

 private:
  double low_, high_;
};

class DotProductBias : public Module {
 public:
  explicit DotProductBias(const Params& p)
      : n_users_(p.i("n_users")), n_items_(p.i("n_items")), y_(y_range_of(p, "dot_product_bias")) {
    const int64_t f = p.i("n_factors");
    const std::string& init = p.s("init");
    u_weight_ = register_parameter("u_weight.weight", embedding_table(n_users_, f, init));
    i_weight_ = register_parameter("i_weight.weight", embedding_table(n_items_, f, init));
    u_bias_ = register_parameter("u_bias.weight", embedding_table(n_users_, 1, init));
    i_bias_ = register_parameter("i_bias.weight", embedding_table(n_items_, 1, init));
  }
  Tensor forward(const Tensor& x) override {
    const auto [users, items] = users_items(x, n_users_, n_items_, "dot_product_bias");
    Tensor dot = sum(index_select(u_weight_, 0, users) * index_select(i_weight_, 0, items), {1},
                     /*keepdim=*/true);
    Tensor res = dot + index_select(u_bias_, 0, users) + index_select(i_bias_, 0, items);
    return y_.on ? squash(res, y_.low, y_.high) : res;
  }

 private:
  int64_t n_users_, n_items_;
  YRange y_;
  Tensor u_weight_, i_weight_, u_bias_, i_bias_;
};

class CollabNN : public Module {
 public:
  explicit CollabNN(const Params& p)
      : n_users_(p.i("n_users")), n_items_(p.i("n_items")), y_(y_range_of(p, "collab_nn")) {
    const int64_t us = p.has("user_size") ? p.i("user_size") : emb_sz_rule(n_users_);
    const int64_t is = p.has("item_size") ? p.i("item_size") : emb_sz_rule(n_items_);
    user_ = register_parameter("user_factors.weight", embedding_table(n_users_, us, p.s("init")));
    item_ = register_parameter("item_factors.weight", embedding_table(n_items_, is, p.s("init")));
    // layers.0 linear, layers.1 relu, layers.2 linear, ...: the names of the book's nn.Sequential.
    std::vector<int64_t> widths{us + is};
    for (double h : p.list_f("hidden")) {
      if (h != std::floor(h) || h < 1)
        throw Error(fmt::format("layer 'collab_nn': hidden must list whole numbers >= 1, got {}",
                                p.get("hidden").str()));
      widths.push_back(static_cast<int64_t>(h));
    }
    widths.push_back(1);
    for (size_t k = 0; k + 1 < widths.size(); ++k) {
      const int64_t in = widths[k], out = widths[k + 1];
      Tensor w = Tensor::empty({out, in}), b = Tensor::empty({out});
      init_weight(w, "default", in, out);  // torch.nn.Linear's init, as the book's model has
      uniform_(b, -1.0 / std::sqrt(double(in)), 1.0 / std::sqrt(double(in)));
      const std::string name = fmt::format("layers.{}", 2 * k);
      weights_.push_back(register_parameter(name + ".weight", w));
      biases_.push_back(register_parameter(name + ".bias", b));
    }
  }
  Tensor forward(const Tensor& x) override {
    const auto [users, items] = users_items(x, n_users_, n_items_, "collab_nn");
    Tensor h = cat({index_select(user_, 0, users), index_select(item_, 0, items)}, 1);
    for (size_t k = 0; k < weights_.size(); ++k) {
      h = linear(h, weights_[k], biases_[k]);
      if (k + 1 < weights_.size()) h = relu(h);
    }
    return y_.on ? squash(h, y_.low, y_.high) : h;
  }

 private:
  int64_t n_users_, n_items_;
  YRange y_;
  Tensor user_, item_;
  std::vector<Tensor> weights_, biases_;
};

void add_tables(Schema& s) {
  s.integer("n_users", "number of users (user indices 0 to n_users - 1)").required().min(1);
  s.integer("n_items", "number of items (item indices 0 to n_items - 1)").required().min(1);
}

}  // namespace

void register_collab() {
  Schema sr;
  sr.number("low", "the output's lower bound").required();
  sr.number("high", "the output's upper bound (greater than low)").required();
  register_layer("sigmoid_range", "sigmoid(x) * (high - low) + low: an output kept in (low, high)",
                 std::move(sr), [](const Params& p) { return std::make_shared<SigmoidRange>(p); });

  Schema dp;
  add_tables(dp);
  dp.integer("n_factors", "width of the user and item embeddings").def(50).min(1);
  add_y_range(dp);
  dp.choice("init", embedding_init_choices(),
            "embedding init (default: fastai's truncated normal, std 0.01)")
      .def("default");
  register_layer("dot_product_bias",
                 "collaborative filtering: dot product of user and item embeddings plus a bias "
                 "for each; input [B, 2] (user, item) -> [B, 1]",
                 std::move(dp),
                 [](const Params& p) { return std::make_shared<DotProductBias>(p); });

  Schema nn;
  add_tables(nn);
  nn.integer("user_size", "width of the user embedding (default: fastai's emb_sz_rule(n_users))")
      .min(1);
  nn.integer("item_size", "width of the item embedding (default: fastai's emb_sz_rule(n_items))")
      .min(1);
  nn.list("hidden", "widths of the hidden linear+relu layers").def(Value::List{Value(100)}).min(1);
  add_y_range(nn);
  nn.choice("init", embedding_init_choices(),
            "embedding init (default: fastai's truncated normal, std 0.01); the linear layers "
            "get PyTorch's")
      .def("default");
  register_layer("collab_nn",
                 "collaborative filtering by a neural net: concatenated user and item embeddings "
                 "through linear+relu layers to one output; input [B, 2] (user, item) -> [B, 1]",
                 std::move(nn), [](const Params& p) { return std::make_shared<CollabNN>(p); });
}

}  // namespace gom_layers
