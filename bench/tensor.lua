-- The same figures as bench_tensor.c, measured through the Lua binding, for
-- bench/tensor.sh:
--   mm_gflops   ol.mm on 1024x1024 f32 (a new result tensor per call)
--   add_gbs     x:add_(y) over 16M floats, bytes read + written per second
local ol = require "optlua"
local now = ol.clock -- monotonic wall time

local m = 1024
ol.seed(1)
local a, b = ol.rand(m, m), ol.rand(m, m)
local best = math.huge
for r = 1, 10 do
  local t0 = now()
  local c = ol.mm(a, b)
  local t = now() - t0
  if r > 1 and t < best then best = t end
  c = nil
end
print(string.format("mm_gflops %.2f", 2 * m * m * m / best / 1e9))

local n = 16 * 1024 * 1024
local x, y = ol.rand(n), ol.rand(n)
best = math.huge
for _ = 1, 10 do
  local t0 = now()
  x:add_(y)
  local t = now() - t0
  if t < best then best = t end
end
print(string.format("add_gbs %.2f", 3 * n * 4 / best / 1e9))
