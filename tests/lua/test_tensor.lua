-- Tensor binding: constructors, shape queries, element access, views and
-- copies (API.md section 3). Expected values are written out by hand.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- The f32 nearest to x, rounded by Lua's own string.pack (independent of the engine).
local function f32(x) return (string.unpack("f", string.pack("f", x))) end

local function same_shape(t, want)
  local s = t:shape()
  T.eq(#s, #want, "rank")
  for i = 1, #want do T.eq(s[i], want[i], "size " .. i) end
end

-- ---- constructors ----

T.test("tensor from a number is a scalar tensor", function()
  local t = ol.tensor(2.5)
  T.eq(t:dim(), 0); T.eq(t:numel(), 1); T.eq(t:totable(), 2.5); T.eq(t:dtype(), "f32")
  T.eq(t:get(), 2.5)
end)

T.test("tensor from a flat table", function()
  local t = ol.tensor{1, 2, 3}
  same_shape(t, {3}); T.eq(t:dtype(), "f32")
  T.near_all(t, {1, 2, 3}, 0)
  T.eq(ol.tensor({1, 2}, "f64"):dtype(), "f64")
end)

T.test("tensor from nested tables is row-major", function()
  local t = ol.tensor{{1, 2, 3}, {4, 5, 6}}
  same_shape(t, {2, 3})
  T.eq(t:get(1, 3), 3); T.eq(t:get(2, 1), 4)
  local c = ol.tensor{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}}
  same_shape(c, {2, 2, 2})
  T.eq(c:get(2, 1, 2), 6); T.eq(c:get(1, 2, 1), 3)
  same_shape(ol.tensor{}, {0})
end)

T.test("f32 rounds, f64 keeps the double", function()
  T.eq(ol.tensor{0.1}[1], f32(0.1))
  T.ok(ol.tensor{0.1}[1] ~= 0.1)
  T.eq(ol.tensor({0.1}, "f64")[1], 0.1)
end)

T.test("tensor(t) copies, converting dtype on request", function()
  local a = ol.tensor{1, 2}
  local b = ol.tensor(a)
  b[1] = 9
  T.eq(a[1], 1)
  local c = ol.tensor(a, "f64")
  T.eq(c:dtype(), "f64"); T.near_all(c, {1, 2}, 0)
end)

T.test("zeros, ones, empty, full take sizes or a shape table", function()
  local z = ol.zeros(2, 3)
  same_shape(z, {2, 3}); T.near_all(z, {{0, 0, 0}, {0, 0, 0}}, 0); T.eq(z:dtype(), "f32")
  local z64 = ol.zeros({2, 3}, "f64")
  same_shape(z64, {2, 3}); T.eq(z64:dtype(), "f64")
  T.near_all(ol.ones(2, 2, "f64"), {{1, 1}, {1, 1}}, 0)
  same_shape(ol.empty(4, 5), {4, 5})
  same_shape(ol.empty{7}, {7})
  T.near_all(ol.full({2, 2}, 7), {{7, 7}, {7, 7}}, 0)
  T.near_all(ol.full(3, 1.5, "f64"), {1.5, 1.5, 1.5}, 0)
  T.eq(ol.full({2}, 1, "f64"):dtype(), "f64")
  T.eq(ol.zeros(0, 3):numel(), 0)
  T.eq(ol.zeros{}:dim(), 0)
end)

