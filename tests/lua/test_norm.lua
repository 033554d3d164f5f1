-- ol.nn.layer_norm and ol.nn.batch_norm (API.md sec. 15): forward values
-- and gradients (input, weight, bias) in both modes and both dtypes
-- against a double-precision reference written here, batch norm's
-- running estimates after several steps (unbiased variance), gradient
-- checks, curvature products against finite differences, thread counts,
-- checkpoints of the running estimates and a bit-exact resume, the batch
-- of 1, mlp{norm = ...}'s layers and names, and bad input.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

-- ---- the reference, in Lua's doubles ----------------------------------------

local function rand_matrix(n, m, scale, shift)
  local t = {}
  for r = 1, n do
    t[r] = {}
    for c = 1, m do t[r][c] = (math.random() * 2 - 1) * (scale or 1) + (shift or 0) end
  end
  return t
end

local function rand_vector(n, lo, hi)
  local t = {}
  for i = 1, n do t[i] = lo + (hi - lo) * math.random() end
  return t
end

-- y = x W^T + b
local function linear(x, W, b)
  local y = {}
  for r = 1, #x do
    y[r] = {}
    for o = 1, #W do
      local s = b[o]
      for i = 1, #W[o] do s = s + x[r][i] * W[o][i] end
      y[r][o] = s
    end
  end
  return y
end

