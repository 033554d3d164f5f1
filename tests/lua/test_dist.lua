-- ol.dist in a world of one (plain optlua, no MPI launcher): rank 0 of 1,
-- collectives leave the data as they are, bad arguments are rejected, and
-- ol.train{distributed = true} trains exactly as without it.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

T.test("a world of one", function()
  T.eq(ol.dist.rank(), 0)
  T.eq(ol.dist.size(), 1)
  T.eq(ol.dist.is_initialized(), false) -- MPI never started without a launcher
  T.ok(ol.dist.backend == "mpi" or ol.dist.backend == "none")
  T.eq(select("#", ol.dist.barrier()), 0)
end)

T.test("allreduce leaves the values, in place", function()
  for _, dt in ipairs{"f32", "f64"} do
    for _, op in ipairs{"sum", "mean", "max"} do
      local t = ol.tensor({{1.5, -2}, {3, 0.25}}, dt)
      local r = ol.dist.allreduce(t, op)
      T.ok(rawequal(r, t), "returns its argument")
      T.near_all(t, {{1.5, -2}, {3, 0.25}}, 0, dt .. " " .. op)
    end
  end
  local t = ol.tensor{4, 5}
  ol.dist.allreduce(t) -- "sum" by default
  T.near_all(t, {4, 5}, 0)
end)

T.test("broadcast is a no-op from rank 0", function()
  local t = ol.tensor({7, 8, 9}, "f64")
  T.ok(rawequal(ol.dist.broadcast(t), t))
  T.ok(rawequal(ol.dist.broadcast(t, 0), t))
  T.near_all(t, {7, 8, 9}, 0)
end)

T.test("bad arguments", function()
  T.raises("bad argument #1", ol.dist.allreduce, {1, 2})
  T.raises("tensor expected", ol.dist.allreduce, 3)
  T.raises("bad argument #2 to 'allreduce' (operation must be 'sum', 'mean' or 'max', got 'min')",
           ol.dist.allreduce, ol.zeros(2), "min")
  T.raises("contiguous tensor expected", ol.dist.allreduce, ol.zeros(3, 2):t())
  T.raises("contiguous tensor expected", ol.dist.broadcast, ol.zeros(4, 4):narrow(2, 1, 2))
  T.raises("bad argument #2", ol.dist.broadcast, ol.zeros(2), 1)
  T.raises("root 1 is not a rank (0..0)", ol.dist.broadcast, ol.zeros(2), 1)
  T.raises("root -1 is not a rank", ol.dist.broadcast, ol.zeros(2), -1)
  T.raises("bad argument #2", ol.dist.broadcast, ol.zeros(2), "x")
end)

-- Same seed, same data: the distributed path in a world of one must take
-- exactly the steps of the plain loop (no scaling, no communication).
local function train(distributed)
  ol.seed(3)
  local ds = ol.data.synthetic{kind = "blobs", n = 50, classes = 3, dtype = "f64"}
  local net = ol.nn.mlp{sizes = {2, 8, 3}, dtype = "f64"}
  local opt = ol.optim.adam(net, {lr = 0.01})
  local loader = ol.data.loader(ds, {batch_size = 8})
  local s = ol.train{model = net, optimizer = opt, data = loader, epochs = 2,
                     progress = false, distributed = distributed, validate = ds}
  return net:params():totable(), s, loader
end

T.test("ol.train distributed in a world of one", function()
  local p1, s1 = train(false)
  local p2, s2, loader = train(true)
  T.near_all(p2, p1, 0)
  T.eq(s2.step, s1.step)
  T.eq(s2.step, 14) -- 2 epochs of ceil(50 / 8) batches
  T.eq(s2.samples, 100)
  T.eq(s2.epoch_loss, s1.epoch_loss)
  T.eq(s2.val_loss, s1.val_loss)
  T.eq(s1.comm_time, nil)
  T.ok(type(s2.comm_time) == "number" and s2.comm_time >= 0)
  T.eq(loader.samples, 50) -- unsharded again after the run
end)

T.run()