T.test("eye", function()
  T.near_all(ol.eye(3), {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, 0)
  T.eq(ol.eye(2, "f64"):dtype(), "f64")
  T.eq(ol.eye(0):numel(), 0)
end)

T.test("arange is 1-based and inclusive like a numeric for", function()
  T.near_all(ol.arange(5), {1, 2, 3, 4, 5}, 0)
  T.near_all(ol.arange(2, 6), {2, 3, 4, 5, 6}, 0)
  T.near_all(ol.arange(1, 10, 3), {1, 4, 7, 10}, 0)
  T.near_all(ol.arange(1, 2, 0.5), {1, 1.5, 2}, 0)
  T.near_all(ol.arange(5, 1, -2), {5, 3, 1}, 0)
  T.eq(ol.arange(0):numel(), 0)
  T.eq(ol.arange(3, 1):numel(), 0)
  local t = ol.arange(3, "f64")
  T.eq(t:dtype(), "f64"); T.near_all(t, {1, 2, 3}, 0)
  T.eq(ol.arange(1, 4, 1, "f64"):dtype(), "f64")
end)

T.test("rand is uniform in [0,1), randn standard normal", function()
  ol.seed(7)
  local u = ol.rand(100, 100, "f64")
  same_shape(u, {100, 100})
  T.ok(u:min() >= 0 and u:max() < 1, "range")
  -- mean 1/2, sd of the mean sqrt(1/12)/100 ~ 0.003
  T.near(u:mean(), 0.5, 0.02, "uniform mean")
  local n = ol.randn(10000, "f64")
  T.near(n:mean(), 0, 0.05, "normal mean")
  local var = ((n - n:mean()) * (n - n:mean())):mean()
  T.near(var, 1, 0.06, "normal variance")
  T.eq(ol.rand(3):dtype(), "f32")
  same_shape(ol.randn{2, 4}, {2, 4})
end)

-- xoshiro256** seeded by splitmix64, from the published algorithms
-- (prng.di.unimi.it), in Lua's 64-bit wrapping integers.
local function xoshiro(seed)
  local x = seed
  local function splitmix()
    x = x + 0x9e3779b97f4a7c15
    local z = x
    z = (z ~ (z >> 30)) * 0xbf58476d1ce4e5b9
    z = (z ~ (z >> 27)) * 0x94d049bb133111eb
    return z ~ (z >> 31)
  end
  local s = {splitmix(), splitmix(), splitmix(), splitmix()}
  local function rotl(v, k) return (v << k) | (v >> (64 - k)) end
  return function()
    local result = rotl(s[2] * 5, 7) * 9
    local t = s[2] << 17
    s[3] = s[3] ~ s[1]; s[4] = s[4] ~ s[2]
    s[2] = s[2] ~ s[3]; s[1] = s[1] ~ s[4]
    s[3] = s[3] ~ t; s[4] = rotl(s[4], 45)
    return result
  end, splitmix
end

T.test("splitmix64 reference value", function()
  -- the first output of splitmix64 from 0 is the published 0xe220a8397b1dcdaf
  local x = 0x9e3779b97f4a7c15
  local z = (x ~ (x >> 30)) * 0xbf58476d1ce4e5b9
  z = (z ~ (z >> 27)) * 0x94d049bb133111eb
  T.eq(z ~ (z >> 31), 0xe220a8397b1dcdaf)
end)

T.test("seed: same seed, same numbers, and the documented stream", function()
  ol.seed(42)
  local a = ol.rand(5, "f64")
  local an = ol.randn(4)
  ol.seed(42)
  local b = ol.rand(5, "f64")
  local bn = ol.randn(4)
  T.near_all(b, a:totable(), 0)
  T.near_all(bn, an:totable(), 0)
  ol.seed(43)
  T.ok(ol.rand(5, "f64")[1] ~= a[1], "another seed differs")
  -- f64 uniforms are (x >> 11) * 2^-53; f32 ones (x >> 40) * 2^-24
  local next = xoshiro(42)
  for i = 1, 5 do T.eq(a[i], (next() >> 11) * 2.0^-53, "f64 draw " .. i) end
  ol.seed(42)
  local c = ol.rand(3)
  next = xoshiro(42)
  for i = 1, 3 do T.eq(c[i], (next() >> 40) * 2.0^-24, "f32 draw " .. i) end
end)

-- ---- queries ----

T.test("shape, size, dim, numel, dtype, #", function()
  local t = ol.zeros(2, 3, 4, "f64")
  same_shape(t, {2, 3, 4})
  T.eq(t:size(1), 2); T.eq(t:size(3), 4)
  T.eq(#t:size(), 3)
  T.eq(t:dim(), 3); T.eq(t:numel(), 24); T.eq(t:dtype(), "f64")
  T.eq(#t, 2); T.eq(#ol.zeros(5), 5)
end)

-- ---- element access ----

T.test("get and set are 1-based; set returns self", function()
  local t = ol.tensor{{1, 2, 3}, {4, 5, 6}}
  T.eq(t:get(2, 3), 6)
  T.ok(rawequal(t:set(1, 2, 20), t))
  T.eq(t:get(1, 2), 20)
  T.near_all(t, {{1, 20, 3}, {4, 5, 6}}, 0)
end)

T.test("t[i] on 1-D is a number", function()
  local t = ol.tensor{10, 20, 30}
  T.eq(type(t[2]), "number"); T.eq(t[3], 30)
  t[2] = 5
  T.near_all(t, {10, 5, 30}, 0)
end)

T.test("t[i] on 2-D is a view of row i", function()
  local t = ol.zeros(2, 3)
  local r = t[2]
  T.ok(ol.istensor(r)); same_shape(r, {3})
  r:fill_(5)
  T.near_all(t, {{0, 0, 0}, {5, 5, 5}}, 0)
  t[2][1] = 7 -- assignment through a view of a view
  T.eq(t:get(2, 1), 7)
end)

T.test("t[i] = number or tensor of the slice's shape", function()
  local t = ol.zeros(2, 3)
  t[1] = 7
  t[2] = ol.tensor{1, 2, 3}
  T.near_all(t, {{7, 7, 7}, {1, 2, 3}}, 0)
  local c = ol.zeros(2, 2, 2)
  c[2] = ol.tensor{{1, 2}, {3, 4}}
  T.near_all(c, {{{0, 0}, {0, 0}}, {{1, 2}, {3, 4}}}, 0)
end)

-- ---- views ----

T.test("view shares storage; -1 is inferred; table form", function()
  local a = ol.arange(6)
  local v = a:view(2, 3)
  T.near_all(v, {{1, 2, 3}, {4, 5, 6}}, 0)
  v:set(2, 3, 60)
  T.eq(a[6], 60)
  same_shape(a:view(-1, 2), {3, 2})
  same_shape(a:view{3, -1}, {3, 2})
  same_shape(v:view(6), {6})
end)

T.test("reshape copies when a view is impossible", function()
  local a = ol.tensor{{1, 2, 3}, {4, 5, 6}}
  local r = a:t():reshape(6) -- column-major order of a
  T.near_all(r, {1, 4, 2, 5, 3, 6}, 0)
  r[1] = 100
  T.eq(a:get(1, 1), 1, "the copy is independent")
  local s = a:reshape(3, 2) -- contiguous: a view
  s:set(1, 1, 50)
  T.eq(a:get(1, 1), 50)
end)

T.test("t() transposes 2-D as a view; 1-D is itself", function()
  local a = ol.tensor{{1, 2, 3}, {4, 5, 6}}
  local at = a:t()
  T.near_all(at, {{1, 4}, {2, 5}, {3, 6}}, 0)
  at:set(1, 2, 100)
  T.eq(a:get(2, 1), 100)
  local v = ol.tensor{1, 2}
  local vt = v:t()
  same_shape(vt, {2}); vt[1] = 9; T.eq(v[1], 9)
end)

T.test("narrow is a view", function()
  local a = ol.tensor{{1, 2, 3}, {4, 5, 6}}
  local n = a:narrow(2, 2, 2)
  T.near_all(n, {{2, 3}, {5, 6}}, 0)
  n:fill_(0)
  T.near_all(a, {{1, 0, 0}, {4, 0, 0}}, 0)
  T.near_all(a:narrow(1, 2, 1), {{4, 0, 0}}, 0)
  T.eq(a:narrow(1, 3, 0):numel(), 0)
end)

T.test("clone and contiguous", function()
  local a = ol.tensor{{1, 2}, {3, 4}}
  local c = a:clone()
  c:set(1, 1, 9)
  T.eq(a:get(1, 1), 1)
  local ct = a:t():contiguous()
  T.near_all(ct, {{1, 3}, {2, 4}}, 0)
  T.near_all(ct:view(4), {1, 3, 2, 4}, 0)
end)

T.test("index gathers rows by a table or tensor of 1-based indices", function()
  local a = ol.tensor{{1, 2}, {3, 4}, {5, 6}}
  T.near_all(a:index{3, 1}, {{5, 6}, {1, 2}}, 0)
  local g = a:index(ol.tensor{2, 2})
  T.near_all(g, {{3, 4}, {3, 4}}, 0)
  g:fill_(0)
  T.eq(a:get(2, 1), 3, "a copy")
  T.near_all(ol.tensor{10, 20, 30}:index(ol.tensor({3, 1}, "f64")), {30, 10}, 0)
end)

-- ---- copies and fills ----

T.test("copy_, fill_, zero_ work in place and return self", function()
  local a = ol.zeros(2, 3)
  T.ok(rawequal(a:copy_(ol.tensor{1, 2, 3}), a)) -- a row broadcast over the rows
  T.near_all(a, {{1, 2, 3}, {1, 2, 3}}, 0)
  T.ok(rawequal(a:fill_(4), a)); T.near_all(a, {{4, 4, 4}, {4, 4, 4}}, 0)
  T.ok(rawequal(a:zero_(), a)); T.eq(a:sum(), 0)
  local b = ol.zeros(2, 2)
  b:copy_(ol.tensor{{1, 2}, {3, 4}}:t())
  T.near_all(b, {{1, 3}, {2, 4}}, 0)
end)

T.test("to converts dtype into a new tensor", function()
  local a = ol.tensor{1.5, 2.25}
  local b = a:to("f64")
  T.eq(b:dtype(), "f64"); T.near_all(b, {1.5, 2.25}, 0)
  local c = b:to("f32")
  T.eq(c:dtype(), "f32")
  local d = a:to("f32")
  d[1] = 0
  T.eq(a[1], 1.5, "same dtype still copies")
end)

T.test("totable", function()
  local t = ol.tensor({{1, 2}, {3, 4}}, "f64"):totable()
  T.eq(type(t), "table"); T.eq(#t, 2); T.eq(t[2][1], 3)
  T.eq(ol.tensor(3):totable(), 3)
  T.eq(#ol.zeros(0):totable(), 0)
end)

T.test("__close releases storage; __gc after close is harmless", function()
  local keep
  do
    local t <close> = ol.ones(1000)
    keep = t
    T.eq(t:sum(), 1000)
  end
  T.eq(tostring(keep), "[closed tensor]")
  keep = nil
  collectgarbage(); collectgarbage()
end)

T.run()
