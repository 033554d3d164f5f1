-- ol.plot: pictures through gnuplot. Each call writes one gnuplot script
-- (the data inline as datablocks, "$name << EOD") to a temporary file, runs
-- gnuplot on it and checks that the picture was written. The terminal
-- follows the file's extension: .png -> pngcairo (png when gnuplot has no
-- cairo), .svg -> svg, .pdf -> pdfcairo.
--
--   ol.plot.lines{series = {{name =, x =, y =}, ...}, logy =, title =,
--                 xlabel =, ylabel =, file = "loss.png"}
--   ol.plot.contour{f =, bounds =, paths = {{name =, points =}, ...},
--                   levels = 20 or {v1, ...}, scale = "log"|"linear", file =}
--   ol.plot.log("run.jsonl", "run.png")   -- loss, lr, momentum per step
--   ol.plot.program = "gnuplot"          -- or $OPTLUA_GNUPLOT
--
-- Contour levels: log-spaced in f - f_min when the minimum value is known
-- (the interesting structure of Rosenbrock or an ill-conditioned quadratic
-- sits near the bottom, where linear levels show nothing), else linear.
local P = {}
P.program = os.getenv("OPTLUA_GNUPLOT") or "gnuplot"

local COLORS = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"}
P.colors = COLORS

local args = (package.loaded.optlua or optlua or require("optlua"))._args

-- Raised at the caller of the function that called argerr.
local function argerr(fname, i, msg)
  args.error(fname, i, msg, 3)
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
    error(string.format("%s: gnuplot not found: apt-get install gnuplot-nox (looked for '%s')",
                        fname, prog), 3)
  end
  local h = io.popen(shell_quote(prog) .. " -e 'set terminal' 2>&1", "r")
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
  elseif ext == "svg" then
    return string.format("set terminal svg size %d,%d noenhanced", w, h)
  end
  if not terms.pdfcairo then error(fname .. ": this gnuplot has no pdfcairo terminal", 3) end
  return string.format("set terminal pdfcairo size %.2fin,%.2fin noenhanced", w / 96, h / 96)
end

