"""Drives optlua's REPL for the terminal tests (test_repl.py, test_help.py,
test_train_output.py): one process through a pipe (optlua -i) or a
pseudo-terminal, with a deadline on every expectation so that a broken REPL
fails quickly instead of hanging."""
import os
import pty
import re
import select
import signal
import subprocess
import time

DEADLINE = 20.0  # seconds per expectation; generous for sanitizer builds
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]")


def pty_missing():
    """None where pseudo-terminals exist (any ordinary machine); in a bare
    chroot without /dev/pts, the reason there are none. The terminal half of
    the tests is then skipped with that reason, each test counted and
    printed as a skip by its driver, rather than failed."""
    try:
        a, b = os.openpty()
        os.close(a)
        os.close(b)
        return None
    except OSError as e:
        return f"no pseudo-terminals here ({e})"


NO_PTY = pty_missing()
HAVE_PTY = NO_PTY is None


class Skip(Exception):
    """A test that cannot run on this machine; str(e) is the reason."""


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Session:
    """One optlua process; `out` accumulates everything it printed (stdout
    and stderr), with \\r and terminal escapes removed."""

    def __init__(self, optlua, base_env, mode, env=None, args=("-i",), unset=(), prompt="> "):
        self.mode = mode
        self.prompt_text = prompt  # what line() waits for after each line
        self.out = ""
        self.pos = 0  # expectations search from here
        env = dict(base_env, **(env or {}))
        for k in unset:
            env.pop(k, None)
        if mode == "pty" and not HAVE_PTY:
            raise Skip(NO_PTY)
        if mode == "pty":
            pid, fd = pty.fork()
            if pid == 0:
                try:
                    os.execve(optlua, [optlua, *args], env)
                finally:
                    os._exit(127)
            self.pid, self.fd = pid, fd
            self.proc = None
        else:
            self.proc = subprocess.Popen([optlua, *args], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
            self.pid, self.fd = self.proc.pid, self.proc.stdout.fileno()
        self.status = None

    def send(self, text):
        data = text.encode()
        if self.mode == "pty":
            os.write(self.fd, data)
        else:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the pty's other side is closed
            data = b""
        if not data:
            return False
        self.out += ANSI.sub("", data.decode(errors="replace").replace("\r", ""))
        return True

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
            if left <= 0 or not self._read(min(left, 0.5)):
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
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            self._read(0.05)
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                if self.proc:
                    self.proc.returncode = self.status
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
