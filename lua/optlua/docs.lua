-- ol.docs: the documentation that help(x) prints, one entry per API
-- function, method and module, keyed by its path under the optlua table
-- ("optim.adam", "fn.rosenbrock"; methods as "tensor:add_"). The first
-- line of an entry is its signature, the rest what it does; the wording
-- follows the README's Reference. Optimizer entries get their
-- options and defaults appended by help, read live from the engine.
local D = {}

-- ---- the library and the program ----------------------------------------
D["optlua"] = [[
optlua: a C training engine embedding Lua 5.4
  The library is the global `optlua`, also named `ol` (require "optlua" returns it too).
  Areas: tensors (ol.tensor, ol.zeros, ...), models (ol.nn, ol.init), optimizers (ol.optim),
  schedules (ol.schedule, ol.clip), plateaus (ol.plateau), PCA (ol.pca), data and training
  (ol.data, ol.train, ol.lr_find), exploring optimizers (ol.fn, ol.explore, ol.compare,
  ol.plot), gradients and curvature (ol.gradcheck, ol.hessian, ol.hvp, ol.eig, ol.cond,
  ol.hessian_eigs, ol.spectrum).
  help(x) documents any of them: help(ol.optim.adam), help("adam").]]
D["help"] = [[
help([x])  /  ol.help([x])
  Prints the documentation of x: a function or module of the library (help(ol.optim.adam),
  help(ol.fn)), an object (a tensor, an optimizer, a run), or a name (help("adam"),
  help("tensor:add_")). help() prints an overview. ol.help.text(x) returns the text instead.]]
D["version"] = "ol.version\n  The version string of optlua."
D["threads"] = "ol.threads([n]) -> n\n  The thread count of BLAS and the engine; sets it first when n is given (0: all cores)."
D["clock"] = "ol.clock() -> seconds\n  The monotonic wall clock (os.clock is CPU time, inflated by BLAS threads)."
D["blas"] = "ol.blas() -> {config = ..., core = ...}\n  The OpenBLAS build and the core whose kernels it chose for this CPU: which\n  kernels run decides the order of the sums in a product, so its last bits."
D["modules"] = "ol.modules() -> {names}\n  The Lua-side modules embedded in the program (loaded lazily as ol.NAME)."
D["seed"] = "ol.seed(n)\n  Seeds the global RNG: the same seed gives the same numbers on every machine."
D["inspect"] = [[
ol.inspect(v [, {depth = 4, items = 20, width = 80}]) -> string
  v as readable text; the REPL shows a table (one without __tostring) by it. A table prints as a
  Lua constructor, its array part first, then its other keys sorted (numbers, then names); on one
  line when it fits in width, else one entry per line. Below depth levels a table is {...} with
  its size, after items entries "... (n more)"; inside a table a tensor prints as its footer
  ([f32 tensor of size 3x2]), an object by its one-line tostring (optimizers, models).]]

-- ---- tensors --------------------------------------------------------------
D["tensor"] = [[
ol.tensor(values [, dtype]) -> tensor
  A tensor from a number or a flat or nested table; dtype "f32" (default) or "f64".
  Methods (help("tensor:NAME")): shape size dim numel dtype get set view reshape t clone
  contiguous narrow index copy_ fill_ zero_ to totable add_ sub_ mul_ div_ addcmul_ addcdiv_
  clamp_ abs sqrt exp log tanh sigmoid sign pow sum mean max min argmax norm dot mm mv.
  Operators + - * / (elementwise; scalars on either side; a row vector broadcasts over rows),
  unary -, #t, t[i] (1-D: number; n-D: view of slice i), tostring(t).
  Methods ending in _ work in place and return the tensor.]]
D["zeros"] = "ol.zeros(d1, d2, ... [, dtype]) -> tensor\n  A tensor of zeros of the given sizes."
D["ones"] = "ol.ones(d1, d2, ... [, dtype]) -> tensor\n  A tensor of ones."
D["empty"] = "ol.empty(d1, d2, ... [, dtype]) -> tensor\n  A tensor whose values are not set."
D["full"] = "ol.full(shape, value [, dtype]) -> tensor\n  A tensor of the shape {d1, ...} filled with value."
D["eye"] = "ol.eye(n [, dtype]) -> tensor\n  The n x n identity matrix."
D["arange"] = "ol.arange(n [, dtype]) -> tensor\n  The 1-D tensor 1, 2, ..., n."
D["rand"] = "ol.rand(d1, ... [, dtype]) -> tensor\n  Uniform random numbers in [0, 1) from the global RNG (ol.seed)."
D["randn"] = "ol.randn(d1, ... [, dtype]) -> tensor\n  Standard normal random numbers from the global RNG (ol.seed)."
D["mm"] = "ol.mm(a, b) -> tensor\n  Matrix product (BLAS gemm); inner sizes must agree."
D["print_options"] = [[
ol.print_options([{edge = 3, threshold = 1000, precision = "auto", linewidth = 80}]) -> options
  How tostring(t) prints tensors, as torch.set_printoptions: a tensor of more than threshold
  elements is summarised, each dimension longer than 2 * edge showing its first and last edge
  entries around "..." (math.huge: never). precision: decimals of non-integers, "auto" = 4 for f32
  and 8 for f64. A row longer than linewidth characters goes on over several lines (a vector) or
  in blocks of columns (a matrix). Sets the options given (the others stay) and returns all of
  them; ol.print_options() only returns them, ol.print_options("default") restores the defaults.]]
D["istensor"] = "ol.istensor(v) -> boolean\n  Whether v is a tensor."
D["evaluate"] = "ol.evaluate(net, ds [, loss [, loss_options]]) -> mean loss, accuracy\n  Over a dataset, in C, at the parameters as they are (schedule-free: opt:eval() first).\n  loss_options as net:loss takes them (help(\"losses\")); with class weights the mean divides by\n  the sum of the rows' class weights over the whole set.\n  (net:evaluate(x, target, kind) is forward, loss and backward: help(\"model:evaluate\").)"

local methods = {
  shape = "t:shape() -> {d1, ...}\n  The sizes as a Lua array.",
  size = "t:size(dim) -> n\n  The size along dim (1-based).",
  dim = "t:dim() -> n\n  The number of dimensions.",
  numel = "t:numel() -> n\n  The number of elements.",
  dtype = "t:dtype() -> \"f32\" | \"f64\"\n  The element type.",
  get = "t:get(i, j, ...) -> number\n  The element at 1-based indices.",
  set = "t:set(i, j, ..., v)\n  Sets the element at 1-based indices.",
  view = "t:view(d1, ...) -> tensor\n  A view with another shape (same storage; t must be contiguous).",
  reshape = "t:reshape(d1, ...) -> tensor\n  Another shape: a view when possible, else a copy.",
  t = "t:t() -> tensor\n  The transpose of a matrix (a view).",
  clone = "t:clone() -> tensor\n  A copy with its own storage.",
  contiguous = "t:contiguous() -> tensor\n  t itself if contiguous, else a contiguous copy.",
  narrow = "t:narrow(dim, start, len) -> tensor\n  A view of len slices along dim from start.",
  index = "t:index(idx) -> tensor\n  Gathers rows by an index tensor or table.",
  copy_ = "t:copy_(src) -> t\n  Copies src (same number of elements) into t.",
  fill_ = "t:fill_(v) -> t\n  Sets every element to v.",
  zero_ = "t:zero_() -> t\n  Sets every element to 0.",
  to = "t:to(dtype) -> tensor\n  A copy in another element type.",
  totable = "t:totable() -> table\n  The values as a (nested) Lua table.",
  add_ = "t:add_(u [, alpha]) -> t\n  t <- t + alpha * u (u a tensor or number).",
  sub_ = "t:sub_(u) -> t\n  t <- t - u.",
  mul_ = "t:mul_(s_or_u) -> t\n  t <- t * s (scalar or elementwise).",
  div_ = "t:div_(s_or_u) -> t\n  t <- t / s (scalar or elementwise).",
  addcmul_ = "t:addcmul_(a, b [, value]) -> t\n  t <- t + value * a * b (elementwise).",
  addcdiv_ = "t:addcdiv_(a, b [, value]) -> t\n  t <- t + value * a / b (elementwise).",
  clamp_ = "t:clamp_(lo, hi) -> t\n  Clamps every element into [lo, hi].",
  abs = "t:abs() -> tensor\n  Elementwise |t|.", sqrt = "t:sqrt() -> tensor\n  Elementwise square root.",
  exp = "t:exp() -> tensor\n  Elementwise exp.", log = "t:log() -> tensor\n  Elementwise natural log.",
  tanh = "t:tanh() -> tensor\n  Elementwise tanh.", sigmoid = "t:sigmoid() -> tensor\n  Elementwise 1 / (1 + exp(-t)).",
  sign = "t:sign() -> tensor\n  Elementwise sign (-1, 0, 1).", pow = "t:pow(p) -> tensor\n  Elementwise t^p.",
  sum = "t:sum([dim]) -> number | tensor\n  Sum of all elements, or along dim.",
  mean = "t:mean([dim]) -> number | tensor\n  Mean of all elements, or along dim.",
  max = "t:max([dim]) -> number | tensor\n  Largest element, or along dim.",
  min = "t:min([dim]) -> number | tensor\n  Smallest element, or along dim.",
  argmax = "t:argmax([dim]) -> index | tensor\n  1-based index of the largest element, or along dim.",
  norm = "t:norm([p]) -> number\n  The p-norm of all elements (default 2).",
  dot = "t:dot(u) -> number\n  The dot product of two tensors of as many elements.",
  mm = "a:mm(b) -> tensor\n  Matrix product (BLAS gemm).",
  mv = "a:mv(x) -> tensor\n  Matrix-vector product (BLAS gemv).",
}
for k, v in pairs(methods) do D["tensor:" .. k] = v end

