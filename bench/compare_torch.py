"""The PyTorch side of bench/run's comparison. Prints "key value" lines.

    python3 bench/compare_torch.py MODE [ARG]     (Debian's python3-torch)

Modes and cases are those of bench/compare_optlua.lua: `train` (samples/s of
MLP 784-256-128-10 relu f32 on Fashion-MNIST at batch 1/16/128/1024 with
SGD lr 0.05 momentum 0.9 and Adam lr 1e-3), `optim` (one step on 10M f32
parameters, single-tensor and foreach implementations, the faster kept and
named), `converge OPT` (epochs and seconds until test accuracy >= 88%,
batch 128) and `rss` (peak RSS of a 5-epoch run). The thread count comes
from the environment that bench/run sets before Python starts
(OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, OMP_WAIT_POLICY); torch's own
setting is made to match.

The loop is the usual fast PyTorch one: the data set is one float tensor in
memory, each batch is gathered by index from a per-epoch permutation, and no
per-step .item() synchronises (which favours PyTorch: optlua's loop also
counts loss and accuracy every step). Weights are Xavier-uniform and biases
zero, as optlua's default, so both start from the same kind of point.
"""
import gzip
import os
import sys
import time

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"
THREADS = int(os.environ.get("OMP_NUM_THREADS", "1"))
torch.set_num_threads(THREADS)

# samples timed per case (fewer at batch 1, the slowest per sample)
SAMPLES = {1: 4000, 16: 32000, 128: 60000, 1024: 60000}


def idx_images(path):
    with gzip.open(path) as f:
        raw = f.read()
    n, r, c = np.frombuffer(raw, ">i4", 3, 4)
    x = np.frombuffer(raw, np.uint8, n * r * c, 16).reshape(n, r * c)
    return torch.from_numpy(x.astype(np.float32) / 255.0)


def idx_labels(path):
    with gzip.open(path) as f:
        raw = f.read()
    n = int(np.frombuffer(raw, ">i4", 1, 4)[0])
    return torch.from_numpy(np.frombuffer(raw, np.uint8, n, 8).astype(np.int64))


def load(split):
    pre = "train" if split == "train" else "t10k"
    return (idx_images(f"{DATA}/{pre}-images-idx3-ubyte.gz"),
            idx_labels(f"{DATA}/{pre}-labels-idx1-ubyte.gz"))


def make_net():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                        nn.Linear(128, 10))
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return net


def make_opt(name, net):
    # foreach: one kernel per op over all parameter tensors (the faster
    # implementation on CPU in 1.13; fused=True is CUDA-only there)
    if name == "sgd":
        return torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, foreach=True)
    return torch.optim.Adam(net.parameters(), lr=1e-3, foreach=True)


def run_steps(net, opt, loss_fn, x, y, batch, steps):
    """Trains `steps` batches of `batch` rows; returns wall seconds."""
    n = x.shape[0]
    per_epoch = n // batch  # drop_last, as the optlua side
    t0 = time.perf_counter()
    done = 0
    while done < steps:
        perm = torch.randperm(n)
        for i in range(min(per_epoch, steps - done)):
            idx = perm[i * batch:(i + 1) * batch]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
        done += min(per_epoch, steps - done)
    return time.perf_counter() - t0


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def mode_train(repeats):
    x, y = load("train")
    loss_fn = nn.CrossEntropyLoss()
    for name in ("sgd", "adam"):
        for b in (1, 16, 128, 1024):
            net = make_net()
            opt = make_opt(name, net)
            steps = SAMPLES[b] // b
            run_steps(net, opt, loss_fn, x, y, b, max(2, steps // 20))  # warm-up
            best = max(steps * b / run_steps(net, opt, loss_fn, x, y, b, steps)
                       for _ in range(repeats))
            print(f"train_{name}_b{b}_sps {best:.0f}", flush=True)
    train_norm(repeats, x, y, loss_fn)


def train_norm(repeats, x, y, loss_fn):
    """MLP 784-512-256-10 relu with Adam at batch 128, plain ("wide") and with
    LayerNorm after each hidden Linear and Dropout(0.1) after each hidden
    ReLU ("lnd"), as optlua's mlp{norm = "layer", dropout = 0.1}."""
    for case in ("wide", "lnd"):
        torch.manual_seed(1)
        layers, sizes = [], (784, 512, 256, 10)
        for i in range(3):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < 2:
                if case == "lnd":
                    layers.append(nn.LayerNorm(sizes[i + 1]))
                layers.append(nn.ReLU())
                if case == "lnd":
                    layers.append(nn.Dropout(0.1))
        net = nn.Sequential(*layers)
        opt = make_opt("adam", net)
        steps = SAMPLES[128] // 128
        run_steps(net, opt, loss_fn, x, y, 128, max(2, steps // 20))  # warm-up
        best = max(steps * 128 / run_steps(net, opt, loss_fn, x, y, 128, steps)
                   for _ in range(repeats))
        print(f"train_{case}_b128_sps {best:.0f}", flush=True)


def mode_optim():
    n = 10_000_000
    p = nn.Parameter(torch.full((n,), 0.5))
    p.grad = torch.full((n,), 0.01)
    cases = [("sgd_momentum", torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}),
             ("adam", torch.optim.Adam, {"lr": 1e-3}),
             ("adamw", torch.optim.AdamW, {"lr": 1e-3}),
             ("rmsprop", torch.optim.RMSprop, {"lr": 1e-3}),
             ("adagrad", torch.optim.Adagrad, {"lr": 1e-3})]
    for label, cls, kw in cases:
        best, impl = float("inf"), None
        for foreach in (False, True):
            opt = cls([p], foreach=foreach, **kw)
            opt.step()  # state allocation and first-touch page faults
            for _ in range(7):
                t0 = time.perf_counter()
                opt.step()
                t = time.perf_counter() - t0
                if t < best:
                    best, impl = t, "foreach" if foreach else "single-tensor"
            del opt
        print(f"optim_{label}_ms {best * 1e3:.3f}")
        print(f"optim_{label}_impl {impl}", flush=True)


def mode_converge(name):
    x, y = load("train")
    xt, yt = load("test")
    net = make_net()
    opt = make_opt(name, net)
    loss_fn = nn.CrossEntropyLoss()
    per_epoch = (x.shape[0] + 127) // 128
    t0 = time.perf_counter()
    reached, acc = None, 0.0
    for epoch in range(1, 31):
        perm = torch.randperm(x.shape[0])
        for i in range(per_epoch):
            idx = perm[i * 128:(i + 1) * 128]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            acc = (net(xt).argmax(1) == yt).float().mean().item()
        if acc >= 0.88:
            reached = (epoch, time.perf_counter() - t0)
            break
    print(f"converge_{name}_epochs {reached[0] if reached else 'nan'}")
    print(f"converge_{name}_s {reached[1]:.2f}" if reached else f"converge_{name}_s nan")
    print(f"converge_{name}_acc {acc:.4f}")


def mode_rss():
    x, y = load("train")
    net = make_net()
    opt = make_opt("sgd", net)
    run_steps(net, opt, nn.CrossEntropyLoss(), x, y, 128, 5 * (x.shape[0] // 128))
    print(f"rss_mb {peak_rss_mb():.1f}")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "train"
    if mode == "train":
        mode_train(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    elif mode == "optim":
        mode_optim()
    elif mode == "converge":
        mode_converge(sys.argv[2] if len(sys.argv) > 2 else "sgd")
    elif mode == "rss":
        mode_rss()
    else:
        sys.exit(f"unknown mode {mode}")