local function read_file(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local s = fh:read("a")
  fh:close()
  return s
end

-- Runs a script body with the terminal and output set for file.
local function render(fname, file, body, w, h)
  local term = terminal_for(fname, file, w, h)
  local script = os.tmpname()
  local errf = script .. ".err"
  local fh = assert(io.open(script, "w"))
  fh:write(term, "\nset output ", gp_quote(file), "\n", body, "\nunset output\n")
  fh:close()
  os.remove(file) -- so a stale picture is never taken for a new one
  local ok = os.execute(shell_quote(P.program) .. " " .. shell_quote(script) .. " 2>" .. shell_quote(errf))
  local err = read_file(errf) or ""
  os.remove(script)
  os.remove(errf)
  local pic = read_file(file)
  if not ok or not pic or #pic == 0 then
    error(string.format("%s: gnuplot failed to write '%s': %s", fname, file,
                        err:gsub("%s+$", ""):sub(-600)), 3)
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

-- ---- panels: (data, setup, plot command) that render() can combine ----

-- A line-plot panel. spec: series, logy, logx, title, xlabel, ylabel, tag.
local function lines_panel(fname, spec, tag)
  if type(spec.series) ~= "table" or #spec.series == 0 then
    argerr(fname, 1, "series must be a non-empty list of {name =, y = [, x =]}")
  end
  local data, plots = {}, {}
  for i, s in ipairs(spec.series) do
    if type(s) ~= "table" or type(s.y) ~= "table" then
      argerr(fname, 1, "series[" .. i .. "] must be a table with a list y")
    end
    if s.x ~= nil and (type(s.x) ~= "table" or #s.x ~= #s.y) then
      argerr(fname, 1, "series[" .. i .. "]: x and y differ in length")
    end
    local rows, valid = {}, 0
    for k = 1, #s.y do
      local x, y = s.x and s.x[k] or k - 1, s.y[k]
      if spec.logy and finite(y) and y <= 0 then y = 0 / 0 end
      if finite(x) and finite(y) then valid = valid + 1 end
      rows[k] = {x, y}
    end
    if valid > 0 then
      local dname = tag .. "s" .. i
      data[#data + 1] = datablock(dname, rows)
      plots[#plots + 1] = string.format("$%s using 1:2 with lines lw 2 lc rgb '%s' title %s", dname,
                                        s.color or COLORS[(i - 1) % #COLORS + 1], gp_quote(s.name or ("series " .. i)))
    end
  end
  if #plots == 0 then argerr(fname, 1, "no finite points to plot") end
  local setup = {"set grid", "set key top right"}
  if spec.title then setup[#setup + 1] = "set title " .. gp_quote(spec.title) end
  if spec.xlabel then setup[#setup + 1] = "set xlabel " .. gp_quote(spec.xlabel) end
  if spec.ylabel then setup[#setup + 1] = "set ylabel " .. gp_quote(spec.ylabel) end
  if spec.logy then setup[#setup + 1] = "set logscale y" end
  if spec.logx then setup[#setup + 1] = "set logscale x" end
  if spec.xrange then setup[#setup + 1] = string.format("set xrange [%s:%s]", num(spec.xrange[1]), num(spec.xrange[2])) end
  -- fixed margins line up the x axes of stacked panels
  if spec.lmargin then setup[#setup + 1] = string.format("set lmargin %d\nset rmargin %d", spec.lmargin, 4) end
  return {data = table.concat(data, "\n"), pre = "",
          setup = table.concat(setup, "\n"), plot = "plot " .. table.concat(plots, ", \\\n  ")}
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

-- A contour panel. spec: f, bounds, paths, levels, scale, grid, title, minima.
local function contour_panel(fname, spec, tag)
  local f = spec.f
  if type(f) ~= "function" and not (type(f) == "table" and getmetatable(f) and getmetatable(f).__call) then
    argerr(fname, 1, "f must be a function of a 2-D point (e.g. ol.fn.rosenbrock())")
  end
  if type(f) == "table" and f.dim and f.dim ~= 2 then
    argerr(fname, 1, string.format("contour needs a 2-D function, %s is %d-D", f.name or "f", f.dim))
  end
  local b = spec.bounds or (type(f) == "table" and f.bounds)
  check_bounds(fname, b)
  local n = spec.grid or 120
  local value = value_of(f)
  local fmin = type(f) == "table" and f.min_value or nil
  local scale = spec.scale or (fmin and "log" or "linear")
  if scale ~= "log" and scale ~= "linear" then argerr(fname, 1, "scale must be 'log' or 'linear'") end
  local rows, zs = {}, {}
  for j = 0, n - 1 do
    local y = b[2][1] + (b[2][2] - b[2][1]) * j / (n - 1)
    for i = 0, n - 1 do
      local x = b[1][1] + (b[1][2] - b[1][1]) * i / (n - 1)
      local z = value(x, y)
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
  for i, p in ipairs(spec.paths or {}) do
    if type(p) ~= "table" or type(p.points) ~= "table" then
      argerr(fname, 1, "paths[" .. i .. "] must be {name =, points = {{x, y}, ...}}")
    end
    local prow = {}
    for k, pt in ipairs(p.points) do prow[k] = {pt[1], pt[2]} end
    local dname = tag .. "p" .. i
    data[#data + 1] = datablock(dname, prow)
    local color = p.color or COLORS[(i - 1) % #COLORS + 1]
    plots[#plots + 1] = string.format("$%s using 1:2 with lines lw 2 lc rgb '%s' title %s", dname, color,
                                      gp_quote(p.name or ("path " .. i)))
    if #prow > 0 then -- the start, marked once
      data[#data + 1] = datablock(dname .. "s", {prow[1]})
      plots[#plots + 1] = string.format("$%ss using 1:2 with points pt 7 ps 1.2 lc rgb '%s' notitle", dname, color)
    end
  end
  local minima = spec.minima or (type(f) == "table" and f.minimum) or {}
  if #minima > 0 then
    local mrow = {}
    for k, m in ipairs(minima) do mrow[k] = {m[1], m[2]} end
    data[#data + 1] = datablock(tag .. "min", mrow)
    plots[#plots + 1] = "$" .. tag .. "min using 1:2 with points pt 3 ps 2 lw 2 lc rgb 'black' title 'minimum'"
  end
  local setup = {
    string.format("set xrange [%s:%s]", num(b[1][1]), num(b[1][2])),
    string.format("set yrange [%s:%s]", num(b[2][1]), num(b[2][2])),
    "set palette defined (0 '#ffffff', 1 '#e3eef8', 2 '#b7d4ea', 3 '#7fb2d9')",
    "set key top right opaque", "set xlabel 'x'", "set ylabel 'y'",
    "set cblabel " .. gp_quote(scale == "log" and "log10(f - f_min)" or "f") .. " offset 1,0",
  }
  if spec.title then setup[#setup + 1] = "set title " .. gp_quote(spec.title) end
  return {data = table.concat(data, "\n"), pre = table.concat(pre, "\n"),
          setup = table.concat(setup, "\n"), plot = "plot " .. table.concat(plots, ", \\\n  ")}
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
           xlabel = {"string"}, ylabel = {"string"}, xrange = {"table"}, lmargin = {"integer"}},
  contour = {f = {"function", required = true}, bounds = {"table"}, paths = {"table"},
             levels = {"number|table"}, scale = {"string", one_of = {"log", "linear"}},
             grid = {"integer", min = 2}, minima = {"table"}, heatmap = {"boolean"}},
}
for _, spec in pairs(SPECS) do
  for k, v in pairs(COMMON) do spec[k] = v end
end

-- Checks the argument of ol.plot.lines / contour (keys and types; the
-- panels check the contents), at the caller: ol._args <- spec_table <- fname <- caller.
local function spec_table(fname, spec)
  args.options(fname, 1, spec, SPECS[fname], 3)
  return spec
end

local function size_of(spec, w, h)
  local s = spec.size or {}
  return s[1] or w, s[2] or h
end

-- ol.plot.lines{...} -> file
function P.lines(spec)
  spec_table("lines", spec)
  local w, h = size_of(spec, 800, 500)
  return render_panels("lines", spec.file, {lines_panel("lines", spec, "a")}, {1, 1}, w, h)
end

-- ol.plot.contour{...} -> file
function P.contour(spec)
  spec_table("contour", spec)
  local w, h = size_of(spec, 800, 650)
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
  opts = args.options("log", 3, opts, {title = {"string"}})
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
