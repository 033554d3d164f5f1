#!/usr/bin/env bash
# Data-parallel figures: samples/s of one Fashion-MNIST epoch
# (MLP 784-256-128-10, f32, sgd + momentum) with 1 and 2 ranks on this
# machine, one BLAS thread per rank, and the share of the run spent in the
# collectives (the per-step gradient allreduce and the metrics'), plus the
# allreduce alone. Two batch settings: 128 per rank (the global batch
# grows with the ranks) and 128 global (64 per rank: the same steps as
# one process at 128). Then whether a non-blocking allreduce progresses
# during computation (bench/allreduce_overlap.c, built here with mpicc): the
# premise of overlapping it with the backward pass. Figures, not a test.
#   bench/dist.sh [BUILD_DIR]      (default: build)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
prog=$build/optlua
[ -x "$prog" ] || { echo "no program at $prog (build first)" >&2; exit 1; }
command -v mpiexec >/dev/null || { echo "no mpiexec (tools/setup installs openmpi-bin)" >&2; exit 1; }

# Container-safe launcher settings (as in tests/dist/CMakeLists.txt).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_plm=isolated OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_NUM_THREADS=1

echo "cores: $(nproc), load average before: $(cut -d" " -f1-3 /proc/loadavg)"
for batch in 128 64; do
  for n in 1 2; do
    [ "$batch" = 64 ] && [ "$n" = 1 ] && continue # same as 128 x 1
    mpiexec -np "$n" --bind-to core "$prog" --threads 1 "$here/bench/dist.lua" "$batch"
  done
done
if command -v mpicc >/dev/null; then
  mpicc -std=c11 -O2 -Wall -Wextra -o "$build/allreduce_overlap" "$here/bench/allreduce_overlap.c"
  mpiexec -np 2 --bind-to core "$build/allreduce_overlap"
fi
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
