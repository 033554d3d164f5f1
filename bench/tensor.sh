#!/usr/bin/env bash
# The tensor binding against its physical limits, side by side in one run:
# ol.mm 1024^3 f32 called from Lua (bench/tensor.lua) against cblas_sgemm
# called from C (bench_tensor), and x:add_(y) over 16M floats against memcpy
# bandwidth and against the same loop in C. Figures, not a test.
#   bench/tensor.sh [BUILD_DIR]   (default: build)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
c=$("$build/bench/bench_tensor")
l=$("$build/optlua" "$here/bench/tensor.lua")
get() { printf '%s\n%s\n' "$c" "$l" | awk -v k="$1" '$1 == k { print $2 }'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), threads=${OPENBLAS_NUM_THREADS:-all}"
printf '%-34s %10s %10s %8s %s\n' case optlua limit ratio goal
row() { awk -v n="$1" -v a="$2" -v b="$3" -v g="$4" 'BEGIN { printf "%-34s %10.2f %10.2f %7.0f%% %s\n", n, a, b, 100 * a / b, g }'; }
row "mm 1024^3 f32 (GFLOP/s) vs sgemm" "$(get mm_gflops)" "$(get sgemm_gflops)" ">= 95%"
row "add_ 16M f32 (GB/s) vs memcpy" "$(get add_gbs)" "$(get memcpy_gbs)" ">= 70%"
row "add_ 16M f32 (GB/s) vs C loop" "$(get add_gbs)" "$(get axpy_gbs)" "(info)"
