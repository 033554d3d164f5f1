-- ol.benchmark: its statistics against values worked out by hand, the
-- problem registry against the problems' known minima and gradients
-- (finite differences), a tiny grid end to end with its report, the
-- errors for unknown names and options, and scripts/benchmark.lua's
-- command line.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"
local B = ol.benchmark

local inf = math.huge

-- ---- statistics ----

T.test("mean, sd (n - 1) and median by hand", function()
  T.near(B.mean{1, 2, 3, 4}, 2.5)
  -- 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations 9+1+1+1+0+0+4+16 = 32
  T.near(B.sd{2, 4, 4, 4, 5, 5, 7, 9}, math.sqrt(32 / 7), 1e-15)
  T.near(B.sd{1, 3}, math.sqrt(2), 1e-15) -- (1 + 1) / 1
  T.eq(B.sd{5}, nil, "one value: no sd")
  T.eq(B.median{3, 1, 2}, 2)
  T.eq(B.median{4, 1, 3, 2}, 2.5)
  T.eq(B.median{7}, 7)
  -- "not reached" as +inf: the median is reached only when most seeds reach it
  T.eq(B.median{100, inf, 300}, 300)
  T.eq(B.median{100, inf, inf}, inf)
  T.eq(B.median{100, inf}, inf)
end)

T.test("time to target: the first recorded point at or below it", function()
  local c = {steps = {0, 10, 20, 30}, seconds = {0, 0.5, 1.25, 2}, losses = {5, 2, 0.9, 0.5}}
  local s, sec = B.time_to_target(c, 1)
  T.eq(s, 20) T.eq(sec, 1.25)
  s, sec = B.time_to_target(c, 2) -- at most: equal counts
  T.eq(s, 10) T.eq(sec, 0.5)
  T.eq(B.time_to_target(c, 0.1), nil)
  T.eq(B.time_to_target({steps = {0, 1}, seconds = {0, 1}, losses = {0 / 0, inf}}, 1), nil, "NaN never reaches")
end)

T.test("best lr: lowest mean over seeds, diverged lrs out, ties to the smaller lr", function()
  local cells = {
    {lr = 0.1, finals = {0.01, inf}},    -- one seed diverged: out, though its other seed is best
    {lr = 0.01, finals = {0.25, 0.75}},  -- mean 0.5
    {lr = 0.001, finals = {0.5, 0.5}},   -- mean 0.5 (exactly, in binary too): a tie, the smaller lr wins
    {lr = 0.0001, finals = {0.75, 0.5}}, -- mean 0.625
  }
  T.eq(B.best_lr(cells), 3)
  cells[3].finals = {0.5, 0.75}
  T.eq(B.best_lr(cells), 2)
  cells[2].finals = {0 / 0, 0.1} -- NaN is diverged too
  T.eq(B.best_lr(cells), 4)
  local none, why = B.best_lr{{lr = 1, finals = {inf}}, {lr = 2, finals = {0 / 0}}}
  T.eq(none, nil) T.eq(why, "all diverged")
end)

