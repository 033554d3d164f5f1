-- ol.fn: values at points worked out by hand, analytic gradients against
-- central differences (ol.gradcheck), minima where the literature puts
-- them (gradient zero, value as stated).
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = optlua

local function pt(t) return ol.tensor(t, "f64") end

-- Points spread over each function's bounds, away from its minima.
local function sample_points(f, n)
  local pts = {}
  for k = 1, n do
    local p = {}
    for i = 1, f.dim do
      local b = f.bounds[i]
      -- fixed irrational fractions: no point lands on a grid or a minimum
      local u = (k * 0.6180339887 + i * 0.41421356) % 1
      p[i] = b[1] + (b[2] - b[1]) * (0.1 + 0.8 * u)
    end
    pts[k] = p
  end
  return pts
end

local all = {
  ol.fn.rosenbrock(), ol.fn.rosenbrock{a = 2, b = 10}, ol.fn.beale(), ol.fn.himmelblau(),
  ol.fn.booth(), ol.fn.saddle(), ol.fn.rastrigin(), ol.fn.rastrigin{dim = 5},
  ol.fn.quadratic(), ol.fn.quadratic{dim = 2, cond = 100, rotation = math.pi / 6},
  ol.fn.quadratic{dim = 6, cond = 1000, rotation = true, seed = 7},
}

T.test("values at hand-computed points", function()
  T.near((ol.fn.rosenbrock()({0, 0})), 1)                     -- (1-0)^2 + 100 (0-0)^2
  T.near((ol.fn.rosenbrock()({-1.5, 2})), 12.5)               -- 2.5^2 + 100 * 0.25^2
  T.near((ol.fn.rosenbrock{a = 2, b = 10}({0, 1})), 14)       -- 4 + 10
  T.near((ol.fn.beale()({0, 0})), 1.5^2 + 2.25^2 + 2.625^2)
  T.near((ol.fn.beale()({1, 1})), 1.5^2 + 2.25^2 + 2.625^2)   -- x y^i - x = 0
  T.near((ol.fn.himmelblau()({0, 0})), 121 + 49)
  T.near((ol.fn.booth()({0, 0})), 49 + 25)
  T.near((ol.fn.saddle()({1, 2})), -3)
  T.near((ol.fn.rastrigin()({1, 1})), 20 + 2 * (1 - 10), 1e-12)
  T.near((ol.fn.rastrigin{dim = 1}({0.5})), 10 + 0.25 + 10, 1e-12)
  T.near((ol.fn.quadratic{eigenvalues = {2, 8}}({1, 1})), 0.5 * (2 + 8))
end)

T.test("gradients pass gradcheck", function()
  for _, f in ipairs(all) do
    for _, p in ipairs(sample_points(f, 5)) do
      local ok, abs, rel, where = ol.gradcheck(f, pt(p),
                                               {eps = 1e-6, atol = 1e-5, rtol = 1e-5})
      T.ok(ok, string.format("%s at (%s): abs %g rel %g %s", f.name, table.concat(p, ", "), abs, rel, where))
    end
  end
end)

T.test("a wrong gradient fails gradcheck (the check can fail)", function()
  local f = ol.fn.booth()
  local bad = function(x)
    local v, g = f(x)
    g[1] = g[1] * 1.01
    return v, g
  end
  T.ok(not ol.gradcheck(bad, pt{0.3, 0.7}))
end)

