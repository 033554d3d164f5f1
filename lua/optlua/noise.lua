-- ol.noise: how noisy the mini-batch gradient is at the current parameters.
--
--   local r = ol.noise.scale(net, data, {small = 32, big = 512, batches = 8,
--                                        loss = "cross_entropy", loss_options = nil})
--   r.b_simple, r.trace_sigma, r.grad_sq, r.small, r.big, r.batches,
--   r.draws = {small_sq, big_sq, trace_sigma, grad_sq, b_simple}  (one value per draw)
--   local c = ol.noise.cosine(net, data, {batch_size = 128, pairs = 8, loss, loss_options})
--   c.mean, c.values, c.batch_size, c.pairs
--
-- The simple noise scale (McCandlish, Kaplan, Amodei et al. 2018, "An
-- Empirical Model of Large-Batch Training", Appendix A.1):
--   B_simple = tr(Σ) / |G|²,
-- G the gradient of the mean loss over the data, Σ the covariance of the
-- per-example gradients (the gradient of one example's loss). The squared
-- norm of the mean gradient of B examples drawn at random has
--   E|G_B|² = |G|² + tr(Σ)/B,
-- so two batch sizes s < b give the unbiased estimates
--   |G|²  ≈ (b |G_b|² − s |G_s|²) / (b − s)
--   tr Σ  ≈ (|G_s|² − |G_b|²) / (1/s − 1/b).
-- Each of `batches` draws takes a batch of s rows and, independently, one
-- of b rows (each without replacement, from ol's RNG) and gives one value
-- of each estimate; r.trace_sigma and r.grad_sq are their means over the
-- draws and r.b_simple = r.trace_sigma / r.grad_sq, a ratio of means as
-- the paper's ratio of two moving averages (the paper averages over the
-- steps of a run with an EMA; here the draws at one point replace it). The
-- per-draw ratio (r.draws.b_simple) is noisy and may be negative; the
-- draws give the spread of the means. When r.grad_sq <= 0 the gradient is
-- not resolved from the noise at these batch sizes and r.b_simple is
-- math.huge.
--
-- cosine: `pairs` pairs of independent batches of batch_size rows; each
-- value is gᵀh / (|g| |h|) for the two batches' mean gradients g and h.
--
-- Both evaluate in training mode (as ol.train computes its gradients:
-- dropout on, batch norm on the batch's statistics), then put back the
-- model's mode, its gradient buffer (net:grads()) and its buffers (batch
-- norm's running estimates, which training mode moves); the parameters are
-- only read. They draw from ol's RNG (the batches, dropout's masks).
--
-- data: a dataset (ol.data.*; its labels are the class ids that
-- cross_entropy takes), or {x = X, y = T}: X an N x features tensor and T
-- the targets as net:evaluate takes them (N class ids, or N x outputs
-- values, or N values for one output).
local ol = require "optlua"
local args = ol._args

local M = {}

local LOSS = {"string", default = "cross_entropy"}

local SCALE = {
  small = {"integer", default = 32, min = 1},
  big = {"integer", default = 512, min = 2},
  batches = {"integer", default = 8, min = 2},
  loss = LOSS,
  loss_options = {"table"},
}

local COSINE = {
  batch_size = {"integer", default = 128, min = 1},
  pairs = {"integer", default = 8, min = 1},
  loss = LOSS,
  loss_options = {"table"},
}

local type_name = args.typename
local function is(v, name) return v ~= nil and args.typename(v) == name end

-- The rows of data as tensors X (N x features, the model's dtype) and T
-- (the targets), checked against the model, the loss and its options.
-- level: of fname's caller.
local function rows(fname, net, data, loss, loss_options, level)
  local function fail(arg, msg) args.error(fname, arg, msg, level + 2) end
  if not is(net, "optlua.model") then fail(1, "model expected, got " .. type_name(net)) end
  local x, t
  local dataset = is(data, "optlua.dataset")
  if dataset then
    if #data == 0 then fail(2, "the data set is empty") end
    x, t = data.x, data.y
  elseif type(data) == "table" then
    x, t = data.x, data.y
    if not ol.istensor(x) or x:dim() ~= 2 then
      fail(2, "data.x must be an N x features tensor, got " .. type_name(x))
    end
    if not ol.istensor(t) then fail(2, "data.y must be a tensor of targets, got " .. type_name(t)) end
    if x:size(1) == 0 then fail(2, "the data set is empty") end
    if t:size(1) ~= x:size(1) then
      fail(2, string.format("data.x has %d rows but data.y %d", x:size(1), t:size(1)))
    end
  else
    fail(2, "dataset or {x = X, y = T} expected, got " .. type_name(data))
  end
  local want = net:sizes()[1]
  if x:size(2) ~= want then
    fail(2, string.format("the data have %d features, the model takes %d", x:size(2), want))
  end
  if x:dtype() ~= net:dtype() then x = x:to(net:dtype()) end
  if t:dtype() ~= net:dtype() then t = t:to(net:dtype()) end
  -- The loss, its options and the targets, by the model's own rules on the
  -- first row, in evaluation mode (nothing drawn, no running estimate moved).
  local training = net.training
  net:eval()
  local ok, err = pcall(net.loss, net, x:narrow(1, 1, 1), t:narrow(1, 1, 1), loss, loss_options)
  if training then net:train() end
  local n, inner = tostring(err):match("^bad argument #(%d+) to '[^']*' %((.*)%)$")
  if not ok and n == "4" then fail(3, "option 'loss': " .. inner) end
  if not ok and n == "5" then fail(3, "option 'loss_options': " .. inner) end
  if dataset and loss ~= "cross_entropy" then
    fail(2, "a dataset's labels are class ids, the target of cross_entropy; for loss '" .. loss
         .. "' give data = {x = X, y = T} with T as net:evaluate takes it")
  end
  if not ok then fail(2, "data.y: " .. (inner or tostring(err))) end
  return x, t, x:size(1)
end

-- Draws n of the N rows without replacement from ol's RNG: the first n
-- places of a partial Fisher-Yates shuffle of perm (which keeps being
-- shuffled from draw to draw: any order of perm gives a uniform draw).
local function draw(perm, N, n)
  local u = ol.rand(n, "f64"):totable()
  local ids = {}
  for i = 1, n do
    local j = i + math.floor(u[i] * (N - i + 1))
    if j > N then j = N end
    perm[i], perm[j] = perm[j], perm[i]
    ids[i] = perm[i]
  end
  return ids
end

-- Runs body(grad) in training mode, grad(ids) giving the mean gradient of
-- rows ids (net:grads(), overwritten by the next call); then puts back the
-- mode, the gradient buffer and the buffers, also when body fails.
local function with_gradients(net, x, t, o, body)
  local g = net:grads()
  local saved_g = g:clone()
  local bufs, saved_b = net:buffers(), {}
  for k, b in ipairs(bufs) do saved_b[k] = b.tensor:clone() end
  local training = net.training
  net:train()
  local function grad(ids)
    local _, gr = net:evaluate(x:index(ids), t:index(ids), o.loss, o.loss_options)
    return gr
  end
  local ok, res = pcall(body, grad)
  g:copy_(saved_g)
  for k, b in ipairs(bufs) do b.tensor:copy_(saved_b[k]) end
  if not training then net:eval() end
  if not ok then error(res, 0) end
  return res
end

local function identity(N)
  local perm = {}
  for i = 1, N do perm[i] = i end
  return perm
end

-- A message naming the batch size that the data cannot fill.
local function check_size(fname, name, n, N)
  if n > N then
    args.error(fname, 3, string.format("option '%s' (%d) is larger than the data (%d rows)", name, n, N), 3)
  end
end

function M.scale(net, data, opts)
  local o = args.options("noise.scale", 3, opts, SCALE, 2)
  local x, t, N = rows("noise.scale", net, data, o.loss, o.loss_options, 2)
  local s, b = o.small, o.big
  if s >= b then
    args.error("noise.scale", 3, string.format("option 'small' (%d) must be less than option 'big' (%d)", s, b), 2)
  end
  check_size("noise.scale", "big", b, N)
  local draws = {small_sq = {}, big_sq = {}, trace_sigma = {}, grad_sq = {}, b_simple = {}}
  with_gradients(net, x, t, o, function(grad)
    local perm = identity(N)
    for k = 1, o.batches do
      local gs = grad(draw(perm, N, s))
      local sq_s = gs:dot(gs)
      local gb = grad(draw(perm, N, b))
      local sq_b = gb:dot(gb)
      local tr = (sq_s - sq_b) / (1 / s - 1 / b)
      local g2 = (b * sq_b - s * sq_s) / (b - s)
      draws.small_sq[k], draws.big_sq[k] = sq_s, sq_b
      draws.trace_sigma[k], draws.grad_sq[k], draws.b_simple[k] = tr, g2, tr / g2
    end
  end)
  local tr, g2 = 0, 0
  for k = 1, o.batches do
    tr = tr + draws.trace_sigma[k]
    g2 = g2 + draws.grad_sq[k]
  end
  tr, g2 = tr / o.batches, g2 / o.batches
  return {b_simple = g2 > 0 and tr / g2 or math.huge, trace_sigma = tr, grad_sq = g2, small = s, big = b,
          batches = o.batches, draws = draws}
end

function M.cosine(net, data, opts)
  local o = args.options("noise.cosine", 3, opts, COSINE, 2)
  local x, t, N = rows("noise.cosine", net, data, o.loss, o.loss_options, 2)
  check_size("noise.cosine", "batch_size", o.batch_size, N)
  local values = with_gradients(net, x, t, o, function(grad)
    local perm, v = identity(N), {}
    for k = 1, o.pairs do
      local g = grad(draw(perm, N, o.batch_size)):clone()
      local h = grad(draw(perm, N, o.batch_size))
      v[k] = g:dot(h) / math.sqrt(g:dot(g) * h:dot(h))
    end
    return v
  end)
  local sum = 0
  for _, v in ipairs(values) do sum = sum + v end
  return {mean = sum / #values, values = values, batch_size = o.batch_size, pairs = o.pairs}
end

return M
