-- Parameter groups (API.md, "Parameter groups") from Lua: each group's
-- options applied to exactly its tensors, checked against the published
-- rules computed here in plain Lua (sgd: w - lr (g + wd w); adamw's first
-- step: w (1 - lr wd) - lr g / (|g| + eps)); every optimizer with two
-- groups; the errors; live per-group options and schedules; tostring and
-- options(); checkpoints of several groups, resumed bit for bit (same
-- process, same machine).
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- A 4-3-2 mlp in f64: 1.weight 3x4, 1.bias 3, 3.weight 2x3, 3.bias 2.
local function mlp(seed)
  ol.seed(seed or 5)
  return ol.nn.mlp{sizes = {4, 3, 2}, activation = "tanh", dtype = "f64"}
end

-- The elements of a tensor (any shape) as a flat Lua array, row-major.
local function flat(t)
  local out = {}
  local function walk(v)
    if type(v) == "table" then for i = 1, #v do walk(v[i]) end else out[#out + 1] = v end
  end
  walk(t:totable())
  return out
end

-- name -> flat values of every parameter
local function values(net)
  local v = {}
  for _, p in ipairs(net:parameters()) do v[p.name] = flat(p.tensor) end
  return v
end

-- Sets the model's gradient buffer to known values: element i of the flat
-- buffer gets ((7 i + 3 t) % 11 - 5) / 8 + 0.01 t (never 0), and returns
-- name -> flat gradient of every parameter.
local function set_grads(net, t)
  local n = net:grads():numel()
  local g = {}
  for i = 1, n do
    g[i] = ((7 * i + 3 * t) % 11 - 5) / 8 + 0.01 * t
    if g[i] == 0 then g[i] = 0.03 end
  end
  net:grads():copy_(ol.tensor(g, "f64"))
  local by = {}
  for _, p in ipairs(net:parameters()) do by[p.name] = flat(p.grad) end
  return by
end

local function is_weight(name) return name:match("weight$") ~= nil end

