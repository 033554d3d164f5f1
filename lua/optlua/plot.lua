-- ol.plot: pictures through gnuplot. Each call writes one gnuplot script
-- (the data inline as datablocks, "$name << EOD") to a temporary file, runs
-- gnuplot on it and checks that the picture was written. The terminal
-- follows the file's extension: .png -> pngcairo (png when gnuplot has no
-- cairo), .svg -> svg (on white), .pdf -> pdfcairo.
--
--   ol.plot.lines{series = {{name =, x =, y =}, ...}, logy =, logx =, yrange =,
--                 title =, xlabel =, ylabel =, file = "loss.png"}
--     a series may also give color = "#rrggbb", width = line width (2),
--     points = true (marks at its points instead of a line)
--   ol.plot.contour{f =, bounds =, paths = {{name =, points =}, ...},
--                   levels = 20 or {v1, ...}, scale = "log"|"linear", file =}
--     or, for values computed elsewhere, instead of f and bounds:
--     xs = {...}, ys = {...} (increasing), z = {{...}, ...} (z[j][i] at
--     xs[i], ys[j]); xlabel =, ylabel =, zlabel = (the colour box) for both
--   ol.plot.log("run.jsonl", "run.png")   -- loss, lr, momentum per step
--   ol.plot.program = "gnuplot"          -- or $OPTLUA_GNUPLOT
--
-- gnuplot always runs with stdin from /dev/null: with a terminal on stdin
-- it pages long output ("Press return for more:") and waits for a key the
-- user never knows to press, and it would read the user's next typed line.
--
-- Contour levels: log-spaced in f - f_min when the minimum value is known
-- (the interesting structure of Rosenbrock or an ill-conditioned quadratic
-- sits near the bottom, where linear levels show nothing), else linear.
--
-- Axis ranges are set explicitly (the data's extent, whole decades on a
-- log axis) so that the key can be put in a corner of the plot that no
-- curve crosses (the y axis grows to make room when none is free); it is
-- drawn on an opaque background.
local P = {}
P.program = os.getenv("OPTLUA_GNUPLOT") or "gnuplot"

local COLORS = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"}
P.colors = COLORS

local args = (package.loaded.optlua or optlua or require("optlua"))._args
local getinfo = debug.getinfo

-- The level, as error() counts it from the function that calls user_level
-- (1 = that function), of the first caller outside optlua's own Lua modules
-- (chunks "@optlua/..."): errors point at the user's line, however many
-- library functions (ol.compare -> run:plot -> here, tail calls included)
-- lie between. A C caller (pcall) gives no position, as Lua's own errors.
local function user_level()
  local level = 1
  while true do
    local info = getinfo(level + 1, "S")
    if not info or info.source:sub(1, 8) ~= "@optlua/" then return level end
    level = level + 1
  end
end
P._user_level = user_level

-- An argument error of fname, at the user's call.
local function argerr(fname, i, msg)
  args.error(fname, i, msg, user_level())
end

-- Any other error of fname ("lines: ..."), at the user's call.
local function fail(fname, msg)
  error(fname .. ": " .. msg, user_level())
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function gp_quote(s) return "'" .. tostring(s):gsub("'", "''") .. "'" end

local function num(v)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then return "NaN" end
  return string.format("%.10g", v)
end

-- The terminals of one gnuplot program, asked once ("set terminal" lists them).
local terminal_cache = {}
local function terminals(fname)
  local prog = P.program
  if terminal_cache[prog] then return terminal_cache[prog] end
  local found = os.execute("command -v " .. shell_quote(prog) .. " >/dev/null 2>&1")
  if not found then
    fail(fname, string.format("gnuplot not found: apt-get install gnuplot-nox (looked for '%s')", prog))
  end
  local h = io.popen(shell_quote(prog) .. " -e 'set terminal' </dev/null 2>&1", "r")
  local text = h and h:read("a") or ""
  if h then h:close() end
  local set = {}
  for name in text:gmatch("\n%s*([%w_]+)%s") do set[name] = true end
  terminal_cache[prog] = set
  return set
end

