-- Second-order optimizers: newton, cg, lbfgs, hessian_free (API.md sec. 5).
-- Every expected value is computed here independently: linear systems
-- solved by hand-built formulas, the L-BFGS trajectory by a plain two-loop
-- recursion written below in Lua (torch.optim.LBFGS's rule), not by the C
-- code under test.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- f(x) = 1/2 x'Ax - b'x on a tensor w; gradient Ax - b.
local function quadratic(A, b)
  local n = #b
  return function(w)
    local x = w:totable()
    local f, g = 0, {}
    for i = 1, n do
      local s = 0
      for j = 1, n do s = s + A[i][j] * x[j] end
      g[i] = s - b[i]
      f = f + 0.5 * x[i] * s - b[i] * x[i]
    end
    return f, ol.tensor(g, w:dtype())
  end
end

local function matvec(A, x)
  local y = {}
  for i = 1, #A do
    local s = 0
    for j = 1, #x do s = s + A[i][j] * x[j] end
    y[i] = s
  end
  return y
end

-- An ill-conditioned SPD matrix with a known solution: A = D + u u' with
-- D = diag(1, 10, 100, ...), x* = (1, -1, 2, -2, ...), b = A x*.
local function spd_problem(n, decades)
  decades = decades or 3
  local A, xs = {}, {}
  for i = 1, n do
    A[i] = {}
    for j = 1, n do A[i][j] = (i == j and 10 ^ ((i - 1) * decades / (n - 1)) or 0) + 0.1 * i * j / n end
    xs[i] = (i % 2 == 1 and 1 or -1) * math.ceil(i / 2)
  end
  return A, matvec(A, xs), xs
end

local function rosen(w)
  local a, b = w[1], w[2]
  return (1 - a) ^ 2 + 100 * (b - a * a) ^ 2,
         ol.tensor({-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)}, w:dtype())
end

