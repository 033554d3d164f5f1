"""Ctrl-C through a real SIGINT sent to a child process: ol.train stops
after the batch in progress and says where; scripts/train.lua saves its
checkpoint and exits with status 130, and --resume continues the run; a
second SIGINT while the first is being handled ends the program at once.

Usage: python3 test_train_interrupt.py path/to/optlua
"""
import os
import signal
import subprocess
import tempfile
import time

import driver
from driver import OPTLUA, ROOT, check, lua_file, test

TRAIN = os.path.join(ROOT, "scripts", "train.lua")


def start(*args, cwd=None):
    return subprocess.Popen([OPTLUA, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=driver.environment(), cwd=cwd)


def read_until(p, text, timeout=120):
    """The child's stdout up to and including the first line holding text."""
    out = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        out.append(line)
        if text in line:
            return "".join(out)
    p.kill()
    raise AssertionError(f"no line with {text!r} in:\n{''.join(out)}\n{p.stderr.read()[-2000:]}")


@test
def train_lua_exits_130_and_resumes():
    driver.need_fashion_mnist()
    with tempfile.TemporaryDirectory() as d:
        ck = os.path.join(d, "run.safetensors")
        p = start(TRAIN, "--quick", "--epochs", "1000", "--hidden", "64", "--checkpoint", ck, cwd=d)
        head = read_until(p, "epoch 1/1000")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        out = head + out
        check(p.returncode == 130, f"exit {p.returncode}:\n{out[-1500:]}\n{err[-1500:]}")
        check("interrupted at epoch " in out and "; saved to " + ck in out, out[-1500:])
        check("done in" not in out, "an interrupted run is not reported as done:\n" + out[-800:])
        check("loss nan" not in out, out[-800:])
        # The file says it was interrupted, and where; --resume continues
        # from there to the end of the next epoch.
        q = driver.run("-e", f"local m = ol.load({ck!r}).meta print(m.interrupted, m.epoch, m.batch)")
        interrupted, epoch, batch = q.out.split()
        check(interrupted == "true" and int(epoch) >= 2, q.out + q.err)
        r = driver.run(TRAIN, "--quick", "--epochs", str(int(epoch) + 1), "--hidden", "64",
                       "--resume", ck, cwd=d, timeout=300)
        check(r.rc == 0, f"exit {r.rc}:\n{r.out[-1500:]}\n{r.err[-1500:]}")
        check(f"resuming from {ck} at epoch {epoch}, batch {batch}" in r.out, r.out[-1500:])
        check(f"epoch {int(epoch) + 1}/{int(epoch) + 1}" in r.out and "done in" in r.out, r.out[-1500:])


SLOW_HOOK = r"""
local ol = require "optlua"
local ds = ol.data.synthetic{kind = "spirals", n = 64, classes = 3}
local net = ol.nn.mlp{sizes = {2, 8, 3}}
local opt = ol.optim.sgd(net)
ol.train{model = net, optimizer = opt, data = ol.data.loader(ds, {batch_size = 8}), epochs = 1000,
         every = 1, progress = true,
         on_step = function(s)
           if s.step == 3 then
             print("ready") io.stdout:flush()
             local t = os.clock() while os.clock() - t < 30 do end   -- a slow hook
           end
         end}
print("returned")
"""


@test
def second_ctrl_c_aborts_at_once():
    with lua_file(SLOW_HOOK) as path:
        p = start(path)
        read_until(p, "ready", timeout=60)
        t0 = time.time()
        p.send_signal(signal.SIGINT)   # noted: the run will stop before the next step
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)   # the second ends the program now, in the hook
        out, err = p.communicate(timeout=60)
    check(p.returncode == -signal.SIGINT, f"killed by SIGINT, got exit {p.returncode}: {out} {err}")
    check(time.time() - t0 < 20, "at once, not after the hook's 30 s")
    check("returned" not in out and "interrupted at" not in out, out)


@test
def one_ctrl_c_in_a_slow_hook_stops_after_it():
    with lua_file(SLOW_HOOK.replace("< 30", "< 1")) as path:
        p = start(path)
        read_until(p, "ready", timeout=60)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    check(p.returncode == 0, f"exit {p.returncode}: {err}")
    check("interrupted at epoch 1, step 3" in out and "returned" in out, out)


@test
def train_lua_loop_flags():
    for args, msg in [(["--accumulate", "0"], "--accumulate expects an integer >= 1, got '0'"),
                      (["--early-stop", "-1"], "--early-stop expects an integer >= 0, got '-1'"),
                      (["--ema", "1"], "--ema expects a decay 0 < DECAY < 1, got '1'"),
                      (["--ema", "x"], "--ema expects a decay 0 < DECAY < 1, got 'x'")]:
        p = driver.run(TRAIN, *args)
        check(p.rc == 2 and msg in p.err, f"{args}: exit {p.rc}: {p.err}")
    driver.need_fashion_mnist()
    with tempfile.TemporaryDirectory() as d:
        p = driver.run(TRAIN, "--quick", "--hidden", "64", "--accumulate", "2", "--early-stop", "1",
                       "--ema", "0.9", cwd=d, timeout=300)
    check(p.rc == 0, f"exit {p.rc}: {p.out[-1500:]} {p.err[-1500:]}")
    check("2 batches per step, EMA 0.9" in p.out, p.out[:400])
    check("val_acc" in p.out and "(ema)" in p.out and "test accuracy" in p.out and "(EMA)" in p.out,
          p.out[-1500:])


driver.main()
