-- The main job: an MLP on Fashion-MNIST.
--
--   optlua scripts/train.lua [--optimizer sgd|nag|adam|adamw|...] [--lr X]
--       [--epochs N] [--batch-size N] [--hidden 512,256] [--dropout P] [--norm layer|batch]
--       [--clip MAX_NORM] [--accumulate K] [--early-stop N] [--ema DECAY]
--       [--checkpoint FILE] [--resume FILE]
--       [--pca N|off]
--       [--seed N] [--log run.jsonl] [--data DIR] [--threads N]
--       [--lr-find [--lr-find-plot FILE]] [--diagnose] [--quick] [--help]
--
-- What it shows: a scripted learning-rate schedule (linear warm-up, then
-- cosine decay), a momentum warm-up (β rises while the lr follows (1-β) so
-- the effective step stays put), a plateau detector cutting the lr when
-- the validation loss stalls, optional PCA whitening of the inputs, and the
-- epoch loop running in C with Lua called only at the hooks. Ctrl-C stops
-- after the current batch (saving to --checkpoint FILE when given) and
-- exits with status 130; --resume FILE continues such a run where it
-- stopped, to the same result as a run never stopped. --diagnose measures
-- the gradient noise each epoch (ol.noise) on a fixed probe of training
-- images.
local ol = require "optlua"

local defaults = {
  optimizer = "sgd", lr = nil, epochs = 30, ["batch-size"] = 128,
  hidden = "512,256", dropout = 0, norm = "none", pca = "off", seed = 1, log = nil, data = nil,
  threads = nil, quick = false, accumulate = 1, ["lr-find"] = false, ["lr-find-plot"] = "lr_find.png",
  diagnose = false,
}

local DEFAULT_DATA = "/usr/share/datasets/fashion-mnist" -- ol.data.fashion_mnist's default dir