local function same_bits(a, b, what)
  T.eq(#a, #b, what .. ": length")
  for i = 1, #a do
    if a[i] ~= b[i] then error(string.format("%s: element %d differs: %.17g vs %.17g", what, i, a[i], b[i]), 2) end
  end
end

T.test("sgd with two groups: each group's lr and weight_decay act on exactly its tensors", function()
  local net = mlp()
  local H = {weight = {lr = 0.1, wd = 0.01}, bias = {lr = 0.5, wd = 0}}
  local opt = ol.optim.sgd({
    {params = net:select("weight$"), lr = H.weight.lr, weight_decay = H.weight.wd},
    {params = net:select("bias$"), lr = H.bias.lr, weight_decay = H.bias.wd},
  })
  T.eq(table.concat(opt.groups[1].params, " "), "1.weight 3.weight")
  T.eq(table.concat(opt.groups[2].params, " "), "1.bias 3.bias")
  local want = values(net)
  for t = 1, 2 do
    local g = set_grads(net, t)
    opt:step()
    for name, w in pairs(want) do
      local h = is_weight(name) and H.weight or H.bias
      for i = 1, #w do w[i] = w[i] - h.lr * (g[name][i] + h.wd * w[i]) end
    end
    local got = values(net)
    for name, w in pairs(want) do T.near_all(got[name], w, 1e-14, name .. " step " .. t) end
  end
  T.eq(opt.t, 2)
end)

T.test("adamw with two groups: the first step by hand, w (1 - lr wd) - lr g / (|g| + eps)", function()
  local net = mlp()
  local H = {weight = {lr = 0.01, wd = 0.1, eps = 1e-8}, bias = {lr = 0.05, wd = 0, eps = 1e-3}}
  local opt = ol.optim.adamw({
    {params = net:select("weight$"), weight_decay = H.weight.wd},
    {params = net:select("bias$"), lr = H.bias.lr, weight_decay = H.bias.wd, eps = H.bias.eps},
  }, {lr = H.weight.lr})
  T.eq(opt.groups[1].lr, 0.01, "the second argument's lr reaches group 1")
  T.eq(opt.groups[2].betas[2], 0.999, "adamw's default betas in group 2")
  local want = values(net)
  local g = set_grads(net, 1)
  opt:step()
  local got = values(net)
  for name, w in pairs(want) do
    local h = is_weight(name) and H.weight or H.bias
    local x = {}
    for i = 1, #w do
      local gi = g[name][i]
      x[i] = w[i] * (1 - h.lr * h.wd) - h.lr * gi / (math.abs(gi) + h.eps)
    end
    T.near_all(got[name], x, 1e-14, name)
  end
end)

T.test("a group covering some tensors leaves the others exactly as they were", function()
  local net = mlp()
  local opt = ol.optim.sgd({{params = net:select("^1%."), lr = 0.25}})
  T.eq(table.concat(opt.groups[1].params, " "), "1.weight 1.bias")
  local before = values(net)
  local g = set_grads(net, 1)
  opt:step()
  local after = values(net)
  same_bits(after["3.weight"], before["3.weight"], "3.weight")
  same_bits(after["3.bias"], before["3.bias"], "3.bias")
  for _, name in ipairs{"1.weight", "1.bias"} do
    local x = {}
    for i = 1, #before[name] do x[i] = before[name][i] - 0.25 * g[name][i] end
    T.near_all(after[name], x, 1e-15, name)
  end
end)

T.test("ol.train with two groups: the biases' group at lr = 0 keeps them, the weights train", function()
  local net = mlp()
  local xs, ys = {}, {}
  for i = 1, 16 do
    xs[i] = {math.sin(i), math.cos(2 * i), (i % 5) / 5 - 0.4, (i % 3) - 1}
    ys[i] = xs[i][1] + xs[i][3] > 0 and 1 or 2
  end
  local ds = ol.data.dataset(ol.tensor(xs, "f64"), ol.tensor(ys, "f64"))
  local opt = ol.optim.adam({
    {params = net:select("weight$"), lr = 0.05},
    {params = net:select("bias$"), lr = 0},
  })
  local before = values(net)
  ol.train{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 4}),
           loss = "cross_entropy", epochs = 2, progress = false}
  T.eq(opt.t, 8)
  local after = values(net)
  same_bits(after["1.bias"], before["1.bias"], "1.bias")
  same_bits(after["3.bias"], before["3.bias"], "3.bias")
  local moved = 0
  for i = 1, #before["1.weight"] do moved = math.max(moved, math.abs(after["1.weight"][i] - before["1.weight"][i])) end
  T.ok(moved > 1e-3, "the weights moved by " .. moved)
end)

-- The loss of the mlp on fixed data and its gradient buffer, as a closure.
local function closure_of(net)
  ol.seed(11)
  local x, y = ol.randn(6, 4, "f64"), ol.randn(6, 2, "f64")
  return function()
    net:zero_grad()
    local loss = net:evaluate(x, y, "mse")
    return loss, net:grads()
  end
end

