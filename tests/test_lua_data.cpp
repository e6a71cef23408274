// Data from Lua: gom.tensor_dataset, gom.subset, gom.random_split, ds:transform, gom.fit's
// batch_transform and callbacks that replace the batch (losses worked by hand), gom.augment and
// gom.tta, the csv dataset's procs (values by hand) and the category maps of csv and ratings.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "gom/gom.h"
#include "lua_script.h"
#include "temp_files.h"

using gom::lua::ScriptResult;
using gom_test::require_ok;
using gom_test::TempDir;

namespace {

ScriptResult run(const std::string& code) {
  return gom_test::run_lua(code, "@data.lua");
}

std::string error_of(const std::string& code) {
  return gom_test::lua_error_of(code, "@data.lua");
}

}  // namespace

TEST_CASE("lua: tensor_dataset, subset and random_split", "[lua_data]") {
  require_ok(run(R"(
    local ds = gom.tensor_dataset({{1, 10}, {2, 20}, {3, 30}, {4, 40}, {5, 50}}, {0, 1, 0, 1, 2})
    assert(#ds == 5 and ds:num_classes() == 3, tostring(ds))
    assert(ds:input_shape()[1] == 2)
    local x, y = ds:get({4, 1})
    assert(x:dtype() == "f32" and y:dtype() == "i64")
    assert(x[0][1]:item() == 50 and x[1][0]:item() == 2 and y[0]:item() == 2 and y[1]:item() == 1)
    -- from tensors; no targets; classes given
    local t = gom.tensor_dataset(gom.arange(6):reshape({3, 2}):float(), gom.tensor({0.5, 1, 2}))
    assert(t:num_classes() == 0 and #t == 3)
    assert(#gom.tensor_dataset({{1}, {2}}) == 2)
    assert(gom.tensor_dataset({{1}, {2}}, {0, 1}, {classes = 4}):num_classes() == 4)

    local sub = gom.subset(ds, {4, 0})
    assert(#sub == 2 and sub:num_classes() == 3)
    local _, sy = sub:get({0, 1})
    assert(sy[0]:item() == 2 and sy[1]:item() == 0)

    -- parts: disjoint, covering, seeded
    local ids = gom.tensor_dataset(gom.zeros({10, 1}), gom.arange(10))
    local function targets(d)
      local idx = {}
      for i = 0, #d - 1 do idx[#idx + 1] = i end
      local _, y = d:get(idx)
      return y:totable()
    end
    local a, b = gom.random_split(ids, {0.7, 0.3}, 5)
    assert(#a == 7 and #b == 3)
    local seen = {}
    for _, v in ipairs(targets(a)) do seen[v] = true end
    for _, v in ipairs(targets(b)) do assert(not seen[v]); seen[v] = true end
    for v = 0, 9 do assert(seen[v], "covers " .. v) end
    local a2 = gom.random_split(ids, {7, 3}, 5)
    assert(table.concat(targets(a2), ",") == table.concat(targets(a), ","))
    local a3 = gom.random_split(ids, {0.7, 0.3}, 6)
    assert(table.concat(targets(a3), ",") ~= table.concat(targets(a), ","))
    -- usable by gom.loader
    local n = 0
    for x, y in gom.loader(a, {batch_size = 4}):batches(1) do n = n + y:shape()[1] end
    assert(n == 7)
  )"));
  CHECK_THAT(error_of("gom.tensor_dataset({{1}, {2}}, {0, 1, 2})"),
             Catch::Contains("tensor_dataset: inputs [2, 1] and targets [3] differ in their "
                             "first dim"));
  CHECK_THAT(error_of("gom.subset(gom.tensor_dataset({{1}, {2}}), {2})"),
             Catch::Contains("subset: index 2 is outside the dataset's [0, 2)"));
}

TEST_CASE("lua: a dataset's transform is seeded by the loader's seed and epoch", "[lua_data]") {
  require_ok(run(R"(
    local ds = gom.tensor_dataset(gom.zeros({6, 1}), gom.arange(6))
    -- each example gets its own seed; the transform adds it (mod 1000) and doubles the target
    local tr = ds:transform(function(x, y, seed) return x + (seed % 1000), y * 2 end)
    local function epoch(seed, e)
      local out = {}
      for x, y in gom.loader(tr, {batch_size = 4, seed = seed}):batches(e) do
        for i, v in ipairs(x:reshape({-1}):totable()) do
          out[#out + 1] = v .. ":" .. y[i - 1]:item()
        end
      end
      return table.concat(out, " ")
    end
    assert(epoch(1, 1) == epoch(1, 1))
    assert(epoch(1, 1) ~= epoch(2, 1))
    assert(epoch(1, 1) ~= epoch(1, 2))
    local _, y = tr:get({5})
    assert(y[0]:item() == 10)
    assert(tostring(tr):find("transformed by a Lua function", 1, true))

    -- built-in augmentations, as a list
    local img = gom.tensor({{{{1, 2, 3}}}, {{{4, 5, 6}}}})  -- [2, 1, 1, 3]
    local flipped = gom.augment.flip{p = 1}(img)
    assert(table.concat(flipped:reshape({-1}):long():totable(), ",") == "3,2,1,6,5,4")
    local imgs = gom.tensor_dataset(img, {0, 1})
    local f = imgs:transform{gom.augment.flip{p = 1}, gom.augment.crop{padding = 0}}
    local x = f:get({1})
    assert(table.concat(x:reshape({-1}):long():totable(), ",") == "6,5,4")
    local r1 = gom.augment.apply({gom.augment.crop{padding = 1}}, img, 3)
    local r2 = gom.augment.apply({gom.augment.crop{padding = 1}}, img, 3)
    assert(gom.allclose(r1, r2))
  )"));
  CHECK_THAT(error_of("gom.augment.crop{pading = 1}"), Catch::Contains("pading"));
}

TEST_CASE("lua: batch_transform and callbacks that replace the batch change the loss",
          "[lua_data]") {
  // y = 2x with x = 1, 2 and targets 0: mse 10; inputs tripled: preds 6, 12, mse 90; targets
  // 1: (1 + 9) / 2 = 5; targets 1 and inputs tripled: (25 + 121) / 2 = 73. The optimizer's lr is 0: the model stays.
  require_ok(run(R"(
    local function fit(extra)
      local m = gom.layer("linear", {["in"] = 1, out = 1})
      for name, p in m:named_parameters() do p:fill_(name == "weight" and 2 or 0) end
      local ds = gom.tensor_dataset({{1}, {2}}, {{0}, {0}})
      local args = {model = m, train = ds, valid = ds, loss = "mse",
                    optimizer = gom.optimizer("sgd", {lr = 0}), batch_size = 2,
                    checkpoint = false}
      for k, v in pairs(extra) do args[k] = v end
      return gom.fit(args).metrics
    end
    local plain = fit{}
    assert(math.abs(plain.train_loss - 10) < 1e-5, plain.train_loss)
    local cb = fit{callbacks = {{before_batch = function(s) s.input = s.input * 3 end}}}
    assert(math.abs(cb.train_loss - 90) < 1e-4, cb.train_loss)
    assert(math.abs(cb.valid_loss - 90) < 1e-4, cb.valid_loss)
    local cb2 = fit{callbacks = {{before_batch = function(s)
      if s.training then s.target = s.target + 1 end end}}}
    assert(math.abs(cb2.train_loss - 5) < 1e-4 and math.abs(cb2.valid_loss - 10) < 1e-4)
    local phases = {}
    local bt = fit{batch_transform = function(x, y, phase, seed)
      phases[phase] = true
      assert(math.type(seed) == "integer")
      return x * 3, y + 1
    end}
    assert(math.abs(bt.train_loss - 73) < 1e-4 and math.abs(bt.valid_loss - 73) < 1e-4)
    assert(phases.train and phases.valid)
  )"));
}

TEST_CASE("lua: gom.tta lerps the augmented passes with the plain one", "[lua_data]") {
  // The model is the identity on [1, 1, 2] images; a flip gives (b, a): with beta 0.25,
  // 0.75 * (b, a) + 0.25 * (a, b).
  require_ok(run(R"(
    local ds = gom.tensor_dataset(gom.tensor({{{{1, 3}}}, {{{2, 6}}}}), {0, 1})
    local preds, y = gom.tta(gom.layer("flatten"), ds,
                             {augment = {gom.augment.flip{p = 1}}, n = 3, activation = "none"})
    local want = gom.tensor({{0.75 * 3 + 0.25 * 1, 0.75 * 1 + 0.25 * 3},
                             {0.75 * 6 + 0.25 * 2, 0.75 * 2 + 0.25 * 6}})
    assert(gom.allclose(preds, want), tostring(preds))
    assert(y[1]:item() == 1)
    -- softmax by default for a classification dataset: rows sum to 1
    local p = gom.tta(gom.layer("flatten"), ds, {augment = gom.augment.flip{p = 0.5}})
    assert(math.abs(p:sum(1)[0]:item() - 1) < 1e-5)
  )"));
}

TEST_CASE("csv procs: fill by mean or constant, log1p, columns left unscaled", "[lua_data]") {
  TempDir dir;
  const std::string path = dir.write("t.csv",
                                     "a,b,label\n"
                                     "0,1,x\n"
                                     "3,,y\n"
                                     ",3,x\n"
                                     "9,5,y\n");
  using gom::Config;
  auto column = [&](const Config& extra, int64_t col) {
    Config c{{"path", path}, {"target", "label"}, {"split", "all"}};
    for (const auto& [k, v] : extra) c[k] = v;
    auto ds = gom::create_dataset("csv", c);
    const auto x = ds->get_batch({0, 1, 2, 3}).input.to_vector<float>();
    return std::vector<float>{x[size_t(col)], x[size_t(2 + col)], x[size_t(4 + col)],
                              x[size_t(6 + col)]};
  };
  // a: mean fill 4, unscaled: 0 3 4 9. b: constant fill -1: 1 -1 3 5.
  CHECK(column({{"fill", "mean"}, {"standardize", false}}, 0) == std::vector<float>{0, 3, 4, 9});
  CHECK(column({{"fill", "constant"}, {"fill_value", -1.0}, {"unscaled", "b"}}, 1) ==
        std::vector<float>{1, -1, 3, 5});
  // a with log1p: ln 1, ln 4, median fill ln 4, ln 10; unscaled.
  const auto logged = column({{"log", "a"}, {"unscaled", "a"}}, 0);
  const std::vector<double> want{0, std::log(4.0), std::log(4.0), std::log(10.0)};
  for (size_t i = 0; i < 4; ++i) CHECK(logged[i] == Approx(want[i]).margin(1e-6));
  // b standardised with the median fill 3: 1 3 3 5, mean 3, std sqrt(2).
  const auto b = column({}, 1);
  const double s = std::sqrt(2.0) + 1e-7;
  CHECK(b[0] == Approx(-2 / s));
  CHECK(b[1] == Approx(0).margin(1e-7));
  CHECK(b[3] == Approx(2 / s));
  auto ds = gom::create_dataset("csv", {{"path", path}, {"target", "label"}, {"split", "all"},
                                         {"log", "a"}, {"fill", "mean"}});
  const Config info = ds->info();
  CHECK(info.at("fill").as_string() == "mean");
  CHECK(info.at("log").as_list().size() == 1);
  CHECK(info.at("fill.a").as_number() == Approx((std::log(1.0) + std::log(4.0) + std::log(10.0)) / 3));
  CHECK(gom_test::dataset_error("csv", {{"path", path}, {"target", "label"}, {"log", "c"}}) ==
        "dataset 'csv': log: 'c' is not a continuous column (continuous: a, b)");
}

TEST_CASE("lua: csv and ratings category maps round-trip raw ids", "[lua_data]") {
  TempDir dir;
  const std::string ratings = dir.write("r.csv",
                                        "user,item,rating\n"
                                        "u2,film,4\n"
                                        "u10,book,3\n"
                                        "u2,book,5\n");
  const std::string table = dir.write("c.csv",
                                      "color,w,label\n"
                                      "red,1,yes\n"
                                      "blue,2,no\n"
                                      ",3,yes\n");
  require_ok(run(fmt::format(R"(
    local r = gom.dataset("ratings", {{path = "{}", split = "all"}})
    local users = r:ids("user")
    assert(#users == 2 and users[1] == "u10" and users[2] == "u2", table.concat(users, ","))
    assert(r:class_index("item", "film") == 1)
    assert(table.concat(r:classes(), ",") == "user,item")
    -- every rating's indices map back to its raw ids
    local x = r:get({{0, 1, 2}})
    local items = r:classes("item")
    assert(users[x[0][0]:item() + 1] == "u2" and items[x[0][1]:item() + 1] == "film")
    assert(users[x[1][0]:item() + 1] == "u10")
    -- through a subset too
    local s = gom.subset(r, {{2}})
    assert(#s:ids("user") == 2)

    local c = gom.dataset("csv", {{path = "{}", target = "label", split = "all"}})
    assert(table.concat(c:classes(), ",") == "color,label")
    assert(table.concat(c:classes("color"), ",") == "#na#,blue,red")
    assert(table.concat(c:classes("label"), ",") == "no,yes")
    local cx, cy = c:get({{0, 2}})
    assert(c:classes("color")[cx[0][0]:item() + 1] == "red")
    assert(c:classes("color")[cx[1][0]:item() + 1] == "#na#")
    assert(c:class_index("label", "yes") == cy[0]:item())
  )",
                             ratings, table)));
  CHECK_THAT(error_of("gom.tensor_dataset({{1}}):classes()"),
             Catch::Contains("has no category maps (the csv and ratings datasets have)"));
}

TEST_CASE("lua: a tensor_dataset of several inputs trains a two-input Lua module", "[lua_data]") {
  require_ok(run(R"(
    gom.manual_seed(3)
    -- y = 2 a1 - a2 + 0.5 b1: a wide part over a [N, 2] and a deep part over b [N, 1]
    local a, b = gom.randn({256, 2}), gom.randn({256, 1})
    local y = a:select(1, 0):unsqueeze(1) * 2 - a:select(1, 1):unsqueeze(1) + b * 0.5
    local ds = gom.tensor_dataset({a, b}, y)
    assert(ds:size() == 256)
    local xs, ys = ds:get({5, 7})
    assert(#xs == 2 and xs[1]:shape()[2] == 2 and xs[2]:shape()[2] == 1 and ys:shape()[1] == 2)
    assert(gom.allclose(xs[2], b:index(gom.tensor({5, 7}, "i64"))), "rows 5 and 7")
    -- a subset keeps both inputs, in the subset's order
    local sub = gom.subset(ds, {7, 5})
    local sx = sub:get({0, 1})
    assert(gom.allclose(sx[1], xs[1]:flip({0})) and gom.allclose(sx[2], xs[2]:flip({0})))
    local Two = gom.module{
      name = "two_inputs",
      init = function(self)
        self.wide = gom.layer("linear", {["in"] = 2, out = 1, bias = false})
        self.deep = gom.layer("linear", {["in"] = 1, out = 1, bias = false})
      end,
      forward = function(self, a, b) return self.wide(a) + self.deep(b) end,
    }
    local model = Two{}
    local r = gom.fit{model = model, train = ds, loss = "mse", epochs = 60, batch_size = 32,
                      optimizer = gom.optimizer("adam", {lr = 5e-2})}
    assert(r.metrics.train_loss < 1e-4, "learnt: " .. r.metrics.train_loss)
    local w, d = model.wide.weight:totable()[1], model.deep.weight:totable()[1]
    assert(math.abs(w[1] - 2) < 0.01 and math.abs(w[2] + 1) < 0.01 and math.abs(d[1] - 0.5) < 0.01,
           "the generator's weights")
  )"));
  CHECK_THAT(error_of(R"(gom.tensor_dataset({gom.zeros({4, 2}), gom.zeros({3, 1})}))"),
             Catch::Contains("input 2 is [3, 1] but input 1 is [4, 2]"));
}
