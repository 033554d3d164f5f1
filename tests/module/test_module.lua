-- optlua.so loaded by the stock lua5.4 interpreter.
local ol = require "optlua"
assert(type(ol) == "table", "require 'optlua' returned " .. type(ol))
assert(require "optlua" == ol, "require returns the same table twice")
assert(type(ol.version) == "string")
print("1 passed, 0 failed")
