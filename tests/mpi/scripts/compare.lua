-- gom run compare.lua -- A.safetensors B.safetensors TOLERANCE: fails unless both files hold the
-- same tensors (names and shapes) within TOLERANCE (max abs difference); prints the largest.
local a, b, tol = gom.load(arg[1]), gom.load(arg[2]), tonumber(arg[3])
local worst, count = 0, 0
for name, t in pairs(a) do
  local u = b[name]
  assert(u, arg[2] .. " has no tensor " .. name)
  assert(#t:shape() == #u:shape(), name .. ": shapes differ")
  for i, n in ipairs(t:shape()) do assert(u:shape()[i] == n, name .. ": shapes differ") end
  worst = math.max(worst, (t - u):abs():max():item())
  count = count + 1
end
for name in pairs(b) do assert(a[name], arg[1] .. " has no tensor " .. name) end
print(string.format("%d tensors, max abs difference %.3g", count, worst))
if not (worst <= tol) then error(string.format("max abs difference %.3g > %g", worst, tol)) end
