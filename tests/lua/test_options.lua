-- Strict options: every public function that takes an option table rejects
-- a misspelt key with
--   bad argument #N to 'NAME' (unknown option 'KEY'; did you mean 'GOOD'?)
-- and wrong types and out-of-range values name the option and the value.
--
-- The list of functions is checked against the library itself: the test
-- walks ol, its sub-tables and the methods of every kind of object, and
-- each function found must be either in TAKES_OPTIONS (with a call that
-- feeds it a misspelt key) or in NO_OPTIONS. A new function that is in
-- neither list fails the test, as does a list entry that no longer exists.
-- Names starting with "_" are internal (ol._args, ol.plot._render, ...)
-- and metamethods are not called with option tables; both are left out.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- ---- fixtures --------------------------------------------------------------

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

ol.seed(1)
local net = ol.nn.mlp{sizes = {2, 3, 2}}
local x, y = ol.randn(4, 2), {1, 2, 1, 2}
local ds = ol.data.synthetic{kind = "xor", n = 8}
local loader = ol.data.loader(ds, {batch_size = 4})
local opt = ol.optim.sgd(net, {lr = 0.1})
local f = ol.fn.rosenbrock()
local ckpath = dir .. "/ck.safetensors"
ol.save(ckpath, {model = net, optimizer = opt})
local ck = ol.load(ckpath)
local run = ol.explore(f, "sgd", {lr = 1e-3}, {steps = 2})
local cmp = ol.compare(f, {sgd = {lr = 1e-3}}, {steps = 2, print = false})
local warm = ol.schedule.momentum_warmup{from = 0.5, to = 0.9, steps = 10}
local reduce = ol.schedule.reduce_on_plateau{base = 1}
local pca = ol.pca.fit(ol.randn(10, 2))
local lrf = ol.lr_find{model = net, optimizer = opt, data = loader, steps = 3}
local lsl = ol.landscape.line(net, ds, net:params(), net:params(), {steps = 2})
local lsp = ol.landscape.plane(net, ds, {resolution = 2})

-- base with the entries of extra added (extra wins)
local function with(base, extra)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end

