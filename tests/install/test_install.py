"""`cmake --install` into a temporary prefix, then the installed files used
from a directory outside the checkout, as a user of that prefix would: with
PATH, LUA_CPATH and (for the C program, the prefix not being a system one)
LD_LIBRARY_PATH and PKG_CONFIG_PATH pointing at its standard places, and
nothing of the build tree.

Usage: python3 test_install.py BUILD/optlua BUILD LIBDIR CMOD_DIR VERSION [CFLAGS]
(LIBDIR and CMOD_DIR relative to the prefix, as CMake's cache holds them;
CFLAGS: extra flags for the C program, the sanitizers' in such a build).

Expected values: the version is the project's (CMakeLists.txt, given by
CTest), the file list is the one the install rules promise, the C
program's loss must fall by half over five epochs of Adam on three
separable blobs (chance level is ln 3 = 1.10).
"""
import math
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "program"))
import driver  # noqa: E402
from driver import check, skip, test  # noqa: E402

BUILD, LIBDIR, CMOD, VERSION = sys.argv[2:6]
CFLAGS = sys.argv[6].split() if len(sys.argv) > 6 else []
HERE = os.path.dirname(os.path.abspath(__file__))

_tmp = tempfile.TemporaryDirectory(prefix="optlua-install-")
PREFIX = os.path.join(_tmp.name, "prefix")
WORK = os.path.join(_tmp.name, "work")  # the user's directory: outside the checkout
os.mkdir(WORK)
_inst = subprocess.run(["cmake", "--install", BUILD, "--prefix", PREFIX],
                       capture_output=True, text=True)
ENV = {
    "PATH": os.path.join(PREFIX, "bin") + ":/usr/bin:/bin",
    "LUA_CPATH": os.path.join(PREFIX, CMOD, "?.so") + ";;",
    "HOME": WORK,
    "OPENBLAS_NUM_THREADS": "1",
}
for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
    if k in os.environ:
        ENV[k] = os.environ[k]


def sh(*args, env=None, **kw):
    p = subprocess.run(args, cwd=WORK, env=dict(ENV, **(env or {})), capture_output=True, text=True,
                       timeout=driver.TIMEOUT, **kw)
    return p.returncode, p.stdout, p.stderr


@test
def install_places_files():
    check(_inst.returncode == 0, _inst.stderr)
    for f in ("bin/optlua", f"{CMOD}/optlua.so", f"{CMOD}/optlua-dist.so",
              f"{LIBDIR}/liboptlua-engine.so", f"{LIBDIR}/liboptlua-engine.so.0",
              f"{LIBDIR}/pkgconfig/optlua-engine.pc", "include/optlua/train/train.h",
              "include/optlua/core/tensor.h", "share/optlua/scripts/train.lua",
              "share/man/man1/optlua.1"):
        check(os.path.exists(os.path.join(PREFIX, f)), f"not installed: {f}")
    # The soname is the major version: liboptlua-engine.so.0 -> .so.0.x.y.
    real = os.path.basename(os.path.realpath(os.path.join(PREFIX, LIBDIR, "liboptlua-engine.so.0")))
    check(real == f"liboptlua-engine.so.{VERSION}", real)
    # Nothing of the build tree is named by what was installed.
    with open(os.path.join(PREFIX, LIBDIR, "pkgconfig", "optlua-engine.pc")) as f:
        pc = f.read()
    check(BUILD not in pc and "${pcfiledir}" in pc, pc)


@test
def program_on_path():
    rc, out, err = sh("optlua", "-e", "print(optlua.version, ol == optlua)")
    check(rc == 0 and out == f"{VERSION}\ttrue\n", (rc, out, err))
    rc, out, err = sh("optlua", "--version")
    check(rc == 0 and out.startswith(f"optlua {VERSION} (Lua 5.4."), (rc, out, err))
    check(shutil.which("optlua", path=ENV["PATH"]) == os.path.join(PREFIX, "bin", "optlua"), ENV["PATH"])


