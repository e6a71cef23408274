// Data from Lua: gom.tensor_dataset(x, y) (tensors or nested tables), gom.subset(ds, indices),
// gom.random_split(ds, {0.9, 0.1}, seed) (torch.utils.data's), ds:transform(fn or augmentations)
// per example, and the category maps of the csv and ratings datasets (ds:classes(column),
// ds:ids(column), ds:class_index(column, raw)). Every derived dataset records what it was made
// from: the base's type and parameters, plus subset.*, split.* and transform keys.
#include <algorithm>

#include "gom_core/augment.h"
#include "gom_core/derived_dataset.h"
#include "lua_util.h"

namespace gom::lua {
namespace {

LuaDataset& check_dataset(lua_State* L, int idx) {
  return check_object<LuaDataset>(L, idx, kDataset);
}

// The dataset `base` was made from, recorded with `extra` keys added to its parameters.
void push_derived(lua_State* L, const LuaDataset& base, std::shared_ptr<Dataset> ds,
                  const std::map<std::string, Value>& extra) {
  std::map<std::string, Value> values = base.params.values();
  for (const auto& [k, v] : extra) values[k] = v;
  push_object(L, kDataset,
              LuaDataset{std::move(ds), base.name, Params("dataset '" + base.name + "'", values)});
}

// A tensor argument, or nested Lua tables made a tensor by gom.tensor (as i64 when `integers`
// and every number is an integer).
Tensor tensor_arg(lua_State* L, int idx, bool integers) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) return check_tensor(L, idx);
  bool all_integers = integers && luaL_len(L, idx) > 0;
  for (lua_Integer i = 1; all_integers && i <= luaL_len(L, idx); ++i) {
    lua_geti(L, idx, i);
    all_integers = lua_isinteger(L, -1);
    lua_pop(L, 1);
  }
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "gom");
  lua_getfield(L, -1, "tensor");
  lua_pushvalue(L, idx);
  lua_pushstring(L, all_integers ? "i64" : "f32");
  lua_call(L, 2, 1);
  Tensor t = check_tensor(L, -1);
  lua_pop(L, 3);
  return t;
}

// Whether the table at idx is a list of tensors (several inputs), not nested numbers.
bool is_tensor_list(lua_State* L, int idx) {
  if (!lua_istable(L, idx) || luaL_len(L, idx) == 0) return false;
  lua_geti(L, idx, 1);
  const bool tensor = luaL_testudata(L, -1, kTensor) != nullptr;
  lua_pop(L, 1);
  return tensor;
}

// gom.tensor_dataset(x [, y] [, {classes = n}]): x [N, ...], or a list of inputs {x1, x2, ...}
// each [N, ...] (a model with several inputs gets them as arguments of its forward); y [N, ...].
// An i64 target (a table of integers is one) is class ids: classes defaults to max + 1.
int l_tensor_dataset(lua_State* L) {
  Tensor x;
  std::vector<Tensor> more;
  if (is_tensor_list(L, 1)) {
    for (lua_Integer i = 1; i <= luaL_len(L, 1); ++i) {
      lua_geti(L, 1, i);
      if (!luaL_testudata(L, -1, kTensor))
        throw Error(fmt::format("gom.tensor_dataset: input {} of the list is a {}, not a tensor", i,
                                luaL_typename(L, -1)));
      if (i == 1)
        x = check_tensor(L, -1);
      else
        more.push_back(check_tensor(L, -1));
      lua_pop(L, 1);
    }
  } else {
    x = tensor_arg(L, 1, false);
  }
  Tensor y;
  int opts = 3;
  if (lua_istable(L, 2) && luaL_len(L, 2) == 0) {
    opts = 2;  // gom.tensor_dataset(x, {classes = 3}): no targets
  } else if (!lua_isnoneornil(L, 2)) {
    y = tensor_arg(L, 2, true);
  }
  Schema schema;
  schema.integer("classes", "classes of an i64 target (default: its largest id + 1)").min(0);
  const Params p = validate("gom.tensor_dataset", schema, to_config(L, opts, "gom.tensor_dataset"));
  int64_t classes = 0;
  if (p.has("classes")) {
    classes = p.i("classes");
  } else if (y.defined() && y.dtype() == DType::I64 && y.numel() > 0) {
    const auto v = y.to_vector<int64_t>();
    classes = *std::max_element(v.begin(), v.end()) + 1;
  }
  auto ds = std::make_shared<TensorDataset>(x, y, classes, std::move(more));
  std::map<std::string, Value> values{{"examples", ds->size()},
                                      {"input_shape", shape_str(ds->input_shape())},
                                      {"classes", classes}};
  push_object(L, kDataset, LuaDataset{ds, "tensor", Params("gom.tensor_dataset", values)});
  return 1;
}

