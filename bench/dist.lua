-- Data-parallel figures, run by bench/dist.sh under mpiexec with 1 or 2
-- ranks: one Fashion-MNIST epoch of the 784-256-128-10 f32 MLP (sgd +
-- momentum) through ol.train{distributed = true} at BATCH samples per rank, and the
-- cost of the collectives alone: an allreduce of a buffer the size of the
-- flat gradient (as every step does) and of the 2 numbers of the metrics.
--   mpiexec -np N optlua --threads 1 bench/dist.lua [BATCH=128] [EPOCHS=1]
local ol = require "optlua"
local batch = tonumber(arg[1]) or 128
local epochs = tonumber(arg[2]) or 1
local rank, size = ol.dist.rank(), ol.dist.size()

local train = ol.data.fashion_mnist{split = "train"}
ol.seed(1)
local net = ol.nn.mlp{sizes = {784, 256, 128, 10}, activation = "relu"}
local opt = ol.optim.sgd(net, {lr = 0.05, momentum = 0.9})
local s = ol.train{model = net, optimizer = opt, epochs = epochs, progress = false,
                   distributed = true,
                   data = ol.data.loader(train, {batch_size = batch, shuffle = true})}

-- The collectives alone, after a barrier so that all ranks start together.
local function per_call(t, reps)
  ol.dist.barrier()
  local t0 = ol.clock()
  for _ = 1, reps do ol.dist.allreduce(t) end
  return (ol.clock() - t0) / reps
end
local g = ol.zeros(net:grads():numel()) -- f32, as the model's gradient
per_call(g, 5)
local big = per_call(g, 200)
local small = per_call(ol.zeros(2, "f64"), 2000)

if rank == 0 then
  local steps = s.step
  print(string.format("ranks %d  batch %d/rank (global %d)  steps %d  %.0f samples/s  %.2fs  "
                      .. "epoch loss %.4f", size, batch, batch * size, steps, s.samples_per_s,
                      s.elapsed, s.epoch_loss))
  print(string.format("  in collectives: %.3fs = %.1f%% of the run, %.3f ms/step", s.comm_time,
                      100 * s.comm_time / s.elapsed, 1e3 * s.comm_time / steps))
  if size > 1 then -- in a world of one the collectives do nothing
    print(string.format("  allreduce alone: gradient %d x f32 (%.2f MB) %.3f ms; 2 x f64 %.1f us",
                        g:numel(), g:numel() * 4 / 1e6, big * 1e3, small * 1e6))
  end
end
