// Datasets and loaders in Lua: gom.dataset(name, {params}) makes a registered dataset;
// gom.loader(dataset, {batch_size, shuffle, seed, drop_last}) batches it for a hand-written loop:
//   for x, y in loader:batches(epoch) do ... end
#include "gom_core/data_loader.h"
#include "lua_util.h"

namespace gom::lua {
namespace {

// A batch's input: the tensor, or a list {input, more_inputs...} when examples have several.
void push_inputs(lua_State* L, const Batch& b) {
  if (b.more_inputs.empty()) {
    push_tensor(L, b.input);
    return;
  }
  lua_createtable(L, int(b.more_inputs.size()) + 1, 0);
  push_tensor(L, b.input);
  lua_seti(L, -2, 1);
  for (size_t i = 0; i < b.more_inputs.size(); ++i) {
    push_tensor(L, b.more_inputs[i]);
    lua_seti(L, -2, lua_Integer(i + 2));
  }
}

using LoaderPtr = std::shared_ptr<DataLoader>;

LuaDataset& check_dataset(lua_State* L, int idx) {
  return check_object<LuaDataset>(L, idx, kDataset);
}

int l_dataset(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  const Config config = to_config(L, 2, "dataset '" + name + "'");
  Params params = validated(ComponentKind::Dataset, name, config);
  push_object(L, kDataset, LuaDataset{create_dataset(name, config), name, std::move(params)});
  return 1;
}

int d_size(lua_State* L) {
  lua_pushinteger(L, check_dataset(L, 1).ds->size());
  return 1;
}
int d_num_classes(lua_State* L) {
  lua_pushinteger(L, check_dataset(L, 1).ds->num_classes());
  return 1;
}
int d_input_shape(lua_State* L) {
  const Shape s = check_dataset(L, 1).ds->input_shape();
  lua_createtable(L, int(s.size()), 0);
  for (size_t i = 0; i < s.size(); ++i) {
    lua_pushinteger(L, s[i]);
    lua_seti(L, -2, lua_Integer(i + 1));
  }
  return 1;
}
// ds:get({0, 5, 7}) → input, target (indices count from 0, as in the tensors)
int d_get(lua_State* L) {
  const LuaDataset& d = check_dataset(L, 1);
  std::vector<int64_t> idx = check_shape(L, 2);
  for (int64_t i : idx)
    if (i < 0 || i >= d.ds->size())
      return luaL_error(L, "dataset '%s': index %d is outside [0, %d)", d.name.c_str(), int(i),
                        int(d.ds->size()));
  Batch b = d.ds->get_batch(idx);
  push_inputs(L, b);
  push_tensor(L, b.target);
  return 2;
}
// ds:info() → the facts the dataset derived from its data (vocab_size, cardinalities, ...)
int d_info(lua_State* L) {
  const Config info = check_dataset(L, 1).ds->info();
  lua_createtable(L, 0, int(info.size()));
  for (const auto& [k, v] : info) {
    push_value(L, v);
    lua_setfield(L, -2, k.c_str());
  }
  return 1;
}
const TextDataset& check_text(lua_State* L, const char* what) {
  const LuaDataset& d = check_dataset(L, 1);
  auto* t = dynamic_cast<const TextDataset*>(d.ds.get());
  if (!t)
    luaL_error(L, "%s: dataset '%s' has no vocabulary (a text dataset has)", what,
               d.name.c_str());
  return *t;
}
// ds:vocab() → {token0, token1, ...} (Lua index i holds id i-1)
int d_vocab(lua_State* L) {
  const auto& v = check_text(L, "vocab").vocabulary();
  lua_createtable(L, int(v.size()), 0);
  for (size_t i = 0; i < v.size(); ++i) {
    lua_pushlstring(L, v[i].data(), v[i].size());
    lua_seti(L, -2, lua_Integer(i + 1));
  }
  return 1;
}
// ds:encode("ROMEO:") → i64 tensor of ids
int d_encode(lua_State* L) {
  const std::vector<int64_t> ids = check_text(L, "encode").encode(luaL_checkstring(L, 2));
  push_tensor(L, tensor_i64(ids, {int64_t(ids.size())}));
  return 1;
}
// ds:decode(ids) → string; ids is a tensor (any shape, read in order) or a Lua list
int d_decode(lua_State* L) {
  const TextDataset& t = check_text(L, "decode");
  std::vector<int64_t> ids;
  if (lua_istable(L, 2)) {
    ids = check_shape(L, 2);
  } else {
    ids = check_tensor(L, 2).to(DType::I64).to_vector<int64_t>();
  }
  const std::string s = t.decode(ids);
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}
int d_tostring(lua_State* L) {
  const std::string s = check_dataset(L, 1).ds->describe();
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}
int d_len(lua_State* L) {
  return d_size(L);
}

int l_loader(lua_State* L) {
  const LuaDataset& d = check_dataset(L, 1);
  Schema schema;
  schema.integer("batch_size", "examples per batch").def(64).min(1);
  schema.boolean("shuffle", "a new seeded order each epoch").def(true);
  schema.boolean("drop_last", "drop a last, smaller batch").def(false);
  schema.integer("seed", "seed of the order (default: the run's seed)").min(0);
  schema.integer("prefetch", "batches prepared ahead on a thread").def(2).min(0);
  const Params p = validate("gom.loader", schema, to_config(L, 2, "gom.loader"));
  LoaderOptions o;
  o.batch_size = p.i("batch_size");
  o.shuffle = p.b("shuffle");
  o.drop_last = p.b("drop_last");
  o.seed = p.has("seed") ? uint64_t(p.i("seed")) : context(L).seed;
  o.prefetch = int(p.i("prefetch"));
  o.device = context(L).device;
  keep_streams(o, d.ds->info());
  push_object(L, kLoader, std::make_shared<DataLoader>(d.ds, o));
  return 1;
}

LoaderPtr& check_loader(lua_State* L, int idx) {
  return check_object<LoaderPtr>(L, idx, kLoader);
}

int batch_iter(lua_State* L) {
  LoaderPtr& dl = check_loader(L, lua_upvalueindex(1));
  Batch b;
  if (!dl->next(b)) return 0;
  push_inputs(L, b);
  push_tensor(L, b.target);
  return 2;
}
// loader:batches([epoch]): the batches of one epoch (epoch counts from 1, like gom.fit's; the
// order depends only on the seed and the epoch).
int ld_batches(lua_State* L) {
  LoaderPtr& dl = check_loader(L, 1);
  const lua_Integer epoch = luaL_optinteger(L, 2, 1);
  if (epoch < 1) return luaL_error(L, "loader:batches: epoch counts from 1, got %d", int(epoch));
  dl->begin_epoch(epoch - 1);
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, safe<batch_iter>, 1);
  return 1;
}
int ld_len(lua_State* L) {
  lua_pushinteger(L, check_loader(L, 1)->num_batches());
  return 1;
}
int ld_samples(lua_State* L) {
  lua_pushinteger(L, check_loader(L, 1)->num_samples());
  return 1;
}

const luaL_Reg kDatasetMethods[] = {{"size", safe<d_size>},
                                    {"num_classes", safe<d_num_classes>},
                                    {"input_shape", safe<d_input_shape>},
                                    {"get", safe<d_get>},
                                    {"describe", safe<d_tostring>},
                                    {"info", safe<d_info>},
                                    {"vocab", safe<d_vocab>},
                                    {"encode", safe<d_encode>},
                                    {"decode", safe<d_decode>},
                                    {nullptr, nullptr}};
const luaL_Reg kDatasetMeta[] = {
    {"__tostring", safe<d_tostring>}, {"__len", safe<d_len>}, {nullptr, nullptr}};
const luaL_Reg kLoaderMethods[] = {{"batches", safe<ld_batches>},
                                   {"num_batches", safe<ld_len>},
                                   {"num_samples", safe<ld_samples>},
                                   {nullptr, nullptr}};
const luaL_Reg kLoaderMeta[] = {{"__len", safe<ld_len>}, {nullptr, nullptr}};
const luaL_Reg kFunctions[] = {
    {"dataset", safe<l_dataset>}, {"loader", safe<l_loader>}, {nullptr, nullptr}};

}  // namespace

void keep_streams(LoaderOptions& o, const Config& info) {
  if (auto it = info.find("batch_size"); it != info.end() && info.count("bptt")) {
    o.batch_size = it->second.as_int();
    o.shuffle = o.drop_last = false;
  }
}

void open_data(lua_State* L) {
  define_class<LuaDataset>(L, kDataset, kDatasetMethods, kDatasetMeta);
  define_class<LoaderPtr>(L, kLoader, kLoaderMethods, kLoaderMeta);
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
