// gom.fit{...}: the trainer from Lua. It resolves its arguments (applying `--set fit.KEY=...` and
// `--set optimizer.KEY=...`), records every hyperparameter of the run (the model's layers, the
// loss, the optimizer, the data, the callbacks), runs gom::fit with the run recorder as its
// metric sink, and returns the metrics of the epoch whose weights the model ends with (and of the
// test data, when given), and the history per epoch.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <utility>

#include "gom/checkpoint.h"
#include "gom/distributed.h"
#include "gom_core/data_loader.h"
#include "gom_core/data_parallel.h"
#include "gom_core/recorder.h"
#include "gom_core/trainer.h"
#include "lua_fit_resume.h"
#include "lua_util.h"

namespace gom::lua {
namespace {

const Schema& fit_schema() {
  static const Schema s = [] {
    Schema s;
    s.integer("epochs", "passes over the training data").def(1).min(1);
    s.integer("batch_size", "examples per training batch").def(64).min(1);
    s.integer("valid_batch_size", "examples per validation (and test) batch (default: batch_size)").min(1);
    s.integer("seed", "seed of the shuffling (default: the run's --seed)").min(0);
    s.boolean("shuffle", "a new seeded order of the training data each epoch").def(true);
    s.boolean("drop_last", "drop a last training batch smaller than batch_size").def(false);
    s.integer("prefetch", "batches prepared ahead on a background thread").def(2).min(0);
    s.string("backend", "backend to train on (default: the run's --backend)");
    s.integer("sync_every",
              "on a device that queues work (cuda), read the loss back (and check it is finite) "
              "every this many batches, not every batch; the CPU reads every batch")
        .def(50)
        .min(1);
    s.boolean("checkpoint",
              "keep the last checkpoint in the run's folder after every epoch, for gom run "
              "--resume (false: none; the callback \"checkpoint\" adds best-by-metric)")
        .def(true);
    return s;
  }();
  return s;
}
// Arguments of gom.fit that are objects rather than hyperparameters.
const std::vector<std::string> kObjectArgs = {"model", "loss", "optimizer", "train",   "valid",
                                              "test",  "data", "callbacks", "metrics",
                                              "batch_transform"};

// Logs into the run recorder with the epoch and step numbering continued across gom.fit calls,
// and keeps the history for gom.fit's result.
class FitSink : public MetricSink {
 public:
  explicit FitSink(RunContext& ctx) : ctx_(ctx) {}
  void log(const std::string& key, int64_t step, int64_t epoch, double value) override {
    const int64_t e = epoch + ctx_.epoch_offset;
    last_step = std::max(last_step, step);
    if (ctx_.recorder) ctx_.recorder->log(key, step + ctx_.step_offset, e, value);
    ctx_.final_metrics[key] = value;
    if (history.size() < size_t(epoch)) history.resize(size_t(epoch));
    history[size_t(epoch - 1)][key] = value;
  }
  void describe(const std::string& key, const MetricInfo& info) override {
    if (ctx_.recorder) ctx_.recorder->describe_metric(ctx_.run_id, key, info);
  }
  // A database that is locked or full does not end the training: its rows stay buffered and
  // are tried again at the next epoch and when the run finishes.
  void flush() override { flush_or_warn(ctx_); }
  void record(const std::string& key, const std::string& value) override {
    records[key] = value;  // also for gom.fit's result (lr_finder's suggestion)
    if (ctx_.recorder) write_or_warn(ctx_, [&] { ctx_.recorder->add_tag(ctx_.run_id, key, value); });
  }
  void artifact(const std::string& kind, const std::string& path) override {
    if (ctx_.recorder)
      write_or_warn(ctx_, [&] { ctx_.recorder->add_artifact(ctx_.run_id, kind, path); });
  }
  std::vector<std::map<std::string, double>> history;
  std::map<std::string, std::string> records;
  int64_t last_step = 0;

