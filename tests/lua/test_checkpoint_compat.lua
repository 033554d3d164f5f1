-- Checkpoint files kept here byte for byte, as optlua wrote them before it
-- stored checksums (format "1": tensors optim.state.NAME, metadata
-- optim.name, optim.dtype, optim.t, optim.options, optim.scalars,
-- rng.state): ol.load reads them (unverified) and shows the optimizer as it
-- was saved, ck:restore puts them into fresh objects, and saving those
-- again gives the same bytes but for the checksum keys a save now adds
-- (each tensor's checked here against a CRC-32 computed bit by bit), for
-- the options added to the optimizer since (written at their defaults,
-- after the others) and for the key optim.params (the parameter tensors,
-- here the one vector, after optim.scalars), so neither the reader nor
-- the writer of the optimizer's part can drift from the files users have.
-- No BLAS and no libm go into them (hand-written gradients, optimizers on
-- plain tensors), so the bytes are the same on every machine.
--
-- They were made by (ol.seed, then steps with gradients g_i = ((7i + 3t) % 11 - 5) / 8):
--   adam  f32, w = {0.5, -1.25, 2, 0.125, -0.75}, {lr = 0.05, betas = {0.8, 0.99},
--         amsgrad = true}, 3 steps, meta = {epoch = 3}
--   rprop f64, w = {1, -2, 0.25, 4}, {variant = "irprop+", etas = {0.4, 1.3}}, 4 steps
--         with a closure returning the loss 10 - t/2 (+2 at t = 3), meta = {note = "rprop"}
--   gains adaptive_gains f64, w = {0.5, 0.5, -0.5}, {gain_max = math.huge,
--         gain_up = 1/3, momentum = 0.5}, 3 steps
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local FILES = {
  adam = [[
a0020000000000007b225f5f6d657461646174615f5f223a7b226f7074696d2e6e616d65223a226164616d222c226f70
74696d2e6474797065223a22663332222c226f7074696d2e74223a2233222c226f7074696d2e6f7074696f6e73223a22
7b5c226c725c223a302e30352c5c2262657461735c223a5b302e382c302e39395d2c5c226570735c223a31652d30382c
5c227765696768745f64656361795c223a302e302c5c22616d73677261645c223a747275652c5c226d6178696d697a65
5c223a66616c73657d222c226f7074696d2e7363616c617273223a225b5d222c22726e672e7374617465223a225b5c22
363330333362306361333839633335615c222c5c22633039373331346439333937333666385c222c5c22336239326433
663031303662633134375c222c5c22313936653465633264613035623934355c225d222c226f70746c75612e666f726d
6174223a2231222c2265706f6368223a2233222c226f70746c75612e6d6574615f6a736f6e223a225b5c2265706f6368
5c225d227d2c226f7074696d2e73746174652e6578705f617667223a7b226474797065223a22463332222c2273686170
65223a5b355d2c22646174615f6f666673657473223a5b302c32305d7d2c226f7074696d2e73746174652e6578705f61
76675f7371223a7b226474797065223a22463332222c227368617065223a5b355d2c22646174615f6f66667365747322
3a5b32302c34305d7d2c226f7074696d2e73746174652e6d61785f6578705f6176675f7371223a7b226474797065223a
22463332222c227368617065223a5b355d2c22646174615f6f666673657473223a5b34302c36305d7d2c2277223a7b22
6474797065223a22463332222c227368617065223a5b355d2c22646174615f6f666673657473223a5b36302c38305d7d
7d202020202020200ad7a33c801283bb1c2fdd3c9eef27bdb81e85bd6e12ab3bf609a83b6b7c363bb682a63b839ead3b
ccccac3bf609a83b6b7c363bb682a63b839ead3be274e03e581dacbfc8a00440fec6b93db0fe45bf]],
  rprop = [[
88020000000000007b225f5f6d657461646174615f5f223a7b226f7074696d2e6e616d65223a227270726f70222c226f
7074696d2e6474797065223a22663634222c226f7074696d2e74223a2234222c226f7074696d2e6f7074696f6e73223a
227b5c226c725c223a302e30312c5c22657461735c223a5b302e342c312e335d2c5c22737465705f73697a65735c223a
5b31652d30362c35652b30315d2c5c2276617269616e745c223a5c22697270726f702b5c227d222c226f7074696d2e73
63616c617273223a225b382e302c312e305d222c22726e672e7374617465223a225b5c22626436346135643961646566
653030305c222c5c22373234313964623233393531646639395c222c5c22306536633764303337326161326634365c22
2c5c22316230343938313265646430646139305c225d222c226f70746c75612e666f726d6174223a2231222c226e6f74
65223a227270726f70222c226f70746c75612e6d6574615f6a736f6e223a225b5d227d2c226f7074696d2e7374617465
2e737465705f73697a65223a7b226474797065223a22463634222c227368617065223a5b345d2c22646174615f6f6666
73657473223a5b302c33325d7d2c226f7074696d2e73746174652e707265765f67726164223a7b226474797065223a22
463634222c227368617065223a5b345d2c22646174615f6f666673657473223a5b33322c36345d7d2c226f7074696d2e
73746174652e707265765f757064617465223a7b226474797065223a22463634222c227368617065223a5b345d2c2264
6174615f6f666673657473223a5b36342c39365d7d2c2277223a7b226474797065223a22463634222c22736861706522
3a5b345d2c22646174615f6f666673657473223a5b39362c3132385d7d7d2020fca9f1d24d62703f95f6065f984c753f
fca9f1d24d62703f2d431cebe2365a3f000000000000d83f000000000000c0bf00000000000000000000000000000000
fca9f1d24d6270bf95f6065f984c753f000000000000000000000000000000005a643bdf4f8def3f992a1895d40900c0
000000000000d03fc1caa145b6f30f40]],
  gains = [[
80020000000000007b225f5f6d657461646174615f5f223a7b226f7074696d2e6e616d65223a2261646170746976655f
6761696e73222c226f7074696d2e6474797065223a22663634222c226f7074696d2e74223a2233222c226f7074696d2e
6f7074696f6e73223a227b5c226c725c223a302e3030312c5c226761696e5f75705c223a302e33333333333333333333
3333333333332c5c226761696e5f646f776e5c223a302e39352c5c226761696e5f6d696e5c223a302e312c5c22676169
6e5f6d61785c223a5c22696e665c222c5c226d6f6d656e74756d5c223a302e357d222c226f7074696d2e7363616c6172
73223a225b5d222c22726e672e7374617465223a225b5c22363363626531653435393332306464375c222c5c22303434
633363643766343363363631635c222c5c22653639383430383062616231326130325c222c5c22393533616562373036
373365323963625c225d222c226f70746c75612e666f726d6174223a2231227d2c226f7074696d2e73746174652e6761
696e73223a7b226474797065223a22463634222c227368617065223a5b335d2c22646174615f6f666673657473223a5b
302c32345d7d2c226f7074696d2e73746174652e707265765f67726164223a7b226474797065223a22463634222c2273
68617065223a5b335d2c22646174615f6f666673657473223a5b32342c34385d7d2c226f7074696d2e73746174652e76
656c6f63697479223a7b226474797065223a22463634222c227368617065223a5b335d2c22646174615f6f6666736574
73223a5b34382c37325d7d2c2277223a7b226474797065223a22463634222c227368617065223a5b335d2c2264617461
5f6f666673657473223a5b37322c39365d7d7d2020202020666666666666ee3f444444444444f43f000000000000f03f
0000000000000000000000000000e0bf000000000000d83fc8bab88d06f0f63e22fdf675e09c313f3cdf4f8d976e32bf
9fcdaacfd5f6df3ffef9a39568f6df3f08ac1c5a64fbdfbf]],
}

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

local function bytes(name) return (FILES[name]:gsub("%s", ""):gsub("..", function(h) return string.char(tonumber(h, 16)) end)) end
local function write(p, s) local f = assert(io.open(p, "wb")) f:write(s) f:close() end
local function read(p) local f = assert(io.open(p, "rb")) local s = f:read("a") f:close() return s end
local function file(name) local p = dir .. "/" .. name .. ".safetensors" write(p, bytes(name)) return p end

-- CRC-32 (ISO-HDLC) bit by bit, from its definition: reflected polynomial
-- 0xEDB88320, initial value and final xor all ones.
local function crc32(s)
  local c = 0xffffffff
  for i = 1, #s do
    c = c ~ s:byte(i)
    for _ = 1, 8 do c = (c >> 1) ~ (0xEDB88320 & -(c & 1)) end
  end
  return c ~ 0xffffffff
end

-- A file as a save writes it now, with the checksum keys at the end of
-- __metadata__: each tensor's checksum checked against its bytes, then
-- the file without the two keys (the header padded again to 8 bytes).
local function without_checksums(s)
  local hlen = string.unpack("<I8", s)
  local header, data = s:sub(9, 8 + hlen), s:sub(9 + hlen)
  local a, b, crcs = header:find(',"optlua%.crc32":"(.-)","optlua%.crc32%.header":"%x+"')
  T.ok(a, "no checksum keys in " .. header)
  local n = 0
  for name, hex in crcs:gmatch('\\"([^\\]+)\\":\\"(%x+)\\"') do
    local first, last = header:match('"' .. name:gsub("%p", "%%%0") .. '":{[^}]-"data_offsets":%[(%d+),(%d+)%]')
    T.ok(first, "no tensor " .. name)
    T.eq(tonumber(hex, 16), crc32(data:sub(first + 1, last)), name .. "'s checksum")
    n = n + 1
  end
  T.ok(n >= 2, "checksums of " .. n .. " tensors")
  header = (header:sub(1, a - 1) .. header:sub(b + 1)):gsub(" +$", "")
  header = header .. string.rep(" ", (8 - #header % 8) % 8)
  return string.pack("<I8", #header) .. header .. data
end

-- The file s as a save writes it now: the JSON of the options added to its
-- optimizer since it was written (`added`, as it appears in the header)
-- ends optim.options, and the key optim.params (`params`, its JSON value)
-- follows optim.scalars; the header padded again to 8 bytes.
local function as_saved_now(s, added, params)
  local hlen = string.unpack("<I8", s)
  local header, data = s:sub(9, 8 + hlen), s:sub(9 + hlen)
  header = header:gsub(" +$", "")
  if added then
    local _, b = header:find('"optim%.options":"{.-}"')
    T.ok(b, "no optim.options in " .. header)
    header = header:sub(1, b - 2) .. added .. header:sub(b - 1)
  end
  local _, e = header:find('"optim%.scalars":"%[.-%]"')
  T.ok(e, "no optim.scalars in " .. header)
  T.ok(not header:find('"optim%.params"', 1), "the old file already has optim.params")
  header = header:sub(1, e) .. ',"optim.params":"' .. params .. '"' .. header:sub(e + 1)
  header = header .. string.rep(" ", (8 - #header % 8) % 8)
  return string.pack("<I8", #header) .. header .. data
end
-- What each file holds, and how to make the objects it restores into.
local CASES = {
  adam = {dtype = "f32", n = 5, t = 3, meta = {epoch = 3},
          options = {lr = 0.05, betas = {0.8, 0.99}, eps = 1e-8, weight_decay = 0, amsgrad = true,
                     maximize = false},
          added = ',\\"bias_correction\\":true',
          params = "[[0,1,5,0,0]]", -- offset, rows, cols, matrix, group (from 0)
          scalars = {},
          w1 = 0.43839174509048462},
  rprop = {dtype = "f64", n = 4, t = 4, meta = {note = "rprop"},
           options = {lr = 0.01, etas = {0.4, 1.3}, step_sizes = {1e-6, 50}, variant = "irprop+"},
           params = "[[0,1,4,0,0]]",
           scalars = {8, 1},
           w1 = 0.986},
  adaptive_gains = {file = "gains", dtype = "f64", n = 3, t = 3,
                    options = {lr = 1e-3, gain_up = 1 / 3, gain_down = 0.95, gain_min = 0.1,
                               gain_max = math.huge, momentum = 0.5},
                    params = "[[0,1,3,0,0]]",
                    scalars = {},
                    w1 = 0.49944062500000003},
}

local function same(a, b)
  if type(a) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

for name, c in pairs(CASES) do
  local fname = c.file or name
  T.test(fname .. ": ol.load shows the optimizer as saved", function()
    local ck = ol.load(file(fname))
    local o = ck.optimizer
    T.eq(o.name, name)
    T.eq(o.dtype, c.dtype)
    T.eq(o.t, c.t)
    local count = 0
    for k, v in pairs(o.options) do
      T.ok(same(v, c.options[k]), k .. ": " .. tostring(v))
      count = count + 1
    end
    for k in pairs(c.options) do T.ok(o.options[k] ~= nil, "missing option " .. k) end
    T.ok(count > 0)
    T.ok(same(o.scalars, c.scalars), "scalars")
    T.eq(#ck.rng, 4)
    T.eq(ck.tensors.w[1], c.w1)
  end)

  T.test(fname .. ": restored into fresh objects and saved again, the same bytes and checksums", function()
    local p = file(fname)
    local w = ol.zeros(c.n, c.dtype)
    local opt = ol.optim[name](w) -- default options: the file sets them
    ol.seed(99)
    ol.load(p):restore(nil, opt)
    T.eq(opt.t, c.t)
    for k, v in pairs(c.options) do T.ok(same(opt[k], v), k) end
    w:copy_(ol.load(p).tensors.w)
    local again = dir .. "/again.safetensors"
    ol.save(again, {optimizer = opt, tensors = {w = w}, meta = c.meta})
    T.ok(without_checksums(read(again)) == as_saved_now(bytes(fname), c.added, c.params), "the bytes differ")
    -- and the restored optimizer steps on
    opt:step(ol.ones(c.n, c.dtype))
    T.eq(opt.t, c.t + 1)
  end)
end

T.test("a file with a non-finite optimizer state is refused at load", function()
  local s = bytes("adam")
  local hlen = string.unpack("<I8", s)
  -- optim.state.exp_avg holds the first bytes of the data: make its first element a NaN
  local bad = s:sub(1, 8 + hlen) .. string.pack("<I4", 0x7fc00000) .. s:sub(8 + hlen + 5)
  local p = dir .. "/nan.safetensors"
  write(p, bad)
  T.raises("tensor 'optim.state.exp_avg' holds a non-finite value at element 1", ol.load, p)
end)

T.test("a file is restored only into its own optimizer, dtype and size", function()
  local ck = ol.load(file("rprop"))
  T.raises("holds a rprop optimizer, not adam", ck.restore, ck, nil, ol.optim.adam(ol.zeros(4, "f64")))
  T.raises("holds an optimizer working in f64, this one works in f32", ck.restore, ck, nil,
           ol.optim.rprop(ol.zeros(4, "f32")))
  T.raises("holds optimizer state 'step_size' of 4 elements, this optimizer's has 5", ck.restore, ck, nil,
           ol.optim.rprop(ol.zeros(5, "f64")))
  local opt = ol.optim.rprop(ol.zeros(4, "f64"))
  ck:restore(nil, opt)
  T.eq(opt.variant, "irprop+")
end)

T.test("(remove the temporary directory)", function() os.execute("rm -rf " .. dir) end)
T.run()
