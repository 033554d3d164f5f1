#!/usr/bin/env bash
# ol.train's loop options side by side (bench/loop_options.lua), on 1 and
# all cores; with a second build directory, also the plain loop of both
# builds in alternating rounds, and their ratio (this build / the other):
# what a change to the loop costs when no option is set.
#   bench/loop.sh [BUILD_DIR [OTHER_BUILD_DIR]]
# Needs the Fashion-MNIST training set (ol.data.fashion_mnist's default).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
other=${2:-}
script="$here/bench/loop_options.lua"
for t in 1 "$(nproc)"; do
  echo "# $t thread(s)"
  "$build/optlua" --threads "$t" "$script" 5
  if [ -n "$other" ]; then
    best_this=0 best_other=0
    for _ in 1 2 3 4 5; do
      a=$("$build/optlua" --threads "$t" "$script" 1 plain | awk '{ print $2 }')
      b=$("$other/optlua" --threads "$t" "$script" 1 plain | awk '{ print $2 }')
      best_this=$(awk -v x="$a" -v y="$best_this" 'BEGIN { print (x > y ? x : y) }')
      best_other=$(awk -v x="$b" -v y="$best_other" 'BEGIN { print (x > y ? x : y) }')
    done
    echo "plain_this_sps $best_this"
    echo "plain_other_sps $best_other"
    awk -v a="$best_this" -v b="$best_other" 'BEGIN { printf "plain_this_vs_other %.3f\n", a / b }'
  fi
done
