-- Data files against hostile input: CSV fields of any length read whole,
-- spellings that are not decimal numbers refused with their place, a byte
-- order mark, paths that are not regular files, IDX labels at the edge of
-- their range and class counts out of range.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

local path, dir = T.scratch()
local write_all = T.write_file

T.test("CSV fields are read whole, whatever their length", function()
  local p = path("long.csv")
  -- 5 and 149 zeros: 5e149 (150 characters), in the first row and after it
  local long = "5" .. string.rep("0", 149)
  write_all(p, long .. ",0.5\n1," .. long .. "\n")
  local ds = ol.data.csv(p, {label = false, dtype = "f64"})
  T.eq(ds.x:get(1, 1), 5e149)
  T.eq(ds.x:get(1, 2), 0.5)
  T.eq(ds.x:get(2, 2), 5e149)
  -- 1e200 written out in full
  write_all(p, "1,2\n" .. "1" .. string.rep("0", 200) .. ",2\n")
  T.eq(ol.data.csv(p, {label = false, dtype = "f64"}).x:get(2, 1), 1e200)
  -- a long label: 3.0 after 140 zeros
  write_all(p, "x,y\n1," .. string.rep("0", 140) .. "3.0\n2,1\n")
  ds = ol.data.csv(p)
  T.eq(ds.classes, 3)
  -- what follows a long prefix counts
  write_all(p, "1,2\n1,5" .. string.rep("0", 149) .. "abc\n")
  T.raises("long.csv line 2, column 2: '5000000000", ol.data.csv, p)
  T.raises("'... is not a number", ol.data.csv, p)
  write_all(p, "1,2\n1,7" .. string.rep(" ", 130) .. "junk\n")
  T.raises("line 2, column 2: '7     ", ol.data.csv, p)
end)

T.test("CSV fields must be decimal numbers: no hexadecimal, inf or nan", function()
  local p = path("spell.csv")
  for _, v in ipairs({"0x10", "0x1p3", "inf", "-Infinity", "nan", "1e", "1.2.3"}) do
    write_all(p, "a,b\n1,2\n3," .. v .. "\n")
    T.raises("spell.csv line 3, column 2: '" .. v .. "' is not a number", ol.data.csv, p, {label = false})
  end
  write_all(p, "a,b\n1,2\n3,1e999\n")
  T.raises("line 3, column 2: '1e999' is beyond the range of a double", ol.data.csv, p, {label = false})
end)

T.test("a UTF-8 byte order mark does not cost a CSV its first row or name", function()
  local p = path("bom.csv")
  write_all(p, "\xEF\xBB\xBF1,2,0\n3,4,1\n5,6,1\n")
  local ds = ol.data.csv(p)
  T.eq(#ds, 3)
  T.eq(ds.x:get(1, 1), 1)
  write_all(p, "\xEF\xBB\xBFspecies,x\n0,2\n1,4\n")
  ds = ol.data.csv(p, {label = "species"})
  T.eq(#ds, 2)
  T.eq(ds.x:get(2, 1), 4)
end)

T.test("an IDX label is reported as it is", function()
  local im, lb = path("im.idx"), path("lb.idx")
  write_all(im, "\0\0\8\2" .. string.pack(">I4I4", 1, 1) .. "\7")
  write_all(lb, "\0\0\12\1" .. string.pack(">I4i4", 1, 2147483647))
  T.raises("lb.idx at byte 8: label 2147483647 of sample 1 is too large", ol.data.idx, im, lb)
  write_all(lb, "\0\0\12\1" .. string.pack(">I4i4", 1, -3))
  T.raises("label -3 of sample 1 is negative", ol.data.idx, im, lb)
  write_all(lb, "\0\0\12\1" .. string.pack(">I4i4", 1, 2147483646))
  T.eq(ol.data.idx(im, lb).classes, 2147483647)
end)

T.test("the IDX and CSV classes option is range-checked", function()
  local im, lb = path("im.idx"), path("lb.idx")
  write_all(lb, "\0\0\8\1" .. string.pack(">I4", 1) .. "\3")
  T.raises("option 'classes' must be in 0..2147483647, got 4294967299", ol.data.idx, im, lb,
           {classes = 2 ^ 32 + 3})
  T.raises("option 'classes' must be in 0..2147483647, got -5", ol.data.idx, im, lb, {classes = -5})
  T.raises("label 3 of sample 1 is out of range 0..2", ol.data.idx, im, lb, {classes = 3})
  T.raises("option 'classes' must be in 0..2147483647", ol.data.csv, path("bom.csv"), {classes = -1})
end)

T.test("a FIFO or a directory given as data fails at once instead of waiting", function()
  local fifo = path("fifo")
  os.execute("mkfifo " .. fifo)
  local script = path("child.lua")
  write_all(script, string.format([[
    local ol = require "optlua"
    print(select(2, pcall(ol.data.csv, %q)))
    print(select(2, pcall(ol.data.idx, %q)))
    print(select(2, pcall(ol.data.idx, %q, %q)))
    print(select(2, pcall(ol.data.csv, %q)))
  ]], fifo, fifo, path("im.idx"), fifo, dir))
  local h = io.popen(string.format("timeout 20 '%s' '%s' 2>&1; echo \"status $?\"", arg[-1], script))
  local out = h:read("a")
  h:close()
  local _, count = out:gsub("fifo: not a regular file", "")
  T.eq(count, 3, out)
  T.ok(out:find(dir .. ": not a regular file", 1, true), out)
  T.ok(out:find("status 0", 1, true), out)
  os.remove(fifo)
end)

T.test("(remove the temporary directory)", function() os.execute("rm -rf " .. dir) end)
T.run()
