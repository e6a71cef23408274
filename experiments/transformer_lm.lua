-- A small decoder-only transformer (GPT; Karpathy's nanoGPT in miniature) as a character-level
-- language model of Tiny Shakespeare (1.1 MB, the char-rnn corpus; not part of this repository:
-- pass its path with --set corpus=PATH), written as Lua modules (gom.module) and trained with
-- gom.fit: a token embedding plus a learned positional embedding (a parameter [context, d]),
-- `layers` pre-norm blocks (x + attention(layer_norm(x)), then x + mlp(layer_norm(x))), a final
-- layer norm and a linear head. The masked multi-head self-attention is written in Lua with ops
-- (one linear to q, k, v; heads by reshape and permute; q k^T / sqrt(d_head), the future masked
-- with masked_fill, softmax, the weighted sum of v, an output projection); --set
-- attention=builtin uses the multihead_attention layer (causal) in the same block instead.
-- Each window of `context` characters is one training example (the text dataset's windows, with
-- targets the next characters). Reported: validation loss, perplexity and next-character
-- accuracy; then a sample, one character at a time from the prompt, the context cut to the last
-- `context` characters.
-- Expect (the defaults: d_model 64, 2 layers, 4 heads, context 64, 113k parameters, 5 epochs
-- with AdamW and 1cycle, about 2 minutes on one core):
--   gom run experiments/transformer_lm.lua --threads 1
--   -> validation loss 1.695, perplexity 5.45, next-character accuracy 0.498, and a sample with
--      speaker names, verse lines and mostly real words ("JULIET: These royal more murderer
--      with do away,"). With --set layers=4 (3 minutes): perplexity 5.15, accuracy 0.513.
--      (char_lstm.lua's LSTM: perplexity about 5.3 in 2 epochs.) After 1 epoch
--      (--set fit.epochs=1), the Lua attention and --set attention=builtin reach the same
--      validation loss, 2.036 and 2.038.
-- smoke: --set fit.epochs=1 --set limit_tokens=30000 --set d_model=16 --set layers=1 --set sample_length=20
-- The default corpus: ../shared/data/ beside the repository (this script is in experiments/).
local repo = (debug.getinfo(1, "S").source:match("^@(.*)/experiments/[^/]*$") or ".")
local P = gom.params{
  corpus = repo .. "/../shared/data/tinyshakespeare.txt",  -- a UTF-8 text file
  d_model = 64,         -- features per position
  heads = 4,            -- attention heads (d_model / heads features each)
  layers = 2,           -- transformer blocks
  mlp_ratio = 4,        -- hidden features of each block's MLP, per d_model
  context = 64,         -- characters per window, the longest context
  batch_size = 32,
  lr = 3e-3,
  weight_decay = 0.01,
  attention = "lua",    -- lua: written below with ops; builtin: the multihead_attention layer
  limit_tokens = 0,     -- read only the first N characters (0: all; for smoke tests)
  prompt = "ROMEO:",    -- what the sample starts from
  sample_length = 400,
  temperature = 0.8,
}

local function corpus(split)
  return gom.dataset("text", {path = P.corpus, tokenizer = "char", split = split,
                              batch_size = P.batch_size, bptt = P.context, limit = P.limit_tokens})
end
local train, valid = corpus("train"), corpus("valid")
local vocab = train:info().vocab_size
print(train)
print(valid)

-- Masked multi-head self-attention: x [B, T, d] -> [B, T, d]; position t sees positions <= t.
local CausalSelfAttention = gom.module{
  name = "causal_self_attention",
  init = function(self, o)
    self.heads, self.d_head = o.heads, o.d_model // o.heads
    self.qkv = gom.layer("linear", {["in"] = o.d_model, out = 3 * o.d_model})
    self.proj = gom.layer("linear", {["in"] = o.d_model, out = o.d_model})
  end,
  forward = function(self, x)
    local B, T, d = x:size(0), x:size(1), x:size(2)
    -- [B, T, 3d] -> [3, B, heads, T, d_head]
    local qkv = self.qkv(x):reshape({B, T, 3, self.heads, self.d_head}):permute({2, 0, 3, 1, 4})
    local q, k, v = qkv:select(0, 0), qkv:select(0, 1), qkv:select(0, 2)
    local scores = q:matmul(k:transpose(-2, -1)) / math.sqrt(self.d_head)  -- [B, heads, T, T]
    local future = gom.ones({T, T}):to(x:device()):triu(1)                  -- 1 above the diagonal
    local weights = scores:masked_fill(future, -math.huge):softmax(-1)
    local out = weights:matmul(v):permute({0, 2, 1, 3}):reshape({B, T, d})  -- heads side by side
    return self.proj(out)
  end,
}

-- A pre-norm block: x + attention(ln1(x)), then x + mlp(ln2(x)).
local Block = gom.module{
  name = "block",
  init = function(self, o)
    self.ln1 = gom.layer("layernorm", {normalized_shape = o.d_model})
    if o.attention == "builtin" then
      self.attn = gom.layer("multihead_attention", {embed_dim = o.d_model, num_heads = o.heads,
                                                    causal = true})
    else
      self.attn = CausalSelfAttention{d_model = o.d_model, heads = o.heads}
    end
    self.ln2 = gom.layer("layernorm", {normalized_shape = o.d_model})
    self.mlp = gom.sequential{
      gom.layer("linear", {["in"] = o.d_model, out = o.mlp_ratio * o.d_model}),
      gom.layer("gelu"),
      gom.layer("linear", {["in"] = o.mlp_ratio * o.d_model, out = o.d_model}),
    }
  end,
  forward = function(self, x)
    x = x + self.attn(self.ln1(x))
    return x + self.mlp(self.ln2(x))
  end,
}

local GPT = gom.module{
  name = "gpt",
  init = function(self, o)
    self.context = o.context
    self.tok_embedding = gom.layer("embedding", {num_embeddings = o.vocab,
                                                 embedding_dim = o.d_model})
    self.tok_embedding.weight:normal_(0, 0.02)
    self:parameter("pos_embedding", gom.randn({o.context, o.d_model}) * 0.02)
    local blocks = {}
    for i = 1, o.layers do
      blocks[i] = Block{d_model = o.d_model, heads = o.heads, mlp_ratio = o.mlp_ratio,
                        attention = o.attention}
    end
    self.blocks = blocks  -- blocks.0, blocks.1, ... (a ModuleList)
    self.ln_f = gom.layer("layernorm", {normalized_shape = o.d_model})
    self.head = gom.layer("linear", {["in"] = o.d_model, out = o.vocab})
  end,
  -- tokens i64 [B, T], T <= context -> logits [B, T, vocab]
  forward = function(self, tokens)
    local T = tokens:size(1)
    local x = self.tok_embedding(tokens) + self.pos_embedding:slice(0, 0, T)
    for _, block in ipairs(self.blocks) do x = block(x) end
    return self.head(self.ln_f(x))
  end,
}

local model = GPT{vocab = vocab, d_model = P.d_model, heads = P.heads, layers = P.layers,
                  mlp_ratio = P.mlp_ratio, context = P.context, attention = P.attention}
print(model)
print(string.format("%d parameters", model:num_parameters()))

local result = gom.fit{
  model = model, train = train, valid = valid,
  loss = "cross_entropy",  -- logits [B, T, vocab] against targets [B, T]
  optimizer = gom.optimizer("adamw", {lr = P.lr, weight_decay = P.weight_decay}),
  epochs = 5, batch_size = P.batch_size,
  metrics = {"perplexity", "accuracy"},
  callbacks = {"progress", gom.callback("one_cycle", {max_lr = P.lr}),
               gom.callback("gradient_clipping", {max_norm = 1.0})},
}
local valid_loss = math.log(result.metrics.perplexity)
print(string.format("validation loss %.3f, perplexity %.3f, next-character accuracy %.4f " ..
                    "after %d epochs", valid_loss, result.metrics.perplexity,
                    result.metrics.accuracy, result.epochs))

-- Sampling: the last `context` characters in, the last position's distribution drawn from.
local function generate(prompt, length, temperature)
  model:eval()
  local ids = train:encode(prompt):reshape({-1}):totable()
  local out = {}
  gom.no_grad(function()
    for _ = 1, length do
      local from = math.max(1, #ids - P.context + 1)
      local x = gom.tensor({table.move(ids, from, #ids, 1, {})}, "i64"):to(gom.run.device)
      local logits = model(x):select(1, -1)                            -- [1, vocab]
      local next_id = gom.multinomial((logits / temperature):softmax(-1)):item()
      ids[#ids + 1], out[#out + 1] = next_id, next_id
    end
  end)
  return prompt .. train:decode(out)
end
local sample = generate(P.prompt, P.sample_length, P.temperature)
print("---- sample ----\n" .. sample .. "\n----------------")
gom.log("valid_loss", valid_loss, {direction = "min"})
gom.log("sample_chars", #sample)