 private:
  RunContext& ctx_;
};

// A sweep's pruner, asked after each epoch but the last (after early stopping, before the
// progress line): a trial it prunes stops there, and its run ends as pruned.
class PruneCallback : public Callback {
 public:
  explicit PruneCallback(RunContext& ctx) : ctx_(ctx) {}
  int order() const override { return 500; }
  void on(Event e, LoopState& s) override {
    // After the last epoch there is nothing left to save: the trial finishes with its value.
    if (e != Event::AfterEpoch || ctx_.pruned || s.epoch + 1 >= s.epochs) return;
    const int64_t epoch = ctx_.epoch_offset + s.epoch + 1;
    if (!ctx_.should_prune(epoch, s.metrics)) return;
    ctx_.pruned = s.stop = true;
    fmt::print(stderr, "gom: the sweep's pruner stops this trial after epoch {}\n", epoch);
  }

 private:
  RunContext& ctx_;
};

// The run records this fit's callbacks made (lr_finder.suggested_lr, ...): a number where the
// whole text is one, else the text.
void push_records(lua_State* L, const std::map<std::string, std::string>& records) {
  lua_createtable(L, 0, int(records.size()));
  for (const auto& [k, v] : records) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (!v.empty() && end == v.c_str() + v.size()) lua_pushnumber(L, x);
    else lua_pushlstring(L, v.data(), v.size());
    lua_setfield(L, -2, k.c_str());
  }
}

// The field `key` of the table at 1 (nil when absent).
int field(lua_State* L, const char* key) {
  return lua_getfield(L, 1, key);
}

// Applies `--set PREFIX.key=value` overrides to `config`, typed by `schema`.
void apply_overrides(RunContext& ctx, const std::string& prefix, const Schema& schema,
                     Config& config, const std::string& owner) {
  for (const auto& [key, text] : ctx.overrides) {
    if (key.rfind(prefix + ".", 0) != 0) continue;
    const std::string name = key.substr(prefix.size() + 1);
    const ParamSpec* spec = schema.find(name);
    if (!spec) {
      std::vector<std::string> names;
      for (const auto& s : schema.specs()) names.push_back(s.name);
      const auto hint = closest(name, names);
      throw Error(fmt::format("--set {}={}: {} has no parameter '{}'{} (accepted: {})", key, text,
                              owner, name,
                              hint ? fmt::format(" (did you mean '{}.{}'?)", prefix, *hint) : "",
                              fmt::join(names, ", ")));
    }
    config[name] = parse_override(key, text, spec->type);
    ctx.used_overrides.insert(key);
  }
}

void record(RunContext& ctx, const std::vector<std::pair<std::string, std::string>>& kv) {
  for (const auto& [k, v] : kv) ctx.params[k] = v;
}

// model.0.type = linear, model.0.out = 256, ... for a module and its children.
void record_module(RunContext& ctx, const std::string& prefix, const Module& m) {
  ctx.params[prefix + ".type"] = m.type();
  record(ctx, m.params().flatten(prefix));
  for (const auto& [name, child] : m.children()) record_module(ctx, prefix + "." + name, *child);
}

// The loader of the data `what` ("train", "valid" or "test"); only training data is shuffled.
std::shared_ptr<DataLoader> make_loader(lua_State* L, int idx, const Params& fit,
                                        const std::string& what, RunContext& ctx,
                                        const std::string& prefix) {
  const bool training = what == "train";
  auto* dp = test_object<LuaDataset>(L, idx, kDataset);
  if (!dp)
    throw Error(fmt::format("gom.fit: '{}' must be a gom.dataset(...), not a {}", what,
                            luaL_typename(L, idx)));
  auto& d = *dp;
  LoaderOptions o;
  o.batch_size = training || !fit.has("valid_batch_size") ? fit.i("batch_size")
                                                           : fit.i("valid_batch_size");
  o.shuffle = training && fit.b("shuffle");
  o.drop_last = training && fit.b("drop_last");
  o.seed = fit.has("seed") ? uint64_t(fit.i("seed")) : ctx.seed;
  o.prefetch = int(fit.i("prefetch"));
  o.device = ctx.device;
  // In a data-parallel job (mpirun) each rank takes its share of every batch; each training
  // batch is a step on every rank.
  o.rank = world_rank();
  o.world = world_size();
  o.even_batches = training;
  const Config info = d.ds->info();
  keep_streams(o, info);
  ctx.params[prefix + ".type"] = d.name;
  record(ctx, d.params.flatten(prefix));
  for (const auto& [k, v] : info) ctx.params[prefix + ".info." + k] = v.str();
  return std::make_shared<DataLoader>(d.ds, o);
}

// Every fit keeps its last checkpoint unless told not to (`checkpoint = false`), so every run
// can be resumed: a "checkpoint" callback writing only "last", unless the script gave one. A
// second fit's go to fitN/ in the run's folder, so they never replace the first fit's.
void add_default_checkpoint(const RunContext& ctx, const Params& fit, int fit_index,
                            FitArgs& args) {
  if (!fit.b("checkpoint") || ctx.run_dir.empty()) return;
  for (const auto& cb : args.callbacks)
    if (cb->type() == "checkpoint") return;
  Config c{{"save_best", false}};
  if (fit_index > 1) c["dir"] = ctx.run_dir + "/fit" + std::to_string(fit_index);
  args.callbacks.push_back(create_callback("checkpoint", c));
}

int l_fit(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  RunContext& ctx = context(L);
  const int n = ++ctx.fits;
  const auto pre = [n](const std::string& base) {
    return n == 1 ? base : base + std::to_string(n);
  };

  // Hyperparameters: the table's scalar entries, then the overrides.
  Config config;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      throw Error("gom.fit: arguments are named (gom.fit{model = m, epochs = 10, ...})");
    const std::string key = lua_tostring(L, -1);
    if (std::find(kObjectArgs.begin(), kObjectArgs.end(), key) != kObjectArgs.end()) continue;
    if (!fit_schema().find(key)) {
      std::vector<std::string> all = kObjectArgs;
      for (const auto& s : fit_schema().specs()) all.push_back(s.name);
      const auto hint = closest(key, all);
      throw Error(fmt::format("gom.fit: unknown argument '{}'{} (accepted: {})", key,
                              hint ? fmt::format(" (did you mean '{}'?)", *hint) : "",
                              fmt::join(all, ", ")));
    }
    lua_pushvalue(L, -1);
    lua_gettable(L, 1);
    config[key] = to_value(L, -1, "gom.fit: argument '" + key + "'");
    lua_pop(L, 1);
  }
  apply_overrides(ctx, "fit", fit_schema(), config, "gom.fit");
  const Params fit = validate("gom.fit", fit_schema(), config);
  if (fit.has("backend") && fit.s("backend") != ctx.backend)
    throw Error(fmt::format("gom.fit: backend '{}' was asked for, but this run uses '{}' (choose "
                            "it with gom run --backend)",
                            fit.s("backend"), ctx.backend));

