-- Checkpoints against hostile files and hostile scripts: a model whose
-- parameters() lies, a ck whose tables were changed, files damaged or
-- crafted (checksums, offsets exchanged, an all-zero RNG state, more
-- entries than the limit), paths that are not regular files, symbolic
-- links, and what interrupted saves leave behind.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local path, dir = T.scratch()
local read_all, write_all = T.read_file, T.write_file

-- The names in the directory, as a set.
local function ls()
  local names = {}
  for n in io.popen("ls -a " .. dir):read("a"):gmatch("[^\n]+") do names[n] = true end
  return names
end

-- Whether a name starting with prefix is in the directory.
local function any(prefix)
  for n in pairs(ls()) do if n:sub(1, #prefix) == prefix then return n end end
end

-- A small model and an Adam optimizer that has taken steps, so that its
-- two moment buffers differ.
local function trained()
  ol.seed(5)
  local net = ol.nn.mlp{sizes = {2, 3, 2}, activation = "tanh"}
  local opt = ol.optim.adam(net, {lr = 0.01, amsgrad = true})
  local x, y = ol.randn(8, 2), ol.tensor({1, 2, 1, 2, 2, 1, 1, 2})
  for _ = 1, 3 do
    net:zero_grad()
    net:evaluate(x, y, "cross_entropy")
    opt:step()
  end
  return net, opt
end

-- The file's header and data, and a file made of a header and data (the
-- header padded with spaces to 8 bytes, as the format wants).
local function split(s)
  local n = string.unpack("<I8", s)
  return s:sub(9, 8 + n), s:sub(9 + n)
