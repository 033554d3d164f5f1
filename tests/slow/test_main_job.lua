-- The main job as a user runs it: scripts/train.lua with no options (its
-- full recipe: 784-512-256-10, sgd with Nesterov momentum, lr 0.1 with
-- warm-up and cosine decay, 30 epochs, batch 128, weight decay 5e-4),
-- run in this Lua state. The test checks from the script's own output that
-- the recipe was the full one, and that the final test accuracy reaches the
-- goal.
--   optlua tests/slow/test_main_job.lua path/to/scripts/train.lua [DATA_DIR]
-- DATA_DIR (default: the script's, Debian's package) is passed on as --data.
-- Exits 0 when the goal is met, 1 when not (or when the run fails), 77 when
-- Fashion-MNIST is not installed (a skip).
local ol = require "optlua"
local GOAL = 89.5 -- percent test accuracy
local script = assert(arg[1], "usage: optlua test_main_job.lua path/to/scripts/train.lua [DATA_DIR]")
local data = arg[2]

local function finish(passed, failed, skipped)
  print(string.format("%d passed, %d failed, %d skipped", passed, failed, skipped))
  os.exit(failed > 0 and 1 or skipped > 0 and 77 or 0)
end

-- The data the script reads by default; only its absence is a skip.
for _, split in ipairs{"train", "test"} do
  local ok, err = pcall(ol.data.fashion_mnist, {split = split, dir = data})
  if not ok then
    if tostring(err):find("Fashion-MNIST is not installed", 1, true) then
      print("SKIP main_job: " .. tostring(err))
      finish(0, 0, 1)
    end
    error(err, 0)
  end
end

-- Every line the script prints, echoed as it comes.
local lines = {}
local print_ = print
print = function(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  lines[#lines + 1] = table.concat(parts, "\t")
  print_(...)
end
local saved = arg
arg = data and {[0] = script, "--data", data} or {[0] = script}
local t0 = ol.clock()
dofile(script)
local seconds = ol.clock() - t0
arg = saved
print = print_

local errors = {}
local function check(cond, msg) if not cond then errors[#errors + 1] = msg end end

local header, done
for _, l in ipairs(lines) do
  if l:match("^optlua %S+: ") then header = l end
  if l:match("^done in ") then done = l end
end
check(header, "no header line (optlua VERSION: SIZES, ...)")
check(done, "no final line (done in ...)")
if header then
  local sizes, opt, lr, batch, epochs, ntrain, nval, ntest = header:match(
    "^optlua %S+: ([%d%-]+), %d+ parameters, (%S+) lr (%S+), batch (%d+), (%d+) epochs, (%d+)/(%d+)/(%d+) images$")
  check(sizes, "header not understood: " .. header)
  if sizes then
    local recipe = string.format("%s %s lr %s batch %s, %s epochs, %s/%s/%s images",
                                 sizes, opt, lr, batch, epochs, ntrain, nval, ntest)
    check(recipe == "784-512-256-10 sgd lr 0.1 batch 128, 30 epochs, 55000/5000/10000 images",
          "not the full recipe: " .. recipe)
  end
end
if done then
  local acc = tonumber(done:match("test accuracy (%d+%.%d+)%%$"))
  check(acc, "no test accuracy in: " .. done)
  if acc then
    print(string.format("main job: test accuracy %.2f%% (goal %.2f%%), %.1f s", acc, GOAL, seconds))
    check(acc >= GOAL, string.format("test accuracy %.2f%% is below the goal of %.2f%%", acc, GOAL))
  end
end
for _, e in ipairs(errors) do io.stderr:write("FAIL main_job: ", e, "\n") end
finish(#errors == 0 and 1 or 0, #errors == 0 and 0 or 1, 0)
