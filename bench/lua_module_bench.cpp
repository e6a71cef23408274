// gom_lua_module_bench — what a forward written in Lua (gom.module) costs per call, against the
// same model of built-in layers, on a small MLP where the fixed cost per call shows:
//   builtin  gom.sequential{linear 64->128, relu, linear 128->128, relu, linear 128->10}
//   lua      a Lua module whose forward calls the same three linear layers and relu in Lua
//   wrapped  a Lua module whose forward calls the built-in sequential once (one Lua call)
// The three share their weights (the same layer objects) and are called from C++, as gom.fit and
// containers call a model. Each is timed on batch 32 (--batch) for
//   forward  inference: forward under NoGrad
//   step     a training step: forward, cross_entropy, backward, SGD step, zero_grad
// as the median of --rounds groups of --calls calls, after a warm-up group. Prints, per measure,
//   lua module forward: builtin X us, lua Y us (+D us), wrapped Z us (+E us)
//   lua module step: ...

#include <fmt/format.h>

#include <lua.hpp>

#include "bench_common.h"
#include "gom/autograd.h"
#include "gom_lua/runtime.h"

namespace {

constexpr const char* kUsage =
    "usage: gom_lua_module_bench [--threads N] [--batch N] [--calls N] [--rounds N]\n"
    "  --threads N   compute threads (default 1; 0: gom's default, the free cores)\n"
    "  --batch N     examples per call (default 32)\n"
    "  --calls N     calls per timed group (default 2000)\n"
    "  --rounds N    timed groups after one warm-up group, the median reported (default 7)\n";

constexpr const char* kModels = R"(
local lin1 = gom.layer("linear", {["in"] = 64, out = 128})
local lin2 = gom.layer("linear", {["in"] = 128, out = 128})
local lin3 = gom.layer("linear", {["in"] = 128, out = 10})
builtin = gom.sequential{lin1, gom.layer("relu"), lin2, gom.layer("relu"), lin3}
local MLP = gom.module{
  name = "mlp",
  init = function(self, o) self.l1, self.l2, self.l3 = o.l1, o.l2, o.l3 end,
  forward = function(self, x) return self.l3(self.l2(self.l1(x):relu()):relu()) end,
}
lua = MLP{l1 = lin1, l2 = lin2, l3 = lin3}
local Wrap = gom.module{
  name = "wrap",
  init = function(self, o) self.body = o.body end,
  forward = function(self, x) return self.body(x) end,
}
wrapped = Wrap{body = builtin}
)";

// The gom.Module userdata of global `name`: a std::shared_ptr<gom::Module> (lua_util.h's layout).
std::shared_ptr<gom::Module> global_module(lua_State* L, const char* name) {
  lua_getglobal(L, name);
  auto* m = static_cast<std::shared_ptr<gom::Module>*>(luaL_checkudata(L, -1, "gom.Module"));
  std::shared_ptr<gom::Module> out = *m;
  lua_pop(L, 1);
  return out;
}

// Median microseconds per call of `call` over `rounds` groups of `calls`, after a warm-up group.
template <class F>
double per_call_us(int calls, int rounds, F&& call) {
  std::vector<double> us;
  for (int r = 0; r <= rounds; ++r) {
    const auto t0 = bench::Clock::now();
    for (int i = 0; i < calls; ++i) call();
    if (r > 0) us.push_back(bench::since(t0) * 1e6 / calls);
  }
  return bench::median(us);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, batch = 32, calls = 2000, rounds = 7;
  bench::parse_flags(argc, argv, "gom_lua_module_bench", kUsage,
                     {{"--threads", &threads, 0},
                      {"--batch", &batch, 1},
                      {"--calls", &calls, 1},
                      {"--rounds", &rounds, 1}});
  return bench::guarded_main("gom_lua_module_bench", [&] {
    bench::start_gom(threads);
    fmt::print("gom_lua_module_bench: threads {}, batch {}, median of {} groups of {} calls\n",
               threads, batch, rounds, calls);
    fmt::print("backend: {}\n", bench::backend_line(gom::find_backend(gom::DeviceType::CPU)));
    bench::print_machine();
    gom::lua::RunContext ctx;
    gom::lua::Runtime rt(ctx);
    const auto r = rt.run_string(kModels, "=models");
    if (r.status != gom::lua::ScriptResult::Status::Finished) throw gom::Error(r.error);
    const std::vector<std::pair<const char*, std::shared_ptr<gom::Module>>> models = {
        {"builtin", global_module(rt.state(), "builtin")},
        {"lua", global_module(rt.state(), "lua")},
        {"wrapped", global_module(rt.state(), "wrapped")}};
    const gom::Tensor x = gom::randn({batch, 64});
    const gom::Tensor y = gom::randint(0, 10, {batch});
    auto loss = gom::create_layer("cross_entropy");
    auto opt = gom::create_optimizer("sgd", models[0].second->parameters(), {{"lr", 1e-3}});

    std::vector<double> fwd, step;
    for (const auto& [name, m] : models) {
      fwd.push_back(per_call_us(calls, rounds, [&] {
        gom::NoGrad ng;
        (void)m->forward(x);
      }));
      step.push_back(per_call_us(calls, rounds, [&] {
        loss->forward(m->forward(x), y).backward();
        opt->step();
        opt->zero_grad();
      }));
    }
    for (const auto& [what, v] : {std::pair{"forward", fwd}, std::pair{"step", step}})
      fmt::print(
          "lua module {}: builtin {:.1f} us, lua {:.1f} us (+{:.1f} us), wrapped {:.1f} us "
          "(+{:.1f} us)\n",
          what, v[0], v[1], v[1] - v[0], v[2], v[2] - v[0]);
    return 0;
  });
}
