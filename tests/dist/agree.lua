-- One ol.train{distributed = true} run on every rank, with one thing made
-- different on the last rank, for tests/dist/test_agree.py:
--
--   optlua agree.lua CASE OUT
--
-- CASE: "same" (nothing differs), batch, epochs, lr, optimizer, activation,
-- loss, loss_options, size, samples (ranks that disagree: every rank must fail with the
-- same message); "interrupt" (the last rank sends itself SIGINT at step 5:
-- every rank must stop before step 6); "absent" (the last rank never calls
-- ol.train: the others must fail after join_timeout). Each rank writes
-- "ok STEP INTERRUPTED" or "error MESSAGE" to OUT.RANK.
local ol = require "optlua"
local case, out = arg[1], arg[2]
local rank, size = ol.dist.rank(), ol.dist.size()
local odd = rank == size - 1 -- the rank that differs

local function pick(name, usual, other)
  if case == name and odd then return other end
  return usual
end

ol.seed(1)
local ds = ol.data.synthetic{kind = "blobs", n = pick("samples", 96, 100), classes = 3}
local net = ol.nn.mlp{sizes = pick("size", {2, 8, 3}, {2, 9, 3}),
                      activation = pick("activation", "tanh", "relu")}
local opt = ol.optim[pick("optimizer", "sgd", "adam")](net, {lr = pick("lr", 0.1, 0.2)})
local ck = out .. ".safetensors"
local f = assert(io.open(out .. "." .. rank, "w"))

if case == "absent" and odd then
  f:write("absent\n")
  f:close()
  os.execute("sleep 30")
  os.exit(0)
end

local ok, res = pcall(ol.train, {
  model = net, optimizer = opt, progress = false, distributed = true,
  data = ol.data.loader(ds, {batch_size = pick("batch", 8, 16)}),
  epochs = pick("epochs", 2, 3), loss = pick("loss", "cross_entropy", "mse"),
  loss_options = pick("loss_options", nil, {label_smoothing = 0.2}),
  checkpoint = case == "interrupt" and {path = ck} or nil,
  join_timeout = case == "absent" and 2 or nil,
  on_step = function(s)
    if case == "interrupt" and odd and s.step == 5 then
      io.popen("kill -INT $PPID"):close()
    end
  end, every = 1})
if ok then
  f:write(("ok %d %s\n"):format(res.step, tostring(res.interrupted == true)))
  if case == "interrupt" and rank == 0 then
    local m = ol.load(ck).meta
    f:write(("checkpoint %d %s\n"):format(m.step, tostring(m.interrupted == true)))
  end
else
  f:write("error " .. tostring(res) .. "\n")
end
f:close()
-- Ranks that disagree all fail, each naming the difference: they meet once
-- more, so that every rank's line is written before the first failure
-- status below makes the launcher end the others (a loaded host would
-- otherwise lose a slower rank's line). A rank that waited for an absent
-- one does not: that one never comes.
if not ok and case ~= "absent" then ol.dist.barrier() end
-- A failed rank ends with a failure status, so that the launcher ends
-- the others (a rank left waiting in MPI_Finalize would hang the job).
os.exit(ok and 0 or 3)
