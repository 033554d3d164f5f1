"""ol.train's output: the progress bar on a terminal, plain lines through a
pipe, the JSONL log (parsed with Python's json module), and the main job
scripts/train.lua (its options, its errors, a --quick run when the
Fashion-MNIST package is installed).

Usage: python3 test_train_output.py path/to/optlua
"""
import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import time

from replsession import NO_PTY, Skip

OPTLUA = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TRAIN = os.path.join(ROOT, "scripts", "train.lua")
TIMEOUT = 120
FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
results = []
skipped = []

# Enough epochs that the run is not over before the first redraw (0.1 s).
SCRIPT = r"""
local ol = require "optlua"
ol.seed(1)
local ds = ol.data.synthetic{kind = "spirals", n = 20000, classes = 3}
local net = ol.nn.mlp{sizes = {2, 256, 256, 3}, activation = "tanh"}
local opt = ol.optim.sgd(net, {lr = 0.05, momentum = 0.9})
ol.train{model = net, optimizer = opt, epochs = 3, every = 50, validate = ds,
         data = ol.data.loader(ds, {batch_size = 16}), log = LOG}
"""


def test(fn):
    try:
        fn()
        results.append(True)
    except Skip as e:
        skipped.append(fn.__name__)
        print(f"SKIP {fn.__name__}: {e}")
    except Exception as e:  # noqa: BLE001 -- report every failure, go on
        results.append(False)
        print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}", file=sys.stderr)
    return fn


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def script_file(log):
    f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    f.write("LOG = %s\n" % ("nil" if log is None else json.dumps(log)) + SCRIPT)
    f.close()
    return f.name


def run_pty(args):
    """Runs optlua under a pseudo-terminal; returns everything it wrote."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(OPTLUA, [OPTLUA, *args])
    out = b""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 1.0)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


@test
def plain_lines_through_a_pipe():
    path = script_file(None)
    p = subprocess.run([OPTLUA, path], capture_output=True, text=True, timeout=TIMEOUT)
    check(p.returncode == 0, p.stderr)
    lines = [l for l in p.stdout.splitlines() if l.startswith("epoch ")]
    epoch_lines = [l for l in lines if "val_acc" in l]
    check(len(epoch_lines) == 3, p.stdout)
    check(epoch_lines[0].startswith("epoch 1/3  loss "), epoch_lines[0])
    check("samples/s" in epoch_lines[0], epoch_lines[0])
    check("\r" not in p.stdout and "\033[" not in p.stdout, "no terminal control codes")
    check("\033[" not in p.stderr, "no bar on stderr either")


@test
def progress_bar_on_a_terminal():
    if NO_PTY:
        raise Skip(NO_PTY)
    path = script_file(None)
    rc, out = run_pty([path])
    check(rc == 0, out)
    check("\r\033[K" in out, "the bar is redrawn in place")
    bars = [s for s in out.split("\r\033[K") if s.startswith("epoch ") and "[" in s]
    check(bars, out[-500:])
    bar = bars[0]
    check("ETA" in bar and "samples/s" in bar and "loss" in bar, bar)
    check("#" in bar or "." in bar, bar)
    check(out.count("val_acc") == 3, "one summary line per epoch")


@test
def jsonl_log_parses():
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "run.jsonl")
        path = script_file(log)
        p = subprocess.run([OPTLUA, path], capture_output=True, text=True, timeout=TIMEOUT)
        check(p.returncode == 0, p.stderr)
        with open(log) as f:
            rows = [json.loads(line) for line in f]
    steps = [r for r in rows if r["event"] == "step"]
    epochs = [r for r in rows if r["event"] == "epoch"]
    # 20000 samples / 16 = 1250 steps per epoch, 3 epochs, a step line every 50
    check(len(steps) == 3 * 1250 // 50, len(steps))
    check(len(epochs) == 3, len(epochs))
    check([r["step"] for r in steps[:3]] == [50, 100, 150], steps[:3])
    for r in steps:
        for k in ("loss", "lr", "momentum", "grad_norm", "samples_per_s", "elapsed", "epoch"):
            check(k in r, (k, r))
        check(r["lr"] == 0.05 and r["momentum"] == 0.9, r)
        check("val_loss" not in r, r)
    check(all("val_loss" in r and "val_accuracy" in r for r in epochs), epochs)
    check(epochs[-1]["step"] == 3750, epochs[-1])


@test
def main_job_help_and_bad_options():
    p = subprocess.run([OPTLUA, TRAIN, "--help"], capture_output=True, text=True, timeout=TIMEOUT)
    check(p.returncode == 0 and "--optimizer" in p.stdout and "--pca" in p.stdout, p.stdout)
    p = subprocess.run([OPTLUA, TRAIN, "--epochs", "zero"], capture_output=True, text=True,
                       timeout=TIMEOUT)
    check(p.returncode == 2 and "--epochs" in p.stderr, p.stderr)
    p = subprocess.run([OPTLUA, TRAIN, "--bogus"], capture_output=True, text=True, timeout=TIMEOUT)
    check(p.returncode == 2 and "unknown option '--bogus'" in p.stderr, p.stderr)
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run([OPTLUA, TRAIN, "--data", d], capture_output=True, text=True,
                           timeout=TIMEOUT)
        check(p.returncode == 1 and "apt-get install dataset-fashion-mnist" in p.stderr, p.stderr)


@test
def main_job_quick_run():
    if not os.path.exists(FASHION):
        raise Skip(f"dataset-fashion-mnist not installed ({FASHION})")
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "run.jsonl")
        p = subprocess.run([OPTLUA, TRAIN, "--quick", "--log", log, "--hidden", "64"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        check(p.returncode == 0, p.stderr)
        last = p.stdout.strip().splitlines()[-1]
        check(last.startswith("done in") and "test accuracy" in last, last)
        acc = float(last.rsplit(" ", 1)[1].rstrip("%"))
        check(acc > 75, f"quick run reached only {acc}%")
        with open(log) as f:
            check(sum(1 for _ in f) >= 3, "log has the epochs")


passed = sum(results)
failed = len(results) - passed
print(f"{passed} passed, {failed} failed, {len(skipped)} skipped")
sys.exit(1 if failed else 0)
