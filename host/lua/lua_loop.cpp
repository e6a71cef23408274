// Helpers for hand-written loops: gom.clip_grad_norm and gom.clip_grad_value (torch.nn.utils'),
// model:evaluate(data, {metrics, loss, batch_size}) (Keras' evaluate: gom::evaluate, fit's
// validation pass with its metric callbacks), gom.predict(model, data) (the outputs, and the
// targets, concatenated), and gom.lr_find{...} (gom.fit with the lr_finder callback, returning
// its suggestions).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

#include "gom/grad_clip.h"
#include "gom_core/data_loader.h"
#include "gom_core/trainer.h"
#include "lua_util.h"

namespace gom::lua {
namespace {

// gom.clip_grad_norm(params, max_norm [, norm_type]) → the total norm before clipping.
// norm_type: a number > 0, math.huge or "inf".
int l_clip_grad_norm(lua_State* L) {
  const std::vector<Tensor> params = check_parameters(L, 1);
  const double max_norm = luaL_checknumber(L, 2);
  double p = 2;
  if (lua_type(L, 3) == LUA_TSTRING) {
    if (std::string_view(lua_tostring(L, 3)) != "inf")
      return luaL_error(L, "gom.clip_grad_norm: norm_type is a number or \"inf\", got \"%s\"",
                        lua_tostring(L, 3));
    p = std::numeric_limits<double>::infinity();
  } else if (!lua_isnoneornil(L, 3)) {
    p = luaL_checknumber(L, 3);
  }
  lua_pushnumber(L, clip_grad_norm_(params, max_norm, p));
  return 1;
}

// gom.clip_grad_value(params, clip_value)
int l_clip_grad_value(lua_State* L) {
  clip_grad_value_(check_parameters(L, 1), luaL_checknumber(L, 2));
  return 0;
}

// The options table at idx: its keys must be among `accepted`.
void check_keys(lua_State* L, int idx, const std::vector<std::string>& accepted,
                const std::string& what) {
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    const std::string key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a name)";
    if (std::find(accepted.begin(), accepted.end(), key) == accepted.end()) {
      const auto hint = closest(key, accepted);
      throw Error(fmt::format("{}: unknown option '{}'{} (accepted: {})", what, key,
                              hint ? fmt::format(" (did you mean '{}'?)", *hint) : "",
                              fmt::join(accepted, ", ")));
    }
  }
}

// The option batch_size of the table at idx (default 64).
int64_t batch_size_option(lua_State* L, int idx, const std::string& what) {
  if (lua_isnoneornil(L, idx)) return 64;
  lua_getfield(L, idx, "batch_size");
  const int64_t bs = lua_isnil(L, -1) ? 64 : int64_t(luaL_checkinteger(L, -1));
  lua_pop(L, 1);
  if (bs < 1) throw Error(fmt::format("{}: batch_size must be >= 1, got {}", what, bs));
  return bs;
}

// The data to go over once: a gom.loader as it is, or a dataset in order, batch_size at a time.
std::shared_ptr<DataLoader> data_loader(lua_State* L, int idx, int64_t batch_size,
                                        const std::string& what) {
  if (auto* dl = test_object<std::shared_ptr<DataLoader>>(L, idx, kLoader)) return *dl;
  auto* d = test_object<LuaDataset>(L, idx, kDataset);
  if (!d)
    throw Error(
        fmt::format("{}: the data must be a gom.dataset(...) or a gom.loader(...), not a {}", what,
                    luaL_typename(L, idx)));
  LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = false;
  o.seed = context(L).seed;
  o.device = context(L).device;
  keep_streams(o, d->ds->info());
  return std::make_shared<DataLoader>(d->ds, o);
}

// model:evaluate(data, {metrics = {...}, loss = ..., batch_size = 64}) → {loss = x, accuracy = y}
int m_evaluate(lua_State* L) {
  const std::string what = "model:evaluate";
  const std::shared_ptr<Module> model = check_module(L, 1);
  model->to(context(L).device);  // where the loader puts the batches (gom run --backend)
  check_keys(L, 3, {"metrics", "loss", "batch_size"}, what);
  lua_settop(L, 3);
  lua_pushnil(L);  // 4: the optimizer Lua callbacks see (none)
  EvalArgs args;
  args.model = model;
  args.interrupt = context(L).interrupt;
  auto dl = data_loader(L, 2, batch_size_option(L, 3, what), what);
  args.data = dl.get();
  if (lua_istable(L, 3)) {
    if (lua_getfield(L, 3, "loss") != LUA_TNIL) args.loss = to_loss(L, -1, what);
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "metrics") != LUA_TNIL) {
      if (!lua_istable(L, -1)) throw Error(what + ": 'metrics' must be a list");
      const int t = lua_gettop(L);
      for (lua_Integer i = 1; i <= luaL_len(L, t); ++i) {
        lua_geti(L, t, i);
        args.callbacks.push_back(to_callback(L, -1, 1, 4).cb);
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  const auto metrics = evaluate(args);
  lua_createtable(L, 0, int(metrics.size()));
  for (const auto& [k, v] : metrics) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k.c_str());
  }
  return 1;
}

