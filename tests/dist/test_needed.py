"""What the program and optlua.so load at start: the libraries their
dynamic sections name (NEEDED, read with readelf -d).

    python3 test_needed.py HAVE_MPI OPTLUA OPTLUA_SO OPTLUA_DIST_SO

The program and optlua.so must name no MPI library (MPI comes with
optlua-dist.so, loaded on demand: test_load.py) and no LAPACK, LAPACKE or
BLAS library but OpenBLAS, which holds BLAS and LAPACK both; both must
name OpenBLAS. optlua-dist.so must name MPI when the build has it
(HAVE_MPI 1), and neither may when it does not."""
import re
import subprocess
import sys

HAVE_MPI = sys.argv[1] == "1"
PROGRAM, MODULE, WORLD = sys.argv[2:5]
MPI = re.compile(r"^lib(mpi|open-rte|open-pal)")
OTHER_LAPACK_BLAS = re.compile(r"^lib(lapack|blas|tmglib|cblas)")
OPENBLAS = re.compile(r"^libopenblas")
passed, failed = 0, 0


def needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def check(name, ok, detail):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL %s: %s" % (name, detail))


for path in (PROGRAM, MODULE):
    libs = needed(path)
    check("%s names OpenBLAS" % path, any(OPENBLAS.match(l) for l in libs), libs)
    check("%s names no MPI library" % path, not [l for l in libs if MPI.match(l)], libs)
    check("%s names no LAPACK or BLAS but OpenBLAS" % path,
          not [l for l in libs if OTHER_LAPACK_BLAS.match(l)], libs)
libs = needed(WORLD)
check("%s names MPI iff the build has it" % WORLD, any(MPI.match(l) for l in libs) == HAVE_MPI, libs)
print("%d passed, %d failed, 0 skipped" % (passed, failed))  # no check here skips
sys.exit(1 if failed else 0)