T.test("the closure methods are listed and built like every optimizer", function()
  local names = {}
  for _, n in ipairs(ol.optim.list()) do names[n] = true end
  for _, n in ipairs{"newton", "cg", "lbfgs", "hessian_free"} do
    T.ok(names[n], n .. " listed")
    local w = ol.tensor({1, 2}, "f64")
    local opt = ol.optim[n](w)
    T.eq(opt.t, 0)
    T.eq(opt.name, n)
    opt:step(function() return rosen(w) end)
    T.eq(opt.t, 1)
    T.ok(type(opt.info) == "string" and #opt.info > 0, n .. " info")
    T.ok(type(opt:state()) == "table")
    opt:reset()
    T.eq(opt.t, 0)
  end
  local o = ol.optim.lbfgs(ol.zeros(2))
  T.eq(o.lr, 1); T.eq(o.max_iter, 20); T.eq(o.history_size, 100)
  T.eq(o.tolerance_grad, 1e-7); T.eq(o.tolerance_change, 1e-9); T.eq(o.line_search, "none")
  o.line_search = "strong_wolfe"; T.eq(o.line_search, "strong_wolfe")
  o.line_search = nil; T.eq(o.line_search, "none")
  T.eq(ol.optim.newton(ol.zeros(2)).damping, 1e-4)
  local hf = ol.optim.hessian_free(ol.zeros(2))
  T.eq(hf.damping, 1); T.eq(hf.cg_iters, 50)
  T.eq(ol.optim.cg(ol.zeros(2)).beta, "polak_ribiere")
end)

T.test("schedules, state and reset work as for every optimizer", function()
  local w = ol.tensor({-1.2, 1}, "f64")
  local opt = ol.optim.lbfgs(w, {max_iter = 1})
  local seen = {}
  opt:schedule("lr", function(t) seen[#seen + 1] = t; return 0.5 / t end)
  opt:step(function() return rosen(w) end)
  T.eq(seen[1], 1); T.eq(opt.lr, 0.5)
  -- after one iteration d = -g(x0) and prev_flat_grad = g(x0) (x0 = (-1.2, 1))
  local g0 = {-2 * 2.2 - 400 * -1.2 * (1 - 1.44), 200 * (1 - 1.44)}
  local st = opt:state()
  T.near_all(st.d, {-g0[1], -g0[2]}, 1e-12)
  T.near_all(st.prev_flat_grad, g0, 1e-12)
  -- the first step is t = min(1, 1/|g|_1) * lr along -g
  local t = math.min(1, 1 / (math.abs(g0[1]) + math.abs(g0[2]))) * 0.5
  T.near(w[1], -1.2 - t * g0[1], 1e-14)
  opt:step(function() return rosen(w) end)
  T.eq(seen[2], 2); T.eq(opt.lr, 0.25); T.eq(opt.t, 2)
  opt:reset()
  T.eq(opt.t, 0)
  -- after a reset the history is gone: the next step is a first step again
  local w2 = w:clone()
  local _, g = rosen(w2)
  opt:schedule("lr", nil)
  opt.lr = 1
  opt:step(function() return rosen(w) end)
  local gl = g:totable()
  t = math.min(1, 1 / (math.abs(gl[1]) + math.abs(gl[2])))
  T.near(w[1], w2[1] - t * gl[1], 1e-14)
  T.near(w[2], w2[2] - t * gl[2], 1e-14)
end)

T.test("bad options and bad steps give clear errors", function()
  T.raises("option 'damping' must be >= 0", ol.optim.newton, ol.zeros(2), {damping = -1})
  T.raises("option 'beta' must be one of polak_ribiere, fletcher_reeves", ol.optim.cg, ol.zeros(2), {beta = "x"})
  T.raises("option 'line_search' must be one of none, strong_wolfe", ol.optim.lbfgs, ol.zeros(2), {line_search = "armijo"})
  T.raises("must be integers", ol.optim.lbfgs, ol.zeros(2), {max_iter = 2.5})
  local o = ol.optim.cg(ol.zeros(2))
  T.raises("option 'c1' must be < c2", function() o.c1 = 0.5 end)
  T.raises("closure expected", function() o:step(ol.zeros(2)) end)
  T.raises("must return loss (a number), grad (a tensor)", function() o:step(function() return "x" end) end)
  T.raises("gradient of 3 elements for 2 parameters", function() o:step(function() return 1, ol.zeros(3) end) end)
  T.raises("boom", function() o:step(function() error("boom") end) end)
  T.raises("read-only", function() o.info = "x" end)
  local big = ol.zeros(5001, "f64")
  T.raises("more than 5000", function() ol.optim.newton(big):step(function() return 0, big:clone() end) end)
end)

T.test("newton solves a quadratic in one step (damping 0)", function()
  local A, b, xs = spd_problem(5)
  for _, dt in ipairs{"f64", "f32"} do
    local w = ol.zeros(5, dt)
    local f = quadratic(A, b)
    local opt = ol.optim.newton(w, {damping = 0})
    local l0 = opt:step(function() return f(w) end)
    T.near(l0, 0, 1e-12, "loss at the start")
    -- Hessian by differences of an exactly linear gradient: x* to ~1e-6 relative
    local tol = dt == "f64" and 1e-6 or 2e-2
    for i = 1, 5 do T.near(w[i], xs[i], tol, dt .. " x*[" .. i .. "]", tol) end
  end
end)

T.test("newton raises the damping on an indefinite Hessian, never NaN", function()
  -- f = x^2 - y^2 + y^4/4 near the saddle: H = diag(2, -2 + 3y^2)
  local w = ol.tensor({0.5, 0.1}, "f64")
  local function f()
    local x, y = w[1], w[2]
    return x * x - y * y + y ^ 4 / 4, ol.tensor({2 * x, -2 * y + y ^ 3}, "f64")
  end
  local opt = ol.optim.newton(w, {damping = 0})
  opt:step(f)
  T.ok(opt.info:find("damping raised", 1, true), opt.info)
  T.eq(opt.damping, 0, "the option itself is unchanged")
  T.ok(w[1] == w[1] and w[2] == w[2], "finite")
  for _ = 1, 30 do opt:step(f) end
  -- the minima are at y = +-sqrt(2), x = 0
  T.near(w[1], 0, 1e-8)
  T.near(math.abs(w[2]), math.sqrt(2), 1e-6)
end)

-- Linear CG (N&W Alg. 5.2) in plain Lua: the iterates x_1..x_n from 0.
local function linear_cg(A, b)
  local n = #b
  local x, r, p, out = {}, {}, {}, {}
  for i = 1, n do x[i], r[i], p[i] = 0, b[i], b[i] end
  local function dot(a, c) local s = 0 for i = 1, n do s = s + a[i] * c[i] end return s end
  for k = 1, n do
    local Ap, rr = matvec(A, p), dot(r, r)
    local a = rr / dot(p, Ap)
    for i = 1, n do x[i] = x[i] + a * p[i]; r[i] = r[i] - a * Ap[i] end
    local be = dot(r, r) / rr
    for i = 1, n do p[i] = r[i] + be * p[i] end
    out[k] = {table.unpack(x)}
  end
  return out
end

T.test("cg reaches the minimum of an n-D quadratic in at most n iterations", function()
  for _, beta in ipairs{"polak_ribiere", "fletcher_reeves"} do
    for _, n in ipairs{2, 4, 7} do
      local A, b, xs = spd_problem(n, 2) -- condition number ~100
      local want = linear_cg(A, b)
      local w = ol.zeros(n, "f64")
      local f = quadratic(A, b)
      -- exact line search: a tiny c2 (the cubic step is exact on a parabola);
      -- one iteration per step so that every iterate can be compared
      local opt = ol.optim.cg(w, {max_iter = 1, beta = beta, c2 = 1e-9, c1 = 1e-10, tol = 0})
      for k = 1, n do
        opt:step(function() return f(w) end)
        for i = 1, n do T.near(w[i], want[k][i], 1e-6, beta .. " iterate " .. k .. "[" .. i .. "]", 1e-6) end
      end
      for i = 1, n do T.near(w[i], xs[i], 1e-6, beta .. " n=" .. n .. " x*[" .. i .. "]", 1e-6) end
    end
  end
  -- the same in one step of max_iter = n; n - 2 iterations are not enough
  local A, b, xs = spd_problem(7, 2)
  local f = quadratic(A, b)
  for _, it in ipairs{7, 5} do
    local w = ol.zeros(7, "f64")
    ol.optim.cg(w, {max_iter = it, c2 = 1e-9, c1 = 1e-10, tol = 0}):step(function() return f(w) end)
    local err = 0
    for i = 1, 7 do err = math.max(err, math.abs(w[i] - xs[i])) end
    if it == 7 then T.ok(err < 1e-5, "7 iterations: error " .. err)
    else T.ok(err > 1e-4, "5 iterations leave an error: " .. err) end
  end
end)

T.test("cg minimises Rosenbrock and restarts", function()
  local w = ol.tensor({-1.5, 2}, "f64")
  local opt = ol.optim.cg(w, {max_iter = 200})
  opt:step(function() return rosen(w) end)
  T.near(w[1], 1, 1e-6)
  T.near(w[2], 1, 1e-6)
  T.ok(opt.info:find("restarts"), opt.info)
end)

-- torch.optim.lbfgs._cubic_interpolate and _strong_wolfe, ported to plain
-- Lua from PyTorch's source (lbfgs.py) for the reference below.
local function cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds)
  local lo, hi
  if bounds then lo, hi = bounds[1], bounds[2]
  elseif x1 <= x2 then lo, hi = x1, x2 else lo, hi = x2, x1 end
  local d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
  local d2_square = d1 ^ 2 - g1 * g2
  if d2_square >= 0 then
    local d2 = math.sqrt(d2_square)
    local min_pos
    if x1 <= x2 then min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)) end
    return math.min(math.max(min_pos, lo), hi)
  end
  return (lo + hi) / 2
