-- ol.landscape.plane's speed: a 41x41 plane on 5000 Fashion-MNIST images
-- with an MLP 784-256-128-10 (f32), by the first-layer products made once
-- per chunk (engine/train/landscape.h), against the plain way: setting the
-- parameters to each point and running ol.evaluate. Prints seconds and
-- the ratio; the plain way is timed on `--plain N` points (default 41,
-- one row of the grid) and scaled to the grid.
--   optlua bench/landscape.lua [--resolution 41] [--rows 5000] [--plain 41]
local ol = require "optlua"

local o = {resolution = 41, rows = 5000, plain = 41}
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-(%w+)$")
  if not k or o[k] == nil then error("landscape.lua: unknown argument " .. arg[i] .. " (--resolution, --rows, --plain)") end
  o[k] = assert(tonumber(arg[i + 1]), arg[i] .. " N")
  i = i + 2
end

local train = ol.data.fashion_mnist{split = "train"}
local ds = train:split(o.rows / #train)
ol.seed(1)
local net = ol.nn.mlp{sizes = {784, 256, 128, 10}}
ol.train{model = net, optimizer = ol.optim.adam(net, {lr = 1e-3}), progress = false, epochs = 1,
         data = ol.data.loader(ds, {batch_size = 128, shuffle = true})}
print(string.format("%d rows, MLP 784-256-128-10 f32, %d threads, %s", #ds, ol.threads(), ol.blas().core))

local n = o.resolution
local t0 = ol.clock()
local plane = ol.landscape.plane(net, ds, {resolution = n})
local fast = ol.clock() - t0
print(string.format("plane %dx%d (first-layer products once per chunk): %.2f s", n, n, fast))

-- the plain way: the parameters set to each point, ol.evaluate
local c, d1, d2 = plane.center, plane.d1, plane.d2
local p = net:params()
local saved = p:clone()
t0 = ol.clock()
local points = math.min(o.plain, n * n)
for k = 1, points do
  local a, b = plane.xs[(k - 1) % n + 1], plane.ys[(k - 1) // n + 1]
  p:copy_(c + d1 * a + d2 * b)
  ol.evaluate(net, ds)
end
local plain = (ol.clock() - t0) / points * n * n
p:copy_(saved)
print(string.format("plain per-point evaluation (%d points timed, scaled to %d): %.2f s; ratio %.1fx",
                    points, n * n, plain, plain / fast))
