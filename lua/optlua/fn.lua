-- ol.fn: classic test functions for optimizers, with analytic gradients in
-- f64, their known minima and plot bounds. Formulas and minima as listed in
-- Jamil & Yang, "A literature survey of benchmark functions for global
-- optimisation problems" (2013), and Surjanovic & Bingham's Virtual Library
-- of Simulation Experiments (sfu.ca/~ssurjano); the quadratic is
-- f(x) = 1/2 (x - c)^T A (x - c) with A = R diag(eigenvalues) R^T.
--
--   local f = ol.fn.rosenbrock{a = 1, b = 100}
--   local loss, grad = f(x)       -- x: tensor (any shape/dtype) or table
--   f.name, f.dim, f.minimum (list of points), f.min_value, f.bounds, f.start
--   f.eval(p) -> loss, gradient   -- plain Lua arrays, no tensors (fast)
--
-- The gradient is a new f64 tensor of x's shape. A function without a
-- minimum (saddle) has f.minimum = {} and f.min_value = nil, and says why
-- in f.note.
local ol = require "optlua"

local M = {}

-- Raised at the caller of the function that called argerr.
local function argerr(fname, i, msg)
  ol._args.error(fname, i, msg, 3)
end

-- The checked options of test function fname (spec: see ol._args.options),
-- raised at its caller: ol._args <- opts_table <- fname <- caller.
local function opts_table(fname, o, spec)
  return ol._args.options(fname, 1, o, spec or {}, 3)
end

