"""The first plot of a process, made from a terminal. gnuplot pages its
terminal list ("Press return for more:") and waits when its stdin is a
terminal; ol.plot must not hand it the user's, so a plot finishes by
itself: `optlua -e` exits with its picture written, and in the REPL the
plot call returns to the prompt and the line typed after it runs (nothing
swallows it).

Usage: python3 test_plot_tty.py path/to/optlua
"""
import os
import shutil
import tempfile

import driver
from driver import check, skip

TIMEOUT = 30.0  # a plot takes well under a second; a hang never ends


def need_gnuplot():
    if shutil.which("gnuplot") is None:
        skip("gnuplot not found (apt-get install gnuplot-nox)")


@driver.test
def e_first_plot_exits():
    need_gnuplot()
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "first.png")
        code = ("local ol = require 'optlua'; ol.plot.lines{series = {{name = 'a', y = {3, 2, 1}}}, "
                f"file = '{png}'}}; print('plot' .. 'ted')")
        s = driver.Session("pty", args=("-e", code), env={"TERM": "xterm"}, unset=("OPTLUA_GNUPLOT",))
        try:
            rc = s.wait(TIMEOUT)
        finally:
            s.kill()
        check(rc == 0 and "plotted" in s.out, f"exit {rc}; output {s.out[-300:]!r}")
        check(os.path.isfile(png) and os.path.getsize(png) > 0, "no picture written")


@driver.test
def repl_plot_returns_and_next_line_runs():
    need_gnuplot()
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "repl.png")
        s = driver.Session("pty", env={"TERM": "xterm"}, unset=("OPTLUA_GNUPLOT",))
        try:
            s.prompt()
            s.send(f"r = ol.explore(ol.fn.booth(), 'sgd', {{lr = 0.05}}, {{steps = 20}}); "
                   f"r:plot('{png}'); print('plot' .. 'done')\n")
            s.expect("plotdone", TIMEOUT)
            s.send("print('next' .. 'line')\n")
            s.expect("nextline", TIMEOUT)
        finally:
            s.kill()
        check(os.path.isfile(png) and os.path.getsize(png) > 0, "no picture written")


driver.main()
