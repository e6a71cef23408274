// Seeded image augmentation from Lua: gom.augment.flip{p}, .crop{size, padding, mode},
// .affine{degrees, translate, scale, p}, .erase{p, scale, ratio, value} and .cutout{size}
// (erase with a square) make augmentations; aug(x, seed) and gom.augment.apply({...}, x, seed)
// apply them. A list of them is a dataset's transform (ds:transform), gom.fit's batch_transform
// (training batches only), or gom.tta's (test-time augmentation, as fastai's learn.tta).
#include "gom/autograd.h"
#include "gom_core/augment.h"
#include "gom_core/data_loader.h"
#include "gom_core/derived_dataset.h"
#include "lua_util.h"

namespace gom::lua {
namespace {

using AugPtr = std::shared_ptr<const Augmentation>;

template <const char* Type>
int l_make(lua_State* L) {
  Config c = to_config(L, 1, std::string("gom.augment.") + Type);
  std::string type = Type;
  if (type == "cutout") {  // erase of a size x size square, always
    type = "erase";
    if (!c.count("p")) c["p"] = 1.0;
    if (!c.count("size")) c["size"] = int64_t(8);
  }
  push_object(L, kAugmentation, make_augmentation(type, c));
  return 1;
}
constexpr char kFlip[] = "flip", kCrop[] = "crop", kAffine[] = "affine", kErase[] = "erase",
               kCutout[] = "cutout";

uint64_t seed_arg(lua_State* L, int idx) {
  return lua_isnoneornil(L, idx) ? context(L).seed : uint64_t(luaL_checkinteger(L, idx));
}

// aug(x [, seed]) -> x augmented (seed: the run's by default)
int a_call(lua_State* L) {
  const AugPtr& a = check_object<AugPtr>(L, 1, kAugmentation);
  push_tensor(L, augment({a}, check_tensor(L, 2), seed_arg(L, 3)));
  return 1;
}
int a_tostring(lua_State* L) {
  const std::string s = "augment " + describe({check_object<AugPtr>(L, 1, kAugmentation)});
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}
// gom.augment.apply({augs}, x [, seed])
int l_apply(lua_State* L) {
  const Augmentations augs = check_augmentations(L, 1, "gom.augment.apply");
  push_tensor(L, augment(augs, check_tensor(L, 2), seed_arg(L, 3)));
  return 1;
}

// gom.tta(model, ds, {augment = {...}, n = 4, beta = 0.25, batch_size = 256, seed, activation})
//   -> predictions [N, ...], targets: as fastai's learn.tta, the mean of n augmented passes
// lerped with the plain pass: (1 - beta) * augmented + beta * plain. activation "softmax"
// (default for a classification dataset) averages probabilities rather than scores.
int l_tta(lua_State* L) {
  auto model = check_module(L, 1);
  const LuaDataset& d = check_object<LuaDataset>(L, 2, kDataset);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_getfield(L, 3, "augment");
  const Augmentations augs = check_augmentations(L, -1, "gom.tta: augment");
  lua_pop(L, 1);
  Config config;  // the options but augment
  lua_pushnil(L);
  while (lua_next(L, 3)) {
    if (lua_type(L, -2) == LUA_TSTRING && std::string(lua_tostring(L, -2)) != "augment")
      config[lua_tostring(L, -2)] = to_value(L, -1, std::string("gom.tta: ") + lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  Schema schema;
  schema.integer("n", "augmented passes over the data").def(4).min(1);
  schema.number("beta", "weight of the plain pass: (1 - beta) * augmented + beta * plain")
      .def(0.25)
      .range(0, 1);
  schema.integer("batch_size", "examples per batch").def(256).min(1);
  schema.integer("seed", "seed of the augmentations (default: the run's)").min(0);
  schema.choice("activation", {"auto", "softmax", "none"},
                "what is averaged: softmax probabilities (auto: for a classification dataset) "
                "or the model's outputs")
      .def("auto");
  const Params p = validate("gom.tta", schema, config);
  const bool softmax_out = p.s("activation") == "softmax" ||
                           (p.s("activation") == "auto" && d.ds->num_classes() > 0);
  const uint64_t seed = p.has("seed") ? uint64_t(p.i("seed")) : context(L).seed;
  LoaderOptions o;
  o.batch_size = p.i("batch_size");
  o.shuffle = false;
  o.prefetch = 0;
  o.device = context(L).device;
  DataLoader loader(d.ds, o);
  const bool was_training = model->is_training();
  model->train(false);
  NoGrad ng;
  const int64_t n = p.i("n");
  Tensor plain, augmented, targets;
  std::vector<Tensor> ys;
  for (int64_t pass = 0; pass <= n; ++pass) {
    loader.begin_epoch(0);
    std::vector<Tensor> preds;
    Batch b;
    for (int64_t k = 0; loader.next(b); ++k) {
      Tensor x = pass == 0 ? b.input : augment(augs, b.input, batch_seed(seed, pass, k));
      Tensor out = model->forward(x);
      preds.push_back(softmax_out ? softmax(out, -1) : out);
      if (pass == 0 && b.target.defined()) ys.push_back(b.target);
    }
    Tensor all = cat(preds, 0);
    if (pass == 0) plain = all;
    else augmented = pass == 1 ? all : add(augmented, all);
  }
  model->train(was_training);
  augmented = mul(augmented, scalar(1.0 / double(n), augmented.options()));
  const double beta = p.f("beta");
  push_tensor(L, add(mul(augmented, scalar(1 - beta, augmented.options())),
                     mul(plain, scalar(beta, plain.options()))));
  if (ys.empty()) lua_pushnil(L);
  else push_tensor(L, cat(ys, 0));
  return 2;
}

// gom.fit's batch_transform, before every batch (before the callbacks that read the batch).
class BatchTransform : public Callback {
 public:
  BatchTransform(lua_State* L, int idx, uint64_t seed) : L_(L), seed_(seed) {
    if (lua_isfunction(L, idx)) {
      lua_pushvalue(L, idx);
      ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
      augs_ = check_augmentations(L, idx, "gom.fit: batch_transform");
    }
  }
  ~BatchTransform() override {
    if (ref_ != LUA_NOREF) luaL_unref(L_, LUA_REGISTRYINDEX, ref_);
  }
  int order() const override { return -1000; }
  std::string what() const { return ref_ != LUA_NOREF ? "lua function" : describe(augs_); }

  void on(Event e, LoopState& s) override {
    if (e != Event::BeforeBatch) return;
    // Derived from the fit's seed, the epoch and the batch: the same after a resume.
    const uint64_t seed = batch_seed(seed_ ^ 0xB47C4u, s.epoch, s.batch);
    if (ref_ == LUA_NOREF) {  // augmentations change training batches only, as fastai's
      if (s.training) s.input = augment(augs_, s.input, seed);
      return;
    }
    const int top = lua_gettop(L_);
    lua_pushcfunction(L_, traceback);
    lua_rawgeti(L_, LUA_REGISTRYINDEX, ref_);
    push_tensor(L_, s.input);
    push_tensor(L_, s.target);
    lua_pushstring(L_, metric_phase_name(s.phase));
    lua_pushinteger(L_, lua_Integer(seed >> 11));
    if (lua_pcall(L_, 4, 2, top + 1) != LUA_OK) {
      std::string msg = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "(not a string)";
      lua_settop(L_, top);
      throw Error(msg);
    }
    auto* x = test_object<Tensor>(L_, -2, kTensor);
    if (!x) {
      const std::string got = luaL_typename(L_, -2);
      lua_settop(L_, top);
      throw Error("batch_transform must return the batch's input tensor (and optionally its "
                  "target), not a " + got);
    }
    s.input = *x;
    if (auto* y = test_object<Tensor>(L_, -1, kTensor)) s.target = *y;
    lua_settop(L_, top);
  }

 private:
  lua_State* L_;
  uint64_t seed_;
  int ref_ = LUA_NOREF;
  Augmentations augs_;
};

const luaL_Reg kAugMeta[] = {
    {"__call", safe<a_call>}, {"__tostring", safe<a_tostring>}, {nullptr, nullptr}};
const luaL_Reg kAugFunctions[] = {{"flip", safe<l_make<kFlip>>},     {"crop", safe<l_make<kCrop>>},
                                  {"affine", safe<l_make<kAffine>>}, {"erase", safe<l_make<kErase>>},
                                  {"cutout", safe<l_make<kCutout>>}, {"apply", safe<l_apply>},
                                  {nullptr, nullptr}};
const luaL_Reg kFunctions[] = {{"tta", safe<l_tta>}, {nullptr, nullptr}};

}  // namespace

Augmentations check_augmentations(lua_State* L, int idx, const std::string& what) {
  idx = lua_absindex(L, idx);
  if (auto* a = test_object<AugPtr>(L, idx, kAugmentation)) return {*a};
  Augmentations out;
  if (lua_istable(L, idx)) {
    for (lua_Integer i = 1; i <= luaL_len(L, idx); ++i) {
      lua_geti(L, idx, i);
      auto* a = test_object<AugPtr>(L, -1, kAugmentation);
      lua_pop(L, 1);
      if (!a) break;
      out.push_back(*a);
    }
    if (int64_t(out.size()) == luaL_len(L, idx) && !out.empty()) return out;
  }
  throw Error(fmt::format("{}: expected an augmentation (gom.augment.flip{{}}, crop, affine, "
                          "erase, cutout) or a list of them, got a {}",
                          what, luaL_typename(L, idx)));
}

FitCallback batch_transform_callback(lua_State* L, int idx, uint64_t seed) {
  auto cb = std::make_shared<BatchTransform>(L, idx, seed);
  cb->set_type("batch_transform");
  Params params("gom.fit: batch_transform", {{"type", cb->what()}});
  return {cb, "batch_transform", params};
}

void open_augment(lua_State* L) {
  define_class<AugPtr>(L, kAugmentation, nullptr, kAugMeta);
  lua_newtable(L);
  set_functions(L, kAugFunctions);
  lua_setfield(L, -2, "augment");
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
