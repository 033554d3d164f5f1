"""Prints bench/run's table of ratios from its "key value" figures.
    python3 bench/table.py RESULTS_FILE CORES [--native]
Each row: optlua's figure from its default, portable build (and the thread
count it came from), PyTorch's best over its thread settings (and which),
their ratio, the goal set for it, and optlua's share of the physical limit
measured in the same run. Then optlua's OL_NATIVE=ON build beside the
portable one. With --native, the machine line and that last table only.
bench/README.md explains every column."""
import platform
import re
import sys

path, cores = sys.argv[1], sys.argv[2]
only_native = sys.argv[3:] == ["--native"]
# Figures repeat over bench/run's passes: keep the best of each (higher
# rates, lower times); an optimizer's "_impl" goes with its best time.
r = {}
taken = {}
for line in open(path):
    k, v = line.split(None, 1)
    v = v.strip()
    # the unit ends the key or comes before a batch suffix (gemm_limit_sps_b128)
    higher = re.search(r"_(sps|gbs)(_b\d+)?$", k) is not None
    lower = re.search(r"_(ms|us)(_b\d+)?$", k) is not None and not k.startswith("shape_")
    if (higher or lower) and k in r:
        try:
            new, old = float(v), float(r[k])
        except ValueError:
            continue
        taken[k] = new > old if higher else new < old
        if not taken[k]:
            continue
    elif k.endswith("_impl") and not taken.get(k[:-5] + "_ms", True):
        continue
    else:
        taken[k] = True
    r[k] = v


def num(k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return float("nan")


def best(prefixes, key, lower=False):
    """The best value of key over prefixes, and the prefix it came from."""
    vals = [(num(p + key), p) for p in prefixes if (p + key) in r]
    vals = [v for v in vals if v[0] == v[0]]
    if not vals:
        return float("nan"), "-"
    return (min if lower else max)(vals)


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
           platform.processor())
torch = f"torch {r['torch_version']}; " if "torch_version" in r else ""
print(f"machine: {cpu}, {cores} cores; {r.get('openblas_config', '?')} (core {r.get('openblas_core', '?')}); "
      f"{torch}load {r.get('load_before', '?')} -> {r.get('load_after', '?')}")
ol_p = ["ol_t1_", f"ol_t{cores}_"]
nat_p = ["nat_t1_", f"nat_t{cores}_"]
pt_p = ["pt_t1_", f"pt_t{cores}_", f"pt_t{cores}p_"]
tag = lambda p: p.strip("_").split("_", 1)[-1] if p != "-" else "-"
TRAIN = [(o, b) for o in ("sgd", "adam") for b in (1, 16, 128, 1024)]
# optimizer steps: limit = the streams a step must move at the update bandwidth
STREAMS = {"sgd_momentum": 5, "adam": 7, "adamw": 7, "rmsprop": 5, "adagrad": 5}


def native_table():
    """The OL_NATIVE=ON build beside the portable one, case by case."""
    print("optlua built for this CPU (OL_NATIVE=ON: -march=native) against the default, portable build; "
          "best over passes and threads 1 and all, shown as tN")
    hdr = f"{'case':<30} {'portable':>11} {'':>4} {'native':>11} {'':>4} {'native speed':>12}"
    print(hdr)
    print("-" * len(hdr))
    for o, b in TRAIN:
        k = f"train_{o}_b{b}_sps"
        pv, pp = best(ol_p, k)
        nv, np_ = best(nat_p, k)
        print(f"{'train ' + o + ' b' + str(b) + ' (samples/s)':<30} {pv:>11.0f} {tag(pp):>4} {nv:>11.0f} {tag(np_):>4} "
              f"{nv / pv:>11.2f}x")
    for o in STREAMS:
        k = f"optim_{o}_ms"
        pv, pp = best(ol_p, k, lower=True)
        nv, np_ = best(nat_p, k, lower=True)
        print(f"{'step 10M ' + o + ' (ms)':<30} {pv:>11.2f} {tag(pp):>4} {nv:>11.2f} {tag(np_):>4} {pv / nv:>11.2f}x")


if only_native:
    native_table()
    sys.exit(0)

print("threads: optlua 1 or all (--threads), PyTorch 1, all, all+OMP_WAIT_POLICY=PASSIVE; best shown as tN")