@test
def program_trains_one_epoch():
    script = os.path.join(WORK, "one_epoch.lua")
    with open(script, "w") as f:
        f.write('ol.seed(1)\n'
                'local ds = ol.data.synthetic{kind = "blobs", n = 300, classes = 3}\n'
                'local net = ol.nn.mlp{sizes = {2, 16, 3}, activation = "tanh"}\n'
                'local opt = ol.optim.adam(net, {lr = 1e-2})\n'
                'local s = ol.train{model = net, optimizer = opt, loss = "cross_entropy",\n'
                '  data = ol.data.loader(ds, {batch_size = 30, shuffle = true}),\n'
                '  epochs = 1, progress = false}\n'
                'print(s.epoch, s.step)\n')
    rc, out, err = sh("optlua", "one_epoch.lua")
    check(rc == 0 and out == "1\t10\n", (rc, out, err))


@test
def program_finds_the_dist_object():
    # optlua-dist.so is not beside the installed program: it is found in
    # the C module directory (a world of one outside mpirun).
    rc, out, err = sh("optlua", "-e", "print(ol.dist.size(), ol.dist.rank())")
    check(rc == 0 and out == "1\t0\n", (rc, out, err))


@test
def installed_scripts_run():
    rc, out, err = sh("optlua", os.path.join(PREFIX, "share/optlua/scripts/train.lua"), "--help")
    check(rc == 0 and "--optimizer" in out, (rc, out, err))


@test
def stock_lua_requires_module():
    if CFLAGS:
        skip("the stock lua5.4 cannot load an optlua.so built with sanitizers")
    if not shutil.which("lua5.4", path=ENV["PATH"]):
        skip("lua5.4 not installed (Debian package lua5.4)")
    rc, out, err = sh("lua5.4", "-e", 'local ol = require "optlua"; print(ol.version, '
                      'package.searchpath("optlua", package.cpath))')
    check(rc == 0 and out == f"{VERSION}\t{os.path.join(PREFIX, CMOD, 'optlua.so')}\n", (rc, out, err))


@test
def c_program_trains_through_pkg_config():
    for tool in ("cc", "pkg-config"):
        if not shutil.which(tool):
            skip(f"{tool} not installed")
    pcenv = {"PKG_CONFIG_PATH": os.path.join(PREFIX, LIBDIR, "pkgconfig")}
    rc, flags, err = sh("pkg-config", "--cflags", "--libs", "optlua-engine", env=pcenv)
    check(rc == 0, (rc, flags, err))
    # The relocatable .pc names this prefix's directories.
    incs = [os.path.normpath(f[2:]) for f in flags.split() if f.startswith("-I")]
    libs = [os.path.normpath(f[2:]) for f in flags.split() if f.startswith("-L")]
    check(os.path.join(PREFIX, "include", "optlua") in incs, flags)
    check(os.path.join(PREFIX, LIBDIR) in libs and "-loptlua-engine" in flags.split(), flags)
    exe = os.path.join(WORK, "train_mlp")
    rc, out, err = sh("cc", "-std=c11", "-Wall", "-Werror", *CFLAGS, "-o", exe,
                      os.path.join(HERE, "train_mlp.c"), *flags.split(), env=pcenv)
    check(rc == 0, (rc, out, err))
    rc, out, err = sh(exe, env={"LD_LIBRARY_PATH": os.path.join(PREFIX, LIBDIR)})
    check(rc == 0, (rc, out, err))
    losses = [float(line.split()[3]) for line in out.splitlines()]
    check(len(losses) == 5 and all(math.isfinite(v) for v in losses), out)
    check(losses[-1] < 0.5 * losses[0] and losses[-1] < math.log(3), out)
    check(all(b < a for a, b in zip(losses, losses[1:])), out)


@test
def man_page_renders():
    if not shutil.which("man"):
        skip("man not installed (Debian package man-db)")
    rc, out, err = sh("man", "-l", os.path.join(PREFIX, "share/man/man1/optlua.1"),
                      env={"MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"})
    check(rc == 0 and "--threads" in out.replace("\u2010", "-") and "OPTLUA(1)" in out
          and err == "", (rc, out[:400], err))


if __name__ == "__main__":
    try:
        driver.main()
    finally:
        _tmp.cleanup()
