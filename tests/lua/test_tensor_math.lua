-- Tensor arithmetic from Lua: operators with broadcasting, in-place methods,
-- elementwise functions, reductions, BLAS. Expected values worked by hand
-- or from math.* (Lua's libm), never from the engine.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local function f64(v) return ol.tensor(v, "f64") end

T.test("operators elementwise, scalar on either side", function()
  local a, b = f64{1, 2, 4}, f64{3, 5, 8}
  T.near_all(a + b, {4, 7, 12}, 0)
  T.near_all(b - a, {2, 3, 4}, 0)
  T.near_all(a * b, {3, 10, 32}, 0)
  T.near_all(b / a, {3, 2.5, 2}, 0)
  T.near_all(-a, {-1, -2, -4}, 0)
  T.near_all(a + 1, {2, 3, 5}, 0)
  T.near_all(10 - a, {9, 8, 6}, 0)
  T.near_all(a - 10, {-9, -8, -6}, 0)
  T.near_all(2 * a, {2, 4, 8}, 0)
  T.near_all(a / 2, {0.5, 1, 2}, 0)
  T.near_all(8 / a, {8, 4, 2}, 0)
  T.eq((a + b):dtype(), "f64")
  T.near_all(ol.tensor{1, 2} * 3, {3, 6}, 0)
end)

T.test("a row vector broadcasts over the rows of a matrix", function()
  local m = f64{{1, 2, 3}, {4, 5, 6}}
  T.near_all(m + f64{10, 20, 30}, {{11, 22, 33}, {14, 25, 36}}, 0)
  T.near_all(f64{10, 20, 30} - m, {{9, 18, 27}, {6, 15, 24}}, 0)
  T.near_all(m * f64{{2}, {10}}, {{2, 4, 6}, {40, 50, 60}}, 0) -- a column too
  T.near_all(m / f64{{1, 2, 3}}, {{1, 1, 1}, {4, 2.5, 2}}, 0)
end)

T.test("add_ sub_ mul_ div_ in place, returning self", function()
  local t = f64{1, 2, 3}
  T.ok(rawequal(t:add_(f64{1, 1, 1}), t)); T.near_all(t, {2, 3, 4}, 0)
  t:add_(f64{1, 2, 3}, 2); T.near_all(t, {4, 7, 10}, 0)
  t:add_(5); T.near_all(t, {9, 12, 15}, 0)
  T.ok(rawequal(t:sub_(f64{9, 2, 5}), t)); T.near_all(t, {0, 10, 10}, 0)
  t:sub_(1); T.near_all(t, {-1, 9, 9}, 0)
  T.ok(rawequal(t:mul_(2), t)); T.near_all(t, {-2, 18, 18}, 0)
  t:mul_(f64{3, 0.5, 1}); T.near_all(t, {-6, 9, 18}, 0)
  T.ok(rawequal(t:div_(3), t)); T.near_all(t, {-2, 3, 6}, 0)
  t:div_(f64{-2, 3, 4}); T.near_all(t, {1, 1, 1.5}, 0)
  local m = f64{{1, 2}, {3, 4}}
  m:add_(f64{10, 20}) -- broadcast onto self
  T.near_all(m, {{11, 22}, {13, 24}}, 0)
end)

T.test("addcmul_ addcdiv_ clamp_", function()
  local t = f64{1, 1}
  T.ok(rawequal(t:addcmul_(f64{2, 4}, f64{3, 5}, 0.5), t))
  T.near_all(t, {4, 11}, 0)                -- 1 + 0.5*6, 1 + 0.5*20
  t:addcmul_(f64{1, 1}, f64{1, 2})
  T.near_all(t, {5, 13}, 0)
  T.ok(rawequal(t:addcdiv_(f64{6, 9}, f64{3, 2}, 2), t))
  T.near_all(t, {9, 22}, 0)                -- 5 + 2*2, 13 + 2*4.5
  local c = f64{-1, 0.5, 2}
  T.ok(rawequal(c:clamp_(0, 1), c)); T.near_all(c, {0, 0.5, 1}, 0)
  T.near_all(f64{-3, 3}:clamp_(nil, 0), {-3, 0}, 0)
  T.near_all(f64{-3, 3}:clamp_(-1), {-1, 3}, 0)
end)

T.test("elementwise functions give new tensors", function()
  local x = f64{-2, 0, 0.5}
  T.near_all(x:abs(), {2, 0, 0.5}, 0)
  T.near_all(x, {-2, 0, 0.5}, 0, "x unchanged")
  T.near_all(f64{4, 9, 0.25}:sqrt(), {2, 3, 0.5}, 0)
  T.near_all(f64{0, 1, -1}:exp(), {1, math.exp(1), math.exp(-1)}, 1e-15)
  T.near_all(f64{1, math.exp(2), 0.5}:log(), {0, 2, math.log(0.5)}, 1e-15)
  local function tanh(v) return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) end
  T.near_all(x:tanh(), {tanh(-2), 0, tanh(0.5)}, 1e-15)
  T.near_all(x:sigmoid(), {1 / (1 + math.exp(2)), 0.5, 1 / (1 + math.exp(-0.5))}, 1e-15)
  T.near_all(f64{-3, 0, 2}:sign(), {-1, 0, 1}, 0)
  T.near_all(f64{1, 2, 3}:pow(2), {1, 4, 9}, 0)
  T.near_all(f64{4, 9}:pow(0.5), {2, 3}, 0)
  -- f32: within f32 rounding of the exact values
  T.near_all(ol.tensor{0, 1}:exp(), {1, math.exp(1)}, 1e-6)
end)

