-- optlua.so loaded by the stock lua5.4 interpreter (LUA_CPATH points at the
-- build's module directory), the way any rock is used:
--   LUA_CPATH='build/module/?.so' lua5.4 tests/module/test_module.lua
-- Self-contained (no testlib: this runs outside the program).
local passed, failed = 0, 0
local function test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then passed = passed + 1
  else
    failed = failed + 1
    io.stderr:write("FAIL ", name, ": ", tostring(err), "\n")
  end
end

local ol

test("require loads the C module", function()
  ol = require "optlua"
  assert(type(ol) == "table", "require 'optlua' returned " .. type(ol))
  assert(package.loaded.optlua == ol, "package.loaded.optlua is the table")
  assert(require "optlua" == ol, "require returns the same table twice")
  assert(package.searchpath("optlua", package.cpath), "found through LUA_CPATH")
  -- The library sets no globals of its own: a module is bound by the caller.
  assert(rawget(_G, "optlua") == nil and rawget(_G, "ol") == nil, "no globals")
end)

test("version and threads", function()
  assert(type(ol.version) == "string" and ol.version:match("^%d+%.%d+%.%d+"), ol.version)
  local n = ol.threads()
  assert(math.type(n) == "integer" and n >= 1, "threads() = " .. tostring(n))
  assert(ol.threads(1) == 1, "threads(1)")
  ol.threads(n)
end)

test("embedded Lua modules come with the .so", function()
  local names = ol.modules()
  assert(type(names) == "table")
  for _, name in ipairs(names) do
    local short = name:match("^optlua%.([%w_]+)$")
    if short then
      assert(type(ol[short]) == "table" or type(ol[short]) == "function",
             name .. " loads from inside the module")
    end
  end
end)

-- Tensors through the module: expected values worked out by hand.
test("tensors work from the module", function()
  local a = ol.tensor({{1, 2}, {3, 4}})
  local b = ol.tensor({{5, 6}, {7, 8}})
  -- [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50]
  local c = ol.mm(a, b):totable()
  assert(c[1][1] == 19 and c[1][2] == 22 and c[2][1] == 43 and c[2][2] == 50,
         "mm gives [19 22; 43 50]")
  assert(a:sum() == 10, "sum of 1..4 is 10")
  assert(a:dtype() == "f32", "default dtype f32")
  local d = ol.tensor({1.5, -2}, "f64")
  assert(d:dtype() == "f64" and (d * 2):totable()[2] == -4, "f64 arithmetic")
  -- integers print without decimals, right-aligned, then shape and dtype
  local want = " 1 2\n 3 4\n[f32 tensor of size 2x2]"
  assert(tostring(a) == want, "tostring gives " .. string.format("%q", tostring(a)))
  local ok, err = pcall(ol.mm, a, d:view(2, 1))
  assert(not ok and tostring(err):find("mm", 1, true), "mixing dtypes is an error")
end)

print(string.format("%d passed, %d failed, 0 skipped", passed, failed)) -- no test here skips
os.exit(failed == 0 and 0 or 1)