hdr = f"{'case':<30} {'optlua':>11} {'':>4} {'PyTorch':>11} {'':>5} {'ratio':>7} {'goal':>6} {'limit':>11} {'of limit':>8} {'goal':>6}"
print(hdr)
print("-" * len(hdr))
goal_train = {1: 5, 16: 2, 128: 1.3, 1024: 1.1}
for o, b in TRAIN:
    k = f"train_{o}_b{b}_sps"
    ov, op = best(ol_p, k)
    pv, pp = best(pt_p, k)
    lim = num(f"gemm_limit_sps_b{b}")
    g2 = ">=85%" if b >= 128 else ""
    print(f"{'train ' + o + ' b' + str(b) + ' (samples/s)':<30} {ov:>11.0f} {tag(op):>4} {pv:>11.0f} {tag(pp):>5} "
          f"{ov / pv:>6.2f}x {'>=' + str(goal_train[b]) + 'x':>6} {lim:>11.0f} {100 * ov / lim:>7.0f}% {g2:>6}")
# layer norm + dropout: against PyTorch's best (goal >= 1.3x) and against the
# same net without them (goal: at most 1.25x slower, i.e. >= 0.8 of its speed)
for case in ("wide", "lnd"):
    k = f"train_{case}_b128_sps"
    ov, op = best(ol_p, k)
    pv, pp = best(pt_p, k)
    label = "train 512-256 adam b128" + (" ln+do" if case == "lnd" else "")
    print(f"{label + ' (sps)':<30} {ov:>11.0f} {tag(op):>4} {pv:>11.0f} {tag(pp):>5} "
          f"{ov / pv:>6.2f}x {'>=1.3x':>6}")
wv, lv = best(ol_p, "train_wide_b128_sps")[0], best(ol_p, "train_lnd_b128_sps")[0]
print(f"{'  ln+do against plain (speed)':<30} {lv / wv:>11.2f} {'':>4} {'':>11} {'':>5} {'':>7} {'>=0.80':>6}")
gbs1 = num("update_gbs")
gbs = max(gbs1, num("update_all_gbs")) if "update_all_gbs" in r else gbs1
for o, s in STREAMS.items():
    k = f"optim_{o}_ms"
    ov, op = best(ol_p, k, lower=True)
    pv, pp = best(pt_p, k, lower=True)
    impl = r.get(pp + f"optim_{o}_impl", "?")
    lim = s * 4 * 10e6 / (gbs * 1e9) * 1e3
    g = ">=5x" if o == "adam" else ""
    print(f"{'step 10M ' + o + ' (ms)':<30} {ov:>11.2f} {tag(op):>4} {pv:>11.2f} {tag(pp):>5} "
          f"{pv / ov:>6.1f}x {g:>6} {lim:>11.2f} {100 * lim / ov:>7.0f}%   ({impl})")
os_, ps = num("ol_startup_ms"), num("pt_startup_ms")
print(f"{'startup (ms)':<30} {os_:>11.2f} {'':>4} {ps:>11.1f} {'':>5} {ps / os_:>6.0f}x {'>=100x':>6}")
orss, prss = num("ol_rss_mb"), num("pt_rss_mb")
print(f"{'peak RSS 5 epochs b128 (MB)':<30} {orss:>11.1f} {'':>4} {prss:>11.1f} {'t1':>5} {orss / prss:>6.2f}x {'<=0.3x':>6}")
for o in ("sgd", "adam"):
    oe, pe = r.get(f"ol_converge_{o}_epochs", "nan"), r.get(f"pt_converge_{o}_epochs", "nan")
    osec, psec = num(f"ol_converge_{o}_s"), num(f"pt_converge_{o}_s")
    print(f"{'to 88% test acc ' + o + ' (s)':<30} {osec:>11.2f} {'':>4} {psec:>11.2f} {'t' + cores + 'p':>5} {psec / osec:>6.2f}x {'':>6}"
          f"   epochs: optlua {oe}, PyTorch {pe}")
fi, fb = num("fann_incremental_sps"), num("fann_batch_sps")
o1, _ = best(ol_p, "train_sgd_b1_sps")
ob = max(best(ol_p, f"train_{o}_b{b}_sps")[0] for o in ("sgd", "adam") for b in (16, 128, 1024))
print(f"{'vs FANN online b1 (samples/s)':<30} {o1:>11.0f} {'':>4} {fi:>11.0f} {'FANN':>5} {o1 / fi:>6.1f}x {'>=20x':>6}"
      "   (FANN_TRAIN_INCREMENTAL)")
print(f"{'vs FANN best (samples/s)':<30} {ob:>11.0f} {'':>4} {fb:>11.0f} {'FANN':>5} {ob / fb:>6.1f}x {'>=20x':>6}"
      "   (optlua best mini-batch vs FANN_TRAIN_BATCH)")
print(f"update bandwidth {gbs:.1f} GB/s (a += s*c, 10M f32, best of 1 thread: {gbs1:.1f} and {cores}); "
      f"GEMM-only step limits: best per call of 1 thread, OpenBLAS's {cores}, and cut over {cores}")
print()
native_table()
