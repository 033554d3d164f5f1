-- Objects' lifetime under hostile scripts: getmetatable cannot reach
-- __gc; a __gc called by hand anyway (debug.getmetatable bypasses the
-- protection) leaves an object that every method and metamethod refuses
-- with "X used after it was freed"; ol.train and a closure step refuse to
-- let what they drive be freed from a hook. Run in the ASan build too,
-- where any use-after-free here is a report.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local function free(x) debug.getmetatable(x).__gc(x) end

local function small_data()
  local ds = ol.data.synthetic{kind = "blobs", n = 64, classes = 2}
  return ds, ol.data.loader(ds, {batch_size = 16})
end

-- One live object of every userdata type, each made by its own maker so
-- that a test can free it.
local makers = {
  tensor = function() return ol.zeros(3) end,
  optimizer = function() return ol.optim.adam(ol.zeros(3)) end,
  model = function() return ol.nn.mlp{sizes = {2, 3, 2}} end,
  dataset = function() return (small_data()) end,
  loader = function() return select(2, small_data()) end,
  standardizer = function() return (small_data()):standardize() end,
  PCA = function() return ol.pca.fit(ol.randn(20, 3)) end,
  average = function() return ol.average.ema(ol.zeros(3)) end,
}

T.test("getmetatable shows the type's name and methods, never __gc", function()
  for kind, make in pairs(makers) do
    local x = make()
    local mt = getmetatable(x)
    T.eq(type(mt), "table", kind)
    T.eq(rawget(mt, "__gc"), nil, kind .. ": __gc reachable")
    T.eq(rawget(mt, "__close"), nil, kind .. ": __close reachable")
    T.eq(type(rawget(mt, "__name")), "string", kind)
    T.ok(getmetatable(make()) == mt, kind .. ": one view per type")
    -- the view is a copy: changing it changes nothing
    mt.__tostring = function() return "hijacked" end
    T.ok(tostring(x) ~= "hijacked", kind)
  end
  T.eq(getmetatable(ol.zeros(1)).__name, "optlua.tensor")
  T.eq(type(getmetatable(ol.zeros(1)).__methods.sum), "function")
  -- the tables the bindings give a metatable keep it
  T.raises("cannot change a protected metatable", setmetatable, ol.nn.relu(), nil)
  T.raises("cannot change a protected metatable", setmetatable, ol.optim.list(), nil)
end)

