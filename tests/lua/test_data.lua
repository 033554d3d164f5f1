-- ol.data: readers on fixture files written here, loaders, split and
-- standardisation, and the real Fashion-MNIST files when installed.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local tmp = os.tmpname()
local function fixture(name, bytes)
  local path = tmp .. "." .. name
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

-- A dataset whose sample i has features (i, 10 i): a batch row tells its sample.
local function numbered(n, labels)
  local x = ol.zeros(n, 2, "f64")
  for i = 1, n do x:set(i, 1, i); x:set(i, 2, 10 * i) end
  return ol.data.dataset(x, labels)
end

-- All batches of one epoch: the samples in order and the batch sizes.
local function epoch(loader)
  local order, sizes = {}, {}
  for x, y in loader:batches() do
    local n = x:size(1)
    sizes[#sizes + 1] = n
    T.eq(x:size(2), 2)
    for k = 1, n do
      local i = x:get(k, 1)
      T.eq(x:get(k, 2), 10 * i)
      order[#order + 1] = i
      if y then T.eq(y:get(k), loader.dataset.y:get(i)) end
    end
  end
  return order, sizes
end

local function is_permutation(order, n)
  if #order ~= n then return false end
  local seen = {}
  for _, i in ipairs(order) do
    if seen[i] or i < 1 or i > n then return false end
    seen[i] = true
  end
  return true
end

T.test("synthetic sets: sizes, classes, seeded", function()
  for _, kind in ipairs{"spirals", "xor", "blobs"} do
    local ds = ol.data.synthetic{kind = kind, n = 101, classes = kind == "xor" and 2 or 4,
                                 dim = kind == "blobs" and 3 or 2}
    T.eq(#ds, 101, kind)
    T.eq(ds.classes, kind == "xor" and 2 or 4, kind)
    T.eq(ds.x:size(2), kind == "blobs" and 3 or 2, kind)
    T.eq(ds.dtype, "f32")
    local count = {}
    for _, c in ipairs(ds.y:totable()) do count[c] = (count[c] or 0) + 1 end
    if kind == "xor" then T.eq(count[1], 51); T.eq(count[2], 50)
    else T.eq(count[1], 26); T.eq(count[4], 25) end
  end
  ol.seed(3)
  local a = ol.data.synthetic{kind = "spirals", n = 30}.x:totable()
  ol.seed(3)
  local b = ol.data.synthetic{kind = "spirals", n = 30}.x:totable()
  T.near_all(b, a, 0)
  local c = ol.data.synthetic{kind = "spirals", n = 30, dtype = "f64"}
  T.eq(c.dtype, "f64")
  T.raises("bad argument #1 to 'synthetic' (option 'kind' must be 'spirals', 'xor' or 'blobs', got 'moons')",
           ol.data.synthetic, {kind = "moons"})
  T.raises("xor has 2 classes", ol.data.synthetic, {kind = "xor", classes = 3})
  T.raises("unknown option 'size'", ol.data.synthetic, {kind = "xor", size = 3})
end)

T.test("loader: each sample once per epoch, batch sizes 1 .. #ds", function()
  local ds = numbered(10)
  for _, bs in ipairs{1, 3, 10, 25} do
    for _, shuffle in ipairs{false, true} do
      local l = ol.data.loader(ds, {batch_size = bs, shuffle = shuffle})
      T.eq(#l, math.ceil(10 / math.min(bs, 10)))
      for _ = 1, 2 do
        local order, sizes = epoch(l)
        T.ok(is_permutation(order, 10), "each sample exactly once")
        T.eq(#sizes, #l)
        for k = 1, #sizes - 1 do T.eq(sizes[k], bs) end
        T.eq(sizes[#sizes], bs >= 10 and 10 or (10 % bs == 0 and bs or 10 % bs))
        if not shuffle then for k = 1, 10 do T.eq(order[k], k) end end
      end
    end
  end
  -- full batch: one batch, the whole set
  local l = ol.data.loader(ds, {batch_size = #ds})
  local n = 0
  for x in l:batches() do n = n + 1; T.eq(x:size(1), 10) end
  T.eq(n, 1)
end)

T.test("loader: drop_last, dtype, determinism under a seed", function()
  local ds = numbered(10)
  local l = ol.data.loader(ds, {batch_size = 4, drop_last = true})
  T.eq(#l, 2)
  local order, sizes = epoch(l)
  T.eq(#order, 8); T.eq(sizes[1], 4); T.eq(sizes[2], 4)
  local seen = {}
  for _, i in ipairs(order) do T.ok(not seen[i]); seen[i] = true end

  for x, y in ol.data.loader(ds, {batch_size = 3, dtype = "f32"}):batches() do
    T.eq(x:dtype(), "f32"); T.eq(y, nil) -- unlabelled: no y
  end
  ol.seed(11)
  local a = epoch(ol.data.loader(ds, {batch_size = 3}))
  ol.seed(11)
  local b = epoch(ol.data.loader(ds, {batch_size = 3}))
  T.near_all(b, a, 0)
  local c = epoch(ol.data.loader(ds, {batch_size = 3}))
  T.ok(table.concat(a, ",") ~= table.concat(c, ","), "a new order for a new epoch")
end)

T.test("loader: balanced batches", function()
  -- 40 of class 1, 20 of class 2, 12 of class 3, sorted by class
  local labels = {}
  for i = 1, 72 do labels[i] = i <= 40 and 1 or i <= 60 and 2 or 3 end
  local ds = numbered(72, labels)
  T.eq(ds.classes, 3)
  for _, bs in ipairs{3, 6, 7} do
    local l = ol.data.loader(ds, {batch_size = bs, balanced = true})
    T.ok(l.balanced)
    local order = epoch(l)
    T.ok(is_permutation(order, 72))
    local left = {40, 20, 12}
    for s = 1, 72, bs do
      local cnt = {0, 0, 0}
      for k = s, math.min(s + bs - 1, 72) do
        local c = labels[order[k]]
        cnt[c] = cnt[c] + 1
        left[c] = left[c] - 1
      end
      local lo, hi = math.huge, -1
      for c = 1, 3 do
        if left[c] > 0 then lo = math.min(lo, cnt[c]); hi = math.max(hi, cnt[c]) end
      end
      if hi >= 0 then T.ok(hi - lo <= 1, "batch at " .. s .. " unbalanced") end
    end
    -- the first 36 samples: 12 of each class (class 3 runs out only then)
    local first = {0, 0, 0}
    for k = 1, 36 do first[labels[order[k]]] = first[labels[order[k]]] + 1 end
    T.eq(first[1], 12); T.eq(first[2], 12); T.eq(first[3], 12)
  end
  T.raises("labelled", ol.data.loader, numbered(5), {balanced = true})
  T.raises("bad argument #2 to 'loader' (option 'batch_size' must be >= 1, got 0)", ol.data.loader, ds,
           {batch_size = 0})
  T.raises("unknown option 'batchsize'", ol.data.loader, ds, {batchsize = 3})
end)

T.test("dataset from tensors, split, standardize", function()
  local ds = numbered(20, (function() local t = {} for i = 1, 20 do t[i] = 1 + i % 2 end return t end)())
  T.eq(#ds, 20); T.eq(ds.classes, 2); T.eq(ds.dtype, "f64")
  ol.seed(5)
  local tr, va = ds:split(0.75)
  T.eq(#tr, 15); T.eq(#va, 5)
  local all = {}
  for _, part in ipairs{tr, va} do
    local x, y = part.x, part.y
    for i = 1, #part do
      all[#all + 1] = x:get(i, 1)
      T.eq(y:get(i), 1 + x:get(i, 1) % 2)
    end
  end
  T.ok(is_permutation(all, 20), "split covers every sample once")
  ol.seed(5)
  local tr2 = ds:split(0.75)
  T.near_all(tr2.x, tr.x:totable(), 0, "split is seeded")

  -- standardise on tr: mean and population std computed here from raw values
  local raw_tr, raw_va = tr.x:totable(), va.x:totable()
  local s = tr:standardize()
  for j = 1, 2 do
    local m, v = 0, 0
    for i = 1, 15 do m = m + raw_tr[i][j] end
    m = m / 15
    for i = 1, 15 do v = v + (raw_tr[i][j] - m) ^ 2 end
    local sd = math.sqrt(v / 15)
    T.near(s.mean:get(j), m, 1e-12)
    T.near(s.std:get(j), sd, 1e-12)
    local z = tr.x
    for i = 1, 15 do T.near(z:get(i, j), (raw_tr[i][j] - m) / sd, 1e-12) end
    T.eq(va:standardize(s), s)
    z = va.x
    for i = 1, 5 do T.near(z:get(i, j), (raw_va[i][j] - m) / sd, 1e-12) end
  end
  T.ok(tr.standardized)
  T.raises("fitted on 2 features", function() numbered(3).x:size(1); ol.data.dataset(ol.zeros(3, 1)):standardize(s) end)

  T.raises("label 2 is not a class id", ol.data.dataset, ol.zeros(3, 2), {1, 0.5, 2})
  T.raises("out of range 1..2", ol.data.dataset, ol.zeros(3, 2), ol.tensor{1, 3, 2}, {classes = 2})
  T.raises("2 labels for 3 samples", ol.data.dataset, ol.zeros(3, 2), {1, 2})
end)

-- IDX fixtures: 3 images of 2x2 bytes, labels 0, 2, 1 (1-based: 1, 3, 2).
local function be32(n) return string.char(n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255) end
local images = "\0\0\8\3" .. be32(3) .. be32(2) .. be32(2)
               .. string.char(0, 255, 51, 102, 1, 2, 3, 4, 200, 100, 50, 25)
local labels = "\0\0\8\1" .. be32(3) .. string.char(0, 2, 1)

T.test("idx: raw and gzip files", function()
  local im, lb = fixture("im", images), fixture("lb", labels)
  local ds = ol.data.idx(im, lb)
  T.eq(#ds, 3); T.eq(ds.features, 4); T.eq(ds.classes, 3)
  T.near_all(ds.y, {1, 3, 2}, 0)
  local want = {{0, 1, 0.2, 0.4}, {1 / 255, 2 / 255, 3 / 255, 4 / 255},
                {200 / 255, 100 / 255, 50 / 255, 25 / 255}}
  T.near_all(ds.x, want, 1e-7)
  T.eq(ol.data.idx(im, lb, {classes = 10}).classes, 10)
  if os.execute("gzip -kf " .. im .. " " .. lb) then
    local gz = ol.data.idx(im .. ".gz", lb .. ".gz", {dtype = "f64"})
    T.near_all(gz.x, want, 1e-15)
    T.near_all(gz.y, {1, 3, 2}, 0)
    os.remove(im .. ".gz"); os.remove(lb .. ".gz")
  end
  os.remove(im); os.remove(lb)
end)

T.test("idx: bad input names the file and the byte", function()
  local lb = fixture("lb", labels)
  local bad = fixture("bad", "\1" .. images:sub(2))
  local e = T.raises("at byte 0: bad magic number 0x01000803", ol.data.idx, bad, lb)
  T.ok(e:find(bad, 1, true), "names the file")
  T.ok(e:find("bad argument #1 to 'idx'", 1, true))
  bad = fixture("bad", images:sub(1, -4))
  T.raises("at byte 25: truncated", ol.data.idx, bad, lb)
  bad = fixture("bad", "\0\0\8\1" .. be32(2) .. string.char(0, 1))
  T.raises("image/label count mismatch: 3 images", ol.data.idx, fixture("im", images), bad)
  bad = fixture("bad", "\0\0\8\1" .. be32(3) .. string.char(0, 12, 1))
  T.raises("at byte 9: label 12 of sample 2 is out of range 0..9", ol.data.idx,
           fixture("im", images), bad, {classes = 10})
  T.raises("cannot open", ol.data.idx, tmp .. ".missing", lb)
  os.remove(bad); os.remove(lb); os.remove(tmp .. ".im")
end)

T.test("csv: header, label column, errors with line and column", function()
  local p = fixture("csv", "a,b,label\n1,2,0\n3,4.5,1\n\n-1,1e2,1\n")
  local ds = ol.data.csv(p, {label = "label"})
  T.eq(#ds, 3); T.eq(ds.features, 2); T.eq(ds.classes, 2)
  T.near_all(ds.x, {{1, 2}, {3, 4.5}, {-1, 100}}, 0)
  T.near_all(ds.y, {1, 2, 2}, 0)
  -- no header (every field numeric), label in column 1, ids already 1-based
  p = fixture("csv", "2,5\n1,\"6\"\n")
  local d2 = ol.data.csv(p, {label = 1})
  T.near_all(d2.x, {{5}, {6}}, 0)
  T.near_all(d2.y, {2, 1}, 0)
  os.remove(p)
end)

T.test("csv: errors", function()
  local p = fixture("csv", "a;b\n1;2\n3;x\n")
  local e = T.raises("line 3, column 2: 'x' is not a number", ol.data.csv, p, {delimiter = ";"})
  T.ok(e:find(p, 1, true))
  p = fixture("csv", "a,b\n1,2\n3,4,5\n")
  T.raises("line 3: 3 fields, expected 2", ol.data.csv, p)
  p = fixture("csv", "a,b\n1,2\n3,7\n")
  T.raises("line 3, column 2: label 7 is out of range 0..2", ol.data.csv, p,
           {label_base = 0, classes = 3})
  T.raises("no column named 'c'", ol.data.csv, p, {label = "c"})
  T.raises("bad argument #2 to 'csv' (option 'delimiter' must be one character, got ';;')", ol.data.csv, p,
           {delimiter = ";;"})
  local d = ol.data.csv(p, {label = false})
  T.eq(d.classes, 0); T.eq(d.y, nil); T.eq(d.features, 2)
  os.remove(p)
end)

local FM = "/usr/share/datasets/fashion-mnist"
T.test("fashion_mnist: a missing directory, a bad split", function()
  T.raises("bad argument #1 to 'fashion_mnist' (option 'dir': no directory '" .. tmp .. ".none')",
           ol.data.fashion_mnist, {dir = tmp .. ".none"})
  T.raises("bad argument #1 to 'fashion_mnist' (option 'split' must be 'train' or 'test', got 'val')",
           ol.data.fashion_mnist, {split = "val"})
end)

T.test("fashion_mnist: a directory given without the IDX files says which it lacks", function()
  local d = tmp .. ".fm"
  assert(os.execute("mkdir -p " .. d))
  local err = T.raises("bad argument #1 to 'fashion_mnist' (option 'dir': '" .. d .. "' has no Fashion-MNIST IDX "
                       .. "files of split 'train' (looked for train-images-idx3-ubyte and train-labels-idx1-ubyte, "
                       .. "each gzipped (.gz) or not))", ol.data.fashion_mnist, {dir = d})
  T.ok(not err:find("not installed", 1, true), err)
  -- the test split's images there (decompressed), its labels not
  local f = assert(io.open(d .. "/t10k-images-idx3-ubyte", "wb"))
  f:close()
  T.raises("option 'dir': '" .. d .. "' has no Fashion-MNIST IDX file t10k-labels-idx1-ubyte of split 'test' "
           .. "(looked for t10k-labels-idx1-ubyte.gz and t10k-labels-idx1-ubyte)",
           ol.data.fashion_mnist, {dir = d, split = "test"})
  os.remove(d .. "/t10k-images-idx3-ubyte")
  os.remove(d)
end)

T.test("fashion_mnist: the installed files", function()
  local f = io.open(FM .. "/train-labels-idx1-ubyte.gz", "rb")
  if not f then T.skip("dataset-fashion-mnist not installed (" .. FM .. ")") end
  f:close()
  local ds = ol.data.fashion_mnist{split = "train"}
  T.eq(#ds, 60000); T.eq(ds.features, 784); T.eq(ds.classes, 10)
  local y = ds.y
  T.eq(y:size(1), 60000)
  T.eq(y:min(), 1); T.eq(y:max(), 10)
  -- the first label and image, read from the decompressed files by gzip
  local lab = io.popen("gzip -dc " .. FM .. "/train-labels-idx1-ubyte.gz | head -c 9"):read("a")
  T.eq(y:get(1), lab:byte(9) + 1)
  local img = io.popen("gzip -dc " .. FM .. "/train-images-idx3-ubyte.gz | head -c 800"):read("a")
  local x = ol.data.loader(ds, {batch_size = 1, shuffle = false}):batches()()
  T.eq(x:size(2), 784)
  for k = 1, 784 do T.near(x:get(1, k), img:byte(16 + k) / 255, 1e-7) end
  local test = ol.data.fashion_mnist{split = "test"}
  T.eq(#test, 10000)
end)

T.run()
