// The Lua state of one run: the standard libraries, the `gom` module (global and require'able),
// scripts loaded in text mode only, and every error turned into "file.lua:LINE: message" plus a
// traceback.
#include <filesystem>
#include <vector>

#include "gom/distributed.h"
#include "gom_lua/runtime.h"
#include "lua_interrupt.h"
#include "lua_util.h"

namespace gom::lua {

int traceback(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

namespace {

int l_version(lua_State* L) {
  lua_pushstring(L, GOM_VERSION);
  return 1;
}

// gom.rank(), gom.world_size(): this process's place in a data-parallel job (mpirun -np N gom
// run): 0 and 1 outside one.
int l_rank(lua_State* L) {
  lua_pushinteger(L, world_rank());
  return 1;
}
int l_world_size(lua_State* L) {
  lua_pushinteger(L, world_size());
  return 1;
}

// gom.all_reduce_sum(x) → x summed over the ranks: a number, or a list of numbers (a new list).
// Every rank calls it at the same point of the script, with as many numbers.
int l_all_reduce_sum(lua_State* L) {
  if (lua_type(L, 1) == LUA_TNUMBER) {
    double v = lua_tonumber(L, 1);
    all_reduce_sum(std::span<double>(&v, 1));
    lua_pushnumber(L, v);
    return 1;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  std::vector<double> values(size_t(luaL_len(L, 1)));
  for (size_t i = 0; i < values.size(); ++i) {
    lua_geti(L, 1, lua_Integer(i + 1));
    if (!lua_isnumber(L, -1))
      return luaL_error(L, "gom.all_reduce_sum: element %d is a %s, not a number", int(i + 1),
                        luaL_typename(L, -1));
    values[i] = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  all_reduce_sum(values);
  lua_createtable(L, int(values.size()), 0);
  for (size_t i = 0; i < values.size(); ++i) {
    lua_pushnumber(L, values[i]);
    lua_seti(L, -2, lua_Integer(i + 1));
  }
  return 1;
}

// gom.run: what the host says about this run (id, seed, backend, device).
void push_run_info(lua_State* L, const RunContext& ctx) {
  lua_newtable(L);
  lua_pushinteger(L, ctx.run_id);
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, lua_Integer(ctx.seed));
  lua_setfield(L, -2, "seed");
  lua_pushstring(L, ctx.backend.c_str());
  lua_setfield(L, -2, "backend");
  lua_pushstring(L, ctx.device.str().c_str());
  lua_setfield(L, -2, "device");
  lua_pushboolean(L, ctx.recorder != nullptr);
  lua_setfield(L, -2, "recorded");
  lua_pushstring(L, ctx.run_dir.c_str());
  lua_setfield(L, -2, "dir");
}

int open_gom(lua_State* L) {
  lua_newtable(L);
  open_tensor(L);
  open_tensor_ops(L);
  open_tensor_math(L);
  open_tensor_shape(L);
  open_nn(L);
  open_optim(L);
  open_data(L);
  open_datasets(L);
  open_augment(L);
  open_callbacks(L);
  open_fit(L);
  open_params(L);
  open_sample(L);
  open_study(L);
  open_io(L);
  open_loop(L);
  open_schedule(L);
  open_hooks(L);
  open_module(L);  // last: see lua_util.h
  lua_pushcfunction(L, l_version);
  lua_setfield(L, -2, "version");
  const luaL_Reg job[] = {{"rank", safe<l_rank>},
                          {"world_size", safe<l_world_size>},
                          {"all_reduce_sum", safe<l_all_reduce_sum>},
                          {nullptr, nullptr}};
  set_functions(L, job);
  push_run_info(L, context(L));
  lua_setfield(L, -2, "run");
  return 1;
}

}  // namespace

Runtime::Runtime(RunContext& ctx) : L_(luaL_newstate()), ctx_(ctx) {
  if (!L_) throw Error("Lua: cannot create a state (out of memory)");
  luaL_openlibs(L_);
  interrupts_ = std::make_unique<Interrupts>(L_, ctx_);
  lua_pushlightuserdata(L_, &ctx_);
  lua_setfield(L_, LUA_REGISTRYINDEX, "gom.context");
  luaL_requiref(L_, "gom", open_gom, 1);
  lua_pop(L_, 1);
}

Runtime::~Runtime() {
  lua_close(L_);
}

void Runtime::request_interrupt() {
  interrupts_->request();
}

ScriptResult Runtime::finish(int status) {
  ScriptResult r;
  if (status == LUA_OK) {
    try {
      check_overrides(ctx_, "anywhere in the script");
      return r;
    } catch (const std::exception& e) {
      r.status = ScriptResult::Status::Failed;
      r.error = e.what();
      return r;
    }
  }
  const char* msg = lua_tostring(L_, -1);
  r.error = msg ? msg : "(error object is not a string)";
  lua_pop(L_, 1);
  if ((ctx_.interrupt && ctx_.interrupt->load()) || interrupts_->requested())
    r.status = ScriptResult::Status::Interrupted;
  else if (ctx_.diverged) r.status = ScriptResult::Status::Diverged;
  else r.status = ScriptResult::Status::Failed;
  return r;
}

ScriptResult Runtime::run_file(const std::string& path, const std::vector<std::string>& args,
                               const std::string& source) {
  // require() finds modules beside the script first.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  lua_getglobal(L_, "package");
  lua_getfield(L_, -1, "path");
  const std::string old_path = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "";
  lua_pop(L_, 1);
  const std::string prefix = dir.empty() ? "./?.lua" : dir + "/?.lua";
  lua_pushstring(L_, (prefix + ";" + old_path).c_str());
  lua_setfield(L_, -2, "path");
  lua_pop(L_, 1);

  lua_createtable(L_, int(args.size()), 1);
  lua_pushstring(L_, path.c_str());
  lua_seti(L_, -2, 0);
  for (size_t i = 0; i < args.size(); ++i) {
    lua_pushstring(L_, args[i].c_str());
    lua_seti(L_, -2, lua_Integer(i + 1));
  }
  lua_setglobal(L_, "arg");

  lua_pushcfunction(L_, traceback);
  // Text mode only: a precompiled chunk can crash the VM.
  const int loaded = source.empty()
                       ? luaL_loadfilex(L_, path.c_str(), "t")
                       : luaL_loadbufferx(L_, source.data(), source.size(), ("@" + path).c_str(), "t");
  if (loaded != LUA_OK) {
    ScriptResult r = finish(LUA_ERRSYNTAX);
    lua_pop(L_, 1);
    return r;
  }
  const int status = lua_pcall(L_, 0, 0, -2);
  ScriptResult r = finish(status);
  lua_pop(L_, 1);  // the message handler
  return r;
}

ScriptResult Runtime::run_string(const std::string& code, const std::string& name) {
  lua_pushcfunction(L_, traceback);
  if (luaL_loadbufferx(L_, code.data(), code.size(), name.c_str(), "t") != LUA_OK) {
    ScriptResult r = finish(LUA_ERRSYNTAX);
    lua_pop(L_, 1);
    return r;
  }
  const int status = lua_pcall(L_, 0, 0, -2);
  ScriptResult r = finish(status);
  lua_pop(L_, 1);
  return r;
}

}  // namespace gom::lua