-- ---- models ---------------------------------------------------------------
D["nn"] = [[
ol.nn: models with one flat parameter buffer (layers are views into it)
  ol.nn.mlp{sizes = {784, 256, 10}, activation = "relu", init = "xavier_uniform", gain, dtype}
  ol.nn.sequential{layer, ...}   ol.nn.linear(in, out)   activations: relu leaky_relu tanh
  sigmoid gelu silu elu softplus identity. Losses: help("losses"). Methods (help("model:NAME")): forward loss backward evaluate zero_grad
  params grads parameters predict to.
  ol.nn.dropout(p); net:train() / net:eval() set the mode, net.training reads it.
  ol.nn.layer_norm(n, {eps, affine}), ol.nn.batch_norm(n, {eps, momentum, affine});
  net:buffers() lists batch norm's running estimates.]]
D["nn.mlp"] = [[
ol.nn.mlp{sizes = {in, h1, ..., out}, activation = "relu", dropout = nil, norm = nil, init = "xavier_uniform", gain = nil, dtype = "f32"}
  A multi-layer perceptron: linear layers with the activation between them; with dropout = p,
  a dropout layer after each hidden activation (linear, act, dropout, ..., linear); with
  norm = "layer" or "batch", a layer_norm or batch_norm (default options) after each hidden
  linear layer, before its activation (linear, norm, act, dropout, ..., linear).]]
D["nn.sequential"] = "ol.nn.sequential{layer, ...} -> model\n  Layers applied in order, e.g. {ol.nn.linear(784, 256), ol.nn.relu(), ol.nn.linear(256, 10)}."
D["nn.linear"] = "ol.nn.linear(in, out) -> layer\n  A fully connected layer, weight shaped out x in (as torch.nn.Linear), and a bias."
D["nn.activations"] = "ol.nn.activations\n  The activation names, e.g. {\"identity\", \"relu\", ...}: each is ol.nn.NAME() and mlp's activation."
for _, a in ipairs(require("optlua").nn.activations) do
  D["nn." .. a] = "ol.nn." .. a .. "() -> layer\n  The " .. a .. " activation as a layer for ol.nn.sequential."
end
D["nn.dropout"] = [[
ol.nn.dropout(p = 0.5) -> layer   (or ol.nn.dropout{p = 0.5})
  Inverted dropout, as torch.nn.Dropout: in training mode each element is zeroed with
  probability p (0 <= p < 1) and the others multiplied by 1/(1 - p); in evaluation mode
  (net:eval()) the identity. The masks come from the global RNG (ol.seed): one draw per dropout
  layer per forward pass, the mask counter-based from it, so the same seed gives the same masks
  on any number of threads. No parameters, but it counts as a layer in the names ("4.weight").
  Curvature products (ol.hvp, ol.hessian, hessian_free, ...) use evaluation mode.]]
D["nn.layer_norm"] = [[
ol.nn.layer_norm(n, {eps = 1e-5, affine = true}) -> layer
  As torch.nn.LayerNorm(n): each row's n features normalised to mean 0 and variance 1
  (biased variance, eps added), then scaled by a weight (starts at 1) and shifted by a bias
  (starts at 0) when affine. The weight and bias are parameters in the flat buffer, named
  "LAYER.weight" and "LAYER.bias" ("2.weight" after a first linear layer). The same in both
  modes. Curvature products (ol.hvp, ol.hessian, hessian_free) are exact through it.]]
D["nn.batch_norm"] = [[
ol.nn.batch_norm(n, {eps = 1e-5, momentum = 0.1, affine = true}) -> layer
  As torch.nn.BatchNorm1d(n): in training mode each of the n features is normalised with the
  batch's mean and biased variance, and the running estimates move:
    running_mean = (1 - momentum) running_mean + momentum mean
    running_var  = (1 - momentum) running_var  + momentum unbiased variance
  (starting at 0 and 1); in evaluation mode (net:eval(), validation, ol.evaluate,
  net:predict) the running estimates normalise. A batch of 1 in training mode is an error.
  The running estimates are buffers (net:buffers()), not parameters: optimizers do not step
  them; ol.save keeps them as "LAYER.running_mean" / "LAYER.running_var". Curvature products
  use evaluation mode (the running estimates). Distributed training keeps them per rank.]]
D["model:buffers"] = [[
net:buffers() -> {{name = "2.running_mean", tensor = view}, ...}
  The state that is not a parameter: each batch_norm's running_mean and running_var (views
  into the model). Checkpoints save and restore them.]]
D["model:train"] = [[
net:train() -> net
  Training mode (a new model's): dropout drops. net.training is true. ol.train sets it for
  its steps and restores the mode it found at the end.]]
D["model:eval"] = [[
net:eval() -> net
  Evaluation mode: dropout is the identity. net.training is false. ol.evaluate, net:predict
  and ol.train's validation use evaluation mode whatever the model's (and restore it);
  net:forward, net:loss and net:evaluate use the model's current mode.]]
D["nn.silu"] = "ol.nn.silu() -> layer\n  x * sigmoid(x) (torch.nn.SiLU), as a layer for ol.nn.sequential."
D["nn.elu"] = "ol.nn.elu() -> layer\n  x if x > 0 else exp(x) - 1 (torch.nn.ELU with its default alpha = 1; alpha is fixed)."
D["nn.softplus"] = "ol.nn.softplus() -> layer\n  log(1 + exp(x)), and x itself above 20 (torch.nn.Softplus: beta = 1, threshold = 20)."
D["losses"] = [[
Losses, by name (net:loss, net:evaluate, ol.evaluate, ol.train's loss, the curvature tools), all
the mean over the batch as torch's reduction = "mean":
  "cross_entropy"  log-softmax + NLL; targets class ids 1..C or rows of class probabilities.
                   Options {label_smoothing = 0 (in [0, 1]), weight = nil (C values >= 0, a tensor
                   or a list)}, as torch.nn.CrossEntropyLoss: with class ids
                   (1 - e) sum w_y nll / sum w_y + (e / C) sum_i sum_c w_c (-log p_ic) / sum w_y;
                   with probabilities t: targets (1 - e) t + e / C, weighted by w_c, mean over rows.
  "mse"            mean of (y - t)^2.   "bce"   binary cross-entropy with logits.
  "huber"          {delta = 1 (> 0)}: x^2 / 2 if |x| < delta else delta (|x| - delta / 2),
                   x = y - t, mean over all elements (torch.nn.HuberLoss).
  The options are the argument after the name: net:loss(x, target, kind, options),
  net:evaluate(...), ol.evaluate(net, ds, kind, options), ol.hessian(net, x, target, kind, options);
  a table key where the function has an options table: ol.train{loss = kind, loss_options = {...}},
  ol.hvp(..., {loss_options = ...}), ol.hessian_eigs(..., {loss_options}), ol.gradcheck(..., {loss_options}).
  An option of another loss, or an unknown one, is an error.]]
D["model:forward"] = "net:forward(x) -> y\n  x: N x in -> N x out."
D["model:loss"] = "net:loss(x, target [, kind [, options]]) -> number\n  kind: \"cross_entropy\" (class ids 1..C or one-hot), \"mse\", \"bce\", \"huber\";\n  options: {label_smoothing, weight} for cross_entropy, {delta} for huber (help(\"losses\"))."
D["model:backward"] = "net:backward()\n  Gradients of the last loss, accumulated into net:grads()."
D["model:evaluate"] = "net:evaluate(x, target [, kind [, options]]) -> loss, grads\n  Forward, loss and backward in one call (options as net:loss)."
D["model:zero_grad"] = "net:zero_grad()\n  Sets the gradients to zero."
D["model:params"] = "net:params() -> tensor\n  Every parameter in one flat tensor (the layers are views into it)."
D["model:grads"] = "net:grads() -> tensor\n  Every gradient in one flat tensor."
D["model:parameters"] = "net:parameters() -> {{name = \"1.weight\", tensor = view, grad = view, offset, model = net}, ...}\n  The parameters one by one."
D["model:select"] = [[
net:select(pattern) -> {entries of net:parameters() whose name matches the Lua pattern}
  For parameter groups: ol.optim.adamw({{params = net:select("weight$"), weight_decay = 0.1},
  {params = net:select("bias$"), weight_decay = 0}}, {lr = 1e-3}).]]
D["model:predict"] = "net:predict(x) -> class ids\n  The most likely class of each row, in evaluation mode (the model's mode is restored)."
D["model:layers"] = "net:layers() -> {{kind = \"linear\", [\"in\"] = 784, out = 256}, {kind = \"relu\"}, ...}\n  The layers in order (leaky_relu also has slope, dropout p)."
D["model:sizes"] = "net:sizes() -> {in, out}\n  The model's input and output widths."
D["model:num_params"] = "net:num_params() -> n\n  The number of parameters."
D["model:to"] = "net:to(dtype) -> model\n  A copy of the model in \"f32\" or \"f64\" (gradients zero)."
D["model:dtype"] = "net:dtype() -> \"f32\" | \"f64\""
D["init"] = [[
ol.init: weight initialisations, in place on a tensor
  xavier_uniform(t, gain) xavier_normal(t, gain) fan_in_uniform(t, gain) kaiming_uniform(t, a, mode,
  nonlinearity) kaiming_normal(...) orthogonal(t, gain) normal(t, mean, std) uniform(t, a, b)
  constant(t, v) zeros(t); gain(nonlinearity [, param]) as torch.nn.init.calculate_gain, which has
  no gain for gelu, silu, elu or softplus: gain refuses them (pass a gain yourself); an mlp's
  kaiming init takes relu's gain for them.]]
for _, n in ipairs{"xavier_uniform", "xavier_normal", "fan_in_uniform", "kaiming_uniform", "kaiming_normal",
                   "orthogonal", "normal", "uniform", "constant", "zeros", "gain"} do
  D["init." .. n] = "ol.init." .. n .. "(t, ...)\n  See help(ol.init)."
end
D["gradcheck"] = [[
ol.gradcheck(fn_or_net, ..., {eps = 1e-6, atol = 1e-5, rtol = 1e-3}) -> ok, max_abs_err, max_rel_err, where
  Compares analytic gradients with central differences in f64:
  ol.gradcheck(f, x0 [, opts]) for f(x) -> loss, grad; ol.gradcheck(net, x, target [, kind] [, opts]),
  where opts.loss_options are the loss's options (help("losses")). A net is checked in its mode; in
  training mode every evaluation sees the same dropout masks (the RNG state is held, and restored after).]]

D["hessian"] = [=[
ol.hessian(f, x) -> n x n tensor  /  ol.hessian(net, x, target [, kind [, loss_options]])
  The Hessian of f(x) -> loss, grad at x (central differences of the gradient), or of a model's
  loss (exact, by the R-operator).]=]
D["hvp"] = [[
ol.hvp(f, x, v) -> tensor  /  ol.hvp(net, x, target, kind, v [, {gauss_newton = false, loss_options}])
  The Hessian-vector product H v (or the Gauss-Newton product) without forming H.]]
D["eig"] = "ol.eig(a [, tol]) -> values (ascending), vectors (columns)\n  Eigen-decomposition of a symmetric matrix."
D["cond"] = "ol.cond(a [, tol]) -> number\n  The condition number max|lambda| / min|lambda| of a symmetric matrix."
D["hessian_eigs"] = [[
ol.hessian_eigs(f, x [, {k = 3, steps}]) / ol.hessian_eigs(net, x, target, kind [, {k, steps, gauss_newton, loss_options}])
  -> values (descending), vectors (k x n): the largest Hessian eigenvalues by Lanczos (full
  reorthogonalisation) on Hessian-vector products; ol.spectrum.eigs gives the smallest too.]]
D["spectrum"] = [[
ol.spectrum: curvature of a loss, during training too
  ol.spectrum.eigs(...)     the top-k and bottom-k Hessian eigenvalues (Lanczos): a saddle or a minimum
  ol.spectrum.density(...)  the eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019)
  ol.spectrum.track{...}    an on_epoch hook recording them, plotted against 2/lr (Cohen et al. 2021)
  ol.spectrum.extremes(c)   lambda_min, lambda_max of an eigs result or a tracker's latest record
  ol.plateau's diagnosis names a saddle from them: ol.plateau{curvature = tracker}.]]
D["spectrum.eigs"] = [[
ol.spectrum.eigs(net, x, target, kind [, {k = 5, which = "both", steps, vectors = false, gauss_newton = false, loss_options}])
ol.spectrum.eigs(f, x [, {k, which, steps, vectors}]) -> {top = {descending}, bottom = {ascending}, steps}
  One Lanczos run with full reorthogonalisation on exact Hessian-vector products (a model) or central
  differences of f's gradient (refused when not symmetric), from a fixed start (no RNG drawn).
  which = "both" | "top" | "bottom"; steps: default min(n, max(3k, 30)), n the parameter count; exact
  when steps = n. A repeated eigenvalue shows once, and Lanczos stops early on an invariant subspace
  (result.steps). vectors = true adds top_vectors and bottom_vectors (k x n). A negative bottom value
  is a Rayleigh quotient below 0: proof of negative curvature (a saddle).]]
D["spectrum.density"] = [[
ol.spectrum.density(net, x, target, kind [, {vectors = 10, steps = 80, sigma, points = 10000, gauss_newton, loss_options}])
ol.spectrum.density(f, x [, {...}]) -> d
  Stochastic Lanczos quadrature: per Rademacher start vector (ol's RNG: ol.seed fixes them), steps
  Lanczos steps give nodes theta_j and weights tau_j (squared first components of the tridiagonal's
  eigenvectors, summing to 1). density(lambda) = mean over vectors of sum_j tau_j N(lambda; theta_j,
  sigma^2), which integrates to 1; sigma^2 defaults to 1e-5 max(1, theta_max - theta_min) (the paper's
  code), the grid to points values over [theta_min - 5 sigma, theta_max + 5 sigma].
  d.nodes, d.weights (one list per vector), d.grid, d.density, d.sigma; d:plot("density.png"
  [, {title, logy = true}]) draws it on a log scale as the paper does; tostring(d).]]
D["spectrum.track"] = [[
ol.spectrum.track{model, optimizer, data = dataset, rows = 1000, loss = "cross_entropy", loss_options,
                  k = 5, every = 1, which = "both", steps, gauss_newton = false} -> tracker
  ol.train{..., on_epoch = tracker}, or tracker(s) from your own on_epoch. Every `every` epochs it
  records {epoch, step, top, bottom, lr, momentum, threshold} in tracker.history: the Hessian's
  extreme eigenvalues on the dataset's first `rows` rows (a fixed batch) and the edge of stability,
  2/lr for gradient descent, (2 + 2b)/lr with heavy-ball momentum b, (2 + 2b)/(lr (1 + 2b)) with
  Nesterov's (sgd nesterov, nag), nil for other optimizers. It overwrites net:grads().
  tracker:plot("eos.png" [, {title}]): lambda_max and the top ones against the epoch with the bound,
  and the bottom ones beside zero.]]
D["spectrum.extremes"] = [[
ol.spectrum.extremes(c) -> lambda_min, lambda_max
  Of an ol.spectrum.eigs result, or of a tracker's latest record; nil where not computed.]]

-- ---- optimizers -----------------------------------------------------------
D["optim"] = [[
ol.optim: optimizers, all built and stepped the same way
  local opt = ol.optim.NAME(params, options)   -- params: a model, a tensor updated in place, or
                                               -- groups {{params = net:select("weight$"), lr = ...}, ...}
  opt:step(closure)   -- closure() -> loss, grad (at the params' current value)
  opt:step(grad)      opt:step()  (a model: its current gradients)
  opt.lr = 0.01       -- every option is a live field (schedules, warm-ups)
  opt.t  opt:state()  opt:reset()  opt:options()  opt:schedule(field, f)
  opt.name  opt.dtype  opt.params (the tensor it updates)  opt.mode  pairs(opt): options, then these fields
  opt.groups[i].lr (per group; opt.lr = v sets all)  opt.groups[i]:schedule(field, f)
  opt:eval()  opt:train()  -- schedule-free (sf_adamw, sf_sgd): parameters to the average and back
  ol.optim.list() -> the names (printed: with options and defaults); ol.optim.defaults(name);
  ol.optim.kind(name). An unknown ol.optim.NAME is an error naming the known ones.
  help("adam") etc. give each one's rule and defaults.]]
D["optim.list"] = "ol.optim.list() -> {names}\n  Every optimizer's name, in registry order; printed (print(ol.optim.list()) or at the REPL)\n  it lists every optimizer with its options and defaults."
D["optim.defaults"] = "ol.optim.defaults(name) -> {option = default, ...}\n  The default options of one optimizer (pairs as {a, b}, enums as names)."
D["optim.kind"] = [[
ol.optim.kind(name) -> "fused" | "tensor" | "closure" | "wrapper"  (nil and why, for a name that is no optimizer)
  How the optimizer steps: "fused", one pass over the flat parameters; "tensor", on each parameter
  tensor as a whole (muon, lamb, adafactor, ...); "closure", only with opt:step(closure), which it calls several times per step (newton, cg,
  lbfgs, hessian_free): ol.train does not drive these; "wrapper", built over another optimizer, which
  it steps (lookahead).]]
D["optimizer:step"] = "opt:step(closure | grad | nil) -> loss\n  One step; a closure() -> loss, grad may be called several times."
D["optimizer:state"] = "opt:state() -> {name = tensor view}\n  The optimizer's state (moments, gains, step sizes)."
D["optimizer:reset"] = "opt:reset() -> opt\n  Clears the state."
D["optimizer:eval"] = [[
opt:eval() -> opt
  Schedule-free optimizers (sf_adamw, sf_sgd): sets the parameters to the average x, the point to
  evaluate, predict with or save as the final model, and puts opt in eval mode (opt.mode == "eval"),
  where opt:step is an error until opt:train(). Does nothing when already in eval mode, and for the
  other optimizers, whose parameters are always the point to evaluate (so a script may call it with
  any optimizer). ol.train switches by itself around its validation; ol.evaluate does not: call
  opt:eval() before it. ck:restore brings back the mode a checkpoint was saved in.]]
D["optimizer:train"] = [[
opt:train() -> opt
  Back from opt:eval(): the parameters to the training point y (to rounding), train mode
  (opt.mode == "train"), steps allowed. Does nothing in train mode and for optimizers without modes.]]
D["optimizer:options"] = "opt:options() -> {name = value}\n  A copy of every option (with groups: those every group shares, and groups = {each group's options})."
D["optimizer:groups"] = [[
opt.groups -> {group, ...}: the parameter groups (one unless built from a list of groups)
  group.lr = v sets that group's option (checked); group.index, group.params (the tensors' names),
  group:schedule(field, f) for that group alone. opt.lr = v sets every group; reading opt.lr is an
  error when the groups differ. A group's options: defaults, then the constructor's second
  argument, then the group's own. A parameter in two groups is an error; parameters in no group
  stay as they are. muon: groups with use = "adamw" step by AdamW (their lr, betas, eps,
  weight_decay, amsgrad), groups with use = "muon" hold matrices only.]]
D["optimizer:schedule"] = [[
opt:schedule(field, f) -> opt
  Sets field <- f(t) before every step (t from 1); f = nil removes it. An option read only at the
  first step after a reset (rprop's lr, adagrad's and yogi's initial_accumulator_value) takes no schedule.]]
local optim = {
  sgd = "Stochastic gradient descent with momentum (torch.optim.SGD): b <- mu b + (1 - dampening) g; "
        .. "w <- w - lr (g + mu b if nesterov else b).",
  nag = "Nesterov's accelerated gradient, true lookahead form (Sutskever et al. 2013): "
        .. "p <- mu p + lr grad f(w - mu p), w <- w - p; the closure is evaluated at the lookahead point.\n"
        .. "  opt:step(grad) uses the equivalent form whose parameters hold the lookahead point; a run keeps\n"
        .. "  to one form (mixing them is an error; opt:reset() starts a new run).",
  adaptive_gains = "Per-weight gains (Jacobs 1988, delta-bar-delta style): g += gain_up when successive "
        .. "gradients share a sign, g *= gain_down when they differ; clipped to [gain_min, gain_max]; w <- w - lr g grad.",
  rprop = "Resilient propagation (Riedmiller & Braun 1993; Igel & Huesken 2000 variants): sign-based steps "
          .. "grown by etas[2], shrunk by etas[1], within step_sizes.\n"
          .. "  lr is the initial step size, read at the first step after a reset (so it takes no schedule).",
  rmsprop = "RMSprop (Tieleman & Hinton 2012; torch.optim.RMSprop): v <- alpha v + (1 - alpha) g^2, w <- w - lr g / (sqrt(v) + eps).\n"
            .. "  gains = true adds adaptive_gains' per-weight gains (gain_up, gain_down, gain_min, gain_max), updated\n"
            .. "  first: the step is lr gain g / (sqrt(v) + eps); with momentum b <- mu b + gain g / (sqrt(v) + eps), w <- w - lr b.",
  adagrad = "Adagrad (Duchi et al. 2011): s <- s + g^2, w <- w - lr g / (sqrt(s) + eps).\n"
            .. "  full_matrix = true (given at construction): per tensor flattened, of at most 4096 elements,\n"
            .. "  G <- G + g g^T (G starts at initial_accumulator_value I), w <- w - lr (eps I + G^(1/2))^-1 g,\n"
            .. "  the root by eigendecomposition; lr_decay and weight_decay as in the diagonal rule.",
  adadelta = "Adadelta (Zeiler 2012): step = sqrt(u + eps) / sqrt(v + eps) g with running averages of g^2 and step^2.",
  adam = "Adam (Kingma & Ba 2015): bias-corrected first and second moments; weight_decay is coupled L2.\n"
         .. "  bias_correction = false uses m and v as they are: w <- w - lr m / (sqrt(v) + eps).",
  adamw = "AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay w <- w - lr wd w.\n"
          .. "  bias_correction = false uses m and v as they are, as for adam.",
  nadam = "NAdam (Dozat 2016): Adam with a Nesterov-style first moment, as torch.optim.NAdam.",
  radam = "RAdam (Liu et al. 2020): Adam with the variance of the adaptive lr rectified, as torch.optim.RAdam.",
  adamax = "Adamax (Kingma & Ba 2015): Adam with the infinity norm for the second moment.",
  adabelief = "AdaBelief (Zhuang et al. 2020), without rectification: w <- w (1 - lr wd); m <- b1 m + (1 - b1) g;\n"
              .. "  s <- b2 s + (1 - b2) (g - m)^2 + eps; w <- w - lr (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps).",
  yogi = "Yogi (Zaheer et al. 2018, Algorithm 2, no bias correction): m <- b1 m + (1 - b1) g;\n"
         .. "  v <- v - (1 - b2) sign(v - g^2) g^2; w <- w - lr m / (sqrt(v) + eps). m starts at 0, v at\n"
         .. "  initial_accumulator_value, read at the first step after a reset (so it takes no schedule).",
  lion = "Lion (Chen et al. 2023): w <- w - lr sign(beta1 m + (1 - beta1) g); m <- beta2 m + (1 - beta2) g.",
  sf_adamw = "Schedule-free AdamW (Defazio et al. 2024; the authors' AdamWScheduleFree v1.2): no lr schedule\n"
        .. "  needed. The parameters hold y, the state z and v. Step t:\n"
        .. "  lr_t = lr min(1, t/warmup_steps) sqrt(1 - beta2^t); lr_max = max(lr_max, lr_t);\n"
        .. "  c = t^r lr_max^weight_lr_power / (sum of these); v <- beta2 v + (1 - beta2) g^2;\n"
        .. "  u = g / (sqrt(v) + eps) + wd y; y <- (1 - c) y + c z + lr_t (beta1 (1 - c) - 1) u; z <- z - lr_t u.\n"
        .. "  Evaluate at the average x = y + (1 - 1/beta1)(z - y): opt:eval() before, opt:train() after\n"
        .. "  (ol.train does it around its validation). betas[1] must be > 0.",
  sf_sgd = "Schedule-free SGD (Defazio et al. 2024; the authors' SGDScheduleFree v1.2): as sf_adamw with\n"
        .. "  lr_t = lr min(1, t/warmup_steps), u = g + wd y and beta1 = momentum, which must lie in (0, 1).",
  muon = "Muon (Jordan et al. 2024): momentum, then the update orthogonalised by a quintic Newton-Schulz "
         .. "iteration on 2-D weights (groups with use = \"muon\"); groups with use = \"adamw\" step by AdamW; on a model the\n  biases form an adamw group (options under `fallback`).",
  lamb = "LAMB (You et al. 2019), per parameter tensor: m, v as Adam with bias correction;\n"
         .. "  u = m^ / (sqrt(v^) + eps) + wd w; r = ||w|| / ||u||, or 1 when either norm is 0; w <- w - lr r u.",
  lars = "LARS (You, Gitman & Ginsburg 2017), per parameter tensor: d = g + wd w;\n"
         .. "  r = trust_coefficient ||w|| / (||d|| + eps), or 1 when ||w|| or ||d|| is 0;\n"
         .. "  b <- momentum b + lr r d; w <- w - b (nesterov: w <- w - (lr r d + momentum b)).",
  adafactor = "Adafactor (Shazeer & Stern 2018), as torch.optim.Adafactor, per parameter tensor:\n"
         .. "  beta2_t = 1 - t^beta2_decay; a matrix keeps its rows' and columns' mean g^2 (r, c; state\n"
         .. "  row_var, col_var), V = r c' / max(mean(r), eps[1]); a vector keeps V (variance) as an average\n"
         .. "  of g^2. U = g / max(sqrt(V), eps[1]); w <- w (1 - lr wd) - max(eps[2], RMS(w)) min(lr, 1/sqrt(t))\n"
         .. "  U / max(1, RMS(U)/d). eps = {nil, 1e-3}: nil (or 0) is the machine epsilon of the dtype.",
  shampoo = "Shampoo (Gupta et al. 2018): per matrix G, L <- L + G G^T, R <- R + G^T G (from eps I);\n"
            .. "  P = L^(-1/4) G R^(-1/4), the roots by eigendecomposition at t = 1 and every update_every steps;\n"
            .. "  per vector H <- H + g^2 (from eps), P = g / sqrt(H); b <- momentum b + P, w <- w - lr b.\n"
            .. "  A side longer than max_precond_dim (given at construction) uses the identity; opt.info names\n"
            .. "  those matrices.",
  soap = "SOAP (Vyas et al. 2024, as nikhilvyas/SOAP soap.py): Adam in the eigenbasis of Shampoo's\n"
         .. "  preconditioner. The first step only sets the bases (w does not move); bases refreshed every\n"
         .. "  precondition_frequency steps by one power iteration and a QR. shampoo_beta = nil follows\n"
         .. "  betas[2]. Vectors get plain Adam (precondition_1d = false); a side longer than max_precond_dim\n"
         .. "  (given at construction) uses the identity, and opt.info names those matrices.",
  cg = "Non-linear conjugate gradient with a line search (Polak-Ribiere by default).",
  lbfgs = "L-BFGS (Nocedal 1980; torch.optim.LBFGS): a quasi-Newton direction from the last history_size steps.",
  newton = "Newton's method with the exact Hessian (small problems), damped, solved by Cholesky.",
  hessian_free = "Truncated Newton (Martens 2010): CG on Hessian- or Gauss-Newton-vector products, with damping.",
}
for k, v in pairs(optim) do
  D["optim." .. k] = "ol.optim." .. k .. "(params [, options]) -> optimizer\n  " .. v
end
D["optim.lookahead"] = [[
ol.optim.lookahead(inner [, options]) -> optimizer
  Lookahead (Zhang et al. 2019, "k steps forward, 1 step back"; the authors' michaelrzhang/lookahead)
  around any optimizer `inner`: the slow weights phi start at w (at construction, and at the first step
  after opt:reset()); every step steps inner, whose state is kept; after every k of them
  phi <- phi + alpha (w - phi) and w <- phi.
  local opt = ol.optim.lookahead(ol.optim.adam(net, {lr = 1e-3}), {k = 5, alpha = 0.5})
  k (an integer >= 1) and alpha (in [0, 1]) are live, per group (opt.groups[i]) and take schedules.
  opt.inner is the inner optimizer; a name that is not lookahead's own (opt.lr, opt:schedule("lr", f))
  is the inner's. opt:state() holds slow_weights, opt.inner:state() the inner's state; opt:reset()
  resets both; opt:eval()/opt:train() switch a schedule-free inner. Closure methods (lbfgs, ...) as
  inner step with opt:step(closure). ol.train and checkpoints (ol.save, ck:restore) take it as any
  optimizer; the file holds both, and restores only into a lookahead over the same optimizer.
  A lookahead cannot wrap a lookahead, and its inner cannot be freed while it lives.]]

-- ---- schedules, clipping, plateaus, PCA -------------------------------------
D["schedule"] = [[
ol.schedule: schedules are functions f(t) -> value (t = optimizer step from 1)
  opt:schedule("lr", ol.schedule.cosine{from = 0.1, to = 0, steps = 10000})
  opt:schedule("lr", ol.schedule.step{every = 10, gamma = 0.5})   -- without from: the lr when attached
  Built-ins: constant step multistep exponential linear cosine cosine_restarts warmup one_cycle
  cyclic poly sequence momentum_warmup reduce_on_plateau.]]
local sched = {
  constant = "constant(v): v at every step.",
  step = "step{from, every, gamma = 0.1}: from * gamma^floor((t - 1) / every); without from, from is the\n"
         .. "  option's value when attached with opt:schedule (as torch's StepLR scales the initial lr).",
  multistep = "multistep{from, milestones, gamma = 0.1}: from * gamma^(milestones passed); from as in step.",
  exponential = "exponential{from, gamma}: from * gamma^(t - 1); from as in step.",
  linear = "linear{from, to, steps}: from + (to - from) * min(t - 1, steps) / steps.",
  cosine = "cosine{from, to, steps}: to + (from - to) (1 + cos(pi min(t - 1, steps) / steps)) / 2.",
  cosine_restarts = "cosine_restarts{from, to, period, mult}: cosine, restarting after period, period*mult, ...",
  warmup = "warmup{steps, to}: rises linearly to `to` over steps (hand over with sequence).",
  one_cycle = "one_cycle{max, steps, pct_start}: as torch's OneCycleLR.",
  cyclic = "cyclic{low, high, period, mode}: as torch's CyclicLR.",
  poly = "poly{from, to, steps, power}: to + (from - to)(1 - min(t - 1, steps) / steps)^power.",
  sequence = "sequence{{f1, steps1}, {f2, steps2}, ...}: each segment counted from 1.",
  momentum_warmup = "momentum_warmup{from, to, steps, keep_effective_lr = true}: beta rises; w:attach(opt\n"
                    .. "  [, {field = \"momentum\", lr = base}]) schedules it and scales the lr by (1 - beta) / (1 - beta0)\n"
                    .. "  to keep lr / (1 - beta), which holds for heavy-ball momentum only (sgd with dampening 0,\n"
                    .. "  nag, adaptive_gains, rmsprop): elsewhere (Adam's betas[1], lion, muon) attach raises.",
  reduce_on_plateau = "reduce_on_plateau{base, factor = 0.1, patience = 10, min = 0, ...}: base(t) times a factor\n"
                      .. "  cut when r:update(metric) finds a plateau; without base, the option's value when attached.",
}
for k, v in pairs(sched) do D["schedule." .. k] = "ol.schedule." .. v end
D["schedule.value_at"] = "ol.schedule.value_at(v, t) -> number\n  v(t) when v is a schedule (callable), else v itself."
D["schedule.is_callable"] = "ol.schedule.is_callable(v) -> boolean\n  Whether v is a function or has a __call metamethod."
D["clip"] = "ol.clip: gradient clipping\n  ol.clip.grad_norm(grads, max_norm), ol.clip.grad_value(grads, v)."
D["clip.grad_norm"] = "ol.clip.grad_norm(grads, max_norm [, p]) -> total_norm\n  Scales grads in place so that their norm is at most max_norm."
D["clip.grad_value"] = "ol.clip.grad_value(grads, v)\n  Clamps every gradient element into [-v, v]."
D["plateau"] = [[
ol.plateau{mode = "min", patience = 10, threshold = 1e-4, threshold_mode = "rel", cooldown = 0}
  p:update(val_loss [, net, x]) -> true when a plateau is reached; p.best, p.bad_epochs,
  p.diagnosis (why it looks flat: saturated outputs, dead units, gradient norm; see diagnose).
  curvature = tracker (an ol.spectrum tracker or eigs result; per call: p:update(v, net, x, {curvature =
  tracker})): a lambda_min below -1e-3 |lambda_max| makes the diagnosis open with "negative curvature
  (λ_min = ...): a saddle, not a minimum" (fields lambda_min, lambda_max, saddle).]]
D["plateau.new"] = "ol.plateau.new{...} -> plateau\n  As ol.plateau{...}: see help(ol.plateau)."
D["plateau.diagnose"] = [=[
ol.plateau.diagnose(net [, x [, curvature]]) -> table
  Why a model's loss may look flat, from the batch x: saturated (share of tanh/sigmoid outputs within
  0.01 of an asymptote), gain (mean f'(u)/f'(0): the share of gradient the units pass back), dead
  (share of ReLUs zero on every sample), saturated_units, dead_units; grad_norm, weight_norm,
  weight_scale; and a sentence (message): saturation, dead units, a tiny gradient (a minimum or a
  flat region) or, with healthy units and a real gradient, an lr too large.]=]
D["pca"] = "ol.pca: input decorrelation\n  ol.pca.fit(X, opts), ol.pca.condition_number(X)."
D["pca.fit"] = [[
ol.pca.fit(X, {components = nil, whiten = true, zca = false, eps = 1e-5}) -> pca
  pca:transform(X), pca:inverse(Xd), pca.mean, pca.components, pca.explained_variance.]]
D["pca.condition_number"] = "ol.pca.condition_number(X) -> number\n  The condition number of X's covariance."

-- ---- data and training ----------------------------------------------------
D["data"] = [[
ol.data: data sets and loaders
  ol.data.fashion_mnist{split = "train", dir = nil}  ol.data.idx(images, labels)  ol.data.csv(path, {...})
  ol.data.synthetic{kind = "spirals" | "xor" | "blobs", n = 1000, classes = 3}  ol.data.dataset(x, y)
  ds.x, ds.y, #ds, ds:split(0.9), ds:standardize()
  ol.data.loader(ds, {batch_size = 128, shuffle = true, balanced = false, drop_last = false}):batches()]]
D["data.fashion_mnist"] = [[
ol.data.fashion_mnist{split = "train" | "test", dir = nil} -> dataset
  Fashion-MNIST from its IDX files (gzipped or not): by default Debian's dataset-fashion-mnist;
  a dir given must hold the split's images and labels files (the error names those it lacks).]]
D["data.idx"] = "ol.data.idx(images_path, labels_path) -> dataset\n  A data set from IDX files (gzip or not)."
D["data.csv"] = "ol.data.csv(path, {header, label, delimiter, label_base, classes, ...}) -> dataset\n  A data set from a CSV file."
D["data.synthetic"] = "ol.data.synthetic{kind = \"spirals\" | \"xor\" | \"blobs\", n = 1000, classes = 3, noise, dim} -> dataset"
D["data.dataset"] = "ol.data.dataset(x, y [, {classes}]) -> dataset\n  A data set from tensors."
D["data.loader"] = [[
ol.data.loader(ds, {batch_size = 128, shuffle = true, balanced = false, drop_last = false}) -> loader
  for x, y in loader:batches() do ... end  (batch_size = #ds: full batch; 1: online)]]
D["train"] = [[
ol.train{model, optimizer, data, loss = "cross_entropy", loss_options = nil, epochs = 1, validate,
         every = 100, on_step = function(s) end, on_epoch = function(s) end, progress = true, log = "run.jsonl"}
  The epoch loop runs in C; Lua is called only at the hooks. loss_options: the loss's options
  (help("losses")), for training and validation alike. The optimizer must be built over the
  model (the same parameters); closure-only optimizers (ol.optim.kind) cannot be driven. The log has one JSON object per line
  (event "step" or "epoch", step, loss, lr, momentum, ...): draw it with ol.plot.log.
  A schedule-free optimizer must be in train mode; validation runs at its average (opt:eval() and back),
  and ol.train returns with it in train mode: call opt:eval() before evaluating or saving the final model.
  average = ol.average.ema(net) (or .swa): updated in C after every step; validation runs on the
  average (swapped in and back), which the epoch line ("val_loss 0.1234 (ema)") and the log
  ("val_average") say. The model ends with its trained weights: avg:swap() or avg:copy_to(net)
  puts the average in. A checkpoint holds the average too. With both, validation uses the
  weight average (a schedule-free optimizer then stays in train mode).
  The model's mode: every step runs in training mode (dropout on), validation in evaluation mode
  (as ol.evaluate); ol.train restores the mode it found.
  clip_grad_norm = MAX (the gradient scaled by MAX/(n + 1e-6) when that is < 1, n its 2-norm) or
  clip_grad_value = V (every element clamped to [-V, V]): in C, after the gradient (and the
  all-reduce) and before the step; grad_norm in the hooks and the log is the norm before clipping.
  accumulate = k: one step per k batches with the gradient of their mean loss (the last step of an
  epoch takes the batches left). before_step = function(s, grads): the step's gradient (net:grads()),
  complete, before the checks, clipping and the step; change it in place; false stops before the step.
  early_stop = {metric = "val_loss" | "val_accuracy" | "epoch_loss" | "epoch_accuracy", mode = "min" |
  "max" (accuracies: max), patience = 5, min_delta = 0, restore_best = true}: stops after patience
  epochs without an improvement by more than min_delta; restore_best puts the best epoch's weights
  (and buffers, and the average) back. The result: early_stopped, best, best_epoch, restored_epoch.
  checkpoint = {path, every = 1 (epochs), state = function() return t end, restore = function(t) end}:
  saved every `every` epochs, at the end and at Ctrl-C; state() is saved as meta "state", restore(t)
  takes it back on resume. resume = path: continue a run from a file this option wrote, mid-epoch
  too; with the same options the weights end bit-identical to a run never stopped (same threads).
  Ctrl-C stops after the current batch (with accumulate, after the step it belongs to): "interrupted
  at epoch e, step s", the result has interrupted = true; a second Ctrl-C ends the program.
  log_fields = function(s) return {name = number, ...} end: called after on_epoch when a log is
  written; its numbers (finite, string names, none of the log's own fields) join that epoch's line.]]
D["lr_find"] = [[
ol.lr_find{model, optimizer, data, loss = "cross_entropy", loss_options = nil, from = 1e-7, to = 10,
           steps = 100, smoothing = 0.98, diverge = 4, progress = false} -> result
  The LR range test (Smith 2017; fastai's lr_find): step i of 1..steps trains one batch (through
  ol.train, the loader restarting as needed) at lr_i = from * (to/from)^((i-1)/(steps-1)); with
  groups, each group at lr_i times its ratio to group 1's lr. The optimizer's schedules are held
  meanwhile. r.lrs (group 1's), r.losses (each batch's loss before its step), r.smoothed
  (avg <- b*avg + (1-b)*loss, divided by 1 - b^i), r.steps. The sweep stops after a smoothed loss
  above diverge x the least so far (r.stopped = "diverged") or at a non-finite loss or step
  ("nonfinite"). r.suggestion: the lr of the steepest fall of the smoothed loss against log10(lr)
  (central differences, one-sided at the ends) from the point floor(n/10) + 1 to the smoothed
  minimum; nil with r.reason below 3 points or without a fall. Afterwards the model (parameters,
  buffers), the optimizer (state, options, t, mode) and the RNG are as before, bit for bit (a
  checkpoint in a temporary file, restored also on error); the loader's epoch count moves on.
  r:plot(file [, {title}]) draws the losses on a log lr axis with the suggestion; tostring(r) sums up.
  local r = ol.lr_find{model = net, optimizer = opt, data = loader}; print(r); r:plot("lr.png")]]

D["noise"] = [[
ol.noise: how noisy the mini-batch gradient is at the current parameters (help("noise.scale"),
  help("noise.cosine")). data: a dataset (cross_entropy on its class ids) or {x = X, y = T} (T as
  net:evaluate takes it). Both evaluate in training mode, as ol.train does, and put back the
  model's mode, gradient buffer (net:grads()) and buffers; the batches come from ol's RNG.
  Each epoch in a run: on_epoch computes, log_fields puts the numbers in the JSONL log;
  scripts/train.lua --diagnose does that.]]
D["noise.scale"] = [[
ol.noise.scale(net, data [, {small = 32, big = 512, batches = 8, loss = "cross_entropy",
               loss_options}]) -> {b_simple, trace_sigma, grad_sq, small, big, batches, draws}
  The simple noise scale B_simple = tr(Sigma)/|G|^2 (McCandlish et al. 2018, App. A.1): G the mean
  gradient, Sigma the per-example gradients' covariance. From E|G_B|^2 = |G|^2 + tr(Sigma)/B, each of
  `batches` draws (a batch of small rows and one of big rows) gives
  |G|^2 ~ (big |G_big|^2 - small |G_small|^2)/(big - small),
  tr Sigma ~ (|G_small|^2 - |G_big|^2)/(1/small - 1/big); trace_sigma and grad_sq are their means,
  b_simple their ratio (math.huge when grad_sq <= 0). draws: small_sq, big_sq, trace_sigma, grad_sq,
  b_simple per draw. small < big <= the rows, batches >= 2.
  local r = ol.noise.scale(net, ds); print(r.b_simple)]]
D["noise.cosine"] = [[
ol.noise.cosine(net, data [, {batch_size = 128, pairs = 8, loss = "cross_entropy", loss_options}])
  -> {mean, values, batch_size, pairs}
  The cosine between the mean gradients of two independent batches, for `pairs` pairs: near 1 when
  the batch gradient is mostly signal, near 0 when it is mostly noise.]]

-- ---- weight averaging ------------------------------------------------------
D["average"] = [[
ol.average: weight averages kept beside a model, updated after each optimizer step
  local ema = ol.average.ema(net, {decay = 0.999, warmup = false})
  local swa = ol.average.swa(net, {start = 1000, every = 1})
  avg:update()  avg:swap()  avg:copy_to(other)   avg.weights avg.t avg.n avg.kind avg.dtype
  ol.train{..., average = ema}: updated after every step, validation uses the average.
  The average starts as a copy of the weights (a model's flat parameters, or a tensor). Fields are
  read-only (the options are fixed at construction). ol.save{..., average = avg} and
  ck:restore(net, opt, avg) keep it across runs, bit for bit.]]
D["average.ema"] = [[
ol.average.ema(net_or_tensor [, {decay = 0.999, warmup = false}]) -> average
  Exponential moving average: after each update e = d*e + (1 - d)*w, with d = decay in [0, 1), or
  with warmup d = min(decay, (1 + t)/(10 + t)), t the updates before this one (the first uses 0.1;
  TensorFlow's ExponentialMovingAverage num_updates form). Computed as e + (1 - d)*(w - e), so
  weights that do not move keep their average exactly. avg.decay, avg.warmup, avg.t.]]
D["average.swa"] = [[
ol.average.swa(net_or_tensor [, {start = 1000, every = 1}]) -> average
  Stochastic weight averaging: the equal average of the weights at steps start, start + every, ...
  where step t is the t-th update (step 0: the weights at construction, counted when start = 0).
  Updates before start change nothing; the first counted one replaces the copy made at construction,
  the next average e + (w - e)/(n + 1), as torch.optim.swa_utils.AveragedModel. avg.n counts the
  weight vectors in the average, avg.t the updates; avg.start, avg.every.]]
D["average:update"] = "avg:update() -> avg\n  One update from the weights as they are now (ol.train calls it after every step)."
D["average:swap"] = [[
avg:swap() -> avg
  Exchanges the model's (or tensor's) weights and the average in place: afterwards the model holds
  the average; a second swap puts everything back, bit for bit. For evaluating the average.]]
D["average:copy_to"] = [[
avg:copy_to(other) -> avg
  Writes the average into another model of the same layers (or the averaged model itself), or a
  contiguous tensor of as many elements and the same dtype; anything else is an error.]]

-- ---- exploring optimizers -------------------------------------------------
D["fn"] = [[
ol.fn: test functions for optimizers (f64, analytic gradients)
  rosenbrock{a = 1, b = 100}  beale()  himmelblau()  booth()  saddle()  rastrigin{dim = 2, A = 10}
  quadratic{dim = 2, cond = 100, rotation = angle | true, seed = 0, eigenvalues, A, center}
  local f = ol.fn.rosenbrock(); local loss, grad = f(x)   -- x a tensor or table
  f.name, f.dim, f.minimum (list of points), f.min_value, f.bounds {{xmin, xmax}, {ymin, ymax}},
  f.start (a classic starting point), f.eval(p) -> loss, gradient (plain Lua arrays).]]
D["fn.rosenbrock"] = "ol.fn.rosenbrock{a = 1, b = 100} -> f\n  (a - x)^2 + b (y - x^2)^2; minimum 0 at (a, a^2), at the end of a curved valley."
D["fn.beale"] = "ol.fn.beale() -> f\n  sum_i (c_i - x + x y^i)^2, c = 1.5, 2.25, 2.625; minimum 0 at (3, 0.5)."
D["fn.himmelblau"] = "ol.fn.himmelblau() -> f\n  (x^2 + y - 11)^2 + (x + y^2 - 7)^2; four minima of value 0, one at (3, 2)."
D["fn.booth"] = "ol.fn.booth() -> f\n  (x + 2y - 7)^2 + (2x + y - 5)^2; minimum 0 at (1, 3)."
D["fn.saddle"] = "ol.fn.saddle() -> f\n  x^2 - y^2: no minimum (unbounded below along y); (0, 0) is a saddle point (f.stationary)."
D["fn.rastrigin"] = "ol.fn.rastrigin{dim = 2, A = 10} -> f\n  A n + sum (x_i^2 - A cos(2 pi x_i)); minimum 0 at 0, local minima near every integer point."
D["fn.quadratic"] = [[
ol.fn.quadratic{dim = 2, cond = 100, rotation = nil | angle | true, seed = 0, eigenvalues, A, center} -> f
  1/2 (x - c)^T A (x - c), A = R diag(eigenvalues) R^T, eigenvalues log-spaced from 1 to cond;
  rotation = angle turns the first two axes, true picks a random orthogonal R from seed.
  f.A (nested table), f.eigenvalues. Gradient descent moves as x_k = (I - lr A)^k x0.]]
D["fn.list"] = "ol.fn.list() -> {names}\n  The test functions."
D["explore"] = [[
ol.explore(f, name, options, {x0 = f.start, steps = 500, tol = 1e-8, diverge = 1e6, stop_at_tol = false}) -> run
  Runs optimizer `name` with `options` on f from x0 and records, for k = 0..steps (index k + 1):
  run.path (points), run.losses, run.grad_norms; run.converged_at = first k with f - f_min <= tol
  (or ||grad|| <= tol when f has no known minimum value), run.stationary_at (||grad|| <= tol),
  run.diverged_at (f not finite or |f| > diverge; the run stops), run.final {x, loss, grad_norm,
  distance to the nearest minimum, steps}, run.evals. run:plot(file [, {loss = false}]): the contour
  of f with the path beside the loss curve. run:path_tensor() -> N x D tensor.]]
D["run:plot"] = "run:plot(file [, {loss = true, contour = true, levels, bounds, title}]) -> file\n  Contour of f with the path (2-D f), beside the loss curve."
D["run:path_tensor"] = "run:path_tensor() -> tensor\n  The path as an N x D f64 tensor."
D["compare"] = [[
ol.compare(f, {name = options, ...} | {{name, options, label = }, ...}, run_options) -> comparison
  Runs each optimizer (ol.explore) from the same start and prints a table: optimizer, final loss,
  distance to the nearest minimum, steps to tolerance, diverged?. A map runs in sorted order (a key
  that is a label names its optimizer with `optimizer =`); a list keeps its order, for two settings
  of one optimizer. run_options.print = false keeps quiet. The comparison returned prints as the
  table (at the REPL, the table compare printed is not printed again).
  cmp.runs, cmp.by_label, cmp:table(), cmp:plot(file): all paths on f's contour beside the loss curves.]]
D["comparison:plot"] = [[
cmp:plot(file [, {only = {labels}, loss = true, contour = true, levels, bounds, grid, title}]) -> file
  All paths on f's contour (2-D f), beside the loss curves: f - f_min on a log axis when f's minimum
  value is known, else f. The axis spans the runs that did not diverge, down to a floor set by the
  others: a run landing on the minimum runs off the bottom ("down to ..." or "f_min reached" in the
  key), one that diverged off the picture ("diverged at step k").]]
D["comparison:table"] = "cmp:table() -> string\n  The comparison table as text."
D["benchmark"] = [[
ol.benchmark: optimizers against each other on fixed problems (DeepOBS-like; scripts/benchmark.lua)
  ol.benchmark.run{...} -> result   r:report(dir)   r:table(problem)   r:plot(problem, file, "steps" | "seconds")
  ol.benchmark.problems() -> names   ol.benchmark.problem(name) -> its definition
  ol.benchmark.optimizers(quick) -> names   ol.benchmark.lr_grid(name, n) -> lrs
  ol.benchmark.mean(xs), .sd(xs) (n - 1; nil below 2), .median(xs), .best_lr(cells), .time_to_target(curve, target)
  It measures the optimizers' behaviour, not optlua's speed (bench/ does).]]
D["benchmark.run"] = [[
ol.benchmark.run{problems = all, optimizers = the full set (quick: sgd, adam, lion, muon), lrs = 7 (quick 4),
                 seeds = 3 (quick 2), quick = false, progress = false, data = Fashion-MNIST dir} -> result
  Every optimizer x problem x lr x seed: each optimizer with its defaults except lr (sgd: momentum 0.9;
  lookahead: over adam). lrs log-spaced from default/10 to default*100. A run whose loss turns non-finite
  diverged (final loss inf). Best lr: lowest mean final loss over the seeds among lrs with no diverged
  seed (equal means: the smaller lr). Per row (r.results[problem][i]): optimizer, lr, edge, loss_mean,
  loss_sd, acc_mean, acc_sd, target_steps and target_seconds (median over seeds, not reached = inf),
  reached, cells (every lr's runs: curve {steps, seconds, losses}, final, accuracy, diverged).
  Muon is left out on problems without matrices (r.notes); a problem without its data is in r.skipped.
  Seeds the global RNG (ol.seed) per run. An unknown problem or optimizer is an error naming the choices.]]
D["benchmark.problems"] = "ol.benchmark.problems() -> {names}\n  rosenbrock, beale, saddle (noisy gradients), quadratic (50-D, cond 1e3), logreg, mlp (Fashion-MNIST)."
D["benchmark.problem"] = [[
ol.benchmark.problem(name) -> {name, title, about, kind = "fn" | "train", steps, every, target, accuracy, matrices, ...}
  kind "fn": p.fn(seed) -> {f, x, sigma} (the optimizer steps on f's gradient plus N(0, sigma^2) noise);
  kind "train": p.setup(seed [, dir]) -> {model, data = loader, eval = dataset}, or nil and why (ol.train steps).]]
D["benchmark:report"] = [[
r:report(dir) -> path, pictures, missing
  dir/report.md (machine and version, settings, a Markdown table per problem) and dir/PROBLEM_steps.png,
  PROBLEM_seconds.png: the loss at each optimizer's best lr, seeds' mean bold, min and max thin.
  Pictures that could not be drawn (no gnuplot) are counted in the report and listed in `missing`.]]
D["plot"] = [[
ol.plot: pictures through gnuplot (Debian gnuplot-nox); PNG, SVG or PDF by the file's extension
  ol.plot.lines{series = {{name = "loss", y = {3, 2, 1.5, 1.2}}}, logy = true, file = "loss.png"}
  ol.plot.contour{f = ol.fn.booth(), paths = {{name = "path", points = {{-4, -4}, {0, 2}, {1, 3}}}}, file = "booth.svg"}
  ol.plot.log("run.jsonl", "run.png")
  ol.plot.available()
  help(ol.plot.lines), help(ol.plot.contour), help(ol.plot.log): every option.
  The program run: ol.plot.program, "gnuplot" unless $OPTLUA_GNUPLOT names another.]]
D["plot.lines"] = [[
ol.plot.lines{series = {{name =, x =, y =}, ...}, logy = false, logx = false, xrange = {lo, hi},
              yrange = {lo, hi}, title =, xlabel =, ylabel =, size = {800, 500}, file =} -> file
  Line plot, one line per series (a table with the list y; x defaults to 0, 1, 2, ...; name
  for the key; color = "#rrggbb", width = line width (2), points = true for marks instead of
  a line). Non-positive values are left out on a log scale. The axes span the data (whole
  decades on a log axis) unless xrange/yrange are given; the key sits in a corner no line crosses.
  ol.plot.lines{series = {{name = "a", x = {1, 2, 3}, y = {1, 4, 9}}, {name = "b", y = {2, 3, 4}}}, title = "two", file = "lines.png"}]]
D["plot.contour"] = [[
ol.plot.contour{f =, bounds = f.bounds, paths = {{name =, points = {{x, y}, ...}}, ...}, levels = 20,
                scale = "log" | "linear", grid = 120, heatmap = true, minima = f.minimum, size = {800, 650},
                title =, file =} -> file
  The landscape of a 2-D f with trajectories over it. levels: a count (log-spaced in f - f_min when
  f.min_value is known, else linear) or a list of values. f: an ol.fn function or any f({x, y}).
  Values computed elsewhere: xs =, ys = (increasing), z = {{...}, ...} (z[j][i] at xs[i], ys[j])
  instead of f, bounds and grid; xlabel =, ylabel =, zlabel = (the colour box) for either.
  ol.plot.contour{f = function(p) return p[1] ^ 2 + 3 * p[2] ^ 2 end, bounds = {{-2, 2}, {-1, 1}}, levels = {0.5, 1, 2}, file = "bowl.png"}]]
D["plot.log"] = [[
ol.plot.log(log_path, file [, {title =}]) -> file
  A training log (ol.train's log =): loss (log scale), lr and momentum against the step, one panel each.
  ol.plot.log("run.jsonl", "run.png", {title = "my run"})]]
D["plot.available"] = "ol.plot.available() -> boolean\n  Whether gnuplot (ol.plot.program) can be run."

-- ---- loss landscapes ----------------------------------------------------------
D["landscape"] = [[
ol.landscape: the loss of a model over a dataset along a line and over a plane of parameter space
  ol.landscape.line(net, data, w_a, w_b [, options]) -> line     (help("landscape.line"))
  ol.landscape.plane(net, data [, options]) -> plane             (help("landscape.plane"))
  ol.landscape.recorder(net [, {initial = true}]) -> rec         (help("landscape.recorder"))
  Vectors are flat like net:params(), in the model's dtype. Every row of data is read in evaluation
  mode, as ol.evaluate reads it; a point's value is ol.evaluate's with the parameters set to it. The
  parameters are as before afterwards, bit for bit, also after an error. With a linear first layer
  its products with the data are made once per chunk of rows for all the points
  (x (W + a D1 + b D2)^T = x W^T + a x D1^T + b x D2^T); otherwise every point runs the whole model.]]
D["landscape.line"] = [[
ol.landscape.line(net, data, w_a, w_b [, {steps = 25, from = 0, to = 1, loss = "cross_entropy",
                  loss_options = nil}]) -> line
  The loss at w = (1 - t) w_a + t w_b for steps values of t evenly from `from` to `to` (Goodfellow et
  al. 2015), e.g. initial -> trained, from = -0.5, to = 1.5 to look past both ends.
  line.alphas, line.losses, line.accuracies (cross_entropy only); line:plot(file [, {title}]) (loss
  against alpha, accuracy below); tostring(line) is a table.
  local l = ol.landscape.line(net, ds, w0, net:params()); print(l); l:plot("line.png")]]
D["landscape.plane"] = [[
ol.landscape.plane(net, data [, {center = net:params(), directions = "filter_normalized" | "pca" |
                   {d1, d2}, trajectory = {w_1, ..., w_T}, range = 1 | {xmin, xmax, ymin, ymax},
                   resolution = 41, loss = "cross_entropy", loss_options = nil}]) -> plane
  The loss over the grid c + a d1 + b d2 (Li et al. 2018, "Visualizing the Loss Landscape of Neural
  Nets"). directions:
    "filter_normalized": Gaussian (ol's RNG: ol.seed fixes them), each row of each weight matrix
      (one unit's incoming weights) scaled to the norm of the centre's row; zero for biases and norm
      layers' parameters (the reference code's norm = 'filter', ignore = 'biasbn'). Two draws.
    "pca": the trajectory's two principal axes (T >= 3 points; from the T x T Gram matrix of the
      centred points), unit norm, plane.explained = their shares of the variance; range then
      defaults to the path's extent and the centre, widened by a quarter each side.
    {d1, d2}: given, linearly independent.
  plane.xs, plane.ys, plane.losses[j][i] (at xs[i], ys[j]), plane.accuracies (cross_entropy),
  plane.d1, plane.d2, plane.center, plane.path (each w_i - c in the basis d1, d2 by least squares:
  {a, b}); plane:plot(file [, {title, levels}]) draws log10 loss contours with the path;
  tostring(plane) sums up.
  local p = ol.landscape.plane(net, ds, {directions = "pca", trajectory = rec.weights}); p:plot("p.png")]]
D["landscape.recorder"] = [[
ol.landscape.recorder(net [, {initial = true}]) -> rec
  A callable for ol.train's on_epoch: each call appends a clone of net:params() to rec.weights (the
  parameters when it was made come first, unless initial = false): the trajectory of
  ol.landscape.plane.
  local rec = ol.landscape.recorder(net); ol.train{..., on_epoch = rec}; print(#rec.weights)]]

D["save"] = "ol.save(path, {model = net, optimizer = opt, average = avg, meta = {...}})\n  A safetensors checkpoint, written atomically."
D["load"] = "ol.load(path) -> checkpoint\n  ck:restore(net, opt [, avg] [, {rng = true}]) resumes training bit-for-bit; ck.average shows a stored average."

return D
