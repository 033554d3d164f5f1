-- ol.gradcheck: compares analytic gradients with central differences,
--   d_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps),
-- evaluated in f64 (an f32 model or point is copied to f64 first, so the
-- check measures the formulas, not f32 rounding). An element passes when
-- |analytic - numeric| <= atol + rtol * |numeric| (torch.allclose's rule,
-- as torch.autograd.gradcheck uses).
--
--   ok, max_abs, max_rel, where = ol.gradcheck(net, x, target [, kind] [, opts])
--   ok, max_abs, max_rel, where = ol.gradcheck(f, x0 [, opts])  -- f(x) -> loss, grad
--
-- opts: eps = 1e-6, atol = 1e-5, rtol = 1e-3, and for a model loss_options
-- (the loss's options, as net:loss takes them). where describes the worst
-- element (largest error relative to its tolerance), e.g.
-- "3.weight[2,5]: analytic 0.1234, numeric 0.1250". The net or point
-- given is left unchanged.
--
-- A net is checked in its mode (net.training). In training mode every
-- evaluation starts from the RNG state found, so each sees the same
-- dropout masks (one fixed sub-network) and the check is exact; the RNG
-- state is restored at the end, so the check draws nothing.
local ol = require "optlua"

-- The options table, argument arg of gradcheck; raised at the caller:
-- ol._args <- options <- check_fn / check_net (tail-called) <- caller.
local function options(o, arg)
  o = ol._args.options("gradcheck", arg, o, {
    eps = {"number", default = 1e-6, gt = 0},
    atol = {"number", default = 1e-5, min = 0},
    rtol = {"number", default = 1e-3, min = 0},
    loss_options = {"table"},
  }, 3)
  return o.eps, o.atol, o.rtol, o.loss_options
end

local function f64(t)
  if type(t) == "userdata" and t.dtype and t:dtype() ~= "f64" then return t:to("f64") end
  return t
end

-- Runs the comparison over n elements; numeric(i) and analytic(i) give the
-- two gradients, name(i) describes element i.
local function compare(n, numeric, analytic, name, atol, rtol)
  local ok, max_abs, max_rel, worst, worst_i, wa, wn = true, 0, 0, -1, nil, 0, 0
  for i = 1, n do
    local num, ana = numeric(i), analytic(i)
    local abs = math.abs(ana - num)
    local scale = math.max(math.abs(num), math.abs(ana))
    local rel = scale > 0 and abs / scale or 0
    local tol = atol + rtol * math.abs(num)
    if abs ~= abs or abs > tol then ok = false end
    if abs ~= abs then abs, rel = math.huge, math.huge end
    max_abs = math.max(max_abs, abs)
    max_rel = math.max(max_rel, rel)
    local badness = abs / tol
    if badness > worst then worst, worst_i, wa, wn = badness, i, ana, num end
  end
  local where = worst_i and string.format("%s: analytic %.10g, numeric %.10g", name(worst_i), wa, wn)
                or "no elements"
  return ok, max_abs, max_rel, where
end

local function check_net(net, x, target, kind, opts, arg)
  local eps, atol, rtol, lopts = options(opts, arg)
  local m = net:to("f64") -- a copy, in net's mode: the caller's net is not touched
  x, target = f64(x), f64(target)
  local rng = ol._rng_state()
  local function same_draws() ol._rng_set_state(rng) end
  local _, g = m:evaluate(x, target, kind, lopts)
  g = g:clone()
  local p = m:params()
  local entries = m:parameters()
  local function name(i)
    for k = #entries, 1, -1 do
      local e = entries[k]
      if i >= e.offset then
        local j = i - e.offset -- 0-based within the tensor
        local shape = e.tensor:shape()
        if #shape == 2 then
          return string.format("%s[%d,%d]", e.name, j // shape[2] + 1, j % shape[2] + 1)
        end
        return string.format("%s[%d]", e.name, j + 1)
      end
    end
    return "element " .. i
  end
  local function numeric(i)
    local v = p:get(i)
    p:set(i, v + eps)
    same_draws()
    local lp = m:loss(x, target, kind, lopts)
    p:set(i, v - eps)
    same_draws()
    local lm = m:loss(x, target, kind, lopts)
    p:set(i, v)
    return (lp - lm) / (2 * eps)
  end
  local r = table.pack(compare(p:numel(), numeric, function(i) return g:get(i) end, name, atol, rtol))
  same_draws()
  return table.unpack(r, 1, r.n)
end

local function check_fn(f, x0, opts)
  local eps, atol, rtol, lopts = options(opts, 3)
  if lopts then
    ol._args.error("gradcheck", 3, "option 'loss_options' is for a model (gradcheck(net, x, target, kind, opts))", 2)
  end
  if not ol.istensor(x0) then
    ol._args.error("gradcheck", 2, "tensor expected, got " .. type(x0), 2)
  end
  local x = x0:to("f64")
  local n = x:numel()
  local flat = x:view(n)
  local _, g = f(x)
  if not ol.istensor(g) or g:numel() ~= n then
    ol._args.error("gradcheck", 1, "f(x) must return loss, grad with grad shaped like x", 2)
  end
  g = g:to("f64"):reshape(n)
  local function numeric(i)
    local v = flat:get(i)
    flat:set(i, v + eps)
    local lp = f(x)
    flat:set(i, v - eps)
    local lm = f(x)
    flat:set(i, v)
    return (lp - lm) / (2 * eps)
  end
  return compare(n, numeric, function(i) return g:get(i) end,
                 function(i) return "x[" .. i .. "]" end, atol, rtol)
end

-- A function, or a callable object (ol.fn's test functions).
local function callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil and type(f) == "table"
end

return function(f, ...)
  if callable(f) then return check_fn(f, ...) end
  if type(f) == "userdata" and f.evaluate then
    local x, target, a3, a4 = ...
    if type(a3) == "string" or a3 == nil and a4 ~= nil then return check_net(f, x, target, a3, a4, 5) end
    return check_net(f, x, target, nil, a3, 4)
  end
  ol._args.error("gradcheck", 1, "model or function expected, got " .. type(f), 2)
end