std::vector<int64_t> indices_arg(lua_State* L, int idx) {
  if (lua_istable(L, idx)) return check_shape(L, idx);
  return check_tensor(L, idx).to(DType::I64).to_vector<int64_t>();
}

// gom.subset(ds, indices): the examples at indices (0-based, a list or an i64 tensor), in order.
int l_subset(lua_State* L) {
  const LuaDataset& d = check_dataset(L, 1);
  auto ds = std::make_shared<SubsetDataset>(d.ds, indices_arg(L, 2));
  push_derived(L, d, ds, {{"subset.size", ds->size()}});
  return 1;
}

// gom.random_split(ds, sizes [, seed]) -> one dataset per size (fractions summing to 1, or counts
// summing to the size), disjoint and covering; seed defaults to the run's.
int l_random_split(lua_State* L) {
  const LuaDataset& d = check_dataset(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  std::vector<double> sizes;
  Value::List listed;
  for (lua_Integer i = 1; i <= luaL_len(L, 2); ++i) {
    lua_geti(L, 2, i);
    sizes.push_back(luaL_checknumber(L, -1));
    listed.emplace_back(sizes.back());
    lua_pop(L, 1);
  }
  const uint64_t seed = lua_isnoneornil(L, 3) ? context(L).seed : uint64_t(luaL_checkinteger(L, 3));
  const auto parts = random_split_indices(d.ds->size(), sizes, seed);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty())
      throw Error(
          fmt::format("gom.random_split: part {} of {} examples is empty", i + 1, d.ds->size()));
    push_derived(
        L, d, std::make_shared<SubsetDataset>(d.ds, parts[i]),
        {{"split.sizes", listed}, {"split.seed", int64_t(seed)}, {"split.part", int64_t(i + 1)}});
  }
  return int(parts.size());
}

