-- The first-order optimizers on Rosenbrock's valley, one short run per
-- family, showing their options, the three step forms and live fields;
-- then Muon against AdamW on a small MLP (Muon works on weight matrices).
--   optlua scripts/optim_first_order.lua
local ol = require "optlua"

-- Rosenbrock: minimum 0 at (1, 1). A closure returns loss, grad at w.
local function rosenbrock(w)
  return function()
    local x, y = w[1], w[2]
    local a, b = 1 - x, y - x * x
    return a * a + 100 * b * b, ol.tensor({-2 * a - 400 * x * b, 200 * b}, "f64")
  end
end

local function run(label, name, options, steps, setup)
  local w = ol.tensor({-1.5, 2}, "f64")
  local opt = ol.optim[name](w, options)
  if setup then setup(opt) end
  local f = rosenbrock(w)
  local loss
  for _ = 1, steps do loss = opt:step(f) end
  print(string.format("%-34s %6d steps  loss %-10.3g  w = (%.4f, %.4f)", label, steps, loss, w[1], w[2]))
end

print("Rosenbrock from (-1.5, 2):")
-- SGD family: momentum, dampening, nesterov, weight_decay, maximize
run("sgd lr=1e-3", "sgd", {lr = 1e-3}, 3000)
run("sgd momentum=0.9", "sgd", {lr = 1e-3, momentum = 0.9}, 3000)
run("sgd momentum=0.9 nesterov", "sgd", {lr = 1e-3, momentum = 0.9, nesterov = true}, 3000)
run("sgd momentum=0.9 dampening=0.5", "sgd", {lr = 1e-3, momentum = 0.9, dampening = 0.5}, 3000)
-- true Nesterov lookahead: the closure is evaluated at w - momentum*p
run("nag momentum=0.9", "nag", {lr = 1e-3, momentum = 0.9}, 3000)
-- momentum rising over the run, as a live field with a schedule
run("nag momentum 0.5 -> 0.99", "nag", {lr = 5e-4}, 3000, function(opt)
  opt:schedule("momentum", function(t) return math.min(0.99, 0.5 + t / 2000) end)
end)
-- per-weight gains (Jacobs 1988 / Hinton lecture 6)
run("adaptive_gains +0.05/x0.95", "adaptive_gains", {lr = 1e-3, momentum = 0.9}, 3000)
run("adaptive_gains gains in [0.5, 3]", "adaptive_gains",
    {lr = 1e-3, momentum = 0.9, gain_min = 0.5, gain_max = 3}, 3000)
-- Rprop: four variants, etas and step size bounds
for _, v in ipairs{"irprop-", "rprop-", "rprop+", "irprop+"} do
  run("rprop " .. v, "rprop", {variant = v, etas = {0.5, 1.2}, step_sizes = {1e-6, 1}}, 2000)
end
-- RMS-normalised steps
run("rmsprop lr=1e-3", "rmsprop", {lr = 1e-3}, 3000)
run("rmsprop centered momentum=0.9", "rmsprop", {lr = 1e-3, centered = true, momentum = 0.9}, 3000)
run("rmsprop momentum=0.9 nesterov", "rmsprop", {lr = 1e-3, momentum = 0.9, nesterov = true}, 3000)
-- lr decaying by a cosine schedule (any function of t)
run("rmsprop lr cosine 1e-2 -> 0", "rmsprop", {}, 3000, function(opt)
  opt:schedule("lr", function(t) return 0.5e-2 * (1 + math.cos(math.pi * t / 3000)) end)
end)
run("adagrad lr=0.5", "adagrad", {lr = 0.5}, 3000)
run("adagrad lr=0.5 lr_decay=1e-3", "adagrad", {lr = 0.5, lr_decay = 1e-3}, 3000)
run("adadelta lr=1", "adadelta", {lr = 1}, 3000)
-- The Adam family: bias-corrected moments; L2 (adam) or decoupled (adamw) decay
run("adam lr=0.02", "adam", {lr = 0.02}, 3000)
run("adam lr=0.02 amsgrad", "adam", {lr = 0.02, amsgrad = true}, 3000)
run("adam betas={0.95, 0.9999} eps=1e-6", "adam", {lr = 0.02, betas = {0.95, 0.9999}, eps = 1e-6}, 3000)
run("adamw lr=0.02 weight_decay=1e-3", "adamw", {lr = 0.02, weight_decay = 1e-3}, 3000)
run("nadam lr=0.02", "nadam", {lr = 0.02}, 3000)
-- RAdam's first steps (rho_t <= 5) are plain momentum steps lr*m: with
-- Rosenbrock's gradients of ~150 at the start, lr=0.02 would diverge
run("radam lr=2e-3", "radam", {lr = 2e-3}, 3000)
run("adamax lr=0.02", "adamax", {lr = 0.02}, 3000)
-- Lion: the sign of an interpolated momentum, so every step has size lr
run("lion lr=1e-3", "lion", {lr = 1e-3}, 3000)
run("lion lr 1e-2 -> 1e-4 (exponential)", "lion", {}, 3000, function(opt)
  opt:schedule("lr", function(t) return 1e-2 * 0.9985 ^ t end)
end)

-- The other step forms: a gradient tensor, or a model's own gradients.
local w = ol.tensor({-1.5, 2}, "f64")
local opt = ol.optim.sgd(w, {lr = 1e-3, momentum = 0.9})
local f = rosenbrock(w)
for _ = 1, 1000 do
  local _, g = f()
  opt:step(g)                      -- opt:step(grad)
  if opt.t == 500 then opt.lr = 5e-4 end  -- a live field: applies at step 501
end
print(string.format("\nsgd via opt:step(grad), lr halved at 500: loss %.3g, t = %d", f(), opt.t))
local s = opt:state()
print("state: momentum_buffer = " .. tostring(s.momentum_buffer):gsub("\n", " "))

-- Muon orthogonalises the momentum of each weight matrix (Newton-Schulz);
-- the biases go to its AdamW fallback. Against AdamW on a small MLP:
ol.seed(7)
local ds = ol.data.synthetic{kind = "spirals", n = 600, classes = 3}
for _, c in ipairs{{"adamw", {lr = 1e-2}}, {"muon", {lr = 0.02, fallback = {lr = 1e-2}}}} do
  ol.seed(7)
  local net = ol.nn.mlp{sizes = {2, 32, 32, 3}, activation = "tanh"}
  local o = ol.optim[c[1]](net, c[2])
  local st = ol.train{model = net, optimizer = o, epochs = 30, progress = false,
                      data = ol.data.loader(ds, {batch_size = 60})}
  print(string.format("%-6s on spirals, 30 epochs: loss %.4f, accuracy %.1f%%", c[1],
                      st.epoch_loss, 100 * st.epoch_accuracy))
end
