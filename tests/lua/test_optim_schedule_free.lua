-- Schedule-free optimizers from Lua: opt:eval(), opt:train() and opt.mode;
-- their errors; resuming through ol.save/ol.load in either mode, bit for
-- bit; ol.train's validation at the average. The rule itself is checked
-- against a reference in tests/engine/test_optim_schedule_free.c.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local path = T.scratch()

-- Same length, same values bit for bit (f64 tensors through totable).
local function same(a, b, what)
  local x, y = a:totable(), b:totable()
  T.eq(#x, #y, what .. ": length")
  for i = 1, #x do
    if x[i] ~= y[i] then
      error(string.format("%s: element %d differs: %.17g vs %.17g", what, i, x[i], y[i]), 2)
    end
  end
end

-- y + a (z - y), elementwise, in Lua.
local function lerp(y, z, a)
  local yt, zt, out = y:totable(), z:totable(), {}
  for i = 1, #yt do out[i] = yt[i] + a * (zt[i] - yt[i]) end
  return out
end

T.test("eval and train switch the parameters and the mode, and return opt", function()
  local w = ol.tensor({1, -2, 0.5}, "f64")
  local opt = ol.optim.sf_sgd(w, {lr = 0.1, momentum = 0.8})
  T.eq(opt.mode, "train")
  T.ok(rawequal(opt:eval(), opt), "eval returns opt")
  T.eq(opt.mode, "eval")
  T.near_all(w, {1, -2, 0.5}, 0, "before the first step there is no z: w stays")
  opt:train()
  for _ = 1, 3 do opt:step(ol.tensor({0.3, -0.1, 0.2}, "f64")) end
  local y, z = w:clone(), opt:state().z:clone()
  opt:eval()
  T.near_all(w, lerp(y, z, 1 - 1 / 0.8), 1e-15, "eval: x = y + (1 - 1/beta)(z - y)")
  local x = w:clone()
  opt:eval()
  same(w, x, "a second eval")
  T.raises("sf_sgd is in eval mode (the parameters hold the point to evaluate): call opt:train() before the next step",
           function() opt:step(ol.tensor({1, 1, 1}, "f64")) end)
  T.eq(opt.t, 3)
  T.ok(rawequal(opt:train(), opt), "train returns opt")
  T.eq(opt.mode, "train")
  T.near_all(w, y:totable(), 1e-15, "train: back to y")
  T.raises("field 'mode' is read-only", function() opt.mode = "eval" end)
  opt:eval()
  opt:reset()
  T.eq(opt.mode, "train", "reset returns to train mode")
end)

T.test("optimizers without modes: eval and train do nothing and return opt", function()
  local w = ol.tensor({1, 2}, "f64")
  local opt = ol.optim.adam(w, {lr = 0.1})
  opt:step(ol.tensor({1, -1}, "f64"))
  local before = w:clone()
  T.ok(rawequal(opt:eval(), opt))
  T.eq(opt.mode, "train")
  same(w, before, "adam after eval")
  opt:step(ol.tensor({1, -1}, "f64"))
  T.ok(rawequal(opt:train(), opt))
end)

T.test("bad options name the option", function()
  local w = ol.zeros(2)
  T.raises("bad argument #2 to 'sf_adamw' (option 'warmup_steps' must be >= 0, got -1)",
           function() ol.optim.sf_adamw(w, {warmup_steps = -1}) end)
  T.raises("bad argument #2 to 'sf_sgd' (option 'warmup_steps' must be an integer, got 2.5)",
           function() ol.optim.sf_sgd(w, {warmup_steps = 2.5}) end)
  T.raises("option 'betas' element 1 must be > 0", function() ol.optim.sf_adamw(w, {betas = {0, 0.999}}) end)
  T.raises("option 'momentum' must be in (0, 1), got 1", function() ol.optim.sf_sgd(w, {momentum = 1}) end)
  local opt = ol.optim.sf_adamw(w)
  T.raises("sf_adamw: option 'warmup_steps' must be an integer, got 0.5", function() opt.warmup_steps = 0.5 end)
end)

-- A small f64 model stepped by hand, the batch fixed.
local X = ol.tensor({{0.5, -1}, {1.5, 0.25}, {-0.75, 2}, {0.1, 0.3}}, "f64")
local Y = {1, 3, 2, 1}
local OPTS = {sf_adamw = {lr = 0.05, warmup_steps = 3, r = 1, weight_decay = 0.01},
              sf_sgd = {lr = 0.1, momentum = 0.85, warmup_steps = 2, r = 0.5}}

local function fresh(name, seed)
  ol.seed(seed)
  local net = ol.nn.mlp{sizes = {2, 5, 3}, dtype = "f64"}
  return net, ol.optim[name](net, OPTS[name])
end

local function steps(net, opt, k)
  for _ = 1, k do
    net:zero_grad()
    net:evaluate(X, Y, "cross_entropy")
    opt:step()
  end
end

for _, name in ipairs{"sf_adamw", "sf_sgd"} do
  for _, mode in ipairs{"train", "eval"} do
    T.test(name .. ": a checkpoint in " .. mode .. " mode resumes bit for bit", function()
      -- straight: 6 steps, (eval and train back, as a save in eval mode
      -- would be surrounded), 6 more
      local net, opt = fresh(name, 5)
      steps(net, opt, 6)
      if mode == "eval" then opt:eval(); opt:train() end
      steps(net, opt, 6)
      -- interrupted: 6 steps, save in `mode`, restore into a fresh model
      -- and optimizer, 6 more
      local net1, opt1 = fresh(name, 5)
      steps(net1, opt1, 6)
      if mode == "eval" then opt1:eval() end
      local p = path(name .. "-" .. mode .. ".safetensors")
      ol.save(p, {model = net1, optimizer = opt1})
      local net2, opt2 = fresh(name, 99)
      local ck = ol.load(p)
      T.eq(ck.optimizer.mode, mode)
      ck:restore(net2, opt2)
      T.eq(opt2.mode, mode)
      T.eq(opt2.t, 6)
      if mode == "eval" then T.raises("call opt:train()", function() steps(net2, opt2, 1) end) end
      opt2:train()
      steps(net2, opt2, 6)
      same(net2:params(), net:params(), "parameters")
      for k, v in pairs(opt:state()) do same(opt2:state()[k], v, "state " .. k) end
    end)
  end
end

T.test("a checkpoint of an optimizer without modes holds mode train", function()
  local net = ol.nn.mlp{sizes = {2, 3}}
  local p = path("sgd.safetensors")
  ol.save(p, {model = net, optimizer = ol.optim.sgd(net)})
  T.eq(ol.load(p).optimizer.mode, "train")
end)

T.test("ol.train validates at the average and returns in train mode", function()
  ol.seed(11)
  local ds = ol.data.synthetic{kind = "blobs", n = 120, classes = 3}
  local train, val = ds:split(0.75)
  for _, name in ipairs{"sf_adamw", "sf_sgd"} do
    local net = ol.nn.mlp{sizes = {2, 6, 3}, dtype = "f64"}
    local opt = ol.optim[name](net, name == "sf_sgd" and {lr = 0.2, warmup_steps = 4} or {lr = 0.02, warmup_steps = 4})
    local beta = name == "sf_sgd" and opt.momentum or opt.betas[1]
    local epochs = 0
    local s = ol.train{model = net, optimizer = opt, data = ol.data.loader(train, {batch_size = 16}),
                       epochs = 3, validate = val, progress = false,
                       on_epoch = function(st)
                         epochs = epochs + 1
                         T.eq(opt.mode, "train", "hooks see train mode")
                         -- the average, computed here from y and z
                         local x = lerp(net:params(), opt:state().z, 1 - 1 / beta)
                         local y = net:params():clone()
                         net:params():copy_(ol.tensor(x, "f64"))
                         local lx = ol.evaluate(net, val)
                         net:params():copy_(y)
                         T.near(st.val_loss, lx, 0, name .. " epoch " .. st.epoch .. ": val_loss at x", 1e-12)
                         T.ok(math.abs(ol.evaluate(net, val) - lx) > 1e-9 * lx, "x and y differ in loss")
                       end}
    T.eq(epochs, 3)
    T.eq(opt.mode, "train", "ol.train returns in train mode")
    local y = net:params():clone()
    opt:eval()
    T.near(ol.evaluate(net, val), s.val_loss, 0, name .. ": opt:eval() then ol.evaluate", 1e-12)
    opt:train()
    T.near_all(net:params(), y:totable(), 1e-14, "eval then train returns y")
    opt:eval()
    T.raises("the optimizer (" .. name .. ") is in eval mode: call opt:train() before training", function()
      ol.train{model = net, optimizer = opt, data = ol.data.loader(train, {batch_size = 16}), progress = false}
    end)
    opt:train()
  end
end)

T.run()
