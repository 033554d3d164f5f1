"""`luarocks make` of the rockspec, as a Lua user installs a rock: in a copy
of the source tree (luarocks builds in place), into a fresh rock tree; then
the stock lua5.4 requires the module from outside both, with only the paths
`luarocks path` prints. Exits 77 (CTest: skipped) without luarocks or lua5.4.

Usage: python3 test_rock.py SOURCE_DIR VERSION
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

src, version = sys.argv[1], sys.argv[2]
for tool in ("luarocks", "lua5.4"):
    if not shutil.which(tool):
        print(f"SKIP rock: {tool} not installed (tools/setup --package)")
        sys.exit(77)
spec = f"optlua-{version}-1.rockspec"
failed = 0


def check(cond, msg):
    global failed
    if not cond:
        failed += 1
        print(f"FAIL {msg}", file=sys.stderr)


with tempfile.TemporaryDirectory(prefix="optlua-rock-") as tmp:
    copy, tree, work = (os.path.join(tmp, d) for d in ("src", "tree", "work"))
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("build*", ".git", "obj-*"))
    os.mkdir(work)
    p = subprocess.run(["luarocks", "--lua-version", "5.4", "--tree", tree, "make", spec], cwd=copy,
                       capture_output=True, text=True)
    check(p.returncode == 0, f"luarocks make: {p.stdout[-2000:]}{p.stderr[-2000:]}")
    mods = glob.glob(os.path.join(tree, "lib", "lua", "5.4", "optlua.so"))
    check(len(mods) == 1, f"optlua.so not in the tree's C module directory: {os.listdir(tree)}")
    p = subprocess.run(["luarocks", "--lua-version", "5.4", "--tree", tree, "path", "--lr-cpath"],
                       capture_output=True, text=True)
    cpath = p.stdout.strip()
    p = subprocess.run(["lua5.4", "-e", 'local ol = require "optlua"; '
                        'print(ol.version, package.searchpath("optlua", package.cpath), ol.dist.size())'],
                       cwd=work, env={"PATH": "/usr/bin:/bin", "LUA_CPATH": cpath + ";;"},
                       capture_output=True, text=True)
    want = f"{version}\t{mods[0] if mods else '?'}\t1\n"
    check(p.returncode == 0 and p.stdout == want, f"require: {p.returncode} {p.stdout!r} {p.stderr} (want {want!r})")
print(f"{1 if not failed else 0} passed, {1 if failed else 0} failed, 0 skipped")
sys.exit(1 if failed else 0)
