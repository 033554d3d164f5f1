-- A small test harness for the Lua API tests.
--   local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
--   T.test("name", function() T.eq(1 + 1, 2) end)
--   T.test("needs data", function()
--     if not have_it then T.skip("what is missing (where it was looked for)") end
--     ...
--   end)
--   T.run()
-- T.run prints "FAIL <name>: <error>" for each failure (stderr) and
-- "SKIP <name>: <reason>" for each test that called T.skip, then the summary
-- "N passed, N failed, N skipped"; it exits non-zero when a test failed.
-- T.skip ends the test at once; a skipped test counts as skipped, never as
-- passed, so a missing resource shows in the summary instead of passing.
local T = {}
local tests = {}
local SKIP = {} -- the metatable of the error value T.skip raises

function T.test(name, fn) tests[#tests + 1] = {name = name, fn = fn} end

local function fail(msg, level) error(msg, (level or 1) + 2) end

function T.skip(reason)
  error(setmetatable({reason = tostring(reason)}, SKIP), 0)
end

function T.ok(v, msg) if not v then fail(msg or "expected a true value", 1) end end

function T.eq(got, want, msg)
  if got ~= want then
    fail(string.format("%sexpected %s, got %s", msg and (msg .. ": ") or "",
                       tostring(want), tostring(got)), 1)
  end
end

-- |got - want| <= atol + rtol * |want|
function T.near(got, want, atol, msg, rtol)
  atol = atol or 1e-12
  rtol = rtol or 0
  if type(got) ~= "number" or math.abs(got - want) > atol + rtol * math.abs(want)
     or got ~= got then
    fail(string.format("%sexpected %.17g (atol %g), got %s", msg and (msg .. ": ") or "",
                       want, atol, tostring(got)), 1)
  end
end

-- Elementwise comparison of a tensor (or nested table) with a nested table.
function T.near_all(got, want, atol, msg)
  if type(got) == "userdata" then got = got:totable() end
  atol = atol or 1e-12
  local function walk(g, w, path)
    if type(w) == "table" then
      if type(g) ~= "table" or #g ~= #w then
        fail(string.format("%sshape differs at %s", msg and (msg .. ": ") or "", path), 3)
      end
      for i = 1, #w do walk(g[i], w[i], path .. "[" .. i .. "]") end
    elseif type(g) ~= "number" or math.abs(g - w) > atol or g ~= g then
      fail(string.format("%sat %s expected %.17g, got %s", msg and (msg .. ": ") or "",
                         path, w, tostring(g)), 3)
    end
  end
  walk(got, want, "")
end

-- fn(...) must raise an error whose message contains `pattern` (plain text).
function T.raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then fail("expected an error containing '" .. pattern .. "', got none", 1) end
  err = tostring(err)
  if not err:find(pattern, 1, true) then
    fail("expected an error containing '" .. pattern .. "', got: " .. err, 1)
  end
  return err
end

-- Under AddressSanitizer, freed memory sits in a quarantine that would count
-- against a memory test's limit although Lua has freed it: reruns this test
-- file with the quarantine off (and the environment variables in env, a
-- table name -> value) and exits with its status. Does nothing elsewhere.
function T.without_asan_quarantine(env)
  local asan = false
  for line in io.lines("/proc/self/maps") do
    if line:find("libasan", 1, true) then asan = true break end
  end
  local opts = os.getenv("ASAN_OPTIONS") or ""
  if not asan or opts:find("quarantine_size_mb", 1, true) or not arg[-1] then return end
  local q = function(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
  local vars = {"ASAN_OPTIONS=" .. q("quarantine_size_mb=0:" .. opts)}
  for k, v in pairs(env or {}) do vars[#vars + 1] = k .. "=" .. q(v) end
  local ok = os.execute(table.concat(vars, " ") .. " " .. q(arg[-1]) .. " " .. q(arg[0]))
  os.exit(ok and 0 or 1)
end

-- A field of /proc/self/status ("VmRSS", "VmHWM", ...) in MiB.
function T.status_mb(field)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. field .. ":%s*(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
  error("no " .. field .. " in /proc/self/status")
end

-- A new, empty scratch directory: returns path(name), the path of name in
-- it, and the directory.
function T.scratch()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  return function(name) return dir .. "/" .. name end, dir
end

-- The bytes of file p.
function T.read_file(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Writes the bytes s as file p (through a symbolic link, as io.open does).
function T.write_file(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

-- Runs scripts/NAME (from a test in tests/lua) with the argument "small"
-- in this Lua state and returns what the script returns.
function T.run_example(name)
  local path = (arg[0]:match("^(.*/)") or "./") .. "../../scripts/" .. name
  local saved = arg
  arg = {[0] = path, "small"}
  local ok, res = pcall(dofile, path)
  arg = saved
  if not ok then error(res, 2) end
  return res
end

local function traceback(err)
  if getmetatable(err) == SKIP then return err end
  return debug.traceback(err, 2)
end

function T.run()
  local passed, failed, skipped = 0, 0, 0
  local only = os.getenv("OL_TEST")
  for _, t in ipairs(tests) do
    if not only or t.name:find(only, 1, true) then
      local ok, err = xpcall(t.fn, traceback)
      if ok then passed = passed + 1
      elseif getmetatable(err) == SKIP then
        skipped = skipped + 1
        print("SKIP " .. t.name .. ": " .. err.reason)
      else
        failed = failed + 1
        io.stderr:write("FAIL ", t.name, ": ", tostring(err), "\n")
      end
    end
  end
  print(string.format("%d passed, %d failed, %d skipped", passed, failed, skipped))
  os.exit(failed == 0 and 0 or 1)
end

return T
