-- ol.lr_find: the learning-rate range test (Smith 2017, "Cyclical Learning
-- Rates for Training Neural Networks", section 3.3; fastai's lr_find).
--
--   local r = ol.lr_find{model = net, optimizer = opt, data = loader,
--                        loss = "cross_entropy", loss_options = nil,
--                        from = 1e-7, to = 10, steps = 100,
--                        smoothing = 0.98, diverge = 4, progress = false}
--   r.lrs, r.losses, r.smoothed, r.suggestion, r.reason, r.stopped, r.steps
--   r:plot("lr.png")   tostring(r)
--
-- The sweep: step i (1..steps) trains one batch at
--   lr_i = from * (to / from)^((i - 1) / (steps - 1)),
-- through ol.train (max_steps, on_step at every step), the loader's epochs
-- run as many times as needed. With several parameter groups each group's
-- lr is lr_i times its ratio to group 1's lr before the sweep; r.lrs are
-- group 1's. The schedules attached to the optimizer are held meanwhile
-- (ol._hold_schedules), so that none overrides the sweep's lr.
--
-- Recorded per step: the batch's loss before the step's update (ol.train's
-- on_step `loss`) and its smoothed value, the bias-corrected moving
-- average  avg <- beta*avg + (1 - beta)*loss,  smoothed_i = avg/(1 - beta^i).
-- The sweep stops after a step whose smoothed loss exceeds diverge times
-- the least smoothed loss so far (r.stopped = "diverged", that step
-- recorded), or at a batch whose loss, gradient or update is not finite
-- (r.stopped = "nonfinite", that batch not recorded: ol.train's
-- on_nonfinite = "stop"), or at Ctrl-C (ol.train's; r.stopped =
-- "interrupted"); r.stopped is nil when every step ran.
--
-- The suggestion: the lr where the smoothed loss falls fastest against
-- log10(lr) on its way down to its minimum. The slope at point i is the
-- central difference (s[i+1] - s[i-1]) / (x[i+1] - x[i-1]), x = log10(lr),
-- one-sided at the two ends (s[2] - s[1]) / (x[2] - x[1]) and
-- (s[n] - s[n-1]) / (x[n] - x[n-1]). The candidates are the points from
-- floor(n/10) + 1 to the one of the least smoothed loss (the first of
-- equals): the first tenth is left out because the average there rests
-- on few batches and at such small lrs the loss hardly moves, so a slope
-- there is batch-to-batch noise; the points after the minimum are left
-- out because a fall there is a recovery from a blow-up, at lrs already
-- too large. The suggestion is the lr of the most negative slope among
-- them (the first of equals). Fewer than 3 points, or no negative slope
-- among the candidates, give no suggestion (nil) and r.reason says why.
--
-- Afterwards the model (parameters and buffers), the optimizer (state,
-- options of every group, t, mode) and the global RNG are as they were,
-- bit for bit: they are saved with ol.save to a temporary file before the
-- sweep and restored with ck:restore after it, also when it fails (the
-- error is raised again after the restore), and the file is removed. The
-- loader is not restored: its epoch count has moved on by the epochs the
-- sweep began (their shuffles drew from the RNG, which is restored).
local ol = require "optlua"
local args = ol._args

local Result = {}
Result.__index = Result
Result.__name = "optlua.lr_find"

local SPEC = {
  model = {"any", required = true},
  optimizer = {"any", required = true},
  data = {"any", required = true},
  loss = {"string", default = "cross_entropy"},
  loss_options = {"table"},
  from = {"number", default = 1e-7, gt = 0},
  to = {"number", default = 10, gt = 0},
  steps = {"integer", default = 100, min = 2},
  smoothing = {"number", default = 0.98, min = 0, lt = 1},
  diverge = {"number", default = 4, gt = 1},
  progress = {"boolean", default = false},
}

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

local type_name = args.got
local function is(v, name) return v ~= nil and args.typename(v) == name end

-- lr_i of the sweep.
local function sweep_lr(from, to, steps, i)
  return from * (to / from) ^ ((i - 1) / (steps - 1))
end

-- The suggestion rule (see the top of this file) on lrs and smoothed:
-- the index of the steepest descent, or nil and the reason.
local function steepest(lrs, smoothed)
  local n = #smoothed
  if n < 3 then
    return nil, string.format("only %d point%s recorded: a slope needs at least 3", n, n == 1 and "" or "s")
  end
  local x, low = {}, 1
  for i = 1, n do
    x[i] = math.log(lrs[i], 10)
    if smoothed[i] < smoothed[low] then low = i end
  end
  local best, index = math.huge, nil
  for i = n // 10 + 1, low do
    local a, b = math.max(i - 1, 1), math.min(i + 1, n)
    local slope = (smoothed[b] - smoothed[a]) / (x[b] - x[a])
    if slope < best then best, index = slope, i end
  end
  if not (best < 0) then
    return nil, low <= n // 10 and "the smoothed loss is least within the first tenth of the sweep: try a lower 'from'"
                or "the smoothed loss does not fall before its minimum (after the first tenth): try a lower 'from'"
  end
  return index
end
Result._steepest = steepest

-- The optimizer whose lr the sweep sets: a wrapper's inner (lookahead's).
local function lr_owner(opt)
  local inner = opt.inner
  return inner or opt
