-- Interop: a file written by ol.save, read back by an independent reader
-- written from the safetensors specification in Python
-- (tests/interop/read_safetensors.py), gives exactly the same numbers, and
-- the checksums optlua adds match those the reader computes with zlib.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local reader = (arg[0]:match("^(.*/)") or "./") .. "../interop/read_safetensors.py"
local file = os.tmpname()

-- Runs the reader: meta {key = json text}, tensors {name = {dtype, dims, values}}.
local function python_read(path, python)
  local h = io.popen((python or "python3") .. " '" .. reader .. "' '" .. path .. "' 2>&1")
  local out = h:read("a")
  local ok = h:close()
  local meta, tensors = {}, {}
  for line in out:gmatch("[^\n]+") do
    local k, v = line:match("^M (%S+) (.*)$")
    if k then meta[k] = v end
    local name, dtype, dims, rest = line:match("^T (%S+) (%S+) (%S+) ?(.*)$")
    if name then
      local values = {}
      for w in rest:gmatch("%S+") do values[#values + 1] = tonumber(w) end
      tensors[name] = {dtype = dtype, dims = dims, values = values}
    end
  end
  return ok, out, meta, tensors
end

local function flat(t)
  local out = {}
  local function walk(v)
    if type(v) == "table" then for i = 1, #v do walk(v[i]) end else out[#out + 1] = v end
  end
  walk(t:totable())
  return out
end

local function dims(t)
  local s = t:size()
  if #s == 0 then return "scalar" end
  return table.concat(s, "x")
end

-- The python3 on PATH, and Debian's (which has numpy from tools/setup) when
-- it is another one: the reader then runs once with numpy, once without.
local pythons = {"python3"}
local f = io.open("/usr/bin/python3")
if f then f:close(); pythons[2] = "/usr/bin/python3" end

T.test("the Python reader finds the same numbers, names, shapes and metadata", function()
  ol.seed(4)
  -- with batch norm: its running estimates are stored beside the weights
  local net = ol.nn.mlp{sizes = {3, 5, 2}, activation = "relu", norm = "batch"}
  local opt = ol.optim.adam(net, {lr = 0.003})
  local ds = ol.data.synthetic{kind = "blobs", n = 30, classes = 2, dim = 3}
  ol.train{model = net, optimizer = opt, progress = false, epochs = 1,
           data = ol.data.loader(ds, {batch_size = 10})}
  local extra = ol.tensor({{1 / 3, -2.5e-300, 1e300}, {0, -0.0, 123456789.125}}, "f64")
  ol.save(file, {model = net, optimizer = opt, meta = {epoch = 1, note = "interop"},
                 tensors = {extra = extra, tiny = ol.tensor({1e-40, 3.4e38, -1 / 3})}})
  for _, python in ipairs(pythons) do
    local ok, out, meta, tensors = python_read(file, python)
    T.ok(ok, out)
    local want = {}
    for _, e in ipairs(net:parameters()) do want[e.name] = e.tensor end
    for _, e in ipairs(net:buffers()) do want[e.name] = e.tensor end
    T.ok(want["2.running_mean"] and want["2.running_var"], "the running estimates")
    for k, v in pairs(opt:state()) do want["optim.state." .. k] = v end
    want.extra, want.tiny = extra, ol.tensor({1e-40, 3.4e38, -1 / 3})
    local n = 0
    for name, t in pairs(want) do
      local got = tensors[name]
      T.ok(got, "the reader did not find " .. name)
      T.eq(got.dtype, t:dtype() == "f64" and "F64" or "F32", name)
      T.eq(got.dims, dims(t), name)
      local w = flat(t)
      T.eq(#got.values, #w, name)
      for i = 1, #w do
        if got.values[i] ~= w[i] then
          error(string.format("%s[%d]: python %.17g, optlua %.17g", name, i, got.values[i], w[i]))
        end
      end
      n = n + 1
    end
    T.ok(n >= 11)
    T.eq(meta.note, '"interop"')
    T.eq(meta.epoch, '"1"')
    T.eq(meta["optim.name"], '"adam"')
    T.ok(out:find("\nchecksums verified\n", 1, true), out)
  end
end)

T.test("the Python reader refuses a file whose data changed (its checksum)", function()
  local f = assert(io.open(file, "rb"))
  local s = f:read("a")
  f:close()
  local b = #s - 5
  f = assert(io.open(file, "wb"))
  f:write(s:sub(1, b - 1), string.char(s:byte(b) ~ 1), s:sub(b + 1))
  f:close()
  local ok, out = python_read(file)
  T.ok(not ok, "accepted a changed file")
  T.ok(out:find("do not match the checksum", 1, true), out)
  T.raises("do not match its checksum", ol.load, file)
  f = assert(io.open(file, "wb"))
  f:write(s)
  f:close()
end)

T.test("the Python reader refuses a truncated file (it can fail)", function()
  local f = assert(io.open(file, "rb"))
  local s = f:read("a")
  f:close()
  f = assert(io.open(file, "wb"))
  f:write(s:sub(1, #s - 4))
  f:close()
  local ok, out = python_read(file)
  T.ok(not ok, "accepted a truncated file")
  T.ok(out:find("bytes after the last tensor", 1, true) or out:find("do not fit", 1, true), out)
end)

T.test("(remove the temporary file)", function() os.remove(file) end)
T.run()
