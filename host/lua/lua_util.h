// lua_util.h — what every part of the `gom` module shares: C++ exceptions turned into Lua errors
// at the script's line, userdata for SDK objects, and Lua tables as component configs.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <lua.hpp>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "gom/gom.h"
#include "gom_lua/runtime.h"

namespace gom {
struct LoaderOptions;  // gom_core/data_loader.h
class Augmentation;    // gom_core/augment.h
}

namespace gom::lua {

// Metatable names of the userdata types.
inline constexpr const char* kTensor = "gom.Tensor";
inline constexpr const char* kModule = "gom.Module";
inline constexpr const char* kOptimizer = "gom.Optimizer";
inline constexpr const char* kOptimizerSpec = "gom.OptimizerSpec";
inline constexpr const char* kDataset = "gom.Dataset";
inline constexpr const char* kLoader = "gom.Loader";
inline constexpr const char* kCallback = "gom.Callback";
inline constexpr const char* kLoopState = "gom.LoopState";

/// @brief Runs a C function, turning a C++ exception into a Lua error that carries the calling
/// script's "file.lua:LINE:". Lua's own errors (C++ exceptions of another type in Debian's C++
/// build of Lua) pass through untouched. The message is copied out of the handler first, so
/// lua_error never throws from inside a catch block.
template <lua_CFunction F>
int safe(lua_State* L) {
  std::string msg;
  try {
    return F(L);
  } catch (const std::exception& e) {
    msg = e.what();
  }
  return luaL_error(L, "%s", msg.c_str());
}

/// @brief The run this state belongs to (stored in the registry by the Runtime).
RunContext& context(lua_State* L);

// ------------------------------------------------------------------------------ userdata
/// @brief A new full userdata holding `value`, with metatable `mt` (its __gc destroys it) and
/// `user_values` Lua values attached.
template <class T>
T& push_object(lua_State* L, const char* mt, T value, int user_values = 1) {
  void* p = lua_newuserdatauv(L, sizeof(T), user_values);
  T* obj = new (p) T(std::move(value));
  luaL_setmetatable(L, mt);
  return *obj;
}
template <class T>
T& check_object(lua_State* L, int idx, const char* mt) {
  return *static_cast<T*>(luaL_checkudata(L, idx, mt));
}
template <class T>
T* test_object(lua_State* L, int idx, const char* mt) {
  return static_cast<T*>(luaL_testudata(L, idx, mt));
}
template <class T>
int destroy(lua_State* L) {
  static_cast<T*>(lua_touserdata(L, 1))->~T();
  return 0;
}

/// @brief Creates metatable `mt`: __index is a table of `methods` (unless `meta` gives its own
/// __index), plus the metamethods in `meta` and a __gc that destroys T. Leaves nothing on the
/// stack.
template <class T>
void define_class(lua_State* L, const char* mt, const luaL_Reg* methods, const luaL_Reg* meta) {
  luaL_newmetatable(L, mt);
  lua_pushcfunction(L, destroy<T>);
  lua_setfield(L, -2, "__gc");
  if (methods) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
  }
  if (meta) luaL_setfuncs(L, meta, 0);
  lua_pushstring(L, mt);
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
}

// SDK objects as Lua sees them. Components keep the validated parameters they were made with,
// so a fit can record them.
struct LuaOptimizer {
  std::shared_ptr<Optimizer> opt;
  Params params;
};
/// @brief gom.optimizer(name, {config}) without parameters: gom.fit makes it over the model's
/// parameters, after applying `--set optimizer.KEY=...` overrides.
struct OptimizerSpec {
  std::string name;
  Config config;
};
/// @brief A language-model dataset (info has batch_size and bptt) lays its examples out as
/// batch_size parallel streams: only unshuffled batches of that size continue each stream from
/// one batch to the next, so its loaders take that size and keep the order.
void keep_streams(LoaderOptions& o, const Config& info);

struct LuaDataset {
  std::shared_ptr<Dataset> ds;
  std::string name;
  Params params;
};
struct LuaCallback {
  std::shared_ptr<Callback> cb;
  Params params;
};

Tensor& check_tensor(lua_State* L, int idx);
void push_tensor(lua_State* L, Tensor t);
/// @brief A tensor argument, or a number made a 0-d f32 tensor.
Tensor to_tensor(lua_State* L, int idx);
std::shared_ptr<Module>& check_module(lua_State* L, int idx);
void push_module(lua_State* L, std::shared_ptr<Module> m);
/// @brief Parameters to optimize: a module's, or a list of tensors.
std::vector<Tensor> check_parameters(lua_State* L, int idx);

/// @brief A shape: a table of integers at idx, or the integer arguments from idx on.
Shape check_shape(lua_State* L, int idx);
/// @brief A dim argument (0-based, negative counts from the end, as in PyTorch).
int64_t check_dim(lua_State* L, int idx);

// ------------------------------------------------------------------------------ configs
/// @brief A Lua value as a config Value (boolean, integer, number, string, list of those);
/// throws gom::Error naming `what` for anything else.
Value to_value(lua_State* L, int idx, const std::string& what);
void push_value(lua_State* L, const Value& v);
/// @brief The string-keyed entries of the table at idx (absent or nil: empty). `owner` names
/// the component in messages ("layer 'linear'").
Config to_config(lua_State* L, int idx, const std::string& owner);
/// @brief An override's text as a value of `type`: "3" for an integer, "[0.9, 0.99]" for a list.
Value parse_override(const std::string& key, const std::string& text, ParamType type);
/// @brief The type a value declares ("lr = 1e-3" declares a number).
ParamType type_of(const Value& v);

