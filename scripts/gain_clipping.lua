-- Gain clipping, scripted live: adaptive_gains keeps a gain per weight
-- (+gain_up when successive gradients agree in sign, *gain_down when they
-- differ), clipped to [gain_min, gain_max]. The bounds are live option
-- fields, so a script can tighten or widen them while training; here also
-- the global gradient norm is clipped with ol.clip.grad_norm.
--   optlua scripts/gain_clipping.lua [small]
local ol = optlua or require("optlua")
local small = arg and arg[1] == "small"
local steps = small and 50 or 400
local n = small and 64 or 256

ol.seed(5)
local teacher = ol.nn.mlp{sizes = {6, 12, 3}, activation = "tanh", dtype = "f64"}
local x = ol.randn(n, 6, "f64")
local y = teacher:forward(x)

local function share_at(t, v)   -- share of entries equal to v (within rounding)
  local c, tt = 0, t:totable()
  for i = 1, #tt do if math.abs(tt[i] - v) < 1e-9 then c = c + 1 end end
  return c / #tt
end

local function train(name, setup)
  ol.seed(9)
  local net = ol.nn.mlp{sizes = {6, 24, 3}, activation = "tanh", dtype = "f64"}
  local opt = ol.optim.adaptive_gains(net, {lr = 0.02, gain_min = 0.1, gain_max = 10})
  setup(opt)
  local loss, clipped = nil, 0
  for _ = 1, steps do
    loss = net:evaluate(x, y, "mse")
    if ol.clip.grad_norm(net, 1.0) > 1.0 then clipped = clipped + 1 end
    opt:step()
  end
  local g = opt:state().gains
  print(string.format("%-22s loss %.3g  gain_max %5.1f  gains at max %3.0f%%  at min %3.0f%%  "
                      .. "steps with clipped gradient %d", name, loss, opt.gain_max,
                      100 * share_at(g, opt.gain_max), 100 * share_at(g, opt.gain_min), clipped))
  return loss
end

local result = {}
result.tight = train("tight [0.1, 2]", function(opt) opt.gain_max = 2 end)
result.wide = train("wide [0.1, 10]", function() end)
-- widen the ceiling as training settles: 2 -> 10 over the run
result.scheduled = train("scheduled 2 -> 10", function(opt)
  opt:schedule("gain_max", ol.schedule.linear{from = 2, to = 10, steps = steps})
end)
return result
