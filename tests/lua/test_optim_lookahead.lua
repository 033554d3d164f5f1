-- ol.optim.lookahead from Lua: the rule against a reference written here
-- in Lua's doubles (inner sgd with momentum and adam, k = 3, alpha = 0.5),
-- one sync by hand, the forwarding of options, schedules and modes to the
-- inner optimizer, a closure method as inner, ol.train, checkpoints
-- (resumed bit for bit, refused for another inner), and the errors. The
-- engine's own test is tests/engine/test_optim_lookahead.c.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local path = T.scratch()("lookahead.safetensors")

-- g_i = a_i (w_i - c_i) + w_i^3 / 10, a quadratic with a quartic term
local A = {0.5, 0.8, 1.1, 1.4, 1.7}
local C = {1, 0.75, 0.5, 1, 0.75}
local W0 = {0.8, 0.43, 0.06, -0.31, -0.68}
local function grad_of(w)
  local g = {}
  for i = 1, #w do g[i] = A[i] * (w[i] - C[i]) + w[i] ^ 3 / 10 end
  return g
end

-- The reference: the inner's rule (torch.optim.SGD, dampening 0; torch.optim.Adam)
-- and the lookahead's, in Lua numbers.
local function reference(kind, steps, k, alpha)
  local w, phi, m, v = {}, {}, {}, {}
  for i = 1, #W0 do w[i], phi[i], m[i], v[i] = W0[i], W0[i], 0, 0 end
  local out = {}
  for t = 1, steps do
    local g = grad_of(w)
    for i = 1, #w do
      if kind == "sgd" then
        m[i] = t == 1 and g[i] or 0.9 * m[i] + g[i]
        w[i] = w[i] - 0.05 * m[i]
      else
        m[i] = 0.9 * m[i] + 0.1 * g[i]
        v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
        local mh, vh = m[i] / (1 - 0.9 ^ t), v[i] / (1 - 0.999 ^ t)
        w[i] = w[i] - 0.02 * mh / (math.sqrt(vh) + 1e-8)
      end
    end
    if t % k == 0 then
      for i = 1, #w do
        phi[i] = phi[i] + alpha * (w[i] - phi[i])
        w[i] = phi[i]
      end
    end
    out[t] = {w = {table.unpack(w)}, phi = {table.unpack(phi)}}
  end
  return out
end

T.test("the rule against a double-precision reference: sgd with momentum and adam, k = 3", function()
  for _, kind in ipairs{"sgd", "adam"} do
    local ref = reference(kind, 10, 3, 0.5)
    for _, dt in ipairs{"f64", "f32"} do
      local tol = dt == "f64" and 1e-12 or 1e-5
      local w = ol.tensor(W0, dt)
      local inner = kind == "sgd" and ol.optim.sgd(w, {lr = 0.05, momentum = 0.9})
                    or ol.optim.adam(w, {lr = 0.02})
      local la = ol.optim.lookahead(inner, {k = 3, alpha = 0.5})
      for t = 1, 10 do
        la:step(ol.tensor(grad_of(w:totable()), dt))
        T.near_all(w, ref[t].w, tol, kind .. " " .. dt .. " w at step " .. t)
        T.near_all(la:state().slow_weights, ref[t].phi, tol, kind .. " " .. dt .. " slow weights at step " .. t)
        T.eq(la.t, t)
        T.eq(inner.t, t, "the inner steps with it")
      end
    end
  end
end)

T.test("one sync by hand: sgd lr 0.1 on g = w, k = 2, alpha = 0.25", function()
  local w = ol.tensor({1}, "f64")
  local la = ol.optim.lookahead(ol.optim.sgd(w, {lr = 0.1}), {k = 2, alpha = 0.25})
  T.near_all(la:state().slow_weights, {1}, 0, "the slow weights start at w")
  la:step(w:clone())
  T.near(w[1], 0.9, 1e-15)
  T.near(la:state().slow_weights[1], 1, 0, "no sync after one step")
  la:step(w:clone()) -- w = 0.81, then phi = 1 + 0.25 (0.81 - 1) = 0.9525 = w
  T.near(w[1], 0.9525, 1e-15)
  T.near(la:state().slow_weights[1], 0.9525, 1e-15)
end)

