#!/usr/bin/env bash
# Startup time of the program against its floor: the mean wall time of
# `optlua -e ''` and of bench/startup_floor.c (a program that links
# OpenBLAS alone and calls it once), run in alternating rounds so that both
# see the same load, and their ratio against the goal (at most 1.5).
# Figures, not a test; the stock lua5.4 is timed beside them when
# installed, for scale.
#   bench/startup.sh [BUILD_DIR [RUNS]]      (defaults: build, 200)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
runs=${2:-200}
prog=$build/optlua
floor=$build/bench/startup_floor
for f in "$prog" "$floor"; do
  [ -x "$f" ] || { echo "no program at $f (build first)" >&2; exit 1; }
done
goal=1.5
rounds=10
per=$(( (runs + rounds - 1) / rounds ))

# batch_ns N CMD...: nanoseconds for N runs of CMD.
batch_ns() {
  local n=$1 t0 i
  shift
  t0=$(date +%s%N)
  for ((i = 0; i < n; i++)); do "$@" >/dev/null; done
  echo $(( $(date +%s%N) - t0 ))
}

"$prog" -e '' && "$floor" # warm-up: both from the page cache
prog_ns=0 floor_ns=0
for ((r = 0; r < rounds; r++)); do
  prog_ns=$(( prog_ns + $(batch_ns "$per" "$prog" -e '') ))
  floor_ns=$(( floor_ns + $(batch_ns "$per" "$floor") ))
done
n=$(( per * rounds ))
ms() { awk -v d="$1" -v n="$n" 'BEGIN { printf "%.2f", d / n / 1e6 }'; }

printf '%-30s %8s ms  (mean of %d runs)\n' "optlua -e ''" "$(ms "$prog_ns")" "$n"
printf '%-30s %8s ms  (links OpenBLAS alone)\n' "startup_floor" "$(ms "$floor_ns")"
awk -v a="$prog_ns" -v b="$floor_ns" -v g="$goal" \
  'BEGIN { r = a / b; printf "%-30s %8.2f     (goal <= %s: %s)\n", "ratio", r, g, r <= g ? "met" : "not met" }'
if command -v lua5.4 >/dev/null; then
  printf '%-30s %8s ms  (stock interpreter, for scale)\n' "lua5.4 -e ''" "$(ms "$(batch_ns "$n" lua5.4 -e '')")"
fi
