-- ol.train's loop options: accumulate (one step per k batches with the
-- mean gradient), before_step (Lua sees and changes the gradient), and
-- early_stop (stops, restores the best weights). The steps are checked
-- against steps taken by hand in Lua from ref:evaluate's gradients, and
-- the restored weights against copies taken in the epoch hook.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- 7 labelled 2-D points in 3 classes, f64 for exact comparisons.
local X = {{0.5, -1.0}, {1.5, 0.25}, {-0.75, 0.5}, {0.1, 0.9}, {-1.2, -0.3}, {0.8, -0.6}, {0.3, 0.3}}
local Y = {1, 2, 3, 1, 2, 3, 2}
local function tiny()
  local x, y = ol.tensor(X, "f64"), ol.tensor(Y, "f64")
  return ol.data.dataset(x, y), x, y
end

-- A net and an equal copy for the hand-made steps.
local function nets(sizes)
  ol.seed(5)
  local net = ol.nn.mlp{sizes = sizes or {2, 5, 3}, activation = "tanh", dtype = "f64"}
  local ref = ol.nn.mlp{sizes = sizes or {2, 5, 3}, activation = "tanh", dtype = "f64"}
  ref:params():copy_(net:params())
  return net, ref
end

local function maxdiff(a, b) return (a - b):abs():max() end

