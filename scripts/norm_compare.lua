-- Plain, layer-norm and batch-norm MLPs (784-256-256-10, ReLU) with SGD and
-- Adam on Fashion-MNIST: the same seed, data order and epochs for each,
-- then one table of training loss, test loss and accuracy, and time.
--   optlua scripts/norm_compare.lua [--epochs N] [--dropout P] [--quick] [--data DIR]
-- --quick trains on a tenth of the data for one epoch (a check that it
-- runs). Without the dataset it says so and stops.
local ol = require "optlua"

local o = {epochs = 3, dropout = 0, quick = false, data = nil}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--quick" then o.quick = true
  elseif a == "--epochs" then i = i + 1; o.epochs = assert(tonumber(arg[i]), "--epochs N")
  elseif a == "--dropout" then i = i + 1; o.dropout = assert(tonumber(arg[i]), "--dropout P")
  elseif a == "--data" then i = i + 1; o.data = arg[i]
  else error("norm_compare.lua: unknown argument " .. a .. " (--epochs N, --dropout P, --quick, --data DIR)") end
  i = i + 1
end
if o.quick then o.epochs = 1 end

local ok, train = pcall(ol.data.fashion_mnist, {split = "train", dir = o.data})
if not ok then
  print("Fashion-MNIST not found (" .. tostring(train) .. "): nothing to compare")
  return
end
local test = ol.data.fashion_mnist{split = "test", dir = o.data}
if o.quick then train = train:split(0.1) end
print(string.format("Fashion-MNIST: %d training samples, %d test, %d epoch(s), batch 128, dropout %g",
                    #train, #test, o.epochs, o.dropout))

-- each optimizer at a learning rate that suits the plain net
local OPTIMIZERS = {
  {"sgd", function(net) return ol.optim.sgd(net, {lr = 0.05, momentum = 0.9}) end},
  {"adam", function(net) return ol.optim.adam(net, {lr = 1e-3}) end},
}
local NORMS = {{"plain", nil}, {"layer norm", "layer"}, {"batch norm", "batch"}}

local rows = {}
for _, oc in ipairs(OPTIMIZERS) do
  for _, nc in ipairs(NORMS) do
    ol.seed(1)
    local net = ol.nn.mlp{sizes = {784, 256, 256, 10}, norm = nc[2],
                          dropout = o.dropout > 0 and o.dropout or nil}
    local opt = oc[2](net)
    local t0 = os.clock()
    -- drop_last: batch norm refuses a batch of one row in training mode
    local s = ol.train{model = net, optimizer = opt, epochs = o.epochs, progress = false,
                       data = ol.data.loader(train, {batch_size = 128, shuffle = true, drop_last = true})}
    local loss, acc = ol.evaluate(net, test) -- in evaluation mode: running estimates, no dropout
    rows[#rows + 1] = {oc[1], nc[1], s.loss, loss, acc, os.clock() - t0}
    print(string.format("  %-5s %-11s train loss %.4f  test loss %.4f  accuracy %5.2f%%", oc[1], nc[1],
                        s.loss, loss, 100 * acc))
  end
end

print(string.format("\n%-9s %-11s %11s %10s %9s %8s", "optimizer", "net", "train loss", "test loss",
                    "accuracy", "time"))
for _, r in ipairs(rows) do
  print(string.format("%-9s %-11s %11.4f %10.4f %8.2f%% %7.1fs", r[1], r[2], r[3], r[4], 100 * r[5], r[6]))
end
