-- The classic first autograd exercise: fit y = a x^2 + b x + c to noisy samples of a quadratic
-- with a hand-written SGD loop — forward, loss, backward, update under no_grad, zero the grads.
--   gom run experiments/quadratic.lua [--set lr=0.05] [--set steps=500]
-- smoke: --set steps=20
local P = gom.params{
  a = 3.0, b = -2.0, c = 0.5,  -- the true coefficients
  noise = 0.1,                 -- std of the noise on y
  n = 256,                     -- samples
  lr = 0.05,                   -- learning rate
  steps = 300,                 -- gradient steps
  log_every = 10,              -- record the loss every N steps
}

local x = gom.rand({P.n, 1}) * 4 - 2                   -- uniform on [-2, 2)
local y = x:pow(2) * P.a + x * P.b + P.c + gom.randn({P.n, 1}) * P.noise

-- The parameters: leaves that require grad.
local a = gom.zeros({1}):requires_grad_()
local b = gom.zeros({1}):requires_grad_()
local c = gom.zeros({1}):requires_grad_()

local loss
for step = 1, P.steps do
  local pred = x:pow(2) * a + x * b + c
  loss = gom.mse_loss(pred, y)
  loss:backward()
  gom.no_grad(function()
    for _, p in ipairs{a, b, c} do
      p:add_(p.grad, -P.lr)  -- p = p - lr * grad
      p.grad = nil           -- zero the grad for the next step
    end
  end)
  if step % P.log_every == 0 or step == P.steps then
    gom.log({loss = loss:item(), a = a:item(), b = b:item(), c = c:item()}, step)
  end
end

print(string.format("fitted y = %.3f x^2 + %.3f x + %.3f (true %.1f, %.1f, %.1f), mse %.4f",
                    a:item(), b:item(), c:item(), P.a, P.b, P.c, loss:item()))
