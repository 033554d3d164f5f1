-- ol.compare: several optimizers (or settings of one) on the same test
-- function from the same start, side by side.
--
--   local cmp = ol.compare(f, {sgd = {lr = 1e-3}, nag = {lr = 1e-3, momentum = 0.9}},
--                          {x0 = {-1.5, 2}, steps = 500})
--   ol.compare(f, {{"sgd", {lr = 0.1}, label = "sgd 0.1"}, {"sgd", {lr = 0.01}}}, ...)
--   ol.compare(f, {["heavy ball"] = {optimizer = "sgd", lr = 0.01, momentum = 0.9}}, ...)
--
-- A map runs in the order of its sorted keys; a key that is not an
-- optimizer name needs `optimizer =` in its options. A list keeps its order;
-- a label defaults to the name, with the options added when a name repeats.
-- It prints a table (optimizer, final loss, distance to the nearest minimum,
-- steps to tolerance, diverged?, closure evaluations: second-order methods
-- take many per step) unless run_options.print == false, and
-- returns a comparison, which prints as that table: cmp.runs (list),
-- cmp.by_label, cmp:table() (the text), cmp:plot(file [, {only =
-- {labels}}]) (the paths on f's contour, beside the loss curves). At the
-- REPL the comparison it printed is not printed again as the statement's
-- value (ol._printed, lua/repl.c).
local ol = require "optlua"

local Comparison = {}
Comparison.__index = Comparison
Comparison.__name = "optlua.comparison"

-- level: ol._args <- argerr <- entries <- compare <- caller.
local function argerr(i, msg)
  ol._args.error("compare", i, msg, 4)
end

-- "lr=0.01 momentum=0.9", sorted by key.
local function describe(options)
  local keys = {}
  for k in pairs(options or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = options[k]
    if type(v) == "table" then
      local items = {}
      for i, x in ipairs(v) do items[i] = tostring(x) end
      v = "{" .. table.concat(items, ",") .. "}"
    end
    parts[#parts + 1] = k .. "=" .. tostring(v)
  end
  return table.concat(parts, " ")
end

-- specs -> list of {name, options, label}
local function entries(specs)
  local list = {}
  if type(specs) ~= "table" then argerr(2, "table of {name = options} or list of {name, options} expected") end
  if #specs > 0 then
    local count = {}
    for i, e in ipairs(specs) do
      if type(e) ~= "table" then argerr(2, "entry " .. i .. " must be {name, options [, label =]}") end
      local named = {} -- the entry's named fields, checked as options of compare's argument 2
      for k, v in pairs(e) do
        if type(k) == "string" then named[k] = v
        elseif k ~= 1 and k ~= 2 then argerr(2, "entry " .. i .. " must be {name, options [, label =]}") end
      end
      ol._args.options("compare", 2, named, -- ol._args <- entries <- compare <- caller
                       {optimizer = {"string"}, options = {"table"}, label = {"string"}}, 3)
      local name = e[1] or e.optimizer
      local options = e[2] or e.options or {}
      if type(name) ~= "string" or type(options) ~= "table" then
        argerr(2, "entry " .. i .. " must be {name, options [, label =]}")
      end
      count[name] = (count[name] or 0) + 1
      list[i] = {name = name, options = options, label = e.label}
    end
    for _, e in ipairs(list) do
      if not e.label then
        local d = describe(e.options)
        e.label = (count[e.name] > 1 and d ~= "") and (e.name .. " " .. d) or e.name
      end
    end
  else
    local keys = {}
    for k in pairs(specs) do
      if type(k) ~= "string" then argerr(2, "keys must be optimizer names or labels") end
      keys[#keys + 1] = k
    end
    if #keys == 0 then argerr(2, "nothing to compare") end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local o = specs[k]
      if o == true then o = {} end
      if type(o) ~= "table" then argerr(2, "options of '" .. k .. "' must be a table") end
      local options, name = {}, k
      for ok, ov in pairs(o) do
        if ok == "optimizer" then name = ov else options[ok] = ov end
      end
      list[#list + 1] = {name = name, options = options, label = k}
    end
  end
  return list
end

local function fmt(v, f)
  if v == nil then return "-" end
  return string.format(f or "%.4g", v)
end

function Comparison:table()
  local rows = {{"optimizer", "final loss", "dist to min", "steps to tol", "diverged?", "f evals"}}
  for _, r in ipairs(self.runs) do
    local conv = r.converged_at and tostring(r.converged_at) or "-"
    -- reached the tolerance once but ended outside it (sign methods
    -- stepping through the minimum, oscillations)
    local fmin = type(r.f) == "table" and r.f.min_value
    if r.converged_at and fmin and not (r.final.loss - fmin <= r.tol) then conv = conv .. " (left)" end
    rows[#rows + 1] = {
      r.label, fmt(r.final.loss), fmt(r.final.distance), conv,
      r.diverged_at and ("yes (step " .. r.diverged_at .. ")") or "no", tostring(r.evals),
    }
  end
  local width = {}
  for _, row in ipairs(rows) do
    for j, c in ipairs(row) do width[j] = math.max(width[j] or 0, #c) end
  end
  local out = {}
  for i, row in ipairs(rows) do
    local cells = {}
    for j, c in ipairs(row) do
      cells[j] = j == 1 and c .. string.rep(" ", width[j] - #c) or string.rep(" ", width[j] - #c) .. c
    end
    out[#out + 1] = table.concat(cells, "  ")
    if i == 1 then
      local rule = {}
      for j = 1, #row do rule[j] = string.rep("-", width[j]) end
      out[#out + 1] = table.concat(rule, "  ")
    end
  end
  local f = self.f
  local head = string.format("%s, %d steps from (%s), tol %g", type(f) == "table" and f.name or "f",
                             self.steps, table.concat(self.x0, ", "), self.tol)
  if type(f) == "table" and f.note then head = head .. "\n(" .. f.note .. ")" end
  return head .. "\n" .. table.concat(out, "\n")
end

Comparison.__tostring = Comparison.table

function Comparison:plot(file, opts)
  return ol.explore._plot_runs("plot", self.runs, file, opts)
end

return function(f, specs, ro)
  if ro ~= nil and type(ro) ~= "table" then
    ol._args.error("compare", 3, "run options table expected, got " .. type(ro))
  end
  ro = ro or {}
  local list = entries(specs)
  local cmp = setmetatable({f = f, runs = {}, by_label = {}}, Comparison)
  local explore = ol.explore.run
  for i, e in ipairs(list) do
    local o = {}
    for k, v in pairs(ro) do o[k] = v end
    o.label = e.label
    local run = explore(f, e.name, e.options, o, "compare")
    cmp.runs[i] = run
    cmp.by_label[e.label] = run
  end
  local first = cmp.runs[1]
  cmp.x0, cmp.tol, cmp.steps = first.x0, first.tol, ro.steps or 500
  if ro.print ~= false then
    print(cmp:table())
    local printed = rawget(ol, "_printed")
    if printed then printed[cmp] = true end
  end
  return cmp
end
