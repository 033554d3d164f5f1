-- An optimizer's state is visible to Lua's garbage collector, as a
-- tensor's storage is (test_gc.lua): a loop making 400 temporary Adam
-- optimizers over 262144 f32 parameters (2 MB of state each, 800 MB if
-- none were collected), never calling collectgarbage, stays well under
-- 200 MB.
--
-- Under AddressSanitizer, freed memory sits in ASan's quarantine, which
-- would count against the limit although Lua has freed it; the test then
-- reruns itself with the quarantine off.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local function under_asan()
  for line in io.lines("/proc/self/maps") do
    if line:find("libasan", 1, true) then return true end
  end
  return false
end

local asan_opts = os.getenv("ASAN_OPTIONS") or ""
if under_asan() and not asan_opts:find("quarantine_size_mb", 1, true) and arg[-1] then
  local q = function(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  local cmd = string.format("ASAN_OPTIONS=%s %s %s", q("quarantine_size_mb=0:" .. asan_opts), q(arg[-1]),
                            q(arg[0]))
  local ok = os.execute(cmd)
  os.exit(ok and 0 or 1)
end

local function status_mb(field)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. field .. ":%s*(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
  error("no " .. field .. " in /proc/self/status")
end

T.test("temporary optimizers' state is collected without collectgarbage", function()
  local w = ol.zeros(262144)
  local g = ol.ones(262144)
  local vm0 = status_mb("VmPeak")
  for _ = 1, 400 do
    local opt = ol.optim.adam(w)
    opt:step(g) -- touches the state
  end
  local hwm, grew = status_mb("VmHWM"), status_mb("VmPeak") - vm0
  T.ok(grew < 200, string.format("address space grew by %.0f MB, limit 200 MB", grew))
  T.ok(hwm < 300, string.format("peak RSS %.0f MB, limit 300 MB", hwm))
end)

T.run()