-- "set terminal ..." for a file name, by its extension; w, h in pixels.
local function terminal_for(fname, file, w, h)
  if type(file) ~= "string" or file == "" then argerr(fname, 1, "file name expected (a .png, .svg or .pdf)") end
  local ext = (file:match("%.([%w]+)$") or ""):lower()
  if ext ~= "png" and ext ~= "svg" and ext ~= "pdf" then
    argerr(fname, 1, string.format("unknown picture type '%s' for '%s' (use .png, .svg or .pdf)",
                                   ext == "" and "(none)" or "." .. ext, file))
  end
  local terms = terminals(fname)
  if ext == "png" then
    if terms.pngcairo then
      return string.format("set terminal pngcairo size %d,%d noenhanced font 'sans,10'", w, h)
    end
    return string.format("set terminal png size %d,%d noenhanced", w, h)
  elseif ext == "svg" then -- svg's default background is none: transparent
    return string.format("set terminal svg size %d,%d noenhanced background rgb 'white'", w, h)
  end
  if not terms.pdfcairo then fail(fname, "this gnuplot has no pdfcairo terminal") end
  return string.format("set terminal pdfcairo size %.2fin,%.2fin noenhanced", w / 96, h / 96)
end

local function read_file(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local s = fh:read("a")
  fh:close()
  return s
end

-- That file can be written: its directory exists and the file can be
-- created. Removes what is there, so that a stale picture is never taken
-- for a new one.
local function check_output(fname, file)
  local dir = file:match("^(.*)/[^/]*$")
  if dir then
    local d, err = io.open((dir == "" and "/" or dir) .. "/.", "r")
    if not d then
      fail(fname, string.format("cannot write '%s': %s", file, tostring(err):find("Not a directory", 1, true)
                                and ("'" .. dir .. "' is not a directory")
                                or ("the directory '" .. dir .. "' does not exist")))
    end
    d:close()
  end
  local fh, err = io.open(file, "wb")
  if not fh then fail(fname, string.format("cannot write '%s': %s", file, tostring(err))) end
  fh:close()
  os.remove(file)
end

-- Runs a script body with the terminal and output set for file.
local function render(fname, file, body, w, h)
  local term = terminal_for(fname, file, w, h)
  check_output(fname, file)
  local script = os.tmpname()
  local errf = script .. ".err"
  local fh = assert(io.open(script, "w"))
  fh:write(term, "\nset output ", gp_quote(file), "\n", body, "\nunset output\n")
  fh:close()
  local ok = os.execute(shell_quote(P.program) .. " " .. shell_quote(script) .. " </dev/null >"
                        .. shell_quote(errf) .. " 2>&1")
  local err = read_file(errf) or ""
  os.remove(script)
  os.remove(errf)
  local pic = read_file(file)
  if not ok or not pic or #pic == 0 then
    fail(fname, string.format("gnuplot failed to write '%s': %s", file, err:gsub("%s+$", ""):sub(-600)))
  end
  return file
end
P._render = render

-- "$name << EOD" with rows of numbers; a row of {} is a blank line.
local function datablock(name, rows)
  local out = {"$" .. name .. " << EOD"}
  for _, r in ipairs(rows) do
    local cells = {}
    for i = 1, #r do cells[i] = num(r[i]) end
    out[#out + 1] = table.concat(cells, " ")
  end
  out[#out + 1] = "EOD"
  return table.concat(out, "\n")
end

local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- ---- the key: in a corner of the plot that no curve crosses ----

local CORNERS = {{"top right", 1, 1}, {"top left", 0, 1}, {"bottom right", 1, 0}, {"bottom left", 0, 0}}

-- The key's box as fractions {kw, kh} of a plot area of pw x ph pixels:
-- nkeys entries, the longest maxlen characters (10 pt labels, the line
-- sample, the box's padding).
local function key_size(nkeys, maxlen, pw, ph)
  return math.min(1, (maxlen * 7 + 80) / math.max(pw, 50)), math.min(1, (nkeys * 16 + 14) / math.max(ph, 50))
end

-- For each corner of CORNERS, how many curves enter a key-sized box
-- (kw x kh) there. curves: lists of {u, v}, points as fractions of the
-- plot area (0..1 across and up; nil for a gap, pts.n the length then).
local function crossings(curves, kw, kh)
  local counts = {0, 0, 0, 0}
  local function inside(i, u, v)
    local c = CORNERS[i]
    return u >= 0 and u <= 1 and v >= 0 and v <= 1
       and (c[2] == 1 and u >= 1 - kw or c[2] == 0 and u <= kw)
       and (c[3] == 1 and v >= 1 - kh or c[3] == 0 and v <= kh)
  end
  -- far-off points are pulled in to just outside the area: the direction
  -- of a segment leaving it changes a little, its part inside hardly
  local function clamp(x) return math.max(-0.5, math.min(1.5, x)) end
  for _, pts in ipairs(curves) do
    local hit = {false, false, false, false}
    local pu, pv
    for i = 1, pts.n or #pts do
      local p = pts[i]
      if p and finite(p[1]) and finite(p[2]) then
        local u, v = clamp(p[1]), clamp(p[2])
        -- samples 1/200 of the area apart along the segment from the last point
        local du, dv = pu and u - pu or 0, pv and v - pv or 0
        local n = pu and math.max(1, math.ceil(math.sqrt(du * du + dv * dv) / 0.005)) or 1
        for k = 1, n do
          local su, sv = u - du * (n - k) / n, v - dv * (n - k) / n
          for c = 1, 4 do hit[c] = hit[c] or inside(c, su, sv) end
        end
        pu, pv = u, v
      else
        pu, pv = nil, nil
      end
    end
    for c = 1, 4 do if hit[c] then counts[c] = counts[c] + 1 end end
  end
  return counts
end

-- The corner no curve crosses (the first, in the order of CORNERS), or
-- nil, and the least crossed corner.
local function clear_corner(curves, kw, kh)
  local counts = crossings(curves, kw, kh)
  local best = 1
  for i = 1, 4 do
    if counts[i] == 0 then return CORNERS[i][1], CORNERS[i][1] end
    if counts[i] < counts[best] then best = i end
  end
  return nil, CORNERS[best][1]
end
P._clear_corner = clear_corner

local function key_command(corner)
  return "set key " .. corner .. " opaque box lc rgb '#b0b0b0' width 2"
end

-- A log axis from lo to hi > 0: whole decades, with at least half a
-- decade below lo (so that a curve ending at lo is not drawn on the axis).
local function log_range(lo, hi)
  local a, b = math.floor(math.log(lo, 10) - 0.5), math.ceil(math.log(hi, 10))
  return {10.0 ^ a, 10.0 ^ b}
end
P._log_range = log_range

-- The axis range {lo, hi} of values: `given`, else the data's extent,
-- widened to whole decades on a log axis (where only v > 0 count) and, on
-- a linear one, by 3% each side unless tight; nil without data.
local function axis_range(values, log, given, tight)
  if given then return {given[1], given[2]} end
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(values) do
    if finite(v) and (not log or v > 0) then lo, hi = math.min(lo, v), math.max(hi, v) end
  end
  if lo > hi then return nil end
  if log then return log_range(lo, hi) end
  if lo == hi then
    local d = lo == 0 and 1 or math.abs(lo) * 0.1
    return {lo - d, hi + d}
  end
  local m = tight and 0 or 0.03 * (hi - lo)
  return {lo - m, hi + m}
end
P._axis_range = axis_range

-- v's position in range r as a fraction (log axes by log10).
local function fraction(v, r, log)
  if log then
    if not (v > 0) then return v == v and -math.huge or nil end
    return (math.log(v, 10) - math.log(r[1], 10)) / (math.log(r[2], 10) - math.log(r[1], 10))
  end
  return (v - r[1]) / (r[2] - r[1])
end

-- Tick labels as %g prints numbers: 100, 0.5, 1e-05.
local FORMATS = "set format x '%g'\nset format y '%g'"

-- ---- panels: data, setup, plot command and layout(w, h) (the y range and
-- the key for a panel of w x h pixels), which render_panels combines ----

-- A line-plot panel. spec: series, logy, logx, xrange, yrange, title,
-- xlabel, ylabel, lmargin; key_room = true lets the y range grow beyond a
-- given yrange to make room for the key.
local function lines_panel(fname, spec, tag)
  if type(spec.series) ~= "table" or #spec.series == 0 then
    argerr(fname, 1, "series must be a non-empty list of {name =, y = [, x =]}")
  end
  for _, r in ipairs{{"xrange", spec.xrange}, {"yrange", spec.yrange}} do
    local v = r[2]
    if v ~= nil and not (type(v) == "table" and finite(v[1]) and finite(v[2]) and v[1] < v[2]) then
      argerr(fname, 1, r[1] .. " must be {lo, hi} with lo < hi")
    end
  end
  local data, plots, xs, ys, kept = {}, {}, {}, {}, {}
  for i, s in ipairs(spec.series) do
    if type(s) ~= "table" or type(s.y) ~= "table" then
      argerr(fname, 1, "series[" .. i .. "] must be a table {name =, y = {...} [, x = {...}]}")
    end
    if s.x ~= nil and (type(s.x) ~= "table" or #s.x ~= #s.y) then
      argerr(fname, 1, "series[" .. i .. "]: x and y differ in length")
    end
    if s.width ~= nil and not (finite(s.width) and s.width > 0) then
      argerr(fname, 1, "series[" .. i .. "].width must be a number > 0")
    end
    local rows, valid = {}, 0
    for k = 1, #s.y do
      local x, y = s.x and s.x[k] or k - 1, s.y[k]
      if spec.logy and finite(y) and y <= 0 then y = 0 / 0 end
      if finite(x) and finite(y) then
        valid = valid + 1
        xs[#xs + 1], ys[#ys + 1] = x, y
      end
      rows[k] = {x, y}
    end
    if valid > 0 then
      local dname = tag .. "s" .. i
      data[#data + 1] = datablock(dname, rows)
      local color = s.color or COLORS[(i - 1) % #COLORS + 1]
      local with = s.points and string.format("points pt 7 ps 1.5 lc rgb '%s'", color)
                   or string.format("lines lw %s lc rgb '%s'", num(s.width or 2), color)
      plots[#plots + 1] = string.format("$%s using 1:2 with %s title %s", dname, with,
                                        gp_quote(s.name or ("series " .. i)))
      kept[#kept + 1] = {rows = rows, name = s.name or ("series " .. i)}
    end
  end
  if #plots == 0 then argerr(fname, 1, "no finite points to plot") end
  local xr = axis_range(xs, spec.logx, spec.xrange, true)
  local yr = axis_range(ys, spec.logy, spec.yrange)
  if not xr or not yr then argerr(fname, 1, "no points on the axes (a log axis needs values > 0)") end
  local maxlen = 0
  for _, k in ipairs(kept) do maxlen = math.max(maxlen, utf8.len(k.name) or #k.name) end
  -- the curves as fractions of the plot area for a y range
  local function curves(r)
    local out = {}
    for i, k in ipairs(kept) do
      local pts = {n = #k.rows}
      for j, row in ipairs(k.rows) do
        local u, v = fraction(row[1], xr, spec.logx), fraction(row[2], r, spec.logy)
        if u and v then pts[j] = {u, v} end
      end
      out[i] = pts
    end
    return out
  end
  -- The y range and the key, for a plot area of pw x ph pixels: the key
  -- goes in a corner that no curve crosses; without one, the y range
  -- grows (unless the caller fixed it) to leave a band free for the key,
  -- above the curves or else below them; failing that, the key goes in
  -- the least crossed corner.
  local function layout(pw, ph)
    local kw, kh = key_size(#kept, maxlen, pw, ph)
    local r = yr
    local corner, least = clear_corner(curves(r), kw, kh)
    if not corner and (spec.yrange == nil or spec.key_room) then
      local q = math.min(0.6, kh + 0.03) -- the band, as a fraction of the new range
      for _, side in ipairs{"top", "bottom"} do
        local wider
        if spec.logy then
          local extra = math.ceil(math.log(r[2] / r[1], 10) * q / (1 - q))
          wider = side == "top" and {r[1], r[2] * 10.0 ^ extra} or {r[1] / 10.0 ^ extra, r[2]}
        else
          local extra = (r[2] - r[1]) * q / (1 - q)
          wider = side == "top" and {r[1], r[2] + extra} or {r[1] - extra, r[2]}
        end
        corner = clear_corner(curves(wider), kw, kh)
        if corner then r = wider break end
      end
    end
    return table.concat({string.format("set yrange [%s:%s]", num(r[1]), num(r[2])),
                         key_command(corner or least)}, "\n")
  end
  local setup = {"set grid", FORMATS, string.format("set xrange [%s:%s]", num(xr[1]), num(xr[2]))}
  if spec.title then setup[#setup + 1] = "set title " .. gp_quote(spec.title) end
  if spec.xlabel then setup[#setup + 1] = "set xlabel " .. gp_quote(spec.xlabel) end
  if spec.ylabel then setup[#setup + 1] = "set ylabel " .. gp_quote(spec.ylabel) end
  if spec.logy then setup[#setup + 1] = "set logscale y" end
  if spec.logx then setup[#setup + 1] = "set logscale x" end
  -- fixed margins line up the x axes of stacked panels
  if spec.lmargin then setup[#setup + 1] = string.format("set lmargin %d\nset rmargin %d", spec.lmargin, 4) end
  return {data = table.concat(data, "\n"), pre = "",
          setup = table.concat(setup, "\n"), plot = "plot " .. table.concat(plots, ", \\\n  "),
          -- the plot area: the panel less about 130 px across (tick labels,
          -- y label, right margin) and 90 down (title, x tick labels and label)
          layout = function(w, h) return layout(w - 130, h - 90) end}
end

-- f's value at a point {x, y}: f.eval for ol.fn functions, else f(point).
local function value_of(f)
  if type(f) == "table" and type(f.eval) == "function" then
    local eval = f.eval
    return function(x, y) return (eval{x, y}) end
  end
  return function(x, y) return (f{x, y}) end
end

local function check_bounds(fname, b)
  if type(b) ~= "table" or type(b[1]) ~= "table" or type(b[2]) ~= "table"
     or not (tonumber(b[1][1]) and tonumber(b[1][2]) and tonumber(b[2][1]) and tonumber(b[2][2]))
     or b[1][1] >= b[1][2] or b[2][1] >= b[2][2] then
    argerr(fname, 1, "bounds must be {{xmin, xmax}, {ymin, ymax}} with min < max")
  end
end

-- Contour levels: n log-spaced values of f - f_min (shifted back), or n
-- linear ones between the grid's extremes.
local function make_levels(zs, fmin, n, scale)
  local lo, hi = math.huge, -math.huge
  for _, z in ipairs(zs) do
    if finite(z) then lo, hi = math.min(lo, z), math.max(hi, z) end
  end
  if lo == math.huge or hi <= lo then return {} end
  local levels = {}
  if scale == "log" then
    local base = fmin or lo
    local top = hi - base
    local bottom = math.max(top * 1e-6, lo - base)
    if bottom <= 0 then bottom = top * 1e-6 end
    for i = 1, n do
      levels[i] = base + bottom * (top / bottom) ^ ((i - 0.5) / n)
    end
  else
    for i = 1, n do levels[i] = lo + (hi - lo) * i / (n + 1) end
  end
  return levels
end

-- A grid given as xs, ys (increasing) and z[j][i]: its bounds, and
-- value(i, j) -> x, y, z.
local function given_grid(fname, spec)
  local xs, ys, z = spec.xs, spec.ys, spec.z
  if spec.f ~= nil or spec.bounds ~= nil or spec.grid ~= nil then
    argerr(fname, 1, "give either f (with bounds, grid) or xs, ys and z, not both")
  end
  for _, a in ipairs{{"xs", xs}, {"ys", ys}} do
    local v = a[2]
    if type(v) ~= "table" or #v < 2 then argerr(fname, 1, a[1] .. " must be a list of at least 2 numbers") end
    for i = 1, #v do
      if not finite(v[i]) or (i > 1 and not (v[i] > v[i - 1])) then
        argerr(fname, 1, a[1] .. " must be finite numbers in increasing order")
      end
    end
  end
  if type(z) ~= "table" or #z ~= #ys then argerr(fname, 1, "z must be a list of #ys rows") end
  for j = 1, #ys do
    if type(z[j]) ~= "table" or #z[j] ~= #xs then
      argerr(fname, 1, string.format("z[%d] must be a row of #xs = %d numbers", j, #xs))
    end
  end
  return {{xs[1], xs[#xs]}, {ys[1], ys[#ys]}}, #xs, #ys, function(i, j) return xs[i + 1], ys[j + 1], z[j + 1][i + 1] end
end

-- A contour panel. spec: f, bounds, grid (or xs, ys, z), paths, levels,
-- scale, title, minima, xlabel, ylabel, zlabel.
local function contour_panel(fname, spec, tag)
  local f = spec.f
  local b, nx, ny, point
  if spec.z ~= nil or spec.xs ~= nil or spec.ys ~= nil then
    b, nx, ny, point = given_grid(fname, spec)
  else
    if type(f) ~= "function" and not (type(f) == "table" and getmetatable(f) and getmetatable(f).__call) then
      argerr(fname, 1, "f must be a function of a 2-D point (e.g. ol.fn.rosenbrock()), or give xs, ys and z")
    end
    if type(f) == "table" and f.dim and f.dim ~= 2 then
      argerr(fname, 1, string.format("contour needs a 2-D function, %s is %d-D", f.name or "f", f.dim))
    end
    b = spec.bounds or (type(f) == "table" and f.bounds)
    check_bounds(fname, b)
    local n = spec.grid or 120
    nx, ny = n, n
    local value = value_of(f)
    point = function(i, j)
      local x = b[1][1] + (b[1][2] - b[1][1]) * i / (n - 1)
      local y = b[2][1] + (b[2][2] - b[2][1]) * j / (n - 1)
      return x, y, value(x, y)
    end
  end
  local fmin = type(f) == "table" and f.min_value or nil
  local scale = spec.scale or (fmin and "log" or "linear")
  if scale ~= "log" and scale ~= "linear" then argerr(fname, 1, "scale must be 'log' or 'linear'") end
  local rows, zs = {}, {}
  for j = 0, ny - 1 do
    for i = 0, nx - 1 do
      local x, y, z = point(i, j)
      zs[#zs + 1] = z
      -- 4th column: the heat map's colour, log10 of the gap in log scale
      local c = z
      if scale == "log" then c = math.log(math.max(z - (fmin or 0), 1e-12), 10) end
      rows[#rows + 1] = {x, y, z, c}
    end
    rows[#rows + 1] = {}
  end
  local levels = spec.levels or 20
  if type(levels) == "number" then
    levels = make_levels(zs, fmin, math.max(1, math.floor(levels)), scale)
  elseif type(levels) ~= "table" then
    argerr(fname, 1, "levels must be a count or a list of values")
  end
  local lv = {}
  for i, v in ipairs(levels) do lv[i] = num(v) end
  local data = {datablock(tag .. "grid", rows)}
  local pre = {}
  if #lv > 0 then
    pre = {"set view map", "set contour base", "unset surface",
           "set cntrparam levels discrete " .. table.concat(lv, ","),
           "set table $" .. tag .. "cont", "splot $" .. tag .. "grid using 1:2:3 with lines notitle",
           "unset table", "unset contour", "set surface"}
  end
  local plots = {}
  if spec.heatmap ~= false then plots[#plots + 1] = "$" .. tag .. "grid using 1:2:4 with image notitle" end
  if #lv > 0 then
    plots[#plots + 1] = "$" .. tag .. "cont using 1:2 with lines lc rgb '#606060' lw 0.7 notitle"
  end
  -- the key's curves: paths and minima as fractions of the bounds
  local curves, nkeys, maxlen = {}, 0, 0
  local function frac(pt) return {(pt[1] - b[1][1]) / (b[1][2] - b[1][1]), (pt[2] - b[2][1]) / (b[2][2] - b[2][1])} end
  for i, p in ipairs(spec.paths or {}) do
    if type(p) ~= "table" or type(p.points) ~= "table" then
      argerr(fname, 1, "paths[" .. i .. "] must be a table {name =, points = {{x, y}, ...}}")
    end
    local prow, pts = {}, {}
    for k, pt in ipairs(p.points) do
      if type(pt) ~= "table" or type(pt[1]) ~= "number" or type(pt[2]) ~= "number" then
        argerr(fname, 1, string.format("paths[%d].points[%d] must be {x, y}", i, k))
      end
      prow[k], pts[k] = {pt[1], pt[2]}, frac(pt)
    end
    local name = p.name or ("path " .. i)
    curves[#curves + 1], nkeys, maxlen = pts, nkeys + 1, math.max(maxlen, utf8.len(name) or #name)
    local dname = tag .. "p" .. i
    data[#data + 1] = datablock(dname, prow)
    local color = p.color or COLORS[(i - 1) % #COLORS + 1]
    plots[#plots + 1] = string.format("$%s using 1:2 with lines lw 2 lc rgb '%s' title %s", dname, color,
                                      gp_quote(name))
    if #prow > 0 then -- the start, marked once
      data[#data + 1] = datablock(dname .. "s", {prow[1]})
      plots[#plots + 1] = string.format("$%ss using 1:2 with points pt 7 ps 1.2 lc rgb '%s' notitle", dname, color)
    end
  end
  local minima = spec.minima or (type(f) == "table" and f.minimum) or {}
  if #minima > 0 then
    local mrow = {}
    for k, m in ipairs(minima) do
      if type(m) ~= "table" or type(m[1]) ~= "number" or type(m[2]) ~= "number" then
        argerr(fname, 1, string.format("minima[%d] must be {x, y}", k))
      end
      mrow[k] = {m[1], m[2]}
      curves[#curves + 1] = {frac(m)}
    end
    nkeys, maxlen = nkeys + 1, math.max(maxlen, #"minimum")
    data[#data + 1] = datablock(tag .. "min", mrow)
    plots[#plots + 1] = "$" .. tag .. "min using 1:2 with points pt 3 ps 2 lw 2 lc rgb 'black' title 'minimum'"
  end
  local setup = {
    string.format("set xrange [%s:%s]", num(b[1][1]), num(b[1][2])),
    string.format("set yrange [%s:%s]", num(b[2][1]), num(b[2][2])),
    "set palette defined (0 '#ffffff', 1 '#e3eef8', 2 '#b7d4ea', 3 '#7fb2d9')",
    FORMATS, "set format cb '%g'", "set xlabel " .. gp_quote(spec.xlabel or "x"),
    "set ylabel " .. gp_quote(spec.ylabel or "y"),
    "set cblabel " .. gp_quote(spec.zlabel or (scale == "log" and "log10(f - f_min)" or "f")) .. " offset 1,0",
  }
  if spec.title then setup[#setup + 1] = "set title " .. gp_quote(spec.title) end
  return {data = table.concat(data, "\n"), pre = table.concat(pre, "\n"),
          setup = table.concat(setup, "\n"), plot = "plot " .. table.concat(plots, ", \\\n  "),
          layout = function(w, h) -- the plot area: as a line plot's, less the colour box
            if nkeys == 0 then return "unset key" end
            local corner, least = clear_corner(curves, key_size(nkeys, maxlen, w - 220, h - 90))
            return key_command(corner or least)
          end}
end

-- Renders panels side by side (layout = {rows, cols}) into file.
local function render_panels(fname, file, panels, layout, w, h)
  local parts = {}
  for _, p in ipairs(panels) do parts[#parts + 1] = p.data end
  for _, p in ipairs(panels) do parts[#parts + 1] = p.pre end
  if #panels > 1 then
    parts[#parts + 1] = string.format("set multiplot layout %d,%d", layout[1], layout[2])
  end
  for _, p in ipairs(panels) do
    parts[#parts + 1] = "reset"
    parts[#parts + 1] = p.setup
    parts[#parts + 1] = p.layout(w / layout[2], h / layout[1])
    parts[#parts + 1] = p.plot
  end
  if #panels > 1 then parts[#parts + 1] = "unset multiplot" end
  return render(fname, file, table.concat(parts, "\n"), w, h)
end
P._lines_panel, P._contour_panel, P._render_panels = lines_panel, contour_panel, render_panels

-- The options every picture takes, and those of lines and contour.
local COMMON = {file = {"string", required = true}, size = {"table"}, title = {"string"}}
local SPECS = {
  lines = {series = {"table", required = true}, logy = {"boolean"}, logx = {"boolean"},
           xlabel = {"string"}, ylabel = {"string"}, xrange = {"table"}, yrange = {"table"},
           lmargin = {"integer"}},
  contour = {f = {"function"}, bounds = {"table"}, paths = {"table"},
             levels = {"number|table"}, scale = {"string", one_of = {"log", "linear"}},
             grid = {"integer", min = 2}, minima = {"table"}, heatmap = {"boolean"},
             xs = {"table"}, ys = {"table"}, z = {"table"}, xlabel = {"string"}, ylabel = {"string"},
             zlabel = {"string"}},
}
for _, spec in pairs(SPECS) do
  for k, v in pairs(COMMON) do spec[k] = v end
end

-- Checks the argument of ol.plot.lines / contour (keys and types; the
-- panels check the contents).
local function spec_table(fname, spec)
  args.options(fname, 1, spec, SPECS[fname], user_level())
  return spec
end

-- The picture's size in pixels: spec.size = {w, h}, else the default.
local function size_of(fname, spec, w, h)
  local s = spec.size
  if s == nil then return w, h end
  if math.type(s[1]) ~= "integer" or math.type(s[2]) ~= "integer" or s[1] < 100 or s[2] < 100 then
    argerr(fname, 1, "size must be {width, height} in pixels, integers >= 100")
  end
  return s[1], s[2]
end

-- ol.plot.lines{...} -> file
function P.lines(spec)
  spec_table("lines", spec)
  local w, h = size_of("lines", spec, 800, 500)
  return render_panels("lines", spec.file, {lines_panel("lines", spec, "a")}, {1, 1}, w, h)
end

-- ol.plot.contour{...} -> file
function P.contour(spec)
  spec_table("contour", spec)
  local w, h = size_of("contour", spec, 800, 650)
  return render_panels("contour", spec.file, {contour_panel("contour", spec, "a")}, {1, 1}, w, h)
end

-- Minimal JSON for the flat objects of a training log: strings, numbers,
-- true/false/null. Returns nil on anything else.
local function parse_flat_json(line)
  local obj, pos = {}, line:find("{")
  if not pos then return nil end
  pos = pos + 1
  while true do
    local s, e = line:find('^%s*}', pos)
    if s then return obj end
    local k
    s, e, k = line:find('^%s*,?%s*"([^"]*)"%s*:%s*', pos)
    if not s then return nil end
    pos = e + 1
    local v
    local q = line:match('^"', pos)
    if q then
      local str = {}
      local i = pos + 1
      while i <= #line do
        local c = line:sub(i, i)
        if c == "\\" then str[#str + 1] = line:sub(i + 1, i + 1); i = i + 2
        elseif c == '"' then break
        else str[#str + 1] = c; i = i + 1 end
      end
      v, pos = table.concat(str), i + 1
    else
      local tok = line:match("^[^,}%s]+", pos)
      if not tok then return nil end
      pos = pos + #tok
      if tok == "true" then v = true elseif tok == "false" then v = false
      elseif tok == "null" then v = nil else v = tonumber(tok) end
    end
    obj[k] = v
  end
end
P._parse_flat_json = parse_flat_json

-- ol.plot.log("run.jsonl", "run.png"): the training log's loss (log scale,
-- per step; epoch and validation losses at their steps), learning rate and
-- momentum against the step, one panel each.
function P.log(path, file, opts)
  if type(path) ~= "string" then argerr("log", 1, "path of a JSONL training log expected") end
  if type(file) ~= "string" then argerr("log", 2, "picture file name expected") end
  opts = args.options("log", 3, opts, {title = {"string"}}, user_level())
  local fh, err = io.open(path, "r")
  if not fh then argerr("log", 1, "cannot open " .. tostring(err)) end
  local s = {loss = {x = {}, y = {}}, epoch = {x = {}, y = {}}, val = {x = {}, y = {}},
             lr = {x = {}, y = {}}, mom = {x = {}, y = {}}}
  local function add(t, x, y) if finite(x) and finite(y) then t.x[#t.x + 1], t.y[#t.y + 1] = x, y end end
  local n = 0
  for line in fh:lines() do
    n = n + 1
    if line:find("%S") then
      local o = parse_flat_json(line)
      if not o then fh:close(); argerr("log", 1, string.format("%s:%d: not a flat JSON object", path, n)) end
      local step = o.step
      if o.event == "epoch" then
        add(s.epoch, step, o.epoch_loss)
        add(s.val, step, o.val_loss)
      else
        add(s.loss, step, o.loss)
      end
      add(s.lr, step, o.lr)
      add(s.mom, step, o.momentum)
    end
  end
  fh:close()
  local loss_series = {}
  for _, e in ipairs{{s.loss, "loss (step)"}, {s.epoch, "loss (epoch)"}, {s.val, "validation loss"}} do
    if #e[1].y > 0 then loss_series[#loss_series + 1] = {name = e[2], x = e[1].x, y = e[1].y} end
  end
  if #loss_series == 0 then argerr("log", 1, path .. ": no losses in the log") end
  local positive = true
  for _, se in ipairs(loss_series) do
    for _, v in ipairs(se.y) do if v <= 0 then positive = false end end
  end
  local x0, x1 = math.huge, -math.huge
  for _, t in pairs(s) do
    for _, x in ipairs(t.x) do x0, x1 = math.min(x0, x), math.max(x1, x) end
  end
  local xr = x1 > x0 and {x0, x1} or nil
  local panels = {lines_panel("log", {series = loss_series, logy = positive, ylabel = "loss", xrange = xr,
                                      lmargin = 12, title = (opts and opts.title) or path}, "a")}
  if #s.lr.y > 0 then
    panels[#panels + 1] = lines_panel("log", {series = {{name = "lr", x = s.lr.x, y = s.lr.y}},
                                              ylabel = "learning rate", xrange = xr, lmargin = 12}, "b")
  end
  if #s.mom.y > 0 then
    panels[#panels + 1] = lines_panel("log", {series = {{name = "momentum", x = s.mom.x, y = s.mom.y}},
                                              ylabel = "momentum", xlabel = "step", xrange = xr, lmargin = 12}, "c")
  end
  return render_panels("log", file, panels, {#panels, 1}, 900, 300 * #panels)
end

-- ol.plot.available() -> true when gnuplot can be run.
function P.available()
  return os.execute("command -v " .. shell_quote(P.program) .. " >/dev/null 2>&1") == true
end

return P
