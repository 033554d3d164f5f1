"""The world object (optlua-dist.so) is loaded on demand, from beside the
program, with clear errors when it cannot be.

    python3 test_load.py OPTLUA WORLD_OF_ONE HAVE_MPI

OPTLUA is the build's program, with the build's optlua-dist.so beside it;
WORLD_OF_ONE is engine/dist built without MPI, as a build without MPI
makes optlua-dist.so; HAVE_MPI is 1 when the build's object has MPI.
Copies of the program in temporary directories give the cases a build
cannot show by itself:

 - on demand: a plain run maps neither optlua-dist.so nor MPI until
   ol.dist or ol.train{distributed = true} is used, then the object from
   the program's directory (and MPI with it when built with MPI);
 - a symbolic link to the program finds the object beside the program;
 - the object missing: a run that does not use it is unaffected; ol.dist
   and distributed = true fail naming the file and the loader's reason;
   a file without the entry point fails naming the entry point;
 - built without MPI: a world of one (backend "none"), and a refusal when
   an MPI launcher started several processes."""
import errno
import os
import shutil
import subprocess
import sys
import tempfile

OPTLUA, WORLD_OF_ONE, HAVE_MPI = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
OBJECT = "optlua-dist.so"
passed, failed, skipped = 0, 0, 0

TRAIN = """
local ol = optlua
ol.seed(1)
local ds = ol.data.synthetic{kind = "blobs", n = 20, classes = 2, dtype = "f64"}
local net = ol.nn.mlp{sizes = {2, 4, 2}, dtype = "f64"}
local s = ol.train{model = net, optimizer = ol.optim.sgd(net, {lr = 0.1}),
                   data = ol.data.loader(ds, {batch_size = 5}), progress = false,
                   distributed = %s}
print("steps", s.step)
"""


def run(prog, code, env=None):
    e = dict(os.environ)
    for k in ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"):
        e.pop(k, None)  # a plain run, whatever launched this test
    e.update(env or {})
    return subprocess.run([prog, "-e", code], capture_output=True, text=True, timeout=60, env=e)


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def expect_ok(name, r, out=None):
    check(name, r.returncode == 0 and (out is None or out in r.stdout),
          "exit %d, stdout %r, stderr %r" % (r.returncode, r.stdout, r.stderr))


def expect_error(name, r, *parts):
    check(name, r.returncode == 1 and all(p in r.stderr for p in parts),
          "exit %d, stderr %r, expected to contain %r" % (r.returncode, r.stderr, parts))


# ---- on demand, in the build ----
MAPS = """
local function mapped()
  local seen = {}
  for line in io.lines("/proc/self/maps") do
    local path = line:match("%%s(/%%S+)$")
    if path then seen[#seen + 1] = path end
  end
  return table.concat(seen, "\\n")
end
io.write("BEFORE\\n", mapped(), "\\n")
%s
io.write("AFTER\\n", mapped(), "\\n")
"""
if not os.path.exists("/proc/self/maps"):
    skipped += 1
    print("SKIP on demand: no /proc/self/maps here")
else:
    here = os.path.join(os.path.dirname(os.path.realpath(OPTLUA)), OBJECT)
    for what, code in (("ol.dist", "optlua.dist.size()"), ("distributed = true", TRAIN % "true")):
        r = run(OPTLUA, MAPS % code)
        before, _, after = r.stdout.partition("AFTER\n")
        before, after = before.split("\n"), after.split("\n")
        mpi = lambda paths: [p for p in paths if os.path.basename(p).startswith("libmpi")]
        check("on demand (%s): runs" % what, r.returncode == 0, r.stderr)
        check("on demand (%s): nothing before" % what,
              not [p for p in before if p.endswith(OBJECT)] and not mpi(before), before)
        check("on demand (%s): the object beside the program after" % what, here in after, after)
        check("on demand (%s): MPI after iff built with it" % what, bool(mpi(after)) == HAVE_MPI, after)

tmp = tempfile.TemporaryDirectory(prefix="optlua-load-")

# ---- a symbolic link to the program ----
link = os.path.join(tmp.name, "link")
os.symlink(os.path.realpath(OPTLUA), link)
expect_ok("symlink: the object beside the program", run(link, "print(optlua.dist.backend)"),
          "mpi" if HAVE_MPI else "none")

# ---- the object missing ----
alone = os.path.join(tmp.name, "alone")
os.mkdir(alone)
prog = shutil.copy(OPTLUA, alone)
path = os.path.join(alone, OBJECT)
cannot = "ol.dist: cannot load %s: " % path
absent = os.strerror(errno.ENOENT)
expect_ok("missing: a run without ol.dist", run(prog, "print(optlua.version)"))
expect_ok("missing: ol.train without distributed", run(prog, TRAIN % "false"), "steps\t4")
expect_error("missing: ol.dist.rank", run(prog, "optlua.dist.rank()"), cannot, absent)
expect_error("missing: ol.dist.allreduce", run(prog, "optlua.dist.allreduce(optlua.zeros(2))"), cannot, absent)
expect_error("missing: ol.dist.backend", run(prog, "print(optlua.dist.backend)"), cannot, absent)
expect_error("missing: distributed = true", run(prog, TRAIN % "true"), "train: " + cannot, absent)

# a shared object without the entry point: the build's optlua.so
module = os.path.join(os.path.dirname(OPTLUA), "module", "optlua.so")
shutil.copy(module, path)
expect_error("no entry point", run(prog, "optlua.dist.size()"), cannot, "ol_dist_world")
os.remove(path)

# ---- built without MPI ----
shutil.copy(WORLD_OF_ONE, path)
expect_ok("without MPI: a world of one",
          run(prog, "local d = optlua.dist print(d.backend, d.rank(), d.size(), d.is_initialized())"),
          "none\t0\t1\tfalse")
expect_ok("without MPI: distributed = true trains", run(prog, TRAIN % "true"), "steps\t4")
expect_ok("without MPI: a launched world of one", run(prog, "print(optlua.dist.size())", {"OMPI_COMM_WORLD_SIZE": "1"}),
          "1")
refusal = "started by an MPI launcher as one of 3 processes, but optlua was built without MPI"
expect_error("without MPI: ol.dist refuses 3 launched processes",
             run(prog, "optlua.dist.rank()", {"OMPI_COMM_WORLD_SIZE": "3"}), refusal)
expect_error("without MPI: distributed = true refuses 3 launched processes",
             run(prog, TRAIN % "true", {"OMPI_COMM_WORLD_SIZE": "3"}), "train: " + refusal)

tmp.cleanup()
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
