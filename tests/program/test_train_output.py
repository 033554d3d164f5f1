"""ol.train's output: the progress bar on a terminal, plain lines through a
pipe, the JSONL log (parsed with Python's json module), and the main job
scripts/train.lua (its options, its errors, a --quick run when the
Fashion-MNIST package is installed).

Usage: python3 test_train_output.py path/to/optlua
"""
import json
import os
import re
import tempfile

import driver
from driver import ROOT, check, lua_file, run, run_pty, test

TRAIN = os.path.join(ROOT, "scripts", "train.lua")
TIMEOUT = 120

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


def script(log):
    """The training script above as a temporary file, logging to log."""
    return lua_file("LOG = %s\n" % ("nil" if log is None else json.dumps(log)) + SCRIPT)


@test
def plain_lines_through_a_pipe():
    with script(None) as path:
        p = run(path, timeout=TIMEOUT)
    check(p.rc == 0, p.err)
    lines = [l for l in p.out.splitlines() if l.startswith("epoch ")]
    epoch_lines = [l for l in lines if "val_acc" in l]
    check(len(epoch_lines) == 3, p.out)
    check(epoch_lines[0].startswith("epoch 1/3  loss "), epoch_lines[0])
    check("samples/s" in epoch_lines[0], epoch_lines[0])
    check("\r" not in p.out and "\033[" not in p.out, "no terminal control codes")
    check("\033[" not in p.err, "no bar on stderr either")


@test
def progress_bar_on_a_terminal():
    with script(None) as path:
        rc, out, _ = run_pty(path, timeout=TIMEOUT)
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
        with script(log) as path:
            p = run(path, timeout=TIMEOUT)
        check(p.rc == 0, p.err)
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
    p = run(TRAIN, "--help", timeout=TIMEOUT)
    check(p.rc == 0 and "--optimizer" in p.out and "--pca" in p.out, p.out)
    p = run(TRAIN, "--epochs", "zero", timeout=TIMEOUT)
    check(p.rc == 2 and "--epochs" in p.err, p.err)
    p = run(TRAIN, "--bogus", timeout=TIMEOUT)
    check(p.rc == 2 and "unknown option '--bogus'" in p.err, p.err)
    check("--dropout" in run(TRAIN, "--help", timeout=TIMEOUT).out, "--help lists --dropout")
    for bad in ("1", "-0.1", "half", "nan"):
        p = run(TRAIN, "--dropout", bad, timeout=TIMEOUT)
        check(p.rc == 2 and "--dropout expects a probability 0 <= P < 1" in p.err, p.err)
    check("--norm layer|batch" in run(TRAIN, "--help", timeout=TIMEOUT).out, "--help lists --norm")
    for bad in ("group", "Layer", "1"):
        p = run(TRAIN, "--norm", bad, timeout=TIMEOUT)
        check(p.rc == 2 and "--norm expects layer or batch, got '" + bad + "'" in p.err, p.err)
    check("--clip MAX_NORM" in run(TRAIN, "--help", timeout=TIMEOUT).out, "--help lists --clip")
    out = run(TRAIN, "--help", timeout=TIMEOUT).out
    check("--lr-find " in out and "--lr-find-plot FILE" in out, "--help lists --lr-find and --lr-find-plot")
    for bad in ("0", "-1", "inf", "big"):
        p = run(TRAIN, "--clip", bad, timeout=TIMEOUT)
        check(p.rc == 2 and "--clip expects a norm > 0, got '" + bad + "'" in p.err, p.err)
    with tempfile.TemporaryDirectory() as d:
        p = run(TRAIN, "--data", d, timeout=TIMEOUT)
        check(p.rc == 1 and "apt-get install dataset-fashion-mnist" in p.err, p.err)


@test
def main_job_quick_run():
    driver.need_fashion_mnist()
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "run.jsonl")
        p = run(TRAIN, "--quick", "--log", log, "--hidden", "64", timeout=TIMEOUT)
        check(p.rc == 0, p.err)
        last = p.out.strip().splitlines()[-1]
        check(last.startswith("done in") and "test accuracy" in last, last)
        acc = float(last.rsplit(" ", 1)[1].rstrip("%"))
        check(acc > 75, f"quick run reached only {acc}%")
        with open(log) as f:
            check(sum(1 for _ in f) >= 3, "log has the epochs")


@test
def main_job_lr_find():
    # --lr-find: the LR range test on the main job's net instead of
    # training: the summary, the suggestion, the picture, exit 0.
    driver.need_fashion_mnist()
    with tempfile.TemporaryDirectory() as d:
        pic = os.path.join(d, "lr.png")
        p = run(TRAIN, "--quick", "--hidden", "64", "--lr-find", "--lr-find-plot", pic, cwd=d, timeout=TIMEOUT)
        check(p.rc == 0, p.out + p.err)
        lines = p.out.strip().splitlines()
        summary = [l for l in lines if l.startswith("lr_find: ")]
        check(len(summary) == 1 and ", 1e-06 -> " in summary[0], p.out)
        steps = int(summary[0].split()[1])
        check(3 <= steps <= 30, f"--quick sweeps at most 30 steps: {summary[0]}")
        suggested = [l for l in lines if l.startswith("suggested lr: ")]
        check(len(suggested) == 1, p.out)
        lr = float(suggested[0].split()[2])
        check(1e-6 < lr < 10, suggested[0])
        check(not any(l.startswith("done in") or l.startswith("epoch ") for l in lines), "no training: " + p.out)
        if "gnuplot not found" in p.err:
            check(not os.path.exists(pic), "no picture without gnuplot")
        else:
            check(lines[-1] == "plot: " + pic, p.out)
            with open(pic, "rb") as f:
                check(f.read(8) == b"\x89PNG\r\n\x1a\n", "a PNG")
        check(not os.path.exists(os.path.join(d, "lr_find.png")), "the picture went where --lr-find-plot said")


