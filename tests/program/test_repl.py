"""The REPL, driven through a pipe (optlua -i) and through a pseudo-terminal.

Usage: python3 test_repl.py path/to/optlua

Every exchange waits for the prompt (or the expected text) with a deadline,
so a broken REPL fails quickly instead of hanging. The values checked are
Lua's own semantics (2+3 is 5, string.format exists, ...), not output
recorded from an earlier run.
"""
import os
import re
import signal
import tempfile
import time

import driver
from driver import ROOT, Session, check, lua_file, repl, run, test


def interrupt(s):
    if s.mode == "pty":
        s.send("\x03")  # the terminal turns it into SIGINT
    else:
        os.kill(s.pid, signal.SIGINT)


BOTH = ("pipe", "pty")
TIMESTAMP = re.compile(r"#\d+$")


def history_entries(path):
    """The entries of a history file as readline reads them back: a file
    that starts with a timestamp line "#<seconds>" holds each entry after
    one, an entry of several lines as its lines; any other file holds one
    entry per line."""
    with open(path) as f:
        lines = f.read().split("\n")[:-1]
    if not lines or not TIMESTAMP.match(lines[0]):
        return lines
    entries = []
    for ln in lines:
        if TIMESTAMP.match(ln):
            entries.append([])
        else:
            entries[-1].append(ln)
    return ["\n".join(e) for e in entries]


@repl(*BOTH)
def banner_one_line(s):
    first = s.out.split("\n")[0]
    check(first.startswith("optlua ") and "Lua 5.4" in first and "help" in first, s.out)


@repl(*BOTH)
def expressions_print_values(s):
    check(s.line("1 + 1") == "2", s.out)
    check(s.line("1, 'a', nil, true") == "1\ta\tnil\ttrue", s.out)
    check(s.line("=3 * 3") == "9", s.out)
    check(s.line("x = 5") == "", s.out)          # a statement prints nothing
    check(s.line("x") == "5", s.out)
    check(s.line("setmetatable({}, {__tostring = function() return 'custom' end})") == "custom", s.out)
    check(s.line("ol == optlua, require 'optlua' == optlua") == "true\ttrue", s.out)


@repl(*BOTH)
def tensor_pretty_prints(s):
    # The format of lua/l_tensor_print.c: each value right-aligned after one
    # space in the width of the widest, integers as such, else 4 decimals
    # for f32; then the footer with dtype and shape. f32 is the default.
    got = s.line("optlua.tensor({1, 2, 3})")
    check(got == " 1 2 3\n[f32 tensor of size 3]", got)
    got = s.line("optlua.tensor({{0.5, -1}, {2, 30}})")
    check(got == "  0.5000 -1.0000\n  2.0000 30.0000\n[f32 tensor of size 2x2]", got)


@repl(*BOTH)
def multiline_continuation(s):
    s.send("function f(x)\n")
    s.expect(">> ")
    s.send("return x * 2\n")
    s.expect(">> ")
    s.send("end\n")
    s.prompt()
    check(s.line("f(21)") == "42", s.out)
    # An unfinished string or table continues too.
    s.send("t = {1,\n")
    s.expect(">> ")
    s.send("2, 3}\n")
    s.prompt()
    check(s.line("#t") == "3", s.out)


@repl(*BOTH)
def error_then_recovery(s):
    got = s.line("error('oops')")
    check("oops" in got and "stack traceback" in got, got)
    got = s.line("local y = nil + 1")
    check("attempt to perform arithmetic" in got, got)
    check(s.line("print('still here')") == "still here", s.out)
    got = s.line("x = = 1")  # a real syntax error does not continue
    check("unexpected symbol" in got, got)
    check(s.line("2 + 3") == "5", s.out)


