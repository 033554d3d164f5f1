-- ol.plateau: plateau detection with the semantics of PyTorch's
-- ReduceLROnPlateau (torch/optim/lr_scheduler.py, step() and is_better()):
--
--   better(a, best):  min/rel  a < best * (1 - threshold)
--                     min/abs  a < best - threshold
--                     max/rel  a > best * (1 + threshold)
--                     max/abs  a > best + threshold
--   best starts at +inf (min) or -inf (max), so the first value becomes best;
--   update(v): if better: best = v, bad_epochs = 0, else bad_epochs += 1;
--              if cooldown_counter > 0: cooldown_counter -= 1, bad_epochs = 0;
--              if bad_epochs > patience: a reduction is due (update returns
--              true), cooldown_counter = cooldown, bad_epochs = 0.
--
--   local p = ol.plateau{mode = "min", patience = 10, threshold = 1e-4,
--                        threshold_mode = "rel", cooldown = 0,
--                        factor = 0.1, min = 0}
--   if p:update(val_loss, net) then opt.lr = p:reduce(opt.lr) end
--   p.best, p.bad_epochs, p.cooldown_counter, p.epochs, p.diagnosis
--
-- When a reduction is due and a model is given (p:update(v, net [, x])),
-- p.diagnosis explains the plateau (see "diagnosis" below): share of
-- saturated tanh / sigmoid outputs and of dead ReLUs on the batch x,
-- gradient and weight norms, and a sentence. The module is callable (ol.plateau{...}); ol.plateau.Plateau is
-- the class and ol.plateau.diagnose(net [, x [, curvature]]) the diagnosis alone.
--
-- Curvature: given an ol.spectrum tracker or ol.spectrum.eigs result, at
-- construction (ol.plateau{curvature = tracker}) or per call
-- (p:update(v, net, x, {curvature = tracker})), the diagnosis reads its
-- latest lambda_min and lambda_max (ol.spectrum.extremes): lambda_min <
-- -SADDLE_TOL * |lambda_max| means negative curvature, a saddle rather
-- than a minimum, and the message opens with that; a Ritz value is a
-- Rayleigh quotient, so a negative smallest one proves a negative
-- eigenvalue. Without a model the diagnosis holds the curvature alone.
local M = {}

local Plateau = {}
Plateau.__index = Plateau
M.Plateau = Plateau

local args = (package.loaded.optlua or optlua or require("optlua"))._args

-- Checked at level 3: ol._args <- new <- M.new or the module's __call <- caller.
local function new(opts)
  local o = args.options("plateau", 1, opts, {
    mode = {"string", default = "min", one_of = {"min", "max"}},
    patience = {"integer", default = 10, min = 0},
    threshold = {"number", default = 1e-4, min = 0},
    threshold_mode = {"string", default = "rel", one_of = {"rel", "abs"}},
    cooldown = {"integer", default = 0, min = 0},
    factor = {"number", default = 0.1, gt = 0, lt = 1},
    min = {"number", min = 0},
    min_lr = {"number", min = 0}, -- torch's name for min
    curvature = {"table"},
  }, 3)
  if o.min_lr ~= nil then
    if o.min ~= nil then args.error("plateau", 1, "give 'min' or 'min_lr', not both", 3) end
    o.min = o.min_lr
  end
  o.min_lr = nil
  if o.min == nil then o.min = 0 end
  local p = setmetatable(o, Plateau)
  p:reset()
  return p
end

function Plateau:reset()
  self.best = self.mode == "min" and math.huge or -math.huge
  self.bad_epochs = 0
  self.cooldown_counter = 0
  self.epochs = 0
  self.reductions = 0
  self.diagnosis = nil
  return self
end

function Plateau:is_better(a, best)
  local th = self.threshold
  if self.mode == "min" then
    if self.threshold_mode == "rel" then return a < best * (1 - th) end
    return a < best - th
  end
  if self.threshold_mode == "rel" then return a > best * (th + 1) end
  return a > best + th
end

function Plateau:in_cooldown() return self.cooldown_counter > 0 end