end

-- level: args.error <- check <- lr_find <- the caller.
local function check(cond, msg)
  if not cond then args.error("lr_find", 1, msg, 3) end
end

local function lr_find(opts)
  local o = args.options("lr_find", 1, opts, SPEC, 2)
  check(is(o.model, "optlua.model"), "option 'model' must be a model, got " .. type_name(o.model))
  check(is(o.optimizer, "optlua.optim"), "option 'optimizer' must be an optimizer, got " .. type_name(o.optimizer))
  check(is(o.data, "optlua.loader"), "option 'data' must be a loader (make one with ol.data.loader(ds, {...})), got "
        .. type_name(o.data))
  check(o.to > o.from, string.format("option 'to' (%.6g) must be greater than option 'from' (%.6g)", o.to, o.from))
  check(finite(o.to / o.from), string.format("options 'from' (%.6g) and 'to' (%.6g): their ratio is beyond the "
        .. "largest number", o.from, o.to))
  local net, opt, loader = o.model, o.optimizer, o.data
  local owner = lr_owner(opt)
  for _, name in ipairs{opt.name, owner.name} do
    check(ol.optim.kind(name) ~= "closure", string.format("option 'optimizer': %s needs a closure (it evaluates "
          .. "the loss several times per step), so it cannot step batch by batch at a given lr", name))
  end
  check(ol.optim.defaults(owner.name).lr ~= nil,
        string.format("option 'optimizer': %s has no 'lr' option to sweep", owner.name))
  local groups, ratio = owner.groups, {}
  for k, g in ipairs(groups) do ratio[k] = k == 1 and 1 or g.lr / groups[1].lr end
  check(#groups == 1 or groups[1].lr > 0,
        "option 'optimizer': group 1's lr is 0, so the other groups' lrs have no ratio to it")
  check(#loader > 0, "option 'data': the loader gives no batches")
  local from, to, steps, beta, diverge = o.from, o.to, o.steps, o.smoothing, o.diverge

  -- The snapshot: model, optimizer and RNG.
  local path = os.tmpname()
  local saved, why = pcall(ol.save, path, {model = net, optimizer = opt})
  if not saved then
    os.remove(path)
    error("lr_find: cannot save the model and optimizer before the sweep: " .. tostring(why), 2)
  end

  local r = setmetatable({lrs = {}, losses = {}, smoothed = {}, from = from, to = to}, Result)
  local lrs, losses, smoothed = r.lrs, r.losses, r.smoothed
  local function set_lr(i)
    local lr = sweep_lr(from, to, steps, i)
    for k, g in ipairs(groups) do g.lr = lr * ratio[k] end
    return lr
  end
  local every = math.max(1, steps // 10)
  local avg, least, lr = 0, math.huge, nil
  local function on_step(s)
    local i = #lrs + 1
    avg = beta * avg + (1 - beta) * s.loss
    local sm = avg / (1 - beta ^ i)
    lrs[i], losses[i], smoothed[i] = lr, s.loss, sm
    least = math.min(least, sm)
    if o.progress and (i % every == 0 or i == 1) then
      print(string.format("lr_find: step %d/%d  lr %.3e  loss %.4f  smoothed %.4f", i, steps, lr, s.loss, sm))
    end
    if sm > diverge * least or not finite(sm) then
      r.stopped = "diverged"
      return false
    end
    if i < steps then lr = set_lr(i + 1) end
  end

  local held = ol._hold_schedules(opt, true)
  local ok, res = pcall(function()
    lr = set_lr(1)
    return ol.train{model = net, optimizer = opt, data = loader, loss = o.loss, loss_options = o.loss_options,
                    epochs = (steps + #loader - 1) // #loader, max_steps = steps, every = 1,
                    on_step = on_step, on_nonfinite = "stop", progress = false}
  end)
  ol._hold_schedules(opt, held)
  local restored, rerr = pcall(function() ol.load(path):restore(net, opt) end)
  os.remove(path)
  if not restored then error("lr_find: cannot restore the model and optimizer after the sweep: " .. tostring(rerr), 2) end
  if not ok then
    -- ol.train's words about an option lr_find passed on, under lr_find's name
    local msg = type(res) == "string" and res:match("bad argument #1 to 'train' %((option '.*)%)$")
    if msg then args.error("lr_find", 1, msg, 2) end
    error(res, 0)
  end
  if res.interrupted then r.stopped = "interrupted"
  elseif res.nonfinite and not r.stopped then r.stopped = "nonfinite" end
  r.steps = #lrs
  local index, reason = steepest(lrs, smoothed)
  r.suggestion_index, r.reason = index, reason
  r.suggestion = index and lrs[index]
  if o.progress then print(tostring(r)) end
  return r
end

-- "lr_find: 100 steps, 1e-07 -> 10, suggestion 3.16e-03"
function Result:__tostring()
  local n = self.steps or #self.lrs
  local head = string.format("lr_find: %d step%s", n, n == 1 and "" or "s")
  if self.stopped then head = head .. " (stopped: " .. self.stopped .. ")" end
  local last = self.lrs[#self.lrs]
  local range = last and string.format(", %.3g -> %.3g", self.lrs[1], last) or ""
  local tail = self.suggestion and string.format(", suggestion %.2e", self.suggestion)
               or ", no suggestion: " .. tostring(self.reason)
  return head .. range .. tail
end

-- r:plot(file [, {title = ...}]) -> file: the raw loss (thin, light) and
-- the smoothed loss (bold) against the lr on a log axis, the suggestion
-- marked on the smoothed curve and named in the key. The y axis shows the
-- descent: from the least loss up to the highest loss before the smoothed
-- minimum, plus half that span for the climb after it, which leaves the
-- picture when it diverges (else its scale would flatten the rest).
function Result:plot(file, opts)
  opts = args.options("plot", 2, opts, {title = {"string"}}, 2)
  if type(file) ~= "string" then args.error("plot", 1, "picture file name expected", 2) end
  if #self.lrs == 0 then args.error("plot", 0, "no points were recorded", 2) end
  local n, low = #self.lrs, 1
  for i = 2, n do if self.smoothed[i] < self.smoothed[low] then low = i end end
  local lo, hi, top = math.huge, -math.huge, -math.huge
  for i = 1, n do
    for _, v in ipairs{self.losses[i], self.smoothed[i]} do
      if finite(v) then
        lo, top = math.min(lo, v), math.max(top, v)
        if i <= low then hi = math.max(hi, v) end
      end
    end
  end
  hi = math.min(top, hi + 0.5 * (hi - lo))
  local pad = hi > lo and 0.04 * (hi - lo) or math.max(math.abs(hi) * 0.1, 1e-3)
  local series = {
    {name = "loss", x = self.lrs, y = self.losses, color = "#9ecae1", width = 1},
    {name = "smoothed loss", x = self.lrs, y = self.smoothed, color = "#08519c", width = 2.5},
  }
  local i = self.suggestion_index
  if i then
    series[#series + 1] = {name = string.format("suggestion %.2e", self.suggestion), x = {self.lrs[i]},
                           y = {self.smoothed[i]}, color = "#d62728", points = true}
  end
  local title = opts and opts.title or string.format("LR range test: %d steps%s", #self.lrs,
                                                     self.stopped and (", stopped (" .. self.stopped .. ")") or "")
  return ol.plot.lines{series = series, logx = true, yrange = {lo - pad, hi + pad}, file = file,
                       title = title, xlabel = "learning rate", ylabel = "loss"}
end

return lr_find
