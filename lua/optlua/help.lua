-- ol.help (and the REPL's global help): prints the documentation of a
-- library function, module or object, from the entries of ol.docs.
--
--   help()                 overview of the library
--   help(ol.optim.adam)    a function or module, found by identity
--   help("adam")           a name: a path ("optim.adam", "tensor:add_") or
--                          its last part when that is unambiguous
--   help(opt)              an object: tensor, optimizer (with its current
--                          options), weight average, model, data set, run,
--                          comparison, ol.fn
--   ol.help.text(x)        the same text, returned instead of printed
--
-- Functions are found by identity: every documented path is looked up in
-- the library once (lazily loading the Lua-side modules) and the value
-- remembered, so help(ol.fn.rosenbrock) needs no name.
local ol = require "optlua"
local D = require "optlua.docs"

local H = {}

-- Resolves a documented path ("optim.adam", "tensor:add_") to its value.
local method_sources = {
  tensor = function() return getmetatable(ol.zeros(1)).__methods end,
  average = function() return getmetatable(ol.average.ema(ol.zeros(1))).__methods end,
}
local function resolve(path)
  local obj, meth = path:match("^([%w_]+):([%w_]+)$")
  if obj then
    local src = method_sources[obj]
    local ok, t = pcall(function() return src and src() end)
    return ok and type(t) == "table" and rawget(t, meth) or nil
  end
  local v = ol
  for part in path:gmatch("[^.]+") do
    local ok, nv = pcall(function() return v[part] end)
    if not ok or nv == nil then return nil end
    v = nv
  end
  return v
end

local by_value -- value -> path, built on first use
local function reverse()
  if by_value then return by_value end
  by_value = {}
  local paths = {}
  for k in pairs(D) do paths[#paths + 1] = k end
  table.sort(paths) -- deterministic: a value under two names gets the first
  for _, p in ipairs(paths) do
    if p ~= "optlua" then
      local v = resolve(p)
      local tv = type(v)
      if (tv == "function" or tv == "table" or tv == "userdata") and by_value[v] == nil then by_value[v] = p end
    end
  end
  by_value[ol] = "optlua"
  return by_value
end

-- "lr=0.001 betas={0.9, 0.999} ..." for an option table, sorted by name.
local function format_options(o)
  local keys = {}
  for k in pairs(o) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = o[k]
    if type(v) == "table" then
      local items = {}
      for i, x in ipairs(v) do items[i] = type(x) == "number" and string.format("%.10g", x) or tostring(x) end
      v = "{" .. table.concat(items, ", ") .. "}"
    elseif type(v) == "number" then
      v = string.format("%.10g", v) -- 0.0 -> 0, 20.0 -> 20
    elseif type(v) == "string" then
      v = '"' .. v .. '"'
    end
    parts[#parts + 1] = k .. "=" .. tostring(v)
  end
  return table.concat(parts, " ")
end

-- An optimizer's defaults, from the engine (the one source of truth for them).
local function defaults(name)
  local ok, d = pcall(ol.optim.defaults, name)
  if not ok then return nil end
  return d
end

local function entry(path)
  local text = D[path]
  if not text then return nil end
  local oname = path:match("^optim%.([%w_]+)$")
  if oname and oname ~= "list" then
    local d = defaults(oname)
    if d then text = text .. "\n  options (defaults): " .. format_options(d) end
  end
  return text
end

local function optim_listing()
  local lines = {entry("optim"), "", "Optimizers, with their options (defaults):"}
  for _, n in ipairs(ol.optim.list()) do
    local d = defaults(n)
    lines[#lines + 1] = string.format("  %-15s %s", n, d and format_options(d) or "")
  end
  return table.concat(lines, "\n")
end

local function overview()
  return table.concat({
    D["optlua"], "",
    "Areas (help(ol.NAME) or help(\"NAME\")):",
    "  tensor zeros ones full eye arange rand randn mm    tensors (help(\"tensor:add_\") for methods)",
    "  print_options inspect                              how tensors and tables print",
    "  nn init gradcheck                                  models, initialisation, gradient checks",
    "  hessian hvp eig cond hessian_eigs                  curvature",
    "  optim schedule clip plateau pca                    optimizers and what steers them",
    "  data train lr_find average noise                   data sets, loaders, the training loop, the LR range",
    "                                                     test, weight averages, gradient noise",
    "  fn explore compare plot                            test functions, trajectories, pictures",
    "  threads seed clock version                         the program",
    "Examples: help(ol.optim.adam)  help(\"rosenbrock\")  help(ol.plot)  help(opt)",
  }, "\n")
end

-- Paths matching a name: the exact path, else those whose last part is it.
local function lookup(name)
  name = name:gsub("^optlua%.", ""):gsub("^ol%.", "")
  if D[name] then return {name} end
  local found = {}
  for k in pairs(D) do
    local last = k:match("[.:]([%w_]+)$")
    if last == name then found[#found + 1] = k end
  end
  table.sort(found)
  return found
end

local function suggestions(name)
  local s = {}
  for k in pairs(D) do
    if k:find(name, 1, true) then s[#s + 1] = k end
  end
  table.sort(s)
  return s
end

local function for_object(x)
  local mt = getmetatable(x)
  local tname = type(mt) == "table" and rawget(mt, "__name") or nil
  if tname == "optlua.tensor" then
    return string.format("a %s tensor of shape {%s}\n%s", x:dtype(), table.concat(x:shape(), ", "), D["tensor"])
  elseif tname == "optlua.optim" then
    local text = entry("optim." .. x.name) or D["optim"]
    local o = x:options()
    local per_group = o.groups
    o.groups = nil
    text = text .. "\n  current: " .. format_options(o) .. "  (t = " .. x.t .. ")"
    for i, g in ipairs(per_group or {}) do
      text = text .. "\n  group " .. i .. ": " .. format_options(g)
    end
    return text
  elseif tname == "optlua.optim.group" then
    return D["optimizer:groups"] .. "\n  this one: " .. tostring(x)
  elseif tname == "optlua.average" then
    return entry("average." .. x.kind) .. "\n  current: " .. tostring(x)
  elseif tname == "optlua.model" then
    return D["nn"]
  elseif tname == "optlua.dataset" or tname == "optlua.loader" then
    return D["data"]
  elseif tname == "optlua.run" then
    return D["explore"]
  elseif tname == "optlua.comparison" then
    return D["compare"]
  elseif tname == "optlua.lr_find" then
    return D["lr_find"] .. "\n  this one: " .. tostring(x)
  elseif tname == "optlua.fn" and D["fn." .. tostring(x.name)] then
    return D["fn." .. x.name]
  end
  return nil
end

-- The help text of x (see the top of this file).
function H.text(x, ...)
  if select("#", ...) == 0 and x == nil then return overview() end
  if type(x) == "string" then
    local paths = lookup(x)
    if #paths == 1 then
      if paths[1] == "optim" then return optim_listing() end
      return entry(paths[1])
    elseif #paths > 1 then
      local parts = {}
      for i, p in ipairs(paths) do parts[i] = entry(p) end
      return table.concat(parts, "\n\n")
    end
    local s = suggestions(x)
    if #s > 0 then
      return string.format("no help for '%s'; related: %s", x, table.concat(s, " ", 1, math.min(#s, 12)))
    end
    return string.format("no help for '%s'; help() lists what there is", x)
  end
  local path = reverse()[x]
  if path == "optlua" then return overview() end
  if path == "optim" then return optim_listing() end
  if path then return entry(path) end
  local obj = for_object(x)
  if obj then return obj end
  return string.format("no help for %s (a %s); help() lists what there is", tostring(x), type(x))
end

return setmetatable(H, {
  __call = function(_, ...)
    print(H.text(...))
  end,
})