/// @brief `config` checked against the schema of a registered component (as its factory will
/// check it), for recording what a component was made with.
Params validated(ComponentKind kind, const std::string& name, const Config& config);

/// @brief Throws for a `--set` key that no hyperparameter has taken so far; `when` says at what
/// point of the script ("before gom.fit").
void check_overrides(RunContext& ctx, const std::string& when);

/// @brief Commits the run's buffered metric rows; when the database refuses them (locked past
/// the busy timeout, full), warns once and keeps them for the next try (finish_run's last).
void flush_or_warn(RunContext& ctx);
/// @brief Warns (once per failing streak) that a write to the run database failed.
void warn_write_failed(RunContext& ctx, const std::string& what);
/// @brief Runs a write to the run database (a tag, an artifact) that must not end the training:
/// its failure is warned about and the fit goes on.
template <class F>
void write_or_warn(RunContext& ctx, F&& write) {
  try {
    write();
  } catch (const std::exception& e) {
    warn_write_failed(ctx, e.what());
  }
}

/// @brief A message handler for lua_pcall: the error message followed by a stack traceback.
int traceback(lua_State* L);

/// @brief A callback given to gom.fit: a gom.callback(...) object, a table of event functions
/// ({after_epoch = function(state) ... end, name = "...", order = 0}), or a function called as
/// fn(event, state) on every event. model_idx/opt_idx hold the fit's model and optimizer (what
/// state.model and state.optimizer give).
struct FitCallback {
  std::shared_ptr<Callback> cb;
  std::string name;  ///< the component name, or "lua:NAME"
  Params params;     ///< for the record (empty for Lua callbacks)
};
FitCallback to_callback(lua_State* L, int idx, int model_idx, int opt_idx);

/// @brief Adds the functions of `fns` to the table on the top of the stack.
void set_functions(lua_State* L, const luaL_Reg* fns);
/// @brief Adds `methods` to the methods of the objects of class `metatable` (its __index table):
/// how one part adds methods to a class another part defined (module:save, ds:transform).
void add_methods(lua_State* L, const char* metatable, const luaL_Reg* methods);

// Each part of the module adds its functions to the `gom` table on the top of the stack.
void open_tensor(lua_State* L);
void open_tensor_ops(lua_State* L);
void open_tensor_math(lua_State* L);  // lua_tensor_math.cpp
void open_tensor_shape(lua_State* L);
/// @brief t[i] (t at 1, i at 2): select(t, 0, i), 0-based, negative from the end.
int tensor_select_key(lua_State* L);
/// @brief t[i] = v (t at 1, i at 2, v at 3): copies v into select(t, 0, i); no graph.
int tensor_assign_key(lua_State* L);
void open_nn(lua_State* L);
void open_optim(lua_State* L);
void open_data(lua_State* L);
void open_callbacks(lua_State* L);
void open_fit(lua_State* L);
void open_params(lua_State* L);
void open_sample(lua_State* L);
void open_io(lua_State* L);  ///< after open_nn: adds methods to modules
void open_study(lua_State* L);
void open_datasets(lua_State* L);  ///< after open_data: adds methods to datasets
void open_augment(lua_State* L);

// Data from Lua, transforms and augmentation (lua_datasets.cpp, lua_augment.cpp).
inline constexpr const char* kAugmentation = "gom.Augmentation";
/// @brief An augmentation (gom.augment.flip{...}) or a list of them at idx; throws gom::Error
/// naming `what` otherwise.
std::vector<std::shared_ptr<const Augmentation>> check_augmentations(lua_State* L, int idx,
                                                                     const std::string& what);
/// @brief gom.fit's batch_transform (at idx): a Lua function (x, y, phase, seed) -> x[, y] run
/// before every batch, or augmentations applied to training batches, seeded by `seed`, the
/// epoch and the batch.
FitCallback batch_transform_callback(lua_State* L, int idx, uint64_t seed);
void open_hooks(lua_State* L);  ///< after open_nn and open_tensor: adds hook methods
/// @brief gom.module (lua_module.cpp). Last: it turns the modules' __index table, which the other
/// parts fill with methods, into a function that also finds a Lua module's fields.
void open_module(lua_State* L);
/// @brief m(...) / m:forward(...) of a Lua module (module at 1, the arguments after it): runs its
/// Lua forward and returns its results' count; -1 when the module is a built-in one.
int call_lua_module(lua_State* L);

// Helpers for hand-written loops (lua_loop.cpp, lua_schedule.cpp) and custom losses.
/// @brief A loss for gom.fit or model:evaluate: a loss module, a loss layer's name, or a Lua
/// function(pred, target) returning a scalar tensor (a module of type "lua_function").
/// gom::Error naming `what` for anything else.
std::shared_ptr<Module> to_loss(lua_State* L, int idx, const std::string& what);
void open_loop(lua_State* L);      ///< after open_nn: adds model:evaluate
void open_schedule(lua_State* L);

}  // namespace gom::lua
