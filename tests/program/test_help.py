"""help(x) through the REPL itself, through a pipe (optlua -i) and a
pseudo-terminal, and ol.help in scripts.

Usage: python3 test_help.py path/to/optlua

The expected texts come from the public contract (API.md): names and
defaults of the optimizers, the signatures of the functions; not from an
earlier run of help. Every exchange has a deadline, so a broken REPL fails
quickly instead of hanging.
"""
import driver
from driver import check, run

PROMPT = "help-test> "

# API.md section 5: every optimizer with some of its defaults.
DEFAULTS = {
    "sgd": ["lr=0.001", "momentum=0", "nesterov=false"],
    "nag": ["lr=0.001", "momentum=0.9"],
    "adaptive_gains": ["gain_up=0.05", "gain_down=0.95", "gain_min=0.1", "gain_max=10"],
    "rprop": ["lr=0.01", "etas={0.5, 1.2}"],
    "rmsprop": ["lr=0.01", "alpha=0.99", "centered=false"],
    "adagrad": ["lr=0.01", "eps=1e-10"],
    "adadelta": ["lr=1", "rho=0.9", "eps=1e-06"],
    "adam": ["lr=0.001", "betas={0.9, 0.999}", "eps=1e-08", "amsgrad=false"],
    "adamw": ["weight_decay=0.01"],
    "lion": ["lr=0.0001", "betas={0.9, 0.99}"],
    "muon": ["lr=0.02", "momentum=0.95", "ns_steps=5", 'use="muon"'],
}


def set_prompt(s):
    """Starts a case at the prompt PROMPT: help texts contain "> ", as in
    "-> tensor", so line() waits for PROMPT instead."""
    s.expect("> ")
    s.send(f'_PROMPT = "{PROMPT}"\n')
    s.expect("\n" + PROMPT if s.mode == "pty" else PROMPT)  # not the echo
    s.prompt_text = PROMPT


def repl(*modes):
    return driver.repl(*modes, start=set_prompt)


BOTH = ("pipe", "pty")


@repl(*BOTH)
def overview(s):
    out = s.line("help()")
    for area in ("optim", "fn", "explore", "compare", "plot", "tensor", "help(ol.optim.adam)"):
        check(area in out, f"{area!r} missing from the overview: {out!r}")


@repl(*BOTH)
def function_by_value_and_by_name(s):
    by_value = s.line("help(ol.optim.adam)")
    check(by_value.startswith("ol.optim.adam(params"), by_value)
    for d in DEFAULTS["adam"]:
        check(d in by_value, f"{d} missing: {by_value!r}")
    check(s.line('help("adam")') == by_value, "help('adam') differs from help(ol.optim.adam)")
    check(s.line('help("optim.adam")') == by_value, "help('optim.adam') differs")


@repl(*BOTH)
def optimizers_with_defaults(s):
    out = s.line("help(ol.optim)")
    rows = {}
    for row in out.split("\n"):
        parts = row.split()
        if parts:
            rows.setdefault(parts[0], row)
    for name, defaults in DEFAULTS.items():
        check(name in rows, f"{name} not listed: {out!r}")
        for d in defaults:
            check(d in rows[name], f"{name}: {d} missing in {rows[name]!r}")
    # every optimizer the engine has is documented
    names = s.line('print(table.concat(ol.optim.list(), " "))').split()
    check(len(names) >= len(DEFAULTS), names)
    for n in names:
        one = s.line(f'help("{n}")')
        check(one.startswith(f"ol.optim.{n}(") and "options (defaults):" in one, one)