-- Calls every method and metamethod of x (freed) with plausible arguments:
-- each must raise an error naming what was freed, or (a method looked up
-- by name, a tensor's tostring) touch nothing.
local function every_call(kind, x, what)
  local mt = debug.getmetatable(x)
  local methods = rawget(mt, "__methods")
  if not methods and type(rawget(mt, "__index")) == "table" then methods = rawget(mt, "__index") end
  if not methods and type(rawget(mt, "__index")) == "function" then
    methods = select(2, debug.getupvalue(rawget(mt, "__index"), 1))
  end
  local calls = 0
  local function check(name, ok, err)
    calls = calls + 1
    if not ok then
      T.ok(tostring(err):find(what, 1, true), kind .. ":" .. name .. ": " .. tostring(err))
    end
  end
  for name, f in pairs(methods or {}) do
    if type(f) == "function" then
      check(name, pcall(f, x))
      check(name .. "(x, 1)", pcall(f, x, 1))
      check(name .. "(x, x)", pcall(f, x, x))
    end
  end
  local args = {
    __index = {{"t"}, {"lr"}, {"mean"}, {"batch_size"}, {1}},
    __newindex = {{"lr", 0.1}, {1, 2}},
    __add = {{1}}, __sub = {{1}}, __mul = {{1}}, __div = {{1}}, __unm = {{}},
    __len = {{}}, __tostring = {{}}, __pairs = {{}},
  }
  for name, f in pairs(mt) do
    if type(f) == "function" and name ~= "__gc" and name ~= "__close" then
      for _, a in ipairs(args[name] or {{}}) do
        local ok, err = pcall(f, x, table.unpack(a))
        if ok and name == "__pairs" then ok, err = pcall(err, x, nil) end
        check(name, ok, err)
      end
    end
  end
  T.ok(calls > 3, kind .. ": too few calls")
end

T.test("a __gc called by hand leaves an object that refuses every use", function()
  for kind, make in pairs(makers) do
    local x = make()
    free(x)
    free(x) -- twice: idempotent
    every_call(kind, x, kind .. " used after it was freed")
  end
  -- the plain uses of the report
  local w = ol.zeros(3)
  local o = ol.optim.sgd(w)
  free(o)
  T.raises("optimizer used after it was freed", function() o:step(ol.ones(3)) end)
  local _, loader = small_data()
  free(loader)
  T.raises("loader used after it was freed", function() return #loader end)
  T.raises("train", function()
    local net = makers.model()
    ol.train{model = net, optimizer = ol.optim.sgd(net), data = loader, progress = false}
  end)
  local t = ol.ones(4)
  free(t)
  T.raises("tensor used after it was freed", function() return t:sum() end)
  T.raises("tensor used after it was freed", function() return t + 1 end)
  T.raises("tensor used after it was freed", function() return ol.ones(4) + t end)
  T.eq(tostring(t), "[freed tensor]")
end)

T.test("a loader whose dataset was freed by hand refuses every use", function()
  local ds, loader = small_data()
  free(ds)
  T.raises("loader's dataset used after it was freed", function() return #loader end)
  T.raises("loader's dataset used after it was freed", function() return loader:batches() end)
  T.raises("dataset used after it was freed", function() return ol.data.loader(ds) end)
  T.raises("dataset used after it was freed", function() return ds:split(0.5) end)
  local ds2, loader2 = small_data()
  local it = loader2:batches()
  free(ds2)
  T.raises("loader's dataset used after it was freed", it)
end)

T.test("a checkpoint's box freed by hand is harmless", function()
  local dir = os.tmpname()
  local net = makers.model()
  local opt = ol.optim.adam(net)
  ol.save(dir, {model = net, optimizer = opt})
  local ck = ol.load(dir)
  local boxes = select(2, debug.getupvalue(getmetatable(ck).__index.restore, 1))
  local box = boxes[ck]
  T.eq(type(box), "userdata")
  free(box)
  free(box)
  pcall(ck.restore, ck, net, opt) -- an error or nothing, never a crash
  os.remove(dir)
end)

-- ol.train with a hook that frees one of its objects by hand.
local function train_freeing(pick, where)
  local ds, loader = small_data()
  local val = ds:split(0.5)
  local net = ol.nn.mlp{sizes = {2, 4, 2}}
  local opt = ol.optim.adam(net)
  local objects = {model = net, optimizer = opt, data = loader, dataset = ds, validate = val}
  local victim = objects[pick]
  local armed = true
  local function hook()
    if armed then armed = false; free(victim) end
  end
  local cfg = {model = net, optimizer = opt, data = loader, validate = val, epochs = 2, every = 1,
               progress = false}
  if where == "schedule" then
    opt:schedule("lr", function() hook() return 0.01 end)
  else
    cfg[where] = hook
  end
  T.raises("cannot free the " .. (pick == "data" and "loader" or pick == "validate" and "dataset" or pick)
           .. " while it is in use", ol.train, cfg)
  -- everything is intact, and free once the run is over
  T.eq(#loader, 4)
  T.eq(#val, 32)
  T.ok(net:forward(ol.zeros(1, 2)):numel() == 2)
  T.ok(opt.lr > 0)
  T.ok(ol.train{model = net, optimizer = opt, data = loader, epochs = 1, progress = false}.step >= 1)
  free(victim)
end

T.test("ol.train refuses to let a hook or schedule free what it drives", function()
  for _, pick in ipairs{"model", "optimizer", "data", "dataset", "validate"} do
    for _, where in ipairs{"on_step", "on_epoch", "schedule"} do
      train_freeing(pick, where)
    end
  end
end)

T.test("a step's closure cannot free the optimizer or its params", function()
  -- closure form (lbfgs): the engine's step runs the closure
  local w = ol.tensor({1.0, 2.0})
  local opt = ol.optim.lbfgs(w)
  T.raises("cannot free the optimizer while it is in use", opt.step, opt, function()
    free(opt)
    return 0, ol.zeros(2)
  end)
  T.raises("cannot free the tensor while it is in use", opt.step, opt, function()
    free(w)
    return 0, ol.zeros(2)
  end)
  T.eq(opt.name, "lbfgs")
  T.eq(w:get(1), w:get(1)) -- still a live tensor
  -- gradient form: the closure returns before the step, which then refuses
  local w2 = ol.zeros(2)
  local sgd = ol.optim.sgd(w2)
  T.raises("optimizer used after it was freed", sgd.step, sgd, function()
    free(sgd)
    return 0, ol.ones(2)
  end)
  local sgd2 = ol.optim.sgd(w2)
  T.raises("params tensor was closed", sgd2.step, sgd2, function()
    free(w2)
    return 0, ol.ones(2)
  end)
end)

T.run()
