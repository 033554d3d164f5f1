-- What ol.train's loop options cost: training samples/s of MLP
-- 784-256-128-10 relu f32 with adam at batch 128 on Fashion-MNIST, plain
-- and with each option, in rounds (the cases interleaved, so a busy spell
-- of a shared host hits them all; the best of each is kept), and each
-- beside the same loop without it as a ratio. Prints "key value" lines.
--   optlua [--threads N] bench/loop_options.lua [ROUNDS] [CASES]
-- ROUNDS: default 5. CASES: a comma-separated list (default all); "plain"
-- alone runs on any optlua, so bench/loop.sh can set two builds side by side.
--   plain       no option                                      (the base of the next three)
--   grad_norm   the gradient's norm at every step (grad_norm = true)
--   clip        clip_grad_norm = 1 (the norm at every step, and the scaling)
--   hook        before_step = a Lua function that does nothing
--   plain64     batch 64, no option                            (the base of accumulate)
--   accumulate  accumulate = 2 at batch 64: 128 rows a step
--   epochs      epochs of 30 steps with validation on 1000 rows (the base of epoch_rules)
--   epoch_rules the same with early_stop (restore_best) and checkpoint = {every = 1}
local ol = require "optlua"
local rounds = tonumber(arg[1]) or 5
local only = {}
for c in (arg[2] or ""):gmatch("[^,]+") do only[c] = true end

local train = ol.data.fashion_mnist{split = "train"}
local val = ol.data.dataset(train.x:narrow(1, 1, 1000), train.y:narrow(1, 1, 1000))
local small = ol.data.dataset(train.x:narrow(1, 1, 30 * 128), train.y:narrow(1, 1, 30 * 128))
local STEPS = 150
local ck = os.tmpname()

-- {name, options, batch size, data, base case}
local CASES = {
  {"plain", {}},
  {"grad_norm", {grad_norm = true}, 128, nil, "plain"},
  {"clip", {clip_grad_norm = 1}, 128, nil, "plain"},
  {"hook", {before_step = function() end}, 128, nil, "plain"},
  {"plain64", {}, 64},
  {"accumulate", {accumulate = 2}, 64, nil, "plain64"},
  {"epochs", {validate = val}, 128, small},
  {"epoch_rules", {early_stop = {metric = "val_loss", patience = 100}, validate = val,
                   checkpoint = {path = ck}}, 128, small, "epochs"},
}

local function run(case)
  ol.seed(1)
  local net = ol.nn.mlp{sizes = {784, 256, 128, 10}, activation = "relu"}
  local opt = ol.optim.adam(net, {lr = 1e-3})
  local cfg = {model = net, optimizer = opt, progress = false,
               data = ol.data.loader(case[4] or train, {batch_size = case[3] or 128, shuffle = true,
                                                        drop_last = true})}
  for k, v in pairs(case[2]) do cfg[k] = v end
  cfg.max_steps = 10 -- warm-up: workspaces, optimizer state, BLAS threads
  ol.train(cfg)
  cfg.max_steps = STEPS * 128 // (case[3] or 128) // (case[2].accumulate or 1)
  cfg.epochs = case[4] and 1000 or 1
  return ol.train(cfg).samples_per_s
end

local best = {}
for _ = 1, rounds do
  for _, c in ipairs(CASES) do
    if next(only) == nil or only[c[1]] then best[c[1]] = math.max(best[c[1]] or 0, run(c)) end
  end
end
for _, c in ipairs(CASES) do
  local v = best[c[1]]
  if v then
    print(string.format("loop_%s_sps %.0f", c[1], v))
    local base = c[5] and best[c[5]]
    if base then print(string.format("loop_%s_vs_%s %.3f", c[1], c[5], v / base)) end
  end
end
os.remove(ck)
