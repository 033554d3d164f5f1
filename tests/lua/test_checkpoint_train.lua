-- ol.train and checkpoints: periodic saves, Ctrl-C (save, then a clean
-- stop, the caller's SIGINT handling back afterwards), and diverging runs
-- (on_nonfinite = "error" | "stop" | "skip").
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

local function same(a, b)
  local x, y = a:totable(), b:totable()
  for i = 1, #x do if x[i] ~= y[i] then return false end end
  return #x == #y
end

local function setup(name, opts)
  ol.seed(3)
  local ds = ol.data.synthetic{kind = "blobs", n = 48, classes = 3}
  local net = ol.nn.mlp{sizes = {2, 4, 3}, activation = "tanh", dtype = "f64"}
  local opt = ol.optim[name or "sgd"](net, opts or {lr = 0.05, momentum = 0.9})
  return net, opt, ol.data.loader(ds, {batch_size = 8, shuffle = true, dtype = "f64"})
end

T.test("checkpoint = {path, every} saves every k epochs and at the end", function()
  local p = dir .. "/run.safetensors"
  local net, opt, loader = setup()
  local saves = {}
  ol.train{model = net, optimizer = opt, data = loader, epochs = 5, progress = false,
           checkpoint = {path = p, every = 2},
           on_epoch = function(s)
             local f = io.open(p, "rb")
             if f then f:close(); saves[s.epoch] = ol.load(p).meta.epoch end
           end}
  -- The save follows the epoch's hook: after epoch 2 the hook of epoch 3
  -- sees the file of epoch 2, and so on; the end of the run is saved too.
  T.eq(saves[1], nil)
  T.eq(saves[3], 2)
  T.eq(saves[5], 4)
  local ck = ol.load(p)
  T.eq(ck.meta.epoch, 5)
  T.eq(ck.meta.step, opt.t)
  T.eq(ck.optimizer.t, opt.t)
  local net2 = ol.nn.mlp{sizes = {2, 4, 3}, dtype = "f64"}
  ck:restore(net2)
  T.ok(same(net2:params(), net:params()), "the last file holds the final parameters")
  T.raises("bad argument #1 to 'train.checkpoint' (option 'every' must be >= 1, got 0)", ol.train,
           {model = net, optimizer = opt, data = loader, checkpoint = {path = p, every = 0}})
  T.raises("bad argument #1 to 'train.checkpoint' (option 'path' is required)", ol.train,
           {model = net, optimizer = opt, data = loader, checkpoint = {}})
  T.raises("bad argument #1 to 'train' (option 'checkpoint' must be a table {path = FILE, every = EPOCHS}, got '"
           .. p .. "')", ol.train, {model = net, optimizer = opt, data = loader, checkpoint = p})
  T.raises("bad argument #1 to 'train.checkpoint' (unknown option 'evry'; did you mean 'every'?)", ol.train,
           {model = net, optimizer = opt, data = loader, checkpoint = {path = p, evry = 2}})
end)

T.test("Ctrl-C saves, stops cleanly, and gives SIGINT back to the caller", function()
  local p = dir .. "/int.safetensors"
  local net, opt, loader = setup()
  -- The hook sends SIGINT to this process (the shell's parent) at step 5.
  local s = ol.train{model = net, optimizer = opt, data = loader, epochs = 100, every = 1,
                     progress = false, checkpoint = {path = p},
                     on_step = function(st)
                       if st.step == 5 then io.popen("kill -INT $PPID"):close() end
                     end}
  T.eq(s.interrupted, true)
  T.eq(s.step, 5, "the loop stops before the next step")
  T.eq(opt.t, 5)
  local ck = ol.load(p)
  T.eq(ck.meta.interrupted, true)
  T.eq(ck.meta.step, 5)
  T.eq(ck.optimizer.t, 5)
  local net2 = ol.nn.mlp{sizes = {2, 4, 3}, dtype = "f64"}
  ck:restore(net2)
  T.ok(same(net2:params(), net:params()))
  -- The program's own handler is back: Ctrl-C now interrupts Lua code.
  local ok, err = pcall(function()
    io.popen("kill -INT $PPID"):close()
    for _ = 1, 1e8 do end
  end)
  T.ok(not ok and tostring(err):find("interrupted!", 1, true), "got " .. tostring(err))
  -- A run without a checkpoint path still stops cleanly.
  s = ol.train{model = net, optimizer = opt, data = loader, epochs = 100, every = 1,
               progress = false,
               on_step = function(st)
                 if st.step == 7 then io.popen("kill -INT $PPID"):close() end
               end}
  T.eq(s.interrupted, true)
  T.eq(opt.t, 7)
end)

-- Six samples in order, batch size 1: sample 3 is {inf, 0}. Through tanh
-- the loss stays finite (tanh(inf) = 1) but the first layer's gradient is
-- 0 * inf = NaN, so only a gradient check sees it. Sample 5 is NaN: the
-- loss itself is NaN.
local function diverging(name, opts)
  local x = {{0.5, -1}, {1.5, 0.25}, {math.huge, 0}, {0.1, 0.9}, {0 / 0, 1}, {0.8, -0.6}}
  local y = {1, 2, 3, 1, 2, 3}
  local function build(keep)
    local xs, ys = {}, {}
    for i = 1, 6 do
      if keep(i) then xs[#xs + 1] = x[i]; ys[#ys + 1] = y[i] end
    end
    ol.seed(9)
    local net = ol.nn.mlp{sizes = {2, 4, 3}, activation = "tanh", dtype = "f64"}
    local opt = ol.optim[name](net, opts)
    local ds = ol.data.dataset(ol.tensor(xs, "f64"), ol.tensor(ys, "f64"))
    return net, opt, ol.data.loader(ds, {batch_size = 1, shuffle = false, dtype = "f64"})
  end
  return build
end

for _, case in ipairs({{"sgd", {lr = 0.1}}, {"nag", {lr = 0.1, momentum = 0.9}},
                       {"adam", {lr = 0.01}}}) do
  local name, opts = case[1], case[2]
  local build = diverging(name, opts)

  T.test(name .. ": on_nonfinite = 'error' names the step, also for a NaN gradient", function()
    local net, opt, loader = build(function() return true end)
    T.raises("non-finite gradient at step 3 (epoch 1, batch 3)", ol.train,
             {model = net, optimizer = opt, data = loader, progress = false})
    -- The parameters are those after step 2 (nag's lookahead move undone).
    local ref, ropt, rl = build(function(i) return i <= 2 end)
    ol.train{model = ref, optimizer = ropt, data = rl, progress = false}
    T.ok(same(net:params(), ref:params()), "parameters moved by the failed step")
    T.eq(opt.t, 2)
    -- A NaN loss is named as such (the batch of sample 5, skipping 3).
    net, opt, loader = build(function(i) return i ~= 3 end)
    T.raises("non-finite loss at step 4 (epoch 1, batch 4)", ol.train,
             {model = net, optimizer = opt, data = loader, progress = false})
  end)

  T.test(name .. ": on_nonfinite = 'stop' keeps the last good parameters", function()
    local net, opt, loader = build(function() return true end)
    local s = ol.train{model = net, optimizer = opt, data = loader, progress = false,
                       on_nonfinite = "stop", epochs = 3}
    T.eq(s.nonfinite, true)
    T.eq(s.step, 2)
    local ref, ropt, rl = build(function(i) return i <= 2 end)
    ol.train{model = ref, optimizer = ropt, data = rl, progress = false}
    T.ok(same(net:params(), ref:params()), "not the parameters of step 2")
    for k, v in pairs(opt:state()) do T.ok(same(v, ropt:state()[k]), "state " .. k) end
  end)

  T.test(name .. ": on_nonfinite = 'skip' is training without those samples", function()
    local net, opt, loader = build(function() return true end)
    local s = ol.train{model = net, optimizer = opt, data = loader, progress = false,
                       on_nonfinite = "skip", epochs = 2}
    T.eq(s.skipped, 4) -- two each epoch
    T.eq(opt.t, 8)
    local ref, ropt, rl = build(function(i) return i ~= 3 and i ~= 5 end)
    ol.train{model = ref, optimizer = ropt, data = rl, progress = false, epochs = 2}
    T.ok(same(net:params(), ref:params()), "skipping changed something")
    for k, v in pairs(opt:state()) do T.ok(same(v, ropt:state()[k]), "state " .. k) end
  end)
end

T.test("(remove the temporary directory)", function() os.execute("rm -rf " .. dir) end)
T.run()