T.test("minima: gradient zero, value as stated", function()
  for _, f in ipairs(all) do
    if f.name ~= "saddle" then
      T.ok(#f.minimum >= 1, f.name .. " lists its minima")
      for _, m in ipairs(f.minimum) do
        local v, g = f(m)
        T.near(v, f.min_value, 1e-12, f.name .. " value at minimum")
        T.ok(g:norm() < 1e-9, f.name .. " gradient at minimum: " .. g:norm())
        -- and a minimum, not a saddle: nearby points are higher
        for i = 1, f.dim do
          for _, s in ipairs{-1e-3, 1e-3} do
            local q = {table.unpack(m)}
            q[i] = q[i] + s
            T.ok((f(q)) > v, f.name .. " rises away from its minimum")
          end
        end
      end
    end
  end
end)

T.test("the stated minima themselves", function()
  T.near_all(ol.fn.rosenbrock().minimum, {{1, 1}})
  T.near_all(ol.fn.rosenbrock{a = 2}.minimum, {{2, 4}})
  T.near_all(ol.fn.beale().minimum, {{3, 0.5}})
  T.near_all(ol.fn.booth().minimum, {{1, 3}})
  T.eq(#ol.fn.himmelblau().minimum, 4)
  T.near_all(ol.fn.himmelblau().minimum[1], {3, 2})
  T.near_all(ol.fn.rastrigin{dim = 3}.minimum, {{0, 0, 0}})
  T.near_all(ol.fn.quadratic{center = {1, -2}}.minimum, {{1, -2}})
end)

T.test("saddle has no minimum and says so", function()
  local f = ol.fn.saddle()
  T.eq(#f.minimum, 0)
  T.eq(f.min_value, nil)
  T.ok(f.note:find("no minimum", 1, true))
  local v, g = f(f.stationary[1])
  T.near(v, 0)
  T.near(g:norm(), 0)
  T.ok((f{0, 1}) < 0 and (f{1, 0}) > 0, "down along y, up along x")
end)

T.test("quadratic: condition number, rotation, seed", function()
  local th = math.pi / 6
  local f = ol.fn.quadratic{cond = 100, rotation = th}
  local A = f.A
  T.near(A[1][1] + A[2][2], 101, 1e-12, "trace = 1 + 100")
  T.near(A[1][1] * A[2][2] - A[1][2] * A[2][1], 100, 1e-10, "det = 1 * 100")
  -- eigenvector of eigenvalue 1 is the first axis turned by th
  local c, s = math.cos(th), math.sin(th)
  T.near(A[1][1] * c + A[1][2] * s, c, 1e-12)
  T.near(A[2][1] * c + A[2][2] * s, s, 1e-12)
  -- random rotation: trace and trace(A^2) fixed by the eigenvalues
  local g = ol.fn.quadratic{dim = 4, cond = 1000, rotation = true, seed = 3}
  local want1, want2 = 0, 0
  for i = 0, 3 do local l = 1000 ^ (i / 3); want1, want2 = want1 + l, want2 + l * l end
  local t1, t2 = 0, 0
  for i = 1, 4 do
    t1 = t1 + g.A[i][i]
    for j = 1, 4 do t2 = t2 + g.A[i][j] * g.A[j][i] end
  end
  T.near(t1, want1, 1e-9)
  T.near(t2, want2, 1e-6, nil, 1e-12)
  T.ok(math.abs(g.A[1][2]) > 1e-6, "rotated: not diagonal")
  local same = ol.fn.quadratic{dim = 4, cond = 1000, rotation = true, seed = 3}
  local other = ol.fn.quadratic{dim = 4, cond = 1000, rotation = true, seed = 4}
  T.eq(same.A[1][2], g.A[1][2])
  T.ok(other.A[1][2] ~= g.A[1][2])
  -- the curvature measured from outside (differences of the gradient)
  T.near(ol.cond(ol.hessian(g, pt{0.1, 0.2, 0.3, 0.4})), 1000, 1e-3)
end)

T.test("gradient: f64, shaped like x; tables and f32 tensors accepted", function()
  local f = ol.fn.rastrigin{dim = 4}
  local x = ol.tensor({{0.1, 0.2}, {0.3, 0.4}}, "f32")
  local v, g = f(x)
  T.eq(type(v), "number")
  T.eq(g:dtype(), "f64")
  T.near_all(g:shape(), {2, 2})
  local v2, g2 = f{0.1, 0.2, 0.3, 0.4}
  T.near(v, v2, 1e-5) -- the f32 point rounds
  T.near_all(g2:shape(), {4})
end)

T.test("bad arguments", function()
  T.raises("bad argument #1 to 'rosenbrock' (expected a point of 2 numbers, got 3)",
           function() return ol.fn.rosenbrock()({1, 2, 3}) end)
  T.raises("tensor or table expected", function() return ol.fn.booth()("x") end)
  T.raises("bad argument #1 to 'quadratic' (option 'cond' must be >= 1, got 0.5)",
           function() return ol.fn.quadratic{cond = 0.5} end)
  T.raises("A must be symmetric", function() return ol.fn.quadratic{A = {{1, 2}, {0, 1}}} end)
  T.raises("bad argument #1 to 'rastrigin' (option 'dim' must be >= 1, got 0)",
           function() return ol.fn.rastrigin{dim = 0} end)
  T.raises("bad argument #1 to 'rastrigin' (option 'dim' must be an integer >= 1, got 1.5)",
           function() return ol.fn.rastrigin{dim = 1.5} end)
end)

T.test("fields: name, bounds, start, list", function()
  for _, name in ipairs(ol.fn.list()) do
    local f = ol.fn[name]()
    T.eq(f.name, name)
    T.eq(#f.bounds, f.dim)
    T.eq(#f.start, f.dim)
    for i = 1, f.dim do T.ok(f.bounds[i][1] < f.bounds[i][2]) end
  end
end)

T.run()
