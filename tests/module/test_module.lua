-- optlua.so loaded by the stock lua5.4 interpreter (LUA_CPATH points at the
-- build's module directory), the way any rock is used:
--   LUA_CPATH='build/module/?.so' lua5.4 tests/module/test_module.lua
-- Self-contained (no testlib: this runs outside the program).
local passed, failed, skipped = 0, 0, 0
local SKIP = {}
local function test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then passed = passed + 1
  elseif type(err) == "table" and err[1] == SKIP then
    skipped = skipped + 1
    print("SKIP " .. name .. ": " .. err[2])
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

-- The print options and ol.inspect are the module's too, and state-wide:
-- expected texts written out from the formats (l_tensor_print.c, inspect.lua).
test("print options and inspect", function()
  local o = ol.print_options()
  assert(o.edge == 3 and o.threshold == 1000 and o.precision == "auto", "the defaults")
  assert(tostring(ol.arange(7)) == " 1 2 3 4 5 6 7\n[f32 tensor of size 7]", tostring(ol.arange(7)))
  ol.print_options{threshold = 5, edge = 1}
  assert(tostring(ol.arange(7)) == " 1 ... 7\n[f32 tensor of size 7]", tostring(ol.arange(7)))
  ol.print_options("default")
  assert(ol.inspect({2, a = {1}}) == "{2, a = {1}}", ol.inspect({2, a = {1}}))
  assert(ol.optim.kind("lbfgs") == "closure", "ol.optim.kind")
end)

-- ol.dist's world is a shared object of its own, loaded beside optlua.so
-- at the first use of ol.dist (a world of one here: no MPI launcher).
test("ol.dist loads its world on first use, from beside optlua.so", function()
  local maps = io.open("/proc/self/maps")
  if not maps then error({SKIP, "no /proc/self/maps here"}, 0) end
  maps:close()
  local function mapped(name) -- the full path of a mapped file named name, or nil
    for line in io.lines("/proc/self/maps") do
      local path = line:match("%s(/%S+)$")
      if path and path:sub(-#name - 1) == "/" .. name then return path end
    end
  end
  local so = assert(mapped("optlua.so"), "optlua.so is mapped")
  assert(mapped("optlua-dist.so") == nil, "optlua-dist.so is not loaded before ol.dist is used")
  assert(ol.dist.rank() == 0 and ol.dist.size() == 1, "a world of one")
  assert(ol.dist.is_initialized() == false, "MPI not started without a launcher")
  assert(ol.dist.backend == "mpi" or ol.dist.backend == "none", tostring(ol.dist.backend))
  assert(mapped("optlua-dist.so") == so:sub(1, -#"optlua.so" - 1) .. "optlua-dist.so",
         "optlua-dist.so loaded from beside optlua.so")
  local t = ol.tensor({1.5, -2}, "f64")
  assert(rawequal(ol.dist.allreduce(t, "mean"), t), "allreduce returns its argument")
  assert(t[1] == 1.5 and t[2] == -2, "a world of one leaves the values")
end)

print(string.format("%d passed, %d failed, %d skipped", passed, failed, skipped))
os.exit(failed == 0 and 0 or 1)
