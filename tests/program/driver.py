"""The driver of the program tests (tests/program/test_*.py): it starts
optlua through pipes or a pseudo-terminal, runs the cases of one test file
and prints their summary; a test file holds only its cases.

    python3 tests/program/test_NAME.py path/to/optlua

A test file registers its cases, then hands over to main():

    import driver
    from driver import check

    @driver.test
    def e_runs_code():
        p = driver.run("-e", "print(6 * 7)")
        check(p.rc == 0 and p.out == "42\\n", p)

    @driver.repl("pipe", "pty")         # one case per mode
    def adds(s):                         # s: a Session at its first prompt
        check(s.line("1 + 1") == "2", s.out)

    driver.main()

main() runs the cases in order, each on its own, and prints, as
tests/lua/testlib.lua does, "FAIL <case>: <error>" (stderr) for each case
that raised, "SKIP <case>: <reason>" for each case that called skip() (or
need_pty(), need_fashion_mnist(), or opened a pseudo-terminal where there
is none), then "N passed, N failed, N skipped"; it exits with 1 when a case
failed. A skipped case counts as skipped, never as passed. OL_TEST=text in
the environment runs only the cases whose name contains text.

Every wait has a deadline (TIMEOUT per process run, DEADLINE per REPL
expectation), so a hanging program fails its case instead of the whole
file; a program that does not start fails every case, still with a summary.
"""
import codecs
import collections
import contextlib
import functools
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

if len(sys.argv) < 2:
    sys.exit(f"usage: python3 {sys.argv[0]} path/to/optlua")
OPTLUA = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# A plain terminal without the user's readline settings, and no history
# file: the tests neither read nor write the user's.
ENV = dict(os.environ, TERM="dumb", INPUTRC="/dev/null", OPTLUA_HISTORY="")
TIMEOUT = 60.0   # seconds per process run; generous for sanitizer builds
DEADLINE = 20.0  # seconds per REPL expectation
FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]")


# --- checks and skips --------------------------------------------------------

class Skip(Exception):
    """A case that cannot run on this machine; str(e) is the reason."""


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def skip(reason):
    raise Skip(reason)


def _pty_missing():
    """None where pseudo-terminals exist (any ordinary machine); in a bare
    chroot without /dev/pts, the reason there are none."""
    try:
        a, b = os.openpty()
        os.close(a)
        os.close(b)
        return None
    except OSError as e:
        return f"no pseudo-terminals here ({e})"


NO_PTY = _pty_missing()


def need_pty():
    if NO_PTY:
        skip(NO_PTY)


def need_fashion_mnist():
    if not os.path.exists(FASHION):
        skip(f"dataset-fashion-mnist not installed ({FASHION})")


# --- running the program -----------------------------------------------------

Result = collections.namedtuple("Result", "rc out err")


def environment(env=None, unset=()):
    """ENV with env's variables added and those named in unset removed."""
    e = dict(ENV, **(env or {}))
    for k in unset:
        e.pop(k, None)
    return e


def run(*args, stdin=None, env=None, unset=(), cwd=None, timeout=TIMEOUT):
    """Runs optlua with args through pipes (stdin: the text it reads, else
    none); returns Result(rc, out, err) with stdout and stderr apart."""
    p = subprocess.run([OPTLUA, *args], input=stdin, capture_output=True, text=True,
                       timeout=timeout, env=environment(env, unset), cwd=cwd)
    return Result(p.returncode, p.stdout, p.stderr)


def run_pty(*args, timeout=TIMEOUT):
    """Runs optlua with args under a pseudo-terminal until it exits; returns
    Result(rc, out, "") with out everything it wrote to the terminal (stdout
    and stderr together), carriage returns and escapes included."""
    s = Session("pty", args=args, raw=True)
    try:
        rc = s.wait(timeout)
        return Result(rc, s.out, "")
    finally:
        s.kill()


@contextlib.contextmanager
def lua_file(text=""):
    """A temporary .lua file holding text; yields its path, removes it after."""
    f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    try:
        with f:
            f.write(text)
        yield f.name
    finally:
        os.unlink(f.name)


