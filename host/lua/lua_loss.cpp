// A loss for gom.fit and model:evaluate: a loss module, a loss layer's name, or a Lua
// function(pred, target) returning a scalar tensor, whose ops autograd follows as any module's.
#include "lua_util.h"

namespace gom::lua {
namespace {

// A Lua function as a loss module (type "lua_function", recorded as loss.type).
class FunctionLoss : public Module {
 public:
  FunctionLoss(lua_State* L, int idx) : L_(L) {
    lua_pushvalue(L, idx);
    ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    set_identity("lua_function", {});
  }
  ~FunctionLoss() override { luaL_unref(L_, LUA_REGISTRYINDEX, ref_); }
  int arity() const override { return 2; }
  std::string repr() const override { return "lua_function"; }

  Tensor forward(const Tensor& pred, const Tensor& target) override {
    luaL_checkstack(L_, 8, "the loss function");
    const int top = lua_gettop(L_);
    lua_pushcfunction(L_, traceback);
    lua_rawgeti(L_, LUA_REGISTRYINDEX, ref_);
    push_tensor(L_, pred);
    push_tensor(L_, target);
    if (lua_pcall(L_, 2, 1, top + 1) != LUA_OK) {
      std::string msg =
          lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "(error object is not a string)";
      // The frames below gom.fit repeat in the script's own traceback: keep the loss's part.
      if (const auto cut = msg.find("\n\t[C]: in function 'gom."); cut != std::string::npos)
        msg.erase(cut);
      lua_settop(L_, top);
      throw Error("the loss function failed: " + msg);
    }
    auto* t = test_object<Tensor>(L_, -1, kTensor);
    if (!t) {
      const std::string got = luaL_typename(L_, -1);
      lua_settop(L_, top);
      throw Error(fmt::format(
          "the loss function must return a scalar tensor (e.g. gom.mse_loss(pred, target)), "
          "got a {}",
          got));
    }
    Tensor loss = *t;
    lua_settop(L_, top);
    if (loss.numel() != 1)
      throw Error(fmt::format("the loss function must return a scalar tensor, got shape {}",
                              shape_str(loss.shape())));
    return loss;
  }

 private:
  lua_State* L_;
  int ref_ = LUA_NOREF;
};

}  // namespace

std::shared_ptr<Module> to_loss(lua_State* L, int idx, const std::string& what) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TSTRING) return create_layer(lua_tostring(L, idx));
  if (lua_isfunction(L, idx)) return std::make_shared<FunctionLoss>(L, idx);
  if (auto* m = test_object<std::shared_ptr<Module>>(L, idx, kModule)) return *m;
  throw Error(fmt::format(
      "{}: 'loss' must be a loss module (gom.layer('cross_entropy')), a loss layer's name, or a "
      "function(pred, target) returning a scalar tensor; got a {}",
      what, luaL_typename(L, idx)));
}

}  // namespace gom::lua
