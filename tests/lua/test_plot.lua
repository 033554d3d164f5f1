-- ol.plot through gnuplot: produced PNGs are valid PNGs of the asked size
-- (signature, IHDR), SVGs carry the trajectory (a path whose points are
-- the run's points under one affine map to the canvas), PDFs start as PDFs,
-- and the errors (unknown extension, gnuplot missing) are clear.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = optlua

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local function tmp(name) return dir .. "/" .. name end

local function read(path)
  local fh = assert(io.open(path, "rb"))
  local s = fh:read("a")
  fh:close()
  return s
end

local function be32(s, i)
  local a, b, c, d = s:byte(i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- width, height of a valid PNG file (signature, IHDR first, IEND last).
local function png_size(path)
  local s = read(path)
  T.eq(s:sub(1, 8), "\137PNG\r\n\26\n", "PNG signature")
  T.eq(be32(s, 9), 13, "IHDR length")
  T.eq(s:sub(13, 16), "IHDR")
  T.eq(s:sub(-8, -5), "IEND")
  return be32(s, 17), be32(s, 21), #s
end

-- Every subpath ("M x,y L x,y ...") of every <path d='...'> in an SVG.
local function svg_subpaths(text)
  local subs = {}
  for d in text:gmatch("<path[^>]-%sd='([^']*)'") do
    for seg in d:gmatch("M[^M]*") do
      local pts = {}
      for x, y in seg:gmatch("(%-?[%d%.]+),(%-?[%d%.]+)") do pts[#pts + 1] = {tonumber(x), tonumber(y)} end
      subs[#subs + 1] = pts
    end
  end
  return subs
end

-- Is there a subpath of len(points) points that is points under
-- (x, y) -> (a x + b, -c y + d) with a, c > 0 (canvas y points down)?
local function svg_has_path(text, points)
  local n = #points
  for _, sp in ipairs(svg_subpaths(text)) do
    if #sp == n then
      -- the scales from the points farthest from the first along each axis
      local p1, jx, jy = points[1], 1, 1
      for k = 2, n do
        if math.abs(points[k][1] - p1[1]) > math.abs(points[jx][1] - p1[1]) then jx = k end
        if math.abs(points[k][2] - p1[2]) > math.abs(points[jy][2] - p1[2]) then jy = k end
      end
      local a = (sp[jx][1] - sp[1][1]) / (points[jx][1] - p1[1])
      local c = -(sp[jy][2] - sp[1][2]) / (points[jy][2] - p1[2])
      if a > 0 and c > 0 then
        local ok = true
        for k = 1, n do
          local ex = sp[1][1] + a * (points[k][1] - p1[1])
          local ey = sp[1][2] - c * (points[k][2] - p1[2])
          if math.abs(ex - sp[k][1]) > 0.05 or math.abs(ey - sp[k][2]) > 0.05 then ok = false break end
        end
        if ok then return true end
      end
    end
  end
  return false
end

T.test("gnuplot is installed (tools/setup installs gnuplot-nox)", function()
  T.ok(ol.plot.available(), "gnuplot not found: apt-get install gnuplot-nox")
end)

T.test("lines: PNG of the asked size", function()
  local y = {}
  for k = 1, 50 do y[k] = math.exp(-0.1 * k) end
  local file = ol.plot.lines{series = {{name = "decay", y = y}, {name = "twice", y = y, x = nil}},
                             logy = true, title = "a_title", xlabel = "step", ylabel = "loss",
                             file = tmp("lines.png"), size = {640, 480}}
  T.eq(file, tmp("lines.png"))
  local w, h, bytes = png_size(file)
  T.eq(w, 640)
  T.eq(h, 480)
  T.ok(bytes > 5000 and bytes < 5e6, "plausible size: " .. bytes)
end)

T.test("lines: SVG carries each series' points", function()
  local x, y = {}, {}
  for k = 1, 7 do x[k], y[k] = k * 0.5, (k - 4) ^ 2 end
  local file = ol.plot.lines{series = {{name = "parabola", x = x, y = y}}, file = tmp("lines.svg")}
  local pts = {}
  for k = 1, 7 do pts[k] = {x[k], y[k]} end
  local text = read(file)
  T.ok(svg_has_path(text, pts), "the series' polyline is in the SVG")
  -- and the check is not vacuous: a different series is not found
  pts[4] = {pts[4][1], pts[4][2] + 3}
  T.ok(not svg_has_path(text, pts))
end)

T.test("lines: a series' width, and points = true drawn as marks", function()
  -- the first series in the first colour (#d62728), width 3.5; the second
  -- (#1f77b4) one mark
  local text = read(ol.plot.lines{series = {{name = "line", x = {1, 2, 3}, y = {1, 4, 9}, width = 3.5},
                                            {name = "mark", x = {2}, y = {4}, points = true}},
                                  file = tmp("marks.svg")})
  -- the width of the group that draws the 3-point polyline
  local at = text:find("<path stroke='rgb%(214,  39,  40%)'  d='M[%d.]+,[%d.]+ L[%d.]+,[%d.]+ L")
  T.ok(at, "the line is drawn")
  local width
  for w in text:sub(1, at):gmatch('stroke%-width="([%d.]+)"') do width = w end
  T.eq(tonumber(width), 3.5)
  -- the mark: gnuplot's point type 7 (symbol gpPt6), once in the plot and once in the key
  local marks = 0
  for _ in text:gmatch("<use xlink:href='#gpPt6' transform='translate%([%d.]+,[%d.]+%) scale%([%d.]+%)' "
                       .. "color='rgb%( 31, 119, 180%)'/>") do marks = marks + 1 end
  T.eq(marks, 2)
  T.ok(not text:find("<path stroke='rgb( 31, 119, 180)'  d='M", 1, true), "no line for the marks")
  T.raises("series[1].width must be a number > 0", ol.plot.lines,
           {series = {{y = {1, 2}, width = 0}}, file = tmp("w.svg")})
end)

T.test("run:plot: the trajectory in an SVG, a two-panel PNG", function()
  local f = ol.fn.quadratic{A = {{3, 1}, {1, 2}}}
  local run = ol.explore(f, "sgd", {lr = 0.1}, {x0 = {1.5, -1}, steps = 12})
  -- its points, as (I - lr A)^k x0 by hand
  local want, x = {{1.5, -1}}, {1.5, -1}
  for k = 1, 12 do
    x = {x[1] - 0.1 * (3 * x[1] + x[2]), x[2] - 0.1 * (x[1] + 2 * x[2])}
    want[k + 1] = x
  end
  local svg = run:plot(tmp("run.svg"), {loss = false})
  T.ok(svg_has_path(read(svg), want), "13-point trajectory in the SVG")
  local w, h = png_size(run:plot(tmp("run.png")))
  T.eq(w, 1400)
  T.eq(h, 600)
end)

T.test("contour of a precomputed grid (xs, ys, z) with a path and axis labels", function()
  -- z[j][i] = (x - 1)^2 + 2 y^2 on an uneven grid; its contour at 1 is the
  -- ellipse through (0, 0) and (2, 0)
  local xs, ys, z = {-1, 0, 0.5, 1, 2, 3}, {-1.5, -0.5, 0, 0.5, 1.5}, {}
  for j, y in ipairs(ys) do
    z[j] = {}
    for i, x in ipairs(xs) do z[j][i] = (x - 1) ^ 2 + 2 * y ^ 2 end
  end
  local path = {{3, 1.5}, {2, 0.5}, {1, 0}}
  local text = read(ol.plot.contour{xs = xs, ys = ys, z = z, paths = {{name = "descent", points = path}},
                                    levels = {1, 4}, xlabel = "alpha axis", ylabel = "beta axis",
                                    zlabel = "height", file = tmp("grid.svg")})
  T.ok(svg_has_path(text, path), "the path is drawn")
  for _, label in ipairs{"alpha axis", "beta axis", "height", "descent"} do
    T.ok(text:find(label, 1, true), "label " .. label)
  end
  T.raises("give either f (with bounds, grid) or xs, ys and z, not both", ol.plot.contour,
           {f = ol.fn.booth(), xs = xs, ys = ys, z = z, file = tmp("x.png")})
  T.raises("ys must be finite numbers in increasing order", ol.plot.contour,
           {xs = xs, ys = {0, 2, 1, 3, 4}, z = z, file = tmp("x.png")})
  T.raises("z[2] must be a row of #xs = 6 numbers", ol.plot.contour,
           {xs = xs, ys = ys, z = {z[1], {1}, z[3], z[4], z[5]}, file = tmp("x.png")})
  T.raises("z must be a list of #ys rows", ol.plot.contour, {xs = xs, ys = ys, z = {z[1]}, file = tmp("x.png")})
  T.raises("f must be a function of a 2-D point", ol.plot.contour, {file = tmp("x.png")})
end)

T.test("contour with several paths; comparison:plot", function()
  local f = ol.fn.himmelblau()
  local paths = {{name = "a", points = {{0, 0}, {1, 1}, {2, 1.5}, {3, 2}}},
                 {name = "b", points = {{0, 0}, {-1, 1}, {-2, 2.5}, {-2.8, 3.1}}}}
  local text = read(ol.plot.contour{f = f, paths = paths, levels = 15, file = tmp("c.svg")})
  T.ok(svg_has_path(text, paths[1].points))
  T.ok(svg_has_path(text, paths[2].points))
  local cmp = ol.compare(ol.fn.rosenbrock(), {sgd = {lr = 1e-3}, adam = {lr = 0.05}},
                         {steps = 60, print = false})
  local w, h, bytes = png_size(cmp:plot(tmp("cmp.png")))
  T.eq(w, 1400)
  T.eq(h, 600)
  T.ok(bytes > 20000, "a contour picture is not tiny: " .. bytes)
  -- a non-2-D function gets only the loss curves
  local c5 = ol.compare(ol.fn.rastrigin{dim = 5}, {sgd = {lr = 1e-3}}, {steps = 10, print = false})
  T.eq((png_size(c5:plot(tmp("c5.png")))), 800)
end)

T.test("PDF by extension", function()
  local s = read(ol.plot.lines{series = {{name = "s", y = {1, 2, 3}}}, file = tmp("l.pdf")})
  T.eq(s:sub(1, 5), "%PDF-")
end)

T.test("training log: loss, lr and momentum panels", function()
  local path = tmp("run.jsonl")
  local fh = assert(io.open(path, "w"))
  for s = 1, 40 do
    fh:write(string.format('{"event":"step","epoch":%d,"step":%d,"loss":%.6f,"lr":%.6f,"momentum":%.4f}\n',
                           (s - 1) // 10 + 1, s, 2 * math.exp(-s / 10), 0.1 / math.sqrt(s), 0.5 + s / 100))
    if s % 10 == 0 then
      fh:write(string.format('{"event":"epoch","epoch":%d,"step":%d,"epoch_loss":%.6f,"val_loss":%.6f,"lr":0.01}\n',
                             s // 10, s, math.exp(-s / 10), 1.2 * math.exp(-s / 10)))
    end
  end
  fh:close()
  local w, h = png_size(ol.plot.log(path, tmp("log.png")))
  T.eq(w, 900)
  T.eq(h, 900, "three panels")
  -- no momentum in the log: two panels
  fh = assert(io.open(path, "w"))
  fh:write('{"event":"step","step":1,"loss":1.0,"lr":0.1}\n{"event":"step","step":2,"loss":0.5,"lr":0.1}\n')
  fh:close()
  w, h = png_size(ol.plot.log(path, tmp("log2.png")))
  T.eq(h, 600)
  fh = assert(io.open(path, "w"))
  fh:write('{"step": 1, "loss": 1}\nnot json\n')
  fh:close()
  T.raises("run.jsonl:2: not a flat JSON object", ol.plot.log, path, tmp("log3.png"))
end)

T.test("training log written by ol.train", function()
  local ds = ol.data.synthetic{kind = "xor", n = 64}
  local net = ol.nn.mlp{sizes = {2, 8, 2}}
  local opt = ol.optim.sgd(net, {lr = 0.1, momentum = 0.9})
  opt:schedule("momentum", function(t) return 0.5 + 0.01 * t end)
  local path = tmp("train.jsonl")
  ol.train{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 16}),
           loss = "cross_entropy", epochs = 3, log = path, progress = false, every = 1}
  local w, h = png_size(ol.plot.log(path, tmp("train.png")))
  T.eq(w, 900)
  T.eq(h, 900, "loss, lr and momentum panels")
end)

T.test("flat JSON parser", function()
  local o = ol.plot._parse_flat_json('{"event":"step","step":3,"loss":1.5e-3,"ok":true,"x":null,"s":"a\\"b"}')
  T.eq(o.event, "step")
  T.eq(o.step, 3)
  T.near(o.loss, 1.5e-3)
  T.eq(o.ok, true)
  T.eq(o.x, nil)
  T.eq(o.s, 'a"b')
end)

T.test("errors: unknown extension, gnuplot missing, bad specs", function()
  T.raises("unknown picture type '.jpg'", ol.plot.lines, {series = {{y = {1, 2}}}, file = tmp("x.jpg")})
  T.raises("bad argument #1 to 'lines' (option 'file' is required)", ol.plot.lines, {series = {{y = {1, 2}}}})
  T.raises("series must be a non-empty list", ol.plot.lines, {series = {}, file = tmp("x.png")})
  T.raises("contour needs a 2-D function", ol.plot.contour, {f = ol.fn.rastrigin{dim = 3}, file = tmp("x.png")})
  T.raises("bounds must be", ol.plot.contour, {f = function(p) return p[1] end, file = tmp("x.png")})
  local saved = ol.plot.program
  ol.plot.program = dir .. "/no-such-gnuplot"
  local err = T.raises("gnuplot not found: apt-get install gnuplot-nox", ol.plot.lines,
                       {series = {{y = {1, 2}}}, file = tmp("x.png")})
  ol.plot.program = saved
  T.ok(err:find("lines", 1, true), err)
  local run = ol.explore(ol.fn.booth(), "sgd", {lr = 0.01}, {steps = 3})
  ol.plot.program = dir .. "/no-such-gnuplot"
  local ok, e2 = pcall(run.plot, run, tmp("r.png"))
  ol.plot.program = saved
  T.ok(not ok and e2:find("gnuplot not found", 1, true), tostring(e2))
end)

-- Tick labels of an SVG: y axis (right-aligned, left of the plot) and x
-- axis (centred under it), as strings.
local function svg_ticks(text)
  local ys, xs = {}, {}
  for anchor, label in text:gmatch('text%-anchor="(%a+)">%s*<text>%s*([^<]-)</text>') do
    if tonumber(label) then
      if anchor == "end" then ys[#ys + 1] = label elseif anchor == "middle" then xs[#xs + 1] = label end
    end
  end
  return ys, xs
end

-- Every text element of an SVG.
local function svg_texts(text)
  local out = {}
  for t in text:gmatch("<text>([^<]*)</text>") do out[#out + 1] = t end
  return table.concat(out, "\n")
end

T.test("SVG: white background, tick labels as %g prints them", function()
  local text = read(ol.plot.lines{series = {{name = "s", x = {0, 50, 100}, y = {100, 250, 400}}}, file = tmp("w.svg")})
  T.ok(text:find('<rect x="0" y="0" width="800" height="500" fill="#ffffff"/>', 1, true),
       "the canvas is painted white (svg's default is no fill: transparent)")
  local ys, xs = svg_ticks(text)
  T.ok(#ys >= 3 and #xs >= 3, "ticks found")
  for _, l in ipairs(ys) do T.eq(l, string.format("%g", tonumber(l)), "y tick label") end
  for _, l in ipairs(xs) do T.eq(l, string.format("%g", tonumber(l)), "x tick label") end
end)

T.test("compare's log loss axis: an exact landing and a divergence do not stretch it", function()
  -- f = |x|^2 / 2 from (1, 0): sgd multiplies x by (1 - lr) each step, so
  -- f_k = (1 - lr)^(2k) / 2:
  --   fast  lr = 0.999999: f_25 = 1e-300 / 2  (it lands on the minimum)
  --   slow  lr = 0.5:      f_25 = 4^-25 / 2 = 4.44e-16
  --   wild  lr = 2.5:      f_k = 2.25^k / 2 passes 1e6 first at k = 18
  --                        (2.25^17 / 2 = 485370, 2.25^18 / 2 = 1092082)
  -- The top is the highest value of the runs that did not diverge, 0.5,
  -- so the axis' top is 1; the floor is the lowest value within 20 decades
  -- of 0.5, slow's (fast's is 300 decades down), and the axis' bottom the
  -- decade half a decade below it: log10(4.44e-16) - 0.5 = -15.85 -> 1e-16.
  local f = ol.fn.quadratic{A = {{1, 0}, {0, 1}}}
  local cmp = ol.compare(f, {{"sgd", {lr = 0.999999}, label = "fast"}, {"sgd", {lr = 0.5}, label = "slow"},
                             {"sgd", {lr = 2.5}, label = "wild"}}, {x0 = {1, 0}, steps = 25, print = false})
  T.eq(cmp.runs[3].diverged_at, 18)
  local text = read(cmp:plot(tmp("exact.svg"), {contour = false}))
  local ys = svg_ticks(text)
  local lo, hi = math.huge, -math.huge
  for _, l in ipairs(ys) do lo, hi = math.min(lo, tonumber(l)), math.max(hi, tonumber(l)) end
  T.eq(lo, 1e-16, "lowest y tick")
  T.eq(hi, 1, "highest y tick")
  local texts = svg_texts(text)
  T.ok(texts:find("fast (down to 5e-301 at step 25)", 1, true), texts)
  T.ok(texts:find("wild (diverged at step 18)", 1, true), texts)
  T.ok(texts:find("\nslow\n", 1, true), "slow stays on the axis: no note")
end)

T.test("compare's linear loss axis: runs that shoot off at step 1 leave it", function()
  -- saddle x^2 - y^2 from (1, 0.001), sgd lr = 0.1: x_k = 0.8^k,
  -- y_k = 0.001 * 1.2^k, f_k = 0.64^k - 1e-6 * 1.44^k: from 0.999999 down to
  -- f_10 = 0.0114909; the axis spans that, 3% wider each side:
  -- [-0.0182, 1.0297]. lr = 1e9 jumps to x = 1 - 2e9 at step 1 (f ~ 4e18).
  local cmp = ol.compare(ol.fn.saddle(), {{"sgd", {lr = 0.1}, label = "calm"}, {"sgd", {lr = 1e9}, label = "far"}},
                         {x0 = {1, 0.001}, steps = 10, print = false})
  T.eq(cmp.runs[2].diverged_at, 1)
  local text = read(cmp:plot(tmp("saddle.svg"), {contour = false}))
  local ys = svg_ticks(text)
  T.ok(#ys >= 3, "y ticks: " .. table.concat(ys, " "))
  for _, l in ipairs(ys) do
    local v = tonumber(l)
    T.ok(v >= -0.0182 and v <= 1.0297, "y tick " .. l .. " inside [-0.0182, 1.0297]")
  end
  T.ok(svg_texts(text):find("far (diverged at step 1)", 1, true))
end)

T.test("the key goes in a corner no curve crosses, else the axis makes room", function()
  -- a curve along the top (v = 0.95): both top corners are crossed
  local corner = ol.plot._clear_corner({{{0, 0.95}, {1, 0.95}}}, 0.3, 0.2)
  T.eq(corner, "bottom right")
  -- and both diagonals as well: every corner is crossed, the top ones twice
  local none, least = ol.plot._clear_corner({{{0, 0.95}, {1, 0.95}}, {{0, 0}, {1, 1}}, {{0, 1}, {1, 0}}}, 0.3, 0.2)
  T.eq(none, nil)
  T.eq(least, "bottom right", "crossed by one curve, the first such in the order tried")
  -- A log panel whose two lines cross from corner to corner (1 -> 10^-8.4
  -- and back). The axis is the data's range in whole decades, half a
  -- decade or more below the lowest value: [1e-9, 1]. For a 700 x 460 pixel
  -- plot area the key (2 entries, 80 + 7 px wide, 2 * 16 + 14 = 46 px
  -- high) is 0.124 x 0.1 of it, and both lines enter all four corners
  -- (their ends sit at 0 or 1 across, 0.6 / 9 = 0.067 or 1 up). With a
  -- margin the band is 0.13 of the axis, so the axis grows by
  -- ceil(9 * 0.13 / 0.87) = 2 decades at the top, to 100, which clears the
  -- top corners (the band then starts at 10^(-9 + 0.9 * 11) = 7.9).
  local down, up, x = {}, {}, {}
  for k = 0, 100 do x[k + 1], down[k + 1], up[k + 1] = k, 10 ^ (-8.4 * k / 100), 10 ^ (-8.4 + 8.4 * k / 100) end
  local series = {{name = "a", x = x, y = down}, {name = "b", x = x, y = up}}
  local panel = ol.plot._lines_panel("lines", {series = series, logy = true}, "a")
  local setup = panel.layout(830, 550)
  T.ok(setup:find("set yrange [1e-09:100]", 1, true), setup)
  T.ok(setup:find("set key top right opaque", 1, true), setup)
  -- a y range given by the caller is kept: the key goes in the least
  -- crossed corner (each is crossed once: the first in the order tried)
  setup = ol.plot._lines_panel("lines", {series = series, logy = true, yrange = {1e-9, 1}}, "a").layout(830, 550)
  T.ok(setup:find("set yrange [1e-09:1]", 1, true), setup)
  T.ok(setup:find("set key top right opaque", 1, true), setup)
end)

T.test("every call form in the plot help runs", function()
  local D = require("optlua.docs")
  local fh = assert(io.open(tmp("run.jsonl"), "w"))
  for s = 1, 20 do
    fh:write(string.format('{"event":"step","step":%d,"loss":%g,"lr":0.1,"momentum":0.9}\n', s, 1 / s))
  end
  fh:close()
  local env = setmetatable({ol = ol}, {__index = _G})
  local n = 0
  for _, key in ipairs{"plot", "plot.lines", "plot.contour", "plot.log", "plot.available"} do
    local first = true
    for line in D[key]:gmatch("[^\n]+") do
      local code = line:match("^%s*(ol%.plot%..*)$")
      -- the first line of an entry is its signature (placeholders such as `name =`)
      if code and not first then
        code = code:gsub('"([%w_%-]+%.(%a+))"', function(name, ext)
          if ext == "png" or ext == "svg" or ext == "pdf" or ext == "jsonl" then return '"' .. tmp(name) .. '"' end
        end)
        local chunk, err = load("return " .. code, "=help", "t", env)
        T.ok(chunk, "help example compiles: " .. line .. " (" .. tostring(err) .. ")")
        local ok, res = pcall(chunk)
        T.ok(ok, "help example runs: " .. line .. " (" .. tostring(res) .. ")")
        if type(res) == "string" then T.ok(#read(res) > 0, res) end
        n = n + 1
      end
      first = false
    end
  end
  T.ok(n >= 6, "examples found: " .. n)
end)

T.test("errors point at the user's line; a missing directory says so", function()
  local function where(fn)
    local ok, err = pcall(fn)
    T.ok(not ok, "an error")
    return tostring(err)
  end
  local line = debug.getinfo(1, "l").currentline + 1
  local err = where(function() ol.plot.lines{series = {}, file = tmp("x.png")} end)
  T.ok(err:find("^test_plot.lua:" .. line .. ":") or err:find("/test_plot.lua:" .. line .. ":"), err)
  line = debug.getinfo(1, "l").currentline + 1
  err = where(function() ol.plot.lines{series = {{y = {1, 2}}}, file = "/nonexistent-optlua-dir/x.png"} end)
  T.ok(err:find("/test_plot.lua:" .. line .. ": lines: cannot write '/nonexistent-optlua-dir/x.png': "
                .. "the directory '/nonexistent-optlua-dir' does not exist", 1, true), err)
  local run = ol.explore(ol.fn.booth(), "sgd", {lr = 0.01}, {steps = 3})
  line = debug.getinfo(1, "l").currentline + 1
  err = where(function() run:plot(tmp("no/such/dir/r.png")) end)
  T.ok(err:find("/test_plot.lua:" .. line .. ": plot: cannot write", 1, true), err)
  local cmp = ol.compare(ol.fn.booth(), {sgd = {lr = 0.01}}, {steps = 3, print = false})
  line = debug.getinfo(1, "l").currentline + 1
  err = where(function() cmp:plot(tmp("r.png"), {levels = "many"}) end)
  T.ok(err:find("/test_plot.lua:" .. line .. ":", 1, true), err)
  line = debug.getinfo(1, "l").currentline + 1
  err = where(function() ol.plot.contour{f = ol.fn.booth(), paths = {{name = "p"}}, file = tmp("c.png")} end)
  T.ok(err:find("/test_plot.lua:" .. line .. ":", 1, true) and err:find("paths[1] must be", 1, true), err)
  local saved = ol.plot.program
  ol.plot.program = dir .. "/no-such-gnuplot"
  line = debug.getinfo(1, "l").currentline + 1
  local ok, e2 = pcall(function() cmp:plot(tmp("r.png")) end)
  ol.plot.program = saved
  T.ok(not ok and e2:find("/test_plot.lua:" .. line .. ": plot: gnuplot not found", 1, true), tostring(e2))
end)

local status = T.run
T.run = function()
  -- remove the pictures even when a test failed (T.run exits)
  local real_exit = os.exit
  os.exit = function(...) -- luacheck: ignore
    os.execute("rm -rf '" .. dir .. "'")
    real_exit(...)
  end
  status()
end
T.run()