-- Normalisation of x (n x w): per row (layer) or per column (batch, with
-- the batch's statistics when stats is nil, else stats = {mean, var}).
-- Returns y, xhat, rstd (per row or per column), and the statistics used.
local function norm_forward(kind, x, gamma, beta, eps, stats)
  local n, w = #x, #x[1]
  local xhat, y, mean, var = {}, {}, {}, {}
  if kind == "layer" then
    for r = 1, n do
      local s = 0
      for c = 1, w do s = s + x[r][c] end
      mean[r] = s / w
      local v = 0
      for c = 1, w do v = v + (x[r][c] - mean[r]) ^ 2 end
      var[r] = v / w
    end
  elseif stats then
    mean, var = stats[1], stats[2]
  else
    for c = 1, w do
      local s = 0
      for r = 1, n do s = s + x[r][c] end
      mean[c] = s / n
      local v = 0
      for r = 1, n do v = v + (x[r][c] - mean[c]) ^ 2 end
      var[c] = v / n
    end
  end
  local rstd = {}
  for k = 1, #mean do rstd[k] = 1 / math.sqrt(var[k] + eps) end
  for r = 1, n do
    xhat[r], y[r] = {}, {}
    for c = 1, w do
      local k = kind == "layer" and r or c
      xhat[r][c] = (x[r][c] - mean[k]) * rstd[k]
      y[r][c] = xhat[r][c] * (gamma and gamma[c] or 1) + (beta and beta[c] or 0)
    end
  end
  return y, xhat, rstd, mean, var
end

-- dx, dgamma, dbeta from dy; batch_stats: the statistics came from what
-- was normalised (layer norm, batch norm in training mode).
local function norm_backward(kind, batch_stats, dy, xhat, rstd, gamma)
  local n, w = #dy, #dy[1]
  local dgamma, dbeta, dx = {}, {}, {}
  for c = 1, w do
    dgamma[c], dbeta[c] = 0, 0
    for r = 1, n do
      dgamma[c] = dgamma[c] + dy[r][c] * xhat[r][c]
      dbeta[c] = dbeta[c] + dy[r][c]
    end
  end
  for r = 1, n do dx[r] = {} end
  local g = function(r, c) return dy[r][c] * (gamma and gamma[c] or 1) end
  if kind == "layer" then
    for r = 1, n do
      local mg, mgx = 0, 0
      for c = 1, w do mg = mg + g(r, c) / w; mgx = mgx + g(r, c) * xhat[r][c] / w end
      for c = 1, w do dx[r][c] = rstd[r] * (g(r, c) - mg - xhat[r][c] * mgx) end
    end
  else
    for c = 1, w do
      local mg, mgx = 0, 0
      for r = 1, n do mg = mg + g(r, c) / n; mgx = mgx + g(r, c) * xhat[r][c] / n end
      for r = 1, n do
        dx[r][c] = batch_stats and rstd[c] * (g(r, c) - mg - xhat[r][c] * mgx) or rstd[c] * g(r, c)
      end
    end
  end
  return dx, dgamma, dbeta
end

-- The net linear(d, w) -> norm(w) -> linear(w, c) with the mean squared
-- error, forward and backward: the loss and every parameter's gradient by
-- name, and the norm's output.
local function reference(kind, batch_stats, P, x, t, eps, stats)
  local z = linear(x, P["1.weight"], P["1.bias"])
  local h, xhat, rstd = norm_forward(kind, z, P["2.weight"], P["2.bias"], eps,
                                     not batch_stats and stats or nil)
  local y = linear(h, P["3.weight"], P["3.bias"])
  local n, c = #y, #y[1]
  local loss, dy = 0, {}
  for r = 1, n do
    dy[r] = {}
    for k = 1, c do
      loss = loss + (y[r][k] - t[r][k]) ^ 2 / (n * c)
      dy[r][k] = 2 * (y[r][k] - t[r][k]) / (n * c)
    end
  end
  local G = {}
  local function outer(d, a) -- d^T a
    local m = {}
    for o = 1, #d[1] do
      m[o] = {}
      for i = 1, #a[1] do
        local s = 0
        for r = 1, #d do s = s + d[r][o] * a[r][i] end
        m[o][i] = s
      end
    end
    return m
  end
  local function colsum(d)
    local s = {}
    for o = 1, #d[1] do
      s[o] = 0
      for r = 1, #d do s[o] = s[o] + d[r][o] end
    end
    return s
  end
  G["3.weight"], G["3.bias"] = outer(dy, h), colsum(dy)
  local dh = {}
  for r = 1, n do
    dh[r] = {}
    for i = 1, #h[1] do
      local s = 0
      for k = 1, c do s = s + dy[r][k] * P["3.weight"][k][i] end
      dh[r][i] = s
    end
  end
  local dz
  dz, G["2.weight"], G["2.bias"] = norm_backward(kind, batch_stats, dh, xhat, rstd, P["2.weight"])
  G["1.weight"], G["1.bias"] = outer(dz, x), colsum(dz)
  return loss, G, h
end

-- A net of the reference's shape with random parameters (the norm's
-- weight and bias away from 1 and 0, so that they matter), in dtype dt.
local function make_net(kind, d, w, c, dt, opts)
  local layer = kind == "layer" and ol.nn.layer_norm(w, opts) or ol.nn.batch_norm(w, opts)
  local net = ol.nn.sequential{ol.nn.linear(d, w), layer, ol.nn.linear(w, c), dtype = dt}
  local P = {}
  for _, p in ipairs(net:parameters()) do
    local v
    if p.name == "2.weight" then v = rand_vector(w, 0.5, 1.5)
    elseif p.name == "2.bias" then v = rand_vector(w, -0.5, 0.5)
    elseif p.name:find("bias") then v = rand_vector(p.tensor:numel(), -0.3, 0.3)
    else v = rand_matrix(p.tensor:size(1), p.tensor:size(2), 0.7) end
    p.tensor:copy_(ol.tensor(v, dt))
    P[p.name] = p.tensor:totable() -- the values as the dtype holds them
  end
  return net, P
end

local function to_table(t) return t:totable() end

-- The tolerances of a dtype: f32 stores every intermediate rounded.
local TOL = {f32 = 2e-5, f64 = 1e-12}

-- ---- forward and backward against the reference ------------------------------------

