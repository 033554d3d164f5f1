-- ol.benchmark: optimizers against each other on a fixed set of problems,
-- in the spirit of DeepOBS (Schneider, Balles & Hennig 2019, "DeepOBS: a
-- deep learning optimizer benchmark suite"): each optimizer gets the same
-- small lr search on every problem, several seeds per lr, and is reported
-- at its best lr with the seeds' spread. It measures how optimizers behave,
-- not how fast optlua is (bench/ does that).
--
--   local r = ol.benchmark.run{problems = {"quadratic"}, optimizers = {"sgd", "adam"},
--                              lrs = 3, seeds = 2, progress = true, quick = false}
--   r:table("quadratic")     -- the problem's table as Markdown
--   r:report("dir")          -- dir/report.md and dir/PROBLEM_steps.png, _seconds.png
--   ol.benchmark.problems()  -- the problem names; ol.benchmark.problem(name) its definition
--   ol.benchmark.optimizers(quick) -- the optimizer set of a full or a quick run
--
-- The rules (the report repeats them):
--   * Each optimizer runs with its defaults (ol.optim.defaults) except lr,
--     plus momentum = 0.9 for sgd (heavy ball). The lr grid is lrs values
--     log-spaced over three decades from a tenth of the default lr to 100
--     times it, default * 10^(-1 + 3 (i-1)/(lrs-1)) (lrs = 1: the default
--     alone): the defaults are cautious, so the grid reaches further up.
--   * A run is one optimizer, one lr, one seed. It diverges when its loss
--     becomes non-finite: it stops there and its final loss counts as +inf.
--   * The best lr of an optimizer on a problem: among the lrs none of whose
--     seeds diverged, the lowest mean final loss over the seeds; equal
--     means: the smaller lr. No such lr: "all diverged".
--   * At the best lr: final loss and accuracy as mean +- sd over the seeds
--     (sd with n - 1; one seed: no sd), and the steps and seconds to the
--     problem's target: per seed the first recorded point whose loss is at
--     most the target, the median over the seeds with "not reached" as
--     +inf, so a median that is +inf is "not reached".
--   * Muon steps 2-D weights by its own rule and everything else by AdamW;
--     on a problem without a matrix to train (the 2-D functions) it would
--     be plain AdamW, so it is left out there, with a note.
local ol = require "optlua"
local args = ol._args

local M = {}

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- ---- statistics ---------------------------------------------------------

-- The mean of a non-empty list.
function M.mean(xs)
  local s = 0
  for _, x in ipairs(xs) do s = s + x end
  return s / #xs
end

-- The sample standard deviation (divisor n - 1); nil below two values.
function M.sd(xs)
  local n = #xs
  if n < 2 then return nil end
  local m, s = M.mean(xs), 0
  for _, x in ipairs(xs) do s = s + (x - m) ^ 2 end
  return math.sqrt(s / (n - 1))
end

-- The median: the middle value, or the mean of the two middle values.
function M.median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  local a, b = s[n // 2], s[n // 2 + 1]
  if a == b then return a end -- +inf and +inf
  return (a + b) / 2
end

-- The first recorded point of a curve whose loss is at most target:
-- its step and seconds, or nil when none is.
function M.time_to_target(curve, target)
  for i, l in ipairs(curve.losses) do
    if l <= target then return curve.steps[i], curve.seconds[i] end
  end
  return nil
end

-- cells: a list of {lr =, finals = {one final loss per seed}}. The index of
-- the best cell by the rule at the top of this file, or nil and the reason.
function M.best_lr(cells)
  local best, best_mean
  for i, c in ipairs(cells) do
    local ok = #c.finals > 0
    for _, v in ipairs(c.finals) do ok = ok and finite(v) end
    if ok then
      local m = M.mean(c.finals)
      if best == nil or m < best_mean or (m == best_mean and c.lr < cells[best].lr) then
        best, best_mean = i, m
      end
    end
  end
  if best == nil then return nil, "all diverged" end
  return best
end

-- ---- the problems ----------------------------------------------------------

-- A problem: name, title, what it is (about), steps (the budget), every
-- (steps between recorded points), target (the loss of "time to target"),
-- accuracy (whether it applies), matrices (whether it has 2-D weights),
-- logy (whether its loss is plotted on a log axis), yrange (the loss axis
-- of its pictures when fixed, else ol.plot's choice), and
--   kind = "fn":    fn(seed) -> {f = a function as ol.fn makes them,
--                   x = the parameter tensor, sigma = the gradient noise's sd};
--                   the loss is f(x) - f.min_value (f(x) without a minimum)
--   kind = "train": setup(seed [, dir]) -> {model, data = loader, eval = dataset}
--                   or nil and why not (a skip); dir: where Fashion-MNIST is
local PROBLEMS, ORDER = {}, {}

local function add(p)
  PROBLEMS[p.name] = p
  ORDER[#ORDER + 1] = p.name
end

-- The start of a 2-D function: its ol.fn start moved by 0.1 N(0, I) from the seed.
local function fn_problem(name, title, target, steps, sigma, logy, yrange)
  add{
    name = name, title = title, kind = "fn", steps = steps, every = steps // 50, target = target,
    accuracy = false, matrices = false, logy = logy, yrange = yrange, sigma = sigma,
    about = string.format("ol.fn.%s from its start moved by 0.1 N(0, I); the gradient gets N(0, %g^2 I) noise "
                          .. "added at every step; loss %s at the point (noise-free)", name, sigma,
                          logy and "f(x) - min f" or "f(x)"),
    fn = function(seed)
      local f = ol.fn[name]()
      ol.seed(seed)
      local x = ol.tensor(f.start, "f64")
      x:add_(ol.randn(f.dim, "f64"):mul_(0.1))
      return {f = f, x = x, sigma = sigma}
    end,
  }
end

fn_problem("rosenbrock", "Rosenbrock (noisy gradient)", 1e-2, 2000, 1, true)
fn_problem("beale", "Beale (noisy gradient)", 1e-2, 1000, 0.1, true)
-- Unbounded below: its pictures show the loss from -10 up, where the
-- escape is seen, not the depth a run reaches.
fn_problem("saddle", "Saddle x^2 - y^2 (noisy gradient)", -1, 200, 0.1, false, {-10, 3})

-- 1/2 (x - c)^T A (x - c) in 50 dimensions, A = R diag(eigenvalues) R^T with
-- the eigenvalues log-spaced from 1 to 1e3 and R a fixed random rotation;
-- the parameters are a 10 x 5 matrix (so Muon, Shampoo and the like see
-- two sides), the start c + N(0, I) from the seed.
local QUAD_DIM, QUAD_COND = 50, 1e3
add{
  name = "quadratic", title = "Ill-conditioned quadratic, d = 50, condition number 1e3 (noisy gradient)",
  kind = "fn", steps = 500, every = 10, target = 1e-2, accuracy = false, matrices = true, logy = true,
  sigma = 0.1,
  about = "1/2 (x - x*)^T A (x - x*), A with eigenvalues log-spaced over [1, 1e3] in a fixed random basis, "
          .. "x a 10 x 5 matrix started at x* + N(0, I); the gradient A (x - x*) gets N(0, 0.1^2 I) noise; "
          .. "loss f(x), 0 at x*",
  fn = function(seed)
    local f = ol.fn.quadratic{dim = QUAD_DIM, cond = QUAD_COND, rotation = true, seed = 7}
    ol.seed(seed)
    local x = ol.randn(QUAD_DIM, "f64") -- x* = 0: the start is x* + N(0, I)
    -- the value and gradient through tensor products (x* = 0)
    local A = ol.tensor(f.A, "f64")
    local g = {f = {name = f.name, dim = QUAD_DIM, min_value = 0, minimum = f.minimum, A = A},
               x = x:view({10, 5}), sigma = 0.1}
    g.f.grad = function(v)
      local ax = A:mv(v)
      return 0.5 * v:dot(ax), ax
    end
    return g
  end,
}

-- A logistic regression: a linear layer 20 -> 4 with cross-entropy on
-- Gaussian blobs (ol.data.synthetic), 2000 to train, 1000 held out.
add{
  name = "logreg", title = "Logistic regression (synthetic blobs, 20-D, 4 classes)", kind = "train",
  steps = 300, every = 10, target = 0.5, accuracy = true, matrices = true, logy = false,
  about = "a linear model 20 -> 4 with cross-entropy (softmax regression) on ol.data.synthetic blobs "
          .. "(noise 12, standardized), 2000 training samples in batches of 64, accuracy and final loss on 1000 held-out samples",
  setup = function(seed)
    ol.seed(1000) -- the same data for every seed
    local all = ol.data.synthetic{kind = "blobs", n = 3000, classes = 4, dim = 20, noise = 12}
    all:standardize()
    local train, test = all:split(2 / 3)
    ol.seed(seed)
    local net = ol.nn.sequential{ol.nn.linear(20, 4)}
    return {model = net, data = ol.data.loader(train, {batch_size = 64, shuffle = true}), eval = test}
  end,
}

-- An MLP 784-64-10 on 6000 Fashion-MNIST training images and 2000 test
-- images, each a split of its set drawn after ol.seed(1000): the same
-- subsets for every seed. The subsets of a directory are made once per
-- Lua state and kept (they do not change).
local fmnist = {} -- dir -> {train, test} or {err}
local function fashion_mnist(dir)
  local key = dir or ""
  if not fmnist[key] then
    local ok, train = pcall(ol.data.fashion_mnist, {split = "train", dir = dir})
    local ok2, test = false, nil
    if ok then ok2, test = pcall(ol.data.fashion_mnist, {split = "test", dir = dir}) end
    if ok and ok2 then
      ol.seed(1000)
      fmnist[key] = {train = train:split(0.1), test = test:split(0.2)}
    else
      fmnist[key] = {err = tostring(ok and test or train)}
    end
  end
  return fmnist[key]
end

add{
  name = "mlp", title = "MLP 784-64-10 on a Fashion-MNIST subset", kind = "train",
  steps = 400, every = 10, target = 0.6, accuracy = true, matrices = true, logy = false, data = true,
  about = "ol.nn.mlp 784-64-10 (relu) with cross-entropy on 6000 Fashion-MNIST training images in batches "
          .. "of 128, accuracy and final loss on 2000 test images",
  setup = function(seed, dir)
    local d = fashion_mnist(dir)
    if d.err then return nil, "Fashion-MNIST not found: " .. d.err end
    ol.seed(seed)
    local net = ol.nn.mlp{sizes = {784, 64, 10}}
    return {model = net, data = ol.data.loader(d.train, {batch_size = 128, shuffle = true}), eval = d.test}
  end,
}

-- The problem names, in report order.
function M.problems()
  local t = {}
  for i, n in ipairs(ORDER) do t[i] = n end
  return t
end

-- The definition of a problem (a copy of its fields), or an error naming
-- the known ones.
local function check_problem(name, fname, level)
  if PROBLEMS[name] then return PROBLEMS[name] end
  -- one checker of names and their did-you-mean: the argument kit's one_of
  args.options(fname, 1, {problems = name}, {problems = {"string", one_of = ORDER}}, level + 1)
  error("unreachable")
end

function M.problem(name)
  if type(name) ~= "string" or not PROBLEMS[name] then
    local guess = type(name) == "string" and args.closest(name, ORDER)
    args.error("problem", 1, string.format("unknown problem %s%s (known: %s)",
               type(name) == "string" and ("'" .. name .. "'") or ("of type " .. type(name)),
               guess and ("; did you mean '" .. guess .. "'?") or "", table.concat(ORDER, ", ")), 2)
  end
  local p = PROBLEMS[name]
  local t = {}
  for k, v in pairs(p) do t[k] = v end
  return t
end

-- ---- the optimizers --------------------------------------------------------

-- The full set and the quick set. Lookahead wraps adam (its own options
-- are its defaults); its lr is adam's.
local FULL = {"sgd", "nag", "adam", "adamw", "rmsprop", "rprop", "lion", "muon",
              "lamb", "adabelief", "sf_adamw", "lookahead"}
local QUICK = {"sgd", "adam", "lion", "muon"}

function M.optimizers(quick)
  local t = {}
  for i, n in ipairs(quick and QUICK or FULL) do t[i] = n end
  return t
end

-- The options an optimizer gets besides lr.
local EXTRA = {sgd = {momentum = 0.9}}

-- The optimizer whose defaults give the lr (lookahead's inner adam).
local function lr_source(name) return name == "lookahead" and "adam" or name end

local function make_optimizer(name, params, lr)
  local o = {lr = lr}
  for k, v in pairs(EXTRA[name] or {}) do o[k] = v end
  if name == "lookahead" then return ol.optim.lookahead(ol.optim.adam(params, o)) end
  return ol.optim[name](params, o)
end

-- n log-spaced lrs from a tenth of the optimizer's default lr to 100 times it.
function M.lr_grid(name, n)
  local d = ol.optim.defaults(lr_source(name)).lr
  if n == 1 then return {d} end
  local t = {}
  for i = 1, n do t[i] = d * 10 ^ (-1 + 3 * (i - 1) / (n - 1)) end
  return t
end

-- ---- one run ---------------------------------------------------------------

-- A run of a 2-D function or the quadratic: the optimizer steps on the
-- noisy gradient, the loss is recorded at step 0 and every `every` steps.
local function run_fn(p, name, lr, seed)
  local s = p.fn(seed)
  local f, x, sigma = s.f, s.x, s.sigma
  local flat = x:view({x:numel()})
  local base = f.min_value or 0
  local function value_grad()
    if f.grad then return f.grad(flat) end
    local v, g = f.eval(flat:totable())
    return v, ol.tensor(g, "f64")
  end
  local opt = make_optimizer(name, x, lr)
  local curve = {steps = {}, seconds = {}, losses = {}}
  local t0 = ol.clock()
  local function record(step, v)
    local n = #curve.steps + 1
    curve.steps[n], curve.seconds[n], curve.losses[n] = step, ol.clock() - t0, v - base
  end
  local v, g = value_grad()
  record(0, v)
  local diverged
  for step = 1, p.steps do
    g:add_(ol.randn(g:numel(), "f64"):mul_(sigma))
    opt:step(g:view(x:shape()))
    v, g = value_grad()
    if not finite(v) then
      diverged = step
      record(step, math.huge)
      break
    end
    if step % p.every == 0 then record(step, v) end
  end
  opt:eval() -- schedule-free: the loss at its average
  local final = diverged and math.huge or (value_grad()) - base
  opt:train()
  return {curve = curve, final = finite(final) and final or math.huge, diverged = diverged}
end

-- A run of a data problem through ol.train: the recorded loss is the mean
-- training batch loss over the `every` steps before the point; the final
-- loss and accuracy are ol.evaluate's on the held-out set.
local function run_train(p, name, lr, seed, dir)
  local s, why = p.setup(seed, dir)
  if not s then return nil, why end
  local opt = make_optimizer(name, s.model, lr)
  local curve = {steps = {}, seconds = {}, losses = {}}
  local sum, count, last = 0, 0, 0
  local t0 = ol.clock()
  local function on_step(st)
    sum, count, last = sum + st.loss, count + 1, st.step
    if st.step % p.every == 0 then
      local n = #curve.steps + 1
      curve.steps[n], curve.seconds[n], curve.losses[n] = st.step, ol.clock() - t0, sum / count
      sum, count = 0, 0
    end
  end
  local res = ol.train{model = s.model, optimizer = opt, data = s.data, epochs = p.steps,
                       max_steps = p.steps, every = 1, on_step = on_step, on_nonfinite = "stop",
                       progress = false}
  if res.nonfinite then
    local n = #curve.steps + 1
    curve.steps[n], curve.seconds[n], curve.losses[n] = last + 1, ol.clock() - t0, math.huge
    return {curve = curve, final = math.huge, diverged = last + 1}
  end
  opt:eval()
  local loss, acc = ol.evaluate(s.model, s.eval)
  opt:train()
  return {curve = curve, final = finite(loss) and loss or math.huge, accuracy = acc,
          diverged = not finite(loss) or nil}
end

-- ---- the grid --------------------------------------------------------------

local Result = {}
Result.__index = Result
local summarize, pm -- below
Result.__name = "optlua.benchmark"

local RUN_SPEC = {
  problems = {"table"}, optimizers = {"table"}, lrs = {"integer", min = 1}, seeds = {"integer", min = 1},
  quick = {"boolean", default = false}, progress = {"boolean", default = false}, data = {"string"},
}

-- The list option key of run's options, each name checked by check(name).
local function names(o, key, default, check)
  local list = o[key] or default
  if #list == 0 then args.error("benchmark.run", 1, "option '" .. key .. "' is empty", 4) end
  local seen = {}
  for i, n in ipairs(list) do
    if type(n) ~= "string" then
      args.error("benchmark.run", 1, string.format("option '%s': entry %d is not a name", key, i), 4)
    end
    if seen[n] then args.error("benchmark.run", 1, string.format("option '%s': '%s' twice", key, n), 4) end
    seen[n] = true
    check(n)
  end
  return list
end

-- A known optimizer of the benchmark: one that steps from gradients.
local function check_optimizer(n)
  -- ol.optim.defaults raises "unknown optimizer 'x'; did you mean ...
  -- (known: ...)" for a name that is not in the registry
  local ok, err = pcall(ol.optim.defaults, lr_source(n))
  if n ~= "lookahead" and not ok then
    args.error("benchmark.run", 1, "option 'optimizers': " .. tostring(err):gsub("^.-%((.*)%)$", "%1"), 5)
  end
  if n == "lookahead" then return end
  if ol.optim.kind(n) == "closure" then
    args.error("benchmark.run", 1, string.format("option 'optimizers': %s needs a closure (several loss "
               .. "evaluations per step); the benchmark steps from one gradient", n), 5)
  end
  if ol.optim.defaults(n).lr == nil then
    args.error("benchmark.run", 1, string.format("option 'optimizers': %s has no lr to search", n), 5)
  end
end

-- ol.benchmark.run{problems, optimizers, lrs, seeds, quick, progress, data} -> result
function M.run(opts)
  local o = args.options("benchmark.run", 1, opts, RUN_SPEC, 2)
  local problems = names(o, "problems", ORDER, function(n) check_problem(n, "benchmark.run", 5) end)
  local optimizers = names(o, "optimizers", o.quick and QUICK or FULL, check_optimizer)
  local nlr = o.lrs or (o.quick and 4 or 7)
  local nseed = o.seeds or (o.quick and 2 or 3)
  local r = setmetatable({problems = problems, optimizers = optimizers, lrs = nlr, seeds = nseed,
                          quick = o.quick, results = {}, skipped = {}, notes = {}}, Result)
  local t_start = ol.clock()
  for _, pname in ipairs(problems) do
    local p = PROBLEMS[pname]
    local rows = {}
    r.results[pname] = rows
    for _, name in ipairs(optimizers) do
      if name == "muon" and not p.matrices then
        r.notes[#r.notes + 1] = string.format("muon is not run on %s: it has no 2-D weights, so muon would be "
                                              .. "its AdamW fallback", pname)
      elseif not r.skipped[pname] then
        local t0 = ol.clock()
        local cells = {}
        for _, lr in ipairs(M.lr_grid(name, nlr)) do
          local cell = {lr = lr, runs = {}, finals = {}}
          for seed = 1, nseed do
            local run, why
            if p.kind == "fn" then run = run_fn(p, name, lr, seed)
            else run, why = run_train(p, name, lr, seed, o.data) end
            if not run then r.skipped[pname] = why break end
            cell.runs[seed], cell.finals[seed] = run, run.final
          end
          if r.skipped[pname] then break end
          cells[#cells + 1] = cell
        end
        if r.skipped[pname] then
          if o.progress then print(string.format("benchmark: %s skipped: %s", pname, r.skipped[pname])) end
        else
          local row = summarize(p, name, cells)
          rows[#rows + 1] = row
          if o.progress then
            print(string.format("benchmark: %-10s %-10s best lr %s  final loss %s  (%.1f s)", pname, name,
                                row.lr and string.format("%.3g", row.lr) or "-", pm(row.loss_mean, row.loss_sd),
                                ol.clock() - t0))
          end
        end
      end
    end
  end
  r.seconds = ol.clock() - t_start
  return r
end

-- The row of one optimizer on one problem from its cells (see the rules).
function summarize(p, name, cells)
  local row = {optimizer = name, cells = cells, grid = {}}
  for i, c in ipairs(cells) do row.grid[i] = c.lr end
  local best, why = M.best_lr(cells)
  row.reason = why
  if not best then return row end
  local c = cells[best]
  row.best, row.lr = best, c.lr
  row.edge = #cells > 1 and (best == 1 or best == #cells)
  row.loss_mean, row.loss_sd = M.mean(c.finals), M.sd(c.finals)
  if p.accuracy then
    local accs = {}
    for i, run in ipairs(c.runs) do accs[i] = run.accuracy end
    row.acc_mean, row.acc_sd = M.mean(accs), M.sd(accs)
  end
  local steps, secs, reached = {}, {}, 0
  for i, run in ipairs(c.runs) do
    local st, sec = M.time_to_target(run.curve, p.target)
    steps[i], secs[i] = st or math.huge, sec or math.huge
    if st then reached = reached + 1 end
  end
  row.target_steps, row.target_seconds, row.reached = M.median(steps), M.median(secs), reached
  return row
end

-- ---- the report ------------------------------------------------------------

-- "0.0123 ± 0.0004", "0.0123" (no sd), "-" (none).
function pm(m, sd, f)
  f = f or "%.4g"
  if m == nil then return "-" end
  if not finite(m) then return tostring(m) end
  if sd == nil then return string.format(f, m) end
  return string.format(f .. " ± " .. f, m, sd)
end

-- The table of one problem as Markdown lines.
function Result:table(pname)
  local p = check_problem(pname, "table", 2)
  local rows = self.results[pname]
  if rows == nil then args.error("table", 1, "problem '" .. pname .. "' was not run", 2) end
  local out = {
    "| optimizer | best lr | final loss (mean ± sd) | accuracy % (mean ± sd) | steps to target | seconds to target |",
    "|---|---|---|---|---|---|",
  }
  for _, row in ipairs(rows) do
    local lr = row.lr and string.format("%.3g%s", row.lr, row.edge and " (edge)" or "") or row.reason
    local acc = "n/a"
    if p.accuracy and row.acc_mean then
      acc = pm(100 * row.acc_mean, row.acc_sd and 100 * row.acc_sd, "%.2f")
    elseif p.accuracy then acc = "-" end
    local steps, secs = "not reached", "not reached"
    if row.lr and finite(row.target_steps) then
      steps = string.format("%d (%d/%d seeds)", math.floor(row.target_steps + 0.5), row.reached, #row.cells[1].runs)
      secs = string.format("%.3g", row.target_seconds)
    elseif not row.lr then steps, secs = "-", "-" end
    out[#out + 1] = string.format("| %s | %s | %s | %s | %s | %s |", row.optimizer, lr,
                                  pm(row.loss_mean, row.loss_sd), acc, steps, secs)
  end
  return table.concat(out, "\n")
end

-- Mean, min and max over the seeds of curves recorded at the same points
-- (a diverged seed's curve ends early: the statistics there cover the
-- seeds still running).
local function band(runs, field)
  local xs, mean, lo, hi = {}, {}, {}, {}
  local n = 0
  for _, run in ipairs(runs) do n = math.max(n, #run.curve.losses) end
  for k = 1, n do
    local vals, xsum, xn = {}, 0, 0
    for _, run in ipairs(runs) do
      local v = run.curve.losses[k]
      if v ~= nil then
        vals[#vals + 1] = v
        xsum, xn = xsum + run.curve[field][k], xn + 1
      end
    end
    xs[k] = xsum / xn
    mean[k] = M.mean(vals)
    lo[k], hi[k] = math.min(table.unpack(vals)), math.max(table.unpack(vals))
  end
  return xs, mean, lo, hi
end

-- ol.plot's colours and two more: the full set of optimizers in as many colours.
local COLORS = {table.unpack(ol.plot.colors)}
COLORS[#COLORS + 1], COLORS[#COLORS + 2] = "#000000", "#a6761d"

-- An optimizer's colour: by its place in the run's list, the same on
-- every problem.
function Result:color(name)
  for i, n in ipairs(self.optimizers) do
    if n == name then return COLORS[(i - 1) % #COLORS + 1] end
  end
  return COLORS[1]
end

-- The two pictures of a problem: the loss at each optimizer's best lr
-- against steps and against seconds, the mean over the seeds bold and
-- the seeds' min and max as thin lines of the same colour (no key entry).
function Result:plot(pname, file, field)
  local p = check_problem(pname, "plot", 2)
  local series, k = {}, 0
  for _, row in ipairs(self.results[pname] or {}) do
    if row.lr then
      k = k + 1
      local color = self:color(row.optimizer)
      local runs = row.cells[row.best].runs
      local xs, mean, lo, hi = band(runs, field)
      if #runs > 1 then
        series[#series + 1] = {name = "", x = xs, y = lo, color = color, width = 0.6}
        series[#series + 1] = {name = "", x = xs, y = hi, color = color, width = 0.6}
      end
      series[#series + 1] = {name = string.format("%s (lr %.3g)", row.optimizer, row.lr), x = xs, y = mean,
                             color = color, width = 2.5}
    end
  end
  if k == 0 then return nil end
  local ok, err = pcall(ol.plot.lines, {
    series = series, logy = p.logy, yrange = p.yrange, file = file, size = {1000, 640},
    title = string.format("%s: loss at the best lr, mean over %d seed%s%s", pname, self.seeds,
                          self.seeds == 1 and "" or "s", self.seeds > 1 and " (thin: min and max)" or ""),
    xlabel = field == "steps" and "step" or "seconds", ylabel = p.logy and "loss (log scale)" or "loss",
  })
  if not ok then return nil, tostring(err) end
  return file
end

local function version_line()
  local b = ol.blas()
  local host = io.popen and io.popen("uname -srm 2>/dev/null")
  local uname = host and host:read("*l") or "unknown system"
  if host then host:close() end
  return string.format("optlua %s, %s, BLAS %s (core %s), %d thread%s", tostring(ol.version), uname,
                       tostring(b.config), tostring(b.core), ol.threads(), ol.threads() == 1 and "" or "s")
end

-- r:report(dir) -> path of dir/report.md, with the pictures beside it.
-- The directory is made when missing. Without gnuplot the pictures are
-- left out, each counted and named in the report.
function Result:report(dir)
  if type(dir) ~= "string" or dir == "" then args.error("report", 1, "directory name expected", 2) end
  os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
  local L = {}
  local function w(s) L[#L + 1] = s or "" end
  w("# Optimizer benchmark")
  w()
  w(version_line())
  w()
  w("How optimizers behave on a fixed set of problems (in the spirit of DeepOBS, Schneider, Balles & "
    .. "Hennig 2019); not a measure of optlua's speed (bench/ is).")
  w()
  w("## Settings")
  w()
  w(string.format("- %s run; %d lr%s per optimizer, %d seed%s per lr; %.1f s in all.",
                  self.quick and "A quick (--quick)" or "A", self.lrs, self.lrs == 1 and "" or "s",
                  self.seeds, self.seeds == 1 and "" or "s", self.seconds or 0))
  w("- Optimizers: " .. table.concat(self.optimizers, ", ") .. ". Each with its defaults except lr "
    .. "(sgd: momentum 0.9; lookahead: over adam, adam's lr).")
  w("- The lr grid: log-spaced from a tenth of the optimizer's default lr to 100 times it "
    .. "(default × 10^(-1 + 3(i-1)/(n-1))). \"(edge)\": the best lr is at an end of the grid.")
  w("- A run diverges when its loss becomes non-finite; it stops and its final loss counts as inf.")
  w("- Best lr: among the lrs at which no seed diverged, the lowest mean final loss over the seeds; "
    .. "equal means: the smaller lr.")
  w("- Final loss and accuracy: mean ± sd over the seeds at the best lr (sd with n - 1).")
  w("- Steps and seconds to target: per seed the first recorded point at or below the problem's target, "
    .. "the median over the seeds (a seed that does not reach it counts as infinite); \"(k/n seeds)\": "
    .. "how many reached it.")
  w("- The loss recorded: on the functions and the quadratic, the noise-free loss at the point; on "
    .. "logreg and mlp, the mean training batch loss over the steps since the last point (curves and "
    .. "time to target), while the final loss and accuracy are measured on the held-out set.")
  w("- Pictures: the loss at each optimizer's best lr against steps and against seconds, the mean over "
    .. "the seeds bold, their min and max thin in the same colour. Seconds are wall-clock time (ol.clock) "
    .. "from the run's first step: on the small problems a pause (the garbage collector, another process) "
    .. "shows as a flat stretch.")
  for _, note in ipairs(self.notes) do w("- Note: " .. note .. ".") end
  local pictures, missing = 0, {}
  for _, pname in ipairs(self.problems) do
    local p = PROBLEMS[pname]
    w()
    w("## " .. pname .. ": " .. p.title)
    w()
    w(p.about .. ". " .. string.format("%d steps, recorded every %d; target loss %g.", p.steps, p.every,
                                       p.target))
    w()
    if self.skipped[pname] then
      w("SKIPPED: " .. self.skipped[pname])
    else
      w(self:table(pname))
      w()
      for _, field in ipairs{"steps", "seconds"} do
        local file = pname .. "_" .. field .. ".png"
        local made, why = self:plot(pname, dir .. "/" .. file, field)
        if made then
          pictures = pictures + 1
          w(string.format("![%s: loss against %s](%s)", pname, field, file))
          w()
        else
          missing[#missing + 1] = file .. ": " .. tostring(why or "no optimizer has a best lr")
        end
      end
    end
  end
  local skipped = 0
  for _ in pairs(self.skipped) do skipped = skipped + 1 end
  w()
  w(string.format("%d problem%s, %d skipped; %d picture%s, %d not drawn%s", #self.problems,
                  #self.problems == 1 and "" or "s", skipped, pictures, pictures == 1 and "" or "s", #missing,
                  #missing > 0 and (": " .. table.concat(missing, "; ")) or ""))
  local path = dir .. "/report.md"
  local fh, err = io.open(path, "w")
  if not fh then error("benchmark report: " .. tostring(err), 2) end
  fh:write(table.concat(L, "\n"), "\n")
  fh:close()
  return path, pictures, missing
end

return M
