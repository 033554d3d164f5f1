-- Plateau detection and its diagnosis.
--   optlua scripts/plateau.lua [small]
-- 1. A tanh network started with weights 50x too large: most units sit on
--    their asymptotes, gradients vanish and the loss goes flat far above a
--    minimum. ol.plateau notices, and its diagnosis says why.
-- 2. The same network with a normal start, trained with a warm-up whose
--    value ol.schedule.reduce_on_plateau cuts when the loss stalls.
local ol = optlua or require("optlua")
local small = arg and arg[1] == "small"
local epochs = small and 40 or 200
local n = 256

ol.seed(4)
local teacher = ol.nn.mlp{sizes = {8, 16, 3}, activation = "tanh", dtype = "f64"}
local x = ol.randn(n, 8, "f64")
local y = teacher:forward(x)

local function student(scale)
  ol.seed(6)
  local net = ol.nn.mlp{sizes = {8, 32, 3}, activation = "tanh", dtype = "f64"}
  net:parameters()[1].tensor:mul_(scale)
  return net
end

-- 1. saturated start
local net = student(50)
local opt = ol.optim.sgd(net, {lr = 0.05, momentum = 0.9})
local p = ol.plateau{patience = 5, threshold = 1e-2, factor = 0.5}
local first
for epoch = 1, epochs do
  local loss = net:evaluate(x, y, "mse")
  opt:step()
  if p:update(loss, net, x) then
    first = first or p.diagnosis
    if p.reductions <= 3 then
      print(string.format("epoch %3d  loss %.4f  plateau: lr %.4g -> %.4g", epoch, loss, opt.lr,
                          p:reduce(opt.lr)))
    end
    opt.lr = p:reduce(opt.lr)
  end
end
print(string.format("%d plateaus in all; loss after %d epochs %.4f", p.reductions, epochs,
                    net:evaluate(x, y, "mse")))
if first then
  print(string.format("diagnosis: %.0f%% of the tanh outputs saturated (gain %.2f), gradient norm %.3g, "
                      .. "weight norm %.1f", 100 * first.saturated, first.gain, first.grad_norm, first.weight_norm))
  print("  " .. first.message)
end

-- 2. normal start, warm-up then constant, cut by reduce_on_plateau
local net2 = student(1)
local opt2 = ol.optim.sgd(net2, {lr = 0, momentum = 0.9})
local warm = epochs // 10
local r = ol.schedule.reduce_on_plateau{
  base = ol.schedule.sequence{{ol.schedule.warmup{steps = warm, to = 0.1}, warm}, {0.1}},
  factor = 0.5, patience = 5, threshold = 1e-2, min = 1e-3}
r:attach(opt2)
local loss2
for _ = 1, epochs do
  loss2 = net2:evaluate(x, y, "mse")
  opt2:step()
  r:update(loss2)
end
print(string.format("normal start: final loss %.4g (saturated start: %.4g), lr now %.4g after %d cuts",
                    loss2, net:evaluate(x, y, "mse"), opt2.lr, r.reductions))
return {diagnosis = first, loss_saturated = net:evaluate(x, y, "mse"), loss_normal = loss2}
