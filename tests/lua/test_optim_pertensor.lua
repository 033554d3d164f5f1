-- lamb, lars and adafactor from Lua: each entry of net:parameters() is one
-- tensor of their rules (checked by a property each rule has per tensor),
-- adafactor's factored state on a model, and its eps = {nil, 1e-3} (nil: the
-- dtype's machine epsilon) as an option. The rules themselves are checked
-- against double-precision references in tests/engine/test_optim_pertensor.c.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- A model and a gradient of its size with entries of both signs.
local function model_and_grad()
  ol.seed(11)
  local net = ol.nn.mlp{sizes = {3, 4, 2}, activation = "tanh", dtype = "f64"}
  local P, n = net:params(), net:params():numel()
  local g = {}
  for i = 1, n do
    g[i] = math.sin(0.7 * i) + 0.1
    P[i] = P[i] + 0.05 * math.cos(i) -- the biases start at 0: give them a norm
  end
  return net, ol.tensor(g, "f64")
end

local function before_of(net)
  local b = {}
  for _, p in ipairs(net:parameters()) do b[p.name] = p.tensor:clone() end
  return b
end

-- At t = 1 without weight decay a lamb step moves each tensor by
-- lr·‖w‖ (r = ‖w‖/‖u‖ scales u to w's norm), and a lars step by lr·tc·‖w‖
-- (r = tc·‖w‖/‖g‖, b = lr·r·g): both hold per entry only if each entry is
-- its own tensor.
T.test("lamb and lars scale each entry of net:parameters() by its own norm", function()
  for _, case in ipairs{{"lamb", {lr = 0.1}, 0.1}, {"lars", {lr = 2, trust_coefficient = 0.05}, 0.1}} do
    local net, g = model_and_grad()
    local before = before_of(net)
    local opt = ol.optim[case[1]](net, case[2])
    opt:step(g)
    local count = 0
    for _, p in ipairs(net:parameters()) do
      local moved = (p.tensor - before[p.name]):norm()
      T.near(moved, case[3] * before[p.name]:norm(), 1e-12, case[1] .. " " .. p.name, 1e-10)
      count = count + 1
    end
    T.eq(count, 4)
  end
end)

T.test("adafactor on a model: row and column statistics per matrix, a full one per vector", function()
  local net, g = model_and_grad()
  local opt = ol.optim.adafactor(net)
  opt:step(g)
  local rows, cols, vec = 0, 0, 0
  for _, p in ipairs(net:parameters()) do
    local s = p.tensor:shape()
    if #s == 2 then rows, cols = rows + s[1], cols + s[2] else vec = vec + p.tensor:numel() end
  end
  local st = opt:state()
  T.eq(st.row_var:numel(), rows)
  T.eq(st.col_var:numel(), cols)
  T.eq(st.variance:numel(), vec)
  -- at t = 1, β2 = 0: the variance of a vector is g² itself
  T.ok(vec > 0 and rows > 0)
end)

T.test("adafactor's eps: nil is the machine epsilon, given and read as nil", function()
  local d = ol.optim.defaults("adafactor")
  T.eq(d.eps[1], nil); T.eq(d.eps[2], 1e-3)
  local w = ol.tensor({1, 1}, "f64")
  local opt = ol.optim.adafactor(w, {eps = {nil, 1e-3}})
  T.eq(opt.eps[1], nil); T.eq(opt.eps[2], 1e-3)
  opt.eps = {1e-30, 2e-3}
  T.eq(opt.eps[1], 1e-30); T.eq(opt.eps[2], 2e-3)
  opt.eps = {nil, 1e-3}
  T.eq(opt.eps[1], nil)
  T.raises("option 'eps' must be a pair of numbers", function() opt.eps = {1e-3, nil} end)
  T.raises("option 'eps' must be a pair of numbers", function() opt.eps = {} end)
  T.raises("option 'eps' must be a pair {a, b}", function() opt.eps = {1, 2, 3} end)
  T.raises("option 'eps' element 1 must be >= 0, got -1", function() opt.eps = {-1, 1e-3} end)
  T.raises("option 'betas' must be a pair of numbers", function() ol.optim.lamb(w, {betas = {nil, 0.9}}) end)
  -- g = (tiny, 1) at t = 1: V = g², U = (tiny/eps1, 1), RMS(U) < 1, α = 1e-2
  local tiny = 1e-16
  opt:step(ol.tensor({tiny, 1}, "f64"))
  T.near(w[1], 1 - 1e-2 * tiny / 2 ^ -52, 1e-15)
  T.near(w[2], 0.99, 1e-15)
  local w32 = ol.tensor({1, 1}, "f32")
  ol.optim.adafactor(w32):step(ol.tensor({5e-8, 1}, "f32"))
  T.near(w32[1], 1 - 1e-2 * 5e-8 / 2 ^ -23, 1e-6)
end)

T.run()
