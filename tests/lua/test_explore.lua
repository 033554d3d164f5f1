-- ol.explore and ol.compare on cases with known answers: plain gradient
-- descent on f = 1/2 x^T A x moves as x_k = (I - lr A)^k x0, computed
-- here with plain Lua arithmetic; convergence and divergence steps from the
-- closed forms on diagonal quadratics.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = optlua

local function matvec(A, x)
  local y = {}
  for i = 1, #A do
    local s = 0
    for j = 1, #x do s = s + A[i][j] * x[j] end
    y[i] = s
  end
  return y
end

-- (I - lr A)^k x0 for k = 0..steps
local function gd_path(A, lr, x0, steps)
  local path, x = {x0}, x0
  for k = 1, steps do
    local Ax = matvec(A, x)
    local nx = {}
    for i = 1, #x do nx[i] = x[i] - lr * Ax[i] end
    path[k + 1], x = nx, nx
  end
  return path
end

local function quad_value(A, x)
  local Ax = matvec(A, x)
  local s = 0
  for i = 1, #x do s = s + x[i] * Ax[i] end
  return 0.5 * s
end

local function norm(v)
  local s = 0
  for i = 1, #v do s = s + v[i] * v[i] end
  return math.sqrt(s)
end

local A = {{3, 1}, {1, 2}}