end

local function vdot(a, b) local s = 0 for i = 1, #a do s = s + a[i] * b[i] end return s end

local function strong_wolfe(obj, x, t, d, f, g, gtd)
  local c1, c2, tolerance_change, max_ls = 1e-4, 0.9, 1e-9, 25
  local d_norm = 0
  for i = 1, #d do d_norm = math.max(d_norm, math.abs(d[i])) end
  local f_new, g_new = obj(x, t, d)
  local ls_func_evals = 1
  local gtd_new = vdot(g_new, d)
  local t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
  local done, ls_iter = false, 0
  local bracket, bracket_f, bracket_g, bracket_gtd
  while ls_iter < max_ls do
    if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev) then
      bracket, bracket_f, bracket_g, bracket_gtd = {t_prev, t}, {f_prev, f_new}, {g_prev, g_new}, {gtd_prev, gtd_new}
      break
    end
    if math.abs(gtd_new) <= -c2 * gtd then
      bracket, bracket_f, bracket_g = {t}, {f_new}, {g_new}
      done = true
      break
    end
    if gtd_new >= 0 then
      bracket, bracket_f, bracket_g, bracket_gtd = {t_prev, t}, {f_prev, f_new}, {g_prev, g_new}, {gtd_prev, gtd_new}
      break
    end
    local min_step, max_step = t + 0.01 * (t - t_prev), t * 10
    local tmp = t
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, {min_step, max_step})
    t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
    f_new, g_new = obj(x, t, d)
    ls_func_evals = ls_func_evals + 1
    gtd_new = vdot(g_new, d)
    ls_iter = ls_iter + 1
  end
  if ls_iter == max_ls then
    bracket, bracket_f, bracket_g = {0, t}, {f, f_new}, {g, g_new}
  end
  local insuf_progress = false
  local low, high
  if bracket_f[1] <= bracket_f[#bracket_f] then low, high = 1, 2 else low, high = 2, 1 end
  while not done and ls_iter < max_ls do
    if math.abs(bracket[2] - bracket[1]) * d_norm < tolerance_change then break end
    t = cubic_interpolate(bracket[1], bracket_f[1], bracket_gtd[1], bracket[2], bracket_f[2], bracket_gtd[2])
    local bmax, bmin = math.max(bracket[1], bracket[2]), math.min(bracket[1], bracket[2])
    local eps = 0.1 * (bmax - bmin)
    if math.min(bmax - t, t - bmin) < eps then
      if insuf_progress or t >= bmax or t <= bmin then
        if math.abs(t - bmax) < math.abs(t - bmin) then t = bmax - eps else t = bmin + eps end
        insuf_progress = false
      else
        insuf_progress = true
      end
    else
      insuf_progress = false
    end
    f_new, g_new = obj(x, t, d)
    ls_func_evals = ls_func_evals + 1
    gtd_new = vdot(g_new, d)
    ls_iter = ls_iter + 1
    if f_new > f + c1 * t * gtd or f_new >= bracket_f[low] then
      bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
      if bracket_f[1] <= bracket_f[2] then low, high = 1, 2 else low, high = 2, 1 end
    else
      if math.abs(gtd_new) <= -c2 * gtd then
        done = true
      elseif gtd_new * (bracket[high] - bracket[low]) >= 0 then
        bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] =
          bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low]
      end
      bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    end
  end
  return bracket_f[low], bracket_g[low], bracket[low], ls_func_evals
