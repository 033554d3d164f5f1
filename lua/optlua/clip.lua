-- ol.clip: gradient clipping, with the semantics of torch.nn.utils:
--
--   clip_grad_norm_:  total = || (||g_1||_p, ..., ||g_n||_p) ||_p   (p = inf: max |g|)
--                     coef  = max_norm / (total + 1e-6)
--                     if coef < 1: every g *= coef        (in place)
--                     returns total, the norm BEFORE clipping
--   clip_grad_value_: every element clamped to [-v, v]   (in place)
--
-- grads: a tensor, a list of tensors, or a model (its net:grads() is used).
-- Gain clipping is not here: it is adaptive_gains' gain_min/gain_max and
-- rprop's step_sizes, live option fields (see scripts/gain_clipping.lua).
local M = {}

local ol = package.loaded.optlua or optlua or require("optlua")

-- The tensors of grads, as a list; fname/level for the error.
local function tensors(grads, fname)
  if ol.istensor(grads) then return {grads} end
  if type(grads) == "table" and getmetatable(grads) == nil then
    if #grads == 0 then
      ol._args.error(fname, 1, "empty list of tensors", 3)
    end
    for i, g in ipairs(grads) do
      if not ol.istensor(g) then
        ol._args.error(fname, 1, string.format("tensor expected at [%d], got %s", i, type(g)), 3)
      end
    end
    return grads
  end
  -- a model: anything with a grads method returning a tensor
  local ok, g = pcall(function() return grads:grads() end)
  if ok and ol.istensor(g) then return {g} end
  ol._args.error(fname, 1, "tensor, list of tensors or model expected, got " .. type(grads), 3)
end

function M.grad_norm(grads, max_norm, p)
  local list = tensors(grads, "grad_norm")
  if type(max_norm) ~= "number" or max_norm ~= max_norm or max_norm < 0 then
    ol._args.error("grad_norm", 2, "max_norm must be a number >= 0, got " .. tostring(max_norm))
  end
  if p == nil then p = 2 end
  if p == "inf" then p = math.huge end
  if type(p) ~= "number" or not (p > 0) then
    ol._args.error("grad_norm", 3, "norm type must be a number > 0 or 'inf', got " .. tostring(p))
  end
  local total
  if p == math.huge then
    total = 0
    for _, g in ipairs(list) do
      if g:numel() > 0 then
        local n = g:norm(math.huge)
        if n > total or n ~= n then total = n end
      end
    end
  else
    local acc = 0
    for _, g in ipairs(list) do
      if g:numel() > 0 then acc = acc + g:norm(p) ^ p end
    end
    total = acc ^ (1 / p)
  end
  local coef = max_norm / (total + 1e-6)
  -- torch multiplies by min(coef, 1) always; skipping the multiply by 1 is
  -- the same result. A NaN/inf total gives coef NaN/0, as in torch.
  if not (coef >= 1) then
    for _, g in ipairs(list) do g:mul_(coef) end
  end
  return total
end

function M.grad_value(grads, v)
  local list = tensors(grads, "grad_value")
  if type(v) ~= "number" or v ~= v or v < 0 then
    ol._args.error("grad_value", 2, "clip value must be a number >= 0, got " .. tostring(v))
  end
  for _, g in ipairs(list) do g:clamp_(-v, v) end
  return grads
end

return M