T.test("fields: own options, the inner's by name, inner, state, tostring, reset", function()
  local w = ol.zeros(4, "f64")
  local inner = ol.optim.adam(w, {lr = 0.01})
  local la = ol.optim.lookahead(inner)
  T.eq(la.k, 5)
  T.eq(la.alpha, 0.5)
  T.eq(la.name, "lookahead")
  T.ok(rawequal(la.inner, inner), "opt.inner is the inner optimizer")
  T.ok(rawequal(la.params, inner.params), "the same parameters")
  T.eq(la.lr, 0.01, "an option the wrapper lacks reads the inner's")
  la.lr = 0.02
  T.eq(inner.lr, 0.02, "and sets it")
  la.alpha = 0.75
  T.eq(la.alpha, 0.75)
  T.eq(inner.betas[1], 0.9)
  T.ok(tostring(la):find("^lookahead{k=5, alpha=0.75} f64, 4 parameters, t = 0, over adam$"), tostring(la))
  local st = la:state()
  T.ok(st.slow_weights and not st.exp_avg, "opt:state() holds the slow weights")
  T.ok(la.inner:state().exp_avg, "opt.inner:state() the inner's")
  for _ = 1, 3 do la:step(ol.ones(4, "f64")) end
  la:reset()
  T.eq(la.t, 0)
  T.eq(inner.t, 0, "reset resets the inner too")
  T.near_all(inner:state().exp_avg, {0, 0, 0, 0}, 0)
  T.eq(ol.optim.kind("lookahead"), "wrapper")
  local listed = false
  for _, n in ipairs(ol.optim.list()) do listed = listed or n == "lookahead" end
  T.ok(listed, "ol.optim.list() names lookahead")
  T.eq(ol.optim.defaults("lookahead").k, 5)
  T.raises("unknown option 'lrr' for adam", function() la.lrr = 1 end)
  T.raises("field 'inner' is read-only", function() la.inner = inner end)
end)

T.test("schedules: on the wrapper's own options and, by name, on the inner's", function()
  local w = ol.zeros(2, "f64")
  local inner = ol.optim.sgd(w, {lr = 1})
  local la = ol.optim.lookahead(inner, {k = 100})
  la:schedule("lr", function(t) return 1 / t end)
  la:schedule("alpha", function(t) return t == 2 and 0.25 or 0.5 end)
  la:step(ol.ones(2, "f64"))
  T.eq(inner.lr, 1)
  la:step(ol.ones(2, "f64"))
  T.eq(inner.lr, 0.5, "the inner's schedule ran at its step 2")
  T.eq(la.alpha, 0.25)
  T.near_all(w, {-1.5, -1.5}, 1e-15)
  -- a new k is compared with the steps counted since the last sync
  la.k = 3
  la:step(ol.ones(2, "f64")) -- third step: a sync with alpha 0.5 from phi = 0
  T.near_all(w, {-(1 + 0.5 + 1 / 3) / 2, -(1 + 0.5 + 1 / 3) / 2}, 1e-15)
end)

T.test("a schedule-free inner: eval and train are the inner's", function()
  local w = ol.tensor({1, -2}, "f64")
  local inner = ol.optim.sf_sgd(w, {lr = 0.1})
  local la = ol.optim.lookahead(inner, {k = 2})
  for _ = 1, 3 do la:step(ol.tensor({0.3, -0.1}, "f64")) end
  local y = w:clone()
  T.ok(rawequal(la:eval(), la))
  T.eq(la.mode, "eval")
  T.eq(inner.mode, "eval")
  T.raises("eval mode", la.step, la, ol.tensor({0.3, -0.1}, "f64"))
  la:train()
  T.eq(inner.mode, "train")
  T.near_all(w, y:totable(), 1e-12, "back at y")
  T.eq(la.t, 3)
end)

T.test("a closure method as inner (lbfgs): k = 1 halves the way to lbfgs's point", function()
  local function f(w)
    local t = w:totable()
    local loss, g = 0, {}
    for i = 1, #t do
      loss = loss + 0.5 * A[i] * (t[i] - C[i]) ^ 2
      g[i] = A[i] * (t[i] - C[i])
    end
    return loss, ol.tensor(g, "f64")
  end
  local w1 = ol.tensor(W0, "f64")
  local plain = ol.optim.lbfgs(w1, {max_iter = 3})
  plain:step(function() return f(w1) end)
  local w2 = ol.tensor(W0, "f64")
  local la = ol.optim.lookahead(ol.optim.lbfgs(w2, {max_iter = 3}), {k = 1, alpha = 0.5})
  local loss = la:step(function() return f(w2) end)
  T.ok(type(loss) == "number", "the step returns the loss")
  local want = {}
  for i = 1, #W0 do want[i] = W0[i] + 0.5 * (w1[i] - W0[i]) end
  T.near_all(w2, want, 1e-12)
  T.eq(la.t, 1)
  T.eq(la.inner.t, 1)
end)

