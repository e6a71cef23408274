// The Lua side of the model layers: containers given their children, recurrent state in and
// out, datasets' info and vocabularies, sampling — through gom::lua::Runtime as `gom run` uses it.
#include <catch2/catch.hpp>
#include <string>

#include "gom/gom.h"
#include "gom_lua/runtime.h"
#include "lua_script.h"
#include "temp_files.h"

using Catch::Contains;
using gom::lua::RunContext;
using gom::lua::Runtime;
using gom::lua::ScriptResult;
using gom_test::require_ok;

namespace {

ScriptResult run(const std::string& code) {
  return gom_test::run_lua(code, "@models.lua");
}

std::string error_of(const std::string& code) {
  return gom_test::lua_error_of(code, "@models.lua");
}

}  // namespace

TEST_CASE("lua: gom.multinomial draws in proportion to the weights, reproducibly", "[lua]") {
  require_ok(run(R"(
    gom.manual_seed(3)
    local draws = gom.multinomial(gom.tensor({1, 0, 3}), 4000)
    assert(draws:dtype() == "i64" and draws:shape()[1] == 4000)
    local counts = {0, 0, 0}
    for _, v in ipairs(draws:totable()) do counts[v + 1] = counts[v + 1] + 1 end
    assert(counts[2] == 0, "a zero weight is never drawn")
    assert(math.abs(counts[3] / 4000 - 0.75) < 0.03, "3:1 odds, got " .. counts[3] / 4000)
    -- rows of a batch draw separately; the same seed gives the same draws
    gom.manual_seed(5)
    local a = gom.multinomial(gom.tensor({{0, 1}, {1, 0}}), 3):totable()
    assert(a[1][1] == 1 and a[1][3] == 1 and a[2][2] == 0)
    gom.manual_seed(5)
    local b = gom.multinomial(gom.tensor({{0, 1}, {1, 0}}), 3):totable()
    assert(a[1][2] == b[1][2] and a[2][3] == b[2][3])
  )"));
  CHECK_THAT(error_of("gom.multinomial(gom.tensor({1, -1}))"),
             Contains("models.lua:1") && Contains("row 1 has the weight -1 at index 1") &&
                 Contains("non-negative"));
  CHECK_THAT(error_of("gom.multinomial(gom.zeros({2, 2, 2}))"),
             Contains("probs must be [C] or [B, C], got [2, 2, 2]"));
  CHECK_THAT(error_of("gom.multinomial(gom.zeros({3}))"), Contains("row 1 sums to 0"));
}

TEST_CASE("lua: the select layer takes a recurrent output's last step", "[lua]") {
  require_ok(run(R"(
    local x = gom.arange(24):reshape({2, 3, 4})  -- [B, T, H]
    local last = gom.layer("select", {dim = 1, index = -1})(x)
    local v = last:totable()
    assert(#last:shape() == 2 and last:shape()[2] == 4)
    assert(v[1][1] == 8 and v[2][4] == 23)
    local first = gom.layer("select", {dim = 1, index = 0})(x):totable()
    assert(first[2][1] == 12)
  )"));
  CHECK_THAT(error_of("gom.layer('select', {dim = 1, index = 3})(gom.zeros({2, 3, 4}))"),
             Contains("select: index 3 is out of range for dim 1 of size 3 (input [2, 3, 4])"));
}

TEST_CASE("lua: containers take their children from gom.layer's third argument", "[lua]") {
  require_ok(run(R"(
    local lin = gom.layer("linear", {["in"] = 2, out = 2})
    local seq = gom.layer("sequential", {}, {lin, gom.layer("relu")})
    assert(#seq == 2 and seq:children()[1]:type() == "linear")
    seq:add(gom.layer("relu"))
    assert(#seq == 3)
  )"));
  CHECK_THAT(error_of("gom.layer('relu', {}, {gom.layer('relu')})"),
             Contains("'relu' is not a container and takes no children"));
  CHECK_THAT(error_of("gom.layer('sequential', {}, {gom.layer('relu'), 5})"),
             Contains("gom.layer('sequential'): element 2 is a number, not a module"));
  CHECK_THAT(error_of("gom.layer('relu'):add(gom.layer('relu'))"),
             Contains("add: 'relu' is not a container"));
}

TEST_CASE("lua: sequence_task datasets hold what they promise", "[lua]") {
  require_ok(run(R"(
    local recall = gom.dataset("sequence_task", {task = "recall", n = 50, length = 30, symbols = 5})
    assert(#recall == 50 and recall:num_classes() == 5)
    local x, y = recall:get({0, 7, 49})
    assert(x:dtype() == "i64" and x:shape()[2] == 30)
    local xs, ys = x:totable(), y:totable()
    for i = 1, 3 do assert(ys[i] == xs[i][1], "the target is the first token") end
    local adding = gom.dataset("sequence_task", {task = "adding", n = 20, length = 10})
    local a, s = adding:get({3})
    local steps, marked, total = a:totable()[1], 0, 0
    for t = 1, 10 do
      if steps[t][2] == 1 then marked = marked + 1; total = total + steps[t][1] end
    end
    assert(marked == 2, "two marked steps")
    assert(math.abs(total - s:totable()[1][1]) < 1e-6, "the target is their sum")
  )"));
}

TEST_CASE("lua: forward_state carries an LSTM's state from one call to the next", "[lua]") {
  require_ok(run(R"(
    gom.manual_seed(1)
    local lstm = gom.layer("lstm", {input_size = 3, hidden_size = 4, num_layers = 2,
                                    batch_first = true})
    local x = gom.randn({2, 6, 3})
    local whole, state = lstm:forward_state(x)
    assert(#state == 2, "lstm state is {h, c}")
    local h = state[1]:shape()
    assert(h[1] == 2 and h[2] == 2 and h[3] == 4, "h is [layers, B, hidden]")
    assert(gom.allclose(whole, lstm(x)), "forward is forward_state from zeros")
    -- the first 4 steps, then the last 2 from their final state: the same as all 6 at once
    local first, mid = lstm:forward_state(x:slice(1, 0, 4))
    local rest, final = lstm:forward_state(x:slice(1, 4, 6), mid)
    assert(gom.allclose(rest, whole:slice(1, 4, 6), 1e-5, 1e-6), "continued output")
    assert(gom.allclose(final[2], state[2], 1e-5, 1e-6), "continued cell state")
    local gru = gom.layer("gru", {input_size = 3, hidden_size = 4})
    local _, s = gru:forward_state(gom.randn({5, 2, 3}))
    assert(#s == 1, "gru state is {h}")
    assert(lstm:reset_state() == lstm)
  )"));
  CHECK_THAT(error_of("gom.layer('linear', {['in'] = 2, out = 2}):forward_state(gom.zeros({1, 2}))"),
             Contains("forward_state: 'linear' is not a recurrent layer (rnn, lstm, gru are)"));
}

TEST_CASE("lua: a text dataset encodes, decodes and sets the loader's batching", "[lua]") {
  gom_test::TempDir dir;
  std::string corpus;
  for (int i = 0; i < 40; ++i) corpus += "to be or not to be\n";
  const std::string path = dir.write("corpus.txt", corpus);
  RunContext ctx;
  Runtime rt(ctx);
  const ScriptResult r = rt.run_string("local path = '" + path + "'\n" + R"(
    local ds = gom.dataset("text", {path = path, batch_size = 4, bptt = 8, split = "all"})
    local vocab = ds:vocab()
    assert(#vocab == 8 and ds:info().vocab_size == 8, "8 distinct characters")
    assert(vocab[1] == "\n" and vocab[2] == " ", "sorted: newline, space, letters")
    local ids = ds:encode("not to be")
    assert(ids:dtype() == "i64" and ids:numel() == 9)
    assert(ds:decode(ids) == "not to be" and ds:decode(ids:totable()) == "not to be")
    local ok, err = pcall(ds.encode, ds, "xyz")
    assert(not ok and err:find("'x'"), "an unknown character is named: " .. tostring(err))
    -- the loader takes the dataset's 4 streams in order: batch 2 continues batch 1's rows
    local loader = gom.loader(ds, {batch_size = 99, shuffle = true})
    local batches = {}
    for x, y in loader:batches(1) do batches[#batches + 1] = {x, y} end
    assert(batches[1][1]:shape()[1] == 4, "batch size from the dataset")
    local row1, row2 = batches[1][1]:totable()[2], batches[2][1]:totable()[2]
    local y1 = batches[1][2]:totable()[2]
    assert(y1[8] == row2[1], "stream 2 goes on in the next batch")
    assert(row1[2] == y1[1], "the target is the input shifted by one")
    gom.fit{model = gom.sequential{gom.layer("embedding", {num_embeddings = 8, embedding_dim = 4}),
                                   gom.layer("linear", {["in"] = 4, out = 8})},
            train = ds, loss = "cross_entropy", optimizer = "sgd", epochs = 1, batch_size = 7}
  )", "@text.lua");
  INFO(r.error);
  REQUIRE(r.status == ScriptResult::Status::Finished);
  CHECK(ctx.params.at("fit.batch_size") == "4");
  CHECK(ctx.params.at("fit.shuffle") == "false");
  CHECK(ctx.params.at("data.train.info.vocab_size") == "8");
  CHECK(ctx.params.at("data.train.type") == "text");
}
