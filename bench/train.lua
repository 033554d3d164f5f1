-- Samples/s of one full Fashion-MNIST epoch through the C training loop
-- (ol.train) at batch 128 (MLP 784-256-128-10, f32) with sgd+momentum and
-- adam, and the peak RSS of this process.
--   optlua bench/train.lua [epochs=1]
local ol = require "optlua"
local epochs = tonumber(arg and arg[1]) or 1
local train = ol.data.fashion_mnist{split = "train"}
for _, case in ipairs{{"sgd", {lr = 0.05, momentum = 0.9}}, {"adam", {lr = 1e-3}}} do
  ol.seed(1)
  local net = ol.nn.mlp{sizes = {784, 256, 128, 10}, activation = "relu"}
  local opt = ol.optim[case[1]](net, case[2])
  local s = ol.train{model = net, optimizer = opt, epochs = epochs, progress = false,
                     data = ol.data.loader(train, {batch_size = 128, shuffle = true})}
  print(string.format("train_%s_samples_per_s %.0f   (epoch loss %.4f, %.2fs)", case[1],
                      s.samples_per_s, s.epoch_loss, s.elapsed))
end
local status = io.open("/proc/self/status"):read("a")
print("peak_rss_mb " .. math.floor(tonumber(status:match("VmHWM:%s*(%d+)")) / 1024))
