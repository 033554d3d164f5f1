-- β warm-up: start with little momentum, raise it towards 0.99, and keep
-- the effective step lr/(1-β) fixed while doing so.
--   optlua scripts/momentum_warmup.lua [small]
-- A small tanh network learns a teacher network's outputs (mse). Three
-- runs with the same effective step lr/(1-β) = 1:
--   fixed 0.99  β = 0.99 from the first step (lr 0.01)
--   fixed 0.5   β = 0.5 throughout (lr 0.5)
--   warm-up     β 0.5 -> 0.99 over `steps`, linear in log(1-β), lr following
--               (1-β)/(1-β0): 0.5 -> 0.01 (ol.schedule.momentum_warmup)
local ol = optlua or require("optlua")
local small = arg and arg[1] == "small"
local steps = small and 60 or 600
local n = small and 64 or 256

ol.seed(7)
local teacher = ol.nn.mlp{sizes = {8, 16, 4}, activation = "tanh", dtype = "f64"}
local x = ol.randn(n, 8, "f64")
local y = teacher:forward(x)

local function train(setup)
  ol.seed(11)
  local net = ol.nn.mlp{sizes = {8, 32, 4}, activation = "tanh", dtype = "f64"}
  local opt = setup(net)
  local losses = {}
  for t = 1, steps do
    losses[t] = net:evaluate(x, y, "mse")
    opt:step()
  end
  return losses, opt
end

local runs = {
  {"fixed 0.99", function(net) return ol.optim.sgd(net, {lr = 0.01, momentum = 0.99}) end},
  {"fixed 0.5", function(net) return ol.optim.sgd(net, {lr = 0.5, momentum = 0.5}) end},
  {"warm-up", function(net)
    local opt = ol.optim.sgd(net, {lr = 0.5, momentum = 0.5})
    ol.schedule.momentum_warmup{from = 0.5, to = 0.99, steps = steps // 3}:attach(opt)
    return opt
  end},
}
local result = {}
print(string.format("%-12s %10s %10s %10s   final momentum, lr", "run", "loss@1/10", "loss@1/2", "final"))
for _, r in ipairs(runs) do
  local losses, opt = train(r[2])
  result[r[1]] = losses[#losses]
  print(string.format("%-12s %10.3g %10.3g %10.3g   %.3f, %.4f", r[1], losses[steps // 10],
                      losses[steps // 2], losses[#losses], opt.momentum, opt.lr))
end
return result