local usage = [[
usage: optlua scripts/train.lua [options]
  --optimizer NAME   sgd (with momentum, default), nag, adam, adamw, ... (any of ol.optim.list()
                     that steps from gradients: not the closure-only newton, cg, lbfgs, ...)
  --lr X             peak learning rate (default: 0.1 for sgd/nag, else the optimizer's default lr)
  --epochs N         epochs (default 30)
  --batch-size N     mini-batch size (default 128)
  --hidden LIST      hidden layer widths, comma-separated (default 512,256)
  --dropout P        dropout after each hidden activation, 0 <= P < 1 (default 0: none)
  --norm layer|batch layer or batch norm after each hidden linear layer, before its
                     activation (default none)
  --clip MAX_NORM    clip the gradient to this 2-norm before each step (ol.train's
                     clip_grad_norm; default: no clipping)
  --accumulate K     one optimizer step per K batches, with their mean gradient
                     (default 1)
  --early-stop N     stop when the validation loss has not improved for N epochs,
                     and keep the best epoch's weights (default: off)
  --ema DECAY        validate and test an exponential moving average of the weights,
                     0 < DECAY < 1 (e.g. 0.999; default: off)
  --checkpoint FILE  save the run to FILE after every epoch and when it stops
  --resume FILE      continue the run saved in FILE, saving to it as it goes (unless
                     --checkpoint names another file); with the options of the run
                     that wrote it, the result is that of a run never stopped
  --pca N|off        whiten the inputs with PCA onto N components (default off)
  --seed N           seed of weights, shuffling and split (default 1)
  --log FILE         write a JSONL training log (plot it with ol.plot.log)
  --data DIR         Fashion-MNIST directory (default ]] .. DEFAULT_DATA .. [[)
  --threads N        BLAS threads (default: all cores)
  --lr-find          run the LR range test instead of training (ol.lr_find: lr from 1e-6 to
                     10 over 100 steps, 30 with --quick), print its suggestion, plot it, exit
  --lr-find-plot FILE  the picture of --lr-find (default lr_find.png)
  --diagnose         each epoch, on 2048 training images: the gradient noise scale B_simple
                     (ol.noise.scale, batches of 32 and 512) and the cosine of successive
                     batch-128 gradients (ol.noise.cosine), printed and, with --log, logged
  --quick            a short run on 6000 training images (smoke test)
  --help             this text]]

-- Options without a default value (absent means off or automatic).
local OPTIONAL = {lr = true, log = true, data = true, threads = true, clip = true,
                  ["early-stop"] = true, ema = true, checkpoint = true, resume = true}

local function parse(args)
  local o = {given = {}}
  for k, v in pairs(defaults) do o[k] = v end
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then print(usage) os.exit(0) end
    if a == "--quick" then o.quick = true i = i + 1
    elseif a == "--lr-find" then o["lr-find"] = true i = i + 1
    elseif a == "--diagnose" then o.diagnose = true i = i + 1
    else
      local key = a:match("^%-%-([%w%-]+)$")
      if not key or defaults[key] == nil and not OPTIONAL[key] then
        io.stderr:write("train.lua: unknown option '", a, "'\n", usage, "\n")
        os.exit(2)
      end
      local v = args[i + 1]
      if v == nil then
        io.stderr:write("train.lua: option '", a, "' needs a value\n")
        os.exit(2)
      end
      o[key] = v
      o.given[key] = true
      i = i + 2
    end
  end
  local function num(key, integer, lo)
    if o[key] == nil then return end
    local v = tonumber(o[key])
    if not v or (integer and math.type(v) ~= "integer") or (lo and v < lo) then
      io.stderr:write(string.format("train.lua: --%s expects %s >= %s, got '%s'\n",
        key, integer and "an integer" or "a number", lo or "-inf", tostring(o[key])))
      os.exit(2)
    end
    o[key] = v
  end
  num("lr", false, 0) num("epochs", true, 1) num("batch-size", true, 1)
  num("seed", true, 0) num("threads", true, 0)
  num("accumulate", true, 1) num("early-stop", true, 0)
  if o.ema ~= nil then
    local d = tonumber(o.ema)
    if not d or not (d > 0 and d < 1) then
      io.stderr:write("train.lua: --ema expects a decay 0 < DECAY < 1, got '", tostring(o.ema), "'\n")
      os.exit(2)
    end
    o.ema = d
  end
  if o.clip ~= nil then
    local c = tonumber(o.clip)
    if not c or not (c > 0) or c == math.huge then
      io.stderr:write("train.lua: --clip expects a norm > 0, got '", tostring(o.clip), "'\n")
      os.exit(2)
    end
    o.clip = c
  end
  local p = tonumber(o.dropout)
  if not p or not (p >= 0 and p < 1) then
    io.stderr:write("train.lua: --dropout expects a probability 0 <= P < 1, got '", tostring(o.dropout), "'\n")
    os.exit(2)
  end
  o.dropout = p
  if o.norm ~= "none" and o.norm ~= "layer" and o.norm ~= "batch" then
    io.stderr:write("train.lua: --norm expects layer or batch, got '", tostring(o.norm), "'\n")
    os.exit(2)
  end
  local hidden = {}
  for w in tostring(o.hidden):gmatch("[^,]+") do
    local n = math.tointeger(tonumber(w))
    if not n or n < 1 then
      io.stderr:write("train.lua: --hidden expects widths like 512,256, got '", o.hidden, "'\n")
      os.exit(2)
    end
    hidden[#hidden + 1] = n
  end
  o.hidden = hidden
  if o.pca ~= "off" then num("pca", true, 1) end
  return o
end

-- The optimizers ol.train can drive: those that step from the model's
-- gradients (opt:step()). The closure-only ones (kind "closure": the
-- second-order methods, which evaluate the loss several times per step)
-- need opt:step(closure); a wrapper (lookahead) is built over another
-- optimizer, which this script's options do not describe.
local function usable_optimizers()
  local names = {}
  for _, name in ipairs(ol.optim.list()) do
    local kind = ol.optim.kind(name)
    if kind ~= "closure" and kind ~= "wrapper" then names[#names + 1] = name end
  end
  return names
end

-- The Fashion-MNIST files a directory lacks (each as .gz or decompressed,
-- as ol.data.fashion_mnist reads them).
local IDX_FILES = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                   "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
local function missing_idx(dir)
  local missing = {}
  for _, name in ipairs(IDX_FILES) do
    local found = false
    for _, file in ipairs{name .. ".gz", name} do
      local fh = io.open(dir .. "/" .. file, "rb")
      if fh then fh:close() found = true end
    end
    if not found then missing[#missing + 1] = name end
  end
  return missing
end

local o = parse(arg or {})
if o.threads then ol.threads(o.threads) end
ol.seed(o.seed)

local usable = usable_optimizers()
local usable_set = {}
for _, name in ipairs(usable) do usable_set[name] = true end
if not usable_set[o.optimizer] then
  local kind = ol.optim.kind(o.optimizer)
  local why = kind == "wrapper" and "wraps another optimizer (in a script: ol.optim." .. o.optimizer
                                    .. "(ol.optim.adam(net)))"
    or kind and "needs a closure (it evaluates the loss several times per step), which the training loop does not give"
    or "is not an optimizer"
  io.stderr:write(string.format("train.lua: --optimizer %s: %s; usable here: %s\n", o.optimizer, why,
                                table.concat(usable, ", ")))
  os.exit(2)
end

if o.data then
  local missing = missing_idx(o.data)
  if #missing > 0 then
    local d = io.open(o.data .. "/.", "r")
    if d then d:close() end
    local what = not d and "no such directory, so no Fashion-MNIST IDX files" or #missing == #IDX_FILES and "no Fashion-MNIST IDX files there"
                 or "Fashion-MNIST IDX files missing there: " .. table.concat(missing, ", ")
    io.stderr:write(string.format("train.lua: --data %s: %s (looked for %s, each gzipped (.gz) or not); "
                                  .. "`apt-get install dataset-fashion-mnist` installs them in %s\n",
                                  o.data, what, table.concat(IDX_FILES, ", "), DEFAULT_DATA))
    os.exit(1)
  end
end

-- Data: train/validation split of the 60k training images, test set apart.
local ok, full = pcall(ol.data.fashion_mnist, {split = "train", dir = o.data})
if not ok then
  io.stderr:write("train.lua: ", tostring(full), "\n")
  os.exit(1)
end
local test = ol.data.fashion_mnist{split = "test", dir = o.data}
if o.quick then
  full = full:split(0.1)
  if not o.given.epochs then o.epochs = 3 end
end
local train, val = full:split(55 / 60)
local scaler = train:standardize()   -- fitted on training data only
val:standardize(scaler)
test:standardize(scaler)

local input = 784
local pca
if o.pca ~= "off" then
  -- Decorrelate the inputs: the error surface turns from a long ellipse
  -- into a circle, which is what plain gradient descent likes.
  pca = ol.pca.fit(train.x, {components = o.pca, whiten = true})
  train = ol.data.dataset(pca:transform(train.x), train.y)
  val = ol.data.dataset(pca:transform(val.x), val.y)
  test = ol.data.dataset(pca:transform(test.x), test.y)
  input = o.pca
end

local sizes = {input}
for _, w in ipairs(o.hidden) do sizes[#sizes + 1] = w end
sizes[#sizes + 1] = 10
-- --dropout P: a dropout layer after each hidden activation (none at 0);
-- --norm layer|batch: a norm layer after each hidden linear layer, before
-- its activation. ol.train steps in training mode (batch norm normalises
-- with the batch and moves its running estimates) and validates in
-- evaluation mode (batch norm uses the running estimates).
local net = ol.nn.mlp{sizes = sizes, activation = "relu", init = "kaiming_uniform",
                      dropout = o.dropout > 0 and o.dropout or nil,
                      norm = o.norm ~= "none" and o.norm or nil}

-- The peak lr: --lr, else 0.1 for sgd and nag (this recipe's), else the
-- optimizer's own default (1e-3 for Adam, 0.02 for muon, ...).
local peak = o.lr or ((o.optimizer == "sgd" or o.optimizer == "nag") and 0.1
                      or ol.optim.defaults(o.optimizer).lr or 0.1)
local opt_options = {lr = peak}
if o.optimizer == "sgd" then opt_options.momentum = 0.9 opt_options.nesterov = true
  opt_options.weight_decay = 5e-4 end
local opt = ol.optim[o.optimizer](net, opt_options)

local loader = ol.data.loader(train, {batch_size = o["batch-size"], shuffle = true})
-- Optimizer steps: one per --accumulate batches (the last of an epoch takes what is left).
local batches = (#train + o["batch-size"] - 1) // o["batch-size"]
local steps_per_epoch = (batches + o.accumulate - 1) // o.accumulate
local total = steps_per_epoch * o.epochs

-- The lr: linear warm-up over the first epoch, then cosine to zero,
-- multiplied by whatever the plateau detector has cut it to.
local warm = math.min(steps_per_epoch, total // 10)
local shape = ol.schedule.sequence{
  {ol.schedule.warmup{steps = warm, from = peak / 10, to = peak}, warm},
  {ol.schedule.cosine{from = peak, to = 0, steps = total - warm}, total - warm},
}
local cut = 1.0
-- Each parameter group follows the shape from its own lr (muon's AdamW
-- group keeps its smaller one).
for _, g in ipairs(opt.groups) do
  local scale = g.lr / peak
  g:schedule("lr", function(t) return shape(t) * cut * scale end)
end
local momentum_field = opt.momentum ~= nil and opt.momentum > 0 and "momentum" or nil
if momentum_field then
  -- β warm-up: 0.5 -> 0.9 over the first epoch (Sutskever et al. 2013).
  opt:schedule("momentum", ol.schedule.linear{from = 0.5, to = 0.9, steps = warm})
end

local plateau = ol.plateau{mode = "min", patience = 3, threshold = 1e-3}
-- A probe batch lets the plateau diagnosis look at the hidden units.
local probe = val.x:narrow(1, 1, math.min(256, #val))
print(string.format("optlua %s: %s, %d parameters, %s lr %.3g, batch %d, %d epochs, %d/%d/%d images%s",
  ol.version, table.concat(sizes, "-"), net:params():numel(), o.optimizer, peak,
  o["batch-size"], o.epochs, #train, #val, #test,
  (o.dropout > 0 and (", dropout " .. o.dropout) or "") ..
  (o.norm ~= "none" and (", " .. o.norm .. " norm") or "") .. (pca and (", PCA " .. o.pca) or "") ..
  (o.clip and (", gradient clipped to norm " .. o.clip) or "") ..
  (o.accumulate > 1 and (", " .. o.accumulate .. " batches per step") or "") ..
  (o.ema and (", EMA " .. o.ema) or "") .. (o.diagnose and ", gradient noise each epoch" or "")))

-- --ema: validation (and the test below) use an exponential moving average
-- of the weights, updated in C after every step.
local avg = o.ema and ol.average.ema(net, {decay = o.ema}) or nil

-- --lr-find: the LR range test on this net, optimizer and data instead of
-- training. The schedules above are held during the sweep, and the model
-- and the optimizer come back as they were (ol.lr_find).
if o["lr-find"] then
  local r = ol.lr_find{model = net, optimizer = opt, data = loader, from = 1e-6, to = 10,
                       steps = o.quick and 30 or 100}
  print(tostring(r))
  print(r.suggestion and string.format("suggested lr: %.3g (where the smoothed loss falls fastest)", r.suggestion)
        or "no suggested lr: " .. r.reason)
  if not ol.plot.available() then
    io.stderr:write("train.lua: --lr-find: no plot, gnuplot not found (apt-get install gnuplot-nox)\n")
  else
    local ok, err = pcall(r.plot, r, o["lr-find-plot"])
    if not ok then
      io.stderr:write("train.lua: --lr-find-plot: ", tostring(err), "\n")
      os.exit(1)
    end
    print("plot: " .. o["lr-find-plot"])
  end
  os.exit(0)
end

-- --diagnose: the gradient noise at the end of each epoch, on a fixed
-- probe of training images (ol.noise: training mode, the model's gradient
-- and buffers put back). The RNG is saved and put back around the probe's
-- split and the noise's draws, so that the run trains as without
-- --diagnose.
local noise_probe, noise
if o.diagnose then
  local rng = ol._rng_state()
  noise_probe = #train > 2048 and train:split(2048 / #train) or train
  ol._rng_set_state(rng)
end
local function diagnose()
  local rng = ol._rng_state()
  local big = math.min(512, #noise_probe)
  local r = ol.noise.scale(net, noise_probe, {small = math.min(32, big // 4), big = big, batches = 8})
  local c = ol.noise.cosine(net, noise_probe, {batch_size = math.min(128, #noise_probe), pairs = 8})
  ol._rng_set_state(rng)
  noise = {r = r, cosine = c.mean}
  local resolved = r.b_simple < math.huge
  print(string.format("  noise: B_simple %s (tr Σ %.3g, |G|² %.3g%s), cos(successive) %.2f",
                      resolved and string.format("%.0f", r.b_simple) or "inf", r.trace_sigma, r.grad_sq,
                      resolved and "" or ": not resolved from the noise", c.mean))
end

local t0 = ol.clock()
local final = ol.train{
  model = net, optimizer = opt, data = loader, loss = "cross_entropy",
  epochs = o.epochs, validate = val, log = o.log, every = 100, clip_grad_norm = o.clip,
  accumulate = o.accumulate, average = avg,
  early_stop = o["early-stop"] and {metric = "val_loss", patience = o["early-stop"]} or nil,
  -- What lives in Lua (the plateau's counters and the cut it made) is
  -- saved with each checkpoint and taken back on --resume.
  checkpoint = (o.checkpoint or o.resume) and {path = o.checkpoint or o.resume,
    state = function() return {cut = cut, plateau = plateau:state()} end,
    restore = function(t) cut = t.cut plateau:load_state(t.plateau) end} or nil,
  resume = o.resume,
  -- The noise figures in the log's epoch lines (B_simple only when finite).
  log_fields = o.diagnose and o.log and function()
    local b = noise.r.b_simple
    return {noise_b_simple = b < math.huge and b or nil, noise_trace_sigma = noise.r.trace_sigma,
            noise_grad_sq = noise.r.grad_sq, noise_cosine = noise.cosine}
  end or nil,
  on_epoch = function(s)
    if o.diagnose then diagnose() end
    if plateau:update(s.val_loss, net, probe) then
      cut = cut * 0.5
      print(string.format("  plateau: lr cut to %.3g x schedule (%s)", cut,
                          plateau.diagnosis and plateau.diagnosis.message or "no diagnosis"))
    end
  end,
}
if final.interrupted then
  -- Ctrl-C: ol.train stopped after the batch in progress and said where.
  local file = o.checkpoint or o.resume
  if file then print("continue with the same options and --resume " .. file) end
  os.exit(130)
end
if avg then avg:swap() end   -- test the average, as validation did
local test_loss, test_acc = ol.evaluate(net, test)
print(string.format("done in %.1fs: train loss %.4f, val accuracy %.2f%%, test loss %.4f, test accuracy %.2f%%%s",
  ol.clock() - t0, final.epoch_loss, 100 * final.val_accuracy, test_loss, 100 * test_acc,
  avg and " (EMA)" or ""))