T.test("the lr grid: log-spaced from default/10 to default*100", function()
  local g = B.lr_grid("adam", 4) -- adam's default 1e-3
  T.eq(#g, 4)
  for i, want in ipairs{1e-4, 1e-3, 1e-2, 1e-1} do T.near(g[i], want, 0, nil, 1e-12) end
  local g7 = B.lr_grid("rmsprop", 7) -- default 1e-2, half decades
  T.near(g7[2], 1e-2 * 10 ^ -0.5, 0, nil, 1e-12)
  T.near(g7[7], 1, 0, nil, 1e-12)
  T.near(B.lr_grid("sgd", 1)[1], ol.optim.defaults("sgd").lr, 0)
  T.near(B.lr_grid("lookahead", 4)[2], ol.optim.defaults("adam").lr, 0, "lookahead: adam's lr")
end)

-- ---- problems ----

T.test("the registry: names, and each function problem at its minimum", function()
  local names = B.problems()
  T.eq(table.concat(names, ","), "rosenbrock,beale,saddle,quadratic,logreg,mlp")
  for _, n in ipairs{"rosenbrock", "beale"} do
    local p = B.problem(n)
    T.eq(p.kind, "fn") T.ok(p.steps > 0 and p.every > 0 and p.target > 0, n)
    local s = p.fn(1)
    local v, g = s.f.eval(s.f.minimum[1])
    T.near(v, 0, 1e-24, n .. " at its minimum")
    T.near(g[1], 0, 1e-12) T.near(g[2], 0, 1e-12)
  end
  T.near(B.problem("rosenbrock").fn(1).f.eval{1, 1}, 0, 0)
  T.near(B.problem("beale").fn(1).f.eval{3, 0.5}, 0, 1e-30)
  local sad = B.problem("saddle").fn(1)
  T.eq(sad.f.min_value, nil, "the saddle has no minimum")
  T.near(sad.f.eval{0, 0}, 0, 0)
  T.eq(B.problem("saddle").target, -1)
end)

T.test("the quadratic: 50-D, 10 x 5, loss 0 at x* = 0, gradient A x, condition number 1e3", function()
  local p = B.problem("quadratic")
  local s = p.fn(3)
  T.eq(table.concat(s.x:shape(), "x"), "10x5")
  local f = s.f
  local zero = ol.zeros(50, "f64")
  local v0, g0 = f.grad(zero)
  T.eq(v0, 0) T.near(g0:norm(), 0, 0)
  -- the gradient at a point against central differences of the value
  local x = s.x:view({50}):clone()
  local _, g = f.grad(x)
  local gt = g:totable()
  local h = 1e-5
  for _, i in ipairs{1, 17, 50} do
    local xp, xm = x:clone(), x:clone()
    xp:set(i, x:get(i) + h) xm:set(i, x:get(i) - h)
    local fd = (f.grad(xp) - f.grad(xm)) / (2 * h)
    T.near(gt[i], fd, 1e-6, "d f / d x_" .. i, 1e-7)
  end
  -- A's spectrum: 1 to 1e3 (symmetric eigen-solver)
  local vals = ol.eig(f.A):totable()
  T.near(vals[1], 1, 1e-9) T.near(vals[50], 1e3, 1e-6)
  -- the start: x* + N(0, I) from the seed, the same for the same seed
  T.near((p.fn(3).x - s.x):norm(), 0, 0)
  T.ok((p.fn(4).x - s.x):norm() > 1, "another seed, another start")
end)

T.test("logistic regression: a 20 -> 4 linear model, the same data for every seed", function()
  local p = B.problem("logreg")
  local a, b = p.setup(1), p.setup(2)
  T.eq(a.model:num_params(), 20 * 4 + 4)
  T.eq(#a.eval, 1000)
  T.near((a.eval.x - b.eval.x):norm(), 0, 0, "the held-out set does not depend on the seed")
  T.ok((a.model:params() - b.model:params()):norm() > 0, "the weights do")
  -- at zero weights the softmax is uniform: the loss is log 4 exactly
  a.model:params():zero_()
  T.near((ol.evaluate(a.model, a.eval)), math.log(4), 1e-6)
end)

T.test("the MLP problem: 784-64-10 on 6000 + 2000 Fashion-MNIST images", function()
  local p = B.problem("mlp")
  local s, why = p.setup(1)
  if not s then T.skip(why) end
  T.eq(s.model:num_params(), 784 * 64 + 64 + 64 * 10 + 10)
  T.eq(#s.eval, 2000)
  T.eq(#s.data, (6000 + 127) // 128, "6000 training images in batches of 128")
  local s2 = p.setup(2)
  T.near((s2.eval.x - s.eval.x):norm(), 0, 0, "the same test subset for every seed")
  T.ok((s2.model:params() - s.model:params()):norm() > 0, "other weights for another seed")
end)

-- ---- runs ----

T.test("a tiny grid end to end: rows, best lr, statistics and the report", function()
  local r = B.run{problems = {"quadratic"}, optimizers = {"sgd", "adam"}, lrs = 2, seeds = 2}
  local rows = r.results.quadratic
  T.eq(#rows, 2)
  T.eq(rows[1].optimizer, "sgd") T.eq(rows[2].optimizer, "adam")
  for _, row in ipairs(rows) do
    T.eq(#row.cells, 2)
    T.near(row.cells[1].lr, ol.optim.defaults(row.optimizer).lr / 10, 0, nil, 1e-12)
    -- the statistics of the chosen cell, recomputed from its seeds' finals
    local c = row.cells[row.best]
    local a, b = c.finals[1], c.finals[2]
    T.near(row.loss_mean, (a + b) / 2, 0, nil, 1e-14)
    T.near(row.loss_sd, math.abs(a - b) / math.sqrt(2), 0, nil, 1e-12)
    -- the best lr is the cell with the lower mean among those without a diverged seed
    local other = row.cells[3 - row.best]
    local om = (other.finals[1] + other.finals[2]) / 2
    T.ok(not (om < row.loss_mean) or om ~= om or om == inf, "best lr has the lowest mean")
    -- a run's final loss is f at its last point: 1/2 x^T A x >= 0
    T.ok(a >= 0 and b >= 0)
    T.eq(#c.runs[1].curve.steps, 500 // 10 + 1)
    T.eq(c.runs[1].curve.steps[1], 0)
  end
  -- the same seed gives the same run (seeded start and noise)
  local r2 = B.run{problems = {"quadratic"}, optimizers = {"sgd"}, lrs = 2, seeds = 2}
  T.eq(r2.results.quadratic[1].loss_mean, rows[1].loss_mean)

  local dir = os.tmpname()
  os.remove(dir)
  local path, pictures, missing = r:report(dir)
  local fh = assert(io.open(path))
  local text = fh:read("a")
  fh:close()
  T.ok(text:find("| sgd | ", 1, true), text)
  T.ok(text:find("| adam | ", 1, true), text)
  local n = 0
  for _ in text:gmatch("\n| %w+ | [%d.e%-]+") do n = n + 1 end
  T.eq(n, 2, "one row per optimizer")
  T.ok(text:find("optlua " .. ol.version, 1, true), "the version line")
  T.ok(text:find("2 lrs per optimizer, 2 seeds per lr", 1, true), text)
  local have = ol.plot.available()
  for _, f in ipairs{"quadratic_steps.png", "quadratic_seconds.png"} do
    local h = io.open(dir .. "/" .. f, "rb")
    if have then
      T.ok(h and #h:read("a") > 1000, f)
      T.ok(text:find("(" .. f .. ")", 1, true), "the report shows " .. f)
    end
    if h then h:close() end
    os.remove(dir .. "/" .. f)
  end
  os.remove(path)
  os.remove(dir)
  if have then T.eq(pictures, 2) T.eq(#missing, 0)
  else T.skip("gnuplot not found: the pictures were not drawn (" .. #missing .. " counted in the report)") end
end)

T.test("muon is left out on the problems without matrices, with a note", function()
  local r = B.run{problems = {"saddle", "quadratic"}, optimizers = {"muon"}, lrs = 1, seeds = 1}
  T.eq(#r.results.saddle, 0)
  T.eq(#r.results.quadratic, 1)
  T.eq(#r.notes, 1)
  T.ok(r.notes[1]:find("muon is not run on saddle", 1, true), r.notes[1])
end)

T.test("a diverged run: stopped at a non-finite loss, final inf, its lr never the best", function()
  -- sgd (momentum 0.9) at lr 1e-3 * 100 = 0.1 on the quadratic, whose
  -- largest eigenvalue is 1e3: each step multiplies that component by
  -- far more than 1 in size, so the loss overflows
  local r = B.run{problems = {"quadratic"}, optimizers = {"sgd"}, lrs = 2, seeds = 1}
  local row = r.results.quadratic[1]
  local bad = row.cells[2]
  T.near(bad.lr, 0.1, 0, nil, 1e-12)
  local run = bad.runs[1]
  T.eq(run.final, inf)
  T.ok(run.diverged and run.diverged < 500, "stopped early, at step " .. tostring(run.diverged))
  T.eq(run.curve.losses[#run.curve.losses], inf)
  T.eq(run.curve.steps[#run.curve.steps], run.diverged)
  T.eq(row.best, 1)
  T.ok(row.loss_mean < inf)
end)

-- ---- errors ----

T.test("unknown names and options: errors listing the choices", function()
  local e = T.raises("did you mean 'quadratic'", B.run, {problems = {"quadratc"}})
  T.ok(e:find("'rosenbrock'", 1, true) and e:find("'mlp'", 1, true), e)
  e = T.raises("did you mean 'adam'", B.run, {problems = {"quadratic"}, optimizers = {"adamm"}})
  T.ok(e:find("known: sgd", 1, true), e)
  T.raises("needs a closure", B.run, {problems = {"quadratic"}, optimizers = {"lbfgs"}})
  T.raises("unknown option 'problem'; did you mean 'problems'?", B.run, {problem = {"quadratic"}})
  T.raises("'sgd' twice", B.run, {problems = {"quadratic"}, optimizers = {"sgd", "sgd"}})
  T.raises("option 'problems' is empty", B.run, {problems = {}})
  T.raises("bad argument #1 to 'problem' (unknown problem 'sadle'; did you mean 'saddle'? (known: rosenbrock", B.problem, "sadle")
  T.raises("option 'seeds' must be >= 1, got 0", B.run, {seeds = 0})
  T.raises("option 'lrs' must be an integer", B.run, {lrs = 1.5})
end)

-- ---- the script ----

local here = arg[0]:match("^(.*/)") or "./"
local script = here .. "../../scripts/benchmark.lua"
local program
for i = -1, -10, -1 do
  if arg[i] == nil then break end
  program = arg[i]
end
local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function run(...)
  local parts = {quote(program), quote(script)}
  for _, a in ipairs{...} do parts[#parts + 1] = quote(a) end
  local h = assert(io.popen(table.concat(parts, " ") .. " </dev/null 2>&1; echo \"status=$?\"", "r"))
  local out = h:read("a")
  h:close()
  return out:gsub("status=%d+%s*$", ""), tonumber(out:match("status=(%d+)%s*$"))
end

T.test("scripts/benchmark.lua: bad command lines are refused in one line", function()
  local out, status = run("--problem", "quadratic")
  T.eq(status, 2)
  T.ok(out:find("unknown option '--problem'; did you mean '--problems'?", 1, true), out)
  out, status = run("--problems", "quadratc")
  T.eq(status, 2)
  T.ok(out:find("did you mean 'quadratic'", 1, true) and not out:find("traceback", 1, true), out)
  out, status = run("--optimizers", "adamm", "--problems", "quadratic")
  T.eq(status, 2) T.ok(out:find("did you mean 'adam'", 1, true), out)
  out, status = run("--seeds", "two")
  T.eq(status, 2) T.ok(out:find("--seeds expects an integer", 1, true), out)
  out, status = run("--out")
  T.eq(status, 2) T.ok(out:find("needs a value", 1, true), out)
end)

T.run()
