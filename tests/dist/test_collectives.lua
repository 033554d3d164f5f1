-- ol.dist with N >= 2 ranks (run by mpiexec, tests/dist/CMakeLists.txt):
-- collectives against values worked out by hand, and a distributed ol.train
-- whose ranks start from different weights and RNG states ending with the
-- same parameters (and weight average) everywhere. Any failure exits non-zero on that rank,
-- which makes mpiexec fail the test.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "../lua/testlib.lua")
local ol = require "optlua"
local r, N = ol.dist.rank(), ol.dist.size()

T.test("a launched world", function()
  T.ok(N >= 2, "run me with mpiexec -np 2 or more")
  T.ok(r >= 0 and r < N)
  T.eq(ol.dist.is_initialized(), true)
  T.eq(ol.dist.backend, "mpi")
end)

T.test("allreduce sum, mean, max", function()
  -- rank r holds {r + 1, -2 (r + 1)}: sums N(N+1)/2 and -N(N+1).
  local s = N * (N + 1) / 2
  for _, dt in ipairs{"f32", "f64"} do
    local t = ol.tensor({r + 1, -2 * (r + 1)}, dt)
    T.ok(rawequal(ol.dist.allreduce(t, "sum"), t))
    T.near_all(t, {s, -2 * s}, 0, dt .. " sum")
    t = ol.tensor({r + 1, -2 * (r + 1)}, dt)
    ol.dist.allreduce(t, "mean")
    T.near_all(t, {s / N, -2 * s / N}, 1e-6, dt .. " mean")
    t = ol.tensor({{r + 1, -2 * (r + 1)}}, dt)
    ol.dist.allreduce(t, "max")
    T.near_all(t, {{N, -2}}, 0, dt .. " max")
  end
  local big = ol.full({300, 1000}, r + 1, "f64") -- more than one message
  ol.dist.allreduce(big)
  T.eq(big:min(), s)
  T.eq(big:max(), s)
end)

T.test("broadcast from a root", function()
  local t = ol.tensor({r, 10 * r, 100 * r}, "f64")
  ol.dist.broadcast(t, N - 1)
  T.near_all(t, {N - 1, 10 * (N - 1), 100 * (N - 1)}, 0)
  T.raises("root " .. N .. " is not a rank", ol.dist.broadcast, t, N)
  ol.dist.barrier()
end)

T.test("distributed ol.train keeps the ranks identical", function()
  ol.seed(1) -- the same data on every rank
  local ds = ol.data.synthetic{kind = "spirals", n = 100, classes = 3, dtype = "f64"}
  ol.seed(100 + r) -- different weights and shuffles on each rank
  local net = ol.nn.mlp{sizes = {2, 8, 3}, dtype = "f64"}
  local opt = ol.optim.sgd(net, {lr = 0.1, momentum = 0.9})
  local loader = ol.data.loader(ds, {batch_size = 10})
  local s = ol.train{model = net, optimizer = opt, data = loader, epochs = 2,
                     progress = false, distributed = true}
  local batches = math.ceil(100 / (10 * N))
  T.eq(s.step, 2 * batches)
  T.eq(s.samples, 200) -- global figures on every rank
  local p = net:params()
  local hi = p:clone()
  ol.dist.allreduce(hi, "max")
  local lo = -p
  ol.dist.allreduce(lo, "max")
  T.near_all(hi, p:totable(), 0, "max over ranks == own")
  T.near_all(-lo, p:totable(), 0, "min over ranks == own")
  local loss = ol.tensor({s.epoch_loss}, "f64")
  ol.dist.allreduce(loss, "max")
  T.eq(loss[1], s.epoch_loss)
end)

T.test("a weight average under distributed ol.train is the same on every rank", function()
  ol.seed(5)
  local ds = ol.data.synthetic{kind = "blobs", n = 100, classes = 3, dtype = "f64"}
  ol.seed(200 + r) -- each rank makes its average from its own first weights
  local net = ol.nn.mlp{sizes = {2, 8, 3}, dtype = "f64"}
  local opt = ol.optim.sgd(net, {lr = 0.1, momentum = 0.9})
  local ema = ol.average.ema(net, {decay = 0.9, warmup = true})
  local s = ol.train{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 10}),
                     epochs = 2, validate = ds, average = ema, progress = false, distributed = true}
  T.eq(ema.t, s.step)
  local e = ema.weights
  local hi, lo = e:clone(), -e
  ol.dist.allreduce(hi, "max")
  ol.dist.allreduce(lo, "max")
  T.near_all(hi, e:totable(), 0, "max over ranks == own")
  T.near_all(-lo, e:totable(), 0, "min over ranks == own")
  T.ok((e - net:params()):abs():max() > 0, "the average is not the weights")
end)

T.run()
