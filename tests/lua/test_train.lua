-- ol.train: the epoch loop in C, checked against the same steps taken by
-- hand from Lua, plus hooks, early stop, limits and bad options.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- A small labelled set: 3 classes of 2-D points, f64 for exact comparisons.
local function tiny(dtype)
  local x = ol.tensor({{0.5, -1.0}, {1.5, 0.25}, {-0.75, 0.5}, {0.1, 0.9},
                       {-1.2, -0.3}, {0.8, -0.6}}, dtype)
  local y = ol.tensor({1, 2, 3, 1, 2, 3}, dtype)
  return ol.data.dataset(x, y), x, y
end

local function max_abs_diff(a, b)
  return (a - b):abs():max()
end

T.test("full-batch sgd in C equals the same steps taken by hand", function()
  local ds, x, y = tiny("f64")
  ol.seed(3)
  local net = ol.nn.mlp{sizes = {2, 5, 3}, activation = "tanh", dtype = "f64"}
  local ref = ol.nn.mlp{sizes = {2, 5, 3}, activation = "tanh", dtype = "f64"}
  ref:params():copy_(net:params())
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local loader = ol.data.loader(ds, {batch_size = #ds, shuffle = false, dtype = "f64"})
  local s = ol.train{model = net, optimizer = opt, data = loader, epochs = 4, progress = false}
  -- By hand: w <- w - lr * grad(mean cross-entropy), 4 times.
  local losses = {}
  for k = 1, 4 do
    local loss, g = ref:evaluate(x, y, "cross_entropy")
    losses[k] = loss
    ref:params():add_(g, -0.1)
  end
  T.ok(max_abs_diff(net:params(), ref:params()) < 1e-14, "params differ from the hand-made steps")
  T.eq(s.step, 4)
  T.eq(opt.t, 4)
  T.near(s.loss, losses[4], 1e-14, "last batch loss")
end)

T.test("mini-batches in dataset order equal hand-made steps over the same slices", function()
  local ds, x, y = tiny("f64")
  ol.seed(5)
  local net = ol.nn.mlp{sizes = {2, 4, 3}, activation = "relu", dtype = "f64"}
  local ref = ol.nn.mlp{sizes = {2, 4, 3}, activation = "relu", dtype = "f64"}
  ref:params():copy_(net:params())
  local opt = ol.optim.sgd(net, {lr = 0.05, momentum = 0.9})
  local ropt = ol.optim.sgd(ref, {lr = 0.05, momentum = 0.9})
  local loader = ol.data.loader(ds, {batch_size = 4, shuffle = false, dtype = "f64"})
  ol.train{model = net, optimizer = opt, data = loader, epochs = 2, progress = false}
  for _ = 1, 2 do
    for _, r in ipairs({{1, 4}, {5, 2}}) do  -- batches of 4 then 2
      local xb, yb = x:narrow(1, r[1], r[2]), y:narrow(1, r[1], r[2])
      ref:evaluate(xb, yb, "cross_entropy")
      ropt:step()
    end
  end
  T.ok(max_abs_diff(net:params(), ref:params()) < 1e-14, "params differ")
end)

T.test("training on spirals reaches 95% validation accuracy", function()
  ol.seed(1)
  local ds = ol.data.synthetic{kind = "spirals", n = 1500, classes = 3}
  local train, val = ds:split(0.8)
  local net = ol.nn.mlp{sizes = {2, 64, 64, 3}, activation = "tanh"}
  local opt = ol.optim.adam(net, {lr = 1e-2})
  local s = ol.train{model = net, optimizer = opt, loss = "cross_entropy",
                     data = ol.data.loader(train, {batch_size = 32, shuffle = true}),
                     epochs = 40, validate = val, progress = false}
  T.ok(s.val_accuracy >= 0.95, "val accuracy " .. s.val_accuracy)
  local loss, acc = ol.evaluate(net, val)
  T.near(acc, s.val_accuracy, 1e-12, "ol.evaluate agrees with the loop's validation")
  T.near(loss, s.val_loss, 1e-6, "validation loss")
end)

T.test("batch and epoch accuracy count the argmax of the outputs (lr 0: one model)", function()
  -- 1000 blobs in 5 classes, f32: every batch is scored by the same
  -- model, so the loop's counts can be redone here from
  -- net:forward with a plain argmax (first of equal values).
  ol.seed(4)
  local ds = ol.data.synthetic{kind = "blobs", n = 1000, classes = 5}
  local net = ol.nn.mlp{sizes = {2, 16, 5}, activation = "relu"}
  -- a few steps first, so that the model gets some right and some wrong
  ol.train{model = net, optimizer = ol.optim.adam(net, {lr = 1e-2}), max_steps = 5,
           data = ol.data.loader(ds, {batch_size = 100, shuffle = true}), progress = false}
  local out = net:forward(ds.x)
  local hits, last_hits = 0, 0
  for i = 1, #ds do
    local best, at = -math.huge, 0
    for j = 1, 5 do
      local v = out:get(i, j)
      if v > best then best, at = v, j end
    end
    local hit = at == ds.y:get(i) and 1 or 0
    hits = hits + hit
    if i > 960 then last_hits = last_hits + hit end
  end
  local s = ol.train{model = net, optimizer = ol.optim.sgd(net, {lr = 0}),
                     data = ol.data.loader(ds, {batch_size = 40, shuffle = false}), epochs = 1,
                     progress = false}
  T.near(s.epoch_accuracy, hits / 1000, 1e-12, "epoch accuracy")
  T.near(s.accuracy, last_hits / 40, 1e-12, "last batch accuracy")
  T.ok(hits > 0 and hits < 1000, "the check needs hits and misses, got " .. hits)
  -- one batch of all 1000 rows (the count is then cut over the threads),
  -- on 2 threads, and ol.evaluate's count
  local threads = ol.threads()
  ol.threads(2)
  local full = ol.train{model = net, optimizer = ol.optim.sgd(net, {lr = 0}), epochs = 1,
                        data = ol.data.loader(ds, {batch_size = 1000}), progress = false}
  local _, acc = ol.evaluate(net, ds)
  ol.threads(threads)
  T.near(full.accuracy, hits / 1000, 1e-12, "accuracy of one batch of 1000 rows")
  T.near(acc, hits / 1000, 1e-12, "ol.evaluate's accuracy")
end)

T.test("hooks see the state and can stop training", function()
  local ds = tiny()
  local net = ol.nn.mlp{sizes = {2, 4, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.01, momentum = 0.5})
  local steps, epochs = {}, {}
  local s = ol.train{model = net, optimizer = opt, epochs = 10, every = 2, progress = false,
    data = ol.data.loader(ds, {batch_size = 2}),
    on_step = function(st)
      steps[#steps + 1] = st.step
      T.eq(st.lr, 0.01) T.eq(st.momentum, 0.5)
      T.ok(st.grad_norm and st.grad_norm >= 0, "grad_norm at a hook step")
      T.ok(st.loss and st.samples_per_s and st.elapsed, "figures present")
    end,
    on_epoch = function(st)
      epochs[#epochs + 1] = st.epoch
      T.eq(st.batches, 3)
      if st.epoch == 2 then return false end
    end}
  T.eq(#epochs, 2, "stopped after the epoch hook returned false")
  T.eq(s.step, 6)
  T.eq(table.concat(steps, ","), "2,4,6")
end)

T.test("max_steps, schedules applied before each step, momentum read from betas", function()
  local ds = tiny()
  local net = ol.nn.mlp{sizes = {2, 4, 3}}
  local opt = ol.optim.adam(net, {lr = 1})
  local seen = {}
  opt:schedule("lr", function(t) return 1 / t end)
  ol.train{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 1}),
           epochs = 5, max_steps = 4, every = 1, progress = false,
           on_step = function(st) seen[#seen + 1] = st.lr T.eq(st.momentum, 0.9) end}
  T.eq(opt.t, 4)
  T.eq(#seen, 4)
  for i = 1, 4 do T.near(seen[i], 1 / i, 1e-15) end
end)

T.test("an error in a hook propagates with its message", function()
  local net = ol.nn.mlp{sizes = {2, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.1})
  T.raises("boom in hook", ol.train, {model = net, optimizer = opt, progress = false,
    data = ol.data.loader(tiny(), {batch_size = 3}), every = 1,
    on_step = function() error("boom in hook") end})
  opt:schedule("lr", function() return -1 end)
  T.raises("lr", ol.train, {model = net, optimizer = opt, progress = false,
    data = ol.data.loader(tiny(), {batch_size = 3})})
end)

T.test("non-finite loss: error names the step, stop keeps the last good step, skip skips", function()
  -- Sample 5 has a NaN feature: in dataset order with batches of 3, the
  -- second batch of every epoch has a NaN loss.
  local x = ol.tensor({{0.5, -1.0}, {1.5, 0.25}, {-0.75, 0.5}, {0.1, 0.9},
                       {0 / 0, -0.3}, {0.8, -0.6}}, "f64")
  local ds = ol.data.dataset(x, ol.tensor({1, 2, 3, 1, 2, 3}, "f64"))
  local function setup()
    ol.seed(2)
    local net = ol.nn.mlp{sizes = {2, 3}, dtype = "f64"}
    return net, ol.optim.sgd(net, {lr = 0.1}), ol.data.loader(ds, {batch_size = 3, dtype = "f64", shuffle = false})
  end
  local net, opt, loader = setup()
  T.raises("non-finite loss at step 2 (epoch 1, batch 2)", ol.train,
           {model = net, optimizer = opt, data = loader, epochs = 3, progress = false})

  net, opt, loader = setup()
  local first = ol.nn.mlp{sizes = {2, 3}, dtype = "f64"}
  first:params():copy_(net:params())
  local s = ol.train{model = net, optimizer = opt, data = loader, epochs = 3,
                     progress = false, on_nonfinite = "stop"}
  T.eq(s.step, 1, "stopped before step 2")
  -- the parameters are those after step 1, taken by hand
  local _, g = first:evaluate(x:narrow(1, 1, 3), ol.tensor({1, 2, 3}, "f64"))
  first:params():add_(g, -0.1)
  T.ok((net:params() - first:params()):abs():max() < 1e-15, "last good parameters kept")

  net, opt, loader = setup()
  s = ol.train{model = net, optimizer = opt, data = loader, epochs = 3,
               progress = false, on_nonfinite = "skip"}
  T.eq(s.step, 3, "one step per epoch, the NaN batch skipped")
  T.ok(net:params():sum() == net:params():sum(), "parameters stay finite")
end)

T.test("the optimizer must update the model's own parameters", function()
  local ds = tiny("f32")
  local loader = ol.data.loader(ds, {batch_size = 3})
  local net = ol.nn.mlp{sizes = {2, 4, 3}}
  local twin = ol.nn.mlp{sizes = {2, 4, 3}} -- the same size, other storage
  local before = twin:params():clone()
  local err = T.raises("bad argument #1 to 'train' (option 'optimizer' updates other parameters than the "
                       .. "model's (it was built over another model or tensor)", ol.train,
                       {model = net, optimizer = ol.optim.sgd(twin, {lr = 0.1}), data = loader, progress = false})
  T.ok(err:find("ol.optim.NAME(model, ...)", 1, true), err)
  T.eq(max_abs_diff(twin:params(), before), 0, "the other model is untouched")
  -- a tensor of the same size, and a part of the model's buffer, are other parameters too
  T.raises("updates other parameters", ol.train, {model = net, optimizer = ol.optim.sgd(ol.zeros(net:num_params())),
                                                  data = loader, progress = false})
  T.raises("updates other parameters", ol.train, {model = net, optimizer = ol.optim.sgd(net:params():narrow(1, 1, 4)),
                                                  data = loader, progress = false})
  -- over the model, or over its flat parameter tensor: trained
  local p0 = net:params():clone()
  local s = ol.train{model = net, optimizer = ol.optim.sgd(net:params(), {lr = 0.1}), data = loader,
                     progress = false}
  T.eq(s.step, 2)
  T.ok(max_abs_diff(net:params(), p0) > 0, "the model was trained")
end)

T.test("bad options are errors naming the option", function()
  local net = ol.nn.mlp{sizes = {2, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local loader = ol.data.loader(tiny(), {batch_size = 3})
  T.raises("bad argument #1 to 'train' (option 'model' is required)", ol.train, {optimizer = opt, data = loader})
  T.raises("bad argument #1 to 'train' (option 'model' must be a model, got table)", ol.train,
           {model = {}, optimizer = opt, data = loader})
  T.raises("bad argument #1 to 'train' (option 'optimizer' is required)", ol.train, {model = net, data = loader})
  T.raises("bad argument #1 to 'train' (option 'data' is required)", ol.train, {model = net, optimizer = opt})
  T.raises("bad argument #1 to 'train' (option 'epochs' must be >= 1, got 0)", ol.train,
           {model = net, optimizer = opt, data = loader, epochs = 0})
  T.raises("bad argument #1 to 'train' (option 'every' must be an integer >= 1, got 1.5)", ol.train,
           {model = net, optimizer = opt, data = loader, every = 1.5})
  T.raises("bad argument #1 to 'train' (option 'loss' must be 'cross_entropy', 'mse', 'bce' or 'huber', got 'hinge')",
           ol.train, {model = net, optimizer = opt, data = loader, loss = "hinge"})
  T.raises("bad argument #1 to 'train' (option 'on_step' must be a function, got 3)", ol.train,
           {model = net, optimizer = opt, data = loader, on_step = 3})
  local wide = ol.nn.mlp{sizes = {5, 3}}
  T.raises("features", ol.train, {model = wide, optimizer = ol.optim.sgd(wide), data = loader})
  -- an optimizer over another model (here of another dtype too) is refused
  local net64 = ol.nn.mlp{sizes = {2, 3}, dtype = "f64"}
  T.raises("bad argument #1 to 'train' (option 'optimizer' updates other parameters than the model's",
           ol.train, {model = net64, optimizer = opt, data = loader})
end)

T.test("loss_options: weighted, smoothed cross_entropy and huber train; validation uses them", function()
  ol.seed(31)
  local ds = ol.data.synthetic{kind = "blobs", n = 600, classes = 3}
  local train, valid = ds:split(0.8)
  for _, case in ipairs{
    {"cross_entropy", {label_smoothing = 0.1, weight = {1, 2, 0.5}}},
    {"cross_entropy", {weight = ol.tensor({0.5, 1, 3})}},
    {"huber", {delta = 0.5}},
  } do
    local net = ol.nn.mlp{sizes = {2, 16, 3}, activation = "silu"}
    local opt = ol.optim.adam(net, {lr = 1e-2})
    local before = ol.evaluate(net, valid, case[1], case[2])
    local s = ol.train{model = net, optimizer = opt, data = ol.data.loader(train, {batch_size = 32}),
                       loss = case[1], loss_options = case[2], epochs = 5, validate = valid,
                       progress = false}
    local after = ol.evaluate(net, valid, case[1], case[2])
    T.ok(after < 0.7 * before, string.format("%s: %g -> %g", case[1], before, after))
    -- validation's loss is ol.evaluate's, with the same options (weighted mean over the whole set)
    T.near(s.val_loss, after, 1e-6 * after)
  end
  local net = ol.nn.mlp{sizes = {2, 3}}
  local base = {model = net, optimizer = ol.optim.sgd(net, {lr = 0.1}), progress = false,
                data = ol.data.loader(train, {batch_size = 32})}
  local function with(extra) local t = {} for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(extra) do t[k] = v end return t end
  T.raises("bad argument #1 to 'train' (option 'weight' must hold one value per class (3, the model's outputs), got 2)",
           function() ol.train(with{loss_options = {weight = {1, 2}}}) end)
  T.raises("bad argument #1 to 'train' (option 'delta' is for huber, not cross_entropy)",
           function() ol.train(with{loss_options = {delta = 2}}) end)
  T.raises("bad argument #1 to 'train' (unknown option 'label_smooth'; did you mean 'label_smoothing'?)",
           function() ol.train(with{loss_options = {label_smooth = 0.1}}) end)
end)

T.run()