@repl(*BOTH)
def modules_functions_objects(s):
    check(s.line("help(ol.tensor)").startswith("ol.tensor(values"), s.out)
    check("(a - x)^2 + b (y - x^2)^2" in s.line("help(ol.fn.rosenbrock)"), s.out)
    check("ol.fn.rosenbrock" in s.line("help(ol.fn)"), s.out)
    check("ol.plot.contour" in s.line("help(ol.plot)"), s.out)
    check("ol.explore(f, name, options" in s.line("help(ol.explore)"), s.out)
    check("no minimum" in s.line("help(ol.fn.saddle())"), s.out)
    check("t:add_(u [, alpha])" in s.line("help(ol.zeros(2).add_)"), s.out)
    check("t:add_(u [, alpha])" in s.line('help("add_")'), s.out)
    out = s.line("help(ol.zeros(2, 3))")
    check("{2, 3}" in out and "ol.tensor(values" in out, out)
    s.line("opt = ol.optim.nag(ol.zeros(2), {lr = 0.25})")
    out = s.line("help(opt)")
    check(out.startswith("ol.optim.nag(") and "current:" in out and "lr=0.25" in out, out)
    run = s.line('help(ol.explore(ol.fn.booth(), "sgd", {lr = 0.01}, {steps = 2}))')
    check("run.path" in run, run)


@repl("pipe")
def optimizer_with_groups(s):
    # API.md, "Parameter groups": muon on a model is two groups, the
    # matrices (use = "muon", the options given) and the rest (use =
    # "adamw", adamw's defaults); help shows each group's options.
    s.line("net = ol.nn.mlp{sizes = {4, 3, 2}}")
    s.line("opt = ol.optim.muon(net, {lr = 0.05})")
    out = s.line("help(opt)")
    check(out.startswith("ol.optim.muon("), out)
    rows = {}
    for row in out.split("\n"):
        for g in ("group 1", "group 2"):
            if g in row:
                rows.setdefault(g, row)
    check("lr=0.05" in rows.get("group 1", "") and 'use="muon"' in rows["group 1"], out)
    g2 = rows.get("group 2", "")
    for d in ("lr=0.001", "weight_decay=0.01", 'use="adamw"'):
        check(d in g2, f"{d} missing from group 2: {out!r}")
    out = s.line("help(opt.groups[2])")
    check("opt.groups" in out and "group 2 of muon{lr=0.001" in out, out)


@repl(*BOTH)
def unknown_names(s):
    out = s.line('help("no_such_thing")')
    check(out.startswith("no help for 'no_such_thing'"), out)
    out = s.line('help("rosen")')
    check("no help for 'rosen'" in out and "fn.rosenbrock" in out, out)
    out = s.line("help(42)")
    check(out.startswith("no help for 42"), out)


@repl("pty")
def help_completes(s):
    # Tab completes the global: "hel" -> "help"
    s.send("hel\t(ol.fn.booth)\n")
    out = s.expect("\n" + PROMPT)
    check("(x + 2y - 7)^2" in out, out)


@driver.test
def scripts_have_ol_help_not_the_global():
    p = run("-e", 'print(help); optlua.help("booth")')
    check(p.rc == 0, p.err)
    lines = p.out.split("\n")
    check(lines[0] == "nil", p.out)
    check(lines[1].startswith("ol.fn.booth()"), p.out)


@driver.test
def every_function_documented():
    # Walks the library: every public function of every area has an entry
    # (help says "no help for" otherwise), so new functions get documented.
    code = r"""
local ol, missing = optlua, {}
local function walk(prefix, t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = t[k]
    if type(k) == "string" and not k:find("^_") and k:find("^[a-z]") and type(v) == "function" then
      if ol.help.text(v):find("^no help for") then missing[#missing + 1] = prefix .. k end
    end
  end
end
walk("", ol)
for _, area in ipairs{"optim", "nn", "init", "data", "schedule", "clip", "plateau", "pca", "fn", "plot", "spectrum"} do
  walk(area .. ".", ol[area])
end
print(#missing == 0 and "all documented" or "undocumented: " .. table.concat(missing, " "))
"""
    p = run("-e", code)
    check(p.rc == 0 and p.out.strip() == "all documented", p.out + p.err)


driver.main()