end
local function join(header, data)
  header = header:gsub(" +$", "")
  header = header .. string.rep(" ", (8 - #header % 8) % 8)
  return string.pack("<I8", #header) .. header .. data
end

-- A file as optlua wrote it before it stored checksums: the same file
-- without the two checksum keys (when it has them).
local function old_format(s)
  local header, data = split(s)
  local a, b = header:find(',"optlua%.crc32":".-","optlua%.crc32%.header":"%x+"')
  if not a then return s end
  return join(header:sub(1, a - 1) .. header:sub(b + 1), data)
end

T.test("a model whose parameters() lacks names or tensors is refused, not a crash", function()
  local net, opt = trained()
  local p = path("params.safetensors")
  ol.save(p, {model = net, optimizer = opt})
  local ck = ol.load(p)
  local mt = getmetatable(net).__methods
  local orig = mt.parameters
  local cases = {
    {function(self) local l = orig(self); l[1].name = nil; return l end,
     "model:parameters()[1].name: string expected, got nil"},
    {function(self) local l = orig(self); l[2].name = 7; return l end,
     "model:parameters()[2].name: string expected, got number"},
    {function(self) local l = orig(self); l[3].tensor = "w"; return l end,
     "model:parameters()[3].tensor: tensor expected, got string"},
    {function(self) local l = orig(self); l[1] = 5; return l end,
     "model:parameters()[1]: table expected, got number"},
    {function() return 5 end, "model:parameters(): list expected, got number"},
    {function(self)
       local l = orig(self)
       l[1] = setmetatable({}, {__index = function() error("ran a metamethod") end})
       return l
     end, "model:parameters()[1].name: string expected, got nil"},
  }
  local ok, err = pcall(function()
    for i, c in ipairs(cases) do
      mt.parameters = c[1]
      T.raises(c[2], ol.save, path("bad.safetensors"), {model = net})
      T.raises(c[2], ck.restore, ck, net, opt)
      T.eq(opt.t, 3, "case " .. i .. ": restore changed the optimizer")
    end
  end)
  mt.parameters = orig
  assert(ok, err)
  T.ok(not ls()["bad.safetensors"])
end)

T.test("ck:restore reads what ol.load made, checked, whatever a script did to ck", function()
  local net, opt = trained()
  local p = path("tables.safetensors")
  ol.save(p, {model = net, optimizer = opt})
  local ck = ol.load(p)
  ck.optimizer.options[{}] = 5
  ck.optimizer.name = {}
  ck.meta[{}] = 1
  local net2, opt2 = ol.nn.mlp{sizes = {2, 3, 2}, activation = "tanh"}, nil
  opt2 = ol.optim.adam(net2)
  ck:restore(net2, opt2) -- the optimizer from what was read, not from ck.optimizer
  T.eq(opt2.t, 3)
  T.eq(opt2.lr, 0.01)
  T.ok(((net2:params() - net:params()):abs():max()) == 0)
  ck.tensors["1.weight"] = "not a tensor"
  T.raises("has no tensor '1.weight'", ck.restore, ck, net2)
  ck.tensors = 5
  T.raises("ck.tensors: table expected, got number", ck.restore, ck, net2)
  ck.tensors = setmetatable({}, {__index = function() error("ran a metamethod") end})
  T.raises("has no tensor '1.weight'", ck.restore, ck, net2)
  ck.path = {}
  T.ok(tostring(ck):find("optlua.checkpoint (?)", 1, true))
end)

T.test("damage anywhere in a file is refused by its checksums", function()
  local net, opt = trained()
  local p = path("damaged.safetensors")
  ol.save(p, {model = net, optimizer = opt})
  local s = read_all(p)
  local header, data = split(s)
  -- one bit of the data
  local k = #s - #data + 9
  write_all(p, s:sub(1, k - 1) .. string.char(s:byte(k) ~ 0x10) .. s:sub(k + 1))
  T.raises("do not match its checksum (the file is damaged", ol.load, p)
  -- the learning rate in the header, 0.01 -> 0.02, same length
  local a = header:find('\\"lr\\":0.01', 1, true)
  T.ok(a, header)
  local h2 = header:sub(1, a + 9) .. "2" .. header:sub(a + 11)
  write_all(p, join(h2, data))
  T.raises("the header does not match its checksum", ol.load, p)
  -- the step count, 3 -> 9
  a = header:find('"optim.t":"3"', 1, true)
  write_all(p, join(header:sub(1, a + 10) .. "9" .. header:sub(a + 12), data))
  T.raises("the header does not match its checksum", ol.load, p)
end)

T.test("files written before checksums load, unverified", function()
  local net, opt = trained()
  local p = path("old.safetensors")
  ol.save(p, {model = net, optimizer = opt, meta = {epoch = 4}})
  write_all(p, old_format(read_all(p)))
  local ck = ol.load(p)
  T.eq(ck.meta.epoch, 4)
  local net2 = ol.nn.mlp{sizes = {2, 3, 2}, activation = "tanh"}
  local opt2 = ol.optim.adam(net2)
  ck:restore(net2, opt2)
  T.eq(opt2.t, 3)
  T.ok(((net2:params() - net:params()):abs():max()) == 0)
end)

T.test("Adam's moment buffers with their offsets exchanged are refused", function()
  local net, opt = trained()
  local p = path("swap.safetensors")
  ol.save(p, {model = net, optimizer = opt})
  local s = read_all(p)
  -- exchange the data_offsets of exp_avg and exp_avg_sq (same size)
  local function swap(header)
    local function find(name)
      local _, e = header:find('"' .. name .. '":{[^}]-"data_offsets":')
      local a, b = header:find("%[%d+,%d+%]", e + 1)
      return a, b
    end
    local a1, b1 = find("optim%.state%.exp_avg")
    local a2, b2 = find("optim%.state%.exp_avg_sq")
    local x, y = header:sub(a1, b1), header:sub(a2, b2)
    T.ok(x ~= y, header)
    return header:sub(1, a1 - 1) .. y .. header:sub(b1 + 1, a2 - 1) .. x .. header:sub(b2 + 1)
  end
  local header, data = split(old_format(s))
  write_all(p, join(swap(header), data))
  T.raises("begins at byte", ol.load, p)
  T.raises("offsets exchanged?", ol.load, p)
  -- with checksums, the header's checksum already differs
  header, data = split(s)
  write_all(p, join(swap(header), data))
  T.raises("the header does not match its checksum", ol.load, p)
end)

T.test("an all-zero RNG state is refused (the generator would draw only zeros)", function()
  local net, opt = trained()
  local p = path("zero.safetensors")
  ol.save(p, {model = net, optimizer = opt})
  local header, data = split(old_format(read_all(p)))
  local zero = '\\"0000000000000000\\"'
  header = header:gsub('"rng%.state":"%[.-%]"', '"rng.state":"[' .. zero .. "," .. zero .. "," .. zero .. "," .. zero .. ']"')
  write_all(p, join(header, data))
  T.raises("metadata 'rng.state' is all zero", ol.load, p)
end)

T.test("a header with more entries than the limit is refused at once", function()
  local parts = {}
  for i = 1, 70000 do
    parts[i] = string.format('"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}', i)
  end
  local p = path("many.safetensors")
  write_all(p, join("{" .. table.concat(parts, ",") .. "}", ""))
  T.raises("70000 tensors and 0 metadata keys exceed the limit of 65536 entries", ol.load, p)
  write_all(p, string.pack("<I8", 59000000) .. "{}")
  T.raises("header length 59000000 exceeds the 16777216-byte limit", ol.load, p)
end)

-- Runs code in a child optlua with a time limit: its output and status.
local function child(code, seconds)
  local script = path("child.lua")
  write_all(script, code)
  local h = io.popen(string.format("timeout %d '%s' '%s' 2>&1; echo \"status $?\"", seconds, arg[-1], script))
  local out = h:read("a")
  h:close()
  return out
end

T.test("ol.load of a FIFO or a directory fails at once instead of waiting", function()
  local fifo = path("fifo.safetensors")
  os.execute("mkfifo " .. fifo)
  local out = child(string.format([[
    local ol = require "optlua"
    print(select(2, pcall(ol.load, %q)))
    print(select(2, pcall(ol.load, %q)))
  ]], fifo, dir), 20)
  T.ok(out:find("fifo.safetensors' is not a regular file", 1, true), out)
  T.ok(out:find(dir .. "' is not a regular file", 1, true), out)
  T.ok(out:find("status 0", 1, true), out)
  os.remove(fifo)
end)

T.test("saving through a symbolic link writes its target and keeps the link", function()
  local net, opt = trained()
  os.execute("mkdir -p " .. path("runs"))
  local target = path("runs/real.safetensors")
  ol.save(target, {model = net, meta = {gen = 1}})
  os.execute("chmod 600 " .. target)
  os.execute(string.format("ln -s runs/real.safetensors %s", path("latest.safetensors")))
  ol.save(path("latest.safetensors"), {model = net, optimizer = opt, meta = {gen = 2}})
  T.eq(ol.load(target).meta.gen, 2)
  local long = io.popen("ls -l " .. path("latest.safetensors") .. " " .. target):read("a")
  T.ok(long:find("latest.safetensors -> runs/real.safetensors", 1, true), long)
  T.ok(long:find("-rw------- [^\n]*real.safetensors"), long)
  -- a dangling link makes its target
  os.execute(string.format("ln -s runs/new.safetensors %s", path("next.safetensors")))
  ol.save(path("next.safetensors"), {model = net, meta = {gen = 3}})
  T.eq(ol.load(path("runs/new.safetensors")).meta.gen, 3)
  T.ok(io.popen("ls -l " .. path("next.safetensors")):read("a"):find("->", 1, true))
end)

T.test("a save removes the temporaries earlier saves of that file left, and only those", function()
  local net = trained()
  local p = path("stale.safetensors")
  local gone = {"stale.safetensors.tmp.AbC123", "stale.safetensors.tmp.x0X9z7"}
  local kept = {"stale.safetensors.tmp.AbC12", "stale.safetensors.tmp.AbC1234",
                "stale.safetensors.tmp.A-C123", "other.safetensors.tmp.AbC123",
                "stale.safetensors.bak"}
  for _, n in ipairs(gone) do write_all(path(n), string.rep("x", 1000)) end
  for _, n in ipairs(kept) do write_all(path(n), "keep") end
  ol.save(p, {model = net})
  local names = ls()
  for _, n in ipairs(gone) do T.ok(not names[n], n .. " is still there") end
  for _, n in ipairs(kept) do
    T.ok(names[n], n .. " was removed")
    os.remove(path(n))
  end
end)

T.test("saves killed midway (kill -9) leave nothing the next save does not remove", function()
  local p = path("killed.safetensors")
  -- A child saves a 16 MB tensor over and over; it is killed while
  -- writing (once a temporary file shows, or after a second of saves).
  local script = path("saver.lua")
  write_all(script, string.format([[
    local ol = require "optlua"
    local t = ol.zeros(4 * 1024 * 1024)
    for i = 1, 1000 do ol.save(%q, {tensors = {t = t}, meta = {i = i}}) end
  ]], p))
  local pid = io.popen(string.format("'%s' '%s' >/dev/null 2>&1 & echo $!", arg[-1], script)):read("l")
  local saw_tmp, saved = false, 0
  for _ = 1, 150 do
    os.execute("sleep 0.02")
    if any("killed.safetensors.tmp.") then saw_tmp = true break end
    if ls()["killed.safetensors"] then saved = saved + 1 end
    if saved > 5 then break end
  end
  os.execute("kill -9 " .. pid .. " 2>/dev/null; sleep 0.1")
  ol.save(p, {tensors = {t = ol.zeros(4)}})
  local left = any("killed.safetensors.tmp.")
  T.ok(not left, (saw_tmp and "after a named temporary showed: " or "") .. tostring(left))
  T.eq(ol.load(p).tensors.t:numel(), 4)
end)

T.test("(remove the temporary directory)", function() os.execute("rm -rf " .. dir) end)
T.run()