T.test("every optimizer but the closure methods steps two groups, each group's tensors moving", function()
  local n = 0
  for _, name in ipairs(ol.optim.list()) do
    if ol.optim.kind(name) ~= "closure" then
      local net = mlp()
      local biases = {params = net:select("bias$")}
      if name == "muon" then biases.use = "adamw" end
      local groups = {{params = net:select("weight$")}, biases}
      -- a wrapper (lookahead) over adam takes the inner's groups
      local opt = ol.optim.kind(name) == "wrapper" and ol.optim[name](ol.optim.adam(groups), {k = 2})
                  or ol.optim[name](groups)
      T.eq(#opt.groups, 2, name)
      local before = values(net)
      local f = closure_of(net)
      for _ = 1, 2 do opt:step(f) end
      T.eq(opt.t, 2, name)
      local after = values(net)
      for pname, w in pairs(before) do
        local moved = false
        for i = 1, #w do
          T.ok(after[pname][i] == after[pname][i], name .. ": " .. pname .. " is NaN")
          moved = moved or after[pname][i] ~= w[i]
        end
        T.ok(moved, name .. ": " .. pname .. " did not move")
      end
      n = n + 1
    end
  end
  T.ok(n >= 15, n .. " optimizers")
end)

T.test("closure methods: groups with equal options covering every parameter; else a clear error", function()
  local n = 0
  for _, name in ipairs(ol.optim.list()) do
    if ol.optim.kind(name) == "closure" then
      local net = mlp()
      local f = closure_of(net)
      local opt = ol.optim[name]({{params = net:select("weight$")}, {params = net:select("bias$")}})
      local l0 = f()
      local loss = opt:step(f)
      T.ok(loss == loss and opt.t == 1, name .. " stepped")
      T.ok(f() < l0, name .. ": the loss went down")
      -- a numeric option made different in group 2
      local key
      for k, v in pairs(ol.optim.defaults(name)) do
        if math.type(v) == "float" and v > 0 and (not key or k < key) then key = k end
      end
      T.ok(key, name .. ": a numeric option")
      opt.groups[2][key] = opt.groups[1][key] * 0.5
      T.raises(name .. " steps all its parameters as one vector: option '" .. key ..
               "' must be the same in every group", opt.step, opt, f)
      opt[key] = opt.groups[1][key] -- every group again
      opt:step(f)
      T.eq(opt.t, 2, name)
      local part = ol.optim[name]({{params = net:select("weight$")}})
      T.raises(name .. " steps all its parameters as one vector: 5 of the 23 are in no group",
               part.step, part, f)
      n = n + 1
    end
  end
  T.ok(n >= 4, n .. " closure methods")
end)

T.test("errors: two groups, unknown options, no params, foreign tensors, a vector in muon", function()
  local net = mlp()
  T.raises("bad argument #1 to 'sgd' (parameter '1.weight' is in group 1 and in group 2: a "
           .. "parameter belongs to one group)",
           ol.optim.sgd, {{params = net:select("weight$")}, {params = net:select("^1%.")}})
  T.raises("bad argument #1 to 'adam' (group 2: unknown option 'lrr'; did you mean 'lr'?)",
           ol.optim.adam, {{params = net:select("weight$")}, {params = net:select("bias$"), lrr = 1}})
  T.raises("bad argument #1 to 'sgd' (group 3 has no params list (params = net:select(...)))",
           ol.optim.sgd, {{params = net:select("weight$")}, {params = net:select("bias$")}, {lr = 1}})
  T.raises("bad argument #1 to 'sgd' (group 2: params is one parameter, not a list of them "
           .. "(params = {p} or net:select(...)))",
           ol.optim.sgd, {{params = net:select("weight$")}, {params = net:parameters()[2]}})
  T.raises("bad argument #1 to 'sgd' (group 2 has no params list (params = net:select(...)))",
           ol.optim.sgd, {{params = net:select("weight$")}, {params = net:parameters()[2].tensor}})
  T.raises("bad argument #1 to 'sgd' (parameter 'tensor 1' is not a contiguous view into the "
           .. "parameters of the other groups)",
           ol.optim.sgd, {{params = net:select("weight$")}, {params = {ol.zeros(2, "f64")}}})
  local other = mlp(6)
  T.raises("bad argument #1 to 'sgd' (parameter '1.bias' is not a contiguous view into the "
           .. "parameters of the other groups)",
           ol.optim.sgd, {{params = net:select("weight$")}, {params = other:select("bias$")}})
  T.raises("bad argument #1 to 'sgd' (group 1: option 'lr' must be >= 0, got -1)",
           ol.optim.sgd, {{params = net:select("weight$"), lr = -1}})
  T.raises("bad argument #1 to 'muon' (group 2: parameter '1.bias': the parameter at offset 12 (3 elements) is not a "
           .. "matrix: muon orthogonalises 2-D weights; put it in a group with use = \"adamw\")",
           ol.optim.muon, {{params = net:select("weight$")}, {params = net:select("bias$")}})
  T.raises("bad argument #1 to 'muon' (group 1: option 'use' must be one of",
           ol.optim.muon, {{params = net:select("weight$"), use = "sgd"}})
  -- select: a Lua pattern over the names; entries know their model
  local sel = net:select("^3%.")
  T.eq(#sel, 2)
  T.eq(sel[1].name, "3.weight"); T.eq(sel[2].name, "3.bias")
  T.ok(rawequal(sel[1].model, net), "entries name their model")
  T.eq(#net:select("nothing"), 0)
end)

T.test("live per-group options; opt.lr reads when all agree, raises when not, sets all", function()
  local net = mlp()
  local opt = ol.optim.sgd({
    {params = net:select("weight$"), lr = 0.1, weight_decay = 0.01},
    {params = net:select("bias$"), lr = 0.5},
  }, {momentum = 0.5})
  local g1, g2 = opt.groups[1], opt.groups[2]
  T.eq(g1.index, 1); T.eq(g2.index, 2)
  T.eq(g1.momentum, 0.5); T.eq(g2.momentum, 0.5); T.eq(opt.momentum, 0.5)
  T.eq(g2.weight_decay, 0)
  T.raises("sgd: option 'lr' differs between the groups: read opt.groups[i].lr (or opt:options())",
           function() return opt.lr end)
  T.eq(tostring(opt):match(", 2 groups %(differing: lr, weight_decay%)$"), ", 2 groups (differing: lr, weight_decay)",
       tostring(opt))
  T.ok(tostring(g2):find("^group 2 of sgd{lr=0.5, momentum=0.5,"), tostring(g2))
  T.ok(tostring(g2):find("}: 2 tensors$"), tostring(g2))
  local o = opt:options()
  T.eq(o.lr, nil, "options(): lr differs, so it is only in groups")
  T.eq(o.momentum, 0.5)
  T.eq(o.groups[1].lr, 0.1); T.eq(o.groups[2].lr, 0.5); T.eq(o.groups[2].weight_decay, 0)
  g2.lr = 0.25
  T.eq(g2.lr, 0.25); T.eq(g1.lr, 0.1, "assigning to group 2 leaves group 1")
  T.eq(opt.groups[2].lr, 0.25, "a fresh opt.groups sees it")
  opt.lr = 0.2
  T.eq(g1.lr, 0.2); T.eq(g2.lr, 0.2); T.eq(opt.lr, 0.2)
  T.raises("option 'lr' must be >= 0", function() g1.lr = -1 end)
  T.eq(g1.lr, 0.2)
  T.raises("unknown option 'lrr' for sgd; did you mean 'lr'?", function() g1.lrr = 1 end)
  T.raises("unknown option 'lrr' for sgd; did you mean 'lr'?", function() return g1.lrr end)
  T.raises("sgd group: field 'index' is read-only", function() g1.index = 2 end)
  T.raises("sgd: field 'groups' is read-only", function() opt.groups = {} end)
  local names = g1.params
  names[1] = "changed"
  T.eq(g1.params[1], "1.weight", "params is a copy")
  opt.weight_decay = 0
  T.eq(tostring(opt):match(", 2 groups$"), ", 2 groups", "no differing options: " .. tostring(opt))
  -- the values take effect: sgd with momentum 0.5 from zero momentum, one step
  local before = values(net)
  g2.lr = 0.75
  local g = set_grads(net, 1)
  opt:step()
  local after = values(net)
  for name, w in pairs(before) do
    local lr = is_weight(name) and 0.2 or 0.75
    local x = {}
    for i = 1, #w do x[i] = w[i] - lr * g[name][i] end
    T.near_all(after[name], x, 1e-15, name)
  end
end)

T.test("schedules: one group's, and a relative step{every = 1, gamma = 0.5} halving each group's lr", function()
  local net = mlp()
  local opt = ol.optim.sgd({
    {params = net:select("weight$"), lr = 0.4},
    {params = net:select("bias$"), lr = 0.1},
  })
  -- group 2 only
  local g2 = opt.groups[2]
  T.ok(rawequal(g2:schedule("lr", function(t) return 0.01 * t end), g2), "schedule returns the group")
  local function expect(lw, lb, t)
    local before = values(net)
    local g = set_grads(net, t)
    opt:step()
    T.near(opt.groups[1].lr, lw, 1e-15, "group 1 lr at step " .. t)
    T.near(opt.groups[2].lr, lb, 1e-15, "group 2 lr at step " .. t)
    local after = values(net)
    for name, w in pairs(before) do
      local lr = is_weight(name) and lw or lb
      local x = {}
      for i = 1, #w do x[i] = w[i] - lr * g[name][i] end
      T.near_all(after[name], x, 1e-14, name .. " step " .. t)
    end
  end
  expect(0.4, 0.01, 1)
  expect(0.4, 0.02, 2)
  opt.groups[2]:schedule("lr", nil)
  -- every group, without a base value: each group's own lr, halved at every step after the first
  opt.groups[2].lr = 0.1
  opt:schedule("lr", ol.schedule.step{every = 1, gamma = 0.5})
  -- the schedule counts the optimizer's steps: t = 3, 4 -> base * 0.5^(t - 1)
  expect(0.4 * 0.25, 0.1 * 0.25, 3)
  expect(0.4 * 0.125, 0.1 * 0.125, 4)
  -- removed for every group: the values stay where the schedule left them
  opt:schedule("lr", nil)
  expect(0.05, 0.0125, 5)
  T.raises("unknown option 'lrr'", function() opt.groups[1]:schedule("lrr", print) end)
end)

T.test("checkpoint with two groups: resumed into the same groups is bit-identical; one group is refused", function()
  local path = T.scratch()
  local function setup()
    local net = mlp(9)
    local opt = ol.optim.adamw({
      {params = net:select("weight$"), weight_decay = 0.1},
      {params = net:select("bias$"), weight_decay = 0, lr = 0.03, betas = {0.8, 0.95}},
    }, {lr = 0.01})
    opt.groups[1]:schedule("lr", function(t) return 0.01 / t end)
    return net, opt, closure_of(net)
  end
  local N, M = 3, 4
  local net, opt, f = setup()
  for _ = 1, N + M do opt:step(f) end
  local straight = flat(net:params())
  local net1, opt1, f1 = setup()
  for _ = 1, N do opt1:step(f1) end
  opt1.groups[2].eps = 1e-6 -- a live change the file must carry
  ol.save(path("mid.safetensors"), {model = net1, optimizer = opt1})
  local ck = ol.load(path("mid.safetensors"))
  T.eq(#ck.optimizer.groups, 2)
  T.eq(ck.optimizer.groups[2].options.lr, 0.03)
  T.eq(ck.optimizer.groups[2].options.eps, 1e-6)
  T.eq(ck.optimizer.groups[1].options.weight_decay, 0.1)
  -- a fresh optimizer with the same groups (and schedule) continues as if never stopped
  local net2, opt2, f2 = setup()
  ck:restore(net2, opt2)
  T.eq(opt2.t, N)
  T.eq(opt2.groups[2].eps, 1e-6)
  T.eq(opt2.groups[2].betas[1], 0.8)
  opt1.groups[2].eps = 1e-8
  opt2.groups[2].eps = 1e-8
  for _ = 1, M do opt2:step(f2) end
  same_bits(flat(net2:params()), straight, "resumed vs straight")
  for _ = 1, M do opt1:step(f1) end
  same_bits(flat(net1:params()), straight, "continued in place vs straight")
  -- the control: the model alone, without the optimizer's state, ends elsewhere
  local net5, opt5, f5 = setup()
  ck:restore(net5)
  for _ = 1, M do opt5:step(f5) end
  local differs = false
  for i, v in ipairs(flat(net5:params())) do differs = differs or v ~= straight[i] end
  T.ok(differs, "the optimizer's state made no difference")
  -- other groups are refused, naming the difference
  T.raises("holds an optimizer with 2 parameter groups, this one has 1",
           ck.restore, ck, mlp(9), ol.optim.adamw(mlp(9)))
  local net3 = mlp(9)
  T.raises("its optimizer's tensor 1 (3x4 at 0, group 1) is not this one's (3x4 at 0, group 2)",
           ck.restore, ck, net3,
           ol.optim.adamw({{params = net3:select("bias$")}, {params = net3:select("weight$")}}))
  local net4 = mlp(9)
  T.raises("holds an optimizer over 4 parameter tensors, this one has 3", ck.restore, ck, net4,
           ol.optim.adamw({{params = net4:select("weight$")}, {params = net4:select("1.bias")}}))
  -- and the metadata names the tensors and the groups
  local header = T.read_file(path("mid.safetensors"))
  T.ok(header:find('"optim.params":"%[%[0,3,4,1,0%],%[12,1,3,0,1%],%[15,2,3,1,0%],%[21,1,2,0,1%]%]"'),
       "optim.params")
  T.ok(header:find('"optim.groups":"'), "optim.groups")
end)

T.run()
