-- ol.save / ol.load / ck:restore: what a file holds, restoring into fresh
-- objects, bad arguments, and corrupt, truncated and foreign files.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local path, dir = T.scratch()
local read_all, write_all = T.read_file, T.write_file

-- Exact equality of two tensors, element by element.
local function same(a, b)
  local x, y = a:totable(), b:totable()
  local function walk(p, q)
    if type(p) ~= "table" then return p == q end
    if #p ~= #q then return false end
    for i = 1, #p do if not walk(p[i], q[i]) then return false end end
    return true
  end
  return walk(x, y)
end

local function trained(dtype, name)
  ol.seed(11)
  local ds = ol.data.synthetic{kind = "blobs", n = 40, classes = 3}
  local net = ol.nn.mlp{sizes = {2, 5, 3}, activation = "tanh", dtype = dtype}
  local opt = ol.optim[name or "adam"](net, {lr = 0.01})
  ol.train{model = net, optimizer = opt, progress = false, epochs = 2,
           data = ol.data.loader(ds, {batch_size = 8, shuffle = true, dtype = dtype})}
  return net, opt
end

T.test("the file holds the parameters under their names, optimizer state and metadata", function()
  local net, opt = trained("f32")
  local p = path("a.safetensors")
  ol.save(p, {model = net, optimizer = opt, meta = {epoch = 3, note = "first run",
                                                     cfg = {layers = {2, 5, 3}, act = "tanh"},
                                                     rate = 0.1, flag = true}})
  local ck = ol.load(p)
  for _, e in ipairs(net:parameters()) do
    T.ok(ck.tensors[e.name], "missing " .. e.name)
    T.ok(same(ck.tensors[e.name], e.tensor), e.name .. " differs")
  end
  for name, t in pairs(opt:state()) do
    T.ok(same(ck.tensors["optim.state." .. name], t), "state " .. name)
  end
  T.eq(ck.meta.epoch, 3)
  T.eq(math.type(ck.meta.epoch), "integer")
  T.eq(ck.meta.note, "first run")
  T.eq(ck.meta.rate, 0.1)
  T.eq(ck.meta.flag, true)
  T.eq(ck.meta.cfg.layers[3], 3)
  T.eq(ck.meta.cfg.act, "tanh")
  T.eq(ck.optimizer.name, "adam")
  T.eq(ck.optimizer.t, opt.t)
  T.eq(ck.optimizer.options.lr, 0.01)
  T.eq(ck.optimizer.options.betas[2], 0.999)
  T.eq(ck.optimizer.options.amsgrad, false)
  T.eq(#ck.rng, 4)
  T.ok(tostring(ck):find("a.safetensors", 1, true))
  -- The header itself is plain JSON with the user's strings readable.
  local raw = read_all(p)
  T.ok(raw:find('"note":"first run"', 1, true), "user meta as a string")
  T.ok(raw:find('"optim.name":"adam"', 1, true), "optimizer name")
end)

T.test("restore puts parameters, state, options, t and RNG back", function()
  for _, dtype in ipairs({"f32", "f64"}) do
    local net, opt = trained(dtype, "rmsprop")
    opt.alpha = 0.95 -- a changed option travels with the file
    local p = path("r" .. dtype .. ".safetensors")
    ol.save(p, {model = net, optimizer = opt})
    local after = ol.rand(3)   -- the RNG stream right after the save
    local net2 = ol.nn.mlp{sizes = {2, 5, 3}, activation = "tanh", dtype = dtype}
    local opt2 = ol.optim.rmsprop(net2, {lr = 0.5})
    T.ok(not same(net2:params(), net:params()))
    local ck = ol.load(p)
    T.eq(ck:restore(net2, opt2), ck)
    T.ok(same(net2:params(), net:params()), "params")
    T.ok(same(opt2:state().square_avg, opt:state().square_avg), "state")
    T.eq(opt2.t, opt.t)
    T.eq(opt2.lr, 0.01)
    T.eq(opt2.alpha, 0.95)
    T.ok(same(ol.rand(3), after), "RNG stream resumes where it was saved")
    -- {rng = false} leaves the generator alone.
    ol.seed(5)
    local want = ol.rand(2)
    ol.seed(5)
    ck:restore(net2, opt2, {rng = false})
    T.ok(same(ol.rand(2), want))
  end
end)

T.test("schedules resume from the restored step count", function()
  local net, opt = trained("f64", "sgd")
  local p = path("s.safetensors")
  ol.save(p, {model = net, optimizer = opt})
  local seen
  local net2 = ol.nn.mlp{sizes = {2, 5, 3}, activation = "tanh", dtype = "f64"}
  local opt2 = ol.optim.sgd(net2, {lr = 1})
  opt2:schedule("lr", function(t) seen = t; return 1 / t end)
  ol.load(p):restore(net2, opt2)
  opt2:step()
  T.eq(seen, opt.t + 1, "the schedule sees the step after the saved one")
  T.eq(opt2.lr, 1 / (opt.t + 1))
end)

T.test("options and metadata keep exact values, inf, nan and -0", function()
  local net = ol.nn.mlp{sizes = {2, 3}}
  local opt = ol.optim.adaptive_gains(net, {gain_max = math.huge, gain_up = 1 / 3})
  local p = path("v.safetensors")
  ol.save(p, {model = net, optimizer = opt,
              meta = {big = math.huge, nan = 0 / 0, neg = -0.0, third = 1 / 3, tiny = 5e-324,
                      nested = {1, {y = 'q"uote', w = 0.1}}}})
  local ck = ol.load(p)
  T.eq(ck.optimizer.options.gain_max, math.huge)
  T.eq(ck.optimizer.options.gain_up, 1 / 3)
  T.eq(ck.meta.big, math.huge)
  T.ok(ck.meta.nan ~= ck.meta.nan, "nan")
  T.eq(1 / ck.meta.neg, -math.huge, "-0 keeps its sign")
  T.eq(ck.meta.third, 1 / 3)
  T.eq(ck.meta.tiny, 5e-324)
  T.eq(ck.meta.nested[2].y, 'q"uote')
  T.eq(ck.meta.nested[2].w, 0.1)
  -- Numbers are written in their shortest exact form.
  T.ok(read_all(p):find('\\"gain_down\\":0.95,', 1, true), "0.95 not written as 0.95")
  local opt2 = ol.optim.adaptive_gains(net)
  ck:restore(nil, opt2)
  T.eq(opt2.gain_max, math.huge)
  T.eq(opt2.gain_up, 1 / 3)
end)

T.test("extra tensors and model-only files", function()
  local x = ol.tensor({{1, 2}, {3, 4}}, "f64")
  local p = path("x.safetensors")
  ol.save(p, {tensors = {x = x, y = ol.arange(5)}})
  local ck = ol.load(p)
  T.ok(same(ck.tensors.x, x))
  T.eq(ck.tensors.y:dtype(), "f32")
  T.eq(ck.optimizer, nil)
  local net = ol.nn.mlp{sizes = {2, 3}}
  ol.save(p, {model = net})
  local net2 = ol.nn.mlp{sizes = {2, 3}}
  ol.load(p):restore(net2)
  T.ok(same(net2:params(), net:params()))
  T.raises("holds no optimizer", function() ol.load(p):restore(net2, ol.optim.sgd(net2)) end)
end)

T.test("restore refuses what does not fit, and changes nothing then", function()
  local net, opt = trained("f32", "adam")
  local p = path("m.safetensors")
  ol.save(p, {model = net, optimizer = opt})
  local ck = ol.load(p)
  local other = ol.nn.mlp{sizes = {2, 4, 3}}
  local before = other:params():clone()
  T.raises("bad argument #1 to 'restore' (tensor '1.weight' is 5x2 in the checkpoint but 4x2 here)",
           function() ck:restore(other) end)
  T.ok(same(other:params(), before))
  T.raises("is f32 in the checkpoint but f64 here",
           function() ck:restore(ol.nn.mlp{sizes = {2, 5, 3}, dtype = "f64"}) end)
  T.raises("has no tensor '5.weight'",
           function() ck:restore(ol.nn.mlp{sizes = {2, 5, 3, 3}}) end)
  local net2 = ol.nn.mlp{sizes = {2, 5, 3}}
  local before2 = net2:params():clone()
  T.raises("holds a adam optimizer, not sgd", function() ck:restore(net2, ol.optim.sgd(net2)) end)
  T.ok(same(net2:params(), before2), "a failed restore leaves the model alone")
  T.raises("bad argument #1 to 'restore' (model or nil expected",
           function() ck:restore(42) end)
end)

T.test("save checks its arguments", function()
  local net = ol.nn.mlp{sizes = {2, 3}}
  T.raises("bad argument #2 to 'save' (options table expected, got optlua.model)",
           function() ol.save(path("e"), net) end)
  T.raises("bad argument #2 to 'save' (unknown option 'modle'; did you mean 'model'?)",
           function() ol.save(path("e"), {modle = net}) end)
  T.raises("bad argument #2 to 'save' (option 'model' must be a model, got table)",
           function() ol.save(path("e"), {model = {}}) end)
  T.raises("meta key 'optim.t' is reserved", function() ol.save(path("e"), {meta = {["optim.t"] = 1}}) end)
  T.raises("meta.f: cannot store a function", function() ol.save(path("e"), {meta = {f = print}}) end)
  local cyc = {}
  cyc.self = cyc
  T.raises("nested too deep", function() ol.save(path("e"), {meta = {c = cyc}}) end)
  T.raises("bad argument #2 to 'save' (option 'optimizer' must be an optimizer, got optlua.model)",
           function() ol.save(path("e"), {optimizer = net}) end)
  T.raises("tensors.x: tensor expected", function() ol.save(path("e"), {tensors = {x = 1}}) end)
  T.raises("save: cannot write checkpoint '/nonexistent-dir/x'",
           function() ol.save("/nonexistent-dir/x", {model = net}) end)
end)

-- A file with a hand-written header (8-byte little-endian length first).
local function forge(header, data)
  local n = #header
  return string.pack("<I8", n) .. header .. (data or "")
end

T.test("corrupt, truncated and foreign files are refused with the reason", function()
  local net, opt = trained("f32", "sgd")
  local good = path("good.safetensors")
  ol.save(good, {model = net, optimizer = opt, meta = {epoch = 1}})
  local bytes = read_all(good)
  local bad = path("bad.safetensors")
  -- Every truncation fails cleanly (a sample of lengths, all of the header).
  local hlen = string.unpack("<I8", bytes)
  for _, n in ipairs({0, 3, 7, 8, 9, 20, hlen, hlen + 7, hlen + 8, hlen + 9, #bytes - 4, #bytes - 1}) do
    write_all(bad, bytes:sub(1, n))
    local ok, err = pcall(ol.load, bad)
    T.ok(not ok, "a prefix of " .. n .. " bytes was accepted")
    T.ok(tostring(err):find("bad.safetensors", 1, true), "message names the file: " .. tostring(err))
  end
  write_all(bad, bytes .. "x")
  T.raises("1 bytes after the last tensor", ol.load, bad)
  local cases = {
    {forge('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]', ("\0"):rep(8)), "not valid JSON"},
    {forge('{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', ("\0"):rep(4)), "F16 is not supported"},
    {forge('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', ("\0"):rep(8)), "need 12 bytes"},
    {forge('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
           ("\0"):rep(8)), "overlap"},
    {forge('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', ("\0"):rep(8)), "run past the data"},
    {forge('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
           ("\0"):rep(4)), "duplicate"},
    {string.pack("<I8", 1 << 40) .. "{}", "header length 1099511627776"},
    {"PK\3\4 not a checkpoint at all", "header length"},
  }
  for i, c in ipairs(cases) do
    write_all(bad, c[1])
    local err = T.raises(c[2], ol.load, bad)
    T.ok(err:find("checkpoint '" .. bad .. "'", 1, true), "case " .. i .. " names the file")
  end
  -- Metadata that parses as safetensors but is not ours is reported too.
  write_all(bad, forge('{"__metadata__":{"optim.name":"sgd","optim.t":"x"}}    '))
  T.raises("'optim.t' is not a step count", ol.load, bad)
  T.raises("cannot open checkpoint", ol.load, path("missing.safetensors"))
  -- The good file is still good.
  T.eq(ol.load(good).meta.epoch, 1)
end)

T.test("a save that dies midway leaves the previous file intact", function()
  local net = ol.nn.mlp{sizes = {2, 40, 3}}
  local p = path("atomic.safetensors")
  ol.save(p, {model = net, meta = {gen = 1}})
  local before = read_all(p)
  -- A child process saves with the test hook that stops the writer after
  -- 200 bytes, as a crash would, through a named temporary file (the
  -- writer's way where the file system lacks unnamed ones).
  local child = path("child.lua")
  write_all(child, string.format([[
    local ol = require "optlua"
    local net = ol.nn.mlp{sizes = {2, 40, 3}}
    local ok, err = pcall(ol.save, %q, {model = net, meta = {gen = 2}})
    io.write(ok and "saved" or err)
  ]], p))
  local h = io.popen("OL_CHECKPOINT_NAMED_TMP=1 OL_CHECKPOINT_FAIL_AFTER=200 '" .. arg[-1] .. "' " .. child)
  local out = h:read("a")
  h:close()
  T.ok(out:find("simulated crash after 200 bytes", 1, true), out)
  T.eq(read_all(p), before, "the target file changed")
  T.eq(ol.load(p).meta.gen, 1)
  -- The half-written temporary file is beside it, at 200 bytes...
  local ls = io.popen("ls " .. dir):read("a")
  local tmp = ls:match("(atomic%.safetensors%.tmp%.%w+)")
  T.ok(tmp, "no temporary file in: " .. ls)
  T.eq(#read_all(path(tmp)), 200)
  -- ...until the next save to that file removes it.
  ol.save(p, {model = net, meta = {gen = 3}})
  T.eq(ol.load(p).meta.gen, 3)
  ls = io.popen("ls " .. dir):read("a")
  T.ok(not ls:find("atomic.safetensors.tmp.", 1, true), ls)
end)

-- What the fuzzers found (tests/fuzz/regressions), checked in every build,
-- not only where UBSan watches the replay.
T.test("an IDX file with no samples and huge other dimensions is refused", function()
  local p = path("overflow.idx")
  write_all(p, "\0\0\8\3" .. string.pack(">I4I4I4", 0, 0xffffffff, 0xffffffff))
  T.raises("overflow.idx at byte 12: too many features per sample", ol.data.idx, p)
end)

T.test("(remove the temporary directory)", function() os.execute("rm -rf " .. dir) end)
T.run()
