"""Every example under scripts/ runs to completion (exit 0, some output)
from a scratch directory, so that examples cannot rot. The main job
scripts/train.lua is covered by test_train_output.py (its --quick run).

Usage: python3 test_scripts.py path/to/optlua
"""
import glob
import os
import tempfile

import driver
from driver import ROOT, check, run

TIMEOUT = 300


def example(path):
    with tempfile.TemporaryDirectory() as d:
        # explore.lua writes its pictures into the directory it is given
        # (else into a new temporary one, which this run would leave behind)
        args = [d] if os.path.basename(path) == "explore.lua" else []
        # optim_modern.lua and norm_compare.lua train several nets on
        # Fashion-MNIST: their --quick runs (a tenth of the data, one
        # epoch) show they work; landscape.lua's and spectrum.lua's --quick
        # runs (fewer rows and epochs) too
        if os.path.basename(path) in ("optim_modern.lua", "norm_compare.lua", "landscape.lua", "spectrum.lua"):
            args = ["--quick"]
        # landscape.lua writes its pictures into --out (else into a new
        # temporary directory)
        if os.path.basename(path) == "landscape.lua":
            args += ["--out", d]
        # benchmark.lua: one cheap problem and two optimizers here (its
        # full --quick run is in the slow tier, tests/slow)
        if os.path.basename(path) == "benchmark.lua":
            args = ["--quick", "--problems", "quadratic", "--optimizers", "sgd,adam", "--out", d]
        p = run(path, *args, cwd=d, timeout=TIMEOUT)
    check(p.rc == 0 and p.out.strip(), f"(exit {p.rc}):\n{p.out[-2000:]}\n{p.err[-2000:]}")


paths = sorted(glob.glob(os.path.join(ROOT, "scripts", "*.lua")))
for path in paths:
    if os.path.basename(path) != "train.lua":
        driver.case(os.path.basename(path), lambda path=path: example(path))

driver.main()
