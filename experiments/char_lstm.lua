-- A character-level LSTM language model (Karpathy's char-rnn; fastai's book, chapter 12) on a
-- real text corpus, by default Tiny Shakespeare (1.1 MB, the char-rnn corpus; not part of this
-- repository: pass its path with --set corpus=PATH).
-- The corpus is cut into batch_size parallel streams read in windows of bptt characters, and
-- the LSTM is stateful: each batch starts from the previous batch's final state, with the graph
-- cut there (truncated backpropagation through time), so it learns from context longer than one
-- window. Reported per epoch: loss, perplexity and next-character accuracy on the held-out end
-- of the corpus. Then it writes a sample, one character at a time, from the trained model.
-- What it shows: embedding -> lstm -> linear, the text dataset, stateful recurrent layers,
-- gradient clipping and sampling from Lua. Expect a validation perplexity of about 5.3 after 2
-- epochs and text with Shakespeare's look (speaker names, line breaks, mostly real words).
--   gom run experiments/char_lstm.lua
--   gom run experiments/char_lstm.lua --set corpus=my.txt --set hidden=512 --set fit.epochs=5
-- smoke: --set fit.epochs=1 --set limit_tokens=40000 --set sample_length=50
-- The default corpus: ../shared/data/ beside the repository (this script is in experiments/).
local repo = (debug.getinfo(1, "S").source:match("^@(.*)/experiments/[^/]*$") or ".")
local P = gom.params{
  corpus = repo .. "/../shared/data/tinyshakespeare.txt",  -- a UTF-8 text file
  embedding = 64,     -- embedding size of a character
  hidden = 256,       -- LSTM units
  layers = 1,         -- stacked LSTM layers
  bptt = 64,          -- characters per window
  batch_size = 32,    -- parallel streams
  lr = 2e-3,
  clip = 1.0,         -- largest gradient norm
  limit_tokens = 0,   -- read only the first N characters (0: all; for smoke tests)
  prompt = "ROMEO:",  -- what the sample starts from
  sample_length = 400,
  temperature = 0.8,  -- below 1: safer, more repetitive text; above 1: wilder
}

local function corpus(split)
  return gom.dataset("text", {path = P.corpus, tokenizer = "char", split = split,
                              batch_size = P.batch_size, bptt = P.bptt, limit = P.limit_tokens})
end
local train, valid = corpus("train"), corpus("valid")
local vocab = train:info().vocab_size
print(train)
print(valid)

local emb = gom.layer("embedding", {num_embeddings = vocab, embedding_dim = P.embedding})
local lstm = gom.layer("lstm", {input_size = P.embedding, hidden_size = P.hidden,
                                num_layers = P.layers, batch_first = true, stateful = true})
local head = gom.layer("linear", {["in"] = P.hidden, out = vocab})
local model = gom.sequential{emb, lstm, head}
print(model)

local result = gom.fit{
  model = model,
  train = train,
  valid = valid,
  loss = "cross_entropy",  -- logits [B, T, vocab] against targets [B, T]
  optimizer = gom.optimizer("adam", {lr = P.lr}),
  epochs = 2,
  metrics = {"perplexity", "accuracy"},
  callbacks = {"progress", gom.callback("gradient_clipping", {max_norm = P.clip})},
}
print(string.format("validation perplexity %.3f, next-character accuracy %.4f after %d epochs",
                    result.metrics.perplexity, result.metrics.accuracy, result.epochs))

-- Sampling: feed the prompt, then one drawn character at a time, carrying the LSTM's state.
local last_step = gom.layer("select", {dim = 1, index = -1})
local function generate(prompt, length, temperature)
  model:eval()
  local out, state = {}, nil
  local x = train:encode(prompt):reshape({1, -1}):to(model:device())  -- where fit placed it
  gom.no_grad(function()
    for _ = 1, length do
      local h
      h, state = lstm:forward_state(emb(x), state)
      local logits = last_step(head(h))  -- [1, vocab]
      x = gom.multinomial((logits / temperature):softmax(-1))  -- [1, 1]
      out[#out + 1] = x:totable()[1][1]
    end
  end)
  return prompt .. train:decode(out)
end
local sample = generate(P.prompt, P.sample_length, P.temperature)
print("---- sample ----\n" .. sample .. "\n----------------")
gom.log("sample_chars", #sample)