@repl(*BOTH)
def ctrl_c_interrupts_running_statement(s):
    s.send("print('start') while true do end\n")
    s.expect("start\n")
    time.sleep(0.3)  # let the loop run
    interrupt(s)
    got = s.expect("\n> ")
    check("interrupted!" in got, got)
    check(s.line("1 + 2") == "3", s.out)
    # A second interruption works as well (the handler is set per call).
    s.send("print('again') while true do end\n")
    s.expect("again\n")
    time.sleep(0.2)
    interrupt(s)
    check("interrupted!" in s.expect("\n> "), s.out)
    check(s.line("'alive'") == "alive", s.out)


@repl(*BOTH)
def ctrl_c_at_prompt_clears_line(s):
    s.send("garbage_that_would_fail(")
    time.sleep(0.3)
    interrupt(s)
    s.prompt()
    check(s.line("2 + 3") == "5", s.out)
    # Also in the middle of a continued statement: the statement is dropped.
    s.send("for i = 1, 2 do\n")
    s.expect(">> ")
    time.sleep(0.1)
    interrupt(s)
    s.prompt()
    check(s.line("'fresh'") == "fresh", s.out)


@repl(*BOTH)
def ctrl_d_exits_zero(s):
    s.close_input()
    check(s.wait() == 0, s.status)


@repl("pty")
def tab_completion(s):
    s.send("string.fo\t")
    s.expect("string.format")
    check(s.line('("%d", 42)') .endswith("42"), s.out)
    s.send("optlua.thr\t")
    s.expect("optlua.threads")
    check(s.line("() >= 1").endswith("true"), s.out)
    s.line("str = 'abc'")
    s.send("str:up\t")
    s.expect("str:upper")
    check(s.line("()").endswith("ABC"), s.out)
    s.send("whi\t")  # a keyword
    s.expect("while")
    s.send(" false do end\n")
    s.prompt()
    # ':' offers functions only, so 'method' is the one completion of mt:.
    s.line("mt = {value = 1, method = function() return 'm' end}")
    s.send("mt:\t")
    s.expect("mt:method")
    check(s.line("()").endswith("m"), s.out)
    s.send("optlua.nosuchthing\t\n")
    s.prompt()


@repl("pty")
def tab_completion_of_tensor_methods(s):
    s.line("tt = optlua.zeros(2, 3)")
    s.send("tt:nu\t")
    s.expect("tt:numel")
    check(s.line("()").endswith("6"), s.out)


@test
def history():
    with tempfile.TemporaryDirectory() as d:
        hist = os.path.join(d, "hist")
        s = Session("pty", env={"OPTLUA_HISTORY": hist})
        try:
            s.prompt()
            s.line("print('hi' .. 'story')")
            s.line("")  # empty lines are not kept
            s.close_input()
            check(s.wait() == 0, s.status)
        finally:
            s.kill()
        entries = history_entries(hist)
        check("print('hi' .. 'story')" in entries and "" not in entries, entries)
        # The next session recalls it: Ctrl-P is previous-history.
        s = Session("pty", env={"OPTLUA_HISTORY": hist})
        try:
            s.prompt()
            s.send("\x10\n")
            check("history" in s.expect("\n> "), s.out)
            s.close_input()
            check(s.wait() == 0, s.status)
        finally:
            s.kill()
        # Bounded: a long history is cut to the last 1000 entries at exit.
        with open(hist, "w") as f:
            f.write("".join(f"x{i} = {i}\n" for i in range(1500)))
        s = Session("pty", env={"OPTLUA_HISTORY": hist})
        try:
            s.prompt()
            s.close_input()
            s.wait()
        finally:
            s.kill()
        entries = history_entries(hist)
        check(len(entries) == 1000 and entries[0] == "x500 = 500" and entries[-1] == "x1499 = 1499",
              (len(entries), entries[:1], entries[-1:]))


@test
def history_unwritable():
    s = Session("pty", env={"OPTLUA_HISTORY": "/nonexistent-dir/hist"})
    try:
        s.prompt()
        check(s.line("1 + 1") == "2", s.out)
        s.close_input()
        check(s.wait() == 0, s.status)
    finally:
        s.kill()


