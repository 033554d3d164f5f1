-- ol.inspect, the text the REPL shows for a table: Lua constructors, keys
-- sorted, one line when it fits, limited in depth and length. The expected
-- texts are written out by hand from those rules.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

T.test("a table prints as a constructor: the array part, then the keys sorted", function()
  T.eq(ol.inspect({3, b = 2, a = {1, 2}}), "{3, a = {1, 2}, b = 2}")
  T.eq(ol.inspect({}), "{}")
  T.eq(ol.inspect({[1] = "one", [10] = 0, [2.5] = "x", ["a b"] = true, z = 1}),
       '{"one", [2.5] = "x", [10] = 0, ["a b"] = true, z = 1}')
  T.eq(ol.inspect({["end"] = 1, _x9 = 2}), '{_x9 = 2, ["end"] = 1}', "a keyword is no name")
  T.eq(ol.inspect({s = "a\nb", q = 'say "hi"'}), '{q = "say \\"hi\\"", s = "a\\nb"}')
  T.eq(ol.inspect({1.5, 2, true, false}), "{1.5, 2, true, false}")
  T.eq(ol.inspect(5), "5")
  T.eq(ol.inspect("s"), '"s"')
end)

T.test("what does not fit on a line goes one entry per line, nested by two", function()
  local t = {alpha = "xxxxxxxxxx", beta = {1, 2}}
  T.eq(ol.inspect(t), '{alpha = "xxxxxxxxxx", beta = {1, 2}}')
  T.eq(ol.inspect(t, {width = 20}), '{\n  alpha = "xxxxxxxxxx",\n  beta = {1, 2}\n}')
  T.eq(ol.inspect({inner = {alpha = "xxxxxxxxxx", beta = 22}}, {width = 30}),
       '{\n  inner = {\n    alpha = "xxxxxxxxxx",\n    beta = 22\n  }\n}')
end)

T.test("depth and length are limited; a cycle is named", function()
  T.eq(ol.inspect({{{{{1}}}}}), "{{{{{... 1 entry}}}}}")
  T.eq(ol.inspect({{{1, 2}}}, {depth = 2}), "{{{... 2 entries}}}")
  local list = {}
  for i = 1, 30 do list[i] = i end
  T.eq(ol.inspect(list, {items = 5}), "{1, 2, 3, 4, 5, ... (25 more)}")
  local c = {}
  c.self = c
  T.eq(ol.inspect(c), "{self = <cycle>}")
  local shared = {1}
  T.eq(ol.inspect({a = shared, b = shared}), "{a = {1}, b = {1}}", "shared is not a cycle")
end)

T.test("values inside: tensors by their footer, objects by their one-line tostring", function()
  T.eq(ol.inspect({w = ol.zeros(3, 2), s = ol.tensor(1.5, "f64")}),
       "{s = [f64 scalar tensor], w = [f32 tensor of size 3x2]}")
  local opt = ol.optim.sgd(ol.zeros(2), {lr = 0.5})
  T.eq(ol.inspect({opt}, {width = 200}), "{" .. tostring(opt) .. "}")
  T.ok(tostring(opt):find("^sgd{lr=0.5,"), tostring(opt))
  T.eq(ol.inspect({f = print}), "{f = <function>}")
  T.eq(ol.inspect({r = setmetatable({}, {__tostring = function() return "R" end})}), "{r = R}")
  T.eq(ol.inspect({r = setmetatable({}, {__name = "two", __tostring = function() return "a\nb" end})}),
       "{r = <two>}")
  -- a table's own fields, headed by its __name; at the top even with a __tostring
  T.eq(ol.inspect(setmetatable({x = 1}, {__name = "thing", __index = {y = 2}})), "thing {x = 1}")
  T.eq(ol.inspect(setmetatable({x = 1}, {__tostring = function() return "X" end})), "{x = 1}")
end)

T.test("options are checked", function()
  T.raises("bad argument #2 to 'inspect' (unknown option 'dpeth'; did you mean 'depth'?)", ol.inspect, {}, {dpeth = 1})
  T.raises("bad argument #2 to 'inspect' (option 'items' must be >= 1, got 0)", ol.inspect, {}, {items = 0})
end)

T.run()