local function setup(name)
  ol.seed(11)
  local ds = ol.data.synthetic{kind = "blobs", n = 60, classes = 3, dtype = "f64"}
  local net = ol.nn.mlp{sizes = {2, 8, 3}, activation = "tanh", dtype = "f64"}
  local inner = ol.optim[name or "adam"](net, {lr = 0.01})
  local la = ol.optim.lookahead(inner, {k = 3, alpha = 0.5})
  la:schedule("lr", function(t) return 0.01 * (1 + 2 / t) end) -- the inner's lr
  return net, la, ol.data.loader(ds, {batch_size = 16, shuffle = true, dtype = "f64"}), ds
end

local function same(a, b, what)
  local x, y = a:totable(), b:totable()
  T.eq(#x, #y, what .. ": length")
  for i = 1, #x do
    if x[i] ~= y[i] then
      error(string.format("%s: element %d differs: %.17g vs %.17g", what, i, x[i], y[i]), 2)
    end
  end
end

T.test("ol.train drives lookahead(adam): the loss falls, both count the steps", function()
  local net, la, loader, ds = setup()
  local before = net:loss(ds.x, ds.y)
  local r = ol.train{model = net, optimizer = la, data = loader, epochs = 10, progress = false}
  T.eq(la.t, 40, "4 batches x 10 epochs")
  T.eq(la.inner.t, 40)
  T.ok(r.loss < before, ("loss %g, before %g"):format(r.loss, before))
  T.near(la.inner.lr, 0.01 * (1 + 2 / 40), 1e-15, "the inner's schedule ran in ol.train")
  -- after 40 = 13 * 3 + 1 steps, the last sync was at step 39
  local phi, w = la:state().slow_weights, net:params()
  T.ok(phi:totable()[1] ~= w:totable()[1], "one step after the sync")
end)

T.test("checkpoint mid-run, restore, continue = uninterrupted, bit for bit", function()
  local net, la, loader = setup()
  ol.train{model = net, optimizer = la, data = loader, epochs = 2, progress = false} -- t = 8
  ol.save(path, {model = net, optimizer = la})
  ol.train{model = net, optimizer = la, data = loader, epochs = 3, progress = false}
  local net2, la2, loader2 = setup()
  la2.k = 4 -- the file's k and alpha replace the live ones
  local ck = ol.load(path)
  T.eq(ck.optimizer.name, "lookahead")
  T.eq(ck.optimizer.options.k, 3)
  T.eq(ck.optimizer.scalars[1], 2, "8 steps: 2 since the sync at step 6")
  T.eq(ck.optimizer.inner.name, "adam", "ck.optimizer.inner: the inner's part of the file")
  T.eq(ck.optimizer.inner.t, 8)
  T.ok(ck.tensors["optim.state.slow_weights"] and ck.tensors["optim.inner.state.exp_avg"])
  ck:restore(net2, la2)
  T.eq(la2.t, 8)
  T.eq(la2.inner.t, 8)
  T.eq(la2.k, 3)
  ol.train{model = net2, optimizer = la2, data = loader2, epochs = 3, progress = false}
  same(net2:params(), net:params(), "parameters")
  same(la2:state().slow_weights, la:state().slow_weights, "slow weights")
  same(la2.inner:state().exp_avg, la.inner:state().exp_avg, "inner exp_avg")
  same(la2.inner:state().exp_avg_sq, la.inner:state().exp_avg_sq, "inner exp_avg_sq")
  T.eq(la2.t, la.t)
end)

T.test("a checkpoint of lookahead(adam) is refused by lookahead(sgd) and by adam", function()
  local net, la = setup()
  la:step(function() return net:evaluate(ol.zeros(1, 2, "f64"), ol.tensor({1}, "f64")) end)
  ol.save(path, {model = net, optimizer = la})
  local ck = ol.load(path)
  local net2, sgd_la = setup("sgd")
  T.raises("holds a lookahead over adam, not over sgd", ck.restore, ck, net2, sgd_la)
  T.eq(sgd_la.t, 0, "nothing changed")
  T.raises("holds a lookahead over adam optimizer, not adam", ck.restore, ck, net2, la.inner)
  ol.save(path, {model = net, optimizer = la.inner})
  T.raises("holds a adam optimizer, not lookahead over sgd", ol.load(path).restore,
           ol.load(path), net2, sgd_la)
end)

T.test("errors: bad k and alpha, wrapping a lookahead, a freed inner, other parameters", function()
  local w = ol.zeros(3)
  local inner = ol.optim.sgd(w)
  T.raises("bad argument #2 to 'lookahead' (option 'k' must be >= 1, got 0)", ol.optim.lookahead, inner, {k = 0})
  T.raises("option 'k' must be an integer >= 1, got 2.5", ol.optim.lookahead, inner, {k = 2.5})
  T.raises("option 'alpha' must be in [0, 1], got 1.5", ol.optim.lookahead, inner, {alpha = 1.5})
  T.raises("option 'alpha' must be in [0, 1], got -1", ol.optim.lookahead, inner, {alpha = -1})
  T.raises("unknown option 'lr': it is an option of the inner optimizer (sgd)", ol.optim.lookahead,
           inner, {lr = 1})
  T.raises("bad argument #1 to 'lookahead' (optimizer expected, got optlua.tensor)", ol.optim.lookahead, w)
  local la = ol.optim.lookahead(inner, {k = 2})
  T.raises("option 'k' must be an integer >= 1, got 1.5", function() la.k = 1.5 end)
  T.raises("option 'alpha' must be in [0, 1], got 2", function() la.alpha = 2 end)
  T.eq(la.k, 2)
  -- wrapping a lookahead is refused: its inner is what to wrap
  T.raises("lookahead cannot wrap lookahead, itself a wrapper: wrap its inner optimizer (sgd) instead",
           ol.optim.lookahead, la)
  -- the inner cannot be freed while a lookahead wraps it; once the wrapper
  -- is freed it can, and then it cannot be wrapped
  local gc = debug.getmetatable(inner).__gc
  T.raises("cannot free the optimizer while a lookahead wraps it", gc, inner)
  la:step(ol.ones(3))
  gc(la)
  T.raises("optimizer used after it was freed", function() la:step(ol.ones(3)) end)
  gc(inner)
  T.raises("bad argument #1 to 'lookahead' (the inner optimizer was freed)", ol.optim.lookahead, inner)
  -- under ol.train, the inner must update the model's own parameters
  local net = ol.nn.mlp{sizes = {2, 3}, dtype = "f64"}
  local other = ol.nn.mlp{sizes = {2, 3}, dtype = "f64"}
  local ds = ol.data.synthetic{kind = "blobs", n = 12, classes = 3, dtype = "f64"}
  local bad = ol.optim.lookahead(ol.optim.adam(other))
  T.raises("option 'optimizer' updates other parameters than the model's", ol.train,
           {model = net, optimizer = bad, data = ol.data.loader(ds, {dtype = "f64"}), progress = false})
end)

-- ol.train's on_nonfinite = "skip" undoes a bad step of the pair: the
-- slow weights, the counter and the inner's state too. Six samples, batch
-- size 1; sample 3 is far out, and the inner's lr is 1.7e308 at its first
-- attempt at step 3, so that step overflows (as in test_train_hostile.lua).
local XS = {{0.5, -1}, {1.5, 0.25}, {1000, -1000}, {0.1, 0.9}, {-1.2, -0.3}, {0.8, -0.6}}
local YS = {1, 2, 3, 1, 2, 3}
local function hostile(keep, huge)
  local x, y = {}, {}
  for i = 1, 6 do
    if keep(i) then x[#x + 1] = XS[i]; y[#y + 1] = YS[i] end
  end
  ol.seed(4)
  local net = ol.nn.mlp{sizes = {2, 8, 3}, activation = "relu", dtype = "f64"}
  local la = ol.optim.lookahead(ol.optim.sgd(net, {lr = 0.1, momentum = 0.9}), {k = 2})
  if huge then
    local given = false
    la:schedule("lr", function(t) -- the inner's lr
      if t == 3 and not given then given = true; return 1.7e308 end
      return 0.1
    end)
  end
  local ds = ol.data.dataset(ol.tensor(x, "f64"), ol.tensor(y, "f64"))
  return net, la, ol.data.loader(ds, {batch_size = 1, shuffle = false, dtype = "f64"})
end

T.test("ol.train with on_nonfinite = 'skip' undoes the pair's step, inner state included", function()
  local net, la, loader = hostile(function() return true end, true)
  local s = ol.train{model = net, optimizer = la, data = loader, progress = false, on_nonfinite = "skip"}
  T.eq(s.skipped, 1)
  T.eq(la.t, 5)
  T.eq(la.inner.t, 5)
  local ref, rla, rl = hostile(function(i) return i ~= 3 end)
  ol.train{model = ref, optimizer = rla, data = rl, progress = false}
  same(net:params(), ref:params(), "parameters")
  same(la:state().slow_weights, rla:state().slow_weights, "slow weights")
  same(la.inner:state().momentum_buffer, rla.inner:state().momentum_buffer, "momentum buffer")
end)

T.run()