T.test("sum and mean, whole and along a dimension", function()
  local m = f64{{1, 2, 3}, {4, 5, 6}}
  T.eq(m:sum(), 21); T.eq(m:mean(), 3.5)
  T.near_all(m:sum(1), {5, 7, 9}, 0)
  T.near_all(m:sum(2), {6, 15}, 0)
  T.near_all(m:mean(1), {2.5, 3.5, 4.5}, 0)
  T.near_all(m:mean(2), {2, 5}, 0)
  T.eq(ol.zeros(0):sum(), 0)
  T.eq(type(ol.tensor{1, 2}:sum()), "number")
end)

T.test("max, min, argmax: numbers, or values and 1-based indices", function()
  local m = f64{{3, 9, 1}, {7, 2, 8}}
  T.eq(m:max(), 9); T.eq(m:min(), 1)
  T.eq(m:argmax(), 2)                       -- row-major flat index of 9
  T.eq(f64{{1, 2}, {5, 3}}:argmax(), 3)
  local v, i = m:max(2)
  T.near_all(v, {9, 8}, 0); T.near_all(i, {2, 3}, 0)
  v, i = m:max(1)
  T.near_all(v, {7, 9, 8}, 0); T.near_all(i, {2, 1, 2}, 0)
  v, i = m:min(2)
  T.near_all(v, {1, 2}, 0); T.near_all(i, {3, 2}, 0)
  T.near_all(m:argmax(2), {2, 3}, 0)
  T.near_all(m:argmax(1), {2, 1, 2}, 0)
  T.eq(f64{5, 5, 1}:argmax(), 1, "first of equal maxima")
end)

T.test("norm and dot", function()
  local v = f64{3, -4}
  T.eq(v:norm(), 5); T.eq(v:norm(2), 5)
  T.eq(v:norm(1), 7); T.eq(v:norm(math.huge), 4)
  T.eq(f64{1, 2, 3}:dot(f64{4, 5, 6}), 32)
  T.near(ol.tensor{1, 2}:dot(ol.tensor{0.5, 0.25}), 1, 1e-7)
end)

T.test("mm and mv by BLAS, contiguous or not", function()
  local a = f64{{1, 2}, {3, 4}}
  local b = f64{{5, 6}, {7, 8}}
  T.near_all(a:mm(b), {{19, 22}, {43, 50}}, 0)
  T.near_all(ol.mm(a, b), {{19, 22}, {43, 50}}, 0)
  T.near_all(a:t():mm(b), {{26, 30}, {38, 44}}, 0)   -- {{1,3},{2,4}} x b
  T.near_all(a:mm(b:t()), {{17, 23}, {39, 53}}, 0)   -- a x {{5,7},{6,8}}
  T.near_all(a:mv(f64{1, 1}), {3, 7}, 0)
  T.near_all(a:t():mv(f64{1, 0}), {1, 2}, 0)
  local r = f64{{1, 2, 3}}:mm(f64{{1}, {1}, {1}})
  T.near_all(r, {{6}}, 0)
  T.near_all(ol.tensor{{1, 2}}:mm(ol.tensor{{3}, {4}}), {{11}}, 1e-6)
end)

T.run()