T.test("forward and gradients (input, weight, bias) against the reference, both modes and dtypes", function()
  math.randomseed(7)
  for _, kind in ipairs{"layer", "batch"} do
    for _, dt in ipairs{"f32", "f64"} do
      for _, mode in ipairs{"train", "eval"} do
        local n, d, w, c = 9, 5, 7, 3
        local net, P = make_net(kind, d, w, c, dt)
        local x = ol.tensor(rand_matrix(n, d, 1, 0.3), dt)
        local t = ol.tensor(rand_matrix(n, c), dt)
        local stats
        if kind == "batch" then -- running estimates away from 0 and 1
          local b = net:buffers()
          b[1].tensor:copy_(ol.tensor(rand_vector(w, -0.5, 0.5), dt))
          b[2].tensor:copy_(ol.tensor(rand_vector(w, 0.5, 2), dt))
          stats = {b[1].tensor:totable(), b[2].tensor:totable()}
        end
        net[mode](net)
        local batch_stats = kind == "layer" or mode == "train"
        local want_loss, want_G = reference(kind, batch_stats, P, x:totable(), t:totable(), 1e-5, stats)
        local loss = net:evaluate(x, t, "mse")
        local what = kind .. " " .. dt .. " " .. mode
        T.near(loss, want_loss, TOL[dt] * 10, what .. ": loss", TOL[dt])
        for _, p in ipairs(net:parameters()) do
          local got, want = p.grad:totable(), want_G[p.name]
          if type(want[1]) == "table" then
            for i = 1, #want do T.near_all(got[i], want[i], TOL[dt], what .. ": " .. p.name) end
          else
            T.near_all(got, want, TOL[dt], what .. ": " .. p.name)
          end
        end
        -- the norm's output itself: a net ending at the norm
        local head = ol.nn.sequential{ol.nn.linear(d, w), kind == "layer" and ol.nn.layer_norm(w)
                                      or ol.nn.batch_norm(w), dtype = dt}
        local hp = head:parameters()
        for i = 1, 4 do hp[i].tensor:copy_(net:parameters()[i].tensor) end
        if kind == "batch" then
          head:buffers()[1].tensor:copy_(ol.tensor(stats[1], dt))
          head:buffers()[2].tensor:copy_(ol.tensor(stats[2], dt))
        end
        head[mode](head)
        local _, _, h = reference(kind, batch_stats, P, x:totable(), t:totable(), 1e-5, stats)
        local y = head:forward(x):totable()
        for r = 1, n do T.near_all(y[r], h[r], TOL[dt] * 5, what .. ": output row " .. r) end
      end
    end
  end
end)