-- value: the monitored metric; net (optional): the model, for the diagnosis;
-- x (optional): a batch to run through the model for the diagnosis (default:
-- the model's last forward batch, where it exposes it); opts (optional):
-- {curvature = tracker or eigs result}, for this call instead of the one
-- given at construction.
function Plateau:update(value, net, x, opts)
  if type(value) ~= "number" then
    args.error("update", 1, "number expected, got " .. type(value), 2)
  end
  local o = args.options("update", 4, opts, {curvature = {"table"}}, 2)
  local curvature = o.curvature or self.curvature
  self.epochs = self.epochs + 1
  if self:is_better(value, self.best) then
    self.best = value
    self.bad_epochs = 0
  else
    self.bad_epochs = self.bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.bad_epochs = 0 -- bad epochs during cooldown do not count
  end
  if self.bad_epochs > self.patience then
    self.cooldown_counter = self.cooldown
    self.bad_epochs = 0
    self.reductions = self.reductions + 1
    if net ~= nil or curvature ~= nil then
      self.diagnosis = M.diagnose(net, x, curvature)
    end
    return true
  end
  return false
end
Plateau.step = Plateau.update

-- The reduced value of a plateau: max(v * factor, min).
function Plateau:reduce(v)
  return math.max(v * self.factor, self.min)
end

function Plateau:state()
  return {best = self.best, bad_epochs = self.bad_epochs, epochs = self.epochs,
          cooldown_counter = self.cooldown_counter, reductions = self.reductions}
end

function Plateau:load_state(s)
  for k, v in pairs(s) do self[k] = v end
  return self
end

function M.new(opts) return (new(opts)) end

-- ---- diagnosis --------------------------------------------------------------
-- diagnose(net [, x]) -> table: why a model's loss may look flat.
--
-- With a batch x (N x in), x is run through the layers again from the
-- model's own parameters (net:parameters(), the layer list from
-- net:layers()), and for every activation layer the pre-activations u are
-- examined, one (unit, sample) pair at a time:
--   saturated: a tanh/sigmoid output within 0.01 of an asymptote (|u| >
--     atanh(0.99) = 2.647 for tanh, |u| > logit(0.99) = 4.595 for sigmoid:
--     its derivative is then below 2% / 4% of its peak). A unit saturated
--     on half the samples passes back half the gradient it would: the share
--     of saturated pairs is what slows learning, and what is reported;
--     a unit saturated on at least 90% of the samples also counts as a
--     saturated unit;
--   gain: the derivative f'(u) / f'(0), averaged over the pairs: the factor
--     by which the units scale the gradient that passes through them
--     (1: linear, 0: fully saturated);
--   dead: a ReLU unit with u <= 0 on every sample (zero output, zero gradient).
-- Without x only the norms are reported. Fields:
--   saturated, dead        shares in [0, 1] (nil when unknown / no such units):
--                          saturated of the (unit, sample) pairs, dead of the units
--   gain                   as above (nil without tanh/sigmoid units or x)
--   saturated_units, tanh_sigmoid_units, dead_units, relu_units
--   grad_norm, weight_norm (all weights, biases excluded), weight_scale (the
--   largest per-layer RMS row norm of W: the std of a pre-activation for
--   unit-variance inputs), layers (per activation layer), message (a sentence).
local TANH_SAT, SIGM_SAT, SAT_SHARE = 2.6467, 4.5951, 0.9
-- The diagnosis' thresholds: a share of saturated pairs or dead units that
-- explains a plateau; a weight scale past tanh's linear range; a gradient
-- norm that is tiny beside the weights'.
local SATURATED, DEAD, BIG_WEIGHTS, TINY_GRAD = 0.2, 0.2, 2.5, 1e-6
-- lambda_min below -SADDLE_TOL * |lambda_max|: negative curvature beyond
-- the noise of an eigenvalue estimate.
local SADDLE_TOL = 1e-3
M.SADDLE_TOL = SADDLE_TOL

local function model_layers(net)
  local ok, layers = pcall(function() return net:layers() end)
  return ok and type(layers) == "table" and layers or nil
end

local function pct(v) return string.format("%.0f%%", 100 * v) end

