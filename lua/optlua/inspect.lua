-- ol.inspect: a value as readable text; the REPL shows a table by it.
--
--   ol.inspect(v [, {depth = 4, items = 20, width = 80}]) -> string
--
-- A table prints as a Lua constructor: its array part first, in order,
-- then its other keys: numbers ascending, strings alphabetically, the rest
-- by their text. A key that is a name prints bare (lr = 0.1), any other in
-- brackets (["a b"] = 1, [2.5] = 1). A table goes on one line when that
-- fits in `width` characters, else one entry per line, indented by two.
-- Below `depth` levels a table prints as {...} with its size; after
-- `items` entries, "..." says how many more there are; a table met again
-- inside itself prints as <cycle>. Only the table's own fields are shown
-- (what an __index adds is not), headed by its metatable's __name if any.
--
-- Inside a table, a value with a __tostring prints by it when that is one
-- line (optimizers, models, datasets, runs); a tensor by its own short
-- form, the footer of its print ([f32 tensor of size 3x2]); any other
-- value of several lines, a function or a userdata by its kind (<function>).
local ol = require "optlua"

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
            repeat return then true until while]]):gmatch("%S+") do
  KEYWORDS[w] = true
end

local function is_name(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil and not KEYWORDS[k]
end

local function quote(s)
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local function metafield(v, name)
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return nil end
  return rawget(mt, name)
end

-- A value that is not expanded, on one line.
local function atom(v)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if tv == "number" or tv == "boolean" or tv == "nil" then return tostring(v) end
  if ol.istensor(v) then return (tostring(v):match("[^\n]*$")) end
  local kind = type(metafield(v, "__name")) == "string" and metafield(v, "__name") or tv
  if metafield(v, "__tostring") then
    local ok, s = pcall(tostring, v)
    if ok and type(s) == "string" and not s:find("\n") then return s end
  end
  return "<" .. kind .. ">"
end

-- Numbers, then strings, then anything else by its text.
local RANK = {number = 1, string = 2}
local function key_before(a, b)
  local ra, rb = RANK[type(a)] or 3, RANK[type(b)] or 3
  if ra ~= rb then return ra < rb end
  if ra == 3 then return atom(a) < atom(b) end
  return a < b
end

local function render(v, o, indent, depth, seen)
  if type(v) ~= "table" or (depth > 0 and metafield(v, "__tostring")) then return atom(v) end
  if seen[v] then return "<cycle>" end
  local name = metafield(v, "__name")
  local head = type(name) == "string" and name .. " " or ""
  local n = 0
  while rawget(v, n + 1) ~= nil do n = n + 1 end
  local keys = {}
  for k in next, v do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_before)
  local total = n + #keys
  if total == 0 then return head .. "{}" end
  if depth >= o.depth then
    return string.format("%s{... %d entr%s}", head, total, total == 1 and "y" or "ies")
  end
  seen[v] = true
  local parts = {}
  for i = 1, math.min(total, o.items) do
    if i <= n then
      parts[i] = render(rawget(v, i), o, indent + 2, depth + 1, seen)
    else
      local k = keys[i - n]
      local ktext = is_name(k) and k or "[" .. atom(k) .. "]"
      parts[i] = ktext .. " = " .. render(rawget(v, k), o, indent + 2, depth + 1, seen)
    end
  end
  if total > o.items then parts[#parts + 1] = string.format("... (%d more)", total - o.items) end
  seen[v] = nil
  local line = head .. "{" .. table.concat(parts, ", ") .. "}"
  if indent + #line <= o.width and not line:find("\n") then return line end
  local pad = string.rep(" ", indent + 2)
  return head .. "{\n" .. pad .. table.concat(parts, ",\n" .. pad) .. "\n" .. string.rep(" ", indent) .. "}"
end

return function(v, opts)
  local o = ol._args.options("inspect", 2, opts, {
    depth = {"integer", default = 4, min = 1},
    items = {"integer", default = 20, min = 1},
    width = {"integer", default = 80, min = 1},
  })
  return render(v, o, 0, 0, {})
end