end

-- torch.optim.LBFGS, written plainly in Lua: the reference for the
-- trajectory tests. x, flat gradients: Lua arrays.
local function lbfgs_reference(f, x, steps, o)
  local st = {n_iter = 0, func_evals = 0}
  local function dot(a, b) local s = 0 for i = 1, #a do s = s + a[i] * b[i] end return s end
  local function maxabs(a) local m = 0 for i = 1, #a do m = math.max(m, math.abs(a[i])) end return m end
  local traj = {}
  for _ = 1, steps do
    local loss, g = f(x)
    local evals = 1
    if maxabs(g) > o.tolerance_grad then
      local it = 0
      while it < o.max_iter do
        it = it + 1
        st.n_iter = st.n_iter + 1
        if st.n_iter == 1 then
          st.d = {}
          for i = 1, #g do st.d[i] = -g[i] end
          st.S, st.Y, st.ro, st.H = {}, {}, {}, 1
        else
          local y, s = {}, {}
          for i = 1, #g do y[i] = g[i] - st.pg[i]; s[i] = st.d[i] * st.t end
          local ys = dot(y, s)
          if ys > 1e-10 then
            if #st.S == o.history_size then
              table.remove(st.S, 1); table.remove(st.Y, 1); table.remove(st.ro, 1)
            end
            st.S[#st.S + 1], st.Y[#st.Y + 1], st.ro[#st.ro + 1] = s, y, 1 / ys
            st.H = ys / dot(y, y)
          end
          local q, al = {}, {}
          for i = 1, #g do q[i] = -g[i] end
          for k = #st.S, 1, -1 do
            al[k] = dot(st.S[k], q) * st.ro[k]
            for i = 1, #q do q[i] = q[i] - al[k] * st.Y[k][i] end
          end
          for i = 1, #q do q[i] = q[i] * st.H end
          for k = 1, #st.S do
            local be = dot(st.Y[k], q) * st.ro[k]
            for i = 1, #q do q[i] = q[i] + (al[k] - be) * st.S[k][i] end
          end
          st.d = q
        end
        st.pg = {table.unpack(g)}
        local prev_loss = loss
        if st.n_iter == 1 then
          local s1 = 0
          for i = 1, #g do s1 = s1 + math.abs(g[i]) end
          st.t = math.min(1, 1 / s1) * o.lr
        else
          st.t = o.lr
        end
        local gtd = dot(g, st.d)
        if gtd > -o.tolerance_change then break end
        local ls = 0
        if o.line_search == "strong_wolfe" then
          local function obj(x0, t, d)
            local xt = {}
            for i = 1, #x0 do xt[i] = x0[i] + t * d[i] end
            return f(xt)
          end
          local x0 = {table.unpack(x)}
          loss, g, st.t, ls = strong_wolfe(obj, x0, st.t, st.d, loss, g, gtd)
          for i = 1, #x do x[i] = x0[i] + st.t * st.d[i] end
        else
          for i = 1, #x do x[i] = x[i] + st.t * st.d[i] end
          if it ~= o.max_iter then
            loss, g = f(x)
            ls = 1
          end
        end
        evals = evals + ls
        if it == o.max_iter then break end
        if evals >= math.floor(o.max_iter * 5 / 4) then break end
        if maxabs(g) <= o.tolerance_grad then break end
        if maxabs(st.d) * st.t <= o.tolerance_change then break end
        if math.abs(loss - prev_loss) < o.tolerance_change then break end
      end
    end
    traj[#traj + 1] = {table.unpack(x)}
  end
  return traj
end

local function rosen_plain(x)
  local a, b = x[1], x[2]
  return (1 - a) ^ 2 + 100 * (b - a * a) ^ 2, {-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)}
end

T.test("lbfgs trajectory equals the two-loop recursion computed independently", function()
  for _, cfg in ipairs{{max_iter = 4, history_size = 3, lr = 1},
                       {max_iter = 20, history_size = 100, lr = 0.5},
                       {max_iter = 1, history_size = 2, lr = 1}} do
    local o = {lr = cfg.lr, max_iter = cfg.max_iter, history_size = cfg.history_size,
               tolerance_grad = 1e-7, tolerance_change = 1e-9}
    local want = lbfgs_reference(rosen_plain, {-1.2, 1}, 8, o)
    local w = ol.tensor({-1.2, 1}, "f64")
    local opt = ol.optim.lbfgs(w, cfg)
    for s = 1, 8 do
      opt:step(function() return rosen(w) end)
      T.near(w[1], want[s][1], 1e-9, "step " .. s .. " x", 1e-9)
      T.near(w[2], want[s][2], 1e-9, "step " .. s .. " y", 1e-9)
    end
  end
end)

T.test("lbfgs strong_wolfe trajectory equals torch's line search ported to Lua", function()
  for _, cfg in ipairs{{max_iter = 3, history_size = 4, lr = 1},
                       {max_iter = 20, history_size = 100, lr = 1},
                       {max_iter = 5, history_size = 2, lr = 0.7}} do
    local o = {lr = cfg.lr, max_iter = cfg.max_iter, history_size = cfg.history_size,
               tolerance_grad = 1e-7, tolerance_change = 1e-9, line_search = "strong_wolfe"}
    local want = lbfgs_reference(rosen_plain, {-1.5, 2}, 6, o)
    local w = ol.tensor({-1.5, 2}, "f64")
    cfg.line_search = "strong_wolfe"
    local opt = ol.optim.lbfgs(w, cfg)
    for s = 1, 6 do
      opt:step(function() return rosen(w) end)
      T.near(w[1], want[s][1], 1e-9, "step " .. s .. " x", 1e-9)
      T.near(w[2], want[s][2], 1e-9, "step " .. s .. " y", 1e-9)
    end
  end
end)

T.test("lbfgs with strong_wolfe converges on Rosenbrock and meets Wolfe", function()
  local w = ol.tensor({-1.5, 2}, "f64")
  local opt = ol.optim.lbfgs(w, {line_search = "strong_wolfe", max_iter = 100})
  local l0 = opt:step(function() return rosen(w) end)
  T.near(l0, rosen(ol.tensor({-1.5, 2}, "f64")), 1e-12, "returns the starting loss")
  T.near(w[1], 1, 1e-5)
  T.near(w[2], 1, 1e-5)
  -- one iteration from a fresh start: the step satisfies the strong Wolfe conditions
  local x0 = ol.tensor({-1.5, 2}, "f64")
  local w1 = x0:clone()
  local o1 = ol.optim.lbfgs(w1, {line_search = "strong_wolfe", max_iter = 1})
  o1:step(function() return rosen(w1) end)
  local f0, g0 = rosen(x0)
  local f1, g1 = rosen(w1)
  local d = {-g0[1], -g0[2]}
  local step = (w1 - x0):totable()
  local t = step[1] / d[1]
  local gtd0 = g0[1] * d[1] + g0[2] * d[2]
  T.ok(f1 <= f0 + 1e-4 * t * gtd0, "sufficient decrease")
  T.ok(math.abs(g1[1] * d[1] + g1[2] * d[2]) <= 0.9 * math.abs(gtd0), "curvature")
end)

T.test("lbfgs and cg work on f32 parameters", function()
  for _, name in ipairs{"lbfgs", "cg"} do
    local w = ol.tensor({-1.5, 2}, "f32")
    local opt = ol.optim[name](w, {line_search = name == "lbfgs" and "strong_wolfe" or nil, max_iter = 100})
    for _ = 1, 3 do opt:step(function() return rosen(w) end) end
    T.near(w[1], 1, 1e-2, name)
    T.eq(w:dtype(), "f32")
  end
end)

-- A small regression problem for an MLP: y = sin(3 x1) + x2^2 on a grid.
local function regression_data()
  local xs, ys = {}, {}
  for i = 0, 7 do
    for j = 0, 7 do
      local a, b = -1 + 2 * i / 7, -1 + 2 * j / 7
      xs[#xs + 1] = {a, b}
      ys[#ys + 1] = {math.sin(3 * a) + b * b}
    end
  end
  return ol.tensor(xs, "f64"), ol.tensor(ys, "f64")
end

T.test("hessian_free lowers an MLP's loss in fewer iterations than gradient descent", function()
  local x, y = regression_data()
  local function fresh()
    ol.seed(7)
    return ol.nn.mlp{sizes = {2, 12, 1}, activation = "tanh", dtype = "f64"}
  end
  local net = fresh()
  local l0 = net:loss(x, y, "mse")
  local hf = ol.optim.hessian_free(net, {damping = 1})
  for _ = 1, 10 do hf:step(x, y, "mse") end
  local l_hf = net:loss(x, y, "mse")
  T.ok(hf.info:find("Gauss-Newton", 1, true), hf.info)
  T.ok(hf.damping ~= 1, "damping adapted: " .. hf.damping)
  -- gradient descent with a tuned step (the largest of a few that do not diverge)
  local best = math.huge
  for _, lr in ipairs{0.03, 0.1, 0.3, 1} do
    local g = fresh()
    local sgd = ol.optim.sgd(g, {lr = lr})
    for _ = 1, 100 do sgd:step(function() return g:evaluate(x, y, "mse") end) end
    local l = g:loss(x, y, "mse")
    if l == l then best = math.min(best, l) end
  end
  T.ok(l_hf < l0 / 10, string.format("HF: %g -> %g", l0, l_hf))
  T.ok(l_hf < best, string.format("HF after 10 steps %g vs GD after 100 steps %g", l_hf, best))
  -- the plain-closure form (Hessian products by differences) also descends
  local net2 = fresh()
  local hf2 = ol.optim.hessian_free(net2)
  for _ = 1, 5 do hf2:step(function() return net2:evaluate(x, y, "mse") end) end
  T.ok(net2:loss(x, y, "mse") < l0, "closure form descends")
  T.ok(hf2.info:find("Hessian", 1, true), hf2.info)
end)

T.test("newton on a model uses the exact Hessian", function()
  -- a linear model with mse is a quadratic in its parameters: one step
  local x = ol.tensor({{1, 2}, {3, -1}, {0, 1}, {2, 2}, {-1, 0.5}}, "f64")
  local y = ol.tensor({{1}, {2}, {-1}, {0.5}, {3}}, "f64")
  local net = ol.nn.sequential{ol.nn.linear(2, 1)}:to("f64")
  local opt = ol.optim.newton(net, {damping = 0})
  opt:step(x, y, "mse")
  local _, g = net:evaluate(x, y, "mse")
  T.ok(g:norm() < 1e-10, "gradient after one step: " .. g:norm())
end)

T.test("a model's batch for curvature is checked by the input and target rules, naming the caller", function()
  local net = ol.nn.mlp{sizes = {3, 4, 2}, dtype = "f64"}
  local v = ol.zeros(net:params():numel(), "f64")
  local x = ol.zeros(5, 3, "f64")
  local function err(...) local ok, e = pcall(ol.hvp, ...) T.ok(not ok) return e end
  T.eq(err(net, ol.zeros(5, 4, "f64"), {1, 1, 1, 1, 1}, "cross_entropy", v),
       "bad argument #2 to 'hvp' (input width differs from in_features: input is 5x4, model takes N x 3)")
  T.eq(err(net, ol.zeros(5, 3, "f32"), {1, 1, 1, 1, 1}, "mse", v),
       "bad argument #2 to 'hvp' (input is f32 but the model is f64 (convert with x:to(\"f64\") or net:to(\"f32\")))")
  T.eq(err(net, x, {1, 1, 1, 1}, "cross_entropy", v),
       "bad argument #3 to 'hvp' (wrong target shape: 4 class ids for a batch of 5)")
  T.eq(err(net, x, {1, 1, 1, 1, 3}, "cross_entropy", v),
       "bad argument #3 to 'hvp' (class id 3 out of range 1..2 (row 5))")
  T.eq(err(net, x, {1, 1, 1, 1, 1}, "msee", v),
       "bad argument #4 to 'hvp' (unknown loss 'msee' (expected cross_entropy, mse, bce or huber))")
  local opt = ol.optim.newton(net)
  local ok, e = pcall(opt.step, opt, ol.zeros(5, 4, "f64"), {1, 1, 1, 1, 1}, "cross_entropy")
  T.ok(not ok)
  T.eq(e, "bad argument #2 to 'step' (input width differs from in_features: input is 5x4, model takes N x 3)")
  -- a good batch: the product of v = 0 is 0, of the parameters' size
  local hv = ol.hvp(net, x, {1, 2, 1, 2, 1}, "cross_entropy", v)
  T.eq(hv:numel(), net:params():numel())
  T.eq(hv:abs():max(), 0, "H 0 = 0")
end)

T.run()
