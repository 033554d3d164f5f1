-- ol.lr_find, the LR range test: the sweep's lrs against the formula, the
-- lr each step really used against a double-precision reference of plain
-- SGD written out here, the smoothed loss and the suggestion recomputed
-- from the recorded values, the stops (divergence, a non-finite step),
-- everything restored bit for bit afterwards (model, buffers, optimizer
-- state, options, t, RNG; schedules held during the sweep and running
-- after it), the errors, tostring and the plot.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = optlua

-- ---- helpers ----

local function blobs(n, seed)
  ol.seed(seed or 3)
  local ds = ol.data.synthetic{kind = "blobs", n = n or 600, classes = 3}
  ds:standardize()
  return ds
end

-- The sweep's lr_i, written as an interpolation of log lr (the module
-- computes from * (to/from)^((i-1)/(steps-1))).
local function formula(from, to, steps, i)
  return math.exp(math.log(from) + (i - 1) / (steps - 1) * (math.log(to) - math.log(from)))
end

-- The bits of a number: equal bits, not just equal values (-0 vs 0, NaN).
local function bits(v) return string.pack("<d", v) end

-- Every element of two tensors (or nested tables) has the same bits.
local function same_bits(a, b, what)
  local ta = type(a) == "userdata" and a:totable() or a
  local tb = type(b) == "userdata" and b:totable() or b
  local function walk(x, y, path)
    if type(x) == "table" then
      T.ok(type(y) == "table" and #x == #y, what .. ": shape differs at " .. path)
      for i = 1, #x do walk(x[i], y[i], path .. "[" .. i .. "]") end
    else
      T.ok(bits(x) == bits(y), string.format("%s%s: %.17g before, %.17g after", what, path, x, tostring(y)))
    end
  end
  walk(ta, tb, "")
end

-- Option tables (opt:options(), with groups) compared value for value.
local function same_options(a, b, what)
  for k, v in pairs(a) do
    if type(v) == "table" then same_options(v, b[k], what .. "." .. k)
    elseif type(v) == "number" then T.ok(bits(v) == bits(b[k]), what .. "." .. k .. " changed")
    else T.eq(b[k], v, what .. "." .. k) end
  end
  for k in pairs(b) do T.ok(a[k] ~= nil, what .. "." .. k .. " appeared") end
end

-- What lr_find must leave as it found: copies of everything.
local function snapshot(net, opt)
  local s = {params = net:params():clone(), buffers = {}, state = {}, options = opt:options(),
             t = opt.t, mode = opt.mode, rng = ol._rng_state()}
  for i, b in ipairs(net:buffers()) do s.buffers[i] = {name = b.name, tensor = b.tensor:clone()} end
  for k, v in pairs(opt:state()) do s.state[k] = v:clone() end
  return s
end

local function check_same(before, net, opt, what)
  local after = snapshot(net, opt)
  same_bits(before.params, after.params, what .. " params")
  T.eq(#after.buffers, #before.buffers, what .. " buffer count")
  for i, b in ipairs(before.buffers) do
    T.eq(after.buffers[i].name, b.name)
    same_bits(b.tensor, after.buffers[i].tensor, what .. " buffer " .. b.name)
  end
  local n = 0
  for k, v in pairs(before.state) do
    n = n + 1
    T.ok(after.state[k], what .. " state " .. k .. " gone")
    same_bits(v, after.state[k], what .. " state " .. k)
  end
  for k in pairs(after.state) do T.ok(before.state[k], what .. " state " .. k .. " appeared") end
  same_options(before.options, after.options, what .. " options")
  T.eq(after.t, before.t, what .. " t")
  T.eq(after.mode, before.mode, what .. " mode")
  T.ok(after.rng == before.rng, what .. ": the RNG state differs")
  return n
end

-- The suggestion rule, written again from the README: slopes of smoothed
-- against log10(lr), central inside and one-sided at the ends; candidates
-- from floor(n/10) + 1 to the first index of the least smoothed loss; the
-- first most negative slope.
local function expected_suggestion(lrs, sm)
  local n = #sm
  if n < 3 then return nil end
  local low = 1
  for i = 2, n do if sm[i] < sm[low] then low = i end end
  local function slope(i)
    if i == 1 then return (sm[2] - sm[1]) / (math.log(lrs[2], 10) - math.log(lrs[1], 10)) end
    if i == n then return (sm[n] - sm[n - 1]) / (math.log(lrs[n], 10) - math.log(lrs[n - 1], 10)) end
    return (sm[i + 1] - sm[i - 1]) / (math.log(lrs[i + 1], 10) - math.log(lrs[i - 1], 10))
  end
  local best
  for i = math.floor(n / 10) + 1, low do
    if not best or slope(i) < slope(best) then best = i end
  end
  if best and slope(best) < 0 then return best end
  return nil
end

-- ---- the sweep ----

T.test("lrs follow the exponential sweep, every step recorded", function()
  local ds = blobs()
  local net = ol.nn.mlp{sizes = {2, 16, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.1, momentum = 0.9})
  local loader = ol.data.loader(ds, {batch_size = 64})   -- 10 batches: the loader restarts 4 times
  local r = ol.lr_find{model = net, optimizer = opt, data = loader, from = 1e-5, to = 0.05, steps = 47}
  T.eq(r.stopped, nil, "nothing diverges below lr 0.05")
  T.eq(r.steps, 47)
  T.eq(#r.lrs, 47)
  T.eq(#r.losses, 47)
  T.eq(#r.smoothed, 47)
  for i = 1, 47 do
    local want = formula(1e-5, 0.05, 47, i)
    T.ok(math.abs(r.lrs[i] - want) <= 1e-12 * want, string.format("lr %d: %.17g, formula %.17g", i, r.lrs[i], want))
  end
  T.ok(math.abs(r.lrs[47] - 0.05) <= 1e-12 * 0.05 and r.lrs[1] == 1e-5, "ends at from and to")
  T.ok(loader.epoch >= 5, "the loader ran 5 epochs for 47 steps of 10 batches, epoch " .. loader.epoch)
end)

-- Plain SGD, full batch, on a linear 2-class model: w <- w - lr_i * grad,
-- with the cross-entropy gradient written out in doubles. The loss the
-- sweep records at step i is the loss at the weights after steps 1..i-1,
-- so it tells which lr each step used. The bias is in a group of its own
-- whose lr is `ratio` times the weights', as the sweep must keep it.
local function reference_losses(W, b, x, y, lrs, ratio)
  local losses = {}
  for step = 1, #lrs do
    local n = #x
    local loss, gW, gb = 0, {{0, 0}, {0, 0}}, {0, 0}
    for k = 1, n do
      local z = {}
      for o = 1, 2 do z[o] = W[o][1] * x[k][1] + W[o][2] * x[k][2] + b[o] end
      local m = math.max(z[1], z[2])
      local s = math.exp(z[1] - m) + math.exp(z[2] - m)
      loss = loss - (z[y[k]] - m - math.log(s)) / n
      for o = 1, 2 do
        local d = (math.exp(z[o] - m) / s - (o == y[k] and 1 or 0)) / n
        gW[o][1], gW[o][2] = gW[o][1] + d * x[k][1], gW[o][2] + d * x[k][2]
        gb[o] = gb[o] + d
      end
    end
    losses[step] = loss
    for o = 1, 2 do
      W[o][1], W[o][2] = W[o][1] - lrs[step] * gW[o][1], W[o][2] - lrs[step] * gW[o][2]
      b[o] = b[o] - lrs[step] * ratio * gb[o]
    end
  end
  return losses
end

T.test("each step uses the sweep's lr (against SGD in doubles); groups keep their ratio", function()
  local xs = {{1, 2}, {0.5, -1}, {-1, 0.3}, {2, 1}, {-0.7, -1.5}, {0.2, 0.9}}
  local ys = {1, 2, 2, 1, 2, 1}
  local ds = ol.data.dataset(ol.tensor(xs, "f64"), ys)
  for _, case in ipairs{{ratio = 1}, {ratio = 2.5}} do
    ol.seed(5)
    local net = ol.nn.mlp{sizes = {2, 2}, dtype = "f64"}
    local W, b = net:parameters()[1].tensor:totable(), net:parameters()[2].tensor:totable()
    local opt
    if case.ratio == 1 then
      opt = ol.optim.sgd(net, {lr = 0.3})
    else
      opt = ol.optim.sgd({{params = net:select("weight$"), lr = 0.2},
                          {params = net:select("bias$"), lr = 0.2 * case.ratio}})
    end
    -- A schedule that would freeze the weights: held during the sweep.
    local calls = 0
    opt:schedule("lr", function() calls = calls + 1 return 0 end)
    local loader = ol.data.loader(ds, {batch_size = 6, shuffle = false, dtype = "f64"})
    local r = ol.lr_find{model = net, optimizer = opt, data = loader,
                         from = 0.05, to = 5, steps = 4}
    T.eq(calls, 0, "the schedule ran during the sweep")
    T.eq(r.steps, 4)
    local want = reference_losses(W, b, xs, ys, {0.05, formula(0.05, 5, 4, 2), formula(0.05, 5, 4, 3), 5}, case.ratio)
    for i = 1, 4 do
      T.near(r.losses[i], want[i], 0, "ratio " .. case.ratio .. ", loss at step " .. i, 1e-12)
    end
    -- the steps moved the loss: an lr of 0 (the schedule) would not
    T.ok(math.abs(r.losses[4] - r.losses[1]) > 1e-3, "the loss moved")
    -- and the groups' lrs are back
    if case.ratio == 1 then T.eq(opt.lr, 0.3) else
      T.eq(opt.groups[1].lr, 0.2)
      T.eq(opt.groups[2].lr, 0.2 * case.ratio)
    end
  end
end)

T.test("smoothed is the bias-corrected moving average of the recorded losses", function()
  local ds = blobs()
  for _, beta in ipairs{0.98, 0.7, 0} do
    ol.seed(4)
    local net = ol.nn.mlp{sizes = {2, 8, 3}}
    local opt = ol.optim.adam(net)
    local r = ol.lr_find{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 32}),
                         from = 1e-6, to = 1e-2, steps = 30, smoothing = beta}
    T.eq(#r.smoothed, 30)
    local avg = 0
    for i = 1, #r.losses do
      avg = beta * avg + (1 - beta) * r.losses[i]
      T.near(r.smoothed[i], avg / (1 - beta ^ i), 1e-12 * avg, "beta " .. beta .. ", point " .. i)
      if beta == 0 then T.eq(r.smoothed[i], r.losses[i]) end
    end
  end
end)

T.test("divergence stops the sweep at the first smoothed loss above diverge x its least", function()
  local ds = blobs()
  -- several thresholds and two optimizers (sgd's loss explodes, adam's
  -- climbs): the stop must be at the first point above each
  for _, case in ipairs{{"sgd", 4}, {"sgd", 1.5}, {"sgd", 1.3}, {"sgd", 1.05}, {"adam", 4}, {"adam", 2}, {"adam", 1.1}} do
    local diverge = case[2]
    ol.seed(6)
    local net = ol.nn.mlp{sizes = {2, 16, 3}}
    local opt = ol.optim[case[1]](net, {lr = 0.01})
    local r = ol.lr_find{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 32}),
                         from = 1e-4, to = 1e3, steps = 100, diverge = diverge}
    T.eq(r.stopped, "diverged", case[1] .. ", diverge " .. diverge)
    T.ok(r.steps < 100, "stopped early: " .. r.steps)
    T.eq(#r.lrs, r.steps)
    T.eq(#r.losses, r.steps)
    T.eq(#r.smoothed, r.steps)
    local least = math.huge
    for i = 1, r.steps do
      least = math.min(least, r.smoothed[i])
      local above = r.smoothed[i] > diverge * least
      T.eq(above, i == r.steps, "the stop is at the first point above " .. diverge .. " x the least, point " .. i)
    end
    T.ok(tostring(r):find("(stopped: diverged)", 1, true), tostring(r))
  end
end)

T.test("a step that overflows stops the sweep (nonfinite), nothing raised, all restored", function()
  local ds = blobs()
  ol.seed(6)
  local net = ol.nn.mlp{sizes = {2, 16, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.01})
  local before = snapshot(net, opt)
  -- diverge so large that only a non-finite value ends the sweep
  local r = ol.lr_find{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 32}),
                       from = 1, to = 1e300, steps = 60, diverge = 1e300}
  T.eq(r.stopped, "nonfinite")
  T.ok(r.steps < 60, "stopped early: " .. r.steps)
  for i = 1, r.steps do T.ok(r.losses[i] == r.losses[i] and math.abs(r.losses[i]) < math.huge, "finite loss " .. i) end
  check_same(before, net, opt, "after a non-finite stop")
end)

T.test("Ctrl-C stops the sweep as it stops ol.train (interrupted), all restored", function()
  local ds = blobs()
  ol.seed(6)
  local net = ol.nn.mlp{sizes = {2, 8, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local before = snapshot(net, opt)
  -- SIGINT from a child to this process at the 100th call of a function of
  -- the module (a few steps into the sweep, whose handler then holds it:
  -- pclose returns after it was delivered)
  local pid = assert(io.open("/proc/self/stat")):read("n")
  local calls = 0
  debug.sethook(function()
    local info = debug.getinfo(2, "S")
    if info and info.source == "@optlua/lr_find.lua" then
      calls = calls + 1
      if calls == 100 then assert(io.popen("kill -INT " .. pid)):close() end
    end
  end, "c")
  local ok, r = pcall(ol.lr_find, {model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 32}),
                                   steps = 500, diverge = 1e300})
  debug.sethook()
  T.ok(ok, tostring(r))
  T.ok(calls >= 100, "the signal was sent")
  T.eq(r.stopped, "interrupted")
  T.ok(r.steps > 1 and r.steps < 500, "stopped early: " .. r.steps)
  check_same(before, net, opt, "after Ctrl-C")
end)

-- ---- the suggestion ----

T.test("the suggestion follows the rule, and lies inside the range on a well-behaved problem", function()
  local ds = blobs(1200)
  local seen = 0
  for _, case in ipairs{{"sgd", {lr = 0.1, momentum = 0.9}}, {"adam", {}}, {"sgd", {lr = 0.1}}} do
    ol.seed(7)
    local net = ol.nn.mlp{sizes = {2, 32, 3}}
    local opt = ol.optim[case[1]](net, case[2])
    local r = ol.lr_find{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 32}),
                         from = 1e-6, to = 10, steps = 100}
    local want = expected_suggestion(r.lrs, r.smoothed)
    T.ok(want, case[1] .. ": the smoothed loss falls somewhere")
    T.eq(r.suggestion_index, want, case[1])
    T.eq(r.suggestion, r.lrs[want])
    T.eq(r.reason, nil)
    T.ok(r.suggestion > 1e-6 and r.suggestion < 10, case[1] .. ": suggestion " .. r.suggestion)
    T.ok(want > 10, case[1] .. ": the first tenth is skipped")
    -- the smoothed loss really falls there: below the start, above the least
    T.ok(r.smoothed[want] < r.smoothed[1], case[1])
    seen = seen + 1
  end
  T.eq(seen, 3)
end)

T.test("fewer than 3 points: no suggestion, and the reason", function()
  local ds = blobs()
  local net = ol.nn.mlp{sizes = {2, 8, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local r = ol.lr_find{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 32}), steps = 2}
  T.eq(r.steps, 2)
  T.eq(r.suggestion, nil)
  T.ok(type(r.reason) == "string" and r.reason:find("at least 3", 1, true), tostring(r.reason))
  T.ok(tostring(r):find("no suggestion", 1, true), tostring(r))
end)

T.test("the rule on hand-made curves", function()
  local net = ol.nn.mlp{sizes = {2, 3}}
  local steepest = ol.lr_find{model = net, optimizer = ol.optim.sgd(net), steps = 2,
                              data = ol.data.loader(blobs(), {batch_size = 600})}._steepest
  local lrs = {}
  for i = 1, 20 do lrs[i] = formula(1e-3, 1, 20, i) end
  local curves = {}
  -- (i - 12)^2 down to its minimum at 12 (central differences 4(i - 12)/(2 dx):
  -- steepest at the first candidate, 3), then a blow-up at 17 and a fall
  -- steeper than any before the minimum, (5 - 50)/(2 dx) at 19: not a candidate
  curves.valley = {}
  for i = 1, 16 do curves.valley[i] = (i - 12) ^ 2 end
  curves.valley[17], curves.valley[18], curves.valley[19], curves.valley[20] = 100, 50, 10, 5
  T.eq(steepest(lrs, curves.valley), 3)
  T.eq(expected_suggestion(lrs, curves.valley), 3)
  -- a fall at the start only (within the first tenth, points 1 and 2): skipped
  curves.early = {}
  for i = 1, 20 do curves.early[i] = i <= 2 and 10 - 5 * i or i end
  local index, reason = steepest(lrs, curves.early)
  T.eq(index, nil)
  T.ok(reason:find("first tenth", 1, true), reason)
  -- a straight fall: equal slopes, the first candidate; the one-sided end counts
  curves.line = {}
  for i = 1, 20 do curves.line[i] = -math.log(lrs[i], 10) end
  T.eq(steepest(lrs, curves.line), 3)
  curves.line[20] = curves.line[20] - 1
  T.eq(steepest(lrs, curves.line), 20, "a steeper last step, one-sided")
  T.eq(expected_suggestion(lrs, curves.line), 20)
  -- rising everywhere: none
  curves.rising = {}
  for i = 1, 20 do curves.rising[i] = i end
  T.eq(steepest(lrs, curves.rising), nil)
  T.eq(expected_suggestion(lrs, curves.rising), nil)
  -- two points: none
  T.eq(steepest({1, 2}, {2, 1}), nil)
end)

-- ---- what is restored ----

-- Trains 7 steps, calls between(net, opt, loader) when given, trains 12
-- more: the parameters at the end, the model and the optimizer.
local function seven_then_twelve(make, norm, between)
  local ds = blobs()
  ol.seed(9)
  local net = ol.nn.mlp{sizes = {2, 16, 3}, norm = norm}
  local opt = make(net)
  local loader = ol.data.loader(ds, {batch_size = 32, shuffle = true})
  ol.train{model = net, optimizer = opt, data = loader, max_steps = 7, progress = false}
  if between then between(net, opt, loader) end
  ol.train{model = net, optimizer = opt, data = loader, max_steps = 12, progress = false}
  return net:params():clone(), net, opt
end

local function restore_case(name, make, norm)
  local function sweep(net, opt, loader)
    -- some training first: state, t, running estimates all non-trivial
    local before = snapshot(net, opt)
    local nstate = 0
    for _ in pairs(before.state) do nstate = nstate + 1 end
    T.ok(nstate > 0 and before.t == 7, name .. ": state and t after 7 steps")
    T.ok(#before.buffers == (norm and 2 or 0), name .. ": batch norm's running estimates")
    local draws = ol.rand(6):totable()
    ol._rng_set_state(before.rng)
    local r = ol.lr_find{model = net, optimizer = opt, data = loader, from = 1e-5, to = 10, steps = 40}
    T.ok(r.steps >= 3, name .. ": a sweep ran")
    check_same(before, net, opt, name)
    -- the same draws after lr_find as before it
    same_bits(draws, ol.rand(6):totable(), name .. ": the RNG's next draws")
    ol._rng_set_state(before.rng)
  end
  -- and training goes on as if lr_find had not run (its shuffles included)
  local plain = seven_then_twelve(make, norm)
  local swept, net, opt = seven_then_twelve(make, norm, sweep)
  same_bits(plain, swept, name .. ": 12 steps after lr_find")
  return net, opt
end

T.test("model, buffers, state, options, t and RNG bit-identical after: sgd with momentum, batch norm", function()
  restore_case("sgd", function(net) return ol.optim.sgd(net, {lr = 0.05, momentum = 0.9, nesterov = true}) end, "batch")
end)

T.test("... adam", function()
  restore_case("adam", function(net) return ol.optim.adam(net, {lr = 3e-3, weight_decay = 1e-4}) end, "batch")
end)

T.test("... two parameter groups (net:select), each lr back", function()
  local net, opt = restore_case("groups", function(net)
    return ol.optim.adamw({{params = net:select("weight$"), lr = 2e-3},
                           {params = net:select("bias$"), lr = 5e-4, weight_decay = 0}})
  end, "batch")
  T.eq(opt.groups[1].lr, 2e-3)
  T.eq(opt.groups[2].lr, 5e-4)
end)

T.test("... schedule-free adamw (state z and v, its weights; train mode)", function()
  local _, opt = restore_case("sf_adamw", function(net) return ol.optim.sf_adamw(net, {warmup_steps = 5}) end)
  T.eq(opt.mode, "train")
end)

T.test("... lookahead over sgd (the inner's lr swept)", function()
  restore_case("lookahead", function(net)
    return ol.optim.lookahead(ol.optim.sgd(net, {lr = 0.05, momentum = 0.9}), {k = 3})
  end)
end)

T.test("a schedule attached before is held during the sweep and applied after it", function()
  local ds = blobs()
  ol.seed(10)
  local net = ol.nn.mlp{sizes = {2, 8, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.1, momentum = 0.9})
  local calls = 0
  opt:schedule("lr", function(t) calls = calls + 1 return 0.01 * t end)
  opt:schedule("momentum", ol.schedule.linear{from = 0.5, to = 0.9, steps = 10})
  local loader = ol.data.loader(ds, {batch_size = 32})
  ol.train{model = net, optimizer = opt, data = loader, max_steps = 2, progress = false}
  T.eq(calls, 2)
  T.near(opt.lr, 0.02, 1e-15)
  local r = ol.lr_find{model = net, optimizer = opt, data = loader, from = 1e-4, to = 1, steps = 20}
  T.eq(calls, 2, "no schedule call during the sweep")
  T.eq(r.steps, 20)
  T.near(opt.lr, 0.02, 1e-15, "lr as before the sweep")
  T.eq(opt.t, 2)
  -- one more step: the schedules run again, at step 3
  ol.train{model = net, optimizer = opt, data = loader, max_steps = 1, progress = false}
  T.eq(calls, 3)
  T.near(opt.lr, 0.03, 1e-15, "the lr schedule applied after lr_find")
  T.near(opt.momentum, 0.5 + 0.4 * 2 / 10, 1e-15, "the momentum schedule too")
  -- opt:step's path as well
  net:evaluate(ds.x:narrow(1, 1, 8), {1, 2, 3, 1, 2, 3, 1, 2}, "cross_entropy")
  opt:step()
  T.eq(calls, 4)
  T.near(opt.lr, 0.04, 1e-15)
end)

T.test("an error in the sweep restores everything and is raised", function()
  local ds = blobs()
  ol.seed(11)
  local net = ol.nn.mlp{sizes = {2, 8, 3}, norm = "batch"}
  local opt = ol.optim.sgd(net, {lr = 0.1, momentum = 0.9})
  local loader = ol.data.loader(ds, {batch_size = 32})
  ol.train{model = net, optimizer = opt, data = loader, max_steps = 3, progress = false}
  local other = ol.nn.mlp{sizes = {2, 8, 3}} -- drawn before the snapshot of the RNG
  local before = snapshot(net, opt)
  -- a loss ol.train refuses after the snapshot: named under lr_find
  T.raises("bad argument #1 to 'lr_find' (option 'loss'", ol.lr_find,
           {model = net, optimizer = opt, data = loader, loss = "hinge"})
  check_same(before, net, opt, "after a refused loss")
  T.raises("bad argument #1 to 'lr_find' (option 'label_smoothing'", ol.lr_find,
           {model = net, optimizer = opt, data = loader, loss_options = {label_smoothing = 2}})
  check_same(before, net, opt, "after refused loss options")
  T.raises("option 'optimizer'", ol.lr_find,
           {model = other, optimizer = opt, data = loader})
  check_same(before, net, opt, "after an optimizer of another model")
end)

T.test("the snapshot's temporary file is removed, after a sweep and after an error", function()
  local ds = blobs()
  local net = ol.nn.mlp{sizes = {2, 8, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local loader = ol.data.loader(ds, {batch_size = 32})
  local made, tmpname = {}, os.tmpname
  os.tmpname = function() local p = tmpname() made[#made + 1] = p return p end
  local ok, err = pcall(function()
    ol.lr_find{model = net, optimizer = opt, data = loader, steps = 5}
    T.raises("option 'loss'", ol.lr_find, {model = net, optimizer = opt, data = loader, loss = "hinge"})
  end)
  os.tmpname = tmpname
  if not ok then error(err, 0) end
  T.eq(#made, 2, "one snapshot per call")
  for _, p in ipairs(made) do T.ok(io.open(p, "rb") == nil, p .. " left behind") end
end)

-- ---- errors ----

T.test("bad options: each named, under lr_find, before anything runs", function()
  local ds = blobs()
  local net = ol.nn.mlp{sizes = {2, 8, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local loader = ol.data.loader(ds, {batch_size = 32})
  local function with(extra)
    local o = {model = net, optimizer = opt, data = loader}
    for k, v in pairs(extra) do o[k] = v end
    return o
  end
  local t0 = opt.t
  local cases = {
    {{from = 0}, "option 'from' must be > 0"},
    {{from = -1}, "option 'from' must be > 0"},
    {{to = 1e-8}, "option 'to' (1e-08) must be greater than option 'from' (1e-07)"},
    {{from = 1, to = 1}, "option 'to' (1) must be greater than option 'from' (1)"},
    {{from = 0 / 0}, "option 'from'"},
    {{to = math.huge}, "option 'to'"},
    {{from = 1e-300, to = 1e300}, "options 'from' (1e-300) and 'to' (1e+300): their ratio is beyond"},
    {{steps = 1}, "option 'steps' must be >= 2"},
    {{steps = 2.5}, "option 'steps' must be an integer"},
    {{smoothing = 1}, "option 'smoothing' must be"},
    {{smoothing = -0.1}, "option 'smoothing' must be"},
    {{diverge = 1}, "option 'diverge' must be > 1"},
    {{diverge = 0 / 0}, "option 'diverge'"},
    {{progress = "yes"}, "option 'progress'"},
    {{loss = 3}, "option 'loss'"},
    {{model = 3}, "option 'model' must be a model, got 3"},
    {{optimizer = net}, "option 'optimizer' must be an optimizer, got optlua.model"},
    {{data = ds}, "option 'data' must be a loader"},
    {{optimizer = ol.optim.lbfgs(net)}, "option 'optimizer': lbfgs needs a closure"},
    {{step = 10}, "unknown option 'step'; did you mean 'steps'?"},
    {{form = 1e-6}, "unknown option 'form'; did you mean 'from'?"},
  }
  for _, c in ipairs(cases) do
    local err = T.raises(c[2], ol.lr_find, with(c[1]))
    T.ok(err:find("bad argument #1 to 'lr_find'", 1, true), err)
  end
  T.raises("bad argument #1 to 'lr_find' (option 'model' is required)", ol.lr_find, {optimizer = opt, data = loader})
  T.raises("bad argument #1 to 'lr_find' (options table expected", ol.lr_find, 5)
  -- the error points at the caller's line
  local err = T.raises("bad argument", ol.lr_find, with{steps = 0})
  T.ok(not err:find("lr_find.lua", 1, true), "the position is the caller's, not the module's: " .. err)
  T.eq(opt.t, t0, "nothing ran")
  -- a model whose group 1 has lr 0 gives the other groups no ratio
  local g = ol.optim.sgd({{params = net:select("weight$"), lr = 0}, {params = net:select("bias$"), lr = 0.1}})
  T.raises("group 1's lr is 0", ol.lr_find, with{optimizer = g})
end)

-- ---- tostring and the plot ----

T.test("tostring: steps, range, suggestion", function()
  local ds = blobs(1200)
  ol.seed(7)
  local net = ol.nn.mlp{sizes = {2, 32, 3}}
  local opt = ol.optim.adam(net)
  local r = ol.lr_find{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 32}),
                       from = 1e-6, to = 10, steps = 100}
  local s = tostring(r)
  local want = string.format("lr_find: %d steps%s, 1e-06 -> %.3g, suggestion %.2e", r.steps,
                             r.stopped and (" (stopped: " .. r.stopped .. ")") or "", r.lrs[#r.lrs], r.suggestion)
  T.eq(s, want)
  -- help: the function's entry, by value and by name, and the result's
  local text = ol.help.text(ol.lr_find)
  T.ok(text:find("^ol%.lr_find{model, optimizer, data"), text)
  T.eq(ol.help.text("lr_find"), text)
  T.eq(ol.help.text(r), text .. "\n  this one: " .. s)
end)

T.test("progress = true: a line at step 1 and every tenth of the steps, then the summary", function()
  local ds = blobs()
  local net = ol.nn.mlp{sizes = {2, 8, 3}}
  local opt = ol.optim.adam(net)
  local lines, print0 = {}, print
  print = function(...) lines[#lines + 1] = table.concat({...}, "\t") end
  local ok, r = pcall(ol.lr_find, {model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 32}),
                                   from = 1e-5, to = 1e-2, steps = 40, progress = true})
  print = print0
  T.ok(ok, tostring(r))
  T.eq(r.stopped, nil)
  -- steps 1, 4, 8, ..., 40 (a tenth of 40 is 4), then the summary
  T.eq(#lines, 12, table.concat(lines, "\n"))
  for k, i in ipairs{1, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40} do
    T.ok(lines[k]:find(string.format("^lr_find: step %d/40  lr %%S+  loss %%S+  smoothed %%S+$", i)), lines[k])
    T.ok(lines[k]:find(string.format("lr %.3e  loss %.4f  smoothed %.4f", r.lrs[i], r.losses[i], r.smoothed[i]),
                       1, true), lines[k])
  end
  T.eq(lines[12], tostring(r))
  -- and none by default
  lines = {}
  print = function(...) lines[#lines + 1] = table.concat({...}, "\t") end
  ok, r = pcall(ol.lr_find, {model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 32}), steps = 5})
  print = print0
  T.ok(ok, tostring(r))
  T.eq(#lines, 0)
end)

T.test("r:plot writes a PNG", function()
  if not ol.plot.available() then T.skip("gnuplot not found (apt-get install gnuplot-nox)") end
  local ds = blobs()
  ol.seed(7)
  local net = ol.nn.mlp{sizes = {2, 16, 3}}
  local opt = ol.optim.sgd(net, {lr = 0.1, momentum = 0.9})
  local r = ol.lr_find{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 32}), to = 1e3}
  local path, dir = T.scratch()
  local file = r:plot(path("lr.png"))
  T.eq(file, path("lr.png"))
  local png = T.read_file(file)
  T.eq(png:sub(1, 8), "\137PNG\r\n\26\n", "PNG signature")
  T.ok(#png > 5000, "a picture, " .. #png .. " bytes")
  T.raises("bad argument #1 to 'plot' (picture file name expected)", r.plot, r, 42)
  T.raises("unknown option 'titel'", r.plot, r, path("x.png"), {titel = "x"})
  os.remove(file)
  os.remove(dir)
end)

T.run()
