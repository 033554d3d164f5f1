"""Ranks that disagree, stop, or never join ol.train{distributed = true}.

    python3 test_agree.py OPTLUA MPIEXEC NP

Runs tests/dist/agree.lua under MPIEXEC with NP ranks, one case at a time,
in a fresh temporary directory, the last rank being the odd one, and
checks:

 - every mismatch (batch_size, epochs, lr, optimizer, activation, loss,
   model size, dataset size) fails on every rank, each with the same
   message naming the field, the odd rank and both values, and the job
   ends (no hang: each run has a deadline);
 - a SIGINT on the last rank stops every rank before the same step (6),
   each returning interrupted = true, rank 0 saving an interrupted
   checkpoint at step 5;
 - a rank that never calls ol.train makes the others fail after
   join_timeout (2 s), well before the absent rank's 30 s sleep ends.

The expected messages and steps are written out here, not taken from a
run. The launcher's settings come from the environment CTest sets."""
import os
import subprocess
import sys
import tempfile
import time

OPTLUA, MPIEXEC, NP = sys.argv[1], sys.argv[2], int(sys.argv[3])
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "agree.lua")
ODD = NP - 1
failures = []
passed = 0


def run(case, out, deadline=60):
    cmd = [MPIEXEC, "-np", str(NP), OPTLUA, "--threads", "1", SCRIPT, case, out]
    t0 = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=deadline)
    except subprocess.TimeoutExpired:
        return None, None, deadline
    lines = {}
    for k in range(NP):
        try:
            with open("%s.%d" % (out, k)) as f:
                lines[k] = f.read().splitlines()
        except OSError:
            lines[k] = []
    return r, lines, time.time() - t0


def check(name, cond, detail=""):
    global passed
    if cond:
        passed += 1
        print("ok", name)
    else:
        failures.append(name)
        print("FAIL", name, detail)


MISMATCH = {
    "batch": "rank %d has batch_size 16, rank 0 has 8",
    "epochs": "rank %d has epochs 3, rank 0 has 2",
    "lr": "rank %d has lr 0.2, rank 0 has 0.1",
    "optimizer": "rank %d has optimizer adam, rank 0 has sgd",
    "activation": "rank %d's model has other layers (widths or activations) than rank 0's",
    "loss": "rank %d has loss mse, rank 0 has cross_entropy",
    "loss_options": "rank %d's loss options (label_smoothing, weight or delta) differ from rank 0's",
    "size": "rank %d has parameter count 57, rank 0 has 51",
    "samples": "rank %d has dataset size 100, rank 0 has 96",
}

with tempfile.TemporaryDirectory() as tmp:
    r, lines, _ = run("same", os.path.join(tmp, "same"))
    # 96 samples, NP ranks of 8: ceil(96 / (8 NP)) steps per epoch, 2 epochs
    steps = 2 * -(-96 // (8 * NP))
    check("ranks that agree train", r is not None and r.returncode == 0 and
          all(lines[k] == ["ok %d false" % steps] for k in range(NP)), lines)

    for case, msg in MISMATCH.items():
        r, lines, _ = run(case, os.path.join(tmp, case))
        want = "error train: ranks disagree: " + msg % ODD
        check("%s differs: every rank fails naming it" % case,
              r is not None and all(lines[k] == [want] for k in range(NP)),
              "want %r, got %r" % (want, lines))

    r, lines, _ = run("interrupt", os.path.join(tmp, "int"))
    want = {k: ["ok 5 true"] for k in range(NP)}
    want[0] = ["ok 5 true", "checkpoint 5 true"]
    check("a SIGINT on rank %d stops every rank before the same step" % ODD,
          r is not None and r.returncode == 0 and lines == want, lines)

    r, lines, took = run("absent", os.path.join(tmp, "absent"))
    want = ("error train: rank %%d: not every one of the %d ranks started the run within 2 s "
            "(join_timeout): does every rank call ol.train with distributed = true?" % NP)
    check("a rank that never joins is an error after join_timeout",
          r is not None and took < 25 and lines[ODD] == ["absent"] and
          all(lines[k] == [want % k] for k in range(NP - 1)), "%.1fs %r" % (took, lines))

print("%d passed, %d failed, 0 skipped" % (passed, len(failures)))
sys.exit(1 if failures else 0)