-- The batch h (n x w) through norm layer i (net:layers()[i] is l): layer
-- norm per row; batch norm with the batch's statistics in training mode,
-- its running estimates (net:buffers()) in evaluation mode, as the net's
-- own forward pass does; then its weight and bias when it has them.
local function normalise(net, h, l, i, params)
  local u = h:totable()
  local n, w = #u, #u[1]
  local mean, var = {}, {}
  local rows = l.kind == "layer_norm"
  if rows then
    for r = 1, n do
      local s, q = 0, 0
      for c = 1, w do s = s + u[r][c] end
      mean[r] = s / w
      for c = 1, w do q = q + (u[r][c] - mean[r]) ^ 2 end
      var[r] = q / w
    end
  elseif net.training then
    for c = 1, w do
      local s, q = 0, 0
      for r = 1, n do s = s + u[r][c] end
      mean[c] = s / n
      for r = 1, n do q = q + (u[r][c] - mean[c]) ^ 2 end
      var[c] = q / n
    end
  else
    for _, b in ipairs(net:buffers()) do
      if b.name == i .. ".running_mean" then mean = b.tensor:totable() end
      if b.name == i .. ".running_var" then var = b.tensor:totable() end
    end
  end
  local g = params[i .. ".weight"] and params[i .. ".weight"]:totable()
  local b = params[i .. ".bias"] and params[i .. ".bias"]:totable()
  for r = 1, n do
    for c = 1, w do
      local k = rows and r or c
      local v = (u[r][c] - mean[k]) / math.sqrt(var[k] + l.eps)
      u[r][c] = g and v * g[c] + b[c] or v
    end
  end
  return (package.loaded.optlua or optlua or require("optlua")).tensor(u, h:dtype())
end

local function sentence(d)
  local big = d.weight_scale and d.weight_scale > BIG_WEIGHTS
  if d.saturated and d.saturated >= SATURATED then
    local s = string.format("%s of the tanh/sigmoid outputs are saturated (the units pass back %s of the "
      .. "gradient on average)", pct(d.saturated), pct(d.gain))
    if big then
      return s .. string.format(" and the weights are large (scale %.1f, norm %.1f): the plateau is likely "
        .. "saturation rather than a minimum; try smaller initial weights or a lower lr", d.weight_scale, d.weight_norm)
    end
    return s .. string.format(" (weight norm %.1f): the plateau is likely saturation rather than a minimum; "
      .. "try normalised inputs, smaller initial weights or a lower lr", d.weight_norm)
  end
  if d.dead and d.dead >= DEAD then
    return string.format("%s of ReLU units are dead (zero on every sample): they no longer learn; "
      .. "try a lower lr, leaky_relu or a different initialisation", pct(d.dead))
  end
  local units = d.saturated or d.dead
  if not units and big and d.squashing then
    return string.format("the weights are large (scale %.1f: pre-activations of unit-variance inputs have "
      .. "that std, beyond tanh's linear range), so saturated units are likely (no batch given, so units "
      .. "were not examined: p:update(loss, net, x) looks at them); gradient norm %.3g",
      d.weight_scale, d.grad_norm)
  end
  if d.grad_norm < TINY_GRAD * math.max(1, d.weight_norm) then
    return string.format("the gradient is tiny (norm %.2g)%s: this looks like a genuine minimum "
      .. "or a flat region; a lower lr will only refine it", d.grad_norm,
      units and " and the units are healthy" or " (no batch given, so units were not examined)")
  end
  if not units then
    return string.format("gradient norm %.3g, weight norm %.1f (no batch given, so units were not "
      .. "examined): the loss has stopped improving at this lr; reducing it is the usual step",
      d.grad_norm, d.weight_norm)
  end
  return string.format("units are healthy (%s of outputs saturated, %s of units dead) and the gradient is "
    .. "not small (norm %.3g): the lr is probably too large to descend further; reducing it is the usual step",
    pct(d.saturated or 0), pct(d.dead or 0), d.grad_norm)
end

-- The curvature's fields of d and the sentence that opens the message
-- (nil without a negative curvature).
local function curvature_of(d, curvature)
  local spectrum = (package.loaded.optlua or optlua or require("optlua")).spectrum
  local lmin, lmax = spectrum.extremes(curvature)
  d.lambda_min, d.lambda_max = lmin, lmax
  if lmin == nil then return nil end
  d.saddle = lmin < -SADDLE_TOL * math.abs(lmax or lmin)
  if d.saddle then
    return string.format("negative curvature (λ_min = %.3g%s): a saddle, not a minimum", lmin,
      lmax and string.format(", λ_max = %.3g", lmax) or "")
  end
  return nil
end