@test
def home_history():
    with tempfile.TemporaryDirectory() as d:
        s = Session("pty", env={"HOME": d}, unset=("OPTLUA_HISTORY",))
        try:
            s.prompt()
            s.line("home_history_check = 1")
            s.close_input()
            check(s.wait() == 0, s.status)
        finally:
            s.kill()
        check("home_history_check = 1" in history_entries(os.path.join(d, ".optlua_history")),
              "not in ~/.optlua_history")


@test
def script_then_repl():
    with lua_file("from_script = 'set by script'\n") as script:
        s = Session("pipe", args=("-i", script))
        try:
            s.prompt()
            check(s.line("from_script") == "set by script", s.out)
            s.close_input()
            check(s.wait() == 0, s.status)
        finally:
            s.kill()


@test
def pipe_eof_in_statement():
    # End of input inside an unfinished statement: reported, then exit 0 (lua.c).
    p = run("-i", stdin="function g()\n")
    check(p.rc == 0 and "'end' expected" in p.err, (p.rc, p.err))


@repl(*BOTH)
def tables_print_readably(s):
    # ol.inspect's form (lua/optlua/inspect.lua), written out by hand: the
    # array part, then the keys sorted, on one line when it fits in 80.
    check(s.line("{3, b = 2, a = {1, 2}}") == "{3, a = {1, 2}, b = 2}", s.out)
    s.line("f = ol.fn.rosenbrock()")
    check(s.line("f.minimum") == "{{1, 1}}", s.out)   # API.md: minimum 0 at (1, 1)
    s.line("opt = ol.optim.sgd(ol.zeros(2), {lr = 0.5})")
    got = s.line("opt:options()")
    check(got == "{\n  dampening = 0.0,\n  lr = 0.5,\n  maximize = false,\n  momentum = 0.0,\n"
                 "  nesterov = false,\n  weight_decay = 0.0\n}", got)
    got = s.line("opt")  # its name and live options (API.md's sgd defaults)
    check(got == "sgd{lr=0.5, momentum=0, dampening=0, nesterov=false, weight_decay=0, maximize=false} "
                 "f32, 2 parameters, t = 0", got)
    s.line("net = ol.nn.mlp{sizes = {2, 3, 2}}")
    got = s.line("net:parameters()[1]")
    check('name = "1.weight"' in got and "tensor = [f32 tensor of size 3x2]" in got, got)
    s.line("run = ol.explore(f, 'sgd', {lr = 1e-3}, {x0 = {-1.5, 2}, steps = 3})")
    got = s.line("run.final")
    check("steps = 3" in got and "x = {" in got, got)
    check("table: 0x" not in s.out, s.out)
    # print() is Lua's own
    check(s.line("print({})").startswith("table: 0x"), s.out)


@repl(*BOTH)
def compare_prints_its_table_once(s):
    head = "booth, 3 steps from (0, 0), tol 1e-08"
    got = s.line("ol.compare(ol.fn.booth(), {sgd = {lr = 0.01}}, {x0 = {0, 0}, steps = 3})")
    check(got.count(head) == 1 and got.startswith(head), got)
    got = s.line("cmp = ol.compare(ol.fn.booth(), {sgd = {lr = 0.01}}, {x0 = {0, 0}, steps = 3})")
    check(got.count(head) == 1, got)
    check(s.line("cmp").count(head) == 1, s.out)  # the value itself prints as the table
    got = s.line("ol.compare(ol.fn.booth(), {sgd = {lr = 0.01}}, {x0 = {0, 0}, steps = 3, print = false})")
    check(got.count(head) == 1, got)
    # with more values, the others still print
    got = s.line("ol.compare(ol.fn.booth(), {sgd = {lr = 0.01}}, {x0 = {0, 0}, steps = 3}), 7")
    check(got.count(head) == 1 and got.endswith("\n7"), got)


