-- scripts/benchmark.lua --quick as a user runs it, its report checked:
-- report.md exists with a table row for every optimizer of the quick set
-- on every problem (muon: on the problems with matrices), and every
-- picture it names exists and is not empty.
--   optlua tests/slow/test_benchmark.lua path/to/scripts/benchmark.lua
-- Exits 0 when all holds, 1 when not (or when the run fails), 77 when the
-- MLP problem was skipped for want of Fashion-MNIST (a skip: the rest is
-- checked all the same) or gnuplot is missing (no pictures).
local ol = require "optlua"
local script = assert(arg[1], "usage: optlua test_benchmark.lua path/to/scripts/benchmark.lua")

local dir = os.tmpname()
os.remove(dir)
local saved = arg
arg = {[0] = script, "--quick", "--out", dir}
local t0 = ol.clock()
dofile(script)
print(string.format("benchmark --quick: %.1f s", ol.clock() - t0))
arg = saved

local errors, skips = {}, {}
local function check(cond, msg) if not cond then errors[#errors + 1] = msg end end

local fh = io.open(dir .. "/report.md")
check(fh, "no report.md in " .. dir)
local text = fh and fh:read("a") or ""
if fh then fh:close() end

local B = ol.benchmark
local optimizers = B.optimizers(true)
for _, pname in ipairs(B.problems()) do
  local p = B.problem(pname)
  local section = text:match("\n## " .. pname .. ": [^\n]*\n(.-)\n## ") or text:match("\n## " .. pname .. ": [^\n]*\n(.*)$")
  check(section, "no section for " .. pname)
  section = section or ""
  if section:find("SKIPPED: ", 1, true) then
    skips[#skips + 1] = pname .. ": " .. section:match("SKIPPED: ([^\n]*)")
  else
    for _, name in ipairs(optimizers) do
      local want = name ~= "muon" or p.matrices
      local has = section:find("\n| " .. name .. " | ", 1, true) ~= nil
      check(has == want, string.format("%s: a row for %s %s", pname, name, want and "is missing" or "should not be there"))
    end
    for pic in section:gmatch("%]%(([%w_]+%.png)%)") do
      local h = io.open(dir .. "/" .. pic, "rb")
      check(h and #h:read("a") > 1000, pic .. " is missing or empty")
      if h then h:close() end
    end
    local count = select(2, section:gsub("%]%([%w_]+%.png%)", ""))
    if count ~= 2 then
      if ol.plot.available() then check(false, pname .. ": " .. count .. " pictures, 2 expected")
      else skips[#skips + 1] = pname .. ": pictures not drawn (gnuplot not found)" end
    end
  end
end
os.execute("rm -rf '" .. dir .. "'")
for _, e in ipairs(errors) do print("FAIL " .. e) end
for _, s in ipairs(skips) do print("SKIP " .. s) end
print(string.format("%d failed, %d skipped", #errors, #skips))
os.exit(#errors > 0 and 1 or #skips > 0 and 77 or 0)
