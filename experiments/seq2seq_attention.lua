-- An encoder-decoder with additive attention (Bahdanau, Cho & Bengio 2015) on a toy translation:
-- a string of `length` random digits to the same digits reversed. Written as Lua modules
-- (gom.module) and trained with gom.fit: a GRU encoder over the embedded source; a GRU decoder
-- that at each step scores every encoder state against its previous state,
-- score_s = v . tanh(W1 h_s + W2 d_{t-1}), softmaxes the scores over the source positions and
-- feeds the weighted sum of the encoder states (the context) in with the previous target token;
-- the next token is read from the decoder's output and the context. Training uses teacher
-- forcing (the dataset's input is the source followed by the shifted target); the held-out test
-- set is decoded greedily, each step fed the previous step's argmax, and scored as sequence
-- accuracy (every digit right) and token accuracy. With --set attention=false the decoder sees
-- instead the encoder's final state at every step (Cho et al. 2014): one fixed vector for the
-- whole source, which must then hold all `length` digits.
-- Expect (the defaults: 6 epochs of 8000 sequences of 12 digits, Adam with 1cycle to lr 1e-2,
-- about 45 s on one core; the no-attention model about 7 s):
--   gom run experiments/seq2seq_attention.lua --threads 1
--   -> greedy test accuracy: sequences 0.942, tokens 0.974 (teacher-forced valid tokens 0.986)
--   gom run experiments/seq2seq_attention.lua --threads 1 --set attention=false
--   -> sequences 0.536, tokens 0.862 (teacher-forced 0.951): the one vector falls short.
-- The attention weights of one test example are printed: near the anti-diagonal, output step t
-- (from 1) writing source digit length-t (from 0) and looking at position length-t+1, one to its
-- right, whose forward-GRU state has just read it; the first step, writing the last digit, looks
-- at the last position.
-- smoke: --set n=512 --set length=5 --set epochs=1 --set hidden=16
local P = gom.params{
  n = 10000,          -- sequences, split 80/10/10 into train, valid and test
  length = 12,        -- digits per sequence
  embedding = 16,
  hidden = 64,        -- GRU units of the encoder and the decoder
  attention_dim = 64, -- features of W1 h_s + W2 d
  attention = true,   -- false: the decoder sees the encoder's final state instead
  epochs = 6,
  batch_size = 64,
  lr = 1e-2,          -- the peak of the 1cycle schedule
  data_seed = 1,
}
local DIGITS, BOS = 10, 10  -- source and output vocabulary: 0-9; the decoder's inputs add BOS

-- The data: x = source .. (BOS, target[1..length-1]) (teacher forcing), y = target.
math.randomseed(P.data_seed)
local rows = {}
for i = 1, P.n do
  local r = {}
  for j = 1, P.length do r[j] = math.random(0, DIGITS - 1) end
  rows[i] = r
end
local src = gom.tensor(rows, "i64")          -- [N, length]
local target = src:flip(1)                    -- [N, length]: the digits reversed
local dec_in = gom.cat({gom.full({P.n, 1}, BOS, "i64"), target:slice(1, 0, P.length - 1)}, 1)
local data = gom.tensor_dataset(gom.cat({src, dec_in}, 1), target)
local train, valid, test = gom.random_split(data, {0.8, 0.1, 0.1}, P.data_seed)

-- Additive attention: query [B, H] (the decoder's state), enc [B, S, H], keys = W1 enc [B, S, A]
-- (the same for every step of a sequence, so computed once) -> context [B, H], weights [B, S].
local AdditiveAttention = gom.module{
  name = "additive_attention",
  init = function(self, o)
    self.w1 = gom.layer("linear", {["in"] = o.hidden, out = o.attention_dim, bias = false})
    self.w2 = gom.layer("linear", {["in"] = o.hidden, out = o.attention_dim})
    self.v = gom.layer("linear", {["in"] = o.attention_dim, out = 1, bias = false})
  end,
  forward = function(self, query, enc, keys)
    keys = keys or self.w1(enc)
    local scores = self.v((keys + self.w2(query):unsqueeze(1)):tanh())  -- [B, S, 1]
    local weights = scores:softmax(1)                                    -- over source positions
    return (weights * enc):sum(1), weights:squeeze(2)
  end,
}

local Seq2Seq = gom.module{
  name = "seq2seq",
  init = function(self, o)
    self.length, self.use_attention = o.length, o.attention
    self.src_embedding = gom.layer("embedding", {num_embeddings = DIGITS,
                                                 embedding_dim = o.embedding})
    self.encoder = gom.layer("gru", {input_size = o.embedding, hidden_size = o.hidden,
                                     batch_first = true})
    self.tgt_embedding = gom.layer("embedding", {num_embeddings = DIGITS + 1,
                                                 embedding_dim = o.embedding})
    self.decoder = gom.layer("gru", {input_size = o.embedding + o.hidden, hidden_size = o.hidden,
                                     batch_first = true})
    if o.attention then
      self.attention = AdditiveAttention{hidden = o.hidden, attention_dim = o.attention_dim}
    end
    self.head = gom.layer("linear", {["in"] = 2 * o.hidden, out = DIGITS})
  end,
  -- src [B, S] -> what every decoder step needs: the encoder's states, their keys, and the
  -- decoder's first state (the encoder's last).
  encode = function(self, src)
    local enc, state = self.encoder:forward_state(self.src_embedding(src))
    local keys = self.use_attention and self.attention.w1(enc) or nil
    return {enc = enc, keys = keys, last = state[1]:select(0, 0)}, state
  end,
  -- One decoder step: the previous tokens [B] -> logits [B, DIGITS], the new state, the weights.
  step = function(self, memory, prev, state)
    local context, weights = memory.last, nil
    if self.use_attention then
      context, weights = self.attention(state[1]:select(0, 0), memory.enc, memory.keys)
    end
    local input = gom.cat({self.tgt_embedding(prev), context}, 1):unsqueeze(1)  -- [B, 1, E + H]
    local out
    out, state = self.decoder:forward_state(input, state)
    return self.head(gom.cat({out:select(1, 0), context}, 1)), state, weights
  end,
  -- x [B, 2 * length]: the source, then the decoder's inputs (teacher forcing) -> [B, T, DIGITS]
  forward = function(self, x)
    local memory, state = self:encode(x:slice(1, 0, self.length))
    local logits = {}
    for t = 0, self.length - 1 do
      logits[t + 1], state = self:step(memory, x:select(1, self.length + t), state)
    end
    return gom.stack(logits, 1)
  end,
  -- Greedy decoding: src [B, S] -> tokens i64 [B, T], attention weights [B, T, S] (or nil).
  greedy = function(self, src)
    local memory, state = self:encode(src)
    local prev = gom.full({src:size(0)}, BOS, "i64"):to(src:device())
    local tokens, weights = {}, {}
    for t = 1, self.length do
      local logits, w
      logits, state, w = self:step(memory, prev, state)
      prev = logits:argmax(1)
      tokens[t], weights[t] = prev, w
    end
    return gom.stack(tokens, 1), self.use_attention and gom.stack(weights, 1) or nil
  end,
}

local model = Seq2Seq{length = P.length, embedding = P.embedding, hidden = P.hidden,
                      attention_dim = P.attention_dim, attention = P.attention}
print(model)
local result = gom.fit{
  model = model, train = train, valid = valid, loss = "cross_entropy",
  optimizer = gom.optimizer("adam", {lr = P.lr}),  -- Adam, 1cycle, gradients clipped at 1
  epochs = P.epochs, batch_size = P.batch_size,
  metrics = {"accuracy"},  -- per token, teacher-forced
  callbacks = {"progress", gom.callback("one_cycle", {max_lr = P.lr}),
               gom.callback("gradient_clipping", {max_norm = 1.0})},
}

-- Greedy decoding of the test set.
local all = {}
for i = 0, #test - 1 do all[#all + 1] = i end
local x, y = test:get(all)
local src_test = x:slice(1, 0, P.length):to(gom.run.device)  -- where gom.fit put the model
y = y:to(gom.run.device)
local tokens, weights
model:eval()
gom.no_grad(function() tokens, weights = model:greedy(src_test) end)
local right = tokens:eq(y):float()  -- [N, T]
local token_acc = right:mean():item()
local seq_acc = right:min(1):mean():item()
print(string.format("greedy test accuracy (%d sequences of %d digits, %s): sequences %.3f, " ..
                    "tokens %.3f; teacher-forced valid token accuracy %.3f", #test, P.length,
                    P.attention and "attention" or "no attention", seq_acc, token_acc,
                    result.metrics.accuracy))
local function digits(t) return table.concat(t, "") end
print("source " .. digits(src_test:select(0, 0):totable()) ..
      " -> " .. digits(tokens:select(0, 0):totable()))
if weights then
  print("its attention weights (row: output step, column: source position), x 10, rounded:")
  for _, row in ipairs(weights:select(0, 0):totable()) do
    local cells = {}
    for j, w in ipairs(row) do cells[j] = string.format("%2d", math.floor(w * 10 + 0.5)) end
    print("  " .. table.concat(cells, " "))
  end
end
gom.log("test_seq_accuracy", seq_acc, {direction = "max"})
gom.log("test_token_accuracy", token_acc, {direction = "max"})
