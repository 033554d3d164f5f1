-- shampoo, soap and adagrad{full_matrix = true} from Lua: soap's
-- shampoo_beta as nil, max_precond_dim and full_matrix given at
-- construction only, opt.info and tostring naming the matrices whose side
-- uses the identity, full_matrix's size limit. The rules themselves are
-- checked against references in tests/engine/test_optim_precond.c.
local T = dofile((arg[0]:match("^(.*/)") or "./") .. "testlib.lua")
local ol = require "optlua"

T.test("soap's shampoo_beta: nil follows betas[2], a number is kept", function()
  T.eq(ol.optim.defaults("soap").shampoo_beta, nil)
  local opt = ol.optim.soap(ol.tensor({1, 2, 3}, "f64"))
  T.eq(opt.shampoo_beta, nil)
  T.ok(tostring(opt):find("shampoo_beta=nil,", 1, true), tostring(opt))
  T.ok(tostring(ol.optim.list()):find("shampoo_beta=nil", 1, true), "the listing shows nil")
  opt.shampoo_beta = 0.9
  T.eq(opt.shampoo_beta, 0.9)
  opt.shampoo_beta = nil
  T.eq(opt.shampoo_beta, nil)
  T.eq(ol.optim.soap(ol.tensor({1, 2}, "f64"), {shampoo_beta = 0.5}).shampoo_beta, 0.5)
  T.raises("option 'shampoo_beta' must be in [0, 1), got 1", function() opt.shampoo_beta = 1 end)
  T.raises("option 'shampoo_beta' must be in [0, 1), got -0.5", function() opt.shampoo_beta = -0.5 end)
  T.raises("must be a number", function() opt.shampoo_beta = "x" end)
end)

T.test("max_precond_dim: the identity on a longer side, named by opt.info", function()
  -- weights 4x3 and 1x4 (out x in): with max_precond_dim 3 the first's
  -- rows (4) use the identity
  local net = ol.nn.mlp{sizes = {3, 4, 1}, activation = "tanh", dtype = "f64"}
  for _, name in ipairs({"shampoo", "soap"}) do
    local opt = ol.optim[name](net, {max_precond_dim = 3})
    T.ok(opt.info:find("identity on the rows of param 1 (4x3, max_precond_dim 3)", 1, true),
         name .. ": opt.info is '" .. opt.info .. "'")
    T.ok(tostring(opt):find("; identity on the rows", 1, true), tostring(opt))
    T.eq(opt.max_precond_dim, 3)
    T.raises("max_precond_dim", function() opt.max_precond_dim = 10 end)
    T.raises("field 'info' is read-only", function() opt.info = "x" end)
    local plain = ol.optim[name](net)
    T.eq(plain.info, "")
    T.ok(not tostring(plain):find("identity", 1, true), tostring(plain))
  end
end)

T.test("adagrad's full_matrix: given at construction, at most 4096 elements a tensor", function()
  local w = ol.tensor({1, -1, 0.5, 2, 0, 3}, "f64")
  local opt = ol.optim.adagrad(w, {full_matrix = true, lr = 0.1})
  T.eq(opt.full_matrix, true)
  T.eq(opt:state().sum_matrix:numel(), 36)
  T.eq(opt:state().sum:numel(), 0)
  opt:step(ol.tensor({1, 0, 0, 0, 0, 0}, "f64"))
  -- G = e1 e1ᵀ: the first element moves by lr·1/(eps + 1), the others stay
  T.near_all(w, {1 - 0.1 / (1 + 1e-10), -1, 0.5, 2, 0, 3}, 1e-15)
  T.raises("full_matrix", function() opt.full_matrix = false end)
  T.raises("option 'full_matrix' takes tensors of at most 4096 elements (an n x n matrix each), got one of 4097",
           function() ol.optim.adagrad(ol.zeros(4097), {full_matrix = true}) end)
end)

T.run()