  // The objects, in stack slots: 2 model, 3 loss, 4 optimizer, then the data.
  FitArgs args;
  if (field(L, "model") == LUA_TNIL) throw Error("gom.fit: 'model' is required");
  if (!test_object<std::shared_ptr<Module>>(L, 2, kModule))
    throw Error(fmt::format("gom.fit: 'model' must be a module, not a {}", luaL_typename(L, 2)));
  args.model = check_module(L, 2);
  // The model trains on the run's device (gom run --backend); its parameters move in place, so
  // an optimizer made on them earlier still holds them.
  args.model->to(ctx.device);
  if (field(L, "loss") == LUA_TNIL)
    throw Error("gom.fit: 'loss' is required (a loss layer such as gom.layer('cross_entropy'), "
                "its name, or a function(pred, target))");
  args.loss = to_loss(L, 3, "gom.fit");  // a function: loss.type = "lua_function"
  args.loss->to(ctx.device);             // a loss may hold tensors (class weights)

  field(L, "optimizer");
  Params opt_params;
  if (lua_type(L, 4) == LUA_TSTRING) {
    push_object(L, kOptimizerSpec, OptimizerSpec{lua_tostring(L, 4), {}});
    lua_replace(L, 4);
  }
  if (auto* spec = test_object<OptimizerSpec>(L, 4, kOptimizerSpec)) {
    Config oc = spec->config;
    apply_overrides(ctx, "optimizer", find_component(ComponentKind::Optimizer, spec->name).schema,
                    oc, "optimizer '" + spec->name + "'");
    opt_params = validated(ComponentKind::Optimizer, spec->name, oc);
    push_object(L, kOptimizer,
                LuaOptimizer{create_optimizer(spec->name, args.model->parameters(), oc),
                             opt_params});
    lua_replace(L, 4);
  } else if (lua_isnil(L, 4)) {
    throw Error("gom.fit: 'optimizer' is required (gom.optimizer('adam', {lr = 1e-3}), or a name)");
  }
  auto& opt = check_object<LuaOptimizer>(L, 4, kOptimizer);
  args.optimizer = opt.opt;

