-- Runs a script with its arguments and prints this process's peak RSS.
--   optlua bench/rss.lua scripts/train.lua [args...]
local script = assert(arg[1], "usage: optlua bench/rss.lua SCRIPT [args...]")
local args = {[0] = script}
for i = 2, #arg do args[i - 1] = arg[i] end
arg = args
dofile(script)
local status = io.open("/proc/self/status"):read("a")
print(string.format("peak_rss_mb %.0f", tonumber(status:match("VmHWM:%s*(%d+)")) / 1024))
