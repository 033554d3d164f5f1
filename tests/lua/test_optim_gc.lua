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

T.without_asan_quarantine()

local status_mb = T.status_mb

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
