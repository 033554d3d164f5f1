"""The optlua command line (API.md section 1), run as a subprocess.

Usage: python3 test_program.py path/to/optlua

Expected values come from the stock interpreter's documented behaviour
(lua.c's `arg` layout, exit statuses) and from the options' definitions,
never from a previous run of optlua.
"""
import os
import tempfile

import driver
from driver import OPTLUA, check, lua_file, run, test


@test
def e_runs_code():
    rc, out, err = run("-e", "print(6 * 7)")
    check(rc == 0 and out == "42\n" and err == "", (rc, out, err))


@test
def e_in_order_and_concatenated():
    rc, out, _ = run("-ex = 2", "-e", "x = x * 5", "-e", "print(x)")
    check(rc == 0 and out == "10\n", (rc, out))


@test
def l_binds_global():
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "mymod.lua"), "w") as f:
            f.write("return {answer = 42}\n")
        env_path = os.path.join(d, "?.lua")
        p = run("-l", "mymod", "-l", "alias=mymod", "-e", "print(mymod.answer, alias == mymod)",
                env={"LUA_PATH": env_path})
        check(p.rc == 0 and p.out == "42\ttrue\n", p)


@test
def l_missing_module_fails():
    rc, out, err = run("-l", "no_such_module_xyz")
    check(rc == 1 and "no_such_module_xyz" in err and "traceback" in err, (rc, err))


@test
def arg_table_as_stock_lua():
    # lua.c: arg[0] = script, arg[-1..] = options and interpreter (in reverse),
    # arg[1..] = script arguments, which the script also gets as `...`.
    with lua_file("local a, b, c = ...\n"
                  "print(select('#', ...), a, b, c)\n"
                  "for i = -4, #arg do io.write(i, '=', tostring(arg[i]), ' ') end\n"
                  "print()\n") as script:
        rc, out, err = run("-e", "x=1", "--seed", "3", script, "one", "two words")
        check(rc == 0, (rc, err))
        lines = out.splitlines()
        check(lines[0] == "2\tone\ttwo words\tnil", lines)
        want = (f"-4=-e -3=x=1 -2=--seed -1=3 0={script} 1=one 2=two words ")
        check(lines[1] == want, (lines[1], want))
        # No script: lua.c indexes from the interpreter, so arg[0] is the
        # program and the options are arg[1..].
        rc, out, _ = run("-e", "print(arg[-1], arg[0], arg[1], #arg)")
        check(out == f"nil\t{OPTLUA}\t-e\t2\n", out)


@test
def script_from_stdin_with_dash():
    rc, out, _ = run("-", "a1", "a2", stdin="print(arg[0], ...)\n")
    check(rc == 0 and out == "-\ta1\ta2\n", (rc, out))


@test
def stdin_without_terminal_runs_as_script():
    rc, out, _ = run(stdin="print('from stdin')\n")
    check(rc == 0 and out == "from stdin\n", (rc, out))


@test
def version():
    for opt in ("-v", "--version"):
        rc, out, _ = run(opt)
        check(rc == 0, rc)
        words = out.split()
        check(out.startswith("optlua ") and "(Lua 5.4." in out and ", OpenBLAS " in out
              and out.endswith(")\n") and len(out.splitlines()) == 1, out)
        check(words[1][0].isdigit(), out)
        # The core OpenBLAS runs (openblas_get_corename), last: "..., Haswell core)".
        check(len(words) >= 6 and words[-1] == "core)" and words[-2].isalnum(), out)
        # OpenBLAS's build as openblas_get_config says it, whole.
        cfg = driver.run("-e", "print(ol.blas().config)").out.strip()
        check(cfg and (", " + cfg + ", ") in out, (cfg, out))


@test
def help_is_usage():
    for opt in ("-h", "--help"):
        rc, out, err = run(opt)
        check(rc == 0 and "usage:" in out and "--threads" in out and "--seed" in out, (rc, out, err))


