-- The optimizers of ol.optim side by side on three landscapes that each
-- test something different:
--   rosenbrock  a long curved valley: does the method follow it?
--   quadratic   condition number 100, axes turned by 30 degrees: does it
--               cope with curvatures 100 times apart that are not aligned
--               with the coordinates (per-coordinate scaling can't fix it)?
--   saddle      x^2 - y^2 from just off the ridge: how fast does it escape?
-- Prints one table per landscape and writes the pictures (contours with the
-- trajectories, loss curves) into a directory: rosenbrock.png,
-- quadratic.png, saddle.png and momentum_nesterov.png (heavy ball against
-- Nesterov on the quadratic, the classic picture).
--
--   optlua scripts/explore.lua [DIR]
-- DIR is made if it does not exist; without it the pictures go into a new
-- temporary directory (mktemp -d). Where they went is printed at the end,
-- and returned ({dir =, files = {...}}) to a caller that runs this file.
local ol = require "optlua"

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local dir = arg and arg[1]
if dir then
  assert(os.execute("mkdir -p " .. sh_quote(dir) .. " </dev/null"), "explore.lua: cannot make directory " .. dir)
else
  local h = assert(io.popen("mktemp -d \"${TMPDIR:-/tmp}/optlua-explore.XXXXXX\" </dev/null", "r"))
  dir = h:read("l")
  h:close()
  assert(dir and dir ~= "", "explore.lua: mktemp -d failed")
end
local files, names = {}, {}
local function out(name)
  names[#names + 1] = name
  files[#files + 1] = dir .. "/" .. name
  return files[#files]
end

-- Every optimizer with a step size that suits the landscape; the second-
-- order ones (cg, lbfgs, newton, hessian_free) take several closure calls
-- per step (the table's last column).
local function specs(scale)
  local s = scale or 1
  return {
    {"sgd", {lr = 1e-3 * s}, label = "sgd"},
    {"sgd", {lr = 1e-3 * s, momentum = 0.9}, label = "heavy ball"},
    {"nag", {lr = 1e-3 * s, momentum = 0.9}},
    {"adaptive_gains", {lr = 1e-4 * s, gain_max = 10}},
    {"rprop", {lr = 1e-2}},
    {"rmsprop", {lr = 1e-2}},
    {"adagrad", {lr = 0.5}},
    {"adadelta", {lr = 1}},
    {"adam", {lr = 0.05}},
    {"adamw", {lr = 0.05}},
    {"nadam", {lr = 0.05}},
    {"radam", {lr = 2e-3}},
    {"adamax", {lr = 0.05}},
    {"lion", {lr = 0.01}},
    {"cg", {}},
    {"lbfgs", {line_search = "strong_wolfe"}},
    {"newton", {}},
    {"hessian_free", {}},
  }
end

local shown = {"sgd", "heavy ball", "nag", "rprop", "adam", "lion", "lbfgs"}

local t0 = ol.clock()

local rosen = ol.compare(ol.fn.rosenbrock(), specs(1), {x0 = {-1.5, 2}, steps = 1000})
rosen:plot(out("rosenbrock.png"), {only = shown})
print()

-- Curvatures 1 and 100: plain gradient descent is stable for lr < 2/100.
local quad = ol.compare(ol.fn.quadratic{cond = 100, rotation = math.pi / 6}, specs(10),
                        {x0 = {-1.5, 1.5}, steps = 300})
quad:plot(out("quadratic.png"), {only = shown})
print()

-- No minimum: escaping (|f| passing 1e6) is what should happen; the
-- gradient along y starts at 2e-3, so plain gradient descent is slow to go.
local saddle = ol.compare(ol.fn.saddle(), specs(50), {x0 = {1.5, 1e-3}, steps = 300})
saddle:plot(out("saddle.png"), {only = shown})
print()

-- The classic picture: same lr and momentum, heavy ball against Nesterov.
local q = ol.fn.quadratic{cond = 100, rotation = math.pi / 6}
ol.compare(q, {{"sgd", {lr = 0.012, momentum = 0.9}, label = "heavy ball (momentum 0.9)"},
               {"nag", {lr = 0.012, momentum = 0.9}, label = "nesterov (momentum 0.9)"},
               {"sgd", {lr = 0.012}, label = "gradient descent"}},
           {x0 = {-1.5, 1.5}, steps = 120, print = false})
  :plot(out("momentum_nesterov.png"))

print(string.format("pictures in %s: %s (%.1f s)", dir, table.concat(names, ", "), ol.clock() - t0))
return {dir = dir, files = files}
