-- The optimizers recent work compares against, side by side: AdamW, LAMB,
-- Adafactor, schedule-free AdamW, Shampoo, SOAP and Lookahead(Adam), each
-- with a learning rate that suits it, on
--   1. Fashion-MNIST: an MLP 784-256-10 trained for a few epochs (where
--      the optimizer has weight decay, the biases in a parameter group
--      without it), and
--   2. an ill-conditioned quadratic (condition number 1e4, 50 dimensions),
--      where preconditioning shows most;
-- then one table: final loss, test accuracy (Fashion-MNIST), time.
--   optlua scripts/optim_modern.lua [--epochs N] [--quick] [--data DIR]
-- --quick trains on 6000 samples for one epoch (a check that it runs).
-- Without the dataset the Fashion-MNIST part is skipped, saying so.
local ol = require "optlua"

local o = {epochs = 3, quick = false, data = nil}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--quick" then o.quick = true
  elseif a == "--epochs" then i = i + 1; o.epochs = assert(tonumber(arg[i]), "--epochs N")
  elseif a == "--data" then i = i + 1; o.data = arg[i]
  else error("optim_modern.lua: unknown argument " .. a .. " (--epochs N, --quick, --data DIR)") end
  i = i + 1
end
if o.quick then o.epochs = 1 end

-- name, the optimizer whose options it takes, how to build it over a model,
-- a tensor or a list of groups, the lr it gets on Fashion-MNIST and on the
-- quadratic (each about the best of 1e-3, 1e-2, 0.1, 0.3, 1 there)
local CANDIDATES = {
  {"adamw", "adamw", function(p, lr) return ol.optim.adamw(p, {lr = lr, weight_decay = 1e-2}) end, 1e-3, 0.1},
  {"lamb", "lamb", function(p, lr) return ol.optim.lamb(p, {lr = lr, weight_decay = 1e-2}) end, 1e-2, 0.1},
  {"adafactor", "adafactor", function(p, lr) return ol.optim.adafactor(p, {lr = lr}) end, 1e-2, 0.3},
  {"sf_adamw", "sf_adamw", function(p, lr)
     return ol.optim.sf_adamw(p, {lr = lr, warmup_steps = 100})
   end, 2.5e-3, 0.3},
  -- the roots every 10 steps on the network (each refresh is an
  -- eigendecomposition of a 784 x 784 statistic), every step on the
  -- quadratic, where the first roots from one gradient would scale the
  -- directions it missed by eps^(-1/4) until the next refresh
  {"shampoo", "shampoo", function(p, lr, quadratic)
     return ol.optim.shampoo(p, {lr = lr, update_every = quadratic and 1 or 10})
   end, 0.02, 1},
  {"soap", "soap", function(p, lr) return ol.optim.soap(p, {lr = lr}) end, 3e-3, 0.1},
  {"lookahead(adam)", "adam", function(p, lr)
     return ol.optim.lookahead(ol.optim.adam(p, {lr = lr}), {k = 5, alpha = 0.5})
   end, 1e-3, 0.1},
}

local rows = {}
local function row(name) rows[name] = rows[name] or {}; return rows[name] end

-- ---- 1. Fashion-MNIST ----
local ok, train = pcall(ol.data.fashion_mnist, {split = "train", dir = o.data})
if not ok then
  print("Fashion-MNIST not found (" .. tostring(train) .. "): skipping part 1")
else
  local test = ol.data.fashion_mnist{split = "test", dir = o.data}
  if o.quick then train = train:split(0.1) end
  print(string.format("Fashion-MNIST: %d training samples, %d test, %d epoch(s), batch 128",
                      #train, #test, o.epochs))
  for _, c in ipairs(CANDIDATES) do
    local name, base, make, lr = c[1], c[2], c[3], c[4]
    ol.seed(1)
    local net = ol.nn.mlp{sizes = {784, 256, 10}}
    -- where the optimizer has weight decay: the biases in a group of their
    -- own without it
    local params = net
    if ol.optim.defaults(base).weight_decay ~= nil then
      params = {{params = net:select("weight$")}, {params = net:select("bias$"), weight_decay = 0}}
    end
    local opt = make(params, lr)
    local t0 = os.clock()
    local s = ol.train{model = net, optimizer = opt, epochs = o.epochs, progress = false,
                       data = ol.data.loader(train, {batch_size = 128, shuffle = true})}
    opt:eval() -- schedule-free: evaluate at its average (the others: nothing)
    local loss, acc = ol.evaluate(net, test)
    local r = row(name)
    r.fm_loss, r.fm_acc, r.fm_time = s.loss, acc, os.clock() - t0
    print(string.format("  %-16s train loss %.4f  test accuracy %5.2f%%  %.1f s", name, s.loss,
                        100 * acc, r.fm_time))
    assert(loss == loss, name .. ": the test loss is NaN")
  end
end

-- ---- 2. an ill-conditioned quadratic ----
-- f(w) = 1/2 (w - c)ᵀ A (w - c) with A's eigenvalues from 1 to 1e4, seen as
-- a 10 x 5 matrix, so the per-tensor rules (Shampoo, SOAP, Adafactor) see
-- its two sides.
local N, COND, STEPS = 50, 1e4, 500
local f = ol.fn.quadratic{cond = COND, dim = N}
print(string.format("\nA quadratic in %d dimensions (as a 10 x 5 matrix), condition number %g, "
                    .. "%d steps from the same start (loss %.4g)", N, COND, STEPS, (f(ol.tensor(f.start, "f64")))))
for _, c in ipairs(CANDIDATES) do
  local name, make = c[1], c[3]
  local w = ol.tensor(f.start, "f64"):view({10, 5})
  local opt = make(w, c[5], true)
  local function closure()
    local loss, g = f(w:view({N}))
    return loss, g:view({10, 5})
  end
  local t0 = os.clock()
  local loss
  for _ = 1, STEPS do loss = opt:step(closure) end
  opt:eval()
  loss = closure()
  local r = row(name)
  r.q_loss, r.q_time = loss, os.clock() - t0
end

-- ---- the table ----
print(string.format("\n%-16s %12s %10s %8s   %14s %8s", "optimizer", "FMNIST loss", "test acc",
                    "time", "quadratic loss", "time"))
for _, c in ipairs(CANDIDATES) do
  local r = rows[c[1]]
  print(string.format("%-16s %12s %10s %8s   %14.4g %7.2fs", c[1],
                      r.fm_loss and string.format("%.4f", r.fm_loss) or "-",
                      r.fm_acc and string.format("%.2f%%", 100 * r.fm_acc) or "-",
                      r.fm_time and string.format("%.1fs", r.fm_time) or "-", r.q_loss, r.q_time))
end