-- The message of the error fn(...) raises (without the position), or a
-- failure when it raises none.
local function message(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error, got none", 2) end
  return (tostring(err):gsub("^[^\n]-:%d+: ", ""))
end

-- ---- the functions that take an option table ----------------------------------
-- path = {arg, name, misspelt key, the option it should suggest (nil: the
-- function takes no options), call(opts)}; call passes opts as the option
-- table, merged into options that are valid otherwise.

local TAKES_OPTIONS = {
  ["ol.train"] = {1, "train", "epoch", "epochs", function(o)
    return ol.train(with({model = net, optimizer = opt, data = loader, progress = false}, o)) end},
  ["ol.nn.mlp"] = {1, "mlp", "activaton", "activation", function(o) return ol.nn.mlp(with({sizes = {2, 4, 2}}, o)) end},
  ["ol.nn.sequential"] = {1, "sequential", "dtyp", "dtype", function(o)
    return ol.nn.sequential(with({ol.nn.linear(2, 2)}, o)) end},
  ["ol.nn.leaky_relu"] = {1, "leaky_relu", "slop", "slope", ol.nn.leaky_relu},
  ["ol.nn.relu"] = {1, "relu", "slope", nil, ol.nn.relu},
  ["ol.nn.tanh"] = {1, "tanh", "slope", nil, ol.nn.tanh},
  ["ol.nn.sigmoid"] = {1, "sigmoid", "slope", nil, ol.nn.sigmoid},
  ["ol.nn.gelu"] = {1, "gelu", "slope", nil, ol.nn.gelu},
  ["ol.nn.silu"] = {1, "silu", "slope", nil, ol.nn.silu},
  ["ol.nn.elu"] = {1, "elu", "slope", nil, ol.nn.elu},
  ["ol.nn.softplus"] = {1, "softplus", "slope", nil, ol.nn.softplus},
  -- the loss's options, after its name
  ["model:loss"] = {4, "loss", "label_smothing", "label_smoothing", function(o)
    return net:loss(x, y, "cross_entropy", o) end},
  ["model:evaluate"] = {4, "evaluate", "weigth", "weight", function(o)
    return net:evaluate(x, y, "cross_entropy", o) end},
  ["ol.evaluate"] = {4, "evaluate", "delt", "delta", function(o) return ol.evaluate(net, ds, "huber", o) end},
  ["ol.nn.identity"] = {1, "identity", "slope", nil, ol.nn.identity},
  ["ol.nn.dropout"] = {1, "dropout", "pp", "p", ol.nn.dropout},
  ["ol.nn.layer_norm"] = {2, "layer_norm", "epss", "eps", function(o) return ol.nn.layer_norm(4, o) end},
  ["ol.nn.batch_norm"] = {2, "batch_norm", "momentun", "momentum", function(o) return ol.nn.batch_norm(4, o) end},
  ["ol.data.loader"] = {2, "loader", "batchsize", "batch_size", function(o) return ol.data.loader(ds, o) end},
  ["ol.data.csv"] = {2, "csv", "delimeter", "delimiter", function(o) return ol.data.csv(dir .. "/none.csv", o) end},
  ["ol.data.idx"] = {3, "idx", "clases", "classes", function(o) return ol.data.idx(dir .. "/a", dir .. "/b", o) end},
  ["ol.data.fashion_mnist"] = {1, "fashion_mnist", "spilt", "split", function(o)
    return ol.data.fashion_mnist(with({dir = dir}, o)) end},
  ["ol.data.synthetic"] = {1, "synthetic", "nosie", "noise", function(o)
    return ol.data.synthetic(with({kind = "xor"}, o)) end},
  ["ol.data.dataset"] = {3, "dataset", "clases", "classes", function(o)
    return ol.data.dataset(ol.zeros(2, 2), {1, 2}, o) end},
  ["ol.pca.fit"] = {2, "fit", "whitening", "whiten", function(o) return ol.pca.fit(ol.randn(10, 2), o) end},
  ["ol.gradcheck"] = {3, "gradcheck", "epss", "eps", function(o) return ol.gradcheck(f, ol.zeros(2, "f64"), o) end},
  ["ol.hvp"] = {6, "hvp", "gaus_newton", "gauss_newton", function(o)
    return ol.hvp(net, x, y, "cross_entropy", ol.zeros(net:num_params()), o) end},
  ["ol.hessian_eigs"] = {3, "hessian_eigs", "stesp", "steps", function(o)
    return ol.hessian_eigs(f, ol.zeros(2, "f64"), o) end},
  ["ol.save"] = {2, "save", "modle", "model", function(o) return ol.save(dir .. "/x.safetensors", o) end},
  ["checkpoint:restore"] = {3, "restore", "rgn", "rng", function(o) return ck:restore(net, opt, o) end},
  ["ol.schedule.constant"] = {1, "constant", "valeu", "value", ol.schedule.constant},
  ["ol.schedule.step"] = {1, "step", "gama", "gamma", function(o)
    return ol.schedule.step(with({from = 1, every = 2}, o)) end},
  ["ol.schedule.multistep"] = {1, "multistep", "gama", "gamma", function(o)
    return ol.schedule.multistep(with({from = 1, milestones = {2}}, o)) end},
  ["ol.schedule.exponential"] = {1, "exponential", "form", "from", function(o)
    return ol.schedule.exponential(with({from = 1, gamma = 0.5}, o)) end},
  ["ol.schedule.poly"] = {1, "poly", "powr", "power", function(o)
    return ol.schedule.poly(with({from = 1, steps = 10}, o)) end},
  ["ol.schedule.linear"] = {1, "linear", "stesp", "steps", function(o)
    return ol.schedule.linear(with({from = 1, to = 0, steps = 10}, o)) end},
  ["ol.schedule.cosine"] = {1, "cosine", "stesp", "steps", function(o)
    return ol.schedule.cosine(with({from = 1, steps = 10}, o)) end},
  ["ol.schedule.cosine_restarts"] = {1, "cosine_restarts", "mutl", "mult", function(o)
    return ol.schedule.cosine_restarts(with({from = 1, period = 10}, o)) end},
  ["ol.schedule.warmup"] = {1, "warmup", "form", "from", function(o)
    return ol.schedule.warmup(with({to = 1, steps = 10}, o)) end},
  ["ol.schedule.one_cycle"] = {1, "one_cycle", "pct_strat", "pct_start", function(o)
    return ol.schedule.one_cycle(with({max = 1, steps = 10}, o)) end},
  ["ol.schedule.cyclic"] = {1, "cyclic", "mdoe", "mode", function(o)
    return ol.schedule.cyclic(with({low = 0, high = 1, period = 10}, o)) end},
  ["ol.schedule.momentum_warmup"] = {1, "momentum_warmup", "shpae", "shape", function(o)
    return ol.schedule.momentum_warmup(with({from = 0.5, to = 0.9, steps = 10}, o)) end},
  ["ol.schedule.reduce_on_plateau"] = {1, "reduce_on_plateau", "patiense", "patience", function(o)
    return ol.schedule.reduce_on_plateau(with({base = 1}, o)) end},
  ["warmup:attach"] = {2, "attach", "feild", "field", function(o)
    return warm:attach(ol.optim.sgd(ol.zeros(2), {momentum = 0.5}), o) end},
  ["ol.plateau"] = {1, "plateau", "mdoe", "mode", ol.plateau},
  ["ol.plateau.new"] = {1, "plateau", "cooldwn", "cooldown", ol.plateau.new},
  ["ol.explore"] = {4, "explore", "stesp", "steps", function(o)
    return ol.explore(f, "sgd", {}, with({steps = 1}, o)) end},
  ["ol.explore.run"] = {4, "explore", "diverg", "diverge", function(o)
    return ol.explore.run(f, "sgd", {}, with({steps = 1}, o)) end},
  ["ol.explore.Run.plot"] = {2, "plot", "contuor", "contour", function(o) return run:plot(dir .. "/r.png", o) end},
  ["ol.compare"] = {3, "compare", "stesp", "steps", function(o)
    return ol.compare(f, {sgd = {lr = 1e-3}}, with({steps = 1, print = false}, o)) end},
  ["comparison:plot"] = {2, "plot", "olny", "only", function(o) return cmp:plot(dir .. "/c.png", o) end},
  ["ol.spectrum.eigs"] = {5, "spectrum.eigs", "whihc", "which", function(o)
    return ol.spectrum.eigs(net, x, y, "cross_entropy", with({k = 1}, o)) end},
  ["ol.spectrum.density"] = {3, "spectrum.density", "vectros", "vectors", function(o)
    return ol.spectrum.density(f, ol.zeros(2, "f64"), with({vectors = 1}, o)) end},
  ["ol.spectrum.track"] = {1, "spectrum.track", "evrey", "every", function(o)
    return ol.spectrum.track(with({model = net, optimizer = opt, data = ds}, o)) end},
  ["ol.lr_find"] = {1, "lr_find", "stesp", "steps", function(o)
    return ol.lr_find(with({model = net, optimizer = opt, data = loader, steps = 3}, o)) end},
  ["lr_find:plot"] = {2, "plot", "titel", "title", function(o) return lrf:plot(dir .. "/lr.png", o) end},
  ["ol.noise.scale"] = {3, "noise.scale", "smal", "small", function(o)
    return ol.noise.scale(net, ds, with({small = 2, big = 4}, o)) end},
  ["ol.noise.cosine"] = {3, "noise.cosine", "pair", "pairs", function(o)
    return ol.noise.cosine(net, ds, with({batch_size = 2}, o)) end},
  ["ol.plot.lines"] = {1, "lines", "titel", "title", function(o)
    return ol.plot.lines(with({series = {{y = {1, 2}}}, file = dir .. "/l.png"}, o)) end},
  ["ol.landscape.line"] = {5, "line", "stpes", "steps", function(o)
    return ol.landscape.line(net, ds, net:params(), net:params(), with({steps = 2}, o)) end},
  ["ol.landscape.plane"] = {3, "plane", "resolutin", "resolution", function(o)
    return ol.landscape.plane(net, ds, with({resolution = 2}, o)) end},
  ["ol.landscape.recorder"] = {2, "recorder", "inital", "initial", function(o)
    return ol.landscape.recorder(net, o) end},
  ["landscape_line:plot"] = {2, "plot", "titel", "title", function(o) return lsl:plot(dir .. "/l.png", o) end},
  ["landscape_plane:plot"] = {2, "plot", "levls", "levels", function(o) return lsp:plot(dir .. "/p.png", o) end},
  ["ol.plot.contour"] = {1, "contour", "levles", "levels", function(o)
    return ol.plot.contour(with({f = f, file = dir .. "/c.png"}, o)) end},
  ["ol.plot.log"] = {3, "log", "titel", "title", function(o) return ol.plot.log(dir .. "/run.jsonl", dir .. "/g.png", o) end},
  ["ol.fn.rosenbrock"] = {1, "rosenbrock", "A", "a", ol.fn.rosenbrock},
  ["ol.fn.beale"] = {1, "beale", "a", nil, ol.fn.beale},
  ["ol.fn.himmelblau"] = {1, "himmelblau", "a", nil, ol.fn.himmelblau},
  ["ol.fn.booth"] = {1, "booth", "a", nil, ol.fn.booth},
  ["ol.fn.saddle"] = {1, "saddle", "a", nil, ol.fn.saddle},
  ["ol.fn.rastrigin"] = {1, "rastrigin", "dims", "dim", ol.fn.rastrigin},
  ["ol.fn.quadratic"] = {1, "quadratic", "conds", "cond", ol.fn.quadratic},
  ["ol.print_options"] = {1, "print_options", "edg", "edge", ol.print_options},
  ["ol.inspect"] = {2, "inspect", "dpeth", "depth", function(o) return ol.inspect({}, o) end},
  ["ol.average.ema"] = {2, "ema", "decya", "decay", function(o) return ol.average.ema(net, o) end},
  ["ol.average.swa"] = {2, "swa", "evrey", "every", function(o) return ol.average.swa(net, o) end},
  ["ol.benchmark.run"] = {1, "benchmark.run", "seed", "seeds", ol.benchmark.run},
}

-- Every optimizer constructor, from the registry (a new optimizer is
-- covered without an entry here): its first option with a letter doubled.
for _, name in ipairs(ol.optim.list()) do
  local names = {}
  for k in pairs(ol.optim.defaults(name)) do names[#names + 1] = k end
  table.sort(names)
  local first = names[1]
  TAKES_OPTIONS["ol.optim." .. name] = {2, name, first .. first:sub(-1), first, function(o)
    if ol.optim.kind(name) == "wrapper" then -- built over another optimizer
      return ol.optim[name](ol.optim.sgd(ol.zeros(2, 2)), o)
    end
    return ol.optim[name](ol.zeros(2, 2), o) end}
end

-- ---- the functions that take none ---------------------------------------------
-- Positional arguments only (or a list, as ol.schedule.sequence and
-- ol.nn.sequential's layers).

local NO_OPTIONS = {}
for path in ([[
  ol.arange ol.blas ol.clock ol.cond ol.eig ol.empty ol.eye ol.full ol.hessian
  ol.istensor ol.load ol.mm ol.modules ol.ones ol.rand ol.randn ol.seed ol.tensor ol.threads ol.zeros
  ol.clip.grad_norm ol.clip.grad_value
  ol.spectrum.extremes
  ol.data.dataset:split ol.data.dataset:standardize ol.data.loader:batches ol.data.standardizer:apply
  ol.dist.allreduce ol.dist.barrier ol.dist.broadcast ol.dist.is_initialized ol.dist.rank ol.dist.size
  ol.explore.Run.path_tensor
  ol.fn.list
  ol.benchmark.best_lr ol.benchmark.lr_grid ol.benchmark.mean ol.benchmark.median ol.benchmark.optimizers
  ol.benchmark.problem ol.benchmark.problems ol.benchmark.sd ol.benchmark.time_to_target
  ol.help ol.help.text
  ol.init.constant ol.init.fan_in_uniform ol.init.gain ol.init.kaiming_normal ol.init.kaiming_uniform
  ol.init.normal ol.init.orthogonal ol.init.uniform ol.init.xavier_normal ol.init.xavier_uniform ol.init.zeros
  ol.nn.linear
  ol.optim.defaults ol.optim.kind ol.optim.list
  ol.pca.condition_number
  ol.plateau.diagnose ol.plateau.Plateau.in_cooldown ol.plateau.Plateau.is_better ol.plateau.Plateau.load_state
  ol.plateau.Plateau.reduce ol.plateau.Plateau.reset ol.plateau.Plateau.state ol.plateau.Plateau.step
  ol.plateau.Plateau.update
  ol.plot.available
  ol.schedule.is_callable ol.schedule.sequence ol.schedule.value_at
  comparison:table
  model:backward model:dtype model:forward model:grads model:layers
  model:num_params model:parameters model:params model:predict model:select model:sizes model:to
  model:zero_grad model:train model:eval
  model:buffers
  optimizer:eval optimizer:options optimizer:reset optimizer:schedule optimizer:state optimizer:step
  optimizer:train
  average:copy_to average:swap average:update
  pca:inverse pca:transform
  reduce_on_plateau:attach reduce_on_plateau:load_state reduce_on_plateau:state reduce_on_plateau:step
  reduce_on_plateau:update reduce_on_plateau:value
  warmup:lr warmup:lr_scale
  tensor:abs tensor:add_ tensor:addcdiv_ tensor:addcmul_ tensor:argmax tensor:clamp_ tensor:clone
  tensor:contiguous tensor:copy_ tensor:dim tensor:div_ tensor:dot tensor:dtype tensor:exp tensor:fill_
  tensor:get tensor:index tensor:log tensor:max tensor:mean tensor:min tensor:mm tensor:mul_ tensor:mv
  tensor:narrow tensor:norm tensor:numel tensor:pow tensor:reshape tensor:set tensor:shape tensor:sigmoid
  tensor:sign tensor:size tensor:sqrt tensor:sub_ tensor:sum tensor:t tensor:tanh tensor:to tensor:totable
  tensor:view tensor:zero_
]]):gmatch("%S+") do
  NO_OPTIONS[path] = true
end

-- ---- the walk ---------------------------------------------------------------------

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(v) == "table" and type(mt) == "table" and mt.__call ~= nil
end

-- Every function (or callable table) in t, by path; recurses into tables.
local function walk(t, prefix, sep, out, seen)
  for k, v in pairs(t) do
    if type(k) == "string" and not k:match("^_") then
      local path = prefix .. sep .. k
      if callable(v) then out[path] = v end
      if type(v) == "table" and not seen[v] then
        seen[v] = true
        walk(v, path, ".", out, seen)
      end
    end
  end
end

local function library()
  for _, m in ipairs(ol.modules()) do -- load the lazy Lua-side modules
    local name = m:match("^optlua%.(.+)$")
    if name then local _ = ol[name] end
  end
  local out, seen = {}, {[ol] = true}
  walk(ol, "ol", ".", out, seen)
  local std = ol.data.synthetic{kind = "xor", n = 4}:standardize()
  local methods = {
    tensor = getmetatable(ol.zeros(1)).__methods,
    model = getmetatable(net).__methods,
    optimizer = getmetatable(opt).__methods,
    average = getmetatable(ol.average.ema(net)).__methods,
    ["ol.data.dataset"] = getmetatable(ds).__methods,
    ["ol.data.loader"] = getmetatable(loader).__methods,
    ["ol.data.standardizer"] = getmetatable(std).__methods,
    pca = select(2, debug.getupvalue(getmetatable(pca).__index, 1)),
    checkpoint = getmetatable(ck).__index,
    comparison = getmetatable(cmp).__index,
    lr_find = getmetatable(lrf).__index,
    landscape_line = getmetatable(lsl).__index,
    landscape_plane = getmetatable(lsp).__index,
    warmup = getmetatable(warm).__index,
    reduce_on_plateau = getmetatable(reduce).__index,
  }
  for kind, m in pairs(methods) do
    T.ok(type(m) == "table", kind .. ": no method table found")
    for k, v in pairs(m) do
      if type(k) == "string" and not k:match("^_") and callable(v) then out[kind .. ":" .. k] = v end
    end
  end
  return out
end

T.test("every public function is classified: takes options or not", function()
  local found = library()
  local unclassified, stale, both = {}, {}, {}
  for path in pairs(found) do
    if not TAKES_OPTIONS[path] and not NO_OPTIONS[path] then unclassified[#unclassified + 1] = path end
    if TAKES_OPTIONS[path] and NO_OPTIONS[path] then both[#both + 1] = path end
  end
  for path in pairs(TAKES_OPTIONS) do if not found[path] then stale[#stale + 1] = path end end
  for path in pairs(NO_OPTIONS) do if not found[path] then stale[#stale + 1] = path end end
  table.sort(unclassified); table.sort(stale); table.sort(both)
  T.eq(table.concat(unclassified, " "), "", "functions in neither list")
  T.eq(table.concat(stale, " "), "", "listed functions that do not exist")
  T.eq(table.concat(both, " "), "", "functions in both lists")
end)

T.test("a misspelt option is an error naming the function, the option and the right one", function()
  local paths = {}
  for path in pairs(TAKES_OPTIONS) do paths[#paths + 1] = path end
  table.sort(paths)
  for _, path in ipairs(paths) do
    local e = TAKES_OPTIONS[path]
    local argn, fname, key, good, call = e[1], e[2], e[3], e[4], e[5]
    local want = string.format("bad argument #%d to '%s' (unknown option '%s'; %s)", argn, fname, key,
                               good and ("did you mean '" .. good .. "'?") or "this function takes no options")
    T.eq(message(call, {[key] = 1}), want, path)
  end
end)

T.test("the issue's cases: nothing is silently ignored", function()
  T.eq(message(ol.train, {model = net, optimizer = opt, data = loader, epoch = 10, progress = false}),
       "bad argument #1 to 'train' (unknown option 'epoch'; did you mean 'epochs'?)")
  T.eq(message(ol.nn.mlp, {sizes = {2, 4, 2}, activaton = "tanh"}),
       "bad argument #1 to 'mlp' (unknown option 'activaton'; did you mean 'activation'?)")
  T.eq(message(ol.hessian_eigs, f, ol.zeros(2, "f64"), {which = "smallest"}),
       "bad argument #3 to 'hessian_eigs' (unknown option 'which'; expected one of k, steps, gauss_newton)")
  T.eq(message(ol.hessian_eigs, net, x, y, "cross_entropy", {which = "smallest"}),
       "bad argument #5 to 'hessian_eigs' (unknown option 'which'; expected one of k, steps, gauss_newton, loss_options)")
  T.eq(message(ol.hessian_eigs, f, ol.zeros(2, "f64"), {gauss_newton = true}),
       "bad argument #3 to 'hessian_eigs' (option 'gauss_newton' needs a model (a function's curvature is its Hessian))")
  T.eq(message(ol.gradcheck, net, x, y, {atl = 1}),
       "bad argument #4 to 'gradcheck' (unknown option 'atl'; did you mean 'atol'?)")
  T.eq(message(ol.gradcheck, net, x, y, "cross_entropy", {rtl = 1}),
       "bad argument #5 to 'gradcheck' (unknown option 'rtl'; did you mean 'rtol'?)")
  -- a misspelt required option is reported as the misspelling
  T.eq(message(ol.nn.mlp, {sizez = {2, 2}}),
       "bad argument #1 to 'mlp' (unknown option 'sizez'; did you mean 'sizes'?)")
  T.eq(message(ol.schedule.step, {from = 1, evry = 2}),
       "bad argument #1 to 'step' (unknown option 'evry'; did you mean 'every'?)")
  -- no close option: the options are listed
  T.eq(message(ol.data.loader, ds, {zzz = 1}),
       "bad argument #2 to 'loader' (unknown option 'zzz'; expected one of batch_size, shuffle, balanced, "
       .. "drop_last, dtype)")
  -- named options only; a list entry is not one
  T.eq(message(ol.train, {net}),
       "bad argument #1 to 'train' (option 'model' is required)")
  T.eq(message(ol.data.loader, ds, {128}),
       "bad argument #2 to 'loader' (unexpected entry [1] (options are named: name = value))")
  T.eq(message(ol.schedule.cosine, {from = 1, steps = 3, [1] = 2}),
       "bad argument #1 to 'cosine' (unexpected entry [1] (options are named: name = value))")
end)

T.test("wrong types and out-of-range values name the option and the value", function()
  local base = {model = net, optimizer = opt, data = loader, progress = false}
  local cases = {
    {ol.train, with(base, {epochs = "10"}), "bad argument #1 to 'train' (option 'epochs' must be an integer >= 1, got '10')"},
    {ol.train, with(base, {epochs = 2.5}), "bad argument #1 to 'train' (option 'epochs' must be an integer >= 1, got 2.5)"},
    {ol.train, with(base, {max_steps = -1}), "bad argument #1 to 'train' (option 'max_steps' must be >= 0, got -1)"},
    {ol.train, with(base, {progress = 1}), "bad argument #1 to 'train' (option 'progress' must be a boolean, got 1)"},
    {ol.train, with(base, {on_epoch = "f"}), "bad argument #1 to 'train' (option 'on_epoch' must be a function, got 'f')"},
    {ol.train, with(base, {validate = loader}),
     "bad argument #1 to 'train' (option 'validate' must be a dataset, got optlua.loader)"},
    {ol.train, with(base, {on_nonfinite = "skp"}),
     "bad argument #1 to 'train' (option 'on_nonfinite' must be 'error', 'stop' or 'skip', got 'skp'; did you mean 'skip'?)"},
    {ol.nn.mlp, {sizes = {2, 2}, dtype = "f16"},
     "bad argument #1 to 'mlp' (option 'dtype' must be 'f32' or 'f64', got 'f16')"},
    {ol.nn.mlp, {sizes = {2, 2}, activation = "tahn"},
     "bad argument #1 to 'mlp' (option 'activation' must be 'identity', 'relu', 'leaky_relu', 'tanh', 'sigmoid', "
     .. "'gelu', 'silu', 'elu' or 'softplus', got 'tahn'; did you mean 'tanh'?)"},
    {ol.nn.mlp, {sizes = {2, 2}, gain = 0 / 0}, "bad argument #1 to 'mlp' (option 'gain' must be a finite number, got nan)"},
    {ol.train, with(base, {loss_options = {label_smoothing = 1.5}}),
     "bad argument #1 to 'train' (option 'label_smoothing' must be in [0, 1], got 1.5)"},
    {ol.train, with(base, {loss = "huber", loss_options = {delta = 0}}),
     "bad argument #1 to 'train' (option 'delta' must be > 0, got 0)"},
    {ol.train, with(base, {loss_options = 3}),
     "bad argument #1 to 'train' (option 'loss_options' must be a table, got 3)"},
    {ol.nn.mlp, {sizes = 3}, "bad argument #1 to 'mlp' (option 'sizes' must be a list of layer widths, got 3)"},
    {ol.data.synthetic, {kind = "blobs", noise = -0.5},
     "bad argument #1 to 'synthetic' (option 'noise' must be >= 0, got -0.5)"},
    {ol.data.synthetic, {kind = "blobs", classes = 0},
     "bad argument #1 to 'synthetic' (option 'classes' must be in 1..1048576, got 0)"},
    {ol.data.synthetic, {kind = "blobs", n = 1 / 0},
     "bad argument #1 to 'synthetic' (option 'n' must be an integer >= 1, got inf)"},
    {ol.data.synthetic, {n = 10}, "bad argument #1 to 'synthetic' (option 'kind' is required)"},
    {ol.hessian_eigs, f, ol.zeros(2, "f64"), {k = 0}, "bad argument #3 to 'hessian_eigs' (option 'k' must be >= 1, got 0)"},
    {ol.schedule.one_cycle, {max = 1, steps = 10, pct_start = 1.5},
     "bad argument #1 to 'one_cycle' (option 'pct_start' must be in [0, 1], got 1.5)"},
    {ol.schedule.momentum_warmup, {from = 0.5, to = 1, steps = 3},
     "bad argument #1 to 'momentum_warmup' (option 'to' must be in [0, 1), got 1)"},
    {ol.schedule.reduce_on_plateau, {base = "x"},
     "bad argument #1 to 'reduce_on_plateau' (option 'base' must be a number or a function, got 'x')"},
    {ol.plateau, {factor = 0}, "bad argument #1 to 'plateau' (option 'factor' must be in (0, 1), got 0)"},
    {ol.gradcheck, f, ol.zeros(2, "f64"), {eps = 0}, "bad argument #3 to 'gradcheck' (option 'eps' must be > 0, got 0)"},
    {ol.fn.quadratic, {rotation = "x"},
     "bad argument #1 to 'quadratic' (option 'rotation' must be a number or a boolean, got 'x')"},
    {ol.plot.contour, {f = f, file = "x.png", scale = "lin"},
     "bad argument #1 to 'contour' (option 'scale' must be 'log' or 'linear', got 'lin'; did you mean 'linear'?)"},
    {ol.data.loader, ds, 128, "bad argument #2 to 'loader' (options table expected, got number)"},
    {ol.schedule.cosine, "x", "bad argument #1 to 'cosine' (options table expected, got string)"},
  }
  for i, c in ipairs(cases) do
    local want = table.remove(c)
    T.eq(message(table.unpack(c)), want, "case " .. i)
  end
end)

T.test("methods count their arguments after self, as luaL_argerror does", function()
  -- ck:restore(net, opt, opts): opts is argument #3 called as a method, #4 as a function
  T.eq(message(function() return ck:restore(net, opt, {rgn = true}) end),
       "bad argument #3 to 'restore' (unknown option 'rgn'; did you mean 'rng'?)")
  T.eq(message(function() return ck.restore(ck, net, opt, {rgn = true}) end),
       "bad argument #4 to 'restore' (unknown option 'rgn'; did you mean 'rng'?)")
  T.eq(message(function() return ck:restore(net, opt, {rng = 1}) end),
       "bad argument #3 to 'restore' (option 'rng' must be a boolean, got 1)")
  T.eq(message(function() return ck:restore(42) end),
       "bad argument #1 to 'restore' (model or nil expected, got number)")
  -- an error in self itself
  local fake = setmetatable({}, {__index = {restore = ck.restore}})
  T.eq(message(function() return fake:restore() end),
       "calling 'restore' on bad self (not a checkpoint from ol.load)")
  -- Lua-side methods number their arguments the same way
  T.eq(message(function() return run:plot(dir .. "/r.png", {grid = 1}) end),
       "bad argument #2 to 'plot' (option 'grid' must be >= 2, got 1)")
  -- the position is the caller's line
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() return ck:restore(net, opt, {rgn = true}) end)
  T.ok(not ok and err:find("test_options.lua:" .. line .. ":", 1, true), err)
  line = debug.getinfo(1, "l").currentline + 1
  ok, err = pcall(function() local s = ol.schedule.cosine{from = 1, steps = 3, stesp = 2}; return s end)
  T.ok(not ok and err:find("test_options.lua:" .. line .. ":", 1, true), err)
end)

T.test("functions are named even when called through pcall", function()
  -- Lua's call information has no name for these; the kit names them.
  local ok, err = pcall(ol.data.csv, 3)
  T.eq(ok, false)
  T.eq(err, "bad argument #1 to 'csv' (file name expected, got number)")
  ok, err = pcall(ol.nn.mlp, {sizes = {2, 2}, initt = "orthogonal"})
  T.eq(ok, false)
  T.eq(err, "bad argument #1 to 'mlp' (unknown option 'initt'; did you mean 'init'?)")
  ok, err = pcall(ol.optim.adam, ol.zeros(2), {betas1 = 0.9})
  T.eq(ok, false)
  T.eq(err, "bad argument #2 to 'adam' (unknown option 'betas1'; did you mean 'betas'?)")
end)

T.test("valid options still work", function()
  local m = ol.nn.mlp{sizes = {2, 4, 2}, activation = "tanh", init = "orthogonal", gain = 1, dtype = "f64"}
  T.eq(m:layers()[2].kind, "tanh")
  T.eq(m:dtype(), "f64")
  local l = ol.data.loader(ds, {batch_size = 2, shuffle = false, balanced = false, drop_last = true, dtype = "f64"})
  T.eq(l.batch_size, 2)
  T.eq(l.dtype, "f64")
  local s = ol.train{model = net, optimizer = opt, data = loader, epochs = 2, every = 1, max_steps = 3,
                     progress = false, grad_norm = true, on_nonfinite = "stop"}
  T.eq(s.step, 3, "max_steps stops the run")
  local vals = ol.hessian_eigs(f, ol.tensor({1, 1}, "f64"), {k = 1, steps = 2})
  T.eq(vals:numel(), 1)
  local o = ol._args.options("demo", 1, {n = 3.0}, {n = {"integer", min = 1}, m = {"number", default = 0.5}})
  T.eq(math.type(o.n), "integer", "an integral float becomes an integer")
  T.eq(o.m, 0.5, "defaults are filled in")
end)

T.test("the Lua-side modules name values and types as the kit does", function()
  T.eq(ol._args.typename(3), "number")
  T.eq(ol._args.typename(nil), "nil")
  T.eq(ol._args.typename(net), "optlua.model")
  T.eq(ol._args.got(3), "3")
  T.eq(ol._args.got("f"), "'f'")
  T.eq(ol._args.got(net), "optlua.model")
  T.eq(ol._args.closest("epoch", {"epochs", "every"}), "epochs")
  T.eq(ol._args.closest("zzz", {"epochs", "every"}), nil)
  -- the same words as the C kit's messages
  T.raises("option 'validate' must be a dataset, got optlua.model", ol.train,
           {model = net, optimizer = opt, data = loader, validate = net})
  T.raises("model expected, got number", ol.evaluate, 3, ds)
end)

T.run()
