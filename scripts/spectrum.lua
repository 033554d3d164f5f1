-- The Hessian's spectrum while a network trains: the edge of stability.
--   optlua scripts/spectrum.lua [--quick] [--out DIR] [--data DIR]
-- A small tanh MLP learns a Fashion-MNIST subset (or, when the data is
-- not installed, 2-D spirals: the script says which) with plain SGD at two
-- learning rates. ol.spectrum.track records the largest and smallest
-- Hessian eigenvalues on a fixed batch after every epoch. 2/lr is the
-- step size's stability limit: Cohen et al. (2021) found that under
-- full-batch gradient descent lambda_max rises until it reaches it and
-- hovers there; with mini-batches it stays below it, so the larger lr
-- (limit 5) holds the network in flatter regions than the smaller (limit
-- 40), where it sits well below its limit. The smallest eigenvalues show
-- the negative curvature that tells a saddle from a minimum. Pictures: spectrum_lr<lr>.png for each run and
-- density.png, the eigenvalue density by stochastic Lanczos quadrature at
-- the end of the second run, in DIR (default: the current directory).
-- --quick: fewer rows and epochs, a check that it runs (a few seconds).
local ol = optlua or require("optlua")

local o = {quick = false, out = ".", data = nil}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--quick" then o.quick = true
  elseif a == "--out" then i = i + 1; o.out = assert(arg[i], "--out DIR")
  elseif a == "--data" then i = i + 1; o.data = assert(arg[i], "--data DIR")
  else error("spectrum.lua: unknown argument " .. a .. " (--quick, --out DIR, --data DIR)") end
  i = i + 1
end
local rows = o.quick and 600 or 3000
local epochs = o.quick and 4 or 25
local k = o.quick and 2 or 3

ol.seed(1)
local ok, full = pcall(ol.data.fashion_mnist, {split = "train", dir = o.data})
local ds, sizes, what
if ok then
  ds = full:split(rows / #full) -- a random subset, seeded
  ds:standardize()
  sizes, what = {ds.features, 32, ds.classes}, string.format("Fashion-MNIST, %d training images", #ds)
else
  ds = ol.data.synthetic{kind = "spirals", n = rows, classes = 3}
  sizes, what = {2, 32, 3}, string.format("spirals, %d points (Fashion-MNIST not found: %s)", #ds,
                                          tostring(full):match("[^\n]*"))
end
print("data: " .. what)

local function run(lr)
  ol.seed(2)
  local net = ol.nn.mlp{sizes = sizes, activation = "tanh"}
  local opt = ol.optim.sgd(net, {lr = lr})
  local tracker = ol.spectrum.track{model = net, optimizer = opt, data = ds, rows = math.min(#ds, 1000), k = k}
  ol.train{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 100}), epochs = epochs,
           progress = false, on_epoch = function(s)
             tracker(s)
             local r = tracker.history[#tracker.history]
             print(string.format("lr %-5g epoch %2d  loss %.4f  lambda_max %8.3f  (2/lr %6.2f)  lambda_min %9.4f",
                                 lr, s.epoch, s.epoch_loss, r.top[1], r.threshold, r.bottom[1]))
           end}
  return net, tracker
end

local have_plots = ol.plot.available()
if not have_plots then print("gnuplot not found: no pictures (apt-get install gnuplot-nox)") end
local net, last
for _, lr in ipairs{0.05, 0.4} do
  local tracker
  net, tracker = run(lr)
  last = tracker
  if have_plots then
    local file = string.format("%s/spectrum_lr%g.png", o.out, lr)
    tracker:plot(file, {title = string.format("largest Hessian eigenvalues, SGD lr %g (%s)", lr, what)})
    print("wrote " .. file)
  end
end

local lmin, lmax = ol.spectrum.extremes(last)
local p = ol.plateau{patience = 0, curvature = last}
p:update(1)
p:update(1) -- a plateau, to show the diagnosis from the curvature alone
print(string.format("at the end: lambda_max %.3f, lambda_min %.4f: %s", lmax, lmin, p.diagnosis.message))

local x, y
for bx, by in ol.data.loader(ds, {batch_size = math.min(#ds, 1000), shuffle = false}):batches() do
  x, y = bx, by
  break
end
local d = ol.spectrum.density(net, x, y, "cross_entropy", {vectors = o.quick and 2 or 5, steps = o.quick and 20 or 60})
print(tostring(d))
if have_plots then
  local file = o.out .. "/density.png"
  d:plot(file, {title = "Hessian eigenvalue density after SGD lr 0.4 (" .. what .. ")"})
  print("wrote " .. file)
end