T.test("gradient descent path is (I - lr A)^k x0", function()
  local f = ol.fn.quadratic{A = A}
  local x0 = {1.5, -0.7}
  local run = ol.explore(f, "sgd", {lr = 0.1}, {x0 = x0, steps = 40})
  local want = gd_path(A, 0.1, x0, 40)
  T.eq(#run.path, 41)
  for k = 1, 41 do
    T.near_all(run.path[k], want[k], 1e-12, "step " .. (k - 1))
    T.near(run.losses[k], quad_value(A, want[k]), 1e-12)
    T.near(run.grad_norms[k], norm(matvec(A, want[k])), 1e-12)
  end
  T.near_all(run.final.x, want[41], 1e-12)
  T.near(run.final.distance, norm(want[41]), 1e-12)
  T.eq(run.final.steps, 40)
  T.eq(run.evals, 40)
  T.eq(run.diverged_at, nil)
  local P = run:path_tensor()
  T.near_all(P:shape(), {41, 2})
  T.near(P:get(41, 2), want[41][2], 1e-12)
end)

T.test("heavy-ball momentum path (torch's sgd form, by hand)", function()
  -- v <- mu v + g, x <- x - lr v on f = 1/2 * 4 x^2 (1-D)
  local f = ol.fn.quadratic{A = {{4}}}
  local lr, mu, x, v = 0.05, 0.9, 2.0, 0.0
  local run = ol.explore(f, "sgd", {lr = lr, momentum = mu}, {x0 = {x}, steps = 30})
  for k = 1, 30 do
    v = mu * v + 4 * x
    x = x - lr * v
    T.near(run.path[k + 1][1], x, 1e-12, "step " .. k)
  end
end)

T.test("converged_at: first k with f - f_min <= tol", function()
  -- A = diag(1, 4), x0 = (1, 0), lr = 0.5: f_k = 1/2 (1/2)^(2k)
  local f = ol.fn.quadratic{eigenvalues = {1, 4}}
  local tol, k = 1e-8, 0
  while 0.5 * 0.25 ^ k > tol do k = k + 1 end
  local run = ol.explore(f, "sgd", {lr = 0.5}, {x0 = {1, 0}, steps = 50, tol = tol})
  T.eq(run.converged_at, k)
  T.eq(#run.path, 51, "runs all steps by default")
  local early = ol.explore(f, "sgd", {lr = 0.5}, {x0 = {1, 0}, steps = 50, tol = tol, stop_at_tol = true})
  T.eq(#early.path, k + 1)
  T.eq(early.final.steps, k)
  local never = ol.explore(f, "sgd", {lr = 0.5}, {x0 = {1, 0}, steps = k - 1, tol = tol})
  T.eq(never.converged_at, nil)
end)

T.test("diverged_at: lr above 2 / lambda_max", function()
  -- A = diag(1, 4), x0 = (0, 1), lr = 0.6: y_k = (1 - 2.4)^k, f_k = 2 * 1.96^k
  local f = ol.fn.quadratic{eigenvalues = {1, 4}}
  local k = 0
  while 2 * 1.96 ^ k <= 1e6 do k = k + 1 end
  local run = ol.explore(f, "sgd", {lr = 0.6}, {x0 = {0, 1}, steps = 100})
  T.eq(run.diverged_at, k)
  T.eq(#run.path, k + 1, "the run stops where it diverged")
  T.eq(run.converged_at, nil)
  local r2 = ol.explore(f, "sgd", {lr = 0.6}, {x0 = {0, 1}, steps = 100, diverge = 1e3})
  local k2 = 0
  while 2 * 1.96 ^ k2 <= 1e3 do k2 = k2 + 1 end
  T.eq(r2.diverged_at, k2)
end)

T.test("saddle: stationary by the gradient, escape counts as divergence", function()
  -- x_k = (1 - 2 lr)^k x0 = 0.5^k along x, y = 0: the gradient 2 * 0.5^k
  local f = ol.fn.saddle()
  local tol, k = 1e-6, 0
  while 2 * 0.5 ^ k > tol do k = k + 1 end
  local run = ol.explore(f, "sgd", {lr = 0.25}, {x0 = {1, 0}, steps = 60, tol = tol})
  T.eq(run.stationary_at, k)
  T.eq(run.converged_at, k, "no minimum value: converged means stationary")
  T.eq(run.final.distance, nil)
  -- off the x axis, y grows as 1.5^k: |f| passes 1e6
  local esc = ol.explore(f, "sgd", {lr = 0.25}, {x0 = {1, 1e-3}, steps = 200})
  local j = 0
  while math.abs(0.25 ^ j - (1e-3 * 1.5 ^ j) ^ 2) <= 1e6 do j = j + 1 end
  T.eq(esc.diverged_at, j)
end)

T.test("explore defaults and f as a plain function", function()
  local f = ol.fn.rosenbrock()
  local run = ol.explore(f, "adam", {lr = 0.01}, {steps = 5})
  T.near_all(run.path[1], f.start)
  T.eq(#run.losses, 6)
  local plain = function(x) return f(x) end
  local r2 = ol.explore(plain, "adam", {lr = 0.01}, {x0 = f.start, steps = 5})
  T.near_all(r2.path, run.path, 0)
  T.eq(r2.final.distance, nil)
end)

T.test("explore: bad arguments", function()
  local f = ol.fn.booth()
  T.raises("unknown optimizer 'nope'", ol.explore, f, "nope", {}, {})
  T.raises("bad argument #1 to 'explore'", ol.explore, 42, "sgd", {}, {})
  T.raises("x0 (the starting point) expected", ol.explore, function(x) return 0, x end, "sgd", {}, {})
  T.raises("bad argument #4 to 'explore' (option 'steps' must be an integer >= 0, got 1.5)",
           ol.explore, f, "sgd", {}, {steps = 1.5})
  T.raises("bad argument #2 to 'sgd' (unknown option 'lrr'; did you mean 'lr'?)", ol.explore, f, "sgd", {lrr = 1}, {})
  T.raises("bad argument #4 to 'explore' (unknown option 'step'; did you mean 'steps'?)",
           ol.explore, f, "sgd", {}, {step = 10})
  T.raises("bad argument #3 to 'compare' (unknown option 'step'; did you mean 'steps'?)",
           ol.compare, f, {sgd = {}}, {step = 10})
  T.raises("bad argument #2 to 'compare' (unknown option 'lable'; did you mean 'label'?)",
           ol.compare, f, {{"sgd", {}, lable = "x"}}, {print = false})
end)

T.test("compare: two settings of one optimizer, paths by formula", function()
  local f = ol.fn.quadratic{A = A}
  local x0 = {1, 1}
  local cmp = ol.compare(f, {{"sgd", {lr = 0.1}}, {"sgd", {lr = 0.3}, label = "fast"}},
                         {x0 = x0, steps = 25, print = false})
  T.eq(#cmp.runs, 2)
  T.eq(cmp.runs[1].label, "sgd lr=0.1")
  T.eq(cmp.runs[2].label, "fast")
  T.eq(cmp.by_label.fast, cmp.runs[2])
  for i, lr in ipairs{0.1, 0.3} do
    local want = gd_path(A, lr, x0, 25)
    for k = 1, 26 do T.near_all(cmp.runs[i].path[k], want[k], 1e-12) end
  end
  -- the table: a header line, a rule, one line per run with its numbers
  local text = cmp:table()
  local want = gd_path(A, 0.1, x0, 25)[26]
  T.ok(text:find("optimizer", 1, true) and text:find("diverged?", 1, true), text)
  T.ok(text:find(string.format("%.4g", quad_value(A, want)), 1, true), text)
  T.ok(text:find(string.format("%.4g", norm(want)), 1, true), text)
end)

T.test("compare: map of names, labels with optimizer =, printing", function()
  local f = ol.fn.quadratic{eigenvalues = {1, 4}}
  local out = {}
  local real_print = print
  print = function(...) out[#out + 1] = table.concat({...}, "\t") end -- luacheck: ignore
  local ok, cmp = pcall(ol.compare, f, {
    sgd = {lr = 0.5}, ["too fast"] = {optimizer = "sgd", lr = 0.6}, nag = {lr = 0.1, momentum = 0.5},
  }, {x0 = {1, 1}, steps = 100})
  print = real_print -- luacheck: ignore
  assert(ok, cmp)
  T.eq(#cmp.runs, 3)
  T.eq(cmp.runs[1].label, "nag")   -- sorted keys
  T.eq(cmp.runs[3].label, "too fast")
  T.eq(cmp.runs[3].optimizer_name, "sgd")
  T.ok(cmp.runs[3].diverged_at ~= nil)
  T.eq(cmp.runs[2].diverged_at, nil)
  local text = table.concat(out, "\n")
  local lines = {}
  for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
  local k = 0
  while 2 * 1.96 ^ k <= 1e6 do k = k + 1 end -- y_k = (1 - 2.4)^k: f ~ 2 * 1.96^k
  T.ok(lines[#lines]:find("^too fast .* yes %(step " .. k .. "%)%s+" .. k .. "$"), text)
  T.ok(lines[#lines - 1]:find("^sgd .* no%s+100$"), text)
  -- sgd lr 0.5 on diag(1, 4) from (1, 1): x halves, y flips sign: f_k = 1/2 0.25^k + 2
  -- never below tol; y's distance stays 1
  T.near(cmp.runs[2].final.distance, 1, 1e-12)
  T.eq(cmp.runs[2].converged_at, nil)
end)

T.test("compare: a tolerance reached and left is marked", function()
  -- Lion by its rule (API.md): c = sign(b1 m + (1 - b1) g), w <- w - lr c,
  -- m <- b2 m + (1 - b2) g; on f = x^2 / 2 from 0.25 with lr = 1/8 it lands
  -- exactly on 0 at step 2, then hops between 0 and +-1/8.
  local f = ol.fn.quadratic{A = {{1}}}
  local b1, b2, lr, x, m = 0.9, 0.99, 0.125, 0.25, 0
  local first, last
  for k = 1, 21 do -- odd steps end at +-1/8
    local g = x
    local c = b1 * m + (1 - b1) * g
    x = x - lr * (c > 0 and 1 or c < 0 and -1 or 0)
    m = b2 * m + (1 - b2) * g
    if not first and 0.5 * x * x <= 1e-8 then first = k end
    last = 0.5 * x * x
  end
  T.eq(first, 2)
  local cmp = ol.compare(f, {{"lion", {lr = lr, betas = {b1, b2}}}}, {x0 = {0.25}, steps = 21, print = false})
  T.eq(cmp.runs[1].converged_at, 2)
  T.near(cmp.runs[1].final.loss, last, 1e-15)
  T.ok(last > 1e-8, "left the tolerance by the hand computation")
  T.ok(cmp:table():find("\nlion%s+%S+%s+%S+%s+2 %(left%)"), cmp:table())
end)

T.test("scripts/explore.lua without a directory: a new one, said and returned", function()
  local path = (arg[0]:match("^(.*/)") or "./") .. "../../scripts/explore.lua"
  local names = {"rosenbrock.png", "quadratic.png", "saddle.png", "momentum_nesterov.png"}
  local here = {} -- pictures already in the current directory
  for _, n in ipairs(names) do
    local fh = io.open(n, "rb")
    if fh then fh:close() here[n] = true end
  end
  local saved_arg, saved_print, printed = arg, print, {}
  arg = {[0] = path}
  print = function(...) -- luacheck: ignore
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    printed[#printed + 1] = table.concat(parts, "\t")
  end
  local ok, res = pcall(dofile, path)
  arg, print = saved_arg, saved_print -- luacheck: ignore
  T.ok(ok, tostring(res))
  T.ok(type(res) == "table" and type(res.dir) == "string", "the script returns where the pictures went")
  T.ok(res.dir ~= "." and res.dir ~= "" and res.dir:sub(1, 1) == "/", "a directory of its own: " .. res.dir)
  T.eq(#res.files, #names)
  for i, n in ipairs(names) do
    T.eq(res.files[i], res.dir .. "/" .. n)
    local fh = assert(io.open(res.files[i], "rb"), res.files[i])
    T.eq(fh:read(4), "\137PNG", n .. " is a PNG")
    fh:close()
    if not here[n] then T.eq(io.open(n, "rb"), nil, n .. " not written into the current directory") end
  end
  T.ok(printed[#printed]:find("pictures in " .. res.dir .. ": rosenbrock.png", 1, true), printed[#printed])
  os.execute("rm -rf '" .. res.dir:gsub("'", "'\\''") .. "'")
end)

T.run()
