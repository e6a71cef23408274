// embedding: a lookup table of num_embeddings rows of embedding_dim, as torch.nn.Embedding
// (parameter `weight`, default init N(0, 1), the padding_idx row zeroed at init and never
// given a gradient). Indices are i64 of any shape, or f32 holding whole numbers (tabular and
// ratings datasets give f32 batches); the output has the indices' shape plus embedding_dim.
#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "gom/autograd.h"
#include "gom/kernel.h"
#include "gom/layer.h"
#include "gom/ops.h"
#include "init.h"
#include "layers.h"

namespace gom_layers {
using namespace gom;

namespace {

// Rows of the weight at flat i64 indices; the backward scatter-adds into a zero table (repeated
// indices add up) and leaves the padding row at zero.
class Lookup : public Function {
 public:
  explicit Lookup(int64_t padding_idx) : padding_idx_(padding_idx) {}
  std::string name() const override { return "embedding"; }
  std::vector<Tensor> forward(FunctionContext& ctx, const std::vector<Tensor>& in) override {
    ctx.save_for_backward({in[1]});
    rows_ = in[0].shape()[0];
    return {index_select(in[0], 0, in[1])};
  }
  std::vector<Tensor> backward(FunctionContext& ctx, const std::vector<Tensor>& g) override {
    if (!ctx.needs_input_grad(0)) return {Tensor(), Tensor()};
    const Tensor& idx = ctx.saved()[0];
    Tensor gw = index_add(zeros({rows_, g[0].shape()[1]}, g[0].options()), 0, idx, g[0]);
    if (padding_idx_ >= 0) {
      Tensor row = gw.slice(0, padding_idx_, padding_idx_ + 1);
      zero_(row);
    }
    return {gw, Tensor()};
  }

 private:
  int64_t padding_idx_, rows_ = 0;
};

}  // namespace

class Embedding : public Module {
 public:
  explicit Embedding(const Params& p) : num_(p.i("num_embeddings")), dim_(p.i("embedding_dim")) {
    if (p.has("padding_idx")) {
      padding_idx_ = p.i("padding_idx");
      if (padding_idx_ < -num_ || padding_idx_ >= num_)
        throw Error(
            fmt::format("embedding: padding_idx {} is out of range for {} embeddings "
                        "(expected -{} <= padding_idx < {})",
                        padding_idx_, num_, num_, num_));
      if (padding_idx_ < 0) padding_idx_ += num_;  // torch counts a negative one from the end
    }
    Tensor w = Tensor::empty({num_, dim_});
    if (p.s("init") == "default")
      normal_(w, 0.0, 1.0);
    else
      init_weight(w, p.s("init"), dim_, num_);  // torch's fans of a [num, dim] weight
    if (padding_idx_ >= 0) {
      Tensor row = w.slice(0, padding_idx_, padding_idx_ + 1);
      zero_(row);
    }
    weight_ = register_parameter("weight", w);
  }

  Tensor forward(const Tensor& x) override {
    const Tensor idx = indices(x).reshape({-1});
    Tensor rows = apply_function(std::make_shared<Lookup>(padding_idx_), {weight_, idx})[0];
    Shape shape = x.shape();
    shape.push_back(dim_);
    return rows.reshape(shape);
  }

 private:
  // The indices as i64, checked against the table's size.
  Tensor indices(const Tensor& x) {
    if (defer_host_reads(x.device())) return device_indices(x);
    Tensor idx;
    if (x.dtype() == DType::I64) {
      idx = x;
    } else if (x.dtype() == DType::F32) {
      for (float v : x.to_vector<float>())
        if (v != std::floor(v))
          throw Error(
              fmt::format("embedding: index {} is not a whole number (f32 indices must "
                          "hold integers)",
                          v));
      idx = x.to(DType::I64);
    } else {
      throw Error(fmt::format("embedding: indices must be i64 (or f32 whole numbers), got {}",
                              dtype_name(x.dtype())));
    }
    for (int64_t v : idx.to_vector<int64_t>())
      if (v < 0 || v >= num_)
        throw Error(
            fmt::format("embedding: index {} is out of range for {} embeddings "
                        "(expected 0 <= index < {})",
                        v, num_, num_));
    return idx;
  }

  // On a device, reading the indices back would make the host wait every batch: bad indices
  // (out of range, or f32 ones that are not whole) are counted there instead and clamped into
  // range, and the count is read when the pass ends (fit calls train() then), which raises the
  // error naming the layer.
  Tensor device_indices(const Tensor& x) {
    if (x.dtype() != DType::I64 && x.dtype() != DType::F32)
      throw Error(fmt::format("embedding: indices must be i64 (or f32 whole numbers), got {}",
                              dtype_name(x.dtype())));
    NoGrad ng;
    const Tensor idx = x.to(DType::I64);
    const TensorOptions o = idx.options();
    const Tensor low = lt(idx, scalar(0, o)), high = ge(idx, scalar(double(num_), o));
    Tensor bad = add(sum(low.to(DType::F32)), sum(high.to(DType::F32)));
    if (x.dtype() == DType::F32) bad = add(bad, sum(ne(x, idx.to(DType::F32))));
    bad_ = bad_.defined() ? add(bad_, bad) : bad;
    return maximum(minimum(idx, scalar(double(num_ - 1), o)), scalar(0, o));
  }

 public:
  void train(bool on) override {
    if (bad_.defined()) {
      const double bad = std::exchange(bad_, Tensor()).item();
      if (bad > 0)
        throw Error(fmt::format(
            "embedding: {} indices since the last check were out of range for {} embeddings "
            "(expected whole numbers 0 <= index < {}); they were clamped into range meanwhile",
            bad, num_, num_));
    }
    Module::train(on);
  }

 private:
  Tensor bad_;  // the device's count of bad indices not yet read
  int64_t num_, dim_, padding_idx_ = -1;
  Tensor weight_;
};

void register_embedding() {
  Schema s;
  s.integer("num_embeddings", "rows of the table (the vocabulary size)").required().min(1);
  s.integer("embedding_dim", "features of each row").required().min(1);
  s.integer("padding_idx", "a row kept at zero at init that never gets a gradient (optional)");
  s.choice("init", init_choices(), "weight initialisation (default: PyTorch's N(0, 1))")
      .def("default");
  register_layer("embedding", "lookup table of learned vectors, as torch.nn.Embedding",
                 std::move(s), [](const Params& p) { return std::make_shared<Embedding>(p); });
}

}  // namespace gom_layers
