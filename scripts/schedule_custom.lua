-- A custom learning-rate schedule written in Lua, composed with built-ins.
--   optlua scripts/schedule_custom.lua [small]
-- The "Noam" schedule of Vaswani et al. 2017 (warm-up, then 1/sqrt(t)) as a
-- plain function, then the same shape built from ol.schedule pieces, both
-- driving SGD on a least-squares problem through opt:schedule("lr", f).
local ol = optlua or require("optlua")
local small = arg and arg[1] == "small"
local steps = small and 60 or 600
local warm = small and 10 or 100

-- any function t -> value is a schedule (t = the step about to be taken, from 1)
local function noam(t) return 0.5 * math.min(t ^ -0.5, t * warm ^ -1.5) * math.sqrt(warm) end

-- the same idea from the library: linear warm-up, then a cosine to zero
local built = ol.schedule.sequence{
  {ol.schedule.warmup{steps = warm, to = 0.5}, warm},
  {ol.schedule.cosine{from = 0.5, to = 0, steps = steps - warm}},
}

ol.seed(1)
local n, d = 200, 10
local X = ol.randn(n, d, "f64")
local y = X:mv(ol.randn(d, "f64"))
local function loss_grad(w)        -- 0.5/n |Xw - y|^2 and its gradient
  local r = X:mv(w) - y
  return 0.5 * r:dot(r) / n, X:t():mv(r) / n
end

local result = {}
for name, f in pairs({noam = noam, warmup_cosine = built}) do
  local w = ol.zeros(d, "f64")
  local opt = ol.optim.sgd(w, {lr = 0, momentum = 0.9})
  opt:schedule("lr", f)
  local loss
  for _ = 1, steps do loss = opt:step(function() return loss_grad(w) end) end
  result[name] = loss
  print(string.format("%-14s lr(1) = %.4f  lr(%d) = %.4f  lr(%d) = %.5f  final loss %.3g",
                      name, f(1), warm, f(warm), steps, f(steps), loss))
end
return result
