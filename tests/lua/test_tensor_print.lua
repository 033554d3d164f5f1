-- tostring(t): values, then dtype and shape; a tensor of more than 1000
-- elements summarised, its long dimensions elided to their first and last
-- 3 entries; f32 with fewer digits than f64; rows cut at 80 characters;
-- ol.print_options changes these. Expected texts are written out by hand
-- from the format: each value right-aligned after one space in the width
-- of the widest.
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

T.test("vectors of up to 1000 elements print whole, longer ones show head and tail", function()
  T.eq(tostring(ol.arange(1001)), "    1    2    3  ...  999 1000 1001\n[f32 tensor of size 1001]")
  T.eq(tostring(ol.arange(7)), " 1 2 3 4 5 6 7\n[f32 tensor of size 7]")
  T.eq(tostring(ol.arange(10)), "  1  2  3  4  5  6  7  8  9 10\n[f32 tensor of size 10]")
  -- 1000 values of width 4: 16 cells of 5 characters to a line of 80
  local l = lines(tostring(ol.arange(1000)))
  T.eq(#l, 64) -- 62 full lines, 8 values on the 63rd, the footer
  T.eq(l[1], "    1    2    3    4    5    6    7    8    9   10   11   12   13   14   15   16")
  T.eq(l[63], "  993  994  995  996  997  998  999 1000")
  T.eq(l[64], "[f32 tensor of size 1000]")
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
  local l = lines(tostring(ol.zeros(1001, 1, 1)))
  T.eq(l[10], "...", "leading dimension elided")
  T.eq(#lines(tostring(ol.zeros(10, 1, 1))), 31, "10 blocks of 3 lines, the footer: not elided")
end)

T.test("views print their own elements", function()
  T.eq(tostring(ol.tensor{{1, 2}, {3, 4}}:t()), " 1 3\n 2 4\n[f32 tensor of size 2x2]")
  T.eq(tostring(ol.tensor{{1, 2}, {3, 4}}[2]), " 3 4\n[f32 tensor of size 2]")
end)

T.test("ol.print_options: defaults, then edge, threshold, precision, linewidth", function()
  local o = ol.print_options()
  T.eq(o.edge, 3); T.eq(o.threshold, 1000); T.eq(o.precision, "auto"); T.eq(o.linewidth, 80)
  o = ol.print_options{edge = 2, threshold = 5}
  T.eq(o.edge, 2); T.eq(o.threshold, 5); T.eq(o.precision, "auto", "the others keep their values")
  T.eq(tostring(ol.arange(7)), " 1 2 ... 6 7\n[f32 tensor of size 7]")
  T.eq(tostring(ol.arange(5)), " 1 2 3 4 5\n[f32 tensor of size 5]", "5 elements: not summarised")
  T.eq(tostring(ol.arange(6)), " 1 2 ... 5 6\n[f32 tensor of size 6]", "6 > 2 * edge: elided")
  T.eq(tostring(ol.arange(4)), " 1 2 3 4\n[f32 tensor of size 4]", "4 = 2 * edge: shown whole")
  ol.print_options{threshold = math.huge}
  T.eq(ol.print_options().threshold, math.huge)
  T.ok(not tostring(ol.arange(5000)):find("...", 1, true), "math.huge: never summarised")
  ol.print_options{precision = 2}
  T.eq(tostring(ol.tensor{0.5, 0.25}), " 0.50 0.25\n[f32 tensor of size 2]")
  T.eq(tostring(ol.tensor({0.5, 0.25}, "f64")), " 0.50 0.25\n[f64 tensor of size 2]")
  T.eq(tostring(ol.tensor{1e6, 2.5}), " 1.00e+06 2.50e+00\n[f32 tensor of size 2]")
  ol.print_options{precision = "auto"}
  T.eq(tostring(ol.tensor({0.5, 0.25}, "f64")), " 0.50000000 0.25000000\n[f64 tensor of size 2]")
  -- a vector goes on over lines of linewidth; a matrix prints in blocks of columns
  ol.print_options{linewidth = 20}
  T.eq(tostring(ol.arange(12)), "  1  2  3  4  5  6\n  7  8  9 10 11 12\n[f32 tensor of size 12]")
  ol.print_options{linewidth = 6} -- cells of 3 characters: 2 to a line
  T.eq(tostring(ol.tensor{{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}}),
       "Columns 1 to 2\n  1  2\n  6  7\n\nColumns 3 to 4\n  3  4\n  8  9\n\nColumns 5 to 5\n  5\n 10\n"
       .. "[f32 tensor of size 2x5]")
  ol.print_options("default")
  T.eq(ol.print_options().linewidth, 80)
  T.eq(ol.print_options().threshold, 1000)
end)

T.test("ol.print_options checks its options through the kit", function()
  ol.print_options("default")
  T.raises("bad argument #1 to 'print_options' (unknown option 'threshhold'; did you mean 'threshold'?)",
           ol.print_options, {threshhold = 10})
  T.raises("bad argument #1 to 'print_options' (option 'precision' must be an integer in 0..16 or 'auto', got 17)",
           ol.print_options, {precision = 17})
  T.raises("option 'precision' must be an integer in 0..16 or 'auto', got 'fine'", ol.print_options, {precision = "fine"})
  T.raises("bad argument #1 to 'print_options' (option 'edge' must be in 1..1000000, got 0)",
           ol.print_options, {edge = 0})
  T.raises("option 'threshold' must be >= 0, got -1", ol.print_options, {threshold = -1})
  T.raises("option 'linewidth' must be an integer", ol.print_options, {linewidth = 2.5})
  T.raises("bad argument #1 to 'print_options' (options table or 'default' expected, got 'defaults')",
           ol.print_options, "defaults")
  -- a bad table changes nothing, not even its good options
  pcall(ol.print_options, {edge = 5, precision = 99})
  T.eq(ol.print_options().edge, 3)
end)

T.run()