// gom.predict(model, x, {batch_size}) → the outputs for a tensor x (batch_size rows at a time);
// gom.predict(model, data, {batch_size}) → outputs, targets for a dataset or loader.
int l_predict(lua_State* L) {
  const std::string what = "gom.predict";
  const std::shared_ptr<Module> model = check_module(L, 1);
  model->to(context(L).device);  // where the loader puts the batches (gom run --backend)
  check_keys(L, 3, {"batch_size"}, what);
  const int64_t bs = batch_size_option(L, 3, what);
  if (auto* x = test_object<Tensor>(L, 2, kTensor)) {
    const Tensor input = *x;
    const int64_t n = input.shape().empty() ? 1 : input.shape()[0];
    const bool was_training = model->is_training();
    struct Restore {
      Module& m;
      bool on;
      ~Restore() { m.train(on); }
    } restore{*model, was_training};
    model->eval();
    NoGrad ng;
    if (input.shape().empty() || n <= bs) {
      push_tensor(L, model->forward(input));
      return 1;
    }
    std::vector<Tensor> outs;
    for (int64_t i = 0; i < n; i += bs)
      outs.push_back(model->forward(slice(input, 0, i, std::min(n, i + bs))));
    push_tensor(L, cat(outs, 0));
    return 1;
  }
  auto dl = data_loader(L, 2, bs, what);
  EvalArgs args;
  args.model = model;
  args.data = dl.get();
  args.interrupt = context(L).interrupt;
  const Predictions p = predict(args);
  push_tensor(L, p.pred);
  push_tensor(L, p.target);
  return 2;
}

// gom.lr_find{model = ..., loss = ..., optimizer = ..., train = ..., start_lr, end_lr, num_steps,
// smooth, diverge, ...}: gom.fit with the lr_finder callback added (and checkpoint = false, and
// epochs enough for num_steps batches unless given); the model and optimizer come back as they
// were. Returns {steep = lr, valley = lr, fit = gom.fit's result} (nil lrs: fewer than 2 steps).
int l_lr_find(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  static const std::vector<std::string> kFinder = {"start_lr", "end_lr", "num_steps", "smooth",
                                                   "diverge"};
  lua_newtable(L);  // 2: gom.fit's arguments
  lua_newtable(L);  // 3: lr_finder's
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    const bool finder =
        lua_type(L, -2) == LUA_TSTRING &&
        std::find(kFinder.begin(), kFinder.end(), lua_tostring(L, -2)) != kFinder.end();
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, finder ? 3 : 2);
  }
  Config finder = to_config(L, 3, "gom.lr_find");
  const Params fp = validated(ComponentKind::Callback, "lr_finder", finder);
  if (lua_getfield(L, 2, "checkpoint") == LUA_TNIL) {
    lua_pushboolean(L, false);
    lua_setfield(L, 2, "checkpoint");
  }
  lua_pop(L, 1);
  if (lua_getfield(L, 2, "epochs") == LUA_TNIL) {
    // Enough epochs for num_steps training batches: the finder stops the fit after them.
    int64_t epochs = fp.i("num_steps");
    lua_getfield(L, 2, "data");
    lua_getfield(L, lua_istable(L, -1) ? -1 : 2, "train");
    if (auto* d = test_object<LuaDataset>(L, -1, kDataset); d && !d->ds->info().count("bptt")) {
      lua_getfield(L, 2, "batch_size");
      const int64_t bs = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 64;
      const int64_t batches = bs > 0 ? std::max<int64_t>(1, (d->ds->size() + bs - 1) / bs) : 1;
      epochs = (fp.i("num_steps") + batches - 1) / batches;
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
    lua_pushinteger(L, epochs);
    lua_setfield(L, 2, "epochs");
  }
  lua_pop(L, 1);
  // callbacks = {the script's..., lr_finder}
  lua_newtable(L);
  const int cbs = lua_gettop(L);
  if (lua_getfield(L, 2, "callbacks") == LUA_TTABLE)
    for (lua_Integer i = 1; i <= luaL_len(L, -1); ++i) {
      lua_geti(L, -1, i);
      lua_seti(L, cbs, i);
    }
  lua_pop(L, 1);
  push_object(L, kCallback, LuaCallback{create_callback("lr_finder", finder), fp});
  lua_seti(L, cbs, luaL_len(L, cbs) + 1);
  lua_setfield(L, 2, "callbacks");

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "gom");
  lua_getfield(L, -1, "fit");
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);
  const int result = lua_gettop(L);
  lua_newtable(L);
  lua_getfield(L, result, "records");
  lua_getfield(L, -1, "lr_finder.suggested_lr");
  lua_setfield(L, -3, "steep");
  lua_getfield(L, -1, "lr_finder.valley_lr");
  lua_setfield(L, -3, "valley");
  lua_pop(L, 1);
  lua_pushvalue(L, result);
  lua_setfield(L, -2, "fit");
  return 1;
}

const luaL_Reg kModuleMethods[] = {{"evaluate", safe<m_evaluate>}, {nullptr, nullptr}};
const luaL_Reg kFunctions[] = {{"clip_grad_norm", safe<l_clip_grad_norm>},
                               {"clip_grad_value", safe<l_clip_grad_value>},
                               {"predict", safe<l_predict>},
                               {"lr_find", safe<l_lr_find>},
                               {nullptr, nullptr}};

}  // namespace

void open_loop(lua_State* L) {
  add_methods(L, kModule, kModuleMethods);
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
