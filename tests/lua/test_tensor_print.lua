-- tostring(t): values, then dtype and shape; long dimensions elided to
-- their first and last 3 entries; f32 with fewer digits than f64.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local function lines(s)
  local out = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
  return out
end

T.test("a small matrix, integers aligned", function()
  T.eq(tostring(ol.tensor{{1, 2}, {3, 40}}), "  1  2\n  3 40\n[f32 tensor of size 2x2]")
  T.eq(tostring(ol.tensor({-1, 2}, "f64")), " -1  2\n[f64 tensor of size 2]")
end)

T.test("f32 shows 4 decimals, f64 8", function()
  T.eq(tostring(ol.tensor{0.5, 0.25}), " 0.5000 0.2500\n[f32 tensor of size 2]")
  T.eq(tostring(ol.tensor({0.5, 0.25}, "f64")), " 0.50000000 0.25000000\n[f64 tensor of size 2]")
  T.eq(tostring(ol.tensor{1e6, 2.5}), " 1.0000e+06 2.5000e+00\n[f32 tensor of size 2]")
  T.eq(tostring(ol.tensor{-1.5, 0 / 0, 1 / 0}), " -1.5000     nan     inf\n[f32 tensor of size 3]")
end)

T.test("scalars and empty tensors", function()
  T.eq(tostring(ol.tensor(3.5)), "3.5000\n[f32 scalar tensor]")
  T.eq(tostring(ol.zeros(0)), "[f32 tensor of size 0]")
  T.eq(tostring(ol.zeros(2, 0, "f64")), "[f64 tensor of size 2x0]")
end)

T.test("long vectors show head and tail", function()
  T.eq(tostring(ol.arange(100)), "   1   2   3 ...  98  99 100\n[f32 tensor of size 100]")
  T.eq(tostring(ol.arange(6)), " 1 2 3 4 5 6\n[f32 tensor of size 6]", "6 is not elided")
end)

T.test("large matrices are elided in both dimensions", function()
  local s = tostring(ol.arange(10000):view(100, 100))
  local l = lines(s)
  T.eq(#l, 8) -- 3 rows, "...", 3 rows, footer
  T.eq(l[1], "     1     2     3   ...    98    99   100")
  T.eq(l[4], "   ...")
  T.eq(l[7], "  9901  9902  9903   ...  9998  9999 10000")
  T.eq(l[8], "[f32 tensor of size 100x100]")
  -- a huge tensor prints as fast and as short as a small one
  T.ok(#tostring(ol.zeros(3000, 3000)) < 200)
end)

T.test("3-D tensors print one matrix per leading index", function()
  T.eq(tostring(ol.arange(8):view(2, 2, 2)),
       "(1,.,.) =\n 1 2\n 3 4\n\n(2,.,.) =\n 5 6\n 7 8\n\n[f32 tensor of size 2x2x2]")
  local l = lines(tostring(ol.zeros(10, 1, 1)))
  T.eq(l[10], "...", "leading dimension elided")
end)

T.test("views print their own elements", function()
  T.eq(tostring(ol.tensor{{1, 2}, {3, 4}}:t()), " 1 3\n 2 4\n[f32 tensor of size 2x2]")
  T.eq(tostring(ol.tensor{{1, 2}, {3, 4}}[2]), " 3 4\n[f32 tensor of size 2]")
end)

T.run()