  int data_idx = 1;
  if (field(L, "data") == LUA_TTABLE) data_idx = lua_gettop(L);
  lua_getfield(L, data_idx, "train");
  lua_getfield(L, data_idx, "valid");
  lua_getfield(L, data_idx, "test");
  const int train_idx = lua_gettop(L) - 2, valid_idx = lua_gettop(L) - 1, test_idx = lua_gettop(L);
  if (lua_isnil(L, train_idx)) throw Error("gom.fit: 'train' data is required (a gom.dataset)");

  // Every override must have found its hyperparameter by now, before the expensive part.
  check_overrides(ctx, "before gom.fit");

  auto train = make_loader(L, train_idx, fit, "train", ctx, pre("data") + ".train");
  std::shared_ptr<DataLoader> valid, test;
  if (!lua_isnil(L, valid_idx))
    valid = make_loader(L, valid_idx, fit, "valid", ctx, pre("data") + ".valid");
  if (!lua_isnil(L, test_idx))
    test = make_loader(L, test_idx, fit, "test", ctx, pre("data") + ".test");
  args.train = train.get();
  args.valid = valid.get();
  args.test = test.get();

  // Callbacks and metrics (metrics first, so early stopping sees this epoch's values).
  std::vector<FitCallback> cbs;
  for (const char* list : {"metrics", "callbacks"}) {
    const int t = lua_getfield(L, 1, list) == LUA_TNIL ? 0 : lua_gettop(L);
    if (t && !lua_istable(L, t)) throw Error(fmt::format("gom.fit: '{}' must be a list", list));
    const lua_Integer count = t ? luaL_len(L, t) : 0;
    for (lua_Integer i = 1; i <= count; ++i) {
      lua_geti(L, t, i);
      cbs.push_back(to_callback(L, -1, 2, 4));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  // A per-batch transform (lua_augment.cpp), recorded as callbacks.batch_transform.type.
  if (lua_getfield(L, 1, "batch_transform") != LUA_TNIL)
    cbs.push_back(batch_transform_callback(L, -1, train->options().seed));
  lua_pop(L, 1);
  for (const auto& c : cbs) {
    args.callbacks.push_back(c.cb);
    record(ctx, c.params.flatten(pre("callbacks") + "." + c.name));
  }

  // The record of what this fit is.
  record(ctx, fit.flatten(pre("fit")));
  // What "default" meant for this run, rather than null.
  ctx.params[pre("fit") + ".backend"] = ctx.backend;
  ctx.params[pre("fit") + ".seed"] = std::to_string(train->options().seed);
  ctx.params[pre("fit") + ".valid_batch_size"] =
      std::to_string(valid ? valid->options().batch_size : fit.i("batch_size"));
  // What the loaders do, where the data decided (a language model's streams).
  ctx.params[pre("fit") + ".batch_size"] = std::to_string(train->options().batch_size);
  ctx.params[pre("fit") + ".shuffle"] = train->options().shuffle ? "true" : "false";
  record_module(ctx, pre("model"), *args.model);
  record_module(ctx, pre("loss"), *args.loss);
  ctx.params[pre("optimizer") + ".type"] = opt.opt->type();
  record(ctx, opt.params.flatten(pre("optimizer")));
  if (world_size() > 1)  // what each rank sends per step, as a ring all-reduce would
    ctx.params[pre("dist") + ".grad_bytes_per_step"] = std::to_string(dp::ring_bytes_per_rank(
        dp::gradient_buffer_bytes(dp::optimizer_params(*opt.opt)), world_size()));
  if (ctx.recorder)
    ctx.recorder->log_params(ctx.run_id, {ctx.params.begin(), ctx.params.end()});

  args.epochs = fit.i("epochs");
  args.sync_every = fit.i("sync_every");
  add_default_checkpoint(ctx, fit, n, args);
  if (ctx.should_prune) {
    args.callbacks.push_back(std::make_shared<PruneCallback>(ctx));
    args.callbacks.back()->set_type("pruner");
  }
  if (ctx.recorder)
    args.checkpoint_metadata = {{"run.id", std::to_string(ctx.run_id)},
                                {"run.database", ctx.db_uid},
                                {"run.script_sha256", ctx.script_sha256},
                                {"run.fit", std::to_string(n)}};
  FitSink sink(ctx);
  std::optional<CheckpointInfo> resumed;
  if (!ctx.resume_checkpoint.empty()) {
    resumed = resume_fit(ctx, args, n);
    if (auto history = resumed_history(ctx, *resumed); !history.empty()) {
      sink.history = std::move(history);
      sink.last_step = resumed->step;
    }
  }

  args.sink = &sink;
  args.metric_info = ctx.metric_info;  // what gom.metric and gom.log declared
  args.interrupt = ctx.interrupt;
  args.run_dir = ctx.run_dir;
  FitResult r;
  struct InFit {  // see RunContext::in_fit
    std::atomic<int>& n;
    explicit InFit(std::atomic<int>& c) : n(c) { ++n; }
    ~InFit() { --n; }
  };
  try {
    InFit in_fit(ctx.in_fit);
    r = gom::fit(args);
  } catch (const DivergedError&) {
    ctx.diverged = true;
    throw;
  }
  if (resumed && r.epochs_done < resumed->epoch) {
    // The checkpoint held the whole fit: its result is the recorded one.
    r.epochs_done = resumed->epoch;
    if (!sink.history.empty()) r.final_metrics = sink.history.back();
    for (const auto& [k, v] : r.final_metrics) ctx.final_metrics[k] = v;
  }
  // The weights the model ends with: the run's result is read at that epoch (result_value).
  if (ctx.recorder && r.weights_epoch > 0)
    write_or_warn(ctx, [&] {
      ctx.recorder->add_tag(ctx.run_id, "weights_epoch",
                            std::to_string(ctx.epoch_offset + r.weights_epoch));
    });
  ctx.epoch_offset += r.epochs_done;
  ctx.step_offset += sink.last_step;
  // Also when the signal came after the loop's last look at the flag: the hook was not armed.
  if (r.interrupted || (ctx.interrupt && ctx.interrupt->load()))
    return luaL_error(L, "interrupted (Ctrl-C) during epoch %d; %d epoch(s) were recorded",
                      int(r.epochs_done + 1), int(r.epochs_done));

  // A pruned trial ends here, as Optuna's TrialPruned does: the rest of the script is not run.
  if (ctx.pruned)
    return luaL_error(L, "pruned by the sweep's pruner after epoch %d", int(ctx.epoch_offset));

  lua_newtable(L);
  lua_pushinteger(L, ctx.run_id);
  lua_setfield(L, -2, "run_id");
  lua_pushinteger(L, r.epochs_done);
  lua_setfield(L, -2, "epochs");
  lua_pushboolean(L, r.stopped_early);
  lua_setfield(L, -2, "stopped_early");
  lua_pushinteger(L, r.weights_epoch);
  lua_setfield(L, -2, "weights_epoch");
  lua_newtable(L);
  for (const auto& [k, v] : r.final_metrics) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k.c_str());
  }
  lua_setfield(L, -2, "metrics");
  lua_createtable(L, int(sink.history.size()), 0);
  for (size_t e = 0; e < sink.history.size(); ++e) {
    lua_newtable(L);
    for (const auto& [k, v] : sink.history[e]) {
      lua_pushnumber(L, v);
      lua_setfield(L, -2, k.c_str());
    }
    lua_seti(L, -2, lua_Integer(e + 1));
  }
  lua_setfield(L, -2, "history");
  push_records(L, sink.records);
  lua_setfield(L, -2, "records");
  return 1;
}

const luaL_Reg kFunctions[] = {{"fit", safe<l_fit>}, {nullptr, nullptr}};

}  // namespace

void open_fit(lua_State* L) {
  set_functions(L, kFunctions);
}

}  // namespace gom::lua