-- A point as a flat Lua array, and the shape to give the gradient.
local function to_point(fname, x, dim)
  local p, shape
  if type(x) == "table" then
    p, shape = {}, {#x}
    for i = 1, #x do
      if type(x[i]) ~= "number" then argerr(fname, 1, "point must be a list of numbers") end
      p[i] = x[i]
    end
  elseif ol.istensor(x) then
    shape = x:shape()
    p = x:reshape(x:numel()):totable()
  else
    argerr(fname, 1, "tensor or table expected, got " .. type(x))
  end
  if dim and #p ~= dim then
    argerr(fname, 1, string.format("expected a point of %d numbers, got %d", dim, #p))
  end
  if #p == 0 then argerr(fname, 1, "empty point") end
  return p, shape
end

local function new_fn(def)
  local f = def
  local eval = def.eval
  return setmetatable(f, {
    __call = function(self, x)
      local p, shape = to_point(self.name, x, self.dim)
      local v, g = eval(p)
      local gt = ol.tensor(g, "f64")
      if #shape ~= 1 then gt = gt:view(shape) end
      return v, gt
    end,
    __tostring = function(self)
      return string.format("optlua.fn.%s (%s-D)", self.name, tostring(self.dim or "n"))
    end,
    __name = "optlua.fn",
  })
end

-- Rosenbrock (1960): (a - x)^2 + b (y - x^2)^2; minimum 0 at (a, a^2), at
-- the end of a long curved valley.
function M.rosenbrock(o)
  o = opts_table("rosenbrock", o, {a = {"number", default = 1}, b = {"number", default = 100}})
  local a, b = o.a, o.b
  return new_fn{
    name = "rosenbrock", dim = 2, a = a, b = b,
    minimum = {{a, a * a}}, min_value = 0,
    bounds = {{-2, 2}, {-1, 3}}, start = {-1.5, 2},
    eval = function(p)
      local x, y = p[1], p[2]
      local u, v = a - x, y - x * x
      return u * u + b * v * v, {-2 * u - 4 * b * x * v, 2 * b * v}
    end,
  }
end

-- Beale: sum_i (c_i - x + x y^i)^2, c = 1.5, 2.25, 2.625; minimum 0 at (3, 0.5).
function M.beale(o)
  opts_table("beale", o)
  local c = {1.5, 2.25, 2.625}
  return new_fn{
    name = "beale", dim = 2, minimum = {{3, 0.5}}, min_value = 0,
    bounds = {{-4.5, 4.5}, {-4.5, 4.5}}, start = {1, 1.5},
    eval = function(p)
      local x, y = p[1], p[2]
      local v, gx, gy = 0, 0, 0
      for i = 1, 3 do
        local r = c[i] - x + x * y ^ i
        v = v + r * r
        gx = gx + 2 * r * (y ^ i - 1)
        gy = gy + 2 * r * x * i * y ^ (i - 1)
      end
      return v, {gx, gy}
    end,
  }
end

-- Himmelblau (1972): (x^2 + y - 11)^2 + (x + y^2 - 7)^2; four minima of
-- value 0 (the three irrational ones refined by Newton's method in f64).
function M.himmelblau(o)
  opts_table("himmelblau", o)
  return new_fn{
    name = "himmelblau", dim = 2, min_value = 0,
    minimum = {{3, 2}, {-2.805118086952745, 3.131312518250573},
               {-3.779310253377747, -3.283185991286169}, {3.5844283403304917, -1.8481265269644034}},
    bounds = {{-5, 5}, {-5, 5}}, start = {0, 0},
    eval = function(p)
      local x, y = p[1], p[2]
      local u, v = x * x + y - 11, x + y * y - 7
      return u * u + v * v, {4 * x * u + 2 * v, 2 * u + 4 * y * v}
    end,
  }
end

-- Booth: (x + 2y - 7)^2 + (2x + y - 5)^2; a quadratic, minimum 0 at (1, 3).
function M.booth(o)
  opts_table("booth", o)
  return new_fn{
    name = "booth", dim = 2, minimum = {{1, 3}}, min_value = 0,
    bounds = {{-10, 10}, {-10, 10}}, start = {-5, -5},
    eval = function(p)
      local u, v = p[1] + 2 * p[2] - 7, 2 * p[1] + p[2] - 5
      return u * u + v * v, {2 * u + 4 * v, 4 * u + 2 * v}
    end,
  }
end

-- Saddle: x^2 - y^2. The origin is a stationary point but not a minimum;
-- the function is unbounded below along y, so an optimizer that escapes
-- the saddle diverges (that is the right outcome).
function M.saddle(o)
  opts_table("saddle", o)
  return new_fn{
    name = "saddle", dim = 2, minimum = {}, min_value = nil, stationary = {{0, 0}},
    note = "x^2 - y^2 has no minimum: unbounded below along y; (0, 0) is a saddle point",
    bounds = {{-2, 2}, {-2, 2}}, start = {1.5, 1e-3},
    eval = function(p)
      local x, y = p[1], p[2]
      return x * x - y * y, {2 * x, -2 * y}
    end,
  }
end

-- Rastrigin (n-D): A n + sum_i (x_i^2 - A cos(2 pi x_i)); global minimum 0
-- at the origin, a local minimum near every integer point.
function M.rastrigin(o)
  o = opts_table("rastrigin", o, {dim = {"integer", default = 2, min = 1}, A = {"number", default = 10}})
  local n, A = o.dim, o.A
  local zero, bounds, start = {}, {}, {}
  for i = 1, n do zero[i], bounds[i], start[i] = 0, {-5.12, 5.12}, 2.5 end
  local tau = 2 * math.pi
  return new_fn{
    name = "rastrigin", dim = n, A = A, minimum = {zero}, min_value = 0,
    bounds = bounds, start = start,
    eval = function(p)
      local v, g = A * n, {}
      for i = 1, n do
        local x = p[i]
        v = v + x * x - A * math.cos(tau * x)
        g[i] = 2 * x + A * tau * math.sin(tau * x)
      end
      return v, g
    end,
  }
end

-- A small seeded generator (splitmix64), so that a random rotation is the
-- same on every machine and does not disturb the global RNG (ol.seed).
local function splitmix(seed)
  local s = seed
  return function()
    s = s + 0x9E3779B97F4A7C15
    local z = s
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    return ((z >> 11) + 0.5) / 9007199254740992.0 -- (0, 1)
  end
end

-- Random orthogonal n x n matrix: Gram-Schmidt on Gaussian columns.
local function random_rotation(n, seed)
  local u = splitmix(seed)
  local function gauss() return math.sqrt(-2 * math.log(u())) * math.cos(2 * math.pi * u()) end
  local Q = {}
  for j = 1, n do
    local v = {}
    for i = 1, n do v[i] = gauss() end
    for k = 1, j - 1 do -- twice, for orthogonality in floating point
      for _ = 1, 2 do
        local d = 0
        for i = 1, n do d = d + v[i] * Q[k][i] end
        for i = 1, n do v[i] = v[i] - d * Q[k][i] end
      end
    end
    local nrm = 0
    for i = 1, n do nrm = nrm + v[i] * v[i] end
    nrm = math.sqrt(nrm)
    for i = 1, n do v[i] = v[i] / nrm end
    Q[j] = v -- column j
  end
  local R = {}
  for i = 1, n do
    R[i] = {}
    for j = 1, n do R[i][j] = Q[j][i] end
  end
  return R
end

-- quadratic{dim = 2, cond = 100, rotation = nil | angle | true, seed = 0,
--           eigenvalues = nil, A = nil, center = nil}:
-- f(x) = 1/2 (x - c)^T A (x - c). Eigenvalues log-spaced from 1 to cond
-- (or given); rotation = angle turns the first two axes by that angle,
-- true a random orthogonal matrix from `seed`; or give A (symmetric
-- positive definite, as a nested table or tensor) directly.
function M.quadratic(o)
  o = opts_table("quadratic", o, {
    dim = {"integer", min = 1}, cond = {"number", default = 100, min = 1},
    rotation = {"number|boolean"}, seed = {"integer", default = 0},
    eigenvalues = {"table"}, A = {"table|tensor"}, center = {"table"},
  })
  local A, eig
  if o.A ~= nil then
    A = ol.istensor(o.A) and o.A:totable() or o.A
    if type(A) ~= "table" or #A == 0 then argerr("quadratic", 1, "A must be a square matrix") end
    for i = 1, #A do
      if type(A[i]) ~= "table" or #A[i] ~= #A then argerr("quadratic", 1, "A must be a square matrix") end
      for j = 1, #A do
        if A[i][j] ~= A[j][i] then argerr("quadratic", 1, "A must be symmetric") end
      end
    end
  else
    local n = o.dim or (o.eigenvalues and #o.eigenvalues) or 2
    local cond = o.cond
    eig = {}
    if o.eigenvalues then
      if #o.eigenvalues ~= n then argerr("quadratic", 1, "need dim eigenvalues") end
      for i = 1, n do eig[i] = o.eigenvalues[i] end
    else
      for i = 1, n do eig[i] = n == 1 and 1 or cond ^ ((i - 1) / (n - 1)) end
    end
    local R = {}
    for i = 1, n do
      R[i] = {}
      for j = 1, n do R[i][j] = i == j and 1 or 0 end
    end
    local rot = o.rotation
    if rot == true then
      R = random_rotation(n, o.seed)
    elseif type(rot) == "number" then
      if n < 2 then argerr("quadratic", 1, "rotation needs dim >= 2") end
      local c, s = math.cos(rot), math.sin(rot)
      R[1][1], R[1][2], R[2][1], R[2][2] = c, -s, s, c
    elseif rot ~= nil and rot ~= false then
      argerr("quadratic", 1, "rotation must be an angle (radians) or true")
    end
    A = {}
    for i = 1, n do
      A[i] = {}
      for j = 1, n do
        local s = 0
        for k = 1, n do s = s + R[i][k] * eig[k] * R[j][k] end
        A[i][j] = s
      end
    end
    for i = 1, n do -- exactly symmetric despite rounding
      for j = i + 1, n do A[j][i] = A[i][j] end
    end
  end
  local n = #A
  local c = o.center or {}
  local center, bounds, start = {}, {}, {}
  for i = 1, n do
    center[i] = c[i] or 0
    bounds[i] = {center[i] - 2, center[i] + 2}
    start[i] = center[i] + (i == 1 and -1.5 or 1.5)
  end
  return new_fn{
    name = "quadratic", dim = n, A = A, eigenvalues = eig, minimum = {center}, min_value = 0,
    bounds = bounds, start = start,
    eval = function(p)
      local d, g, v = {}, {}, 0
      for i = 1, n do d[i] = p[i] - center[i] end
      for i = 1, n do
        local s, Ai = 0, A[i]
        for j = 1, n do s = s + Ai[j] * d[j] end
        g[i] = s
        v = v + d[i] * s
      end
      return 0.5 * v, g
    end,
  }
end

-- ol.fn.list() -> names of the test functions.
function M.list()
  return {"rosenbrock", "beale", "himmelblau", "booth", "saddle", "rastrigin", "quadratic"}
end

return M
