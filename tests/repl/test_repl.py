"""The REPL, driven through a pipe (optlua -i) and through a pseudo-terminal.

Usage: python3 test_repl.py path/to/optlua

Every exchange waits for the prompt (or the expected text) with a deadline,
so a broken REPL fails quickly instead of hanging. The values checked are
Lua's own semantics (2+3 is 5, string.format exists, ...), not output
recorded from an earlier run.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

OPTLUA = os.path.abspath(sys.argv[1])
BASE_ENV = dict(os.environ, TERM="dumb", INPUTRC="/dev/null", OPTLUA_HISTORY="")
results = []


import replsession  # noqa: E402
from replsession import Skip, check  # noqa: E402

skipped = []


def Session(mode, **kw):
    return replsession.Session(OPTLUA, BASE_ENV, mode, **kw)


def test(*modes):
    def wrap(fn):
        for mode in modes:
            s = None
            try:
                s = Session(mode)
                s.prompt()
                fn(s)
                results.append(True)
            except Skip as e:
                skipped.append(fn.__name__)
                print(f"SKIP {fn.__name__} [{mode}]: {e}")
            except Exception as e:  # noqa: BLE001 -- report every failure, go on
                results.append(False)
                print(f"FAIL {fn.__name__} [{mode}]: {type(e).__name__}: {e}", file=sys.stderr)
            finally:
                if s:
                    s.kill()
        return fn
    return wrap


def interrupt(s):
    if s.mode == "pty":
        s.send("\x03")  # the terminal turns it into SIGINT
    else:
        os.kill(s.pid, signal.SIGINT)


BOTH = ("pipe", "pty")


@test(*BOTH)
def banner_one_line(s):
    first = s.out.split("\n")[0]
    check(first.startswith("optlua ") and "Lua 5.4" in first and "help" in first, s.out)


@test(*BOTH)
def expressions_print_values(s):
    check(s.line("1 + 1") == "2", s.out)
    check(s.line("1, 'a', nil, true") == "1\ta\tnil\ttrue", s.out)
    check(s.line("=3 * 3") == "9", s.out)
    check(s.line("x = 5") == "", s.out)          # a statement prints nothing
    check(s.line("x") == "5", s.out)
    check(s.line("setmetatable({}, {__tostring = function() return 'custom' end})") == "custom", s.out)
    check(s.line("ol == optlua, require 'optlua' == optlua") == "true\ttrue", s.out)


@test(*BOTH)
def tensor_pretty_prints(s):
    # The format of lua/l_tensor_print.c: each value right-aligned after one
    # space in the width of the widest, integers as such, else 4 decimals
    # for f32; then the footer with dtype and shape. f32 is the default.
    got = s.line("optlua.tensor({1, 2, 3})")
    check(got == " 1 2 3\n[f32 tensor of size 3]", got)
    got = s.line("optlua.tensor({{0.5, -1}, {2, 30}})")
    check(got == "  0.5000 -1.0000\n  2.0000 30.0000\n[f32 tensor of size 2x2]", got)


@test(*BOTH)
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


@test(*BOTH)
def error_then_recovery(s):
    got = s.line("error('oops')")
    check("oops" in got and "stack traceback" in got, got)
    got = s.line("local y = nil + 1")
    check("attempt to perform arithmetic" in got, got)
    check(s.line("print('still here')") == "still here", s.out)
    got = s.line("x = = 1")  # a real syntax error does not continue
    check("unexpected symbol" in got, got)
    check(s.line("2 + 3") == "5", s.out)


@test(*BOTH)
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


@test(*BOTH)
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


@test(*BOTH)
def ctrl_d_exits_zero(s):
    s.close_input()
    check(s.wait() == 0, s.status)


@test("pty")
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


@test("pty")
def tab_completion_of_tensor_methods(s):
    s.line("tt = optlua.zeros(2, 3)")
    s.send("tt:nu\t")
    s.expect("tt:numel")
    check(s.line("()").endswith("6"), s.out)


def history_test():
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
        with open(hist) as f:
            lines = f.read().splitlines()
        check("print('hi' .. 'story')" in lines and "" not in lines, lines)
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
        with open(hist) as f:
            lines = f.read().splitlines()
        check(len(lines) == 1000 and lines[-1] == "x1499 = 1499", (len(lines), lines[-1:]))


def history_unwritable_test():
    s = Session("pty", env={"OPTLUA_HISTORY": "/nonexistent-dir/hist"})
    try:
        s.prompt()
        check(s.line("1 + 1") == "2", s.out)
        s.close_input()
        check(s.wait() == 0, s.status)
    finally:
        s.kill()


def home_history_test():
    with tempfile.TemporaryDirectory() as d:
        s = Session("pty", env={"HOME": d}, unset=("OPTLUA_HISTORY",))
        try:
            s.prompt()
            s.line("home_history_check = 1")
            s.close_input()
            check(s.wait() == 0, s.status)
        finally:
            s.kill()
        with open(os.path.join(d, ".optlua_history")) as f:
            check("home_history_check = 1" in f.read().splitlines(), "not in ~/.optlua_history")


def script_then_repl_test():
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("from_script = 'set by script'\n")
        script = f.name
    try:
        s = Session("pipe", args=("-i", script))
        try:
            s.prompt()
            check(s.line("from_script") == "set by script", s.out)
            s.close_input()
            check(s.wait() == 0, s.status)
        finally:
            s.kill()
    finally:
        os.unlink(script)


def pipe_eof_in_statement_test():
    # End of input inside an unfinished statement: reported, then exit 0 (lua.c).
    p = subprocess.run([OPTLUA, "-i"], input="function g()\n", capture_output=True, text=True,
                       timeout=60, env=BASE_ENV)
    check(p.returncode == 0 and "'end' expected" in p.stderr, (p.returncode, p.stderr))


for fn in (history_test, history_unwritable_test, home_history_test, script_then_repl_test,
           pipe_eof_in_statement_test):
    try:
        fn()
        results.append(True)
    except Skip as e:
        skipped.append(fn.__name__)
        print(f"SKIP {fn.__name__}: {e}")
    except Exception as e:  # noqa: BLE001
        results.append(False)
        print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}", file=sys.stderr)

passed = sum(results)
failed = len(results) - passed
print(f"{passed} passed, {failed} failed, {len(skipped)} skipped")
sys.exit(1 if failed else 0)
