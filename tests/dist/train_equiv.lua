-- Trains a small f64 classifier with ol.train and writes its parameters as
-- text (%.17g, one per line, rank 0 only), for tests/dist/test_dist.py to
-- compare a 2-rank data-parallel run with one process:
--
--   optlua train_equiv.lua OPT BATCH EPOCHS OUT DIST [RESUME_FROM] [SAVE_TO]
--
-- OPT: sgd | adam | rprop | adam_weighted (adam on cross_entropy with label
-- smoothing and class weights, whose mean divides by the rows' weights), or
-- OPT_accK (one step per K batches: accumulate = K); BATCH: per-process batch size; DIST: 1 for
-- ol.train{distributed = true}; RESUME_FROM: a checkpoint to restore first
-- ("-": none); SAVE_TO: where ol.train writes its checkpoint at the end.
-- The data (203 points: the last global batch is short and splits unevenly
-- over 2 ranks) and the initial weights depend only on the seed.
local ol = require "optlua"
local opt_name, batch, epochs, out, dist, resume, save =
    arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4], arg[5] == "1", arg[6], arg[7]
if resume == "-" then resume = nil end

ol.seed(7)
local ds = ol.data.synthetic{kind = "spirals", n = 203, classes = 3, dtype = "f64"}
local net = ol.nn.mlp{sizes = {2, 12, 3}, activation = "tanh", dtype = "f64"}
local options = {
    sgd = {lr = 0.1, momentum = 0.9},
    adam = {lr = 0.01},
    rprop = {lr = 0.01},
}
local loss_options
local accumulate = tonumber(opt_name:match("_acc(%d+)$") or "1")
opt_name = opt_name:gsub("_acc%d+$", "")
if opt_name == "adam_weighted" then
    opt_name, loss_options = "adam", {label_smoothing = 0.1, weight = {1, 3, 0.5}}
end
local opt = ol.optim[opt_name](net, options[opt_name])
if resume then ol.load(resume):restore(net, opt, {rng = true}) end
local loader = ol.data.loader(ds, {batch_size = batch, shuffle = true})
local final = ol.train{model = net, optimizer = opt, data = loader, loss = "cross_entropy",
                       loss_options = loss_options, epochs = epochs, progress = false, distributed = dist,
                       accumulate = accumulate,
                       validate = ds, checkpoint = save and {path = save} or nil}
if ol.dist.rank() == 0 then
    local f = assert(io.open(out, "w"))
    local p = net:params()
    for i = 1, p:numel() do f:write(string.format("%.17g\n", p[i])) end
    f:write(string.format("# steps %d samples %d loss %.17g val_loss %.17g\n", final.step,
                          final.samples, final.epoch_loss, final.val_loss))
    f:close()
end