@repl("pty")
def tab_completion_of_live_fields(s):
    s.line("opt = ol.optim.sgd(ol.zeros(2), {lr = 0.25, momentum = 0.5})")
    s.send("opt.l\t")  # an option, found through the optimizer's __pairs
    s.expect("opt.lr")
    check(s.line("").endswith("0.25"), s.out)
    s.send("opt.mom\t")
    s.expect("opt.momentum")
    check(s.line("").endswith("0.5"), s.out)
    s.send("opt:opt\t")  # its methods as before
    s.expect("opt:options")
    check("lr = 0.25" in s.line("()"), s.out)
    s.send("opt.dty\t")  # a read-only field
    s.expect("opt.dtype")
    check(s.line("").endswith("f32"), s.out)


@test
def history_multiline_entries_as_typed():
    with tempfile.TemporaryDirectory() as d:
        hist = os.path.join(d, "hist")
        # A file of the older form, one entry per line, is kept entry by entry.
        with open(hist, "w") as f:
            f.write("a1 = 1\na2 = 2\n")
        s = Session("pty", env={"OPTLUA_HISTORY": hist})
        try:
            s.prompt()
            s.send("function tw(x)\n")
            s.expect(">> ")
            s.send("return x * 3\n")
            s.expect(">> ")
            s.send("end\n")
            s.prompt()
            check(s.line("= 6 * 7") == "42", s.out)
            s.close_input()
            check(s.wait() == 0, s.status)
        finally:
            s.kill()
        entries = history_entries(hist)
        check(entries == ["a1 = 1", "a2 = 2", "function tw(x)\nreturn x * 3\nend", "= 6 * 7"], entries)
        # After a restart the function comes back as one entry: two Ctrl-P
        # (previous-history) recall it whole, and it runs.
        s = Session("pty", env={"OPTLUA_HISTORY": hist})
        try:
            s.prompt()
            s.send("\x10\x10\n")
            s.expect("\n> ")  # the recalled statement has run
            check(s.line("tw(14)").endswith("42"), s.out)
            s.close_input()
            check(s.wait() == 0, s.status)
        finally:
            s.kill()
        check(history_entries(hist)[-1] == "tw(14)", history_entries(hist))


NUMBER = re.compile(r"-?\d+(\.\d+)?(e[-+]?\d+)?")


def tour():
    """The README's REPL session: (input lines, expected output lines) per
    statement, continuation lines with their input."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    block = re.search(r"### A REPL session\n.*?```text\n(.*?)```", text, re.S).group(1).split("\n")[:-1]
    check(block[0].startswith("$ ") and block[1].startswith("optlua "), block[:2])
    steps = []
    for ln in block[2:]:
        if ln.startswith(">> "):
            steps[-1][0].append(ln[3:])
        elif ln.startswith("> "):
            steps.append(([ln[2:]], []))
        else:
            steps[-1][1].append(ln)
    return block[1], steps


def same_shape(got, want):
    """got and want line for line, numbers aside; a line "..." in want
    stands for any lines."""
    got = [NUMBER.sub("#", ln) for ln in got]
    want = [NUMBER.sub("#", ln) for ln in want]
    if "..." in want:
        i = want.index("...")
        head, tail = want[:i], want[i + 1:]
        return got[:len(head)] == head and (not tail or got[-len(tail):] == tail) and len(got) >= len(head) + len(tail)
    return got == want


@test
def readme_tour():
    banner, steps = tour()
    s = Session("pipe")
    try:
        first = s.prompt()
        check(NUMBER.sub("#", first.strip()) == NUMBER.sub("#", banner), (first, banner))
        for lines, want in steps:
            for i, ln in enumerate(lines):
                s.send(ln + "\n")
                if i + 1 < len(lines):
                    s.expect(">> ")
            got = s.expect("> ").rstrip("\n")
            got = got.split("\n") if got else []
            check(same_shape(got, want), f"> {lines[0]}\ngot:\n" + "\n".join(got) + "\nREADME:\n" + "\n".join(want))
        check("table: 0x" not in s.out, s.out)
    finally:
        s.kill()


driver.main()