class Session:
    """One optlua process (args "-i" by default: the REPL) through pipes
    ("pipe") or a pseudo-terminal ("pty"). `out` accumulates everything it
    printed, stdout and stderr together, with \\r and terminal escapes
    removed unless raw. Opening a "pty" session where there are no
    pseudo-terminals skips the case."""

    def __init__(self, mode, env=None, args=("-i",), unset=(), prompt="> ", raw=False):
        self.mode = mode
        self.prompt_text = prompt  # what line() waits for after each line
        self.raw = raw
        self.out = ""
        self.pos = 0  # expectations search from here
        self.status = None
        self._decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        env = environment(env, unset)
        if mode == "pty":
            need_pty()
            pid, fd = pty.fork()
            if pid == 0:
                try:
                    os.execve(OPTLUA, [OPTLUA, *args], env)
                finally:
                    os._exit(127)
            self.pid, self.fd = pid, fd
            self.proc = None
        else:
            self.proc = subprocess.Popen([OPTLUA, *args], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
            self.pid, self.fd = self.proc.pid, self.proc.stdout.fileno()

    def send(self, text):
        data = text.encode()
        if self.mode == "pty":
            os.write(self.fd, data)
        else:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def _read(self, timeout):
        """Waits up to timeout seconds for output and appends it to out;
        returns how many bytes came, 0 if none, -1 at the end of output."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return 0
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the pty's other side is closed
            data = b""
        if not data:
            return -1
        text = self._decode(data)
        self.out += text if self.raw else ANSI.sub("", text.replace("\r", ""))
        return len(data)

    def expect(self, text, deadline=DEADLINE):
        """Waits for text after the last match; returns what came before it."""
        end = time.monotonic() + deadline
        while True:
            i = self.out.find(text, self.pos)
            if i >= 0:
                before = self.out[self.pos:i]
                self.pos = i + len(text)
                return before
            left = end - time.monotonic()
            if left <= 0 or self._read(min(left, 0.5)) < 0:
                if self.out.find(text, self.pos) >= 0:
                    continue
                raise AssertionError(f"timeout/EOF waiting for {text!r}; got {self.out[self.pos:]!r}")

    def prompt(self):
        return self.expect("> ")

    def line(self, text):
        """Sends a line at the prompt; returns its output (echo removed)."""
        self.send(text + "\n")
        # Through a pipe nothing is echoed, so a silent statement is
        # followed directly by the next prompt.
        p = self.prompt_text
        got = self.expect("\n" + p if self.mode == "pty" else p)
        if self.mode == "pty" and got.startswith(text):
            got = got[len(text):]
        return got.strip("\n")

    def close_input(self):
        if self.mode == "pty":
            self.send("\x04")
        else:
            self.proc.stdin.close()

    def wait(self, deadline=DEADLINE):
        """Waits for the process to exit, reading its output meanwhile and
        what is left of it after; returns its exit status."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            self._read(0.05)
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                if self.proc:
                    self.proc.returncode = self.status
                while time.monotonic() < end and self._read(0.1) > 0:
                    pass
                return self.status
        raise AssertionError(f"process did not exit; output {self.out[self.pos:]!r}")

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        if self.mode == "pty":
            os.close(self.fd)
        else:
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass


# --- cases and the summary ---------------------------------------------------

_cases = []  # (name, function of no arguments), in the order registered


def case(name, fn):
    """Registers fn() as the case `name`."""
    _cases.append((name, fn))


def test(fn):
    """Decorator: registers fn() as the case named after it."""
    case(fn.__name__, fn)
    return fn


def _in_session(fn, mode, start):
    s = Session(mode)
    try:
        start(s)
        fn(s)
    finally:
        s.kill()


def repl(*modes, start=Session.prompt):
    """Decorator: registers fn(s) once per mode, as "NAME [mode]", with s a
    REPL Session in that mode on which start(s) has run (by default: up to
    its first prompt); the session is killed after the case."""
    def wrap(fn):
        for mode in modes:
            case(f"{fn.__name__} [{mode}]", functools.partial(_in_session, fn, mode, start))
        return fn
    return wrap


def main():
    """Runs the registered cases, prints the summary, exits."""
    only = os.environ.get("OL_TEST")
    passed = failed = skipped = 0
    if not os.path.isfile(OPTLUA) or not os.access(OPTLUA, os.X_OK):
        missing = f"no program at {OPTLUA}"
    else:
        missing = None
    if not _cases:
        failed += 1
        print(f"FAIL {sys.argv[0]}: no cases registered", file=sys.stderr, flush=True)
    for name, fn in _cases:
        if only and only not in name:
            continue
        try:
            if missing:
                raise FileNotFoundError(missing)
            fn()
            passed += 1
        except Skip as e:
            skipped += 1
            print(f"SKIP {name}: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 -- report every failure, go on
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    sys.exit(1 if failed else 0)