T.test("without affine parameters: none in the buffer, the same normalisation", function()
  math.randomseed(3)
  for _, kind in ipairs{"layer", "batch"} do
    local w = 6
    local net = ol.nn.sequential{ol.nn.linear(4, w),
      kind == "layer" and ol.nn.layer_norm(w, {affine = false, eps = 1e-3})
      or ol.nn.batch_norm(w, {affine = false, eps = 1e-3}), dtype = "f64"}
    T.eq(net:num_params(), 4 * w + w, kind .. ": the linear layer's parameters only")
    T.eq(#net:parameters(), 2)
    local x = ol.tensor(rand_matrix(5, 4), "f64")
    local p = net:parameters()
    local z = linear(x:totable(), p[1].tensor:totable(), p[2].tensor:totable())
    local want = norm_forward(kind, z, nil, nil, 1e-3)
    local y = net:forward(x):totable()
    for r = 1, 5 do T.near_all(y[r], want[r], 1e-12, kind .. " row " .. r) end
  end
end)

-- ---- batch norm's running estimates -----------------------------------------------

T.test("running estimates after several steps: momentum, unbiased variance; evaluation does not move them", function()
  math.randomseed(11)
  for _, dt in ipairs{"f32", "f64"} do
    for _, momentum in ipairs{0.1, 0.3, 1, 0} do
      local w = 4
      local net = ol.nn.sequential{ol.nn.linear(3, w), ol.nn.batch_norm(w, {momentum = momentum}),
                                   dtype = dt}
      local p = net:parameters()
      local rm, rv = {}, {}
      for c = 1, w do rm[c], rv[c] = 0, 1 end
      for step = 1, 5 do
        local n = 3 + step
        local x = ol.tensor(rand_matrix(n, 3, 2, step / 3), dt)
        net:forward(x)
        local z = linear(x:totable(), p[1].tensor:totable(), p[2].tensor:totable())
        local _, _, _, mean, var = norm_forward("batch", z, nil, nil, 1e-5)
        for c = 1, w do
          rm[c] = (1 - momentum) * rm[c] + momentum * mean[c]
          rv[c] = (1 - momentum) * rv[c] + momentum * var[c] * n / (n - 1)
        end
      end
      local b = net:buffers()
      T.eq(b[1].name, "2.running_mean")
      T.eq(b[2].name, "2.running_var")
      local what = dt .. " momentum " .. momentum
      T.near_all(b[1].tensor, rm, TOL[dt] * 5, what .. ": running_mean", TOL[dt] * 5)
      T.near_all(b[2].tensor, rv, TOL[dt] * 5, what .. ": running_var (unbiased)", TOL[dt] * 5)
      -- evaluation mode reads them and leaves them
      net:eval()
      net:forward(ol.tensor(rand_matrix(6, 3), dt))
      T.near_all(b[1].tensor, rm, TOL[dt] * 5, what .. ": unchanged in evaluation mode", TOL[dt] * 5)
      -- they are not parameters
      for _, q in ipairs(net:parameters()) do T.ok(not q.name:find("running"), q.name) end
    end
  end
end)

T.test("optimizers step the parameters, never the running estimates", function()
  ol.seed(4)
  local net = ol.nn.mlp{sizes = {3, 5, 2}, norm = "batch", dtype = "f64"}
  local opt = ol.optim.adam(net, {lr = 0.1, weight_decay = 0.5})
  local x, ids = ol.randn(8, 3, "f64"), {1, 2, 1, 2, 1, 2, 1, 2}
  net:evaluate(x, ids)
  local before = {net:buffers()[1].tensor:clone(), net:buffers()[2].tensor:clone()}
  opt:step()
  T.near_all(net:buffers()[1].tensor, before[1]:totable(), 0, "running_mean")
  T.near_all(net:buffers()[2].tensor, before[2]:totable(), 0, "running_var")
end)

T.test("a batch of 1: refused in training mode, accepted in evaluation mode", function()
  local net = ol.nn.mlp{sizes = {3, 4, 2}, norm = "batch"}
  local x = ol.randn(1, 3)
  local ok, e = pcall(net.forward, net, x)
  T.ok(not ok)
  T.ok(tostring(e):find("layer 2: batch_norm in training mode needs more than one row", 1, true), e)
  T.ok(tostring(e):find("Expected more than 1 value per channel when training", 1, true), e)
  T.raises("batch_norm in training mode", function() net:evaluate(x, {1}) end)
  net:eval()
  T.eq(net:forward(x):size(1), 1)
  T.eq(net:forward(ol.randn(3)):size(1), 1, "one 1-D row")
  -- net:predict is in evaluation mode whatever the mode
  net:train()
  T.eq(net:predict(x):numel(), 1)
  -- layer norm takes a single row in either mode
  local ln = ol.nn.mlp{sizes = {3, 4, 2}, norm = "layer"}
  T.eq(ln:forward(x):size(1), 1)
end)

-- ---- gradient checks and curvature -----------------------------------------------

T.test("gradcheck (central differences, f64) through each norm in both modes", function()
  ol.seed(2)
  for _, norm in ipairs{"layer", "batch"} do
    local net = ol.nn.mlp{sizes = {3, 7, 5, 2}, activation = "tanh", norm = norm, dtype = "f64"}
    -- parameters of the norms away from 1 and 0
    for _, p in ipairs(net:parameters()) do
      if p.name == "2.weight" or p.name == "6.weight" then p.tensor:copy_(ol.rand(p.tensor:numel(), "f64") + 0.5) end
      if p.name == "2.bias" or p.name == "6.bias" then p.tensor:copy_(ol.randn(p.tensor:numel(), "f64") * 0.3) end
    end
    local x, ids = ol.randn(6, 3, "f64"), {1, 2, 2, 1, 2, 1}
    for _, mode in ipairs{"train", "eval"} do
      net[mode](net)
      local ok, abs, _, where = ol.gradcheck(net, x, ids)
      T.ok(ok, norm .. " " .. mode .. ": " .. tostring(where))
      T.ok(abs < 1e-7, norm .. " " .. mode .. ": max abs error " .. abs)
    end
  end
end)

-- The directional derivative of net's gradient along v at w: central
-- differences at h and h / 2 combined (Richardson), so that the error is
-- O(h^4) rather than the O(h^2) that large third derivatives make visible.
local function fd_hv(net, x, y, kind, w, v, grad_at)
  local function central(h)
    return (grad_at(net, x, y, kind, w + v * h) - grad_at(net, x, y, kind, w - v * h)) / (2 * h)
  end
  local h = 1e-4
  return (central(h / 2) * 4 - central(h)) / 3
end

-- The gradient of net's mean loss on (x, y) at parameters w.
local function grad_at(net, x, y, kind, w)
  local p = net:params()
  local keep = p:clone()
  p:copy_(w)
  local _, g = net:evaluate(x, y, kind)
  g = g:clone()
  p:copy_(keep)
  return g
end

T.test("hvp: exact for layer norm, batch norm with its running estimates (evaluation mode), against differences of gradients", function()
  ol.seed(8)
  for _, norm in ipairs{"layer", "batch"} do
    for _, loss in ipairs{"cross_entropy", "mse"} do
      local net = ol.nn.mlp{sizes = {3, 6, 5, 2}, activation = "tanh", norm = norm, dtype = "f64"}
      for _, p in ipairs(net:parameters()) do
        if not p.name:find("^[14]%.") and not p.name:find("^7%.") then -- the norms' own
          p.tensor:copy_(ol.rand(p.tensor:numel(), "f64") + (p.name:find("weight") and 0.5 or -0.5))
        end
      end
      local x = ol.randn(7, 3, "f64")
      local y = loss == "mse" and ol.randn(7, 2, "f64") or {1, 2, 2, 1, 2, 1, 1}
      if norm == "batch" then -- running estimates of a few steps
        for _ = 1, 3 do net:forward(ol.randn(9, 3, "f64") * 2 + 0.5) end
      end
      local w = net:params():clone()
      local v = ol.randn(w:numel(), "f64")
      -- the products are those of evaluation mode, whatever the mode
      for _, mode in ipairs{"train", "eval"} do
        net[mode](net)
        local hv = ol.hvp(net, x, y, loss, v)
        net:eval()
        local fd = fd_hv(net, x, y, loss, w, v, grad_at)
        net[mode](net)
        local err = (hv - fd):abs():max()
        T.ok(err < 1e-7 * math.max(1, fd:abs():max()),
             string.format("%s %s (%s mode): max |Hv - fd| %.3g", norm, loss, mode, err))
        -- and ol.hessian agrees with it
        if loss == "mse" and mode == "eval" then
          local H = ol.hessian(net, x, y, loss)
          T.near_all(H:mv(v), hv:totable(), 1e-10, norm .. ": ol.hessian * v")
        end
      end
    end
  end
end)

T.test("Gauss-Newton products: J^T H_L J v, J v from differences of outputs", function()
  ol.seed(9)
  for _, norm in ipairs{"layer", "batch"} do
    local net = ol.nn.mlp{sizes = {3, 6, 4, 2}, activation = "tanh", norm = norm, dtype = "f64"}
    for _ = 1, 2 do net:forward(ol.randn(9, 3, "f64") + 0.5) end
    net:eval()
    local x, t = ol.randn(5, 3, "f64"), ol.randn(5, 2, "f64")
    local w = net:params():clone()
    local v = ol.randn(w:numel(), "f64")
    local p = net:params()
    local eps = 1e-5
    p:copy_(w + v * eps)
    local up = net:forward(x)
    p:copy_(w - v * eps)
    local down = net:forward(x)
    p:copy_(w)
    local jv = (up - down) / (2 * eps)
    -- mse's H_L is 2 / (n c) I: J^T H_L J v is the gradient of the mse at
    -- the target y - J v
    local y = net:forward(x)
    local _, g = net:evaluate(x, y - jv, "mse")
    local gv = ol.hvp(net, x, t, "mse", v, {gauss_newton = true})
    local err = (gv - g):abs():max()
    T.ok(err < 1e-7 * math.max(1, g:abs():max()), norm .. ": max |Gv - J^T H J v| " .. err)
  end
end)

-- ---- threads, checkpoints -------------------------------------------------------

T.test("training with each norm is bit-identical on 1 and 2 threads", function()
  local threads = ol.threads()
  for _, norm in ipairs{"layer", "batch"} do
    local function run(n)
      ol.threads(n)
      ol.seed(5)
      local ds = ol.data.synthetic{kind = "blobs", n = 512, classes = 3}
      -- 128 x 512 norm elements: layer norm's rows are cut over 2 threads.
      -- Every matrix product stays under the size that is cut over threads
      -- (engine/nn/linear.c), so the engine owns the order of every sum.
      local net = ol.nn.mlp{sizes = {2, 512, 3}, norm = norm}
      local loader = ol.data.loader(ds, {batch_size = 128, shuffle = true})
      ol.train{model = net, optimizer = ol.optim.adam(net), data = loader, epochs = 2, progress = false}
      local b = net:buffers()
      return net:params():clone(), b[1] and b[2].tensor:clone()
    end
    local a, ba = run(1)
    local b, bb = run(2)
    ol.threads(threads)
    T.eq((a - b):abs():max(), 0, norm .. ": 1 vs 2 threads")
    if ba then T.eq((ba - bb):abs():max(), 0, norm .. ": running_var, 1 vs 2 threads") end
  end
  ol.threads(threads)
end)

T.test("checkpoints: running estimates round-trip under torch's names; resume is bit-exact", function()
  local path = T.scratch()
  for _, norm in ipairs{"layer", "batch"} do
    for _, dt in ipairs{"f32", "f64"} do
      local function setup()
        ol.seed(21)
        local ds = ol.data.synthetic{kind = "spirals", n = 256, classes = 3}
        local net = ol.nn.mlp{sizes = {2, 32, 16, 3}, norm = norm, dtype = dt}
        local loader = ol.data.loader(ds, {batch_size = 30, shuffle = true, dtype = dt})
        return net, ol.optim.adam(net, {lr = 0.01}), loader
      end
      local function train(net, opt, loader, epochs)
        ol.train{model = net, optimizer = opt, data = loader, epochs = epochs, progress = false}
      end
      local function state(net)
        local s = {net:params():clone()}
        for _, b in ipairs(net:buffers()) do s[#s + 1] = b.tensor:clone() end
        return s
      end
      local net, opt, loader = setup()
      train(net, opt, loader, 3)
      local straight = state(net)
      net, opt, loader = setup()
      train(net, opt, loader, 1)
      local file = path(norm .. dt .. ".safetensors")
      ol.save(file, {model = net, optimizer = opt})
      local ck = ol.load(file)
      local what = norm .. " " .. dt
      if norm == "batch" then
        for _, name in ipairs{"2.running_mean", "2.running_var", "5.running_mean", "5.running_var"} do
          T.ok(ck.tensors[name], what .. ": " .. name .. " saved")
        end
        T.near_all(ck.tensors["2.running_var"], net:buffers()[2].tensor:totable(), 0, what .. ": saved as it was")
      else
        T.eq(#net:buffers(), 0)
      end
      T.ok(ck.tensors["2.weight"] and ck.tensors["2.bias"], what .. ": the norm's parameters saved")
      ol.seed(12345)
      local net2, opt2, loader2 = setup()
      ck:restore(net2, opt2)
      local s1, s2 = state(net), state(net2)
      for i = 1, #s1 do T.near_all(s2[i], s1[i]:totable(), 0, what .. ": restored " .. i) end
      train(net2, opt2, loader2, 2)
      local resumed = state(net2)
      for i = 1, #straight do
        T.near_all(resumed[i], straight[i]:totable(), 0, what .. ": resumed = uninterrupted, tensor " .. i)
      end
    end
  end
  -- a checkpoint without the running estimates does not restore a batch-norm net
  local plain = ol.nn.mlp{sizes = {2, 4, 3}}
  local file = path("plain.safetensors")
  ol.save(file, {model = plain})
  local bn = ol.nn.mlp{sizes = {2, 4, 3}, norm = "batch"}
  T.raises("has no tensor '2.weight'", function() ol.load(file):restore(bn) end)
end)

-- ---- mlp{norm}, descriptors, bad input ------------------------------------------

T.test("mlp{norm}: linear -> norm -> activation [-> dropout]; names as torch's Sequential", function()
  for _, norm in ipairs{"layer", "batch"} do
    local net = ol.nn.mlp{sizes = {4, 8, 6, 3}, norm = norm, dropout = 0.1}
    local kinds = {}
    for _, l in ipairs(net:layers()) do kinds[#kinds + 1] = l.kind end
    T.eq(table.concat(kinds, " "), string.format("linear %s_norm relu dropout linear %s_norm relu dropout linear",
                                                 norm, norm))
    local names = {}
    for _, p in ipairs(net:parameters()) do names[#names + 1] = p.name end
    T.eq(table.concat(names, " "), "1.weight 1.bias 2.weight 2.bias 5.weight 5.bias 6.weight 6.bias 9.weight 9.bias")
    T.eq(net:num_params(), 4 * 8 + 8 + 2 * 8 + 8 * 6 + 6 + 2 * 6 + 6 * 3 + 3)
    local l2 = net:layers()[2]
    T.eq(l2.n, 8)
    T.eq(l2.eps, 1e-5)
    T.eq(l2.affine, true)
    T.eq(l2.momentum, norm == "batch" and 0.1 or nil)
    -- a norm's weight starts at one, its bias at zero
    T.near_all(net:select("^2%.weight$")[1].tensor, {1, 1, 1, 1, 1, 1, 1, 1}, 0, "weight ones")
    T.near_all(net:select("^2%.bias$")[1].tensor, {0, 0, 0, 0, 0, 0, 0, 0}, 0, "bias zeros")
    local names_b = {}
    for _, b in ipairs(net:buffers()) do names_b[#names_b + 1] = b.name end
    T.eq(table.concat(names_b, " "), norm == "batch" and "2.running_mean 2.running_var 6.running_mean 6.running_var" or "")
  end
  T.eq(tostring(ol.nn.mlp{sizes = {4, 8, 3}, norm = "layer"}),
       "sequential(linear(4, 8), layer_norm(8), relu, linear(8, 3)) f32, 83 parameters")
  T.eq(tostring(ol.nn.batch_norm(5, {eps = 1e-3, momentum = 0.2, affine = false})),
       "batch_norm(5, eps=0.001, momentum=0.2, affine=false)")
  T.eq(tostring(ol.nn.layer_norm(5)), "layer_norm(5)")
  -- groups select the norms' parameters as any other
  local net = ol.nn.mlp{sizes = {4, 8, 3}, norm = "layer"}
  local opt = ol.optim.adamw({{params = net:select("^2%."), weight_decay = 0},
                              {params = net:select("^[13]%.")}}, {lr = 0.01})
  T.eq(#opt.groups, 2)
  -- the custom init function sees linear weights only
  local seen = {}
  ol.nn.mlp{sizes = {4, 8, 3}, norm = "batch", init = function(_, name) seen[#seen + 1] = name end}
  T.eq(table.concat(seen, " "), "1.weight 4.weight")
end)

T.test("f32 to f64 and back: parameters and running estimates carried", function()
  local net = ol.nn.mlp{sizes = {3, 4, 2}, norm = "batch"}
  net:forward(ol.randn(5, 3))
  net:eval()
  local d = net:to("f64")
  T.eq(d.training, false)
  T.near_all(d:buffers()[2].tensor, net:buffers()[2].tensor:to("f64"):totable(), 0, "running_var")
end)

T.test("plateau diagnosis carries the batch through the norms", function()
  -- Large weights saturate tanh; a norm before it brings the units back to
  -- about N(0, 1), of which few lie beyond tanh's saturation point 2.65.
  ol.seed(3)
  local x = ol.randn(64, 4, "f64")
  for _, norm in ipairs{"none", "layer", "batch"} do
    local net = ol.nn.mlp{sizes = {4, 16, 2}, activation = "tanh", dtype = "f64",
                          norm = norm ~= "none" and norm or nil}
    net:parameters()[1].tensor:mul_(40)
    if norm == "batch" then -- evaluation mode: the running estimates of this batch
      net:buffers()[1].tensor:zero_()
      for _ = 1, 60 do net:forward(x) end -- momentum 0.1: they converge
      net:eval()
    end
    local d = ol.plateau.diagnose(net, x)
    if norm == "none" then
      T.ok(d.saturated > 0.8, "without a norm: saturated share " .. d.saturated)
    else
      T.ok(d.saturated < 0.05, norm .. ": saturated share " .. d.saturated)
    end
    T.eq(d.tanh_sigmoid_units, 16)
    -- the weight norm counts the linear layers' weights, not a norm's
    local w1, w2 = net:select("^1%.weight$")[1].tensor:norm(), net:parameters()[#net:parameters() - 1].tensor:norm()
    T.near(d.weight_norm, math.sqrt(w1 ^ 2 + w2 ^ 2), 1e-9, norm .. ": linear weights only")
  end
end)

T.test("bad input: sizes, eps, momentum, unknown options", function()
  local function msg(f, ...)
    local ok, e = pcall(f, ...)
    T.ok(not ok)
    return tostring(e)
  end
  T.eq(msg(ol.nn.sequential, {ol.nn.linear(4, 128), ol.nn.layer_norm(256)}),
       "bad argument #1 to 'sequential' (layer 2: layer_norm over 256 features, the input has 128)")
  T.eq(msg(ol.nn.sequential, {ol.nn.linear(4, 128), ol.nn.relu(), ol.nn.batch_norm(64)}),
       "bad argument #1 to 'sequential' (layer 3: batch_norm over 64 features, the input has 128)")
  T.ok(msg(ol.nn.sequential, {ol.nn.layer_norm(4), ol.nn.linear(4, 2)})
       :find("layer 1: layer_norm before the first linear layer is not supported", 1, true))
  T.eq(msg(ol.nn.layer_norm, 4, {eps = 0}), "bad argument #2 to 'layer_norm' (option 'eps' must be > 0, got 0)")
  T.ok(msg(ol.nn.layer_norm, 4, {eps = -1}):find("option 'eps' must be > 0", 1, true))
  T.ok(msg(ol.nn.batch_norm, 4, {eps = 1 / 0}):find("option 'eps' must be a finite number > 0, got inf", 1, true))
  T.eq(msg(ol.nn.batch_norm, 4, {momentum = 1.5}),
       "bad argument #2 to 'batch_norm' (option 'momentum' must be in [0, 1], got 1.5)")
  T.ok(msg(ol.nn.batch_norm, 4, {momentum = -0.1}):find("option 'momentum' must be in [0, 1]", 1, true))
  T.ok(msg(ol.nn.layer_norm, 4, {momentum = 0.1}):find("unknown option 'momentum'", 1, true))
  T.ok(msg(ol.nn.batch_norm, 4, {afine = false}):find("unknown option 'afine'", 1, true))
  T.ok(msg(ol.nn.layer_norm, 0):find("bad argument #1 to 'layer_norm' (the number of features must be positive", 1, true))
  T.ok(msg(ol.nn.layer_norm, 2.5):find("bad argument #1 to 'layer_norm'", 1, true))
  T.ok(msg(ol.nn.batch_norm):find("bad argument #1 to 'batch_norm'", 1, true))
  T.ok(msg(ol.nn.mlp, {sizes = {2, 3, 2}, norm = "group"}):find("option 'norm'", 1, true))
  -- a descriptor changed by hand is still checked by the engine
  local d = ol.nn.batch_norm(3)
  d.momentum = 2
  T.ok(msg(ol.nn.sequential, {ol.nn.linear(2, 3), d}):find("batch_norm momentum must be in [0, 1]", 1, true))
  d = ol.nn.layer_norm(3)
  d.eps = -1
  T.ok(msg(ol.nn.sequential, {ol.nn.linear(2, 3), d}):find("layer_norm eps must be positive", 1, true))
end)

T.run()
