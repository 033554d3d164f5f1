-- A benchmark report of optimizers (ol.benchmark): each optimizer, at the
-- best lr of a small grid, on the 2-D test functions with noisy gradients,
-- an ill-conditioned quadratic, a logistic regression and an MLP on a
-- Fashion-MNIST subset; several seeds per lr. Writes DIR/report.md (the
-- settings, a table per problem) and the loss curves as PNGs beside it.
-- It is about the optimizers' behaviour, not optlua's speed (bench/).
local ol = require "optlua"

local usage = [[
usage: optlua scripts/benchmark.lua [options]
  --quick            a reduced run: ]] .. table.concat(ol.benchmark.optimizers(true), ", ") .. [[; 4 lrs, 2 seeds
                     (default: 7 lrs, 3 seeds, ]] .. table.concat(ol.benchmark.optimizers(false), ", ") .. [[)
  --out DIR          where the report goes (default benchmark-report)
  --problems LIST    comma-separated, of ]] .. table.concat(ol.benchmark.problems(), ", ") .. [[ (default: all)
  --optimizers LIST  comma-separated optimizer names (default: the set above)
  --lrs N            lrs per optimizer (log-spaced from default/10 to default*100)
  --seeds N          seeds per lr
  --data DIR         Fashion-MNIST directory (default: ol.data.fashion_mnist's)
  --help             this text]]

-- The command line as an options table: --name VALUE, or --quick alone.
-- Its names are checked by the argument kit (unknown: did you mean).
local SPEC = {quick = {"boolean"}, out = {"string"}, problems = {"string"}, optimizers = {"string"},
              lrs = {"string"}, seeds = {"string"}, data = {"string"}, help = {"boolean"}}
local FLAGS = {quick = true, help = true}

local function fail(msg)
  io.stderr:write("benchmark.lua: ", msg, "\n")
  os.exit(2)
end

local function parse(argv)
  local t, i = {}, 1
  while i <= #argv do
    local key = argv[i]:match("^%-%-([%w_%-]+)$")
    if not key then fail("unexpected argument '" .. argv[i] .. "'\n" .. usage) end
    key = key:gsub("%-", "_")
    if FLAGS[key] then t[key], i = true, i + 1
    else
      if argv[i + 1] == nil then fail("option '" .. argv[i] .. "' needs a value") end
      t[key], i = argv[i + 1], i + 2
    end
  end
  local ok, err = pcall(ol._args.options, "benchmark.lua", 1, t, SPEC, 1)
  if not ok then
    local msg = tostring(err):match("%((.*)%)$") or tostring(err)
    fail((msg:gsub("option '", "option '--"):gsub("did you mean '", "did you mean '--")))
  end
  return t
end

local function list(s)
  if s == nil then return nil end
  local t = {}
  for name in s:gmatch("[^,%s]+") do t[#t + 1] = name end
  return t
end

local function count(key, s)
  if s == nil then return nil end
  local n = math.tointeger(tonumber(s))
  if not n or n < 1 then fail(string.format("--%s expects an integer >= 1, got '%s'", key, s)) end
  return n
end

local o = parse(arg or {})
if o.help then print(usage) return end
local ok, r = pcall(ol.benchmark.run, {
  quick = o.quick or false, problems = list(o.problems), optimizers = list(o.optimizers),
  lrs = count("lrs", o.lrs), seeds = count("seeds", o.seeds), data = o.data, progress = true,
})
if not ok then fail(((tostring(r):match("^.-%((.*)%)$") or tostring(r)):gsub("option '", "option '--"))) end
local path, pictures, missing = r:report(o.out or "benchmark-report")
print(string.format("report: %s (%d picture%s%s), %.1f s", path, pictures, pictures == 1 and "" or "s",
                    #missing > 0 and (", " .. #missing .. " not drawn") or "", r.seconds))