// A Lua function of one example (input, target, seed) -> input[, target], kept in the registry.
class LuaExampleTransform {
 public:
  LuaExampleTransform(lua_State* L, int idx) : L_(L) {
    lua_pushvalue(L, idx);
    ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  ~LuaExampleTransform() { luaL_unref(L_, LUA_REGISTRYINDEX, ref_); }
  LuaExampleTransform(const LuaExampleTransform&) = delete;
  LuaExampleTransform& operator=(const LuaExampleTransform&) = delete;

  Batch operator()(Batch b, uint64_t seed) const {
    const int64_t n = b.input.shape()[0];
    std::vector<Tensor> xs, ys;
    for (int64_t i = 0; i < n; ++i) {
      const int top = lua_gettop(L_);
      lua_pushcfunction(L_, traceback);
      lua_rawgeti(L_, LUA_REGISTRYINDEX, ref_);
      push_tensor(L_, b.input.slice(0, i, i + 1).squeeze(0).contiguous());
      if (b.target.defined())
        push_tensor(L_, b.target.slice(0, i, i + 1).squeeze(0).contiguous());
      else
        lua_pushnil(L_);
      // Each example's own seed, below 2^53 so that it is exact as a Lua number too.
      lua_pushinteger(L_, lua_Integer(batch_seed(seed, 0, i) >> 11));
      if (lua_pcall(L_, 3, 2, top + 1) != LUA_OK) {
        std::string msg = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "(not a string)";
        lua_settop(L_, top);
        throw Error("dataset transform: " + msg);
      }
      auto* x = test_object<Tensor>(L_, -2, kTensor);
      if (!x) {
        const std::string got = luaL_typename(L_, -2);
        lua_settop(L_, top);
        throw Error(
            "dataset transform: the function must return the example's input tensor "
            "(and optionally its target), not a " +
            got);
      }
      xs.push_back(*x);
      if (auto* y = test_object<Tensor>(L_, -1, kTensor))
        ys.push_back(*y);
      else if (b.target.defined())
        ys.push_back(b.target.slice(0, i, i + 1).squeeze(0));
      lua_settop(L_, top);
    }
    b.input = stack(xs, 0);
    if (!ys.empty()) b.target = stack(ys, 0);
    return b;
  }

 private:
  lua_State* L_;
  int ref_ = LUA_NOREF;
};

// ds:transform(fn) or ds:transform({gom.augment.flip{}, ...}): a dataset whose examples pass
// through a Lua function (input, target, seed) -> input[, target], or the augmentations. The
// randomness comes from the loader's seed, epoch and batch.
int d_transform(lua_State* L) {
  const LuaDataset& d = check_dataset(L, 1);
  std::shared_ptr<Dataset> ds;
  std::string what;
  if (lua_isfunction(L, 2)) {
    auto fn = std::make_shared<LuaExampleTransform>(L, 2);
    ds = std::make_shared<TransformedDataset>(
        d.ds, [fn](Batch b, uint64_t seed) { return (*fn)(std::move(b), seed); }, "a Lua function",
        true);
    what = "lua function";
  } else {
    const Augmentations augs = check_augmentations(L, 2, "ds:transform");
    what = describe(augs);
    ds = std::make_shared<TransformedDataset>(
        d.ds,
        [augs](Batch b, uint64_t seed) {
          b.input = augment(augs, b.input, seed);
          return b;
        },
        what, false);
  }
  push_derived(L, d, ds, {{"transform", what}});
  return 1;
}

const CategoricalDataset& check_categorical(lua_State* L, const char* what) {
  const LuaDataset& d = check_dataset(L, 1);
  auto* c = dynamic_cast<const CategoricalDataset*>(&root_dataset(*d.ds));
  if (!c)
    throw Error(
        fmt::format("ds:{}: dataset '{}' has no category maps (the csv and ratings "
                    "datasets have)",
                    what, d.name));
  return *c;
}

// ds:classes() -> the columns with a category map; ds:classes(column) -> {raw0, raw1, ...} (Lua
// index i holds index i-1, as ds:vocab()).
int d_classes(lua_State* L) {
  const CategoricalDataset& c = check_categorical(L, "classes");
  const std::vector<std::string> names =
      lua_isnoneornil(L, 2) ? c.category_columns() : c.categories(luaL_checkstring(L, 2));
  lua_createtable(L, int(names.size()), 0);
  for (size_t i = 0; i < names.size(); ++i) {
    lua_pushlstring(L, names[i].data(), names[i].size());
    lua_seti(L, -2, lua_Integer(i + 1));
  }
  return 1;
}

// ds:class_index(column, raw) -> the index of a raw value (a string or a number); an unknown
// value is an error.
int d_class_index(lua_State* L) {
  const CategoricalDataset& c = check_categorical(L, "class_index");
  const std::string column = luaL_checkstring(L, 2);
  std::string raw;
  if (lua_isinteger(L, 3))
    raw = std::to_string(lua_tointeger(L, 3));
  else
    raw = luaL_checkstring(L, 3);
  const auto& names = c.categories(column);
  const auto it = std::find(names.begin(), names.end(), raw);
  if (it == names.end())
    throw Error(fmt::format("ds:class_index: '{}' is not a value of '{}' ({} values)", raw, column,
                            names.size()));
  lua_pushinteger(L, lua_Integer(it - names.begin()));
  return 1;
}

const luaL_Reg kMethods[] = {{"transform", safe<d_transform>},
                             {"classes", safe<d_classes>},
                             {"ids", safe<d_classes>},
                             {"class_index", safe<d_class_index>},
                             {nullptr, nullptr}};
const luaL_Reg kFunctions[] = {{"tensor_dataset", safe<l_tensor_dataset>},
                               {"subset", safe<l_subset>},
                               {"random_split", safe<l_random_split>},
                               {nullptr, nullptr}};

}  // namespace

void open_datasets(lua_State* L) {
  set_functions(L, kFunctions);
  add_methods(L, kDataset, kMethods);
}

}  // namespace gom::lua