M.diagnose = function(net, x, curvature)
  if net == nil and curvature == nil then
    args.error("diagnose", 1, "a model (or a curvature record as argument 3) expected, got nil", 2)
  end
  local d = {layers = {}}
  local saddle = curvature ~= nil and curvature_of(d, curvature) or nil
  if net == nil then
    d.message = saddle or (d.lambda_min and string.format("no negative curvature (λ_min = %.3g): not a saddle",
      d.lambda_min) or "no curvature recorded yet")
    return d
  end
  local params = {}
  local wsq, scale = 0, 0
  for _, p in ipairs(net:parameters()) do
    params[p.name] = p.tensor
    if p.name:match("weight$") and p.tensor:dim() == 2 then -- linear layers' (not a norm's)
      local n = p.tensor:norm()
      wsq = wsq + n * n
      scale = math.max(scale, n / math.sqrt(p.tensor:size(1)))
    end
  end
  d.weight_norm = math.sqrt(wsq)
  d.weight_scale = scale
  d.grad_norm = net:grads():norm()
  local layers = model_layers(net)
  for _, l in ipairs(layers or {}) do
    if l.kind == "tanh" or l.kind == "sigmoid" then d.squashing = true end
  end
  if x and layers then
    local h = x
    local sat, sat_pairs, gain, pairs, ts, dead, rs = 0, 0, 0, 0, 0, 0, 0
    for i, l in ipairs(layers) do
      if l.kind == "linear" then
        h = h:mm(params[i .. ".weight"]:t()) + params[i .. ".bias"]
      elseif l.kind == "tanh" or l.kind == "sigmoid" or l.kind == "relu" then
        local u = h:totable()
        local n, m = #u, #u[1]
        local info = {index = i, kind = l.kind, units = m, saturated = 0, dead = 0}
        for j = 1, m do
          if l.kind == "relu" then
            local alive = false
            for r = 1, n do if u[r][j] > 0 then alive = true break end end
            if not alive then info.dead = info.dead + 1 end
          else
            local lim, c = l.kind == "tanh" and TANH_SAT or SIGM_SAT, 0
            for r = 1, n do
              local v = u[r][j]
              if math.abs(v) > lim then c = c + 1 end
              -- f'(u) / f'(0): tanh 1 - tanh(u)^2 = 4 e^-2|u| / (1 + e^-2|u|)^2,
              -- sigmoid s (1 - s) / (1/4) = 4 e^-|u| / (1 + e^-|u|)^2
              local e = math.exp(-(l.kind == "tanh" and 2 or 1) * math.abs(v))
              gain = gain + 4 * e / (1 + e) ^ 2
            end
            sat_pairs = sat_pairs + c
            if c >= SAT_SHARE * n then info.saturated = info.saturated + 1 end
          end
        end
        if l.kind == "relu" then
          dead, rs = dead + info.dead, rs + m
          h = h:clamp_(0, math.huge)
        else
          sat, ts, pairs = sat + info.saturated, ts + m, pairs + n * m
          h = l.kind == "tanh" and h:tanh() or h:sigmoid()
        end
        d.layers[#d.layers + 1] = info
      elseif l.kind == "layer_norm" or l.kind == "batch_norm" then
        h = normalise(net, h, l, i, params)
      elseif l.kind == "leaky_relu" then
        local neg = h:clone():clamp_(-math.huge, 0)
        h = h:clamp_(0, math.huge) + neg * (l.slope or 0.01)
      elseif l.kind == "gelu" then
        -- tanh approximation: enough to carry the batch to the next layer
        local c = math.sqrt(2 / math.pi)
        h = h * (((h + h:pow(3) * 0.044715) * c):tanh() + 1) * 0.5
      elseif l.kind == "silu" then
        h = h * h:sigmoid()
      elseif l.kind == "elu" then
        h = h:clone():clamp_(0, math.huge) + (h:clone():clamp_(-math.huge, 0):exp() - 1)
      elseif l.kind == "softplus" then
        -- max(h, 0) + log(1 + exp(-|h|)): log(1 + exp(h)) without overflow
        h = h:clone():clamp_(0, math.huge) + ((h:abs() * -1):exp() + 1):log()
      end
    end
    if ts > 0 then
      d.saturated, d.gain = sat_pairs / pairs, gain / pairs
      d.saturated_units, d.tanh_sigmoid_units = sat, ts
    end
    if rs > 0 then d.dead, d.dead_units, d.relu_units = dead / rs, dead, rs end
  end
  d.message = saddle and (saddle .. "; " .. sentence(d)) or sentence(d)
  return d
end

return setmetatable(M, {__call = function(_, opts) return (new(opts)) end})
