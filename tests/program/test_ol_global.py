"""`ol`, the short name every help text and example uses, is a global of
the program everywhere `optlua` is: in -e code, in scripts (from a file or
stdin), after -l, and in the REPL. optlua.so sets neither global
(tests/module/test_module.lua).

Usage: python3 test_ol_global.py path/to/optlua
"""
import driver
from driver import check, lua_file, run

SAME = "print(ol == optlua, require('optlua') == ol, type(ol.zeros))"
WANT = "true\ttrue\tfunction\n"


@driver.test
def in_e_code():
    p = run("-e", SAME)
    check(p.rc == 0 and p.out == WANT, p)
    # as the help texts write it
    p = run("-e", 'ol.help("booth")')
    check(p.rc == 0 and p.out.startswith("ol.fn.booth()"), p)


@driver.test
def in_a_script_file():
    with lua_file(SAME + "\n") as script:
        p = run(script)
    check(p.rc == 0 and p.out == WANT, p)


@driver.test
def in_a_script_from_stdin():
    p = run(stdin=SAME + "\n")
    check(p.rc == 0 and p.out == WANT, p)
    p = run("-", stdin=SAME + "\n")
    check(p.rc == 0 and p.out == WANT, p)


@driver.test
def in_the_repl_after_a_script():
    with lua_file("") as script:
        s = driver.Session("pipe", args=("-i", script))
        try:
            s.prompt()
            check(s.line("ol == optlua") == "true", s.out)
        finally:
            s.kill()


driver.main()
