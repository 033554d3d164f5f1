-- ol.init: torch.nn.init.calculate_gain's values, and 100k draws of each
-- scheme against its published bounds, mean and variance.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

T.test("gain = torch.nn.init.calculate_gain", function()
  T.eq(ol.init.gain("linear"), 1); T.eq(ol.init.gain("conv2d"), 1); T.eq(ol.init.gain("sigmoid"), 1)
  T.near(ol.init.gain("tanh"), 5 / 3, 1e-15)
  T.near(ol.init.gain("relu"), math.sqrt(2), 1e-15)
  T.near(ol.init.gain("leaky_relu"), math.sqrt(2 / (1 + 0.01 ^ 2)), 1e-15)
  T.near(ol.init.gain("leaky_relu", 0.2), math.sqrt(2 / 1.04), 1e-15)
  T.eq(ol.init.gain("selu"), 0.75)
  T.raises("unsupported nonlinearity 'swish'", function() ol.init.gain("swish") end)
end)

-- 250 x 400: fan_in 400, fan_out 250, 100k draws
local fi, fo = 400, 250
local function stats(t)
  local n = t:numel()
  local mean = t:sum() / n
  local var = (t * t):sum() / n - mean * mean
  return mean, var, t:min(), t:max()
end

local function uniform(t, bound, what)
  local mean, var, lo, hi = stats(t)
  T.ok(lo >= -bound - 1e-7 and hi <= bound + 1e-7, what .. ": outside the bounds")
  T.ok(hi > 0.999 * bound and lo < -0.999 * bound, what .. ": bounds not reached")
  T.near(mean, 0, 5 * bound / math.sqrt(3e5), what .. " mean")
  T.near(var, bound * bound / 3, 0.02 * bound * bound / 3, what .. " variance")
end

local function normal(t, sd, what)
  local mean, var = stats(t)
  T.near(mean, 0, 5 * sd / math.sqrt(1e5), what .. " mean")
  T.near(var, sd * sd, 0.03 * sd * sd, what .. " variance")
end

T.test("schemes over 100k draws", function()
  ol.seed(8)
  for _, dt in ipairs{"f32", "f64"} do
    local t = ol.empty(250, 400, dt)
    T.ok(rawequal(ol.init.xavier_uniform(t, 2), t), "returns the tensor")
    uniform(t, 2 * math.sqrt(6 / (fi + fo)), "xavier_uniform")
    uniform(ol.init.xavier_uniform(t), math.sqrt(6 / (fi + fo)), "xavier_uniform gain 1")
    normal(ol.init.xavier_normal(t, 0.5), 0.5 * math.sqrt(2 / (fi + fo)), "xavier_normal")
    uniform(ol.init.fan_in_uniform(t, 3), 3 / math.sqrt(fi), "fan_in_uniform")
    uniform(ol.init.kaiming_uniform(t), math.sqrt(3) * math.sqrt(2) / math.sqrt(fi), "kaiming_uniform")
    uniform(ol.init.kaiming_uniform(t, 0.2, "fan_out", "leaky_relu"),
            math.sqrt(3) * math.sqrt(2 / 1.04) / math.sqrt(fo), "kaiming_uniform fan_out")
    normal(ol.init.kaiming_normal(t, 0, "fan_in", "relu"), math.sqrt(2 / fi), "kaiming_normal")
    normal(ol.init.kaiming_normal(t, 0, "fan_out", "tanh"), 5 / 3 / math.sqrt(fo), "kaiming_normal tanh")
    normal(ol.init.normal(t, 0, 0.3), 0.3, "normal")
    local m = ol.init.normal(t, 2, 0.1):mean()
    T.near(m, 2, 0.01, "normal mean")
    ol.init.uniform(t, -0.5, 1.5)
    T.near(t:mean(), 0.5, 0.01); T.ok(t:min() >= -0.5 and t:max() < 1.5)
    T.eq(ol.init.constant(t, 0.25):max(), 0.25); T.eq(t:min(), 0.25)
    T.eq(ol.init.zeros(t):abs():max(), 0)
  end
end)

T.test("orthogonal", function()
  ol.seed(9)
  for _, shape in ipairs{{6, 10}, {10, 6}, {7, 7}} do
    local w = ol.init.orthogonal(ol.empty(shape[1], shape[2], "f64"), 2)
    local g = shape[1] <= shape[2] and w:mm(w:t()) or w:t():mm(w)
    local k = math.min(shape[1], shape[2])
    T.near((g - ol.eye(k, "f64") * 4):abs():max(), 0, 1e-12)
  end
end)

T.test("reproducible and errors", function()
  ol.seed(4); local a = ol.init.xavier_normal(ol.empty(5, 5))
  ol.seed(4); local b = ol.init.xavier_normal(ol.empty(5, 5))
  T.eq((a - b):abs():max(), 0)
  T.raises("bad argument #1 to 'xavier_uniform' (fan in and fan out need a tensor of 2 or more dimensions",
           function() ol.init.xavier_uniform(ol.empty(4)) end)
  T.raises("bad argument #3 to 'kaiming_uniform' (mode 'fan_avg' not supported",
           function() ol.init.kaiming_uniform(ol.empty(4, 4), 0, "fan_avg") end)
  T.raises("bad argument #4 to 'kaiming_normal' (unsupported nonlinearity 'swish')",
           function() ol.init.kaiming_normal(ol.empty(4, 4), 0, "fan_in", "swish") end)
end)

T.run()