T.test("accumulate = k: each step's gradient is that of the mean loss over its k batches", function()
  local ds, x, y = tiny()
  local net, ref = nets()
  local losses, batches = {}, {}
  local LR = 0.3
  ol.train{model = net, optimizer = ol.optim.sgd(net, {lr = LR}), epochs = 2, progress = false, every = 1,
           data = ol.data.loader(ds, {batch_size = 2, shuffle = false, dtype = "f64"}), accumulate = 2,
           on_step = function(s) losses[#losses + 1] = s.loss; batches[#batches + 1] = s.batch end}
  -- Batches of rows {1,2} {3,4} {5,6} {7}: steps over rows 1-4 and 5-7
  -- (the last step of an epoch takes the batches left), twice.
  T.eq(#losses, 4, "two steps per epoch")
  T.eq(table.concat(batches, ","), "2,4,2,4", "s.batch counts batches")
  local windows = {{1, 4}, {5, 3}, {1, 4}, {5, 3}}
  for k, w in ipairs(windows) do
    -- The mean gradient over the window's rows, two ways: one evaluation
    -- of all of them, and the micro-batches' means weighted by their rows.
    local loss, g = ref:evaluate(x:narrow(1, w[1], w[2]), y:narrow(1, w[1], w[2]), "cross_entropy")
    g = g:clone()
    local sum, rows = nil, 0
    for a = w[1], w[1] + w[2] - 1, 2 do
      local n = math.min(2, w[1] + w[2] - a)
      local _, gb = ref:evaluate(x:narrow(1, a, n), y:narrow(1, a, n), "cross_entropy")
      sum = sum and (sum + gb * n) or gb * n
      rows = rows + n
    end
    T.ok(maxdiff(sum / rows, g) < 1e-15, "step " .. k .. ": the micro-batches' weighted mean")
    T.near(losses[k], loss, 1e-15, "step " .. k .. ": the reported loss is the window's mean")
    local p = ref:params()
    for i = 1, p:numel() do p:set(i, p:get(i) - LR * g:get(i)) end
  end
  T.ok(maxdiff(net:params(), ref:params()) < 1e-14, "params differ from the hand-made steps")
end)

T.test("accumulate = k equals one batch k times larger (sgd, adam; shuffled; uneven last step)", function()
  for _, name in ipairs{"sgd", "adam"} do
    local function run(bs, k)
      ol.seed(3)
      local ds = ol.data.synthetic{kind = "spirals", n = 70, classes = 3}
      local net = ol.nn.mlp{sizes = {2, 8, 3}, activation = "tanh", dtype = "f64"}
      local opt = ol.optim[name](net, {lr = 0.05})
      local loader = ol.data.loader(ds, {batch_size = bs, shuffle = true, dtype = "f64"})
      local r = ol.train{model = net, optimizer = opt, data = loader, epochs = 3, accumulate = k,
                         progress = false}
      return net:params(), opt.t, r
    end
    local a, ta, ra = run(32, 1)
    local b, tb, rb = run(8, 4)
    T.eq(tb, ta, name .. ": steps")
    T.eq(rb.samples, ra.samples, name .. ": samples")
    T.ok(maxdiff(a, b) < 1e-13, name .. ": params differ by " .. maxdiff(a, b))
    T.near(rb.epoch_loss, ra.epoch_loss, 1e-13, name .. ": epoch loss")
  end
end)

T.test("bad accumulate values are errors before any step", function()
  local ds = tiny()
  local net = ol.nn.mlp{sizes = {2, 5, 3}, dtype = "f64"}
  local before = net:params():clone()
  local function cfg(v)
    return {model = net, optimizer = ol.optim.sgd(net), data = ol.data.loader(ds, {dtype = "f64"}),
            progress = false, accumulate = v}
  end
  T.raises("bad argument #1 to 'train' (option 'accumulate' must be >= 1, got 0)", ol.train, cfg(0))
  T.raises("bad argument #1 to 'train' (option 'accumulate' must be >= 1, got -2)", ol.train, cfg(-2))
  T.raises("option 'accumulate' must be an integer", ol.train, cfg(1.5))
  T.raises("option 'accumulate' must be an integer", ol.train, cfg("2"))
  T.raises("unknown option 'acumulate'; did you mean 'accumulate'?", ol.train,
           {model = net, optimizer = ol.optim.sgd(net), data = ol.data.loader(ds, {dtype = "f64"}),
            acumulate = 2})
  T.eq(maxdiff(net:params(), before), 0, "nothing changed")
end)

-- before_step(s, grads) ------------------------------------------------------

local function hooked(opts, epochs)
  local ds = tiny()
  local net, ref = nets()
  local opt = ol.optim.sgd(net, {lr = 0.25})
  local cfg = {model = net, optimizer = opt, epochs = epochs or 3, progress = false, every = 1,
               data = ol.data.loader(ds, {batch_size = #ds, shuffle = false, dtype = "f64"})}
  for k, v in pairs(opts) do cfg[k] = v end
  return net, ref, opt, ol.train(cfg)
end

T.test("before_step sees the step's gradient, the step number and the batch's loss", function()
  local _, x, y = tiny()
  local seen = {}
  local _, ref, opt = hooked{before_step = function(s, g)
    seen[#seen + 1] = {step = s.step, t = nil, loss = s.loss, g = g:clone()}
  end}
  T.eq(#seen, 3)
  for k = 1, 3 do
    local loss, g = ref:evaluate(x, y, "cross_entropy")
    T.eq(seen[k].step, k, "s.step is the step about to be taken")
    T.near(seen[k].loss, loss, 1e-15, "s.loss")
    T.ok(maxdiff(seen[k].g, g) < 1e-15, "step " .. k .. ": grads is the gradient")
    local p = ref:params()
    for i = 1, p:numel() do p:set(i, p:get(i) - 0.25 * g:get(i)) end
  end
  T.eq(opt.t, 3)
end)

T.test("before_step may change the gradient: the step uses what it leaves", function()
  -- zeroed: the weights do not move though the steps are counted
  local net, ref, opt = hooked{before_step = function(_, g) g:zero_() end}
  T.eq(opt.t, 3)
  T.eq(maxdiff(net:params(), ref:params()), 0, "zero gradients leave the weights")
  -- doubled: the same as twice the lr (powers of two scale exactly)
  local a = hooked{before_step = function(_, g) g:mul_(2) end}
  local ds = tiny()
  local b = nets()
  ol.train{model = b, optimizer = ol.optim.sgd(b, {lr = 0.5}), epochs = 3, progress = false,
           data = ol.data.loader(ds, {batch_size = #ds, shuffle = false, dtype = "f64"})}
  T.eq(maxdiff(a:params(), b:params()), 0, "doubled gradient = doubled lr")
end)

T.test("clipping and the reported norm follow before_step", function()
  -- Every gradient element set to 1: the norm is sqrt(n), the clipped
  -- step moves every weight by lr / (sqrt(n) + 1e-6).
  local norms = {}
  local net, ref = hooked({before_step = function(_, g) g:fill_(1) end, clip_grad_norm = 1,
                           on_step = function(s) norms[#norms + 1] = s.grad_norm end}, 2)
  local n = ref:params():numel()
  T.near(norms[1], math.sqrt(n), 1e-12, "the norm of the changed gradient")
  local p = ref:params()
  for i = 1, n do p:set(i, p:get(i) - 2 * 0.25 / (math.sqrt(n) + 1e-6)) end
  T.ok(maxdiff(net:params(), ref:params()) < 1e-15, "clipped after the hook")
end)

T.test("before_step returning false stops before that step; with accumulate it runs once a step", function()
  local net, ref, opt, r = hooked{before_step = function(s) if s.step == 2 then return false end end}
  T.eq(opt.t, 1, "the second step was not taken")
  T.eq(r.step, 1)
  local _, x, y = tiny()
  local _, g = ref:evaluate(x, y, "cross_entropy")
  local p = ref:params()
  for i = 1, p:numel() do p:set(i, p:get(i) - 0.25 * g:get(i)) end
  T.ok(maxdiff(net:params(), ref:params()) < 1e-15, "one step's weights")
  -- 7 rows, batches of 2, accumulate 3: steps over 3 and 1 batches
  local calls = 0
  local ds = tiny()
  local net2 = nets()
  local opt2 = ol.optim.sgd(net2)
  ol.train{model = net2, optimizer = opt2, epochs = 2, progress = false, accumulate = 3,
           data = ol.data.loader(ds, {batch_size = 2, dtype = "f64"}),
           before_step = function() calls = calls + 1 end}
  T.eq(opt2.t, 4)
  T.eq(calls, 4, "once per step")
  -- an error in the hook is the run's error
  T.raises("hook failed", ol.train, {model = net2, optimizer = opt2, progress = false,
           data = ol.data.loader(ds, {dtype = "f64"}), before_step = function() error("hook failed") end})
  T.raises("option 'before_step' must be a function", ol.train, {model = net2, optimizer = opt2,
           data = ol.data.loader(ds, {dtype = "f64"}), before_step = 3})
end)

-- early_stop -------------------------------------------------------------------

-- Spirals with a validation split; the lr jumps after epoch `jump` so that
-- the validation loss gets worse from then on. snaps[e]: the weights,
-- buffers and val_loss after epoch e.
local function stopping(es, opts)
  opts = opts or {}
  ol.seed(5)
  local ds = ol.data.synthetic{kind = "spirals", n = 90, classes = 3}
  local train, val = ds:split(0.8)
  local net = ol.nn.mlp{sizes = {2, 16, 3}, activation = "relu", norm = opts.norm}
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local snaps = {}
  local r = ol.train{model = net, optimizer = opt, epochs = opts.epochs or 20, progress = false,
    validate = opts.novalidate and nil or val, early_stop = es,
    data = ol.data.loader(train, {batch_size = 8, shuffle = true}),
    on_epoch = function(s)
      local b = {}
      for _, e in ipairs(net:buffers()) do b[e.name] = e.tensor:clone() end
      snaps[s.epoch] = {w = net:params():clone(), b = b, val_loss = s.val_loss, val_accuracy = s.val_accuracy}
      if s.epoch == (opts.jump or 4) then opt.lr = 20 end
    end}
  return r, net, snaps
end

T.test("early_stop stops after patience epochs without improvement and restores the best weights", function()
  local r, net, snaps = stopping({patience = 2}, {norm = "batch"})
  -- val_loss improves up to epoch 4 here, then the lr of 20 ruins it
  local best, best_epoch = math.huge, 0
  for e = 1, #snaps do
    if snaps[e].val_loss < best then best, best_epoch = snaps[e].val_loss, e end
  end
  T.eq(best_epoch, 4, "the constructed run peaks at epoch 4")
  T.eq(#snaps, 6, "stopped after 2 epochs without improvement")
  T.eq(r.early_stopped, true)
  T.eq(r.best_epoch, 4)
  T.eq(r.best, best)
  T.eq(r.restored_epoch, 4)
  T.eq(maxdiff(net:params(), snaps[4].w), 0, "the weights of epoch 4")
  local n = 0
  for _, e in ipairs(net:buffers()) do
    T.eq(maxdiff(e.tensor, snaps[4].b[e.name]), 0, "buffer " .. e.name .. " of epoch 4")
    n = n + 1
  end
  T.eq(n, 2, "batch norm's two running estimates")
end)

T.test("early_stop without restore_best keeps the last weights; patience 0 stops at the first miss", function()
  local r, net, snaps = stopping({patience = 2, restore_best = false})
  T.eq(r.early_stopped, true)
  T.eq(r.restored_epoch, nil)
  T.eq(maxdiff(net:params(), snaps[6].w), 0, "the weights of the last epoch")
  r = stopping({patience = 0})
  T.eq(r.epoch, 5, "patience 0: the first epoch without improvement ends the run")
  T.eq(r.best_epoch, 4)
end)

T.test("early_stop: min_delta, the accuracies' mode, epoch_loss without validation", function()
  -- No val_loss improves on epoch 1's by more than 10: stop at 1 + patience.
  local r = stopping({patience = 3, min_delta = 10})
  T.eq(r.epoch, 4)
  T.eq(r.best_epoch, 1)
  -- val_accuracy is better larger: the default mode is max.
  local r2, _, snaps = stopping({metric = "val_accuracy", patience = 3})
  local best, best_epoch = -1, 0
  for e = 1, #snaps do
    if snaps[e].val_accuracy > best then best, best_epoch = snaps[e].val_accuracy, e end
  end
  T.eq(r2.best_epoch, best_epoch)
  T.eq(r2.best, best)
  T.eq(r2.epoch, best_epoch + 3)
  -- mode = "min" on an accuracy watches it as asked: the best is the
  -- smallest, the first epoch that reached it.
  local r3, _, s3 = stopping({metric = "val_accuracy", mode = "min", patience = 1})
  local low, low_epoch = math.huge, 0
  for e = 1, #s3 do
    if s3[e].val_accuracy < low then low, low_epoch = s3[e].val_accuracy, e end
  end
  T.eq(r3.best, low)
  T.eq(r3.best_epoch, low_epoch)
  -- The training loss needs no validation data.
  local r4 = stopping({metric = "epoch_loss", patience = 2}, {novalidate = true})
  T.eq(r4.early_stopped, true)
end)

T.test("bad early_stop options are errors before any step", function()
  local ds = tiny()
  local net = ol.nn.mlp{sizes = {2, 5, 3}, dtype = "f64"}
  local opt = ol.optim.sgd(net)
  local before = net:params():clone()
  local function cfg(es, validate)
    return {model = net, optimizer = opt, data = ol.data.loader(ds, {dtype = "f64"}), progress = false,
            early_stop = es, validate = validate}
  end
  T.raises("bad argument #1 to 'train' (option 'early_stop': metric 'val_loss' is computed on validation "
           .. "data: give validate = DATASET, or watch 'epoch_loss')", ol.train, cfg({}))
  T.raises("metric 'val_accuracy' is computed on validation data", ol.train, cfg({metric = "val_accuracy"}))
  T.raises("bad argument #1 to 'train.early_stop' (option 'metric' must be 'val_loss', 'val_accuracy', "
           .. "'epoch_loss' or 'epoch_accuracy', got 'loss')", ol.train, cfg({metric = "loss"}, ds))
  T.raises("option 'mode' must be 'min' or 'max', got 'up'", ol.train, cfg({mode = "up"}, ds))
  T.raises("option 'patience' must be >= 0, got -1", ol.train, cfg({patience = -1}, ds))
  T.raises("option 'min_delta' must be >= 0, got -0.5", ol.train, cfg({min_delta = -0.5}, ds))
  T.raises("unknown option 'patients'; did you mean 'patience'?", ol.train, cfg({patients = 3}, ds))
  T.raises("option 'early_stop' must be a table", ol.train, cfg(true, ds))
  T.eq(maxdiff(net:params(), before), 0, "nothing changed")
  T.eq(opt.t, 0)
end)

T.run()
