-- What a user meets around the optimizers: an unknown ol.optim.NAME, the
-- kind of each optimizer, how an optimizer prints and walks, nag's two
-- forms not mixed in one run, schedules refused on options only the first
-- step reads. Expected values come from API.md (names, defaults, which
-- methods take a closure) and from nag's rule worked by hand.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

T.test("an unknown ol.optim.NAME is an error naming the known ones, with a did-you-mean", function()
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() return ol.optim.adamm(ol.zeros(2)) end)
  T.ok(not ok, "ol.optim.adamm gave no error")
  T.ok(err:find("test_optim_usage.lua:" .. line .. ": ", 1, true), "at the caller's line: " .. err)
  T.ok(err:find("unknown optimizer 'adamm'; did you mean 'adam'?", 1, true), err)
  for _, name in ipairs{"sgd", "nag", "rprop", "adam", "adamw", "lbfgs", "hessian_free"} do
    T.ok(err:find(name, 1, true), name .. " not listed: " .. err)
  end
  -- nothing close: the known ones, no suggestion
  err = T.raises("unknown optimizer 'zzzzzz'; known: sgd, ", function() return ol.optim.zzzzzz end)
  T.ok(not err:find("did you mean", 1, true), err)
  -- the functions of ol.optim are still there, and non-string keys are plain nil
  T.eq(type(ol.optim.list), "function")
  T.eq(ol.optim[1], nil)
  T.raises("bad argument #1 to 'defaults' (unknown optimizer 'adamm'; did you mean 'adam'?",
           ol.optim.defaults, "adamm")
  T.raises("bad argument #2 to 'explore' (unknown optimizer 'nagg'; did you mean 'nag'?",
           ol.explore, ol.fn.booth(), "nagg", {}, {steps = 1})
end)

T.test("ol.optim.kind: closure for the methods that need opt:step(closure)", function()
  -- API.md section 5: newton, cg, lbfgs, hessian_free step with a closure
  -- they call many times; muon, lamb, lars, adafactor, shampoo and soap
  -- work on each parameter tensor as a whole, adagrad too (full_matrix
  -- keeps a matrix per tensor); lookahead wraps another optimizer; the
  -- rest are one pass over the flat parameters.
  local want = {newton = "closure", cg = "closure", lbfgs = "closure", hessian_free = "closure",
                muon = "tensor", lamb = "tensor", lars = "tensor", adafactor = "tensor",
                shampoo = "tensor", soap = "tensor", adagrad = "tensor", lookahead = "wrapper"}
  for _, name in ipairs(ol.optim.list()) do
    T.eq(ol.optim.kind(name), want[name] or "fused", name)
  end
  local kind, why = ol.optim.kind("lbgfs")
  T.eq(kind, nil)
  T.ok(why:find("unknown optimizer 'lbgfs'; did you mean 'lbfgs'?", 1, true), why)
  T.raises("bad argument #1 to 'kind' (optimizer name expected, got number)", ol.optim.kind, 3)
end)

T.test("tostring(opt) shows its name and its live options", function()
  local opt = ol.optim.sgd(ol.zeros(5), {lr = 0.25, momentum = 0.5})
  T.eq(tostring(opt), "sgd{lr=0.25, momentum=0.5, dampening=0, nesterov=false, weight_decay=0, maximize=false}"
                      .. " f32, 5 parameters, t = 0")
  opt.lr = 0.125
  opt:step(ol.ones(5))
  T.ok(tostring(opt):find("^sgd{lr=0.125, momentum=0.5,"), tostring(opt))
  T.ok(tostring(opt):find("t = 1$"), tostring(opt))
  local adam = ol.optim.adam(ol.zeros(2, "f64"))
  T.ok(tostring(adam):find("^adam{lr=0.001, betas={0.9, 0.999}, eps=1e%-08,"), tostring(adam))
  T.ok(tostring(adam):find(" f64, 2 parameters, t = 0$"), tostring(adam))
end)

