-- Loss landscapes of a small MLP trained briefly with Adam: the loss along
-- the line from the initial to the trained weights (Goodfellow et al. 2015)
-- and over two planes through the trained weights (Li et al. 2018), one of
-- filter-normalised random directions and one of the trajectory's two
-- principal directions, with the path the weights took drawn on both.
--   optlua scripts/landscape.lua [--quick] [--out DIR] [--data DIR]
-- On Fashion-MNIST, or on ol.data.synthetic spirals when it is missing (the
-- script says so). --quick: a smaller run (a few seconds). The pictures go
-- into DIR (made if needed; by default a new temporary directory).
local ol = require "optlua"

local o = {quick = false, out = nil, data = nil}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--quick" then o.quick = true
  elseif a == "--out" then i = i + 1; o.out = assert(arg[i], "--out DIR")
  elseif a == "--data" then i = i + 1; o.data = assert(arg[i], "--data DIR")
  else error("landscape.lua: unknown argument " .. a .. " (--quick, --out DIR, --data DIR)") end
  i = i + 1
end

if not o.out then
  o.out = os.tmpname()
  os.remove(o.out)
end
assert(os.execute("mkdir -p '" .. o.out:gsub("'", "'\\''") .. "'"), "cannot make " .. o.out)

ol.seed(1)
local train, eval, sizes, epochs, what
local ok, full = pcall(ol.data.fashion_mnist, {split = "train", dir = o.data})
if ok then
  local n_train, n_eval = o.quick and 2000 or 10000, o.quick and 500 or 2000
  local rest
  train, rest = full:split(n_train / #full)
  eval = rest:split(n_eval / #rest) -- images apart from the training ones
  local s = train:standardize()
  eval:standardize(s)
  sizes, epochs = {784, 32, 10}, o.quick and 3 or 8
  what = string.format("Fashion-MNIST (%d training images, the landscape over %d)", #train, #eval)
else
  print("Fashion-MNIST not found (" .. tostring(full):gsub("\n.*", "") .. "): using synthetic spirals")
  train = ol.data.synthetic{kind = "spirals", n = o.quick and 600 or 1500, classes = 3}
  eval = train
  sizes, epochs = {2, 32, 32, 3}, o.quick and 10 or 30
  what = string.format("spirals (%d points)", #train)
end
print("data: " .. what)

local net = ol.nn.mlp{sizes = sizes, activation = "relu"}
local rec = ol.landscape.recorder(net) -- the initial weights, then one copy per epoch
local initial = net:params():clone()
ol.train{model = net, optimizer = ol.optim.adam(net, {lr = 3e-3}), epochs = epochs, progress = false,
         data = ol.data.loader(train, {batch_size = 64, shuffle = true}), on_epoch = rec}
local loss, acc = ol.evaluate(net, eval)
print(string.format("trained %d epochs: loss %.4f, accuracy %.2f%%", epochs, loss, 100 * acc))

local function out(name) return o.out .. "/" .. name end
local res = o.quick and 15 or 31

local line = ol.landscape.line(net, eval, initial, net:params(), {steps = o.quick and 13 or 25, from = -0.25, to = 1.25})
line:plot(out("line.png"), {title = "loss from the initial (alpha = 0) to the trained weights (alpha = 1)"})
local function at(t) -- the line's loss at the alpha nearest t
  local best = 1
  for k, a in ipairs(line.alphas) do if math.abs(a - t) < math.abs(line.alphas[best] - t) then best = k end end
  return line.losses[best]
end
print(string.format("line: loss %.4f at the initial weights, %.4f half-way, %.4f at the trained ones",
                    at(0), at(0.5), at(1)))

local t0 = ol.clock()
local random = ol.landscape.plane(net, eval, {directions = "filter_normalized", trajectory = rec.weights,
                                               range = 1, resolution = res})
random:plot(out("plane_random.png"))
print(string.format("plane of filter-normalised directions, %dx%d: %.1f s", res, res, ol.clock() - t0))
print(random)

t0 = ol.clock()
local pca = ol.landscape.plane(net, eval, {directions = "pca", trajectory = rec.weights, resolution = res})
pca:plot(out("plane_pca.png"))
print(string.format("plane of the trajectory's principal directions, %dx%d: %.1f s", res, res, ol.clock() - t0))
print(pca)
print("pictures: " .. out("line.png") .. ", plane_random.png, plane_pca.png")