@test
def main_job_quick_run_with_dropout():
    driver.need_fashion_mnist()
    p = run(TRAIN, "--quick", "--hidden", "64", "--dropout", "0.2", "--epochs", "2", timeout=TIMEOUT)
    check(p.rc == 0, p.err)
    check(", dropout 0.2" in p.out.splitlines()[0], p.out)
    last = p.out.strip().splitlines()[-1]
    acc = float(last.rsplit(" ", 1)[1].rstrip("%"))
    check(acc > 70, f"quick run with dropout reached only {acc}%")


@test
def main_job_quick_run_with_norm():
    driver.need_fashion_mnist()
    for norm in ("layer", "batch"):
        p = run(TRAIN, "--quick", "--hidden", "64", "--norm", norm, "--epochs", "2", timeout=TIMEOUT)
        check(p.rc == 0, p.err)
        check(", " + norm + " norm" in p.out.splitlines()[0], p.out)
        last = p.out.strip().splitlines()[-1]
        acc = float(last.rsplit(" ", 1)[1].rstrip("%"))
        check(acc > 70, f"quick run with {norm} norm reached only {acc}%")


def _figures(line):
    """An epoch line without its rate and time (which vary run to run)."""
    return line.split("  ")[:-2]


@test
def main_job_diagnose():
    driver.need_fashion_mnist()
    check("--diagnose" in run(TRAIN, "--help", timeout=TIMEOUT).out, "--help lists --diagnose")
    args = ("--quick", "--hidden", "64", "--epochs", "2")
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "run.jsonl")
        p = run(TRAIN, *args, "--diagnose", "--log", log, timeout=TIMEOUT)
        check(p.rc == 0, p.out + p.err)
        lines = p.out.strip().splitlines()
        check(lines[0].endswith(", gradient noise each epoch"), lines[0])
        epoch_at = [i for i, l in enumerate(lines) if l.startswith("epoch ") and "val_acc" in l]
        check(len(epoch_at) == 2, p.out)
        noise = []
        for i in epoch_at:
            # "  noise: B_simple 812 (tr Σ 3.1, |G|² 0.0038), cos(successive) 0.21"
            line = lines[i + 1]
            m = re.fullmatch(r"  noise: B_simple (\S+) \(tr Σ (\S+), \|G\|² ([^,:)]+)"
                             r"(?:: not resolved from the noise)?\), cos\(successive\) (\S+)", line)
            check(m, line)
            noise.append((m.group(1), float(m.group(2)), float(m.group(3)), float(m.group(4))))
        with open(log) as f:
            rows = [json.loads(line) for line in f]
        epochs = [r for r in rows if r["event"] == "epoch"]
        check(len(epochs) == 2, epochs)
        for r, (b, tr, g2, cos) in zip(epochs, noise):
            for k in ("epoch_loss", "val_loss", "lr"):
                check(k in r, (k, r))
            check(abs(r["noise_trace_sigma"] - tr) <= 5e-3 * abs(tr), (r, tr))
            check(abs(r["noise_grad_sq"] - g2) <= 5e-3 * abs(g2), (r, g2))
            check(abs(r["noise_cosine"] - cos) <= 5e-3 + 1e-9, (r, cos))
            check(-1 <= r["noise_cosine"] <= 1, r)
            check(r["noise_trace_sigma"] > 0, r)
            if r["noise_grad_sq"] > 0:
                check(abs(r["noise_b_simple"] - r["noise_trace_sigma"] / r["noise_grad_sq"])
                      <= 1e-8 * r["noise_b_simple"], r)
                check(abs(float(b) - r["noise_b_simple"]) <= 0.5 + 1e-6 * r["noise_b_simple"], (b, r))
            else:
                check(b == "inf" and "noise_b_simple" not in r, (b, r))
        check(all("noise_trace_sigma" not in r for r in rows if r["event"] == "step"), "step lines")
    # the probe and the draws leave the RNG as they found it: the run trains as without --diagnose
    q = run(TRAIN, *args, timeout=TIMEOUT)
    check(q.rc == 0, q.err)
    plain = [_figures(l) for l in q.out.splitlines() if l.startswith("epoch ") and "val_acc" in l]
    check(plain == [_figures(lines[i]) for i in epoch_at], (plain, p.out))
    check(q.out.strip().splitlines()[-1].split(": ", 1)[1] == lines[-1].split(": ", 1)[1], (q.out, p.out))


driver.main()
