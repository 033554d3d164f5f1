#!/usr/bin/env bash
# Startup time of the program: mean wall time of `optlua -e ''` over RUNS
# runs (figures, not a test; the goal in issue 2 is under 10 ms), with the
# stock lua5.4 beside it when installed, for scale.
#   bench/startup.sh [BUILD_DIR [RUNS]]      (defaults: build, 200)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
runs=${2:-200}
prog=$build/optlua
[ -x "$prog" ] || { echo "no program at $prog (build first)" >&2; exit 1; }

# mean_ms CMD...: mean milliseconds per run of CMD, after one warm-up run.
mean_ms() {
  "$@" >/dev/null
  local t0 t1
  t0=$(date +%s%N)
  for _ in $(seq "$runs"); do "$@" >/dev/null; done
  t1=$(date +%s%N)
  awk -v d=$((t1 - t0)) -v n="$runs" 'BEGIN { printf "%.2f", d / n / 1e6 }'
}

printf '%-34s %8s ms  (mean of %d runs, goal < 10 ms)\n' "optlua -e ''" "$(mean_ms "$prog" -e '')" "$runs"
printf '%-34s %8s ms\n' "optlua --threads 1 -e ''" "$(mean_ms "$prog" --threads 1 -e '')"
if command -v lua5.4 >/dev/null; then
  printf '%-34s %8s ms  (stock interpreter, for scale)\n' "lua5.4 -e ''" "$(mean_ms lua5.4 -e '')"
fi
