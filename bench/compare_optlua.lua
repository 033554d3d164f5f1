-- The optlua side of bench/run's comparison with PyTorch
-- (bench/compare_torch.py, the same cases). Prints "key value" lines.
--   optlua [--threads N] bench/compare_optlua.lua train [REPEATS]
--       training samples/s through ol.train (the C epoch loop), MLP
--       784-256-128-10 relu f32 on Fashion-MNIST, batch 1/16/128/1024,
--       sgd (lr 0.05, momentum 0.9) and adam (lr 1e-3); best of REPEATS (3).
--       Then MLP 784-512-256-10 relu with adam at batch 128, plain ("wide")
--       and with layer norm after each hidden linear layer and dropout 0.1
--       ("lnd", mlp{norm = "layer", dropout = 0.1}), the same way.
--   optlua bench/compare_optlua.lua optim      one step on 10M f32 parameters
--       for sgd+momentum, adam, adamw, rmsprop, adagrad (best of 7, ms)
--   optlua bench/compare_optlua.lua converge OPT   epochs and seconds (training
--       plus the per-epoch test evaluation) until test accuracy >= 88%, batch 128
--   optlua bench/compare_optlua.lua rss        peak RSS of a 5-epoch run, batch 128
local ol = require "optlua"
local mode = arg[1] or "train"

local OPTS = {sgd = {"sgd", {lr = 0.05, momentum = 0.9}}, adam = {"adam", {lr = 1e-3}}}
-- samples timed per case (drop_last batches; batch 1 is the slow one)
local SAMPLES = {[1] = 20000, [16] = 60000, [128] = 60000, [1024] = 60000}

local function net_and_opt(name)
  ol.seed(1)
  local net = ol.nn.mlp{sizes = {784, 256, 128, 10}, activation = "relu"}
  local o = OPTS[name]
  return net, ol.optim[o[1]](net, o[2])
end

local function peak_rss_mb()
  local status = io.open("/proc/self/status"):read("a")
  return tonumber(status:match("VmHWM:%s*(%d+)")) / 1024
end

if mode == "train" then
  local repeats = tonumber(arg[2]) or 3
  local train = ol.data.fashion_mnist{split = "train"}
  for _, name in ipairs{"sgd", "adam"} do
    for _, b in ipairs{1, 16, 128, 1024} do
      local net, opt = net_and_opt(name)
      local loader = ol.data.loader(train, {batch_size = b, shuffle = true, drop_last = true})
      local steps = SAMPLES[b] // b
      -- warm-up: workspaces, optimizer state, page faults, BLAS threads
      ol.train{model = net, optimizer = opt, data = loader, progress = false,
               max_steps = math.max(2, steps // 20)}
      local best = 0
      for _ = 1, repeats do
        local s = ol.train{model = net, optimizer = opt, data = loader, progress = false,
                           max_steps = steps}
        best = math.max(best, s.samples_per_s)
      end
      print(string.format("train_%s_b%d_sps %.0f", name, b, best))
    end
  end
  for _, case in ipairs{{"wide", {}}, {"lnd", {norm = "layer", dropout = 0.1}}} do
    ol.seed(1)
    local net = ol.nn.mlp{sizes = {784, 512, 256, 10}, activation = "relu", norm = case[2].norm,
                          dropout = case[2].dropout}
    local opt = ol.optim.adam(net, {lr = 1e-3})
    local loader = ol.data.loader(train, {batch_size = 128, shuffle = true, drop_last = true})
    local steps = SAMPLES[128] // 128
    ol.train{model = net, optimizer = opt, data = loader, progress = false, max_steps = steps // 20}
    local best = 0
    for _ = 1, repeats do
      local s = ol.train{model = net, optimizer = opt, data = loader, progress = false, max_steps = steps}
      best = math.max(best, s.samples_per_s)
    end
    print(string.format("train_%s_b128_sps %.0f", case[1], best))
  end
elseif mode == "optim" then
  local N = 10000000
  local w = ol.full({N}, 0.5)
  local g = ol.full({N}, 0.01) -- small gradients keep every rule finite
  local cases = {
    {"sgd_momentum", "sgd", {lr = 1e-3, momentum = 0.9}},
    {"adam", "adam", {lr = 1e-3}},
    {"adamw", "adamw", {lr = 1e-3}},
    {"rmsprop", "rmsprop", {lr = 1e-3}},
    {"adagrad", "adagrad", {lr = 1e-3}},
  }
  for _, c in ipairs(cases) do
    local opt = ol.optim[c[2]](w, c[3])
    opt:step(g) -- the first step touches the state's fresh pages
    local best = math.huge
    for _ = 1, 7 do
      local t0 = ol.clock()
      opt:step(g)
      best = math.min(best, ol.clock() - t0)
    end
    print(string.format("optim_%s_ms %.3f", c[1], best * 1e3))
    opt = nil
    collectgarbage()
  end
elseif mode == "converge" then
  local name = arg[2] or "sgd"
  local train = ol.data.fashion_mnist{split = "train"}
  local test = ol.data.fashion_mnist{split = "test"}
  local net, opt = net_and_opt(name)
  local reached, epochs, secs, acc = false, 0, 0, 0
  local t0 = ol.clock()
  ol.train{model = net, optimizer = opt, epochs = 30, progress = false, validate = test,
           data = ol.data.loader(train, {batch_size = 128, shuffle = true}),
           on_epoch = function(s)
             epochs, acc = s.epoch, s.val_accuracy
             if s.val_accuracy >= 0.88 then
               reached, secs = true, ol.clock() - t0
               return false -- stops the loop
             end
           end}
  print(string.format("converge_%s_epochs %s", name, reached and epochs or "nan"))
  print(string.format("converge_%s_s %s", name, reached and string.format("%.2f", secs) or "nan"))
  print(string.format("converge_%s_acc %.4f", name, acc))
elseif mode == "rss" then
  local train = ol.data.fashion_mnist{split = "train"}
  local net, opt = net_and_opt("sgd")
  ol.train{model = net, optimizer = opt, epochs = 5, progress = false,
           data = ol.data.loader(train, {batch_size = 128, shuffle = true})}
  print(string.format("rss_mb %.1f", peak_rss_mb()))
else
  error("unknown mode " .. tostring(mode))
end
