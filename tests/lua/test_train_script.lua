-- scripts/train.lua's checks before any data is read: an optimizer that
-- the training loop cannot drive and a --data directory without the
-- Fashion-MNIST files are refused up front, in one line that says why and
-- what would do, never a traceback. Runs the script as the user does, in
-- its own process (it exits).
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")

local here = arg[0]:match("^(.*/)") or "./"
local script = here .. "../../scripts/train.lua"

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The program that runs this test (optlua puts its own path in arg[-1]).
local program
for i = -1, -10, -1 do
  if arg[i] == nil then break end
  program = arg[i]
end

-- output (stdout and stderr), exit status
local function run(...)
  local parts = {quote(program), quote(script)}
  for _, a in ipairs{...} do parts[#parts + 1] = quote(a) end
  local h = assert(io.popen(table.concat(parts, " ") .. " </dev/null 2>&1; echo \"status=$?\"", "r"))
  local out = h:read("a")
  h:close()
  local status = tonumber(out:match("status=(%d+)%s*$"))
  return out:gsub("status=%d+%s*$", ""), status
end

local IDX = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"}

T.test("--optimizer newton: refused up front, with the optimizers that work", function()
  local out, status = run("--optimizer", "newton")
  T.eq(status, 2)
  T.ok(not out:find("traceback", 1, true), out)
  T.ok(out:find("^train.lua: %-%-optimizer newton: needs a closure"), out)
  local list = out:match("usable here: ([^\n]*)")
  T.ok(list, out)
  -- the closure-only methods of API.md (line searches, Hessian products) are
  -- out; first-order ones, which step from the model's gradients, are in
  for _, name in ipairs{"newton", "cg", "lbfgs", "hessian_free"} do
    T.ok(not (", " .. list .. ","):find(", " .. name .. ",", 1, true), name .. " listed: " .. list)
  end
  for _, name in ipairs{"sgd", "nag", "adam", "adamw", "rmsprop"} do
    T.ok((", " .. list .. ","):find(", " .. name .. ",", 1, true), name .. " missing: " .. list)
  end
  out, status = run("--optimizer", "adamm")
  T.eq(status, 2)
  T.ok(out:find("^train.lua: %-%-optimizer adamm: is not an optimizer; usable here: sgd"), out)
end)

T.test("--data: the directory, or the IDX files it lacks, named", function()
  local out, status = run("--data", "/nonexistent-optlua-data")
  T.eq(status, 1)
  T.ok(not out:find("traceback", 1, true) and not out:find("not installed", 1, true), out)
  T.ok(out:find("train.lua: --data /nonexistent-optlua-data: no such directory, so no Fashion-MNIST IDX files "
                .. "(looked for " .. table.concat(IDX, ", ") .. ", each gzipped (.gz) or not)", 1, true), out)
  -- a directory holding the training files only
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. quote(dir)))
  for i = 1, 2 do
    local fh = assert(io.open(dir .. "/" .. IDX[i] .. ".gz", "wb"))
    fh:close()
  end
  out, status = run("--data", dir)
  T.eq(status, 1)
  T.ok(out:find("--data " .. dir .. ": Fashion-MNIST IDX files missing there: " .. IDX[3] .. ", " .. IDX[4], 1, true), out)
  -- and none at all
  for i = 1, 2 do os.remove(dir .. "/" .. IDX[i] .. ".gz") end
  out = run("--data", dir)
  T.ok(out:find("--data " .. dir .. ": no Fashion-MNIST IDX files there (looked for", 1, true), out)
  os.remove(dir)
end)

T.run()
