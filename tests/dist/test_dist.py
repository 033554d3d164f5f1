"""Data-parallel training against one process.

    python3 test_dist.py OPTLUA MPIEXEC [MPIEXEC_FLAGS...]

Runs tests/dist/train_equiv.lua under MPIEXEC with 2 (and 3) ranks and as
one process, in a fresh temporary directory, and checks:

 - equivalence: N ranks with per-rank batch B end with the same parameters
   as one process with batch N*B, for sgd (momentum), adam and rprop, to
   summation-order tolerance (f64; every parameter within 1e-12 of the
   largest in size). The reference is an independent process that never
   touches MPI; the data set (203 samples) leaves a short last global
   batch that splits unevenly over the ranks;
 - the comparison can fail: one process with batch B (what each rank would
   compute without sharding and averaging) differs by far more;
 - checkpoints cross over: 2 epochs in 2 ranks, saved, then 1 epoch in one
   process resumed from that file, ends where 3 epochs in one process end;
   and the other way round (2 epochs in one process, 1 in 2 ranks).

The launcher's settings for a container (run as root, no ssh, shared
memory without CMA) come from the environment CTest sets (tests/dist/
CMakeLists.txt)."""
import os
import subprocess
import sys
import tempfile

OPTLUA, MPIEXEC, FLAGS = sys.argv[1], sys.argv[2], sys.argv[3:]
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_equiv.lua")
TOL = 1e-12
passed = 0
failures = []
params_figures = {}


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        sys.exit("FAILED: %s\nstdout:\n%s\nstderr:\n%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def train(ranks, opt, batch, epochs, out, resume="-", save=None):
    args = [SCRIPT, opt, str(batch), str(epochs), out, "1" if ranks > 0 else "0", resume]
    if save:
        args.append(save)
    if ranks > 0:
        run([MPIEXEC] + FLAGS + ["-np", str(ranks), OPTLUA] + args)
    else:
        run([OPTLUA] + args)
    with open(out) as f:
        lines = f.read().splitlines()
    params = [float(line) for line in lines if not line.startswith("#")]
    # "# steps S samples N loss L val_loss V": the run's global figures
    figures = lines[-1].split()[1:]
    params_figures[out] = dict(zip(figures[0::2], map(float, figures[1::2])))
    return params


def worst(a, b):
    assert len(a) == len(b) and len(a) > 0, (len(a), len(b))
    scale = max(max(abs(x) for x in a), 1e-300)
    return max(abs(x - y) for x, y in zip(a, b)) / scale


def check(name, a, b, ok):
    global passed
    err = worst(a, b)
    good = ok(err)
    print("%-46s worst relative difference %.3g  %s" % (name, err, "ok" if good else "FAIL"))
    if good:
        passed += 1
    else:
        failures.append(name)


tmp = tempfile.TemporaryDirectory(prefix="optlua-dist-")
os.chdir(tmp.name)
for opt in ("sgd", "adam", "rprop", "adam_weighted"):
    ref = train(0, opt, 32, 3, "single_%s.txt" % opt)
    got = train(2, opt, 16, 3, "dist2_%s.txt" % opt)
    check("%s: 2 ranks x 16 == 1 process x 32" % opt, ref, got, lambda e: e <= TOL)
    # the reduced metrics: same steps and samples, same epoch and validation loss
    fa, fb = params_figures["single_%s.txt" % opt], params_figures["dist2_%s.txt" % opt]
    same = all(abs(fa[k] - fb[k]) <= TOL * max(1.0, abs(fa[k])) for k in fa) and fa.keys() == fb.keys()
    print("%-46s %s  %s" % ("%s: global steps, samples, loss, val_loss" % opt, fb, "ok" if same else "FAIL"))
    if same:
        passed += 1
    else:
        failures.append("%s metrics %s != %s" % (opt, fa, fb))
    if opt == "sgd":
        ref3 = train(0, opt, 48, 3, "single48_%s.txt" % opt)
        got3 = train(3, opt, 16, 3, "dist3_%s.txt" % opt)
        check("%s: 3 ranks x 16 == 1 process x 48" % opt, ref3, got3, lambda e: e <= TOL)
        small = train(0, opt, 16, 3, "single16_%s.txt" % opt)
        check("%s: control, 1 process x 16 differs" % opt, small, got, lambda e: e > 1e-6)

# Accumulation reduces once per step: 2 ranks x 16 rows x 2 batches a step
# is one process's batch of 64 (203 rows: steps of 64, 64, 64 and 11).
ref = train(0, "adam", 64, 3, "single64_adam.txt")
got = train(2, "adam_acc2", 16, 3, "dist2_adam_acc2.txt")
check("adam: 2 ranks x 16, accumulate 2 == 1 x 64", ref, got, lambda e: e <= TOL)

# Checkpoints written by 2 ranks resume in one process, and the other way.
ref = train(0, "adam", 32, 3, "ref_adam.txt")
train(2, "adam", 16, 2, "a1.txt", save="dist.safetensors")
a = train(0, "adam", 32, 1, "a2.txt", resume="dist.safetensors")
check("adam: 2 epochs in 2 ranks + 1 resumed in one", ref, a, lambda e: e <= TOL)
train(0, "adam", 32, 2, "b1.txt", save="single.safetensors")
b = train(2, "adam", 16, 1, "b2.txt", resume="single.safetensors")
check("adam: 2 epochs in one + 1 resumed in 2 ranks", ref, b, lambda e: e <= TOL)

os.chdir("/")
tmp.cleanup()
if failures:
    print("FAILED: " + ", ".join(failures), file=sys.stderr)
print("%d passed, %d failed, 0 skipped" % (passed, len(failures)))  # no check here skips
sys.exit(1 if failures else 0)
