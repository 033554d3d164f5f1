-- Every byte of a small checkpoint (model, Adam state, RNG, meta) changed,
-- one at a time: each bit of every header byte and a set of values (JSON's
-- syntax, digits, the neighbours), and for every data byte a low, a middle
-- and a high bit and one value. Each changed file must be refused, by
-- ol.load or by ck:restore (which then changes nothing), or restore
-- exactly what the file held: weights, optimizer state, options, step
-- count, the RNG's stream and the meta. The C test of the format
-- (tests/engine/test_io_checkpoint.c) does the same on the reader alone.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local file = os.tmpname()

-- A new file each time: rewriting one in place makes ext4 flush it to disk
-- on close (auto_da_alloc), which would make this test wait on the disk.
local function write_all(p, s)
  os.remove(p)
  T.write_file(p, s)
end

local read_all = T.read_file

local function flat(t)
  local out = {}
  local function walk(v)
    if type(v) == "table" then for i = 1, #v do walk(v[i]) end else out[#out + 1] = v end
  end
  walk(t:totable())
  return out
end

local function net_and_opt()
  local net = ol.nn.mlp{sizes = {2, 3, 2}, activation = "tanh"}
  return net, ol.optim.adam(net, {amsgrad = true})
end

-- What a restore put into net and opt, and the RNG's next draws, as text.
local function snapshot(net, opt, ck)
  local parts = {}
  local function add(label, v) parts[#parts + 1] = label .. "=" .. string.format("%.17g", v) end
  for i, v in ipairs(flat(net:params())) do add("w" .. i, v) end
  local state = opt:state()
  for _, k in ipairs({"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) do
    for i, v in ipairs(flat(state[k])) do add(k .. i, v) end
  end
  add("t", opt.t)
  add("lr", opt.lr)
  add("beta1", opt.betas[1])
  add("beta2", opt.betas[2])
  add("eps", opt.eps)
  add("wd", opt.weight_decay)
  parts[#parts + 1] = "amsgrad=" .. tostring(opt.amsgrad) .. " maximize=" .. tostring(opt.maximize)
  for i, v in ipairs(flat(ol.rand(3, "f64"))) do add("rand" .. i, v) end
  parts[#parts + 1] = "epoch=" .. tostring(ck.meta.epoch) .. " note=" .. tostring(ck.meta.note)
  return table.concat(parts, " ")
end

T.test("every changed byte is refused or restores exactly what was saved", function()
  ol.seed(21)
  local net, opt = net_and_opt()
  local x, y = ol.randn(6, 2), ol.tensor({1, 2, 2, 1, 2, 1})
  for _ = 1, 2 do
    net:zero_grad()
    net:evaluate(x, y, "cross_entropy")
    opt:step()
  end
  opt.lr = 0.003
  ol.save(file, {model = net, optimizer = opt, meta = {epoch = 2, note = "n"}})
  local s = read_all(file)
  local hlen = string.unpack("<I8", s)

  -- Restores go into a blank model (zero weights) and a new optimizer,
  -- made again after each restore that changed them.
  local net2, opt2
  local function blank()
    net2, opt2 = net_and_opt()
    net2:params():zero_()
  end
  blank()
  local ck = ol.load(file)
  ck:restore(net2, opt2)
  local want = snapshot(net2, opt2, ck)
  T.ok(want:find("t=2 ", 1, true) and want:find("lr=0.003", 1, true), want)
  blank()

  local refused, same = 0, 0
  local function try(i, b)
    if b == s:byte(i) then return end
    write_all(file, s:sub(1, i - 1) .. string.char(b) .. s:sub(i + 1))
    local ok, c = pcall(ol.load, file)
    if ok then
      local restored, err = pcall(c.restore, c, net2, opt2)
      if restored then
        local got = snapshot(net2, opt2, c)
        if got ~= want then
          error(string.format("byte %d (%q) -> %d: restored\n%s\ninstead of\n%s", i - 1,
                              s:sub(i, i), b, got, want))
        end
        same = same + 1
        blank()
        return
      end
      c = err
      -- a refused restore changes nothing
      T.eq(net2:params():abs():sum(), 0, "weights changed by a refused restore")
      T.eq(opt2.t, 0, "step count changed by a refused restore")
    end
    T.ok(tostring(c):find("checkpoint", 1, true), "refused without naming the file: " .. tostring(c))
    refused = refused + 1
  end
  local values = {0, 255, 32, 34, 44, 48, 57, 92, 123, 125}
  for i = 1, 8 + hlen do
    local byte = s:byte(i)
    for bit = 0, 7 do try(i, byte ~ (1 << bit)) end
    for _, v in ipairs(values) do try(i, v) end
    try(i, (byte + 1) % 256)
  end
  local header_same = same
  for i = 9 + hlen, #s do
    local byte = s:byte(i)
    for _, bit in ipairs({0, 3, 7}) do try(i, byte ~ (1 << bit)) end
    try(i, (byte + 1) % 256)
  end
  io.stderr:write(string.format("%d bytes (header %d): %d changes refused, %d read the same\n", #s, 8 + hlen,
                                refused, same))
  T.eq(same, header_same, "a change of the data was accepted")
  T.ok(refused > 15 * (8 + hlen), refused .. " refused")
end)

T.test("(remove the temporary file)", function() os.remove(file) end)
T.run()
