-- opt:schedule(field, f): the field is resolved when the schedule is
-- attached ("lr", a whole pair "betas", one element "betas[2]"); before
-- every step each schedule's f is called once with t, the step about to be
-- taken (from 1; under ol.train, the loop's step number), and its value is
-- stored through the same checks as an assignment. Expected values are
-- computed here from the rules (Adam's update written out).
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = optlua or require("optlua")

local function vec(t) return ol.tensor(t, "f64") end

-- Adam on one weight with gradient gs[t] at step t, betas changing per
-- step: torch.optim.Adam's rule, whose bias corrections 1 - beta^t take the
-- betas in force at step t, in plain Lua.
local function adam_ref(w, gs, lr, eps, b1s, b2s)
  local m, v = 0, 0
  for t = 1, #b1s do
    local b1, b2, g = b1s[t], b2s[t], gs[t]
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    w = w - lr / (1 - b1 ^ t) * m / (math.sqrt(v) / math.sqrt(1 - b2 ^ t) + eps)
  end
  return w
end

T.test("betas[2]: f(t) on one element, the other kept, t = 1, 2, 3", function()
  local w = vec({1})
  local opt = ol.optim.adam(w, {lr = 0.1, betas = {0.7, 0.999}})
  local ts = {}
  opt:schedule("betas[2]", function(t) ts[#ts + 1] = t; return 0.9 + 0.02 * t end)
  local gs = {0.5, -0.3, 0.8}
  for t = 1, 3 do opt:step(vec({gs[t]})) end
  T.eq(table.concat(ts, ","), "1,2,3")
  T.eq(opt.betas[1], 0.7)
  T.near(opt.betas[2], 0.96, 1e-15)
  local want = adam_ref(1, gs, 0.1, 1e-8, {0.7, 0.7, 0.7}, {0.92, 0.94, 0.96})
  local other = adam_ref(1, gs, 0.1, 1e-8, {0.7, 0.7, 0.7}, {0.999, 0.999, 0.999})
  T.ok(math.abs(want - other) > 1e-6, "the schedule must make a difference here")
  T.near(w[1], want, 1e-12, "w after three steps")
end)

T.test("a bad value names the option, the element and the step; nothing changes", function()
  local w = vec({1})
  local opt = ol.optim.adam(w, {lr = 0.1})
  opt:schedule("betas[2]", function(t) return t < 3 and 0.95 or 1.5 end)
  opt:step(vec({1})); opt:step(vec({1}))
  local before = w[1]
  T.raises("schedule: adam: option 'betas' element 2 must be in [0, 1), got 1.5 (step 3)",
           opt.step, opt, vec({1}))
  T.eq(opt.t, 2, "the step was not taken")
  T.eq(w[1], before)
  T.eq(opt.betas[2], 0.95, "the last good value stays")
  opt:schedule("betas[2]", function() return "0.9" end)
  T.raises("schedule: adam: option 'betas' element 2 must be a number, got string (step 3)",
           opt.step, opt, vec({1}))
  opt:schedule("betas[2]", nil)
  opt:schedule("betas", function() return {0.9} end)
  T.raises("schedule: adam: option 'betas' must be a pair {a, b}, got table (step 3)",
           opt.step, opt, vec({1}))
  opt:schedule("betas", nil)
  opt:schedule("lr", function(t) return -t end)
  T.raises("schedule: adam: option 'lr' must be >= 0, got -3 (step 3)", opt.step, opt, vec({1}))
  opt:schedule("lr", function() return true end)
  T.raises("schedule: adam: option 'lr' must be a number, got boolean (step 3)", opt.step, opt, vec({1}))
  opt:schedule("amsgrad", function() return 1 end)
  opt:schedule("lr", nil)
  T.raises("schedule: adam: option 'amsgrad' must be a boolean, got number (step 3)", opt.step, opt, vec({1}))
  opt:schedule("amsgrad", nil)
  -- the rules between options: rprop's etas must straddle 1
  local r = ol.optim.rprop(vec({0}))
  r:schedule("etas[1]", function(t) return 0.5 + 0.25 * t end)
  r:step(vec({1}))
  T.raises("(step 2)", r.step, r, vec({1}))
  T.eq(r.etas[1], 0.75)
  -- an error inside the schedule itself propagates as it is
  opt:schedule("lr", function() error("no lr today") end)
  T.raises("no lr today", opt.step, opt, vec({1}))
end)

T.test("attached before or after an assignment: the element alone is scheduled", function()
  local opt = ol.optim.adam(vec({0}))
  opt:schedule("betas[2]", function(t) return 0.9 + t / 100 end)
  opt.betas = {0.5, 0.6}              -- after attaching: element 1 is the user's
  opt:step(vec({1}))
  T.eq(opt.betas[1], 0.5)
  T.near(opt.betas[2], 0.91, 1e-15)
  opt.betas = {0.7, 0.8}
  opt:schedule("betas[1]", function() return 0.25 end)  -- attached after
  opt:step(vec({1}))
  T.eq(opt.betas[1], 0.25)
  T.near(opt.betas[2], 0.92, 1e-15)
  -- an assignment between steps is overwritten at the next step, for the scheduled element only
  opt.betas = {0.3, 0.4}
  T.eq(opt.betas[2], 0.4)
  opt:schedule("betas[1]", nil)
  opt:step(vec({1}))
  T.eq(opt.betas[1], 0.3)
  T.near(opt.betas[2], 0.93, 1e-15)
end)

T.test("schedules run in the order attached; re-attaching replaces in place, nil removes", function()
  local opt = ol.optim.adam(vec({0}))
  local calls = {}
  local function rec(name, v) return function() calls[#calls + 1] = name; return v end end
  opt:schedule("betas", rec("pair", {0.5, 0.5}))
  opt:schedule("betas[2]", rec("b2", 0.9))
  opt:schedule("lr", rec("lr", 0.01))
  opt:step(vec({1}))
  T.eq(table.concat(calls, ","), "pair,b2,lr")
  T.eq(opt.betas[1], 0.5); T.eq(opt.betas[2], 0.9, "the element, attached later, wins")
  calls = {}
  opt:schedule("betas", rec("pair2", {0.6, 0.6}))   -- keeps its place, first
  opt:step(vec({1}))
  T.eq(table.concat(calls, ","), "pair2,b2,lr")
  T.eq(opt.betas[1], 0.6); T.eq(opt.betas[2], 0.9)
  calls = {}
  opt:schedule("betas[2]", nil)                     -- the middle one goes
  opt:step(vec({1}))
  T.eq(table.concat(calls, ","), "pair2,lr")
  T.eq(opt.betas[2], 0.6)
  calls = {}
  opt:schedule("betas[2]", rec("b2again", 0.8))     -- back, now last
  opt:schedule("eps", nil)                          -- removing what is not there: nothing
  opt:step(vec({1}))
  T.eq(table.concat(calls, ","), "pair2,lr,b2again")
  T.eq(opt.betas[2], 0.8)
  T.eq(opt.lr, 0.01)
end)

T.test("every field at once: each option and each element of each pair", function()
  local opt = ol.optim.muon(ol.zeros(2, 3, "f64"))
  local d = ol.optim.defaults("muon")
  local n = 0
  for k, v in pairs(d) do
    if type(v) == "table" then
      for e = 1, 2 do
        opt:schedule(k .. "[" .. e .. "]", function() return v[e] end)
        n = n + 1
      end
    end
    opt:schedule(k, function() return v end)
    n = n + 1
  end
  T.ok(n > 10)
  opt:step(ol.ones(2, 3, "f64"))
  for k, v in pairs(d) do
    if type(v) == "table" then T.eq(opt[k][1], v[1]); T.eq(opt[k][2], v[2]) else T.eq(opt[k], v) end
  end
end)

T.test("ol.train passes its step number; a restored optimizer goes on from its t", function()
  ol.seed(3)
  local ds = ol.data.synthetic{kind = "blobs", n = 12, classes = 2}
  local net = ol.nn.mlp{sizes = {2, 3, 2}, dtype = "f64"}
  local opt = ol.optim.sgd(net, {lr = 0.1})
  local ts = {}
  opt:schedule("lr", function(t) ts[#ts + 1] = t; return 0.1 / t end)
  ol.train{model = net, optimizer = opt, epochs = 1, progress = false,
           data = ol.data.loader(ds, {batch_size = 4, dtype = "f64"})}
  T.eq(table.concat(ts, ","), "1,2,3")
  T.near(opt.lr, 0.1 / 3, 1e-15)
  local p = os.tmpname()
  ol.save(p, {model = net, optimizer = opt})
  local net2 = ol.nn.mlp{sizes = {2, 3, 2}, dtype = "f64"}
  local opt2 = ol.optim.sgd(net2)
  ts = {}
  opt2:schedule("lr", function(t) ts[#ts + 1] = t; return 0.1 / t end)
  ol.load(p):restore(net2, opt2)
  os.remove(p)
  ol.train{model = net2, optimizer = opt2, epochs = 1, progress = false,
           data = ol.data.loader(ds, {batch_size = 4, dtype = "f64"})}
  T.eq(table.concat(ts, ","), "4,5,6")
  T.raises("(step 7)", function()
    opt2:schedule("lr", function(t) return t == 7 and -1 or 0.1 end)
    ol.train{model = net2, optimizer = opt2, epochs = 1, progress = false,
             data = ol.data.loader(ds, {batch_size = 4, dtype = "f64"})}
  end)
  T.eq(opt2.t, 6)
end)

T.run()