T.test("pairs(opt) gives the options, then t, name, dtype, params, groups and mode", function()
  local w = ol.zeros(3)
  local opt = ol.optim.nag(w, {lr = 0.5})
  local keys, seen = {}, {}
  for k, v in pairs(opt) do
    keys[#keys + 1] = k
    seen[k] = v
  end
  T.eq(table.concat(keys, " "), "lr momentum t name dtype params groups mode")
  T.eq(#seen.groups, 1, "a tensor is one group")
  T.eq(seen.groups[1].lr, 0.5)
  T.eq(table.concat(seen.groups[1].params, " "), "params")
  T.raises("nag: field 'groups' is read-only", function() opt.groups = {} end)
  T.eq(seen.lr, 0.5); T.eq(seen.momentum, 0.9); T.eq(seen.t, 0); T.eq(seen.name, "nag")
  T.eq(seen.mode, "train", "an optimizer without modes is always in train mode")
  T.eq(seen.dtype, "f32")
  T.ok(rawequal(opt.params, w), "opt.params is the tensor it updates")
  T.raises("nag: field 'params' is read-only", function() opt.params = ol.zeros(3) end)
  local keys2 = {}
  for k in pairs(ol.optim.lbfgs(ol.zeros(2, "f64"))) do keys2[#keys2 + 1] = k end
  T.eq(keys2[#keys2], "info", "closure methods also have info")
end)

-- nag on f(w) = 1/2 w², gradient w, lr 0.1, momentum 0.5, from w = 1.
T.test("nag: the closure and the gradient forms do not mix in one run", function()
  local function quad(w) return function() return 0.5 * w:dot(w), w:clone() end end
  local w = ol.tensor({1}, "f64")
  local opt = ol.optim.nag(w, {lr = 0.1, momentum = 0.5})
  opt:step(quad(w)) -- p = 0.1, w = 0.9
  T.near(w[1], 0.9, 1e-15)
  local err = T.raises("nag: opt:step(grad) steps in the gradient form, but this run took its 1 step in the "
                       .. "closure form", opt.step, opt, ol.tensor({1}, "f64"))
  T.ok(err:find("opt:reset()", 1, true), err)
  T.eq(opt.t, 1, "the refused step was not taken")
  T.near(w[1], 0.9, 1e-15)
  T.raises("nag: opt:step() steps in the gradient form", opt.step, opt)
  opt:step(quad(w)) -- the same form goes on: lookahead 0.9 - 0.05 = 0.85, p = 0.05 + 0.085, w = 0.765
  T.near(w[1], 0.765, 1e-15)
  -- reset starts a new run, in either form
  opt:reset()
  opt:step(ol.tensor({1}, "f64"))
  T.eq(opt.t, 1)
  T.raises("nag: opt:step(closure) steps in the closure form, but this run took its 1 step in the gradient form",
           opt.step, opt, quad(w))
  -- ol.train uses the closure form
  local ds = ol.data.synthetic{kind = "xor", n = 8}
  local net = ol.nn.mlp{sizes = {2, 2}}
  local nag = ol.optim.nag(net)
  net:zero_grad()
  nag:step()
  T.raises("nag: ol.train steps in the closure form, but this run took its 1 step in the gradient form",
           ol.train, {model = net, optimizer = nag, data = ol.data.loader(ds, {batch_size = 8}), progress = false})
  nag:reset()
  ol.train{model = net, optimizer = nag, data = ol.data.loader(ds, {batch_size = 8}), progress = false}
  T.raises("nag: opt:step() steps in the gradient form, but this run took its 1 step in the closure form",
           nag.step, nag)
  -- optimizers without a lookahead mix freely
  local sgd = ol.optim.sgd(ol.zeros(1, "f64"), {lr = 0.1})
  sgd:step(function() return 0, ol.ones(1, "f64") end)
  sgd:step(ol.ones(1, "f64"))
  T.eq(sgd.t, 2)
end)

T.test("a schedule on an option only the first step reads is refused, naming it", function()
  local rprop = ol.optim.rprop(ol.zeros(2))
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() rprop:schedule("lr", function() return 0.1 end) end)
  T.ok(not ok, "rprop accepted a schedule on lr")
  T.ok(err:find("test_optim_usage.lua:" .. line .. ": bad argument #1 to 'schedule' (rprop's option 'lr' is "
                .. "read only at the first step after a reset", 1, true), err)
  T.raises("adagrad's option 'initial_accumulator_value' is read only at the first step",
           function() ol.optim.adagrad(ol.zeros(2)):schedule("initial_accumulator_value", function() return 1 end) end)
  -- relative schedules and schedule objects too
  T.raises("rprop's option 'lr'", function() rprop:schedule("lr", ol.schedule.step{every = 2}) end)
  -- the options every step reads still take one; removing is always fine
  rprop:schedule("etas[2]", function(t) return 1.1 + t / 100 end)
  rprop:schedule("lr", nil)
  rprop:step(ol.ones(2))
  T.near(rprop.etas[2], 1.11, 1e-15)
  local adagrad = ol.optim.adagrad(ol.zeros(2))
  adagrad:schedule("lr", function(t) return 0.5 / t end)
  adagrad:step(ol.ones(2))
  T.eq(adagrad.lr, 0.5)
end)

T.run()