@test
def unknown_option_exit_1():
    for bad in (["-x"], ["--frobnicate"], ["-e"], ["--threads"], ["--threads", "two"],
                ["--seed", "1.5"], ["-vx"]):
        rc, out, err = run(*bad)
        check(rc == 1 and "usage:" in err and out == "", (bad, rc, out, err))


@test
def options_checked_before_running():
    rc, out, _ = run("-e", "print('ran')", "-x")
    check(rc == 1 and "ran" not in out, (rc, out))


@test
def error_in_script_traceback():
    with lua_file("local function inner() error('kaboom') end\n"
                  "local function outer() inner() end\n"
                  "outer()\n") as script:
        rc, out, err = run(script)
        check(rc == 1, rc)
        check("kaboom" in err and "stack traceback:" in err, err)
        check("'inner'" in err and "'outer'" in err, err)
        check(f"{os.path.basename(script)}:1:" in err, err)


@test
def error_object_with_tostring():
    rc, _, err = run("-e", "error(setmetatable({}, {__tostring = function() return 'custom!' end}))")
    check(rc == 1 and "custom!" in err, (rc, err))
    rc, _, err = run("-e", "error({})")
    check(rc == 1 and "(error object is a table value)" in err, (rc, err))


@test
def syntax_error_exit_1():
    rc, _, err = run("-e", "x = = 1")
    check(rc == 1 and "unexpected symbol" in err, (rc, err))


@test
def missing_script_exit_1():
    rc, _, err = run("/nonexistent/script.lua")
    check(rc == 1 and "cannot open" in err, (rc, err))


@test
def engine_preloaded():
    rc, out, _ = run("-e", "print(type(optlua), require('optlua') == optlua, "
                           "package.loaded.optlua == optlua, ol == optlua)")
    check(rc == 0 and out == "table\ttrue\ttrue\ttrue\n", (rc, out))


@test
def threads_option():
    rc, out, _ = run("--threads", "1", "-e", "print(optlua.threads())")
    check(rc == 0 and out == "1\n", (rc, out))
    cores = os.cpu_count() or 1
    rc, out, _ = run("-e", "print(optlua.threads())")
    # Default: all cores (OpenBLAS may cap at its build's maximum).
    check(rc == 0 and 1 <= int(out) <= cores, (rc, out, cores))
    rc, out, _ = run("--threads=0", "-e", "print(optlua.threads())")
    check(rc == 0 and int(out) >= 1, (rc, out))
    # Options run in order: --threads after -e is not yet in force for it.
    rc, out, _ = run("--threads", "1", "-e", "print(optlua.threads())", "--threads", "2",
                     "-e", "print(optlua.threads())")
    check(rc == 0 and out.split() == ["1", str(min(2, cores))], (rc, out, cores))


@test
def seed_option():
    code = "local t = optlua.rand(4):totable() print(table.concat(t, ' '))"
    _, a, _ = run("--seed", "123", "-e", code)
    _, b, _ = run("--seed", "123", "-e", code)
    _, c, _ = run("--seed", "124", "-e", code)
    _, d, _ = run("-e", "optlua.seed(123)", "-e", code)
    check(a == b and a != c and a == d and len(a.split()) == 4, (a, b, c, d))


@test
def stdout_flushed_before_error():
    rc, out, err = run("-e", "io.write('partial') error('late')")
    check(rc == 1 and out == "partial" and "late" in err, (rc, out, err))


@test
def os_exit_code():
    rc, _, _ = run("-e", "os.exit(3)")
    check(rc == 3, rc)


@test
def double_dash_ends_options():
    with lua_file() as script:
        with open(script, "w") as f:
            f.write("print(arg[0] == '%s', ...)\n" % script)
        rc, out, _ = run("--", script, "-x")
        check(rc == 0 and out == "true\t-x\n", (rc, out))


driver.main()
